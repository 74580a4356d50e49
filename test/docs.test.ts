/**
 * The operator documentation against the code: every list it checks is taken
 * from the code, so adding a flag, an environment variable, a log event, a
 * probe result code or a configuration key without documenting it fails here.
 */
import { Duration } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import * as Commands from "../src/cli/Commands.js"
import * as Shell from "../src/cli/Shell.js"
import * as Tree from "../src/cli/Tree.js"
import { checkConfigText, Defaults, formatCheckResult, formatDuration } from "../src/config/index.js"
import { PROBE_CODES } from "../src/health/ProbeResult.js"
import { repoRoot } from "./support/paths.js"
import { program } from "./support/programs.js"

const run = promisify(execFile)
const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), "utf8")

const userGuide = read("docs/user-guide.md")
const healthchecks = read("docs/healthchecks.md")
const configGuide = read("docs/config-guide.md")

/** A man page as text: roff escapes for `-`, `\\` and fonts removed, so `\-\-config` reads `--config`. */
const roff = (file: string) =>
  read(file)
    .replace(/\\-/g, "-")
    .replace(/\\f(?:[BIRP]|\(..|\[[^\]]*\])/g, "")
    .replace(/\\&/g, "")
    .replace(/\\e/g, "\\")

const manPage = roff("docs/maglevd.8")

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
/** `word` as a whole token: not part of a longer flag or name. */
const mentions = (text: string, word: string) => new RegExp(`(?<![\\w-])${escapeRegExp(word)}(?![\\w-])`).test(text)
/** `word` in backticks, as the Markdown guides write names. */
const quotes = (text: string, word: string) => text.includes("`" + word + "`")

const matchAll = (text: string, re: RegExp): Array<string> => [...text.matchAll(re)].map((m) => m[1]!)

/** Every .ts file under `dir`, except the generated VPP bindings. */
const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name)
    if (e.isDirectory()) return file.endsWith(path.join("vpp", "binapi")) ? [] : sources(file)
    return e.name.endsWith(".ts") ? [file] : []
  })

const sorted = (names: Iterable<string>) => [...new Set(names)].sort()

/** The long flags a `--help` output lists (colour codes stripped). */
const helpFlags = (help: string) => sorted(matchAll(help.replace(/\x1b\[[0-9;]*m/g, ""), /(?<![\w-])(--[a-z][a-z0-9-]*)/g))

describe("flags and environment", () => {
  let help = ""
  beforeAll(async () => {
    const { stdout } = await run(process.execPath, [...program("maglevd"), "--help"], { cwd: repoRoot })
    help = stdout
  }, 60_000)

  const flags = () => helpFlags(help)
  const envVars = sorted(matchAll(read("src/daemon/main.ts"), /"(MAGLEV_[A-Z0-9_]+)"/g))

  it("finds the flags in --help", () => {
    expect(flags()).toEqual(expect.arrayContaining(["--config", "--check", "--rpc-addr", "--version", "--help"]))
  })

  it("every long flag of maglevd --help is in the man page and the user guide", () => {
    expect(flags().filter((f) => !mentions(manPage, f))).toEqual([])
    expect(flags().filter((f) => !mentions(userGuide, f))).toEqual([])
  })

  it("every environment variable main.ts reads is in the man page and the user guide", () => {
    expect(envVars).toEqual(expect.arrayContaining(["MAGLEV_CONFIG", "MAGLEV_RPC_ADDR"]))
    expect(envVars.filter((v) => !mentions(manPage, v))).toEqual([])
    expect(envVars.filter((v) => !mentions(userGuide, v))).toEqual([])
  })

  it("the man page has the sections of a man(7) page", () => {
    for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "FILES", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO"]) {
      expect(manPage).toMatch(new RegExp(`^\\.SH "?${section}"?$`, "m"))
    }
  })
})

