#!/usr/bin/env node
/**
 * maglevc: the operator's CLI of maglevd.
 *
 * With a command it runs it and exits (0 done, 1 the server failed it or
 * could not be reached, 2 the command line is wrong); without one it opens
 * the interactive shell (Shell.ts), or, when standard input is not a
 * terminal, runs the commands it reads there one per line.
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as Client from "../api/Client.js"
import { commandLineTeardown, ExitStatus } from "../internal/ExitStatus.js"
import { VERSION_LINE } from "../Version.js"
import { makeSession, Session, UsageError } from "./Commands.js"
import { anyKey, fail, runLine } from "./Run.js"
import * as Shell from "./Shell.js"

const server = Options.text("server").pipe(
  Options.withFallbackConfig(Config.string("MAGLEV_SERVER")),
  Options.withDefault(Client.DEFAULT_URL),
  Options.withDescription(`maglevd's RPC API: a URL, or host:port (env MAGLEV_SERVER; default ${Client.DEFAULT_URL})`)
)
const tokenFile = Options.text("token-file").pipe(
  Options.withFallbackConfig(Config.string("MAGLEV_RPC_TOKEN_FILE")),
  Options.withDefault(""),
  Options.withDescription("file holding the bearer token for maglevd (env MAGLEV_RPC_TOKEN_FILE)")
)
/** On when standard output is a terminal and NO_COLOR is unset (or empty); --color=true|false decides. */
const colorByDefault = Config.option(Config.string("NO_COLOR")).pipe(
  Config.map((noColor) => process.stdout.isTTY === true && Option.getOrElse(noColor, () => "") === "")
)
const color = Options.boolean("color").pipe(
  Options.withFallbackConfig(colorByDefault),
  Options.withDescription("colour: labels, states and errors (default: on for a terminal, off with NO_COLOR)")
)
const json = Options.boolean("json").pipe(Options.withDescription("print the API's responses as JSON, for scripts"))
const words = Args.text({ name: "command" }).pipe(
  Args.repeated,
  Args.withDescription("a command, e.g. show backends (none: the interactive shell; `help` lists them)")
)

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

const maglevc = Command.make("maglevc", { server, tokenFile, color, json, words }, (o) =>
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
    const client = yield* Client.make({ url, token: token.right })
    const session = yield* makeSession({ client, url, color: o.color, json: o.json })
    const run = o.words.length > 0 ? oneShot(o.words) : process.stdin.isTTY === true ? Shell.interactive : Shell.script
    return new ExitStatus(yield* Effect.provideService(run, Session, session))
  }).pipe(Effect.scoped)
)

const cli = Command.run(maglevc, { name: "maglevc", version: VERSION_LINE })

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // Ctrl-C: 130, as shells report SIGINT; a flag @effect/cli refused: a usage error.
    teardown: commandLineTeardown
  })
)
