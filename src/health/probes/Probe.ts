/**
 * One health-check probe of one backend, whatever its kind: the entry point
 * of the health checker into the network.
 *
 * A probe is an Effect that never fails and never takes (much) longer than
 * the check's timeout: every outcome - a 200, a refused connection, a bad
 * certificate, silence - is a {@link ProbeResult}, and the socket is closed
 * whatever happened, interruption included. See docs/probes.md for the codes
 * each kind produces.
 */
import { Duration, Effect } from "effect"
import type { HealthCheck } from "../../config/Config.js"
import type { ProbeResult } from "../ProbeResult.js"
import type { ProbeOutcome } from "../SelfLate.js"
import { observeStartLateness } from "../SelfLateMetrics.js"
import { asEffect, scheduled } from "./internal/Deadline.js"
import { type Deliver, ScheduledStart } from "./internal/Scheduled.js"
import type { LoopLag } from "./internal/LoopLag.js"
import { type ProbeCheck, startCheckProbe } from "./internal/StartProbe.js"

export { USER_AGENT } from "./internal/UserAgent.js"
export { LoopLag } from "./internal/LoopLag.js"
export type { ProbeCheck } from "./internal/StartProbe.js"

export interface ProbeTarget {
  /** The backend's address, IPv4 or IPv6 text. */
  readonly address: string
  readonly healthcheck: HealthCheck
  /** Network namespace the probe comes from: a name under /var/run/netns; "" = our own. */
  readonly netns: string
}

/**
 * A check's probe settings as plain data, made once per check (a Duration
 * decode per probe showed in profiles); what a probe thread is sent.
 */
const probeChecks = new WeakMap<HealthCheck, ProbeCheck>()
export const probeCheckOf = (hc: HealthCheck): ProbeCheck => {
  let check = probeChecks.get(hc)
  if (check === undefined) {
    check = {
      name: hc.name,
      type: hc.type,
      port: hc.port,
      timeoutMs: Math.max(1, Duration.toMillis(hc.timeout)),
      probeIpv4Src: hc.probeIpv4Src,
      probeIpv6Src: hc.probeIpv6Src,
      http: hc.http,
      tcp: hc.tcp
    }
    probeChecks.set(hc, check)
  }
  return check
}

/** Starts one probe of the target now, callback-style (see internal/Deadline.ts); returns its cancel function. */
export const startProbe = (target: ProbeTarget, deliver: Deliver, lag?: LoopLag | undefined): (() => void) =>
  startCheckProbe(target.address, target.netns, probeCheckOf(target.healthcheck), deliver, lag)

export interface ProbeOptions {
  /**
   * When to start (epoch milliseconds, wall clock); the probe waits for it
   * with the same timer machinery as its timeout, so waiting for the due time
   * and probing cost the calling fiber one wake-up. Default: now.
   */
  readonly startAt?: number | undefined
}

const delayUntil = (startAt: number | undefined): number => (startAt === undefined ? 0 : startAt - Date.now())

/** Probes one backend once. */
export const runProbe = (target: ProbeTarget, options?: ProbeOptions): Effect.Effect<ProbeResult> => {
  const delayMs = delayUntil(options?.startAt)
  const start = (deliver: Deliver) => startProbe(target, deliver)
  // Without skipIfLateMs the outcome is always a result.
  return delayMs > 0 ? (scheduled(delayMs, undefined, start) as Effect.Effect<ProbeResult>) : asEffect(start)
}

export interface ScheduledProbeOptions {
  /** When the probe is due (epoch milliseconds, wall clock). */
  readonly startAt: number
  /** Skip the probe (`ProbeSkipped`) when its start comes more than this late (ms). */
  readonly skipIfLateMs?: number | undefined
  /** The loop-lag monitor; what it saw while the probe ran goes into `selfLateMs`. */
  readonly lag?: LoopLag | undefined
  /** Where the start's lateness goes; default `maglev_probe_start_lateness_seconds` of this thread. */
  readonly observeLate?: ((lateMs: number) => void) | undefined
}

/**
 * The health checker's probe: waits for the due time (real time) and probes,
 * as one wake-up of the calling fiber; a start that comes too late is
 * skipped (see SelfLate.ts).
 */
export const scheduledProbe = (target: ProbeTarget, options: ScheduledProbeOptions): Effect.Effect<ProbeOutcome> =>
  scheduled(delayUntil(options.startAt), options.skipIfLateMs, (deliver) => startProbe(target, deliver, options.lag))

/**
 * Each target's {@link ScheduledStart}, reused round after round (a backend's
 * rounds come one at a time), so that a round allocates nothing that lives
 * until the next. A target is one backend's for as long as its rounds run
 * (the health checker makes a new one when its settings change).
 */
class TargetSlot extends ScheduledStart {
  constructor(target: ProbeTarget, readonly lag: LoopLag | undefined, observeLate: (lateMs: number) => void) {
    super((deliver) => startProbe(target, deliver, lag), observeLate)
  }
}

const slots = new WeakMap<ProbeTarget, TargetSlot>()

const slotFor = (target: ProbeTarget, options: ScheduledProbeOptions): TargetSlot => {
  const observeLate = options.observeLate ?? observeStartLateness
  const slot = slots.get(target)
  if (slot !== undefined && !slot.busy && slot.lag === options.lag && slot.observeLate === observeLate) return slot
  const fresh = new TargetSlot(target, options.lag, observeLate)
  // Two rounds of one target at once (not the health checker's way) each get their own.
  if (slot === undefined || !slot.busy) slots.set(target, fresh)
  return fresh
}

/** {@link scheduledProbe}, callback-style: `deliver` gets the outcome; returns what cancels the probe. */
export const startScheduledProbe = (
  target: ProbeTarget,
  options: ScheduledProbeOptions,
  deliver: (outcome: ProbeOutcome) => void
): (() => void) => {
  const slot = slotFor(target, options)
  slot.schedule(delayUntil(options.startAt), options.skipIfLateMs, deliver)
  return slot.cancel
}
