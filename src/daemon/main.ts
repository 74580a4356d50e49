#!/usr/bin/env node
/**
 * maglevd: the vpp-maglev daemon.
 *
 * It checks a configuration (`--check`), or runs the daemon's services
 * (Daemon.ts: health checker, VPP supervisor, LB sync), logging to stdout
 * (internal/Log.ts: JSON lines, or text on a terminal).
 * SIGHUP reloads the file (all or nothing: an invalid file is refused and the
 * running configuration stays). The RPC API comes with the API server.
 */
// First: V8 heap settings, before the rest of the program allocates.
import "./HeapTuning.js"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import {
  checkConfigFile,
  ConfigFileError,
  DEFAULT_MAX_BYTES,
  exitCode,
  formatCheckResult,
  loadConfig
} from "../config/index.js"
import * as ApiServer from "../api/Server.js"
import * as Control from "../api/Control.js"
import * as LogHub from "../api/LogHub.js"
import * as FrontendState from "../health/FrontendState.js"
import * as Prober from "../health/Prober.js"
import * as MetricsServer from "../metrics/Server.js"
import * as CommandLine from "../internal/CommandLine.js"
import { ExitStatus, teardown } from "../internal/ExitStatus.js"
import * as Log from "../internal/Log.js"
import { startMemoryLog } from "../internal/MemoryLog.js"
import * as Version from "../Version.js"
import * as Daemon from "./Daemon.js"
import * as Malloc from "./Malloc.js"
import * as SchedSlice from "./SchedSlice.js"
import * as TestHooks from "./TestHooks.js"
import { onSignal, trackStopSignal } from "./Signals.js"

const DEFAULT_CONFIG = "/etc/vpp-maglev/maglev.yaml"

const flags = {
  config: CommandLine.text({ name: "config", value: "FILE", description: "configuration file", env: "MAGLEV_CONFIG", default: DEFAULT_CONFIG }),
  configMaxBytes: CommandLine.integer({
    name: "config-max-bytes",
    value: "N",
    description: "largest configuration file read, in bytes; a bigger one is refused",
    env: "MAGLEV_CONFIG_MAX_BYTES",
    default: DEFAULT_MAX_BYTES,
    shown: `${DEFAULT_MAX_BYTES} (4 MiB)`
  }),
  check: CommandLine.boolean({
    name: "check",
    description: "check the configuration and exit (0 valid, 1 YAML/structure, 2 semantic)"
  }),
  vppApiAddr: CommandLine.text({
    name: "vpp-api-addr",
    value: "PATH",
    description: "VPP's binary-API socket; \"\" runs without VPP (health checks only)",
    env: "MAGLEV_VPP_API_ADDR",
    default: "/run/vpp/api.sock"
  }),
  vppStatsAddr: CommandLine.text({
    name: "vpp-stats-addr",
    value: "PATH",
    description: "VPP's stats socket",
    env: "MAGLEV_VPP_STATS_ADDR",
    default: "/run/vpp/stats.sock"
  }),
  rpcAddr: CommandLine.text({
    name: "rpc-addr",
    value: "ADDR",
    description: "RPC API (maglevc) listen address, host:port or [v6]:port; \"\" disables it",
    env: "MAGLEV_RPC_ADDR",
    default: "127.0.0.1:9090"
  }),
  rpcTokenFile: CommandLine.text({
    name: "rpc-token-file",
    value: "FILE",
    description: "file holding the bearer token every mutating RPC must carry",
    env: "MAGLEV_RPC_TOKEN_FILE",
    default: ""
  }),
  rpcTokenReadonly: CommandLine.boolean({
    name: "rpc-token-readonly",
    description: "with --rpc-token-file: read-only RPCs need the token too",
    env: "MAGLEV_RPC_TOKEN_READONLY"
  }),
  rpcMaxWatchers: CommandLine.integer({
    name: "rpc-max-watchers",
    value: "N",
    description: "WatchEvents streams open at once at most; the next is refused with Busy",
    env: "MAGLEV_RPC_MAX_WATCHERS",
    default: ApiServer.DEFAULT_MAX_WATCHERS
  }),
  rpcMaxDebugWatchers: CommandLine.integer({
    name: "rpc-max-debug-watchers",
    value: "N",
    description: "of those, at debug level at most",
    env: "MAGLEV_RPC_MAX_DEBUG_WATCHERS",
    default: ApiServer.DEFAULT_MAX_DEBUG_WATCHERS
  }),
  metricsAddr: CommandLine.text({
    name: "metrics-addr",
    value: "ADDR",
    description: "Prometheus /metrics listen address, host:port or [v6]:port; \"\" disables it",
    env: "MAGLEV_METRICS_ADDR",
    default: "127.0.0.1:9091"
  }),
  probeThreads: CommandLine.text({
    name: "probe-threads",
    value: "N|auto",
    description: `HTTP/TCP probe threads; auto: 0 below ${Prober.AUTO_THREADS_FROM} backends, else CPUs (≤ ${Prober.AUTO_THREADS_MAX})`,
    env: "MAGLEV_PROBE_THREADS",
    default: "auto"
  }),
  schedSlice: CommandLine.text({
    name: "sched-slice",
    value: "DURATION|off",
    description: "kernel time slice for maglevd's threads, 100us-100ms (Linux 6.12+)",
    env: "MAGLEV_SCHED_SLICE",
    default: SchedSlice.DEFAULT
  }),
  logLevel: CommandLine.logLevelFlag("MAGLEV_LOG_LEVEL"),
  logFormat: CommandLine.logFormatFlag("MAGLEV_LOG_FORMAT")
}

