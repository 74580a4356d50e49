/**
 * Probes starting and ending, for whoever watches them (the `probes` option
 * of `WatchEvents`, src/api/Watch.ts: the dashboard's heartbeat).
 *
 * The rounds (Rounds.runRounds) run off the fiber at up to tens of thousands
 * a second, so the hook must cost nothing while nobody watches: they test
 * `listeners !== null` (a live binding of this module) and call {@link started}
 * and {@link ended} only then. A listener is called synchronously from the
 * round's callback: it must be cheap and must not throw (batch, do not send).
 */

export interface ProbeListener {
  /**
   * A probe of `backend` was handed to the prober. It starts at `due` (epoch
   * ms; the prober waits until then) or a little later, when the daemon is late.
   */
  readonly start: (backend: string, due: number) => void
  /** The probe of `backend` ended at `at` (epoch ms): a result, a round skipped, or the rounds stopped. */
  readonly end: (backend: string, at: number) => void
}

/**
 * The listeners; `null` (not an empty array) while there are none, so the
 * rounds' test is one comparison. Replaced, never changed in place: a round
 * that is telling them is not disturbed by one coming or going.
 */
export let listeners: ReadonlyArray<ProbeListener> | null = null

/** Adds a listener; returns what removes it. */
export const listen = (listener: ProbeListener): (() => void) => {
  listeners = [...(listeners ?? []), listener]
  return () => {
    const rest = (listeners ?? []).filter((l) => l !== listener)
    listeners = rest.length === 0 ? null : rest
  }
}

/** Tells the listeners a probe of `backend` due at `due` was handed to the prober (call only when `listeners !== null`). */
export const started = (backend: string, due: number): void => {
  const ls = listeners ?? []
  for (let i = 0; i < ls.length; i++) ls[i]!.start(backend, due)
}

/** Tells the listeners the probe of `backend` ended now (call only when `listeners !== null`). */
export const ended = (backend: string): void => {
  const ls = listeners ?? []
  const at = Date.now()
  for (let i = 0; i < ls.length; i++) ls[i]!.end(backend, at)
}