describe("log events", () => {
  /**
   * Event names as the source writes them: an `event: "..."` annotation,
   * `annotateLogs("event", "...")`, a log call whose message is the event name
   * (`logDebug("vpp-api-send", ...)`), and the supervisor's
   * `logEvent(level, message, "event", ...)`. Template names
   * (`backend-${action}`) are expanded below.
   */
  const files = sources(path.join(repoRoot, "src"))
  const texts = files.map((f) => [path.relative(repoRoot, f), fs.readFileSync(f, "utf8")] as const)
  const NAME = "[a-z][a-z0-9-]*"
  /** A log message that is an event name has a hyphen (`vppsim-ready`); prose messages have spaces. */
  const KEBAB = "[a-z][a-z0-9]*(?:-[a-z0-9]+)+"
  const literal = texts.flatMap(([, text]) => [
    ...matchAll(text, new RegExp(`\\bevent:\\s*"(${NAME})"`, "g")),
    ...matchAll(text, new RegExp(`annotateLogs\\(\\s*"event",\\s*"(${NAME})"`, "g")),
    ...matchAll(text, new RegExp(`\\blog(?:Debug|Info|Warning|Error|Fatal|Trace)?\\(\\s*"(${KEBAB})"`, "g")),
    ...matchAll(text, new RegExp(`\\blogEvent\\([^\\n]*?,\\s*"[^"\\n]*",\\s*"(${KEBAB})"`, "g"))
  ])

  /** `backend-${action}` in HealthChecker.ts: one event per operator action (the keys of its `actions`). */
  const expansions: Record<string, () => ReadonlyArray<string>> = {
    "backend-${action}": () => {
      const checker = read("src/health/HealthChecker.ts")
      const body = /const actions = \{([^}]*)\}/.exec(checker)?.[1] ?? ""
      return matchAll(body, /(\w+):/g).map((a) => `backend-${a}`)
    }
  }
  const templates = sorted(texts.flatMap(([, text]) => matchAll(text, /\bevent:\s*(`[^`]*\$\{[^`]*`)/g).map((t) => t.slice(1, -1))))
  const events = sorted([...literal, ...templates.flatMap((t) => expansions[t]?.() ?? [])])

  it("finds the events, templates included", () => {
    expect(events).toEqual(
      expect.arrayContaining(["starting", "start-failed", "backend-transition", "backend-pause", "vpp-connect", "vpp-api-send", "vpp-lbsync-as-add", "rpc-listen"])
    )
  })

  it("knows how to expand every template event name", () => {
    expect(templates.filter((t) => expansions[t] === undefined)).toEqual([])
    for (const t of templates) expect(expansions[t]!().length).toBeGreaterThan(0)
  })

  it("every event in src/ is in the user guide", () => {
    expect(events.filter((e) => !quotes(userGuide, e))).toEqual([])
  })

  it("every event the user guide lists exists in src/", () => {
    const section = userGuide.slice(userGuide.indexOf("### Events"), userGuide.indexOf("\n## ", userGuide.indexOf("### Events")))
    const listed = matchAll(section, /^\| `([a-z][a-z0-9-]*)` \|/gm)
    expect(listed.length).toBeGreaterThan(40)
    expect(listed.filter((e) => !events.includes(e))).toEqual([])
  })
})

describe("probe result codes", () => {
  it("every code of ProbeResult.ts is in healthchecks.md", () => {
    expect(PROBE_CODES.filter((c) => !quotes(healthchecks, c))).toEqual([])
  })

  it("healthchecks.md names no code that ProbeResult.ts does not have", () => {
    const named = sorted(matchAll(healthchecks, /`(L\d[A-Z]+)`/g))
    expect(named.filter((c) => !(PROBE_CODES as ReadonlyArray<string>).includes(c))).toEqual([])
  })
})

