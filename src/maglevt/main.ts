#!/usr/bin/env node
/**
 * maglevt: probes every frontend's VIP of one or more maglev.yaml files from
 * outside, as clients reach it, without maglevd: a live full-screen view on a
 * terminal, plain lines otherwise (docs/maglevt.1).
 */
import { HelpDoc, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Duration, Effect, Either, Option } from "effect"
import * as os from "node:os"
import { checkConfigFile, formatCheckResult, formatDuration, parseDuration } from "../config/index.js"
import * as CommandLine from "../internal/CommandLine.js"
import { commandLineTeardown, ExitStatus } from "../internal/ExitStatus.js"
import { VERSION, VERSION_LINE } from "../Version.js"
import * as Run from "./Run.js"
import { type LoadedConfig, targets } from "./Targets.js"

const DEFAULT_CONFIG = "/etc/vpp-maglev/maglev.yaml"

const duration = (name: string, env: string, fallback: string, description: string) =>
  CommandLine.flag(
    { name, value: "DURATION", description, default: fallback, env },
    Options.text(name).pipe(
      Options.withFallbackConfig(Config.string(env)),
      Options.withDefault(fallback),
      Options.mapTryCatch(
        (text) => Either.getOrThrowWith(parseDuration(text), (reason) => `--${name} ${JSON.stringify(text)}: ${reason}`),
        (e) => HelpDoc.p(String(e))
      ),
      Options.mapTryCatch(
        (d) => {
          if (Duration.lessThanOrEqualTo(d, Duration.zero)) throw `--${name} must be more than 0`
          return d
        },
        (e) => HelpDoc.p(String(e))
      )
    )
  )

const flags = {
  configs: CommandLine.flag(
    { name: "config", value: "FILE", description: "a maglev.yaml to read; repeat it for several", default: DEFAULT_CONFIG, env: "MAGLEV_CONFIG", repeated: true },
    Options.text("config").pipe(Options.repeated)
  ),
  interval: duration("interval", "MAGLEVT_INTERVAL", "100ms", "time between two probes of a VIP, ±10 % at random (Go syntax: 100ms, 1s)"),
  timeout: duration("timeout", "MAGLEVT_TIMEOUT", "1s", "how long a probe may take: connection and whole response"),
  host: CommandLine.flag(
    { name: "host", value: "NAME", description: "Host header of the requests, and TLS server name when a DNS name", default: "the VIP's address:port", env: "MAGLEVT_HOST" },
    Options.text("host").pipe(
      Options.withFallbackConfig(Config.string("MAGLEVT_HOST")),
      Options.optional,
      Options.mapTryCatch(
        Option.map((text) => {
          // What Node's HTTP client accepts in a header value: no control characters, latin1.
          if (text === "" || !/^[\x20-\x7e\x80-\xff]+$/.test(text)) throw `--host ${JSON.stringify(text)}: not a Host header value`
          return text
        }),
        (e) => HelpDoc.p(String(e))
      )
    )
  ),
  uri: CommandLine.flag(
    { name: "uri", value: "PATH", description: "path (and query) of the HTTP requests", default: "/.well-known/ipng/healthz", env: "MAGLEVT_URI" },
    Options.text("uri").pipe(
      Options.withFallbackConfig(Config.string("MAGLEVT_URI")),
      Options.withDefault("/.well-known/ipng/healthz"),
      Options.mapTryCatch(
        (text) => {
          if (!/^\/[\x21-\x7e]*$/.test(text)) throw `--uri ${JSON.stringify(text)}: a path starting with / without spaces`
          return text
        },
        (e) => HelpDoc.p(String(e))
      )
    )
  ),
  header: CommandLine.flag(
    { name: "header", value: "NAME", description: "response header that names the backend; its values are tallied", default: "X-Served-By", env: "MAGLEVT_HEADER" },
    Options.text("header").pipe(Options.withFallbackConfig(Config.string("MAGLEVT_HEADER")), Options.withDefault("X-Served-By"))
  ),
  insecure: CommandLine.boolean({ name: "insecure", description: "HTTPS: do not verify the VIP's certificate", env: "MAGLEVT_INSECURE" }),
  keepalive: CommandLine.boolean({
    name: "keepalive",
    description: "reuse one connection per VIP (else each probe is new, hashed afresh)",
    env: "MAGLEVT_KEEPALIVE"
  }),
  filter: CommandLine.flag(
    { name: "filter", value: "REGEX", description: "probe only frontends whose name or address:port matches this JS regex", default: "all", env: "MAGLEVT_FILTER" },
    Options.text("filter").pipe(
      Options.withFallbackConfig(Config.string("MAGLEVT_FILTER")),
      Options.optional,
      Options.mapTryCatch(
        Option.map((text) => new RegExp(text)),
        (e) => HelpDoc.p(`--filter: not a regular expression: ${e instanceof Error ? e.message : String(e)}`)
      )
    )
  )
}

