/**
 * vppsim: the VPP simulator as a standalone program.
 *
 *   vppsim --api-socket PATH --stats-socket PATH [--workers N] [--pid N] [--max-buffered-bytes N] [--traffic RATE] [--log-level LEVEL]
 *
 * Serves both sockets until SIGTERM or SIGINT, then closes them (removing the
 * socket files) and exits 0. Logs are JSON lines on stdout.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger, LogLevel, Option } from "effect"
import * as ApiServer from "./ApiServer.js"
import * as Simulator from "./Simulator.js"

const apiSocket = Options.text("api-socket").pipe(
  Options.withDefault("/run/vpp/api.sock"),
  Options.withDescription("binary-API socket path (VPP's socksvr socket-name)")
)
const statsSocket = Options.text("stats-socket").pipe(
  Options.withDefault("/run/vpp/stats.sock"),
  Options.withDescription("stats socket path; empty for none")
)
const workers = Options.integer("workers").pipe(
  Options.withDefault(0),
  Options.withDescription("worker threads: the stats counters get one row per thread (1 + workers)")
)
const pid = Options.integer("pid").pipe(
  Options.optional,
  Options.withDescription("process id that control_ping_reply reports (default: this process's)")
)
const maxBufferedBytes = Options.integer("max-buffered-bytes").pipe(
  Options.withDefault(ApiServer.DEFAULT_MAX_BUFFERED_BYTES),
  Options.withDescription("bytes all API connections may buffer together; past it the connection holding the most is closed")
)
const traffic = Options.integer("traffic").pipe(
  Options.withDefault(0),
  Options.withDescription("synthetic traffic: packets per second over all VIPs, through the lb plugin's flow model (0: none)")
)
const logLevel = Options.choice("log-level", ["debug", "info", "warn", "error"]).pipe(Options.withDefault("info" as const))

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const

const vppsim = Command.make("vppsim", { apiSocket, statsSocket, workers, pid, maxBufferedBytes, traffic, logLevel }, (o) =>
  Effect.gen(function*() {
    if (o.workers < 0) return yield* Effect.fail(new Error(`--workers must be 0 or more, got ${o.workers}`))
    if (o.traffic < 0) return yield* Effect.fail(new Error(`--traffic must be 0 or more, got ${o.traffic}`))
    if (o.maxBufferedBytes < 1) {
      return yield* Effect.fail(new Error(`--max-buffered-bytes must be 1 or more, got ${o.maxBufferedBytes}`))
    }
    const sim = yield* Simulator.make({
      apiSocket: o.apiSocket,
      ...(o.statsSocket !== "" ? { statsSocket: o.statsSocket } : {}),
      workers: o.workers,
      maxBufferedBytes: o.maxBufferedBytes,
      traffic: o.traffic,
      ...(Option.isSome(o.pid) ? { pid: o.pid.value } : {})
    })
    yield* Effect.logInfo("vppsim-ready").pipe(
      Effect.annotateLogs({
        event: "vppsim-ready",
        api_socket: sim.api.path,
        stats_socket: sim.stats?.socketPath ?? "",
        messages: sim.api.table.length
      })
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(levels[o.logLevel])))

const cli = Command.run(vppsim, { name: "vppsim", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, Logger.json)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
