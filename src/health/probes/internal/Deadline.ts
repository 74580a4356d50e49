import { Effect } from "effect"

/**
 * Waits for a callback-driven operation (socket events) for at most `millis`
 * of real time, whatever Clock the fiber runs with: a probe's timeout is about
 * the network, which runs in wall time. `start` begins the wait and calls
 * `done` once with the outcome; if the time passes first, `onTimeout()` is
 * the outcome (built from how far the operation had come) and a late `done`
 * is ignored.
 *
 * Used as the `use` of an acquireUseRelease whose release closes the socket,
 * so a timeout, like an interruption, always closes it. One setTimeout and one
 * fiber per probe: racing the use against a sleeping fiber (Effect.timeout,
 * Effect.race) did the same for ten times the CPU (two extra fibers and an
 * interruption per probe, ~30 us), which 10,000 probes a second cannot afford.
 */
export const awaitWithin = <A>(
  millis: number,
  start: (done: (a: A) => void) => void,
  onTimeout: () => A
): Effect.Effect<A> =>
  Effect.async<A>((resume) => {
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      resume(Effect.succeed(onTimeout()))
    }, millis)
    start((a) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(a))
    })
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
    })
  })

/** Waits `millis` of real time (a probe's due time is wall time, like its timeout). */
export const waitReal = (millis: number): Effect.Effect<void> =>
  millis <= 0
    ? Effect.void
    : Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), millis)
      return Effect.sync(() => clearTimeout(timer))
    })
