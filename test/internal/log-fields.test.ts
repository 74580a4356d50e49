/**
 * The mutation lines' way to the loggers (src/lb/internal/OpLog.ts): the stdout
 * logger takes their fields as arrays (Log.FieldsLogger, no HashMap per line)
 * and writes exactly the line `Effect.logInfo` under the same annotations
 * gives; the API's log hub is handed nothing while no one watches, and the
 * record with every field once someone does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Logger, LogLevel, Stream } from "effect"
import * as LogHub from "../../src/api/LogHub.js"
import * as Log from "../../src/internal/Log.js"
import { describeOp, type LbOp } from "../../src/lb/Diff.js"
import { logOps } from "../../src/lb/internal/OpLog.js"
import { vipKey, vipKeyString } from "../../src/lb/VipKey.js"

const vip = vipKey("198.18.0.7/32", 6, 80)
const OPS: ReadonlyArray<LbOp> = [
  { _tag: "AsWeight", vip, frontend: "f6", address: "127.0.1.29", backend: "b28", weight: 0, flush: true },
  { _tag: "AsAdd", vip, frontend: "f6", address: "2001:db8::1", backend: "b\"q", weight: 100, flush: false },
  { _tag: "AsDel", vip, frontend: "f6", address: "127.0.1.3", backend: undefined, flush: true },
  { _tag: "VipDel", vip, frontend: undefined }
] as never
const keyOf = (op: LbOp) => vipKeyString(op.vip)
/** The first op's fields as a line shows them. */
const FIRST_FIELDS = {
  event: "vpp-lbsync-as-weight",
  as: "127.0.1.29",
  backend: "b28",
  flush: true,
  frontend: "f6",
  vip: vipKeyString(vip),
  weight: 0
}

/** The lines of `program` through the stdout logger in `format`, the tracer's logger left out (as maglevd runs). */
const lines = (format: Log.Format, program: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    yield* program.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, Log.make({ level: LogLevel.Info, format, color: false, write: (l) => out.push(l) }))),
      Effect.provide(Logger.remove(Logger.tracerLogger))
    )
    return out
  })

describe("mutation lines", () => {
  it.effect("are the lines Effect.logInfo gives under the op's annotations, in both formats, the caller's annotations under the op's", () =>
    Effect.gen(function*() {
      for (const format of ["json", "text"] as const) {
        // The caller's annotations: one the op overrides (frontend), one it does not (reason).
        const caller = { reason: "health", frontend: "caller's" }
        const fast = yield* lines(format, logOps(OPS, 0, OPS.length, keyOf).pipe(Effect.annotateLogs(caller)))
        const slow = yield* lines(
          format,
          Effect.forEach(OPS, (op) => {
            const { event, fields } = describeOp(op)
            return Effect.logInfo(event).pipe(Effect.annotateLogs({ ...fields, event }), Effect.annotateLogs(caller))
          }, { discard: true })
        )
        expect(fast).toHaveLength(OPS.length)
        expect(fast).toEqual(slow)
      }
      const first = JSON.parse((yield* lines("json", logOps(OPS, 0, 1, keyOf)))[0]!) as { annotations: Record<string, unknown> }
      expect(first.annotations).toEqual(FIRST_FIELDS)
    }))

  it.scoped("reach the API's log hub only while someone watches, with every field", () =>
    Effect.gen(function*() {
      const hub = yield* LogHub.make()
      const log = logOps(OPS, 0, 1, keyOf).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, hub.logger)))
      // Nobody watches: the hub says it wants nothing, and is handed nothing.
      expect(Log.wantsOf(hub.logger)?.(LogLevel.Info)).toBe(false)
      yield* log
      const records = yield* hub.subscribe(LogLevel.Info)
      expect(Log.wantsOf(hub.logger)?.(LogLevel.Info)).toBe(true)
      yield* log
      const got = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(records, 1)))
      expect(got[0]!.annotations).toEqual(FIRST_FIELDS)
    }))
})
