#!/usr/bin/env node
/**
 * maglevd-frontend: the web dashboard for one or many maglevds (docs/dashboard.md).
 *
 *   maglevd-frontend --server http://lb1:9090,http://lb2:9090 [--listen 127.0.0.1:9092]
 *                    [--token-file F] [--admin-user U --admin-password-file F]
 *
 * JSON log lines on stdout; SIGTERM/SIGINT stop it.
 */
import { Command, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config as EffectConfig, Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import { parseListenAddress } from "../api/Server.js"
import { ExitStatus, teardown } from "../internal/ExitStatus.js"
import { VERSION_LINE } from "../Version.js"
import * as Frontend from "./Frontend.js"

const DEFAULT_LISTEN = `${Frontend.DEFAULT_HOST}:${Frontend.DEFAULT_PORT}`

const server = Options.text("server").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_FRONTEND_SERVER")),
  Options.withDescription("maglevd RPC URLs, comma-separated, e.g. http://lb1:9090,http://lb2:9090 (env MAGLEV_FRONTEND_SERVER)")
)
const listen = Options.text("listen").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_FRONTEND_LISTEN")),
  Options.withDefault(DEFAULT_LISTEN),
  Options.withDescription(`listen address of the dashboard, host:port or [v6]:port (env MAGLEV_FRONTEND_LISTEN; default ${DEFAULT_LISTEN})`)
)
const tokenFile = Options.text("token-file").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_FRONTEND_TOKEN_FILE")),
  Options.withDefault(""),
  Options.withDescription("file holding the maglevds' bearer token: sent to them, and accepted as Bearer on /admin/ (env MAGLEV_FRONTEND_TOKEN_FILE)")
)
const adminUser = Options.text("admin-user").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_FRONTEND_ADMIN_USER")),
  Options.withDefault(""),
  Options.withDescription("user name for /admin/ (HTTP basic auth; with --admin-password-file) (env MAGLEV_FRONTEND_ADMIN_USER)")
)
const adminPasswordFile = Options.text("admin-password-file").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_FRONTEND_ADMIN_PASSWORD_FILE")),
  Options.withDefault(""),
  Options.withDescription("file holding the /admin/ password (env MAGLEV_FRONTEND_ADMIN_PASSWORD_FILE)")
)
const logLevel = Options.choice("log-level", ["debug", "info", "warn", "error"]).pipe(
  Options.withFallbackConfig(EffectConfig.literal("debug", "info", "warn", "error")("MAGLEV_FRONTEND_LOG_LEVEL")),
  Options.withDefault("info" as const),
  Options.withDescription("minimum level of the JSON log lines on stdout (env MAGLEV_FRONTEND_LOG_LEVEL)")
)

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const

class StartFailed {
  readonly _tag = "StartFailed"
  constructor(readonly error: string) {}
}

/** What went wrong at start, with the system error code when there is one (`--listen 127.0.0.1:9092: EADDRINUSE`). */
const startError = (cause: Cause.Cause<unknown>, listen: string): string => {
  for (const e of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    const inner = (e as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined
    if (inner?.code !== undefined) return `--listen ${listen}: ${inner.code}: ${inner.message}`
  }
  return Cause.pretty(cause).split("\n")[0] ?? "cannot start"
}

/** A secret from a file (trimmed); "" for no file. */
const secretFile = (flag: string, file: string) =>
  file === ""
    ? Effect.succeed(undefined)
    : Effect.try({
      try: () => fs.readFileSync(file, "utf8").trim(),
      catch: (e) => new StartFailed(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`)
    }).pipe(Effect.filterOrFail((s) => s !== "", () => new StartFailed(`--${flag} ${file}: the file is empty`)))

/** Each `--server` entry as a URL (http:// added when missing). */
const parseServers = (text: string): ReadonlyArray<string> | StartFailed => {
  const list = text.split(",").map((s) => s.trim()).filter((s) => s !== "")
  if (list.length === 0) return new StartFailed(`--server ${JSON.stringify(text)}: no maglevd URL`)
  const out: Array<string> = []
  for (const item of list) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `http://${item}`
    try {
      const u = new URL(withScheme)
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http")
      out.push(withScheme)
    } catch {
      return new StartFailed(`--server: ${JSON.stringify(item)} is not an http(s) URL`)
    }
  }
  return out
}

const run = (o: {
  readonly server: string
  readonly listen: string
  readonly tokenFile: string
  readonly adminUser: string
  readonly adminPasswordFile: string
}) =>
  Effect.gen(function*() {
    const servers = parseServers(o.server)
    if (servers instanceof StartFailed) return yield* Effect.fail(servers)
    const address = parseListenAddress(o.listen)
    if (address === undefined) return yield* Effect.fail(new StartFailed(`--listen ${JSON.stringify(o.listen)}: expected host:port or [v6]:port`))
    const token = yield* secretFile("token-file", o.tokenFile)
    const adminPassword = yield* secretFile("admin-password-file", o.adminPasswordFile)
    if ((o.adminUser === "") !== (adminPassword === undefined)) {
      return yield* Effect.fail(new StartFailed("--admin-user and --admin-password-file go together"))
    }
    const layer = Frontend.layer({ servers, ...address, token, adminUser: o.adminUser, adminPassword })
    return yield* Effect.never.pipe(
      Effect.provide(layer),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.fail(new StartFailed(startError(cause, o.listen)))
      )
    )
  }).pipe(
    Effect.catchAll((e) =>
      Effect.logError("cannot start").pipe(Effect.annotateLogs({ event: "start-failed", error: e.error }), Effect.as(new ExitStatus(1)))
    ),
    Effect.onInterrupt(() => Effect.logInfo("stopped").pipe(Effect.annotateLogs({ event: "stopped" })))
  )

const command = Command.make(
  "maglevd-frontend",
  { server, listen, tokenFile, adminUser, adminPasswordFile, logLevel },
  (o) =>
    run(o).pipe(
      Effect.provide(Layer.mergeAll(
        Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(Logger.jsonLogger)),
        Logger.minimumLogLevel(levels[o.logLevel]),
        Logger.remove(Logger.tracerLogger)
      ))
    )
)

const cli = Command.run(command, { name: "maglevd-frontend", version: VERSION_LINE })

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    teardown: teardown((cause) => (Cause.isInterruptedOnly(cause) ? 0 : 1))
  })
)