type Flags = CommandLine.FlagValues<typeof flags>

const program: CommandLine.Program<Flags> = {
  name: "maglevd",
  version: Version.VERSION_LINE,
  summary: "health checks backends and programs VPP's lb (Maglev) plugin",
  flags,
  notes: [
    "Signals: SIGHUP reloads the configuration (all or nothing); SIGTERM and SIGINT stop the daemon (VPP is left as it is).",
    "Exit status: 0 stopped by a signal, or --check found the file valid; 1 cannot start, or a YAML or structural error; 2 a semantic error, or a bad command line.",
    "See maglevd(8), maglevc(1) and docs/user-guide.md."
  ]
}

const runCheck = (file: string, maxBytes: number) =>
  checkConfigFile(file, { maxBytes }).pipe(
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

/**
 * SIGHUP reloads through `Control`, under the same lock as the API's reload and
 * weight overrides (it logs the outcome). A burst coalesces: one reload runs,
 * at most one more waits (Signals.onSignal).
 */
const reloadOnHangup = Effect.gen(function*() {
  const control = yield* Control.Control
  const reload = Effect.logInfo("configuration reload started").pipe(
    Effect.annotateLogs({ event: "config-reload-started", file: control.configFile, trigger: "sighup" }),
    Effect.zipRight(control.reloadFile("sighup")),
    // reloadFile logs a refused file itself; anything else must not end SIGHUP handling.
    Effect.catchAllCause((cause) =>
      Effect.logError("configuration reload failed; the running configuration stays").pipe(
        Effect.annotateLogs({ event: "config-reload-failed", file: control.configFile, trigger: "sighup", error: Cause.pretty(cause) })
      )
    )
  )
  // A SIGHUP that came while the daemon was starting: the file may have changed after it was read.
  return yield* onSignal("SIGHUP", reload, { pending: () => earlyHangup })
})

/**
 * SIGHUP before the daemon is up must not kill it (Node's default for a signal
 * without a handler): it is remembered, and reloadOnHangup reloads once ready.
 */
let earlyHangup = false
const onEarlyHangup = () => {
  earlyHangup = true
}
process.on("SIGHUP", onEarlyHangup)

/** Which signal stops the daemon, for `stopping` and `stopped`; set before runMain installs its own handler. */
const stopReason = trackStopSignal()

const logStopping = Effect.suspend(() =>
  Effect.logInfo("stopping").pipe(Effect.annotateLogs({ event: "stopping", reason: stopReason() }))
)

const logStopped = Effect.suspend(() =>
  Effect.logInfo("stopped").pipe(Effect.annotateLogs({ event: "stopped", reason: stopReason() }))
)

/** The first line of what went wrong, with the system error code when there is one (EADDRINUSE, ...). */
const startError = (cause: Cause.Cause<unknown>): string => {
  for (const e of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    const inner = (e as { cause?: unknown }).cause as NodeJS.ErrnoException | undefined
    if (inner?.code !== undefined) return `${(e as { _tag?: string })._tag ?? "error"}: ${inner.code}: ${inner.message}`
  }
  return Cause.pretty(cause).split("\n")[0] ?? "cannot start"
}

/** A start-up problem, reported as `start-failed` with an exit status. */
class StartFailed {
  constructor(readonly error: string, readonly code: number) {}
}

interface DaemonOptions {
  readonly file: string
  readonly configMaxBytes: number
  readonly vpp: { readonly apiSocket: string; readonly statsSocket: string }
  readonly rpcAddr: string
  readonly rpcTokenFile: string
  readonly rpcTokenReadonly: boolean
  readonly rpcMaxWatchers: number
  readonly rpcMaxDebugWatchers: number
  readonly metricsAddr: string
  readonly probeThreads: string
  readonly schedSlice: string
}

/** A listen address flag: host:port or [v6]:port. */
const listenAddress = (flag: string, text: string) =>
  Effect.fromNullable(ApiServer.parseListenAddress(text)).pipe(
    Effect.mapError(() => new StartFailed(`--${flag} ${JSON.stringify(text)}: expected host:port or [v6]:port`, 1))
  )

const rpcLayer = (o: DaemonOptions) =>
  Effect.gen(function*() {
    if (o.rpcAddr === "") return Layer.empty
    const listen = yield* listenAddress("rpc-addr", o.rpcAddr)
    let token: string | undefined
    if (o.rpcTokenFile !== "") {
      const file = o.rpcTokenFile
      token = yield* Effect.try({
        try: () => fs.readFileSync(file, "utf8").trim(),
        catch: (e) => new StartFailed(`--rpc-token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 1)
      })
      if (token === "") return yield* Effect.fail(new StartFailed(`--rpc-token-file ${file}: the file is empty`, 1))
    }
    if (o.rpcMaxWatchers < 1) return yield* Effect.fail(new StartFailed(`--rpc-max-watchers ${o.rpcMaxWatchers}: at least 1`, 1))
    if (o.rpcMaxDebugWatchers < 0) {
      return yield* Effect.fail(new StartFailed(`--rpc-max-debug-watchers ${o.rpcMaxDebugWatchers}: at least 0`, 1))
    }
    return ApiServer.layer({
      ...listen,
      token,
      readonlyToo: o.rpcTokenReadonly,
      maxWatchers: o.rpcMaxWatchers,
      maxDebugWatchers: o.rpcMaxDebugWatchers
    }).pipe(Layer.discard)
  })

const metricsLayer = (o: DaemonOptions) =>
  o.metricsAddr === ""
    ? Effect.succeed(Layer.empty)
    : Effect.map(listenAddress("metrics-addr", o.metricsAddr), (listen) => MetricsServer.layer(listen).pipe(Layer.discard))

/** `sched-slice`: what the kernel gave maglevd's threads, or why it gave nothing (info both: nothing for an operator to do). */
const logSchedSlice = (asked: number, outcome: SchedSlice.Outcome) => {
  switch (outcome._tag) {
    case "Off":
      return Effect.logInfo("the kernel's base time slice for maglevd's threads").pipe(
        Effect.annotateLogs({ event: "sched-slice", slice_us: null })
      )
    case "Applied":
      return Effect.logInfo("time slice asked of the kernel for maglevd's threads").pipe(
        Effect.annotateLogs({ event: "sched-slice", slice_us: outcome.sliceNs / 1000 })
      )
    case "Unsupported":
      return Effect.logInfo("no time slice of maglevd's own: the kernel's base slice stays").pipe(
        Effect.annotateLogs({ event: "sched-slice-unsupported", slice_us: asked / 1000, reason: outcome.reason })
      )
  }
}

const runDaemon = (o: DaemonOptions) =>
  Effect.gen(function*() {
    // From a checkout, git answers off the event loop (Version.ts).
    const build = yield* Version.build
    yield* Effect.logInfo("starting").pipe(
      Effect.annotateLogs({
        event: "starting",
        version: build.version,
        commit: build.commit,
        date: build.date,
        config: o.file,
        vpp_api: o.vpp.apiSocket,
        vpp_stats: o.vpp.statsSocket,
        rpc: o.rpcAddr,
        metrics: o.metricsAddr
      })
    )
    // Before any thread is started: the probe threads and the scrape worker inherit the main thread's slice.
    const slice = SchedSlice.parse(o.schedSlice)
    if (typeof slice === "string") return yield* Effect.fail(new StartFailed(`--sched-slice ${JSON.stringify(o.schedSlice)}: ${slice}`, 1))
    yield* logSchedSlice(slice, SchedSlice.apply(slice))
    // VPP_MAGLEV_MEMORY_LOG: a diagnostic of the heaps and malloc, off unless asked for (internal/MemoryLog.ts).
    yield* Effect.sync(() => startMemoryLog("main", Malloc.memoryFigures))
    // Plain YAML here (quick: a worker's start cost more), anything else on a worker thread when big: a SIGTERM during a
    // long start-up check is still acted on at once.
    const cfg = yield* loadConfig(o.file, { maxBytes: o.configMaxBytes, offThread: "unless-plain" }).pipe(
      Effect.mapError((e) =>
        e instanceof ConfigFileError
          ? new StartFailed(`${e.path}: ${e.reason}`, 1)
          : new StartFailed(formatCheckResult(e.result, o.file), exitCode(e.result))
      )
    )
    const threads = Prober.parseThreads(o.probeThreads, cfg.backends.size)
    if (threads === undefined) {
      return yield* Effect.fail(new StartFailed(`--probe-threads ${JSON.stringify(o.probeThreads)}: expected auto or 0..${Prober.MAX_THREADS}`, 1))
    }
    const rpc = yield* rpcLayer(o)
    const metrics = yield* metricsLayer(o)
    // FrontendState: the frontend-transition log lines.
    const services = Layer.mergeAll(rpc, metrics, TestHooks.layer, FrontendState.layer).pipe(
      Layer.provideMerge(Control.layer({ configFile: o.file, configMaxBytes: o.configMaxBytes })),
      Layer.provideMerge(Daemon.layer(cfg, o.vpp).pipe(Layer.provide(Prober.layerWith({ threads }))))
    )
    // Until interrupted (SIGTERM, SIGINT): then a reload in progress is abandoned at once (its worker
    // thread terminated), `stopping` is logged, and the services close (VPP is left as it is).
    return yield* Effect.all([reloadOnHangup, Effect.onInterrupt(Effect.never, () => logStopping)], {
      concurrency: "unbounded",
      discard: true
    }).pipe(
      Effect.scoped,
      Effect.provide(services),
      // A layer that cannot be built (the RPC port is taken, ...) is a start failure, not a crash.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.interrupt
          : Effect.fail(new StartFailed(startError(cause), 1))
      )
    )
  }).pipe(
    Effect.scoped,
    Effect.catchAll((e) =>
      Effect.logError("cannot start").pipe(
        Effect.annotateLogs({ event: "start-failed", error: e.error }),
        Effect.as(new ExitStatus(e.code))
      )
    ),
    Effect.onInterrupt(() => logStopped)
  )

const main = (o: Flags) => {
  const level = Log.LEVELS[o.logLevel]
  const stdout = Logger.replace(Logger.defaultLogger, Log.make({ level, format: o.logFormat }))
  return o.check
    ? runCheck(o.config, o.configMaxBytes).pipe(Effect.provide(stdout))
    : runDaemon({
      file: o.config,
      configMaxBytes: o.configMaxBytes,
      vpp: { apiSocket: o.vppApiAddr, statsSocket: o.vppStatsAddr },
      rpcAddr: o.rpcAddr,
      rpcTokenFile: o.rpcTokenFile,
      rpcTokenReadonly: o.rpcTokenReadonly,
      rpcMaxWatchers: o.rpcMaxWatchers,
      rpcMaxDebugWatchers: o.rpcMaxDebugWatchers,
      metricsAddr: o.metricsAddr,
      probeThreads: o.probeThreads,
      schedSlice: o.schedSlice
    }).pipe(
      // The daemon's fibers log from debug up, so that WatchEvents subscribers (LogHub) get records at
      // their own level whatever --log-level says; the stdout logger filters for stdout.
      Logger.withMinimumLogLevel(LogLevel.Debug),
      // No tracer is exported: the tracer logger would only add every record to its fiber's span,
      // and the spans of the services' constructors live as long as the fibers they forked.
      Effect.provide(Layer.mergeAll(stdout, LogHub.layerInstalled({ printed: level }), Logger.remove(Logger.tracerLogger)))
    )
}

CommandLine.run(program, main).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // SIGTERM interrupts the daemon: a clean exit.
    teardown: teardown((cause) => (Cause.isInterruptedOnly(cause) ? 0 : 1))
  })
)
