/**
 * The boundary between the health checker and the network: one call sends one
 * probe. The live implementation sends real packets (probes/Probe.ts); tests
 * and the simulation harness script results instead, under the TestClock.
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import * as Probes from "./probes/Probe.js"
import type { StartRound } from "./Rounds.js"
import type { ProbeOutcome } from "./SelfLate.js"
import { setEventLoopDelay } from "./SelfLateMetrics.js"

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

/**
 * Real packets: HTTP(S), TCP and ICMP probes, started at their due time on
 * the wall clock, with this process's event-loop lag watched for as long as
 * the layer lives (probes/internal/LoopLag.ts), so that a timeout caused by
 * our own lateness is known as such. The lag also feeds
 * `maglev_event_loop_delay_seconds`.
 */
export const layer: Layer.Layer<Prober> = Layer.scoped(
  Prober,
  Effect.gen(function*() {
    const lag = new Probes.LoopLag()
    yield* Effect.acquireRelease(Effect.sync(() => lag.start()), () => Effect.sync(() => lag.stop()))
    const gauge = setInterval(() => setEventLoopDelay(lag.maxSince(performance.now() - GAUGE_WINDOW_MS) / 1000), 1000)
    gauge.unref()
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(gauge)))
    return Prober.of({
      probe: (request: ProbeRequest) =>
        Probes.scheduledProbe(request.target, { startAt: request.scheduledAt, skipIfLateMs: request.skipIfLateMs, lag }),
      start: (request, deliver) =>
        Probes.startScheduledProbe(
          request.target,
          { startAt: request.scheduledAt, skipIfLateMs: request.skipIfLateMs, lag },
          deliver
        )
    })
  })
)
