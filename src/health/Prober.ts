/**
 * The boundary between the health checker and the network: one call sends one
 * probe. The live implementation sends real packets (probes/Probe.ts); tests
 * and the simulation harness script results instead, under the TestClock.
 */
import { Clock, Context, Duration, Effect, Layer, Runtime } from "effect"
import * as os from "node:os"
import * as Probes from "./probes/Probe.js"
import * as ProbeThreads from "./probes/ProbeThreads.js"
import type { StartRound } from "./Rounds.js"
import type { ProbeOutcome } from "./SelfLate.js"
import { observeStartLateness, setEventLoopDelay } from "./SelfLateMetrics.js"

/** What a probe needs (probes/Probe.ts), and which backend it is for. */
export interface ProbeTarget extends Probes.ProbeTarget {
  /** The backend's name, for logs and scripted probers. */
  readonly backend: string
}

export interface ProbeRequest {
  readonly target: ProbeTarget
  /** When this probe was due (epoch ms, from the Clock); its start minus this is its lateness. */
  readonly scheduledAt: number
  /** A start later than this (ms after scheduledAt) skips the round (SelfLate.ts); none: never skip. */
  readonly skipIfLateMs?: number | undefined
}

export interface ProberShape {
  /**
   * Sends one probe, not before `scheduledAt`: the prober waits for the due
   * time itself, so that the live one can fold the wait into the probe's own
   * timers (one fiber wake-up per probe instead of two, which is what lets
   * one core probe 10,000 backends a second). Never fails: every outcome,
   * timeouts included, is a ProbeResult, or ProbeSkipped for a round that
   * started too late.
   */
  readonly probe: (request: ProbeRequest) => Effect.Effect<ProbeOutcome>
  /**
   * The same, callback-style (the live prober has it): `deliver` gets the
   * outcome, the result is what cancels the probe. With it the health checker
   * runs a backend's rounds without waking its fiber for each (Rounds.ts).
   */
  readonly start?: StartRound | undefined
}

export class Prober extends Context.Tag("vpp-maglev/Prober")<Prober, ProberShape>() {}

/**
 * A prober answering with `f` (tests, simulation, benchmarks). It waits for
 * the due time on the Effect clock, so `TestClock` drives it.
 */
export const layerFrom = (f: (request: ProbeRequest) => Effect.Effect<ProbeOutcome>): Layer.Layer<Prober> =>
  Layer.succeed(Prober, {
    probe: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        request.scheduledAt > now
          ? Effect.zipRight(Effect.sleep(Duration.millis(request.scheduledAt - now)), f(request))
          : f(request))
  })

const GAUGE_WINDOW_MS = 10_000

/** `--probe-threads auto` uses worker threads from this many configured backends on. */
export const AUTO_THREADS_FROM = 4000
/** `--probe-threads auto` uses at most this many. */
export const AUTO_THREADS_MAX = 4
export const MAX_THREADS = 64

/** `--probe-threads`: a count, or `auto` for `backends` configured backends; undefined when it is neither. */
export const parseThreads = (text: string, backends: number): number | undefined => {
  if (text === "auto") return backends < AUTO_THREADS_FROM ? 0 : Math.min(AUTO_THREADS_MAX, os.availableParallelism())
  if (!/^\d+$/.test(text)) return undefined
  const n = Number(text)
  return n <= MAX_THREADS ? n : undefined
}

export interface LiveOptions {
  /**
   * Worker threads for HTTP(S) and TCP probes (probes/ProbeThreads.ts); 0
   * probes on the main thread. ICMP probes always run on the main thread.
   */
  readonly threads: number
}

/**
 * Real packets: HTTP(S), TCP and ICMP probes, started at their due time on
 * the wall clock, with this process's event-loop lag watched for as long as
 * the layer lives (probes/internal/LoopLag.ts), so that a timeout caused by
 * our own lateness is known as such. With `threads`, HTTP(S) and TCP probes
 * run on worker threads, each watching its own loop. The largest lag of any
 * of them feeds `maglev_event_loop_delay_seconds`.
 */
export const layerWith = (options: LiveOptions): Layer.Layer<Prober> =>
  Layer.scoped(
    Prober,
    Effect.gen(function*() {
      const lag = new Probes.LoopLag()
      yield* Effect.acquireRelease(Effect.sync(() => lag.start()), () => Effect.sync(() => lag.stop()))
      const runtime = yield* Effect.runtime<never>()
      const threads = options.threads <= 0 ? undefined : yield* Effect.acquireRelease(
        Effect.sync(() =>
          ProbeThreads.make({
            threads: options.threads,
            observeLate: observeStartLateness,
            onExit: (thread, reason) =>
              Runtime.runFork(runtime)(
                Effect.logError("a probe thread stopped; starting another").pipe(
                  Effect.annotateLogs({ event: "probe-thread-exit", thread, reason })
                )
              )
          })
        ),
        (t) => Effect.promise(() => t.close())
      )
      if (threads !== undefined) {
        yield* Effect.logInfo("probes run on worker threads").pipe(
          Effect.annotateLogs({ event: "probe-threads", threads: threads.size })
        )
      }
      const gauge = setInterval(() => {
        const since = performance.now() - GAUGE_WINDOW_MS
        setEventLoopDelay(Math.max(lag.maxSince(since), threads?.lagMs() ?? 0) / 1000)
      }, 1000)
      gauge.unref()
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(gauge)))
      const local: StartRound = (request, deliver) =>
        Probes.startScheduledProbe(
          request.target,
          { startAt: request.scheduledAt, skipIfLateMs: request.skipIfLateMs, lag },
          deliver
        )
      return Prober.of({
        probe: (request: ProbeRequest) =>
          Probes.scheduledProbe(request.target, { startAt: request.scheduledAt, skipIfLateMs: request.skipIfLateMs, lag }),
        start: threads === undefined
          ? local
          : (request, deliver) =>
            request.target.healthcheck.type === "icmp" ? local(request, deliver) : threads.start(request, deliver)
      })
    })
  )

/** {@link layerWith} on the main thread alone. */
export const layer: Layer.Layer<Prober> = layerWith({ threads: 0 })
