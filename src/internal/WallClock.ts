import { Effect } from "effect"

/**
 * Waits on a real timer, whatever Clock the fiber runs with. For polling
 * kernel state (a socket's accept queue, another process's shared memory),
 * which changes in wall time: under a test's virtual clock an Effect.sleep
 * would never let the poll see the other side, or would wake thousands of
 * times for one virtual minute.
 */
export const pollDelay = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })
