/**
 * The committed bindings must be exactly what the generator writes from
 * codegen/ + ../shared/vpp-api: regenerate into a temporary directory with
 * the real command and compare every file.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { compareWithManifest, loadApis, readManifest } from "../../codegen/Sources.js"
import { apiDir, repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"

const run = promisify(execFile)
const codegen = (...args: Array<string>) =>
  run(process.execPath, [...program("codegen"), ...args], { cwd: repoRoot })

describe("generated bindings", () => {
  it("src/vpp/binapi is what codegen writes from ../shared/vpp-api", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "binapi-"))
    try {
      const { stdout } = await codegen("--api-dir", apiDir, "--out", out)
      expect(stdout).toMatch(/wrote 10 files/)
      const committed = path.join(repoRoot, "src/vpp/binapi")
      const names = fs.readdirSync(out).sort()
      expect(fs.readdirSync(committed).sort()).toEqual(names)
      for (const name of names) {
        expect(fs.readFileSync(path.join(committed, name), "utf8"), `${name} is stale: run npm run codegen`).toBe(
          fs.readFileSync(path.join(out, name), "utf8")
        )
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  })

  it("--check agrees, and reports a stale file with exit code 1", async () => {
    const { stdout } = await codegen("--check")
    expect(stdout).toMatch(/up to date \(10 files\)/)
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "binapi-"))
    try {
      await codegen("--out", out)
      fs.appendFileSync(path.join(out, "lb.ts"), "// hand edit\n")
      fs.writeFileSync(path.join(out, "extra.ts"), "")
      const err = await codegen("--check", "--out", out).then(() => undefined, (e) => e)
      expect(err?.code).toBe(1)
      expect(err?.stderr).toMatch(/lb\.ts differs/)
      expect(err?.stderr).toMatch(/extra\.ts is not generated/)
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  })

  it("the definitions match the manifest in api-defs/", () => {
    expect(compareWithManifest(readManifest(), loadApis(readManifest(), [apiDir]))).toEqual([])
  })
})
