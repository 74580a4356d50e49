#!/usr/bin/env node
/**
 * maglevd-frontend: the web dashboard for one or many maglevds (docs/dashboard.md).
 *
 *   maglevd-frontend --server http://lb1:9090,http://lb2:9090 [--listen 127.0.0.1:9092]
 *                    [--token-file F] [--admin-user U --admin-password-file F]
 *                    [--log-level LEVEL] [--log-format json|text]
 *
 * Log lines on stdout (internal/Log.ts: JSON, or text on a terminal); SIGTERM/SIGINT stop it.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import { parseListenAddress } from "../api/Server.js"
import * as CommandLine from "../internal/CommandLine.js"
import { ExitStatus, teardown } from "../internal/ExitStatus.js"
import * as Log from "../internal/Log.js"
import { VERSION_LINE } from "../Version.js"
import * as Frontend from "./Frontend.js"

const NAME = "maglevd-frontend"

const flags = {
  server: CommandLine.text({
    name: "server",
    value: "URL[,URL...]",
    description: "maglevd RPC URLs, comma-separated, e.g. http://lb1:9090,http://lb2:9090",
    env: "MAGLEV_FRONTEND_SERVER",
    default: "",
    shown: "none (required)"
  }),
  listen: CommandLine.text({
    name: "listen",
    value: "ADDR",
    description: "listen address of the dashboard, host:port or [v6]:port; port 0 picks one",
    env: "MAGLEV_FRONTEND_LISTEN",
    default: `${Frontend.DEFAULT_HOST}:${Frontend.DEFAULT_PORT}`
  }),
  tokenFile: CommandLine.text({
    name: "token-file",
    value: "FILE",
    description: "file of the maglevds' bearer token, sent to them and accepted on /admin/",
    env: "MAGLEV_FRONTEND_TOKEN_FILE",
    default: ""
  }),
  adminUser: CommandLine.text({
    name: "admin-user",
    value: "USER",
    description: "user name for /admin/ (HTTP basic auth), with --admin-password-file",
    env: "MAGLEV_FRONTEND_ADMIN_USER",
    default: ""
  }),
  adminPasswordFile: CommandLine.text({
    name: "admin-password-file",
    value: "FILE",
    description: "file holding the /admin/ password (surrounding whitespace trimmed)",
    env: "MAGLEV_FRONTEND_ADMIN_PASSWORD_FILE",
    default: ""
  }),
  logLevel: CommandLine.logLevelFlag("MAGLEV_FRONTEND_LOG_LEVEL"),
  logFormat: CommandLine.logFormatFlag("MAGLEV_FRONTEND_LOG_FORMAT")
}

type Flags = CommandLine.FlagValues<typeof flags>

const program: CommandLine.Program<Flags> = {
  name: NAME,
  version: VERSION_LINE,
  summary: "web dashboard for one or many maglevds",
  flags,
  notes: [
    "Environment: MAGLEV_FRONTEND_ASSETS, the directory of the browser app (default: web/ beside the program, else the nearest web/dist above it).",
    "Exit status: 0 stopped by SIGTERM or SIGINT; 1 cannot start (a file, an address or a URL, the port taken: a start-failed log line says which); 2 a bad command line.",
    "See maglevd-frontend(8), maglevd(8) and docs/dashboard.md."
  ]
}

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

const main = (o: Flags) =>
  o.server.trim() === ""
    ? CommandLine.usageFailure(NAME, "--server (or MAGLEV_FRONTEND_SERVER) is required: the maglevds' RPC URLs")
    : run(o).pipe(
      // No tracer is exported: the tracer logger would only add every record to its fiber's span.
      Effect.provide(Layer.mergeAll(
        Log.layer({ level: o.logLevel, format: o.logFormat }),
        Logger.minimumLogLevel(Log.LEVELS[o.logLevel]),
        Logger.remove(Logger.tracerLogger)
      ))
    )

CommandLine.run(program, main).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // SIGTERM, SIGINT: a clean stop, 0; a usage error: its ExitStatus.
    teardown: teardown((cause) => (Cause.isInterruptedOnly(cause) ? 0 : 1))
  })
)
