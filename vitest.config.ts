import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Bundles the programs tests spawn, once per run (test/support/programs.ts).
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // In CI, also write a JSON report so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env["CI"] ? ["default", ["json", { outputFile: ".vitest-results.json" }]] : ["default"]
  }
})
