/**
 * Starting a worker thread from a module beside the one that starts it: the
 * configuration check (config/internal/CheckWorker) and the probe threads
 * (health/probes/ProbeWorker).
 *
 * The built package runs `NAME.js` directly: the bundles put every worker
 * entry beside the programs (packaging/bundle.mjs, test/support/globalSetup.ts).
 * From the TypeScript sources (tsx, vitest) the worker first registers tsx's
 * CommonJS hook, since a worker thread does not inherit the ESM loader of its
 * parent.
 */
import { createRequire } from "node:module"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { Worker, type WorkerOptions } from "node:worker_threads"

/** Starts `NAME.js` (or `NAME.ts` from the sources) found beside the module at `fromUrl` (its import.meta.url). */
export const spawnBeside = (fromUrl: string, name: string, options: WorkerOptions): Worker => {
  const here = fileURLToPath(fromUrl)
  const extension = nodePath.extname(here)
  const entry = nodePath.join(nodePath.dirname(here), `${name}${extension}`)
  if (extension === ".js") return new Worker(entry, options)
  const tsx = createRequire(fromUrl).resolve("tsx/cjs/api")
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)})`, { ...options, eval: true })
}