type Flags = CommandLine.FlagValues<typeof flags>

const program: CommandLine.Program<Flags> = {
  name: "maglevt",
  version: VERSION_LINE,
  summary: "probes every frontend's VIP from outside, as clients reach it",
  flags,
  notes: [
    "A live full-screen view on a terminal (colour unless NO_COLOR is set), plain lines otherwise.",
    "Exit status: 0 stopped; 1 a configuration cannot be read or has no frontend to probe; 2 a bad command line; 130 Ctrl-C.",
    "See maglevt(1)."
  ]
}

/** On a terminal, unless NO_COLOR is set (and not empty). */
const colorWanted = Config.option(Config.string("NO_COLOR")).pipe(
  Config.map((noColor) => Option.getOrElse(noColor, () => "") === "")
)
const envConfig = Config.option(Config.string("MAGLEV_CONFIG"))

const fail = (text: string) => Effect.sync(() => void process.stderr.write(text.endsWith("\n") ? text : text + "\n"))

/** Every file read and valid, or the exit status after saying why not. */
const loadAll = (files: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const loaded: Array<LoadedConfig> = []
    for (const file of files) {
      const result = yield* Effect.either(checkConfigFile(file))
      if (Either.isLeft(result)) {
        yield* fail(`maglevt: ${result.left.message}`)
        return undefined
      }
      if (result.right._tag !== "Valid") {
        yield* fail(formatCheckResult(result.right, file))
        return undefined
      }
      loaded.push({ file, config: result.right.config })
    }
    return loaded
  })

const main = (o: Flags) =>
  Effect.gen(function*() {
    const fromEnv = yield* envConfig
    const files = o.configs.length > 0 ? o.configs : [Option.getOrElse(fromEnv, () => DEFAULT_CONFIG)]
    const loaded = yield* loadAll(files)
    if (loaded === undefined) return new ExitStatus(1)
    const found = targets(loaded, Option.getOrUndefined(o.filter))
    const terminal = process.stdout.isTTY === true
    for (const s of found.skipped) yield* fail(`maglevt: ${s.file}: frontend ${s.name} not probed: ${s.reason}`)
    if (found.targets.length === 0) {
      yield* fail(`maglevt: no frontend to probe in ${files.join(", ")}${Option.isSome(o.filter) ? ` matching --filter ${o.filter.value.source}` : ""}`)
      return new ExitStatus(1)
    }
    const n = found.targets.length
    const options: Run.RunOptions = {
      targets: found.targets,
      interval: o.interval,
      probe: { timeout: o.timeout, uri: o.uri, host: Option.getOrUndefined(o.host), header: o.header, insecure: o.insecure, keepalive: o.keepalive },
      color: terminal && (yield* colorWanted),
      title: `maglevt ${VERSION} on ${os.hostname()} · ${n} VIP${n === 1 ? "" : "s"} every ${formatDuration(o.interval)} ±10% · ` +
        `timeout ${formatDuration(o.timeout)} · keep-alive ${o.keepalive ? "on" : "off"}`
    }
    yield* terminal ? Run.screen(options) : Run.plain(options)
    return new ExitStatus(0)
  }).pipe(Effect.scoped)

CommandLine.run(program, main).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // Ctrl-C in plain mode: 130, as shells report SIGINT; a flag @effect/cli refused: a usage error.
    teardown: commandLineTeardown
  })
)
