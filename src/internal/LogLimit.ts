/**
 * Rate-limited log lines for what a peer can make happen as often as it likes
 * (a bad frame from VPP, a slow API client): per event name, at most one line
 * per window (default 1 s). What falls inside the window is counted, and when
 * the window ends one summary line says how many were suppressed, with the
 * fields of the last one:
 *
 *   {"message":"vpp-api-recv-bad","event":"vpp-api-recv-bad","length":0,"reason":"..."}
 *   {"message":"vpp-api-recv-bad: 999 more in the last 1000 ms","event":"vpp-api-recv-bad","suppressed":999,"length":0,...}
 *
 * Under a steady flood that is one summary line per window. The summaries run
 * on fibers owned by the limiter's scope (Clock time, so TestClock drives them).
 */
import { Clock, Duration, Effect, FiberMap, type LogLevel, type Scope } from "effect"

export interface LogLimitShape {
  /** Logs `message` at `level` with `annotations`, unless a line for the same `event` went out within the window. */
  readonly log: (level: LogLevel.LogLevel, message: string, annotations: Annotations) => Effect.Effect<void>
  /**
   * Counts a line that would be suppressed anyway, without running an Effect:
   * true when it was counted (a line for the event went out within the window
   * and its summary is already due); false when the caller must go through
   * `log` (the line goes out, or it starts the window's summary). For callers
   * outside the Effect world on a hot path (probe rounds shed by an
   * overloaded daemon: SelfLate.ts).
   */
  readonly unsafeSuppressed: (level: LogLevel.LogLevel, annotations: Annotations) => boolean
}

export type Annotations = { readonly event: string } & Readonly<Record<string, unknown>>

export interface LogLimitOptions {
  /** At most one line per event name per window; default 1 second. */
  readonly window?: Duration.DurationInput
}

export const DEFAULT_WINDOW = Duration.seconds(1)

interface EventState {
  /** When the last line for this event went out. */
  last: number
  suppressed: number
  level: LogLevel.LogLevel
  annotations: Annotations
}

export const make = (options: LogLimitOptions = {}): Effect.Effect<LogLimitShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const windowMs = Duration.toMillis(options.window ?? DEFAULT_WINDOW)
    const clock = yield* Effect.clock
    const state = new Map<string, EventState>()
    const summaries = yield* FiberMap.make<string>()

    const line = (level: LogLevel.LogLevel, message: string, annotations: Readonly<Record<string, unknown>>) =>
      Effect.logWithLevel(level, message).pipe(Effect.annotateLogs(annotations))

    const summarise = (event: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const s = state.get(event)
        if (s === undefined || s.suppressed === 0) return Effect.void
        const suppressed = s.suppressed
        s.suppressed = 0
        s.last = now
        return line(s.level, `${event}: ${suppressed} more in the last ${windowMs} ms`, { ...s.annotations, suppressed })
      })

    const log: LogLimitShape["log"] = (level, message, annotations) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const event = annotations.event
        const s = state.get(event)
        if (s === undefined || (s.suppressed === 0 && now - s.last >= windowMs)) {
          state.set(event, { last: now, suppressed: 0, level, annotations })
          return line(level, message, annotations)
        }
        s.suppressed++
        s.level = level
        s.annotations = annotations
        if (s.suppressed > 1) return Effect.void
        const wait = Duration.millis(Math.max(0, s.last + windowMs - now))
        return Effect.asVoid(FiberMap.run(summaries, event, Effect.zipRight(Effect.sleep(wait), summarise(event)), { onlyIfMissing: true }))
      })

    const unsafeSuppressed: LogLimitShape["unsafeSuppressed"] = (level, annotations) => {
      const s = state.get(annotations.event)
      if (s === undefined || s.suppressed === 0 || clock.unsafeCurrentTimeMillis() - s.last >= windowMs) return false
      s.suppressed++
      s.level = level
      s.annotations = annotations
      return true
    }

    return { log, unsafeSuppressed }
  })
