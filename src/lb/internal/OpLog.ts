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
import { Cause, Clock, Context, DefaultServices, Effect, FiberRef, HashMap, Inspectable, LogLevel } from "effect"
import { fieldsLoggerOf, wantsOf } from "../../internal/Log.js"
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
  const loggers = [...fiber.getFiberRef(FiberRef.currentLoggers)]
  if (loggers.length === 0) return Effect.succeed(NONE)
  const base = fiber.getFiberRef(FiberRef.currentLogAnnotations)
  const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
  const context = fiber.getFiberRefs()
  const clock = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock)
  const fiberId = fiber.id()
  // A line's annotations as arrays (the caller's, then the op's over them) for the loggers that take
  // them (Log.FieldsLogger: the stdout logger); a HashMap only for a logger that wants the record and
  // does not (a test's, the API's log hub while someone watches).
  const baseNames: Array<string> = []
  const baseFields: Array<unknown> = []
  HashMap.forEach(base, (v, k) => {
    baseNames.push(k)
    baseFields.push(v)
  })
  const names: Array<string> = []
  const fields: Array<unknown> = []
  const setField = (k: string, v: unknown) => {
    const at = baseNames.indexOf(k)
    if (at >= 0) fields[at] = v
    else {
      names.push(k)
      fields.push(v)
    }
  }
  return Effect.succeed((ops, from, to, keyOf) => {
    if (from >= to) return
    Inspectable.withRedactableContext(context, () => {
      for (let i = from; i < to; i++) {
        const op = ops[i]!
        names.length = 0
        fields.length = 0
        for (let b = 0; b < baseNames.length; b++) {
          names.push(baseNames[b]!)
          fields.push(baseFields[b])
        }
        const event = opFields(op, setField, keyOf(op))
        setField("event", event)
        const date = new Date(clock.unsafeCurrentTimeMillis())
        let annotations: HashMap.HashMap<string, unknown> | undefined
        for (const logger of loggers) {
          const direct = fieldsLoggerOf(logger)
          if (direct !== undefined) direct(LogLevel.Info, date, event, names, fields)
          else if (wantsOf(logger)?.(LogLevel.Info) !== false) {
            annotations ??= HashMap.mutate(base, (m) => {
              for (let f = 0; f < names.length; f++) HashMap.set(m, names[f]!, fields[f])
            })
            logger.log({ fiberId, logLevel: LogLevel.Info, message: [event], cause: Cause.empty, context, spans, annotations, date })
          }
        }
      }
    })
  })
})
