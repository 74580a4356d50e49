/** Waiting in wall time for something that happens over real sockets. */
import { Effect } from "effect"
import { pollDelay } from "../../src/internal/WallClock.js"

/**
 * Polls `probe` every `pollMs` until it yields a value; dies naming `what` after `timeoutMs`. It
 * returns as soon as the value is there, so the bound costs nothing and only names what never came:
 * it is long (10 s was reached by a failover through real sockets at load 30).
 */
export const waitFor = <A, E, R>(
  /** What is waited for; a function when it should say what was seen by then. */
  what: string | (() => string),
  probe: Effect.Effect<A | undefined, E, R>,
  timeoutMs = 50_000,
  pollMs = 20
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const a = yield* probe
      if (a !== undefined) return a
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${typeof what === "string" ? what : what()}`)
      yield* pollDelay(pollMs)
    }
  })
