/**
 * maglevd: the vpp-maglev daemon.
 *
 * It checks a configuration (`--check`), or runs the daemon's services
 * (Daemon.ts: health checker, VPP supervisor, LB sync) with JSON-line logs.
 * SIGHUP reloads the file (all or nothing: an invalid file is refused and the
 * running configuration stays). The RPC API comes with the API server.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Config as EffectConfig, Effect, Exit, Layer, Logger, LogLevel, Stream } from "effect"
import { checkConfigFile, ConfigError, ConfigFileError, exitCode, formatCheckResult, loadConfig } from "../config/index.js"
import * as Prober from "../health/Prober.js"
import { VERSION } from "../Version.js"
import * as Daemon from "./Daemon.js"
import { signals } from "./Signals.js"

const DEFAULT_CONFIG = "/etc/vpp-maglev/maglev.yaml"

const config = Options.text("config").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_CONFIG")),
  Options.withDefault(DEFAULT_CONFIG),
  Options.withDescription(`configuration file (env MAGLEV_CONFIG; default ${DEFAULT_CONFIG})`)
)
const check = Options.boolean("check").pipe(
  Options.withDescription("check the configuration, print the result and exit: 0 valid, 1 YAML/structural error, 2 semantic error")
)
const DEFAULT_VPP_API = "/run/vpp/api.sock"
const DEFAULT_VPP_STATS = "/run/vpp/stats.sock"
const vppApiAddr = Options.text("vpp-api-addr").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_VPP_API_ADDR")),
  Options.withDefault(DEFAULT_VPP_API),
  Options.withDescription(`VPP's binary-API socket; "" disables VPP programming (env MAGLEV_VPP_API_ADDR; default ${DEFAULT_VPP_API})`)
)
const vppStatsAddr = Options.text("vpp-stats-addr").pipe(
  Options.withFallbackConfig(EffectConfig.string("MAGLEV_VPP_STATS_ADDR")),
  Options.withDefault(DEFAULT_VPP_STATS),
  Options.withDescription(`VPP's stats socket (env MAGLEV_VPP_STATS_ADDR; default ${DEFAULT_VPP_STATS})`)
)
const logLevel = Options.choice("log-level", ["debug", "info", "warn", "error"]).pipe(
  Options.withFallbackConfig(EffectConfig.literal("debug", "info", "warn", "error")("MAGLEV_LOG_LEVEL")),
  Options.withDefault("info" as const),
  Options.withDescription("minimum level of the JSON log lines on stdout (env MAGLEV_LOG_LEVEL)")
)

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const

/** The process exit status a run asks for (the default teardown knows only 0 and 1). */
class ExitStatus {
  constructor(readonly code: number) {}
}

const runCheck = (file: string) =>
  checkConfigFile(file).pipe(
    Effect.map((result) => {
      const text = formatCheckResult(result, file)
      process.stdout.write(text.endsWith("\n") ? text : text + "\n")
      return new ExitStatus(exitCode(result))
    }),
    Effect.catchTag("ConfigFileError", (e) =>
      Effect.sync(() => {
        process.stderr.write(`${file}: cannot read the configuration: ${e.reason}\n`)
        return new ExitStatus(1)
      }))
  )

const reloadOnHangup = (file: string) =>
  signals("SIGHUP").pipe(
    Stream.runForEach(() =>
      loadConfig(file).pipe(
        Effect.flatMap(Daemon.reload),
        Effect.tap(() => Effect.logInfo("configuration reloaded").pipe(Effect.annotateLogs({ event: "config-reload", file }))),
        Effect.catchAll((e) =>
          Effect.logError("configuration reload refused; the running configuration stays").pipe(
            Effect.annotateLogs({
              event: "config-reload-failed",
              file,
              error: e instanceof ConfigError ? formatCheckResult(e.result, file) : e.reason
            })
          ))
      ))
  )

const runDaemon = (file: string, vpp: { readonly apiSocket: string; readonly statsSocket: string }) =>
  Effect.gen(function*() {
    yield* Effect.logInfo("starting").pipe(
      Effect.annotateLogs({ event: "starting", version: VERSION, config: file, vpp_api: vpp.apiSocket, vpp_stats: vpp.statsSocket })
    )
    const cfg = yield* loadConfig(file)
    return yield* Effect.forkScoped(reloadOnHangup(file)).pipe(
      Effect.zipRight(Effect.never),
      Effect.provide(Daemon.layer(cfg, vpp).pipe(Layer.provide(Prober.layer)))
    )
  }).pipe(
    Effect.scoped,
    Effect.catchAll((e) =>
      Effect.logError("cannot start").pipe(
        Effect.annotateLogs({
          event: "start-failed",
          error: e instanceof ConfigFileError ? `${e.path}: ${e.reason}` : formatCheckResult(e.result, file)
        }),
        Effect.as(new ExitStatus(e instanceof ConfigError ? exitCode(e.result) : 1))
      ))
  )

const maglevd = Command.make("maglevd", { config, check, logLevel, vppApiAddr, vppStatsAddr }, (o) =>
  (o.check ? runCheck(o.config) : runDaemon(o.config, { apiSocket: o.vppApiAddr, statsSocket: o.vppStatsAddr })).pipe(Logger.withMinimumLogLevel(levels[o.logLevel])))

const cli = Command.run(maglevd, { name: "maglevd", version: VERSION })

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, Logger.json)),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit) && exit.value instanceof ExitStatus) onExit(exit.value.code)
      else onExit(Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0)
    }
  })
)
