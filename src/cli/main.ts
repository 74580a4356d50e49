#!/usr/bin/env node
/**
 * maglevc: the operator's CLI of maglevd.
 *
 * With a command it runs it and exits (0 done, 1 the server failed it or
 * could not be reached, 2 the command line is wrong); without one it opens
 * the interactive shell (Shell.ts), or, when standard input is not a
 * terminal, runs the commands it reads there one per line.
 */
import { HelpDoc, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Duration, Effect, Either } from "effect"
import * as fs from "node:fs"
import * as Client from "../api/Client.js"
import { parseDuration } from "../config/index.js"
import { colorByDefault } from "../internal/Color.js"
import * as CommandLine from "../internal/CommandLine.js"
import { commandLineTeardown, ExitStatus } from "../internal/ExitStatus.js"
import { VERSION_LINE } from "../Version.js"
import { makeSession, Session, UsageError } from "./Commands.js"
import { anyKey, fail, runLine } from "./Run.js"
import * as Shell from "./Shell.js"

const flags = {
  server: CommandLine.text({
    name: "server",
    value: "URL",
    description: "maglevd's RPC API: a URL, or host:port",
    env: "MAGLEV_SERVER",
    default: Client.DEFAULT_URL
  }),
  tokenFile: CommandLine.text({
    name: "token-file",
    value: "FILE",
    description: "file holding the bearer token for maglevd",
    env: "MAGLEV_RPC_TOKEN_FILE",
    default: ""
  }),
  color: CommandLine.flag(
    { name: "color", description: "colour labels, states and errors; --color=false turns it off", default: "on for a terminal without NO_COLOR", env: "NO_COLOR" },
    Options.boolean("color").pipe(Options.withFallbackConfig(Config.sync(() => colorByDefault())))
  ),
  timeout: CommandLine.flag(
    {
      name: "timeout",
      value: "DURATION",
      description: "how long maglevd has to start answering a command (Go syntax: 500ms, 10s)",
      default: "10s",
      env: "MAGLEV_TIMEOUT"
    },
    Options.text("timeout").pipe(
      Options.withFallbackConfig(Config.string("MAGLEV_TIMEOUT")),
      Options.withDefault("10s"),
      Options.mapTryCatch(
        (text) => {
          const d = Either.getOrThrowWith(parseDuration(text), (reason) => `--timeout ${JSON.stringify(text)}: ${reason}`)
          if (Duration.lessThanOrEqualTo(d, Duration.zero)) throw `--timeout ${JSON.stringify(text)}: more than 0`
          return d
        },
        (e) => HelpDoc.p(String(e))
      )
    )
  ),
  json: CommandLine.boolean({ name: "json", description: "print the API's responses as JSON, for scripts", env: "MAGLEV_JSON" })
}

type Flags = CommandLine.FlagValues<typeof flags>

const program: CommandLine.Program<Flags> = {
  name: "maglevc",
  version: VERSION_LINE,
  summary: "the operator's command line of maglevd",
  flags,
  positional: { name: "COMMAND", description: "a command, e.g. show backends; none: the interactive shell (help lists the commands)" },
  notes: [
    "Exit status: 0 done; 1 maglevd failed the command or could not be reached; 2 a bad command line.",
    "See maglevc(1)."
  ]
}

/** `host:port` means `http://host:port`. */
export const serverUrl = (text: string): string => (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`)

const readToken = (file: string) =>
  file === ""
    ? Effect.succeed(undefined)
    : Effect.try({
      try: () => fs.readFileSync(file, "utf8").trim(),
      catch: (e) => new UsageError({ message: `--token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })
    })

/** One command: its exit status. A watch on a terminal stops at any key, as in the shell. */
const oneShot = (line: ReadonlyArray<string>) => Effect.map(runLine(line, { stop: anyKey }), (status) => (status === "quit" ? 0 : status))

const main = (o: Flags, words: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const url = serverUrl(o.server === "" ? Client.DEFAULT_URL : o.server)
    const valid = yield* Effect.either(Effect.try(() => Client.endpoint(url)))
    if (valid._tag === "Left") {
      yield* fail(`--server ${JSON.stringify(o.server)}: not a URL or host:port`, o.color)
      return new ExitStatus(2)
    }
    const token = yield* Effect.either(readToken(o.tokenFile))
    if (token._tag === "Left") {
      yield* fail(token.left.message, o.color)
      return new ExitStatus(2)
    }
    const client = yield* Client.make({ url, token: token.right, timeout: o.timeout })
    const session = yield* makeSession({ client, url, color: o.color, json: o.json })
    const run = words.length > 0 ? oneShot(words) : process.stdin.isTTY === true ? Shell.interactive : Shell.script
    return new ExitStatus(yield* Effect.provideService(run, Session, session))
  }).pipe(
    Effect.scoped,
    // Whatever escaped the commands' own error lines: one line too, never a stack trace.
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.as(fail(unexpected(cause), o.color), new ExitStatus(1))
    )
  )

/** The first line of a failure nothing else explained. */
const unexpected = (cause: Cause.Cause<unknown>): string => {
  const first = [...Cause.failures(cause), ...Cause.defects(cause)][0]
  const text = first instanceof Error ? `${first.name}: ${first.message}` : Cause.pretty(cause)
  return `unexpected failure: ${text.split("\n")[0]}`
}

CommandLine.run(program, main).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // Ctrl-C: 130, as shells report SIGINT; a flag @effect/cli refused: a usage error.
    teardown: commandLineTeardown
  })
)
