/**
 * A probe's time, which is wall time whatever Clock the fiber runs with: the
 * network does not follow TestClock.
 *
 * Probes are written callback-style (`start(deliver) => cancel`): socket
 * events drive them, one setTimeout enforces the deadline, and nothing else
 * runs per probe. `asEffect` and `scheduled` make one Effect.async of that,
 * so a probe costs its fiber one wake-up, the wait for its due time included.
 * Racing the work against a sleeping fiber (Effect.timeout, Effect.race) did
 * the same for ten times the CPU (two extra fibers and an interruption per
 * probe, ~30 us), which 10,000 probes a second cannot afford.
 *
 * The deadline is kept even when this process is late: a reply read after it
 * is a timeout, never a success (Scheduled.ts, `finishedAt`), and a timeout says how
 * late the loop was while the probe ran (`timedOutAt`), so that the
 * health checker can tell our lateness from the backend's (SelfLate.ts).
 */
import { Effect } from "effect"
import type { ProbeResult } from "../../ProbeResult.js"
import type { ProbeOutcome } from "../../SelfLate.js"
import { observeStartLateness } from "../../SelfLateMetrics.js"
// The callback core (the deadline's rules, ScheduledStart) is Scheduled.ts, which a probe thread loads without Effect.
import { ScheduledStart, type Start } from "./Scheduled.js"

/** A probe started now, as an Effect; interruption cancels it. */
export const asEffect = (start: Start): Effect.Effect<ProbeResult> =>
  Effect.async<ProbeResult>((resume) => {
    const cancel = start((result) => resume(Effect.succeed(result)))
    return Effect.sync(cancel)
  })

/**
 * A probe started after `delayMs` of real time (its due time), callback-style,
 * as one round of a {@link ScheduledStart} of its own. Returns what cancels it.
 */
export const scheduleStart = (
  delayMs: number,
  skipIfLateMs: number | undefined,
  start: Start,
  deliver: (outcome: ProbeOutcome) => void,
  /** Where the start's lateness goes (a probe thread sends it to the main thread's histogram with the outcome). */
  observeLate: (lateMs: number) => void = observeStartLateness
): (() => void) => {
  const slot = new ScheduledStart(start, observeLate)
  slot.schedule(delayMs, skipIfLateMs, deliver)
  return slot.cancel
}

/** {@link scheduleStart} as one Effect.async: one wake-up of the fiber for the wait and the probe. */
export const scheduled = (delayMs: number, skipIfLateMs: number | undefined, start: Start): Effect.Effect<ProbeOutcome> =>
  Effect.async<ProbeOutcome>((resume) => {
    const cancel = scheduleStart(delayMs, skipIfLateMs, start, (outcome) => resume(Effect.succeed(outcome)))
    return Effect.sync(cancel)
  })
