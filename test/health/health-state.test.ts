import { it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { describe, expect } from "vitest"
import * as State from "../../src/health/HealthState.js"
import { PROBE_CODES, type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"

const pass: ProbeResult = probeResult("L7OK", 1, "HTTP 200")
const fail: ProbeResult = probeResult("L7STS", 1, "HTTP 503")
const HISTORY = 5

const thresholdsArb = fc.record({ rise: fc.integer({ min: 1, max: 6 }), fall: fc.integer({ min: 1, max: 6 }) })
const resultsArb = fc.array(fc.boolean().map((ok) => (ok ? pass : fail)), { maxLength: 40 })

type Op = "pass" | "fail" | "pause" | "resume" | "enable" | "disable"
const opArb = fc.constantFrom<Op>("pass", "fail", "pass", "fail", "pause", "resume", "enable", "disable")

const apply = (state: State.BackendState, op: Op, now: number): State.BackendState => {
  switch (op) {
    case "pass":
      return State.record(state, pass, now, HISTORY).state
    case "fail":
      return State.record(state, fail, now, HISTORY).state
    default: {
      const outcome = State[op](state, now, HISTORY)
      return outcome._tag === "Applied" ? outcome.step.state : state
    }
  }
}

/** Any reachable state: a fresh backend after a random sequence of inputs. */
const reachableArb = fc
  .tuple(thresholdsArb, fc.boolean(), fc.array(opArb, { maxLength: 30 }))
  .map(([t, enabled, ops]) => ops.reduce((s, op, i) => apply(s, op, i), State.initial(t, enabled)))

const feed = (state: State.BackendState, results: ReadonlyArray<ProbeResult>) =>
  results.reduce((s, r, i) => State.record(s, r, 1000 + i, HISTORY).state, state)

describe("health state machine", () => {
  it("starts unknown with the counter at rise-1, or disabled", () => {
    expect(State.initial({ rise: 3, fall: 2 }, true)).toMatchObject({ status: "unknown", counter: 2 })
    expect(State.initial({ rise: 3, fall: 2 }, false)).toMatchObject({ status: "disabled" })
  })

  it("follows the documented example: rise 2, fall 3, max 4", () => {
    let s = State.initial({ rise: 2, fall: 3 }, true)
    s = State.record(s, pass, 1, HISTORY).state
    expect(s).toMatchObject({ status: "up", counter: 2 })
    s = feed(s, [pass, pass, pass])
    expect(s.counter).toBe(4)
    s = feed(s, [fail, fail])
    expect(s).toMatchObject({ status: "up", counter: 2 })
    s = feed(s, [fail])
    expect(s).toMatchObject({ status: "down", counter: 1 })
    s = feed(s, [pass])
    expect(s).toMatchObject({ status: "up", counter: 2 })
  })

  it.prop("one pass from unknown is up; one fail is down at 0", [thresholdsArb, fc.boolean()], ([t, ok]) => {
    const step = State.record(State.initial(t, true), ok ? pass : fail, 7, HISTORY)
    expect(step.state.status).toBe(ok ? "up" : "down")
    expect(step.state.counter).toBe(ok ? t.rise : 0)
    expect(step.transition).toEqual({ at: 7, from: "unknown", to: step.state.status, cause: "probe", result: ok ? pass : fail })
  })

  it.prop("the counter stays within 0..rise+fall-1 and up iff counter >= rise", [reachableArb, resultsArb], ([s, rs]) => {
    let state = s
    for (const r of rs) {
      state = State.record(state, r, 0, HISTORY).state
      expect(state.counter).toBeGreaterThanOrEqual(0)
      expect(state.counter).toBeLessThanOrEqual(State.maxCounter(state))
      if (state.status === "up") expect(state.counter).toBeGreaterThanOrEqual(state.rise)
      if (state.status === "down") expect(state.counter).toBeLessThan(state.rise)
    }
  })

  it.prop("isSteady and counterAfter say what record does: steady exactly when active and no transition", [reachableArb, fc.boolean()], ([s, ok]) => {
    const step = State.record(s, ok ? pass : fail, 9, HISTORY)
    expect(State.isSteady(s, ok)).toBe(!State.isInactive(s.status) && step.transition === undefined)
    if (!State.isInactive(s.status)) expect(State.counterAfter(s, ok)).toBe(step.state.counter)
  })

  it.prop("from any active state, `fall` consecutive fails end in down", [reachableArb], ([s]) => {
    fc.pre(!State.isInactive(s.status))
    const after = feed(s, Array.from({ length: s.fall }, () => fail))
    expect(after.status).toBe("down")
  })

  it.prop("from any active state, `rise` consecutive passes end in up", [reachableArb], ([s]) => {
    fc.pre(!State.isInactive(s.status))
    expect(feed(s, Array.from({ length: s.rise }, () => pass)).status).toBe("up")
  })

  it.prop("a fully up backend needs exactly `fall` fails to go down", [thresholdsArb], ([t]) => {
    const up = feed(State.initial(t, true), Array.from({ length: t.rise + t.fall }, () => pass))
    expect(up.counter).toBe(State.maxCounter(t))
    expect(feed(up, Array.from({ length: t.fall - 1 }, () => fail)).status).toBe("up")
    expect(feed(up, Array.from({ length: t.fall }, () => fail)).status).toBe("down")
  })

  it.prop("a fully down backend needs exactly `rise` passes to come up", [thresholdsArb], ([t]) => {
    const down = feed(State.initial(t, true), Array.from({ length: 10 }, () => fail))
    expect(down).toMatchObject({ status: "down", counter: 0 })
    expect(feed(down, Array.from({ length: t.rise - 1 }, () => pass)).status).toBe("down")
    expect(feed(down, Array.from({ length: t.rise }, () => pass)).status).toBe("up")
  })

  it.prop("inactive states ignore probe results entirely", [reachableArb, resultsArb], ([s, rs]) => {
    fc.pre(State.isInactive(s.status))
    for (const r of rs) {
      const step = State.record(s, r, 99, HISTORY)
      expect(step.state).toBe(s)
      expect(step.transition).toBeUndefined()
    }
  })

  it.prop("every status change is recorded, at most `history` kept, newest last", [
    thresholdsArb,
    fc.array(opArb, { maxLength: 60 }),
    fc.integer({ min: 1, max: 8 })
  ], ([t, ops, history]) => {
    let s = State.initial(t, true)
    const seen: Array<State.Transition> = []
    ops.forEach((op, i) => {
      const step = op === "pass" || op === "fail"
        ? State.record(s, op === "pass" ? pass : fail, i, history)
        : ((o) => (o._tag === "Applied" ? o.step : { state: s, transition: undefined }))(State[op](s, i, history))
      if (step.state.status !== s.status) {
        expect(step.transition).toMatchObject({ from: s.status, to: step.state.status, at: i })
        seen.push(step.transition!)
      } else {
        expect(step.transition).toBeUndefined()
      }
      s = step.state
    })
    expect(s.transitions).toEqual(seen.slice(-history))
  })

  it.prop("probe transitions carry the result that caused them", [reachableArb, resultsArb], ([s, rs]) => {
    let state = s
    for (const r of rs) {
      const step = State.record(state, r, 5, HISTORY)
      if (step.transition !== undefined) expect(step.transition.result).toBe(r)
      state = step.state
    }
  })

  describe("operator actions", () => {
    const t = { rise: 2, fall: 3 }
    const up = feed(State.initial(t, true), [pass, pass, pass])

    it("pause keeps the counter, resume goes to unknown with the counter preloaded and history kept", () => {
      const paused = State.pause(up, 10, HISTORY)
      expect(paused._tag).toBe("Applied")
      const p = (paused as { step: State.Step }).step
      expect(p.state).toMatchObject({ status: "paused", counter: 4 })
      expect(p.transition).toMatchObject({ from: "up", to: "paused", cause: "pause", result: undefined })
      const resumed = State.resume(p.state, 11, HISTORY)
      const r = (resumed as { step: State.Step }).step
      expect(r.state).toMatchObject({ status: "unknown", counter: 1 })
      expect(r.state.transitions.map((x) => x.to)).toEqual(["up", "paused", "unknown"])
    })

    it("pause and resume are refused on a disabled backend", () => {
      const disabled = State.initial(t, false)
      expect(State.pause(disabled, 1, HISTORY)).toMatchObject({ _tag: "Refused" })
      expect(State.resume(disabled, 1, HISTORY)).toMatchObject({ _tag: "Refused" })
    })

    it.prop("enable and disable are idempotent", [reachableArb], ([s]) => {
      fc.pre(s.status !== "removed")
      const once = State.disable(s, 1, HISTORY)
      const d = (once as { step: State.Step }).step.state
      const twice = State.disable(d, 2, HISTORY)
      expect(twice).toEqual({ _tag: "Applied", step: { state: d, transition: undefined } })
      const e = (State.enable(d, 3, HISTORY) as { step: State.Step }).step.state
      expect(e).toMatchObject({ status: "unknown", counter: s.rise - 1 })
      expect(State.enable(e, 4, HISTORY)).toEqual({ _tag: "Applied", step: { state: e, transition: undefined } })
    })

    it("every action is refused on a removed backend", () => {
      const removed = State.remove(up, 1, HISTORY).state
      for (const action of ["pause", "resume", "enable", "disable"] as const) {
        expect(State[action](removed, 2, HISTORY)._tag).toBe("Refused")
      }
    })

    it("restart on reload goes to unknown (or disabled) with the new thresholds, keeping history", () => {
      const step = State.restart(up, { rise: 4, fall: 1 }, true, 9, HISTORY)
      expect(step.state).toMatchObject({ status: "unknown", counter: 3, rise: 4, fall: 1 })
      expect(step.transition).toMatchObject({ from: "up", to: "unknown", cause: "reload" })
      expect(State.restart(up, t, false, 9, HISTORY).state.status).toBe("disabled")
    })
  })

  describe("delays", () => {
    it.prop("the interval kind follows the counter", [reachableArb], ([s]) => {
      const kind = State.intervalKind(s)
      if (s.status === "up" && s.counter === State.maxCounter(s)) expect(kind).toBe("interval")
      else if (s.status === "down" && s.counter === 0) expect(kind).toBe("down-interval")
      else expect(kind).toBe("fast-interval")
    })

    it.prop("jitter stays within ±10% of the base", [
      fc.integer({ min: 1, max: 3_600_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
    ], ([base, r]) => {
      const d = State.jitter(base, r)
      expect(d).toBeGreaterThanOrEqual(base * 0.9 - 1e-9)
      expect(d).toBeLessThan(base * 1.1 + 1e-9)
    })

    it("jitter spans the whole ±10% band", () => {
      expect(State.jitter(1000, 0)).toBeCloseTo(900)
      expect(State.jitter(1000, 0.5)).toBeCloseTo(1000)
      expect(State.jitter(1000, 0.999999)).toBeCloseTo(1100, 2)
    })

    it.prop("the first probe is within the interval", [
      fc.integer({ min: 1, max: 100_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
    ], ([interval, r]) => {
      const d = State.firstDelay(interval, r)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThan(interval)
    })

    it.prop("a first probe spread from an earlier start: due at the same instant, or at once when that is past", [
      fc.integer({ min: 1, max: 100_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.integer({ min: 0, max: 200_000 })
    ], ([interval, r, elapsed]) => {
      const d = State.firstDelay(interval, r, elapsed)
      expect(d).toBeGreaterThanOrEqual(0)
      // From the start: the offset it would have had then, unless that has passed.
      expect(elapsed + d).toBeCloseTo(Math.max(elapsed, interval * r), 6)
    })

    it("a backend built late in the start-up keeps the start's offset, not an interval of its own", () => {
      expect(State.firstDelay(1000, 0.75, 300)).toBeCloseTo(450)
      expect(State.firstDelay(1000, 0.25, 300)).toBe(0)
      expect(State.firstDelay(1000, 0.5, 0)).toBeCloseTo(500)
    })
  })

  it("every code is either a pass or a fail", () => {
    expect(PROBE_CODES.filter((c) => probeResult(c, 0, "").ok)).toEqual(["L3OK", "L4OK", "L6OK", "L7OK"])
  })
})
