/**
 * Log records for `WatchEvents`: a Logger that publishes every record it sees
 * (level, message, annotations, time) to a PubSub, whatever the daemon's own
 * `--log-level`. The daemon installs `hub.logger` next to its stdout logger.
 *
 * Effect's minimum log level filters a record before any logger sees it, so
 * for a watcher to get debug records the daemon must run with the fiber
 * minimum at Debug and filter its stdout logger by `--log-level` itself.
 * Records are only built while someone watches at their level: with no
 * watcher the logger returns at once. `layerInstalled` also provides the
 * `LogDemand` (internal/LogDemand.ts) that says so to code that would log
 * much at debug (the binary-API transport): whether a watcher wants a level,
 * or the daemon's other loggers print it (`printed`).
 *
 * The PubSub slides: a watcher that falls more than `capacity` records
 * behind loses the oldest ones rather than holding up the daemon's logging.
 */
import { Cause, Context, Effect, HashMap, Layer, Logger, LogLevel, PubSub, type Scope, Stream } from "effect"
import { LogDemand } from "../internal/LogDemand.js"
import { jsonValue, messageText, Wants } from "../internal/Log.js"

export interface LogRecord {
  /** Unix milliseconds. */
  readonly at: number
  readonly level: LogLevel.LogLevel
  readonly message: string
  /** JSON values: bigints as decimal strings, errors as their message, anything else through JSON. */
  readonly annotations: Readonly<Record<string, unknown>>
  /** The pretty cause, when the record has one. */
  readonly cause: string | undefined
}

export interface LogHubShape {
  /** Publishes every record to the hub; install it with `Logger.add` (see `layerInstalled`). */
  readonly logger: Logger.Logger<unknown, void>
  /** Records at `minimum` or above from now on, for as long as the scope is open. */
  readonly subscribe: (minimum: LogLevel.LogLevel) => Effect.Effect<Stream.Stream<LogRecord>, never, Scope.Scope>
  /** Open subscriptions (for tests and diagnostics). */
  readonly subscribers: Effect.Effect<number>
  /** Whether a record at this level would reach a subscriber now. */
  readonly wants: (level: LogLevel.LogLevel) => boolean
}

export class LogHub extends Context.Tag("vpp-maglev/LogHub")<LogHub, LogHubShape>() {}

export interface LogHubOptions {
  /** Records a watcher may fall behind before it loses the oldest; default 4096. */
  readonly capacity?: number
  /**
   * `layerInstalled`: the level from which the daemon's other loggers print
   * (maglevd's `--log-level`); default All, that is, every record is wanted.
   */
  readonly printed?: LogLevel.LogLevel
}

export const make = (options: LogHubOptions = {}): Effect.Effect<LogHubShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.sliding<LogRecord>(options.capacity ?? 4096), PubSub.shutdown)
    // The minimum level of each open subscription: a record below all of them is not even built.
    const minimums: Array<LogLevel.LogLevel> = []
    let lowest: number = LogLevel.None.ordinal

    const log = Logger.make<unknown, void>(({ annotations, cause, date, logLevel, message }) => {
      if (logLevel.ordinal < lowest) return
      const fields: Record<string, unknown> = {}
      for (const [k, v] of HashMap.toEntries(annotations)) fields[k] = jsonValue(v)
      pubsub.unsafeOffer({
        at: date.getTime(),
        level: logLevel,
        message: messageText(message),
        annotations: fields,
        cause: Cause.isEmpty(cause) ? undefined : Cause.pretty(cause)
      })
    })

    // A record no watcher wants is not made for it (OpLog's mutation lines: Log.Wants).
    const logger = Object.assign(log, { [Wants]: (level: LogLevel.LogLevel) => level.ordinal >= lowest })

    const recompute = () => {
      lowest = minimums.reduce((m, l) => Math.min(m, l.ordinal), LogLevel.None.ordinal)
    }

    const subscribe = (minimum: LogLevel.LogLevel) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          minimums.push(minimum)
          recompute()
        }),
        () =>
          Effect.sync(() => {
            minimums.splice(minimums.indexOf(minimum), 1)
            recompute()
          })
      ).pipe(
        Effect.zipRight(PubSub.subscribe(pubsub)),
        // The hub builds what the lowest subscriber wants; each one gets its own level and above.
        Effect.map((records) => Stream.filter(Stream.fromQueue(records), (r) => r.level.ordinal >= minimum.ordinal))
      )

    return { logger, subscribe, subscribers: Effect.sync(() => minimums.length), wants: (level) => level.ordinal >= lowest }
  })

/** The hub alone: records reach it only once its logger is installed. */
export const layer = (options?: LogHubOptions): Layer.Layer<LogHub> => Layer.scoped(LogHub, make(options))

/**
 * The hub, with its logger added to the loggers of whatever this layer is
 * provided to, and the `LogDemand` of the hub and the loggers that print from
 * `options.printed`.
 */
export const layerInstalled = (options?: LogHubOptions): Layer.Layer<LogHub | LogDemand> =>
  Layer.unwrapScoped(Effect.map(make(options), (hub) => {
    const printed = options?.printed ?? LogLevel.All
    return Layer.mergeAll(
      Layer.succeed(LogHub, hub),
      Logger.add(hub.logger),
      Layer.succeed(LogDemand, { wants: (level) => LogLevel.greaterThanEqual(level, printed) || hub.wants(level) })
    )
  }))
