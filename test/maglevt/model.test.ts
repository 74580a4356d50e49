/**
 * maglevt's pure core: the rolling latency window, the header tally, error
 * classing and the bounded log, the model that ties them, and the plain-mode
 * event filter. Time is an argument here, so every case is exact.
 */
import { it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { describe, expect } from "vitest"
import { classify, ERROR_CLASSES, ErrorLog, SPIKE_FACTOR, SPIKE_FLOOR_MS, SPIKE_MIN_SAMPLES } from "../../src/maglevt/Errors.js"
import { LatencyWindow, nearestRank } from "../../src/maglevt/Latency.js"
import { Monitor } from "../../src/maglevt/Monitor.js"
import * as O from "../../src/maglevt/Outcome.js"
import { PlainEvents, reportLine } from "../../src/maglevt/Plain.js"
import { NO_HEADER, SERVING_MS, Tally } from "../../src/maglevt/Tally.js"
import type { Target } from "../../src/maglevt/Targets.js"

const web: Target = { name: "web", address: "127.0.0.10", family: 4, port: 80, kind: "http", endpoint: "127.0.0.10:80" }
const db: Target = { name: "db", address: "127.0.0.20", family: 4, port: 5432, kind: "tcp", endpoint: "127.0.0.20:5432" }

describe("latency window", () => {
  it("nearest rank: p50 of 1..10 is 5, p95 and p99 are 10", () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    expect([nearestRank(s, 0.5), nearestRank(s, 0.95), nearestRank(s, 0.99)]).toEqual([5, 10, 10])
    expect(nearestRank([7], 0.5)).toBe(7)
  })

  it.prop("percentiles are those of the samples still in the window", [
    fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.double({ min: 0, max: 5000, noNaN: true })), { minLength: 1, maxLength: 200 }),
    fc.integer({ min: 1, max: 1000 }),
    fc.integer({ min: 1, max: 50 })
  ], ([steps, windowMs, capacity]) => {
    const w = new LatencyWindow(windowMs, capacity)
    const all: Array<[number, number]> = []
    let now = 0
    for (const [dt, ms] of steps) {
      now += dt
      w.add(now, ms)
      all.push([now, ms])
    }
    const kept = all.filter(([at]) => at >= now - windowMs).slice(-capacity).map(([, ms]) => ms).sort((a, b) => a - b)
    const p = w.percentiles(now)
    expect(p).toEqual(
      kept.length === 0
        ? undefined
        : { p50: nearestRank(kept, 0.5), p95: nearestRank(kept, 0.95), p99: nearestRank(kept, 0.99), max: kept.at(-1), samples: kept.length }
    )
  })

  it("empties as time passes", () => {
    const w = new LatencyWindow(1000, 100)
    w.add(0, 5)
    expect(w.p50(1000)).toBe(5)
    expect(w.p50(1001)).toBeUndefined()
  })

  it("keeps its arrays small over a long run", () => {
    const w = new LatencyWindow(1000, 50)
    for (let t = 0; t < 100_000; t += 10) w.add(t, t % 7)
    expect(w.size).toBe(50)
    expect((w as unknown as { at: Array<number> }).at.length).toBeLessThan(3000)
  })
})

describe("header tally", () => {
  it("serves while seen within the window, then is drained; changes are reported once", () => {
    const t = new Tally()
    t.record("web1", 0)
    t.record("web2", 100)
    t.record("web1", 200)
    expect(t.changes(200)).toEqual([{ value: "web1", state: "serving" }, { value: "web2", state: "serving" }])
    expect(t.changes(300)).toEqual([])
    expect(t.entries(SERVING_MS + 100).map((e) => [e.value, e.count, e.state])).toEqual([["web1", 2, "serving"], ["web2", 1, "serving"]])
    expect(t.changes(SERVING_MS + 101)).toEqual([{ value: "web2", state: "drained" }])
    expect(t.entries(SERVING_MS + 101).map((e) => [e.value, e.state])).toEqual([["web1", "serving"], ["web2", "drained"]])
    t.record("web2", SERVING_MS + 500)
    expect(t.changes(SERVING_MS + 500)).toEqual([{ value: "web1", state: "drained" }, { value: "web2", state: "serving" }])
  })

  it.prop("counts add up to the records; serving is exactly what was seen in the last window", [
    fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), fc.integer({ min: 0, max: 3000 })), { maxLength: 100 })
  ], ([records]) => {
    const t = new Tally()
    let now = 0
    const last = new Map<string, number>()
    for (const [value, dt] of records) {
      now += dt
      t.record(value, now)
      last.set(value, now)
    }
    const entries = t.entries(now)
    expect(entries.reduce((n, e) => n + e.count, 0)).toBe(records.length)
    for (const e of entries) expect(e.state).toBe(now - last.get(e.value)! <= SERVING_MS ? "serving" : "drained")
    // Serving ones first.
    const states = entries.map((e) => e.state)
    expect(states).toEqual([...states].sort((a, b) => (a === b ? 0 : a === "serving" ? -1 : 1)))
  })
})

