import * as os from "node:os"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The run's own TMPDIR, removed at the end; the programs tests spawn, bundled once per run (test/support/programs.ts).
    globalSetup: ["test/support/tmpSandbox.ts", "test/support/globalSetup.ts"],
    // Two test files at a time even on 2 cores (vitest's default there is one): most of the slow files
    // wait on child processes and sockets, so two overlap well; the CPU-bound ones just share the cores.
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // In CI, also write a JSON report so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env["CI"] ? ["default", ["json", { outputFile: ".vitest-results.json" }]] : ["default"]
  }
})
