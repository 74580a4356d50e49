/**
 * Hooks for tests of maglevd as a process, inert unless the environment has
 * MAGLEVD_TEST_HOOKS=1 (never set by the packages or by `npm start`):
 *
 * - SIGUSR2 blocks the event loop for MAGLEVD_TEST_BLOCK_MS (default 2000)
 *   milliseconds, as a long synchronous task or a GC pause would, then logs
 *   `test-loop-blocked`. The overload tests use it to check that the daemon's
 *   own lateness never drains a healthy backend (src/health/SelfLate.ts).
 */
import { Effect, Layer, Stream } from "effect"
import { signals } from "./Signals.js"

export const ENABLE_ENV = "MAGLEVD_TEST_HOOKS"
export const BLOCK_MS_ENV = "MAGLEVD_TEST_BLOCK_MS"

const block = (ms: number) =>
  Effect.sync(() => {
    const until = performance.now() + ms
    while (performance.now() < until) {
      // the loop held, on purpose
    }
  }).pipe(
    Effect.zipRight(Effect.logInfo("test hook: event loop blocked").pipe(Effect.annotateLogs({ event: "test-loop-blocked", ms })))
  )

export const layer: Layer.Layer<never> = Layer.scopedDiscard(
  Effect.suspend(() => {
    if (process.env[ENABLE_ENV] !== "1") return Effect.void
    const ms = Number(process.env[BLOCK_MS_ENV] ?? 2000)
    return Effect.forkScoped(Stream.runForEach(signals("SIGUSR2"), () => block(ms)))
  })
)
