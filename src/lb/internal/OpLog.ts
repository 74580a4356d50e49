/**
 * The log lines of the mutations VPP accepted, a batch at a time.
 *
 * Each line is what `Effect.logInfo(event)` under `describeOp`'s annotations (`opFields`)
 * gives (the same loggers, level, message, annotations, spans and date; the
 * caller's annotations under the op's), handed to the loggers the way Effect's
 * own `FiberRuntime.log` does. Going through `Effect.locally` instead cost two
 * copies of the fiber's refs per line and a structural comparison of the
 * annotation maps: at 33,000 mutations a third of the sync fiber's time and
 * much of its garbage (issue 14).
 */
import { Cause, Clock, Context, DefaultServices, Effect, FiberRef, HashMap, HashSet, Inspectable, LogLevel } from "effect"
import { type LbOp, opFields } from "../Diff.js"

/** Logs `ops[from..to)` at info, one line each (`keyOf`: each op's `vipKeyString`) (nothing when info is below the fiber's minimum level). */
export const logOps = (ops: ReadonlyArray<LbOp>, from: number, to: number, keyOf: (op: LbOp) => string): Effect.Effect<void> =>
  from >= to ? Effect.void : Effect.map(opLogger, (log) => log(ops, from, to, keyOf))

/** Logs `ops[from..to)` at once, as `logOps` does in the fiber that made it. */
export type OpLogger = (ops: ReadonlyArray<LbOp>, from: number, to: number, keyOf: (op: LbOp) => string) => void

const NONE: OpLogger = () => {}

/**
 * `logOps` as a plain function, with the loggers, annotations, spans and clock
 * of the fiber that asks, taken now: for a line logged where VPP's answer is
 * read (the transport's callback, outside any fiber), not when the fiber that
 * handles the batch of answers it came in gets its turn.
 */
export const opLogger: Effect.Effect<OpLogger> = Effect.withFiberRuntime<OpLogger>((fiber) => {
  if (LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Info)) return Effect.succeed(NONE)
  const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
  if (HashSet.size(loggers) === 0) return Effect.succeed(NONE)
  const base = fiber.getFiberRef(FiberRef.currentLogAnnotations)
  const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
  const context = fiber.getFiberRefs()
  const clock = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock)
  const fiberId = fiber.id()
  return Effect.succeed((ops, from, to, keyOf) => {
    if (from >= to) return
    Inspectable.withRedactableContext(context, () => {
      for (let i = from; i < to; i++) {
        const op = ops[i]!
        let event = ""
        const annotations = HashMap.mutate(base, (m) => {
          event = opFields(op, (k, v) => HashMap.set(m, k, v), keyOf(op))
          HashMap.set(m, "event", event)
        })
        const date = new Date(clock.unsafeCurrentTimeMillis())
        for (const logger of loggers) {
          logger.log({ fiberId, logLevel: LogLevel.Info, message: [event], cause: Cause.empty, context, spans, annotations, date })
        }
      }
    })
  })
})
