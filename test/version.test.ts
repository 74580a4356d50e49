/**
 * What the programs say they are (src/Version.ts), from this checkout, with
 * the real git behind a shim on PATH that logs each run (and can hold it):
 * loading the module runs no git; `build` asks git off the event loop, in
 * one child process, once per process; `buildSync` (a one-shot
 * `--version`) gives the same answer; a packager's commit and date need no
 * git at all.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { until } from "./cli/lab.js"
import { repoRoot } from "./support/paths.js"

type VersionModule = typeof import("../src/Version.js")

const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim()

let dir: string
let log: string
let gate: string
const saved = { ...process.env }

/** git's runs so far, one line of arguments each. */
const runs = (): Array<string> => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").filter((l) => l !== "") : [])

/** A fresh Version.ts (and PackageVersion.ts), loaded now, with the environment as it is. */
const load = async (): Promise<VersionModule> => {
  vi.resetModules()
  return await import("../src/Version.js")
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "version-test-"))
  log = path.join(dir, "git.log")
  gate = path.join(dir, "go")
  // Logs its arguments; with GIT_SHIM_GATE set, waits for that file before running git.
  fs.writeFileSync(
    path.join(dir, "git"),
    `#!/bin/sh\necho "$*" >> '${log}'\nif [ -n "$GIT_SHIM_GATE" ]; then while [ ! -e "$GIT_SHIM_GATE" ]; do sleep 0.01; done; fi\nexec '${realGit}' "$@"\n`,
    { mode: 0o755 }
  )
  process.env.PATH = `${dir}:${saved.PATH ?? ""}`
  delete process.env.VPP_MAGLEV_COMMIT
  delete process.env.VPP_MAGLEV_COMMIT_DATE
})

afterEach(() => {
  process.env = { ...saved }
  fs.rmSync(dir, { recursive: true, force: true })
})

const COMMIT = /^[0-9a-f]{12}(\+dirty)?$/
const DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/

describe("Version", () => {
  it("loading runs no git; build asks it in one child process while the event loop goes on, once", async () => {
    process.env.GIT_SHIM_GATE = gate
    const V = await load()
    expect(runs()).toEqual([])

    let answered = false
    const asked = Effect.runPromise(V.build).then((b) => {
      answered = true
      return b
    })
    // git is held by the shim: this test's own waiting runs on the loop meanwhile.
    await until("git asked", () => (runs().length === 1 ? true : undefined))
    expect(answered).toBe(false)
    fs.writeFileSync(gate, "")
    const b = await asked

    expect(runs().map((r) => r.split(" ").slice(2, 4).join(" "))).toEqual(["log -1", "status --porcelain"])
    expect(b.commit).toMatch(COMMIT)
    expect(b.date).toMatch(DATE)
    expect(b.version).toBe(V.VERSION)
    // Kept: asking again, at once or not, runs nothing.
    expect(await Effect.runPromise(V.build)).toBe(b)
    expect(V.buildSync()).toBe(b)
    expect(V.VERSION_LINE()).toBe(`${b.version} (commit ${b.commit}, ${b.date})`)
    expect(runs()).toHaveLength(2)
    // The commit as git names it.
    const head = execFileSync(realGit, ["-C", repoRoot, "rev-parse", "--short=12", "HEAD"], { encoding: "utf8" }).trim()
    expect(b.commit.replace(/\+dirty$/, "")).toBe(head)

    // The synchronous way (a one-shot --version) says the same.
    delete process.env.GIT_SHIM_GATE
    const again = await load()
    expect(again.buildSync()).toEqual(b)
    expect(runs()).toHaveLength(4)
    expect(await Effect.runPromise(again.build)).toEqual(b)
    expect(runs()).toHaveLength(4)
  })

  it("a packager's commit and date (the bundle's): no git at all", async () => {
    process.env.VPP_MAGLEV_COMMIT = "0123456789ab"
    process.env.VPP_MAGLEV_COMMIT_DATE = "2026-01-02T03:04:05+00:00"
    const V = await load()
    expect(await Effect.runPromise(V.build)).toEqual({ version: V.VERSION, commit: "0123456789ab", date: "2026-01-02T03:04:05+00:00" })
    expect(V.VERSION_LINE()).toBe(`${V.VERSION} (commit 0123456789ab, 2026-01-02T03:04:05+00:00)`)
    expect(runs()).toEqual([])
  })
})