describe("error classes", () => {
  const median = { p50: 2, samples: SPIKE_MIN_SAMPLES }
  it("classes timeouts, HTTP statuses and network failures", () => {
    expect(classify(O.timeout(1000, "connect"), median)?.class).toBe("timeout")
    expect(classify(O.httpStatus(3, 503, "web2"), median)).toEqual({ class: "http", detail: "HTTP 503 from web2" })
    expect(classify(O.network(1, "refused", "connect ECONNREFUSED 127.0.0.1:80"), median)).toEqual({
      class: "network",
      detail: "refused: connect ECONNREFUSED 127.0.0.1:80"
    })
    expect(classify(O.ok(3, 200, "web1"), median)).toBeUndefined()
  })

  it("a spike is slower than the floor and than 3x the median, once there are enough samples", () => {
    const slow = O.ok(SPIKE_FLOOR_MS + 1, 200, "web1")
    expect(classify(slow, median)?.class).toBe("spike")
    expect(classify(slow, { p50: 2, samples: SPIKE_MIN_SAMPLES - 1 })).toBeUndefined()
    expect(classify(slow, undefined)).toBeUndefined()
    expect(classify(O.ok(SPIKE_FLOOR_MS, 200), median)).toBeUndefined()
    expect(classify(O.ok(300, 200), { p50: 100, samples: 20 })).toBeUndefined()
    expect(classify(O.ok(301, 200), { p50: 100, samples: 20 })?.class).toBe("spike")
  })

  it.prop("an answer is a spike exactly when it passes both bounds", [
    fc.double({ min: 0, max: 10_000, noNaN: true }),
    fc.double({ min: 0, max: 1_000, noNaN: true }),
    fc.integer({ min: 0, max: 100 })
  ], ([latency, p50, samples]) => {
    const spike = classify(O.ok(latency), { p50, samples })?.class === "spike"
    expect(spike).toBe(samples >= SPIKE_MIN_SAMPLES && latency > SPIKE_FLOOR_MS && latency > SPIKE_FACTOR * p50)
  })

  it("the log keeps the last N distinct errors, the most recent first, and counts every class for ever", () => {
    const log = new ErrorLog(3)
    for (let i = 0; i < 5; i++) log.add({ at: i, vip: "web", class: ERROR_CLASSES[i % 4]!, detail: String(i) })
    expect(log.recent().map((e) => e.detail)).toEqual(["4", "3", "2"])
    expect(log.counts).toEqual({ timeout: 2, http: 1, network: 1, spike: 1 })
    // The same error again: counted in its entry, which moves to the front.
    log.add({ at: 10, vip: "web", class: "network", detail: "2" })
    log.add({ at: 11, vip: "web", class: "network", detail: "2" })
    expect(log.recent().map((e) => [e.detail, e.count, e.first, e.at])).toEqual([["2", 3, 2, 11], ["4", 1, 4, 4], ["3", 1, 3, 3]])
    expect(log.counts.network).toBe(3)
    // The same detail from another VIP is another error.
    log.add({ at: 12, vip: "api", class: "network", detail: "2" })
    expect(log.recent().map((e) => `${e.vip}:${e.detail}`)).toEqual(["api:2", "web:2", "web:4"])
  })
})

