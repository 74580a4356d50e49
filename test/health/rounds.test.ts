/**
 * Rounds.runRounds, the live driver of a backend's probe rounds: steady
 * rounds run without waking anyone, the first round that needs the Effect
 * world (a transition, a round not counted, a defect) stops the rounds and
 * wakes the caller once, and cancelling cancels the round in flight. Driven
 * by a hand-held prober: the test delivers each outcome itself, so nothing
 * here depends on time.
 */
import { describe, expect, it } from "@effect/vitest"
import * as State from "../../src/health/HealthState.js"
import * as ProbeActivity from "../../src/health/ProbeActivity.js"
import type { ProbeRequest, ProbeTarget } from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import * as Rounds from "../../src/health/Rounds.js"
import { type ProbeOutcome, SELF_LATE_FRACTION, skipped } from "../../src/health/SelfLate.js"
import * as Metrics from "../../src/metrics/Metrics.js"
import { httpCheck } from "../support/probes.js"

const TIMEOUT_MS = 1000
const hc = httpCheck(80, {}, { timeoutMs: TIMEOUT_MS })
const INTERVAL_MS = 5000 // test/support/probes.ts's interval

interface Held {
  readonly request: ProbeRequest
  readonly deliver: (o: ProbeOutcome) => void
  cancelled: boolean
}

/** A prober whose probes the test answers by hand. */
const handProber = () => {
  const held: Array<Held> = []
  const start: Rounds.StartRound = (request, deliver) => {
    const h: Held = { request, deliver, cancelled: false }
    held.push(h)
    return () => {
      h.cancelled = true
    }
  }
  return { held, start }
}

let serial = 0
const setup = (state: State.BackendState) => {
  const name = `rounds-${serial++}`
  const target: ProbeTarget = { backend: name, address: "192.0.2.1", healthcheck: hc, netns: "" }
  const cell = new Rounds.Cell(state)
  const ctx = Rounds.context(target, cell, Metrics.probeRecorder(name, "http"), () => 10)
  return { ctx, cell, name }
}

/** Up and fully healthy. */
const up = (): State.BackendState => ({
  ...State.initial({ rise: 2, fall: 3 }, true),
  status: "up",
  counter: 4,
  lastProbeAt: Date.now() - INTERVAL_MS
})

const ok = (): ProbeResult => probeResult("L7OK", 2, "HTTP 200 OK")
const refused = (): ProbeResult => probeResult("L4CON", 1, "connect ECONNREFUSED")