describe("configuration keys", () => {
  /** The keys the structural stage accepts: every `W.field("key", ...)` in Raw.ts. */
  const keys = sorted(matchAll(read("src/config/Raw.ts"), /\bW\.field\(\s*"([a-z][a-z0-9-]*)"/g))

  /** The rows of the guide's `| key | type | default | rule |` tables: key (last path segment) → default cells. */
  const rows = (() => {
    const out = new Map<string, Array<string>>()
    let inKeyTable = false
    for (const line of configGuide.split("\n")) {
      if (!line.startsWith("|")) inKeyTable = false
      else if (/^\| key \|/.test(line)) inKeyTable = true
      else if (inKeyTable && !line.startsWith("|---")) {
        const cells = line.split("|").slice(1, -1).map((c) => c.trim())
        const key = /^`([^`]+)`$/.exec(cells[0] ?? "")?.[1]?.split(".").pop()
        if (key !== undefined) out.set(key, [...(out.get(key) ?? []), cells[2] ?? ""])
      }
    }
    return out
  })()

  it("finds the keys in Raw.ts", () => {
    expect(keys).toEqual(expect.arrayContaining(["maglev", "fast-interval", "new-flows-table-length", "weight"]))
  })

  it("the config guide mentions every key Raw.ts accepts", () => {
    expect(keys.filter((k) => !new RegExp(`[\`.]${escapeRegExp(k)}[\`.:]`).test(configGuide))).toEqual([])
  })

  it("every key in the guide's key tables is one Raw.ts accepts", () => {
    expect([...rows.keys()].filter((k) => !keys.includes(k))).toEqual([])
  })

  it("the guide gives the defaults of Validate.ts", () => {
    const kebab = (name: string) => (name === "httpPath" ? "path" : name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()))
    const show = (value: unknown): string => {
      if (Duration.isDuration(value)) return formatDuration(value)
      if (Array.isArray(value)) return `[${value.map((r: { from: number; to: number }) => `${r.from}-${r.to}`).join(", ")}]`
      return value === "" ? '""' : String(value)
    }
    const wrong = Object.entries(Defaults).flatMap(([name, value]) => {
      const cells = rows.get(kebab(name)) ?? []
      return cells.some((c) => c.includes("`" + show(value) + "`")) ? [] : [`${kebab(name)}: ${show(value)} (guide: ${cells.join(" / ")})`]
    })
    expect(wrong).toEqual([])
  })

  it("every complete example in the config guide passes the check without warnings", () => {
    const blocks = matchAll(configGuide, /```yaml\n([\s\S]*?)```/g).filter((b) => b.startsWith("maglev:") && !b.includes("{ ... }"))
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    for (const block of blocks) {
      const result = checkConfigText(block, { checkReadable: () => undefined })
      expect(formatCheckResult(result, "example")).toMatch(/^example: valid: [^\n]*healthchecks?\n$/)
    }
  })
})