describe("outcomes", () => {
  it("system error codes become the reasons an operator reads", () => {
    const cases: Record<string, O.NetworkReason> = {
      ECONNREFUSED: "refused",
      ECONNRESET: "reset",
      EPIPE: "reset",
      EHOSTUNREACH: "unreachable",
      ENETUNREACH: "unreachable",
      ERR_TLS_CERT_ALTNAME_INVALID: "tls",
      SELF_SIGNED_CERT_IN_CHAIN: "tls",
      UNABLE_TO_VERIFY_LEAF_SIGNATURE: "tls",
      EMFILE: "other"
    }
    expect(Object.fromEntries(Object.keys(cases).map((code) => [code, O.networkReason(code)]))).toEqual(cases)
    expect(O.networkReason(undefined)).toBe("other")
  })

  it("the last status, short", () => {
    expect([O.ok(1), O.ok(1, 204), O.httpStatus(1, 503), O.timeout(1, "connect"), O.network(1, "unreachable", "x")].map(O.statusText)).toEqual([
      "connected",
      "204",
      "503",
      "timeout",
      "unreachable"
    ])
  })
})

describe("monitor", () => {
  it("counts probes and failures, tallies the header, logs errors and recoveries", () => {
    const m = new Monitor([web, db])
    expect(m.record(0, O.ok(2, 200, "web1"), 0)).toEqual([{ _tag: "Backend", at: 0, vip: "web", value: "web1", state: "serving" }])
    expect(m.record(0, O.ok(2, 200, "web1"), 100)).toEqual([])
    expect(m.record(0, O.ok(2, 200), 150)).toEqual([{ _tag: "Backend", at: 150, vip: "web", value: NO_HEADER, state: "serving" }])
    const errors = m.record(0, O.httpStatus(3, 503, "web2"), 200)
    expect(errors.map((e) => e._tag)).toEqual(["Backend", "Error"])
    m.record(0, O.network(1, "refused", "x"), 300)
    expect(m.record(0, O.ok(2, 200, "web1"), 400)).toEqual([{ _tag: "Recovered", at: 400, vip: "web", failures: 2 }])
    const vip = m.vips[0]!
    expect([vip.count, vip.failures, vip.errors.http, vip.errors.network]).toEqual([6, 2, 1, 1])
    expect(vip.latency.size).toBe(5) // the refused probe has no latency to count
    expect(m.errors.recent().map((e) => e.class)).toEqual(["network", "http"])
    // A TCP VIP has no tally.
    m.record(1, O.ok(1), 500)
    expect(m.vips[1]!.tally.entries(500)).toEqual([])
    // Later, the answers without the header and web2 are drained; web1 still serves.
    const later = 200 + SERVING_MS + 1
    expect(m.tick(later)).toEqual([
      { _tag: "Backend", at: later, vip: "web", value: NO_HEADER, state: "drained" },
      { _tag: "Backend", at: later, vip: "web", value: "web2", state: "drained" }
    ])
  })

  it("the report line says it all", () => {
    const m = new Monitor([web])
    m.record(0, O.ok(2, 200, "web1"), 0)
    m.record(0, O.network(1, "refused", "x"), 10)
    expect(reportLine(m.vips[0]!, 20)).toBe(
      "1970-01-01T00:00:00.020Z web report 127.0.0.10:80 http n=2 fail=1 ok=50.00% p50=2.00ms p95=2.00ms p99=2.00ms max=2.00ms last=refused serving=web1:1 errors=network:1"
    )
  })

  it("plain mode writes an error when it starts or changes, not its repeats", () => {
    const m = new Monitor([web])
    const plain = new PlainEvents()
    const lines = (o: O.Outcome, at: number) => plain.lines(m.record(0, o, at))
    expect(lines(O.network(1, "refused", "x"), 0)).toEqual(["1970-01-01T00:00:00.000Z web error network refused: x"])
    expect(lines(O.network(1, "refused", "x"), 1)).toEqual([])
    expect(lines(O.timeout(1, "connect"), 2)).toEqual(["1970-01-01T00:00:00.002Z web error timeout no connection within the timeout"])
    expect(lines(O.ok(1, 200, "a"), 3)).toEqual(["1970-01-01T00:00:00.003Z web recovered after 3 failures", "1970-01-01T00:00:00.003Z web backend a serving"])
    expect(lines(O.network(1, "refused", "x"), 4)).toHaveLength(1)
  })
})
