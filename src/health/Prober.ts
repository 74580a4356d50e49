/**
 * The boundary between the health checker and the network: one call sends one
 * probe. The live implementation sends real packets (probes/Probe.ts); tests
 * and the simulation harness script results instead, under the TestClock.
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import * as Probes from "./probes/Probe.js"
import type { ProbeResult } from "./ProbeResult.js"

/** What a probe needs (probes/Probe.ts), and which backend it is for. */
export interface ProbeTarget extends Probes.ProbeTarget {
  /** The backend's name, for logs and scripted probers. */
  readonly backend: string
}

export interface ProbeRequest {
  readonly target: ProbeTarget
  /** When this probe was due (epoch ms, from the Clock); its start minus this is its lateness. */
  readonly scheduledAt: number
}

export interface ProberShape {
  /**
   * Sends one probe, not before `scheduledAt`: the prober waits for the due
   * time itself, so that the live one can fold the wait into the probe's own
   * timers (one fiber wake-up per probe instead of two, which is what lets
   * one core probe 10,000 backends a second). Never fails: every outcome,
   * timeouts included, is a ProbeResult.
   */
  readonly probe: (request: ProbeRequest) => Effect.Effect<ProbeResult>
}

export class Prober extends Context.Tag("vpp-maglev/Prober")<Prober, ProberShape>() {}

/**
 * A prober answering with `f` (tests, simulation, benchmarks). It waits for
 * the due time on the Effect clock, so `TestClock` drives it.
 */
export const layerFrom = (f: (request: ProbeRequest) => Effect.Effect<ProbeResult>): Layer.Layer<Prober> =>
  Layer.succeed(Prober, {
    probe: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        request.scheduledAt > now
          ? Effect.zipRight(Effect.sleep(Duration.millis(request.scheduledAt - now)), f(request))
          : f(request))
  })

/** Real packets: HTTP(S), TCP and ICMP probes, started at their due time on the wall clock. */
export const layer: Layer.Layer<Prober> = Layer.succeed(Prober, {
  probe: (request: ProbeRequest) => Probes.runProbe(request.target, { startAt: request.scheduledAt })
})
