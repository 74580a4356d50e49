/**
 * `maglevd --check` as a real process on files an operator should not give
 * it, and on a big one: a FIFO (it must not wait for a writer), a file over the
 * size limit (and the flag and variable that raise it), and a generated
 * configuration of 10,000 backends, whose verdict and warnings must be the
 * same as for a small one. How long the big check takes is a benchmark's
 * business (`npm run bench -- cli`), not this test's.
 */
import { describe, expect, it } from "vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bigConfig } from "../config/bigConfig.js"
import { runToEnd } from "../support/labProcs.js"
import { repoRoot } from "../support/paths.js"

const maglevd = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => runToEnd("maglevd", args, { env: { ...process.env, ...env } })

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglevd-files-"))
  try {
    await f(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("maglevd --check on files that are not regular or too big", () => {
  it("a FIFO with no writer: exits 1 at once with one line naming it", () =>
    withDir(async (dir) => {
      const fifo = path.join(dir, "maglev.yaml")
      execFileSync("mkfifo", [fifo])
      const r = await maglevd(["--check", "--config", fifo])
      expect(r.code).toBe(1)
      expect(r.stderr).toBe(`${fifo}: cannot read the configuration: is a FIFO, not a regular file\n`)
    }), 120_000)

  it("a file over --config-max-bytes is refused with its size; the flag and MAGLEV_CONFIG_MAX_BYTES raise the limit", () =>
    withDir(async (dir) => {
      const file = path.join(dir, "maglev.yaml")
      fs.copyFileSync(path.join(repoRoot, "examples", "maglev.yaml"), file)
      const size = fs.statSync(file).size
      const [refused, raised, byEnv] = await Promise.all([
        maglevd(["--check", "--config", file, "--config-max-bytes", String(size - 1)]),
        maglevd(["--check", "--config", file, "--config-max-bytes", String(size)]),
        maglevd(["--check", "--config", file], { MAGLEV_CONFIG_MAX_BYTES: String(size - 1) })
      ])
      const line = `${file}: cannot read the configuration: is ${size} bytes, over the limit of ${size - 1} bytes (raise it with --config-max-bytes)\n`
      expect(refused).toMatchObject({ code: 1, stderr: line })
      expect(byEnv).toMatchObject({ code: 1, stderr: line })
      expect(raised.code).toBe(0)
      expect(raised.stdout).toContain(`${file}: valid: 1 frontend, 3 backends`)
    }), 120_000)
})

describe("maglevd --check at 10,000 backends", () => {
  it("gives the verdict and the warnings, with their lines, as for a small file", () =>
    withDir(async (dir) => {
      const big = bigConfig(10_000)
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, big.text)
      const lines = big.text.split("\n")
      const lineOf = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix)) + 1
      const r = await maglevd(["--check", "--config", file])
      expect(r.stderr).toBe("")
      expect(r.stdout.split("\n")).toEqual([
        `${file}:${lineOf("    b9999:")}:5: warning: maglev.backends.b9999: is not used by any frontend (it is still health-checked)`,
        `${file}:${lineOf("      new-flows-table-length: 1024")}:31: warning: maglev.frontends.fe0.new-flows-table-length: is less than 100 × 100 backends, so Maglev spreads new flows unevenly; use 16384 or more (value: 1024)`,
        `${file}: valid: 100 frontends, 10000 backends, 4 healthchecks, 2 warnings`,
        ""
      ])
      expect(r.code).toBe(0)

      // One broken reference among them all: exit 2, that one error, at its line.
      fs.writeFileSync(file, big.text.replace("            b5010: {weight: 11}", "            b55555: {weight: 51}"))
      const broken = await maglevd(["--check", "--config", file])
      expect(broken.code).toBe(2)
      expect(broken.stdout).toContain(`${file}:${lineOf("            b5010: {weight: 11}")}:13: error: maglev.frontends.fe50.pools[0].backends.b55555: backend "b55555" is not defined`)
      expect(broken.stdout).toContain("invalid: 1 error, 3 warnings (semantic check)")
    }), 120_000)
})
