/**
 * The command-line and log conventions every program shares
 * (internal/CommandLine.ts, internal/Log.ts), in process.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import { Cause, Effect, Logger, LogLevel } from "effect"
import { colorByDefault } from "../../src/internal/Color.js"
import * as CommandLine from "../../src/internal/CommandLine.js"
import * as Log from "../../src/internal/Log.js"

const flags = {
  config: CommandLine.text({ name: "config", value: "FILE", description: "configuration file", env: "T_CONFIG", default: "/etc/x.yaml" }),
  workers: CommandLine.integer({ name: "workers", value: "N", description: "worker threads", env: "T_WORKERS", default: 0 }),
  check: CommandLine.boolean({ name: "check", description: "check and exit" }),
  logLevel: CommandLine.logLevelFlag("T_LOG_LEVEL")
}
const docs = Object.values(flags).map((f) => f.doc)
const program: CommandLine.Program<CommandLine.FlagValues<typeof flags>> = { name: "t", version: "t 1", summary: "a test program", flags }

describe("CommandLine.check", () => {
  const check = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}, positional = false) =>
    CommandLine.check(docs, args, env, positional)?.message

  it("takes what the flags take, both spellings", () => {
    expect(check(["--config", "a.yaml", "--workers=3", "--check", "--log-level", "warn"])).toBeUndefined()
    expect(check(["--", "--bogus"])).toBeUndefined()
  })

  it("names the flag and what it accepts", () => {
    expect(check(["--log-level", "loud"])).toBe('--log-level "loud": expected one of debug, info, warn, error')
    expect(check(["--workers", "many"])).toBe('--workers "many": expected an integer')
    expect(check(["--workers"])).toBe("--workers needs a value: N")
    expect(check(["--wrkers", "2"])).toBe("unknown flag --wrkers; did you mean --workers?")
    expect(check(["--zzz"])).toBe("unknown flag --zzz")
    expect(check(["-x"])).toBe("unknown flag -x")
    expect(check(["extra"])).toBe('unexpected argument "extra"')
  })

  it("checks the flags' environment variables too", () => {
    expect(check([], { T_LOG_LEVEL: "loud" })).toBe('T_LOG_LEVEL="loud": expected one of debug, info, warn, error (as --log-level)')
    expect(check([], { T_WORKERS: "x" })).toBe('T_WORKERS="x": expected an integer (as --workers)')
  })

  it("leaves a positional command's words alone", () => {
    expect(check(["show", "backend", "-1"], {}, true)).toBeUndefined()
  })
})

describe("CommandLine.parse", () => {
  it.effect("parses the flags, with the environment as fallback", () =>
    Effect.gen(function*() {
      process.env.T_WORKERS = "4"
      const parsed = yield* CommandLine.parse(program, ["--config", "a.yaml", "--log-level=debug"])
      delete process.env.T_WORKERS
      expect(parsed).toEqual({ _tag: "Run", flags: { config: "a.yaml", workers: 4, check: false, logLevel: "debug" }, positional: [] })
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("CommandLine.helpText", () => {
  it("lists every flag with its default and variable, within 80 columns", () => {
    const text = CommandLine.helpText(program)
    expect(text.split("\n").filter((l) => l.length > 80)).toEqual([])
    expect(text).toContain("  --config FILE\n      configuration file\n      default /etc/x.yaml; env T_CONFIG\n")
    expect(text).toContain("  --check\n      check and exit\n      default off\n")
    expect(text).toContain("  --log-level debug|info|warn|error\n")
    expect(text).toContain("  --help, -h\n")
  })

  it("wraps words at the width", () => {
    expect(CommandLine.wrap("aaa bbb ccc", 2, 10)).toEqual(["  aaa bbb", "  ccc"])
  })
})

describe("colour", () => {
  it("only to a terminal, and not with NO_COLOR", () => {
    expect(colorByDefault({ isTTY: true }, {})).toBe(true)
    expect(colorByDefault({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    expect(colorByDefault({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
    expect(colorByDefault({ isTTY: false }, {})).toBe(false)
  })
})

describe("Log", () => {
  /** The lines a logger in `format` writes for what `program` logs. */
  const lines = (format: Log.Format, program: Effect.Effect<void>, level = LogLevel.Info, color = false) => {
    const out: Array<string> = []
    Effect.runSync(
      program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Log.make({ level, format, color, write: (l) => out.push(l) }))))
    )
    return out
  }

  it("JSON: the record without Effect's internals, the event first, a message for every event", () => {
    const [line] = lines(
      "json",
      Effect.logWarning("frontend web is down").pipe(Effect.annotateLogs({ frontend: "web", event: "frontend-transition", serving: 0 }))
    )
    const record = JSON.parse(line!)
    expect(Object.keys(record)).toEqual(["timestamp", "level", "message", "annotations"])
    expect(record).toMatchObject({ level: "warn", message: "frontend web is down" })
    expect(Object.keys(record.annotations)).toEqual(["event", "frontend", "serving"])
    expect(line).not.toMatch(/spans|fiberId/)

    const [named] = lines("json", Effect.logInfo("vpp-lbsync-as-add").pipe(Effect.annotateLogs({ event: "vpp-lbsync-as-add" })))
    expect(JSON.parse(named!).message).toBe("application server added to a VIP")
    const [bare] = lines("json", Effect.logInfo("vppsim-client-connect"))
    expect(JSON.parse(bare!)).toMatchObject({ message: "binary-API client connected", annotations: { event: "vppsim-client-connect" } })
    const [unknown] = lines("json", Effect.logInfo("some-new-thing"))
    expect(JSON.parse(unknown!).message).toBe("some new thing")
  })

  it("text: time level event, then msg and the fields as key=value, one line", () => {
    const [line] = lines(
      "text",
      Effect.logInfo("backend up").pipe(Effect.annotateLogs({ event: "backend-transition", backend: "web1", detail: "HTTP 200 OK", n: 3 }))
    )
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  backend-transition msg="backend up" backend=web1 detail="HTTP 200 OK" n=3$/)
    const [failed] = lines("text", Effect.logError("cannot start", Cause.fail(new Error("boom\nsecond line"))).pipe(Effect.annotateLogs({ event: "start-failed" })))
    expect(failed).toMatch(/^\S+ ERROR start-failed msg="cannot start" cause="Error: boom\\nsecond line/)
    expect(failed).not.toContain("\n")
    const [part] = lines("text", Effect.logError("cannot start", new Error("boom")))
    expect(part).toMatch(/ msg="cannot start Error: boom"$/)
  })

  it("filters by level; colours the level only when asked", () => {
    const both = Effect.logDebug("d").pipe(Effect.zipRight(Effect.logWarning("w")), Logger.withMinimumLogLevel(LogLevel.Debug))
    expect(lines("text", both, LogLevel.Info)).toHaveLength(1)
    expect(lines("text", both, LogLevel.Debug)).toHaveLength(2)
    expect(lines("text", Effect.logWarning("w"), LogLevel.Info, true)[0]).toContain("\x1b[33mWARN \x1b[0m")
    expect(lines("text", Effect.logWarning("w"), LogLevel.Info, false)[0]).not.toContain("\x1b")
  })
})
