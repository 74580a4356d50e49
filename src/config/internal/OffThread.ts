/**
 * Checking a configuration on a worker thread, so that a big or hostile file
 * never stalls the daemon's event loop (probes, the API, signals): the YAML
 * parse, the walk and the validation of a 4 MiB file take seconds. The worker
 * is made for one check and terminated when it answers, or at once when the
 * check is interrupted (SIGTERM mid-reload).
 *
 * `CheckWorker` is found beside this module (internal/WorkerEntry.ts).
 */
import { Effect } from "effect"
import type { Worker } from "node:worker_threads"
import { spawnBeside } from "../../internal/WorkerEntry.js"
import type { CheckResult } from "../Issue.js"
import { decode } from "./Transfer.js"

const spawn = (data: { readonly text: string; readonly file: string | undefined }): Worker =>
  spawnBeside(import.meta.url, "CheckWorker", { workerData: data })

/** `checkConfigText(text, { file })` on a worker thread. */
export const checkOffThread = (text: string, file: string | undefined): Effect.Effect<CheckResult> =>
  Effect.acquireUseRelease(
    Effect.sync(() => spawn({ text, file })),
    (worker) =>
      Effect.async<CheckResult>((resume) => {
        worker.once("message", (posted) => resume(Effect.succeed(decode(posted))))
        // The check died (out of memory on a hostile file, or a bug): the file is refused, and the daemon goes on.
        const failed = (reason: string) =>
          resume(Effect.succeed({ _tag: "ParseError", errors: [{ path: "", rule: `the configuration check failed: ${reason}` }] }))
        worker.once("error", (e) => failed(e.message))
        worker.once("exit", (code) => failed(`its worker thread exited with ${code}`))
      }),
    (worker) => Effect.promise(() => worker.terminate())
  )
