/**
 * What a read RPC leaves behind (issue 15 item 7: about 30 KB kept per
 * `GetVPPLBState`). The cause was Effect's tracer logger: every record a
 * fiber logs becomes an event of the fiber's current span, and the binary-API
 * connection's reader fiber was forked inside the span of the call that
 * connected, so each VPP message's debug record stayed on a span that never
 * goes away. A tracer that counts the events of every span shows it without
 * timing or heap sizes: after 60 rounds of calls no span may hold two events
 * per round (the daemon's own loops log a few; the defect left eight).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Tracer } from "effect"
import { settled, withApi } from "./support.js"

/** The native tracer, counting the events each span receives. */
const countingTracer = Effect.map(Effect.tracer, (native) => {
  const counts = new Map<Tracer.Span, number>()
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      const event = span.event.bind(span)
      counts.set(span, 0)
      span.event = (name, startTime, attributes) => {
        counts.set(span, (counts.get(span) ?? 0) + 1)
        event(name, startTime, attributes)
      }
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  const busiest = () =>
    [...counts].map(([span, n]) => ({ span: span.name, events: n })).sort((a, b) => b.events - a.events).slice(0, 3)
  return { tracer, busiest }
})

/** Rounds of calls: the defect put 8 records per round on one span; the bound is 2 per round (the daemon's own loops log ~15 in all). */
const CALLS = 60

describe("RPC API: what read calls retain", () => {
  it.scopedLive("60 rounds of GetVPPLBState, GetVPPInfo and GetVersion leave no span holding their log records", () =>
    Effect.gen(function*() {
      const { busiest, tracer } = yield* countingTracer
      yield* withApi({}, (f) =>
        Effect.gen(function*() {
          yield* settled(f)
          const api = yield* f.client()
          for (let i = 0; i < CALLS; i++) {
            yield* api.GetVPPLBState()
            yield* api.GetVPPInfo()
            yield* api.GetVersion()
          }
        })).pipe(Effect.withTracer(tracer))
      // Before the fix the connecting call's span held every message's record: 8 per round, some 500 here.
      expect(busiest()[0]!.events, JSON.stringify(busiest())).toBeLessThan(CALLS * 2)
    }), 120_000)
})
