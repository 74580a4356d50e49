/**
 * How tests run the programs as processes: `spawn(process.execPath,
 * [...program("maglevd"), ...flags])`. Under vitest this is the bundle that
 * test/support/globalSetup.ts built from the current sources at the start of
 * the run (fast to start); elsewhere (a benchmark importing a lab, vitest in
 * watch mode, a failed bundle, a program whose source did not exist yet when
 * the run started) it is the source through tsx. Paths are
 * absolute: the child's cwd does not matter.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { repoRoot } from "./paths.js"

/** The programs and their sources (relative to the repository); a test's own child script is one too. */
export const PROGRAMS = {
  maglevd: "src/daemon/main.ts",
  maglevc: "src/cli/main.ts",
  maglevt: "src/maglevt/main.ts",
  vppsim: "src/sim/main.ts",
  "maglevd-frontend": "src/frontend/main.ts",
  "probe-child": "test/support/probeChild.ts",
  codegen: "codegen/main.ts"
} as const

export type ProgramName = keyof typeof PROGRAMS

/**
 * Programs whose modules find files from their own source's place (codegen/Sources.ts: the
 * repository root is `..` of it): bundled on their own, with `import.meta.url` that source's.
 */
export const ANCHORED: Partial<Record<ProgramName, string>> = { codegen: "codegen/Sources.ts" }

/** The worker threads' entry points (the configuration check, the probes, /metrics), bundled beside each program. */
export const WORKERS = {
  CheckWorker: "src/config/internal/CheckWorker.ts",
  ProbeWorker: "src/health/probes/ProbeWorker.ts",
  ScrapeWorker: "src/metrics/ScrapeWorker.ts"
} as const

/** Set by the global setup to the directory of this run's bundles. */
export const PROGRAMS_ENV = "VPP_MAGLEV_TEST_PROGRAMS"

/** The arguments to `process.execPath` that run `name` (before its own arguments). */
export const program = (name: ProgramName): ReadonlyArray<string> => {
  const dir = process.env[PROGRAMS_ENV]
  const bundle = dir !== undefined && dir !== "" ? path.join(dir, `${name}.js`) : undefined
  return bundle !== undefined && fs.existsSync(bundle) ? [bundle] : ["--import", "tsx", path.join(repoRoot, PROGRAMS[name])]
}