describe("Rounds.runRounds", () => {
  it("runs steady rounds without waking, each due an interval (±10 %) after the last started", () => {
    const { ctx, cell, name } = setup(up())
    const p = handProber()
    const woken: Array<unknown> = []
    const due0 = Date.now() - 1
    Rounds.runRounds(ctx, due0, p.start, (d) => woken.push(d), (e) => woken.push(e))
    for (let i = 0; i < 20; i++) {
      expect(p.held).toHaveLength(i + 1)
      const before = Date.now()
      p.held[i]!.deliver(ok())
      const after = Date.now()
      const next = p.held[i + 1]!.request.scheduledAt
      // Started at max(due, decided - duration), so the next is 0.9..1.1 intervals after that.
      const startedLo = Math.min(before, Math.max(p.held[i]!.request.scheduledAt, before - 2))
      expect(next).toBeGreaterThanOrEqual(startedLo + 0.9 * INTERVAL_MS)
      expect(next).toBeLessThanOrEqual(after + 1.1 * INTERVAL_MS)
      expect(p.held[i + 1]!.request.skipIfLateMs).toBe(INTERVAL_MS / 2)
    }
    expect(woken).toEqual([])
    expect(cell.get().status).toBe("up")
    expect(cell.get().lastResult?.code).toBe("L7OK")
    expect(Metrics.probeCounts(name, "http")?.count).toBe(20)
  })

  it("stops and wakes once at a transition, with the new health in the cell", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    const woken: Array<Rounds.Decision<State.BackendState>> = []
    Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), (e) => {
      throw e
    })
    // fall 3 from a full counter (rise + fall - 1 = 4): down when the counter drops below rise.
    p.held[0]!.deliver(refused())
    p.held[1]!.deliver(refused())
    expect(woken).toEqual([])
    p.held[2]!.deliver(refused())
    expect(woken).toHaveLength(1)
    const d = woken[0]!
    expect(d._tag).toBe("Transition")
    if (d._tag !== "Transition") return
    expect(d.transition.from).toBe("up")
    expect(d.transition.to).toBe("down")
    expect(d.health).toBe(cell.get())
    // The rounds stopped: no fourth probe until the caller runs them again from d.due.
    expect(p.held).toHaveLength(3)
    const again = handProber()
    Rounds.runRounds(ctx, d.due, again.start, () => {}, () => {})
    expect(again.held[0]!.request.scheduledAt).toBe(d.due)
  })

  it("wakes for a round not counted (a late start, a timeout while maglevd was late) and leaves the cell alone", () => {
    for (
      const [outcome, reason] of [
        [skipped(3000), "start"],
        [{ ...probeResult("L7TOUT", TIMEOUT_MS + 400, "timeout"), selfLateMs: SELF_LATE_FRACTION * TIMEOUT_MS + 1 }, "timeout"]
      ] as const
    ) {
      const { ctx, cell, name } = setup(up())
      const before = cell.get()
      const p = handProber()
      const woken: Array<Rounds.Decision<State.BackendState>> = []
      Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), () => {})
      const t0 = Date.now()
      p.held[0]!.deliver(outcome)
      expect(woken).toHaveLength(1)
      const d = woken[0]!
      expect(d._tag).toBe("SelfLate")
      if (d._tag !== "SelfLate") return
      expect(d.reason).toBe(reason)
      // Put off by the lateness, then spread over [0.5, 1.5) intervals.
      const late = reason === "start" ? 3000 : SELF_LATE_FRACTION * TIMEOUT_MS + 1
      expect(d.due).toBeGreaterThanOrEqual(t0 + late + 0.5 * INTERVAL_MS)
      expect(d.due).toBeLessThan(Date.now() + late + 1.5 * INTERVAL_MS)
      expect(cell.get()).toBe(before)
      expect(Metrics.probeCounts(name, "http")).toSatisfy((c) => c === undefined || c.count === 0)
      expect(p.held).toHaveLength(1)
    }
  })

  it("a first round that started too late (the daemon was starting) is spread again over one interval, without the back-off", () => {
    const { ctx, cell } = setup(State.initial({ rise: 2, fall: 3 }, true))
    const p = handProber()
    const woken: Array<Rounds.Decision<State.BackendState>> = []
    Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), () => {})
    const t0 = Date.now()
    p.held[0]!.deliver(skipped(30_000))
    const d = woken[0]!
    expect(d._tag).toBe("SelfLate")
    // unknown asks for the fast interval (test/support/probes.ts: 2 s); [0, 1) of it from now.
    const fast = 2000
    expect(d.due).toBeGreaterThanOrEqual(t0)
    expect(d.due).toBeLessThan(Date.now() + fast)
    expect(cell.get().lastProbeAt).toBeUndefined()
  })

  it("a round not counted that `absorb` takes goes on without waking; one it refuses wakes", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    const woken: Array<Rounds.Decision<State.BackendState>> = []
    let take = true
    const absorbed: Array<string> = []
    Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), () => {}, (d) => {
      absorbed.push(d.reason)
      return take
    })
    const before = cell.get()
    p.held[0]!.deliver(skipped(3000))
    p.held[1]!.deliver({ ...probeResult("L4TOUT", TIMEOUT_MS, "timeout"), selfLateMs: TIMEOUT_MS })
    expect(woken).toEqual([])
    expect(absorbed).toEqual(["start", "timeout"])
    expect(p.held).toHaveLength(3)
    expect(cell.get()).toBe(before)
    // When absorb refuses (the log line must go out), the round not counted wakes the caller.
    take = false
    p.held[2]!.deliver(skipped(3000))
    expect(woken.map((d) => d._tag)).toEqual(["SelfLate"])
    expect(p.held).toHaveLength(3)
  })

  it("a timeout while maglevd was on time is counted", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    const woken: Array<unknown> = []
    Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), () => {})
    p.held[0]!.deliver({ ...probeResult("L7TOUT", TIMEOUT_MS, "timeout"), selfLateMs: SELF_LATE_FRACTION * TIMEOUT_MS })
    expect(woken).toEqual([])
    expect(cell.get().counter).toBe(3)
    expect(p.held).toHaveLength(2)
  })

  it("cancelling cancels the round in flight, and a late delivery is ignored", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    const woken: Array<unknown> = []
    const cancel = Rounds.runRounds(ctx, Date.now(), p.start, (d) => woken.push(d), (e) => woken.push(e))
    p.held[0]!.deliver(ok())
    const before = cell.get()
    cancel()
    expect(p.held[0]!.cancelled).toBe(false)
    expect(p.held[1]!.cancelled).toBe(true)
    p.held[1]!.deliver(refused())
    expect(cell.get()).toBe(before)
    expect(woken).toEqual([])
    expect(p.held).toHaveLength(2)
  })

  it("a probe that answers at once (inside start) does not leave a stale cancel behind", () => {
    const { ctx } = setup(up())
    const calls: Array<{ cancelled: boolean; deliver: (o: ProbeOutcome) => void }> = []
    const start: Rounds.StartRound = (_request, deliver) => {
      const h = { cancelled: false, deliver }
      calls.push(h)
      if (calls.length === 1) deliver(ok()) // the first answers synchronously; the second waits
      return () => {
        h.cancelled = true
      }
    }
    const cancel = Rounds.runRounds(ctx, Date.now(), start, () => {}, () => {})
    expect(calls).toHaveLength(2)
    cancel()
    expect(calls[1]!.cancelled).toBe(true)
  })

  it("a defect in a round goes to `defect` and stops the rounds", () => {
    const { ctx } = setup(up())
    const p = handProber()
    const defects: Array<unknown> = []
    const broken = { ...ctx, recorder: { record: () => { throw new Error("boom") } } }
    Rounds.runRounds(broken, Date.now(), p.start, () => {}, (e) => defects.push(e))
    p.held[0]!.deliver(ok())
    expect(defects).toHaveLength(1)
    expect((defects[0] as Error).message).toBe("boom")
    expect(p.held).toHaveLength(1)
  })

  it("tells the probe listeners (only while there are any) when each probe is handed over, with its due time, and when it ends", () => {
    const { ctx, name } = setup(up())
    const p = handProber()
    const seen: Array<string> = []
    expect(ProbeActivity.listeners).toBeNull()
    const cancel = Rounds.runRounds(ctx, 1234, p.start, () => {}, () => {})
    const stop = ProbeActivity.listen({
      start: (backend, due) => seen.push(`start ${backend} ${due}`),
      end: (backend, at) => seen.push(`end ${backend} ${at >= 1234}`)
    })
    p.held[0]!.deliver(ok())
    expect(seen).toEqual([`end ${name} true`, `start ${name} ${p.held[1]!.request.scheduledAt}`])
    // Stopping the rounds ends the probe in flight.
    cancel()
    expect(seen.at(-1)).toBe(`end ${name} true`)
    stop()
    expect(ProbeActivity.listeners).toBeNull()
    Rounds.runRounds(ctx, Date.now(), handProber().start, () => {}, () => {})
    expect(seen).toHaveLength(3)
  })

  it("steady rounds change the rounds' own copy in place; what a reader got never changes", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    Rounds.runRounds(ctx, Date.now(), p.start, () => {}, (e) => {
      throw e
    })
    p.held[0]!.deliver(ok())
    // The first steady round after a read (setup's state was handed in) copies it; the next ones
    // change that copy: no new state, no new result per round.
    const own = cell.peek()
    const ownResult = own.lastResult
    p.held[1]!.deliver(probeResult("L7OK", 7, "HTTP 200 OK"))
    p.held[2]!.deliver(refused())
    expect(cell.peek()).toBe(own)
    expect(cell.peek().lastResult).toBe(ownResult)
    expect(cell.peek()).toMatchObject({ status: "up", counter: 3, lastResult: { ok: false, code: "L4CON", durationMs: 1 } })
    // A reader's value is frozen from then on: the next round copies before it writes.
    const read = cell.get()
    const copy = structuredClone(read)
    p.held[3]!.deliver(ok())
    p.held[4]!.deliver(ok())
    expect(read).toEqual(copy)
    expect(cell.get()).not.toBe(read)
    expect(cell.get()).toMatchObject({ status: "up", counter: 4, lastResult: { ok: true, code: "L7OK" } })
  })

  it("a transition's health is never changed by the steady rounds after it", () => {
    const { ctx, cell } = setup(up())
    const p = handProber()
    const woken: Array<Rounds.Decision<State.BackendState>> = []
    const wake = (d: Rounds.Decision<State.BackendState>) => {
      woken.push(d)
      Rounds.runRounds(ctx, d.due, p.start, wake, () => {})
    }
    Rounds.runRounds(ctx, Date.now(), p.start, wake, () => {})
    for (let i = 0; i < 3; i++) p.held[i]!.deliver(refused())
    const d = woken[0]!
    if (d._tag !== "Transition") throw new Error(`expected a transition, got ${d._tag}`)
    const copy = structuredClone(d.health)
    for (let i = 3; i < 6; i++) p.held[i]!.deliver(refused())
    expect(d.health).toEqual(copy)
    expect(cell.get()).toMatchObject({ status: "down", counter: 0 })
  })

  it("a counted round keeps the cell's own fields beside the state machine's", () => {
    const { cell, ctx } = setup(up())
    const extra = { ...up(), name: "b1", address: "192.0.2.1", healthcheck: "http" }
    cell.set(extra)
    const steady = Rounds.decide(ctx, ok(), Date.now(), Date.now(), 0.5)
    expect(steady._tag).toBe("Steady")
    expect(cell.get()).toMatchObject({ name: "b1", address: "192.0.2.1", healthcheck: "http", status: "up" })
    const down = [1, 2, 3].map(() => Rounds.decide(ctx, probeResult("L7STS", 2, "HTTP 503"), Date.now(), Date.now(), 0.5))
    expect(down.at(-1)).toMatchObject({ _tag: "Transition", health: { name: "b1", status: "down" } })
    expect(cell.get()).toMatchObject({ name: "b1", address: "192.0.2.1", healthcheck: "http", status: "down" })
  })
})
