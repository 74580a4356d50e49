/**
 * Checking a configuration on a worker thread, so that a big or hostile file
 * never stalls the daemon's event loop (probes, the API, signals): the YAML
 * parse, the walk and the validation of a 4 MiB file take seconds. The worker
 * is made for one check and terminated when it answers, or at once when the
 * check is interrupted (SIGTERM mid-reload).
 *
 * The built package runs `CheckWorker.js` directly. From the TypeScript
 * sources (tsx, vitest) the worker first registers tsx's CommonJS hook, since
 * a worker thread does not inherit the ESM loader of its parent.
 */
import { Effect } from "effect"
import { createRequire } from "node:module"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { CheckResult } from "../Issue.js"
import { decode } from "./Transfer.js"

const here = fileURLToPath(import.meta.url)
const extension = nodePath.extname(here)
const entry = nodePath.join(nodePath.dirname(here), `CheckWorker${extension}`)

const spawn = (data: { readonly text: string; readonly file: string | undefined }): Worker => {
  if (extension === ".js") return new Worker(entry, { workerData: data })
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api")
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)})`, {
    eval: true,
    workerData: data
  })
}

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
