/**
 * Vitest global setup: bundles the programs (maglevd, maglevc, maglevt,
 * vppsim) from the current sources once per run, so that tests spawn
 * `node <bundle>` (under a second to start on a busy machine) instead of
 * `node --import tsx src/...` (5-15 s: tsx compiles every module at each
 * start). `test/support/programs.ts` is how tests spawn them.
 *
 * The bundle is built from `src/` at the start of every `vitest run`, never
 * reused from an earlier run, into a directory of its own under
 * `node_modules/.cache/` (inside the repository, so that the native addon and
 * package.json are found as from `src/`; not in /tmp), removed at the end.
 * In watch mode (where sources change between runs) nothing is built and the
 * programs run from source with tsx, as they do when the build fails (a
 * syntax error mid-edit): the tests then see that error themselves.
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { TestProject } from "vitest/node"
import { repoRoot } from "./paths.js"
import { ANCHORED, type ProgramName, PROGRAMS, PROGRAMS_ENV, WORKERS } from "./programs.js"

const cacheDir = path.join(repoRoot, "node_modules", ".cache", "vpp-maglev-test-programs")
/** Directories of runs that were killed before their teardown, removed by a later run after this long. */
const STALE_MS = 24 * 3600_000

const removeStale = () => {
  if (!fs.existsSync(cacheDir)) return
  for (const d of fs.readdirSync(cacheDir)) {
    const p = path.join(cacheDir, d)
    if (Date.now() - fs.statSync(p).mtimeMs > STALE_MS) fs.rmSync(p, { recursive: true, force: true })
  }
}

export default async function setup(project: TestProject) {
  if (project.config.watch) return
  removeStale()
  fs.mkdirSync(cacheDir, { recursive: true })
  const outDir = fs.mkdtempSync(path.join(cacheDir, "run-"))
  const started = performance.now()
  const exists = (name: string) => fs.existsSync(path.join(repoRoot, PROGRAMS[name as ProgramName]))
  const names = Object.keys(PROGRAMS).filter((name) => exists(name) && ANCHORED[name as ProgramName] === undefined)
  const anchored = Object.entries(ANCHORED).filter(([name]) => exists(name))
  const common = {
    absWorkingDir: repoRoot,
    outdir: outDir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "silent",
    // CommonJS dependencies (yaml) require node's modules.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" }
  } as const
  try {
    await Promise.all([
      build({
        ...common,
        entryPoints: [
          ...names.map((name) => ({ in: PROGRAMS[name as ProgramName], out: name })),
          // The worker threads, loaded from beside the module that starts them
          // (src/internal/WorkerEntry.ts): every file is in the one directory.
          ...Object.entries(WORKERS).map(([out, entry]) => ({ in: entry, out }))
        ],
        // What the programs share (effect, most of src/) is built once, into chunks beside them.
        splitting: true,
        chunkNames: "chunk-[hash]"
      }),
      ...anchored.map(([name, source]) =>
        build({
          ...common,
          entryPoints: [{ in: PROGRAMS[name as ProgramName], out: name }],
          define: { "import.meta.url": JSON.stringify(pathToFileURL(path.join(repoRoot, source!)).href) }
        })
      )
    ])
  } catch (e) {
    fs.rmSync(outDir, { recursive: true, force: true })
    process.stderr.write(`test programs: the bundle failed, tests run them with tsx (slow): ${e instanceof Error ? e.message : String(e)}\n`)
    return
  }
  process.env[PROGRAMS_ENV] = outDir
  process.stderr.write(`test programs bundled in ${Math.round(performance.now() - started)} ms\n`)
  return () => {
    fs.rmSync(outDir, { recursive: true, force: true })
  }
}