describe("maglevc", () => {
  const cliPage = roff("docs/maglevc.1")
  /** The guide's maglevc section, up to the next `## ` heading. */
  const cliGuide = (() => {
    const start = userGuide.indexOf("\n## maglevc")
    const end = userGuide.indexOf("\n## ", start + 1)
    return start < 0 ? "" : userGuide.slice(start, end < 0 ? undefined : end)
  })()
  /** Whitespace runs as one space, so a roff or Markdown line break does not matter. */
  const squash = (text: string) => text.replace(/\s+/g, " ")

  let help = ""
  beforeAll(async () => {
    const { stdout } = await run(process.execPath, [...program("maglevc"), "--help"], { cwd: repoRoot })
    help = stdout
  }, 60_000)

  /**
   * What main.ts reads from the environment: `Config.string("NAME")` (and the
   * other `Config.*` constructors), a flag's `env: "NAME"` and `process.env`.
   */
  const mainTs = read("src/cli/main.ts")
  const envVars = sorted([
    ...matchAll(mainTs, /\bConfig\.\w+\(\s*"([A-Z][A-Z0-9_]*)"/g),
    ...matchAll(mainTs, /\benv:\s*"([A-Z][A-Z0-9_]*)"/g),
    ...matchAll(mainTs, /\bprocess\.env\.([A-Z][A-Z0-9_]*)/g),
    ...matchAll(mainTs, /\bprocess\.env\[\s*"([A-Z][A-Z0-9_]*)"\s*\]/g)
  ])
  const commands = Tree.synopsis(Commands.tree).map((s) => s.line)

  it("the user guide has a maglevc section", () => {
    expect(cliGuide).toMatch(/^\n## maglevc/)
  })

  it("the man page has the sections of a man(7) page", () => {
    for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"]) {
      expect(cliPage).toMatch(new RegExp(`^\\.SH "?${section}"?$`, "m"))
    }
  })

  it("finds the flags in --help", () => {
    expect(helpFlags(help)).toEqual(expect.arrayContaining(["--server", "--token-file", "--color", "--json", "--version", "--help"]))
  })

  it("every long flag of maglevc --help is in the man page and the user guide's section", () => {
    expect(helpFlags(help).filter((f) => !mentions(cliPage, f))).toEqual([])
    expect(helpFlags(help).filter((f) => !mentions(cliGuide, f))).toEqual([])
  })

  it("every environment variable main.ts reads is in the man page and the user guide's section", () => {
    expect(envVars).toEqual(expect.arrayContaining(["MAGLEV_SERVER", "MAGLEV_RPC_TOKEN_FILE", "NO_COLOR"]))
    expect(envVars.filter((v) => !mentions(cliPage, v))).toEqual([])
    expect(envVars.filter((v) => !mentions(cliGuide, v))).toEqual([])
  })

  it("every command of the tree is in the man page and the user guide's section, as help writes it", () => {
    expect(commands).toEqual(expect.arrayContaining(["show version", "config reload", "help"]))
    expect(commands.length).toBeGreaterThan(20)
    expect(commands.filter((c) => !squash(cliPage).includes(squash(c)))).toEqual([])
    expect(commands.filter((c) => !squash(cliGuide).includes(squash(c)))).toEqual([])
  })

  it("the shell's prompt, history file and history size are as the docs say", () => {
    const file = "~/" + path.basename(Shell.historyFile())
    const size = Shell.HISTORY_SIZE.toLocaleString("en-US")
    const prompt = Shell.PROMPT.trimEnd()
    for (const [name, text] of [["maglevc.1", cliPage], ["user-guide.md", cliGuide]] as const) {
      expect([file, size, prompt].filter((w) => !text.includes(w)).map((w) => `${name}: ${w}`)).toEqual([])
    }
  })
})

describe("maglevt", () => {
  const page = roff("docs/maglevt.1")
  /** The guide's maglevt section, up to the next `## ` heading. */
  const guide = (() => {
    const start = userGuide.indexOf("\n## maglevt")
    const end = userGuide.indexOf("\n## ", start + 1)
    return start < 0 ? "" : userGuide.slice(start, end < 0 ? undefined : end)
  })()
  const mainTs = read("src/maglevt/main.ts")
  // `Config.string("NAME")` and every `MAGLEVT_*` name (a flag's `env`).
  const envVars = sorted([...matchAll(mainTs, /\bConfig\.\w+\(\s*"([A-Z][A-Z0-9_]*)"/g), ...matchAll(mainTs, /"(MAGLEVT_[A-Z0-9_]+)"/g)])

  let help = ""
  beforeAll(async () => {
    const { stdout } = await run(process.execPath, [...program("maglevt"), "--help"], { cwd: repoRoot })
    help = stdout
  }, 60_000)

  it("the user guide has a maglevt section and the README names the man page", () => {
    expect(guide).toMatch(/^\n## maglevt/)
    expect(read("README.md")).toContain("docs/maglevt.1")
  })

  it("the man page has the sections of a man(7) page", () => {
    for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"]) {
      expect(page).toMatch(new RegExp(`^\\.SH "?${section}"?$`, "m"))
    }
  })

  it("every long flag of maglevt --help is in the man page and the user guide's section", () => {
    expect(helpFlags(help)).toEqual(
      expect.arrayContaining(["--config", "--interval", "--timeout", "--host", "--uri", "--header", "--insecure", "--keepalive", "--filter", "--version", "--help"])
    )
    expect(helpFlags(help).filter((f) => !mentions(page, f))).toEqual([])
    expect(helpFlags(help).filter((f) => !mentions(guide, f) && f !== "--help")).toEqual([])
  })

  it("every environment variable main.ts reads is in the man page and the user guide's section", () => {
    expect(envVars).toEqual(expect.arrayContaining(["MAGLEV_CONFIG", "MAGLEVT_INTERVAL", "MAGLEVT_KEEPALIVE", "MAGLEVT_FILTER", "NO_COLOR"]))
    expect(envVars.filter((v) => !mentions(page, v))).toEqual([])
    expect(envVars.filter((v) => !mentions(guide, v))).toEqual([])
  })

  it("the numbers the man page gives are the code's", async () => {
    const Errors = await import("../src/maglevt/Errors.js")
    const Latency = await import("../src/maglevt/Latency.js")
    const Tally = await import("../src/maglevt/Tally.js")
    const Run = await import("../src/maglevt/Run.js")
    const text = page.replace(/\s+/g, " ")
    const said = [
      `last ${Latency.WINDOW_MS / 1000} seconds (at most ${Latency.WINDOW_SAMPLES.toLocaleString("en-US")} of them`,
      `seen in the last ${Tally.SERVING_MS / 1000} seconds`,
      `slower than ${Errors.SPIKE_FACTOR} times the VIP's rolling median and slower than ${Errors.SPIKE_FLOOR_MS}ms, once the median is of ${Errors.SPIKE_MIN_SAMPLES} answers`,
      `the last ${Errors.ERROR_LOG_SIZE} are kept`,
      `in place ${["", "once", "twice", "three times", "four times", "five times"][1000 / Duration.toMillis(Run.REDRAW_PERIOD)]} a second`,
      `every ${Duration.toMillis(Run.REPORT_PERIOD) === 1000 ? "second" : formatDuration(Run.REPORT_PERIOD)} one report line per VIP`
    ]
    expect(said.filter((s) => !text.includes(s))).toEqual([])
  })
})
