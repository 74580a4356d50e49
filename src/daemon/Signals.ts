/**
 * POSIX signals for the daemon: SIGHUP reloads coalesce, and SIGTERM/SIGINT
 * leave their name for the `stopping`/`stopped` log lines.
 *
 * A burst of SIGHUPs (an operator's loop, a config-management run touching
 * many files) must not queue a full reload per signal: while one reload runs,
 * any number of further signals make one more reload after it, which reads the
 * file as it is by then. So at most one runs and at most one waits.
 */
import { Effect, Queue, type Scope, Stream } from "effect"

/** POSIX signals as a stream: the handler is installed while the stream is consumed. */
export const signals = (signal: NodeJS.Signals): Stream.Stream<NodeJS.Signals> =>
  Stream.async<NodeJS.Signals>((emit) => {
    const handler = () => void emit.single(signal)
    process.on(signal, handler)
    return Effect.sync(() => process.off(signal, handler))
  })

export interface Coalescer<E, R> {
  /** Asks for a run; synchronous, so a signal handler can call it. True when the request is new, false when one was already waiting. */
  readonly trigger: () => boolean
  /** Runs the handler for each request, one at a time, merging the requests that come during a run into one. Never ends. */
  readonly run: Effect.Effect<never, E, R>
}

/** One runner, one waiting slot: `trigger` fills the slot (or finds it full), `run` empties it. */
export const coalescer = <E, R>(handle: Effect.Effect<void, E, R>): Effect.Effect<Coalescer<E, R>> =>
  Effect.map(Queue.dropping<void>(1), (pending) => ({
    trigger: () => pending.unsafeOffer(undefined),
    run: Effect.forever(Effect.zipRight(Queue.take(pending), handle))
  }))

/**
 * Runs `handle` on `signal`, coalesced (see `coalescer`), while the scope is
 * open. `pending`, asked once the handler is installed, says whether to run
 * at once (a signal came before the handler was there).
 */
export const onSignal = <E, R>(
  signal: NodeJS.Signals,
  handle: Effect.Effect<void, E, R>,
  options: { readonly pending?: (() => boolean) | undefined } = {}
): Effect.Effect<never, E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const c = yield* coalescer(handle)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const handler = () => void c.trigger()
        process.on(signal, handler)
        return handler
      }),
      (handler) => Effect.sync(() => process.off(signal, handler))
    )
    if (options.pending?.() === true) c.trigger()
    return yield* c.run
  })

/**
 * Remembers the last of SIGTERM/SIGINT received, for the log lines of the
 * shutdown it causes (NodeRuntime.runMain's own handler does the
 * interrupting). Call it before runMain installs its handler, which then finds
 * the reason already set. Returns why the daemon is stopping: the signal, or
 * `interrupted` when something else interrupted it.
 */
export const trackStopSignal = (): (() => string) => {
  let received: NodeJS.Signals | undefined
  for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => void (received = s))
  return () => received ?? "interrupted"
}
