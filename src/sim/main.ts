/**
 * vppsim: the VPP simulator as a standalone program.
 *
 *   vppsim --api-socket PATH --stats-socket PATH [--workers N] [--pid N] [--max-buffered-bytes N] [--traffic RATE] [--data-plane]
 *          [--log-level LEVEL] [--log-format json|text]
 *
 * Serves both sockets until SIGTERM or SIGINT, then closes them (removing the
 * socket files) and exits 0. Logs go to stdout (internal/Log.ts).
 */
import { Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Logger, Option } from "effect"
import * as CommandLine from "../internal/CommandLine.js"
import { teardown } from "../internal/ExitStatus.js"
import * as Log from "../internal/Log.js"
import { VERSION_LINE } from "../Version.js"
import * as ApiServer from "./ApiServer.js"
import * as Simulator from "./Simulator.js"

const flags = {
  apiSocket: CommandLine.text({
    name: "api-socket",
    value: "PATH",
    description: "binary-API socket to serve (VPP's socksvr socket-name)",
    env: "VPPSIM_API_SOCKET",
    default: "/run/vpp/api.sock"
  }),
  statsSocket: CommandLine.text({
    name: "stats-socket",
    value: "PATH",
    description: "stats socket to serve; \"\" for none",
    env: "VPPSIM_STATS_SOCKET",
    default: "/run/vpp/stats.sock"
  }),
  workers: CommandLine.integer({
    name: "workers",
    value: "N",
    description: "worker threads: the stats counters get one row per thread (1 + N)",
    env: "VPPSIM_WORKERS",
    default: 0
  }),
  pid: CommandLine.flag(
    {
      name: "pid",
      value: "N",
      description: "process id that control_ping_reply reports",
      default: "this process's",
      env: "VPPSIM_PID",
      integer: true
    },
    Options.integer("pid").pipe(Options.withFallbackConfig(Config.integer("VPPSIM_PID")), Options.optional)
  ),
  maxBufferedBytes: CommandLine.integer({
    name: "max-buffered-bytes",
    value: "N",
    description: "bytes all API connections may buffer; past it the biggest one is closed",
    env: "VPPSIM_MAX_BUFFERED_BYTES",
    default: ApiServer.DEFAULT_MAX_BUFFERED_BYTES
  }),
  traffic: CommandLine.integer({
    name: "traffic",
    value: "RATE",
    description: "synthetic packets per second over all VIPs, through the lb flow model",
    env: "VPPSIM_TRAFFIC",
    default: 0
  }),
  dataPlane: CommandLine.boolean({
    name: "data-plane",
    description: "proxy TCP to local VIPs (127.0.0.10) to the AS the lb flow model picks",
    env: "VPPSIM_DATA_PLANE"
  }),
  logLevel: CommandLine.logLevelFlag("VPPSIM_LOG_LEVEL"),
  logFormat: CommandLine.logFormatFlag("VPPSIM_LOG_FORMAT")
}

const program: CommandLine.Program<CommandLine.FlagValues<typeof flags>> = {
  name: "vppsim",
  version: VERSION_LINE,
  summary: "a simulated VPP (binary API, stats, lb plugin) for tests and demos",
  flags,
  notes: ["Runs until SIGTERM or SIGINT, then removes its sockets and exits 0. Exit status 2: a bad command line."]
}

const main = (o: CommandLine.FlagValues<typeof flags>) =>
  Effect.gen(function*() {
    if (o.workers < 0) return yield* CommandLine.usageFailure("vppsim", `--workers ${o.workers}: 0 or more`)
    if (o.traffic < 0) return yield* CommandLine.usageFailure("vppsim", `--traffic ${o.traffic}: 0 or more`)
    if (o.maxBufferedBytes < 1) return yield* CommandLine.usageFailure("vppsim", `--max-buffered-bytes ${o.maxBufferedBytes}: 1 or more`)
    const sim = yield* Simulator.make({
      apiSocket: o.apiSocket,
      ...(o.statsSocket !== "" ? { statsSocket: o.statsSocket } : {}),
      workers: o.workers,
      maxBufferedBytes: o.maxBufferedBytes,
      traffic: o.traffic,
      dataPlane: o.dataPlane,
      // The mutation log is for in-process tests (Simulator.mutations); nothing reads it here.
      lb: { logLimit: 0 },
      ...(Option.isSome(o.pid) ? { pid: o.pid.value } : {})
    })
    yield* Effect.logInfo("simulator ready").pipe(
      Effect.annotateLogs({
        event: "vppsim-ready",
        api_socket: sim.api.path,
        stats_socket: sim.stats?.socketPath ?? "",
        messages: sim.api.table.length
      })
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Log.layer({ level: o.logLevel, format: o.logFormat })), Logger.withMinimumLogLevel(Log.LEVELS[o.logLevel]))

CommandLine.run(program, main).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // SIGTERM, SIGINT: a clean stop, 0; a usage error: its ExitStatus.
    teardown: teardown((cause) => (Cause.isInterruptedOnly(cause) ? 0 : 1))
  })
)
