/**
 * The probe cadence of one VIP: a probe starts every interval, ±10 % at
 * random so that many maglevt (and their VIPs) do not probe in step, or as
 * soon as the previous probe ended when that took longer. Time and randomness
 * come from Effect's Clock and Random, so a test drives it with TestClock.
 */
import { Clock, Duration, Effect, Random } from "effect"

export const JITTER = 0.1

/** The interval scaled by a factor in [1 - JITTER, 1 + JITTER), `u` being uniform in [0, 1). */
export const jittered = (interval: Duration.Duration, u: number): Duration.Duration =>
  Duration.millis(Duration.toMillis(interval) * (1 - JITTER + 2 * JITTER * u))

/** Probes for ever, handing each outcome and the time it ended to `report`. */
export const probeForever = <A, R>(
  probe: Effect.Effect<A>,
  interval: Duration.Duration,
  report: (outcome: A, at: number) => Effect.Effect<void, never, R>
): Effect.Effect<never, never, R> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const outcome = yield* probe
    const end = yield* Clock.currentTimeMillis
    yield* report(outcome, end)
    const period = jittered(interval, yield* Random.next)
    yield* Effect.sleep(Duration.millis(Math.max(0, Duration.toMillis(period) - (end - start))))
  }).pipe(Effect.forever)
