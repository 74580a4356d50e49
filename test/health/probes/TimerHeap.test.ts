/**
 * The one timer behind every round's due time (src/health/probes/internal/TimerHeap.ts)
 * and the reusable round it drives (ScheduledStart in internal/Scheduled.ts), under
 * vitest's fake timers: the heap's clock is the fake one, so nothing here waits for real time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { ProbeResult } from "../../../src/health/ProbeResult.js"
import { probeResult } from "../../../src/health/ProbeResult.js"
import { ScheduledStart } from "../../../src/health/probes/internal/Scheduled.js"
import { type TimerEntry, TimerHeap } from "../../../src/health/probes/internal/TimerHeap.js"
import type { ProbeOutcome } from "../../../src/health/SelfLate.js"

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] })
})
afterEach(() => {
  vi.useRealTimers()
})

const entry = (name: string, log: Array<string>, then?: () => void): TimerEntry => ({
  at: 0,
  heapIndex: -1,
  fire: () => {
    log.push(`${name}@${performance.now()}`)
    then?.()
  }
})

describe("TimerHeap", () => {
  it("fires each entry once, at its time, in time order, with one Node timer armed", () => {
    const heap = new TimerHeap()
    const log: Array<string> = []
    const t0 = performance.now()
    // Shuffled times, more than a heap level or two.
    const times = [70, 10, 50, 30, 90, 20, 80, 40, 60, 100, 5, 55]
    for (const [i, t] of times.entries()) heap.schedule(entry(`e${i}`, log), t0 + t)
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(100)
    expect(log).toEqual([...times].sort((a, b) => a - b).map((t) => `e${times.indexOf(t)}@${t0 + t}`))
    expect(heap.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("a cancelled entry does not fire; a rescheduled one fires at its new time only", () => {
    const heap = new TimerHeap()
    const log: Array<string> = []
    const t0 = performance.now()
    const a = entry("a", log)
    const b = entry("b", log)
    const c = entry("c", log)
    heap.schedule(a, t0 + 10)
    heap.schedule(b, t0 + 20)
    heap.schedule(c, t0 + 30)
    heap.cancel(a)
    heap.cancel(a)
    heap.schedule(c, t0 + 5)
    expect(a.heapIndex).toBe(-1)
    vi.advanceTimersByTime(50)
    expect(log).toEqual([`c@${t0 + 5}`, `b@${t0 + 20}`])
    // The last entry cancelled: no timer is left to hold the process.
    heap.schedule(a, performance.now() + 1000)
    expect(vi.getTimerCount()).toBe(1)
    heap.cancel(a)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("an entry scheduled by one firing, for now, fires in a later turn, not in the same loop", () => {
    const heap = new TimerHeap()
    const log: Array<string> = []
    const t0 = performance.now()
    let again = 0
    const e: TimerEntry = entry("e", log, () => {
      if (++again < 3) heap.schedule(e, performance.now())
    })
    heap.schedule(e, t0 + 10)
    vi.advanceTimersByTime(10)
    expect(log).toHaveLength(1)
    vi.advanceTimersByTime(5)
    expect(log).toHaveLength(3)
  })
})

describe("ScheduledStart", () => {
  /** A probe started by hand: `answer` delivers, `cancelled` counts cancels. */
  const prober = () => {
    const state = { started: 0, cancelled: 0, deliver: undefined as ((r: ProbeResult) => void) | undefined, sync: undefined as ProbeResult | undefined }
    const start = (deliver: (r: ProbeResult) => void) => {
      state.started++
      if (state.sync !== undefined) {
        deliver(state.sync)
        return () => void state.cancelled++
      }
      state.deliver = deliver
      return () => void state.cancelled++
    }
    return { state, start }
  }

  it("runs round after round on one object: waits, probes, delivers, and measures how late the start was", () => {
    const heap = new TimerHeap()
    const { start, state } = prober()
    const late: Array<number> = []
    const slot = new ScheduledStart(start, (ms) => late.push(ms), heap)
    const outcomes: Array<ProbeOutcome> = []
    slot.schedule(100, undefined, (o) => outcomes.push(o))
    expect(slot.busy).toBe(true)
    vi.advanceTimersByTime(99)
    expect(state.started).toBe(0)
    vi.advanceTimersByTime(1)
    expect(state.started).toBe(1)
    state.deliver!(probeResult("L7OK", 1, "HTTP 200 OK"))
    expect(outcomes).toMatchObject([{ code: "L7OK" }])
    expect(slot.busy).toBe(false)
    expect(late).toEqual([0])
    // The next round on the same object.
    slot.schedule(50, undefined, (o) => outcomes.push(o))
    vi.advanceTimersByTime(50)
    state.deliver!(probeResult("L7STS", 1, "HTTP 503"))
    expect(outcomes.map((o) => "code" in o && o.code)).toEqual(["L7OK", "L7STS"])
  })

  it("skips a round whose start is later than allowed, without probing", () => {
    const heap = new TimerHeap()
    const { start, state } = prober()
    const slot = new ScheduledStart(start, () => {}, heap)
    const outcomes: Array<ProbeOutcome> = []
    slot.schedule(-700, 500, (o) => outcomes.push(o))
    expect(state.started).toBe(0)
    expect(outcomes).toEqual([{ _tag: "ProbeSkipped", lateMs: 700 }])
    expect(slot.startLateMs).toBe(700)
  })

  it("cancels the wait or the probe in flight; nothing is delivered", () => {
    const heap = new TimerHeap()
    const { start, state } = prober()
    const slot = new ScheduledStart(start, () => {}, heap)
    const outcomes: Array<ProbeOutcome> = []
    slot.schedule(100, undefined, (o) => outcomes.push(o))
    slot.cancel()
    vi.advanceTimersByTime(200)
    expect(state.started).toBe(0)
    slot.schedule(10, undefined, (o) => outcomes.push(o))
    vi.advanceTimersByTime(10)
    expect(state.started).toBe(1)
    slot.cancel()
    expect(state.cancelled).toBe(1)
    expect(outcomes).toEqual([])
    expect(slot.busy).toBe(false)
  })

  it("a probe that answers at once may start the next round from its deliver; that round keeps its own cancel", () => {
    const heap = new TimerHeap()
    const { start, state } = prober()
    state.sync = probeResult("L4CON", 0, "not an IP address")
    const slot = new ScheduledStart(start, () => {}, heap)
    const outcomes: Array<ProbeOutcome> = []
    const deliver = (o: ProbeOutcome) => {
      outcomes.push(o)
      if (outcomes.length === 1) {
        state.sync = undefined
        slot.schedule(0, undefined, deliver)
      }
    }
    slot.schedule(0, undefined, deliver)
    // The second round is in flight: cancelling it cancels its probe, not the first one's.
    expect(state.started).toBe(2)
    expect(slot.busy).toBe(true)
    slot.cancel()
    expect(state.cancelled).toBe(1)
    expect(outcomes).toHaveLength(1)
  })
})
