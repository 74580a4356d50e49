/**
 * Every program's --help as an operator reads it, and a bad flag as it is
 * refused: one spawn each, all at once (the bundled programs of
 * test/support/programs.ts).
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import { program, type ProgramName } from "../support/programs.js"

const run = promisify(execFile)

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const spawnOnce = (name: ProgramName, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<Ran> =>
  run(process.execPath, [...program(name), ...args], { env: { ...process.env, NO_COLOR: "", ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" })
  )

const PROGRAMS: ReadonlyArray<ProgramName> = ["maglevd", "vppsim", "maglevc", "maglevt", "maglevd-frontend"]

/** A flag's block in the help: its `--name` line and the indented lines under it. */
const blocks = (help: string): Map<string, Array<string>> => {
  const out = new Map<string, Array<string>>()
  let current: Array<string> | undefined
  for (const line of help.split("\n")) {
    const m = /^ {2}--([a-z][a-z0-9-]*)/.exec(line)
    if (m !== null) out.set(m[1]!, (current = []))
    else if (current !== undefined && line.startsWith("      ")) current.push(line.trim())
    else current = undefined
  }
  return out
}

const help: Partial<Record<ProgramName, Ran>> = {}
const bad: Partial<Record<ProgramName, Ran>> = {}

beforeAll(async () => {
  await Promise.all([
    ...PROGRAMS.map(async (name) => void (help[name] = await spawnOnce(name, ["--help"]))),
    (async () => void (bad.maglevd = await spawnOnce("maglevd", ["--log-level", "loud"])))(),
    (async () => void (bad.maglevc = await spawnOnce("maglevc", ["--jsn", "show", "version"])))(),
    (async () => void (bad["maglevd-frontend"] = await spawnOnce("maglevd-frontend", ["--log-format", "xml"])))()
  ])
}, 240_000)

describe.each(PROGRAMS)("%s --help", (name) => {
  it("is plain text within 80 columns, whatever the terminal", () => {
    const h = help[name]!
    expect(h.code).toBe(0)
    expect(h.stdout).not.toMatch(/\x1b\[/)
    expect(h.stdout.split("\n").filter((l) => l.length > 80)).toEqual([])
    expect(h.stdout).toMatch(new RegExp(`^${name} - \\S`))
  })

  it("says of every flag what it does in one line and its default, and names its environment variable when it has one", () => {
    const flags = blocks(help[name]!.stdout)
    expect([...flags.keys()]).toEqual(expect.arrayContaining(["help", "version"]))
    for (const [flag, lines] of flags) {
      // One line of description, then the facts.
      expect(lines.filter((l) => !/^default /.test(l)), `--${flag}`).toHaveLength(1)
      if (flag !== "help" && flag !== "version") expect(lines.some((l) => /^default /.test(l)), `--${flag}: ${lines.join(" ")}`).toBe(true)
    }
    // Nothing of @effect/cli's own: no wizard, no completions, one --log-level.
    expect(help[name]!.stdout).not.toMatch(/--wizard|--completions|A user-defined piece of text|This setting is optional/)
    expect(help[name]!.stdout.match(/^ {2}--log-level/gm)?.length ?? 0).toBeLessThanOrEqual(1)
  })
})

it("the daemons' flags each have an environment variable", () => {
  for (const name of ["maglevd", "vppsim", "maglevd-frontend"] as const) {
    for (const [flag, lines] of blocks(help[name]!.stdout)) {
      if (["help", "version", "check"].includes(flag)) continue
      expect(lines.join(" "), `${name} --${flag}`).toMatch(/env (MAGLEV|VPPSIM)_[A-Z_]+/)
    }
  }
  expect(blocks(help.maglevd!.stdout).get("log-format")!.join(" ")).toContain("default text on a terminal, else json; env MAGLEV_LOG_FORMAT")
})

it("a bad flag value is one line naming the flag and what it takes; exit 2", () => {
  expect(bad.maglevd!.code).toBe(2)
  expect(bad.maglevd!.stderr).toBe('maglevd: --log-level "loud": expected one of debug, info, warn, error (maglevd --help lists the flags)\n')
  expect(bad.maglevc!.code).toBe(2)
  expect(bad.maglevc!.stderr).toBe("maglevc: unknown flag --jsn; did you mean --json? (maglevc --help lists the flags)\n")
  expect(bad["maglevd-frontend"]!.code).toBe(2)
  expect(bad["maglevd-frontend"]!.stderr).toBe(
    'maglevd-frontend: --log-format "xml": expected one of json, text (maglevd-frontend --help lists the flags)\n'
  )
})
