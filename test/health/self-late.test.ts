/**
 * The self-lateness rule (src/health/SelfLate.ts): a timeout while maglevd
 * itself was late is not the backend's verdict. The pure rule and the loop-lag
 * bookkeeping as properties, the checker under TestClock with scripted
 * outcomes, and a real probe whose process blocks its own event loop.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, type Layer, Logger, LogLevel, Metric, MetricLabel, TestClock } from "effect"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as State from "../../src/health/HealthState.js"
import * as Prober from "../../src/health/Prober.js"
import { PROBE_CODES, type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import { scheduleStart } from "../../src/health/probes/internal/Deadline.js"
import { finishedAt, timedOutAt } from "../../src/health/probes/internal/Scheduled.js"
import { LoopLag, SLOT_MS } from "../../src/health/probes/internal/LoopLag.js"
import * as Probes from "../../src/health/probes/Probe.js"
import { isSelfLate, isTimeout, type ProbeOutcome, SELF_LATE_FRACTION, skipped } from "../../src/health/SelfLate.js"
import { probeSelfLate, probeStartLateness } from "../../src/health/SelfLateMetrics.js"
import { backend, config, healthCheck } from "../support/config.js"
import { httpCheck, tcpServer } from "../support/probes.js"

const codeArb = fc.constantFrom(...PROBE_CODES)
const resultArb = fc.record({
  code: codeArb,
  durationMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
  selfLateMs: fc.option(fc.double({ min: 0, max: 10_000, noNaN: true }), { nil: undefined })
}).map((r) => ({ ...probeResult(r.code, r.durationMs, "detail"), selfLateMs: r.selfLateMs }))

describe("the self-lateness rule", () => {
  it.prop("only a timeout while late by more than a quarter of the timeout is dropped", [resultArb, fc.integer({ min: 1, max: 5000 })], ([r, timeoutMs]) => {
    const late = isSelfLate(r, timeoutMs)
    expect(late).toBe(isTimeout(r) && (r.selfLateMs ?? 0) > SELF_LATE_FRACTION * timeoutMs)
    // The backend's own answers always count, however late we were.
    if (r.ok || !isTimeout(r)) expect(late).toBe(false)
  })

  it("a timeout carries the loop's holds added up, not only the largest (Node sockets, ICMP: each step waits out a hold)", () => {
    const lag = new LoopLag(() => performance.now())
    const started = performance.now() - 200
    // Five holds of 30 ms while the probe ran: none over a quarter of its 200 ms timeout, 150 ms in all.
    for (let i = 1; i <= 5; i++) lag.observe(started + 40 * i, 30)
    const out = timedOutAt("L6TOUT", "TLS handshake timed out after 200 ms", started, 200, lag)
    expect(lag.maxSince(started)).toBe(30)
    expect(out.selfLateMs).toBeGreaterThanOrEqual(150)
    expect(isSelfLate(out, 200)).toBe(true)
    // Read after the deadline: the same.
    const late = finishedAt(probeResult("L6OK", 210, "TLSv1.3"), started, 200, lag)
    expect(late.code).toBe("L6TOUT")
    expect(isSelfLate(late, 200)).toBe(true)
  })

  it.prop("a reply decided after the deadline is never a success", [resultArb, fc.integer({ min: 1, max: 5000 })], ([r, timeoutMs]) => {
    const out = finishedAt(r, 0, timeoutMs, undefined)
    if (r.durationMs <= timeoutMs) expect(out).toBe(r)
    else {
      expect(out.ok).toBe(false)
      if (r.ok) {
        expect(isTimeout(out)).toBe(true)
        expect(out.code.slice(0, 2)).toBe(r.code.slice(0, 2)) // the timeout of the same layer
        expect(out.selfLateMs).toBeCloseTo(r.durationMs - timeoutMs)
      } else expect(out).toBe(r)
    }
  })
})

describe("LoopLag", () => {
  /** A monitor on a hand-moved clock. */
  const manual = () => {
    let t = 1_000_000
    const lag = new LoopLag(() => t)
    return { lag, at: (ms: number) => (t = ms), now: () => t }
  }
  /** Ticks of (time after a base, lag) observed in time order; the clock left at base + 25 s. */
  const observationsArb = (maxLength: number) =>
    fc.array(fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 1, max: 3000 })), { maxLength })
  const replay = (observations: ReadonlyArray<readonly [number, number]>) => {
    const m = manual()
    const sorted = [...observations].sort((a, b) => a[0] - b[0])
    const base = 100_000
    for (const [t, lag] of sorted) {
      m.at(base + t)
      m.lag.observe(base + t, lag)
    }
    m.at(base + 25_000)
    return { m, sorted, base }
  }

  it("a lag is seen by a query from any time the block covered, not by one from after it", () => {
    const m = manual()
    m.at(1_000_000)
    m.lag.observe(1_000_000, 2000) // the loop was held from 998,000 to 1,000,000
    expect(m.lag.maxSince(998_500)).toBe(2000)
    expect(m.lag.maxSince(997_000)).toBe(2000)
    m.at(1_000_000 + 5 * SLOT_MS)
    expect(m.lag.maxSince(1_000_000 + SLOT_MS)).toBe(0)
    expect(m.lag.maxSince(999_999)).toBe(2000)
  })

  it.prop(
    "maxSince is the largest lag whose block reaches into the window (at slot resolution)",
    [observationsArb(30), fc.integer({ min: 0, max: 25_000 })],
    ([observations, since]) => {
      const { m, sorted, base } = replay(observations)
      const got = m.lag.maxSince(base + since)
      const slot = (x: number) => Math.floor(x / SLOT_MS)
      // Every block that ends at or after the window's first slot is seen...
      const mustSee = sorted.filter(([t]) => slot(base + t) >= slot(base + since)).reduce((a, [, l]) => Math.max(a, l), 0)
      // ...and nothing is made up: the answer is some observed lag (or 0).
      expect(got).toBeGreaterThanOrEqual(mustSee)
      if (got > 0) expect(sorted.some(([, l]) => l === got)).toBe(true)
      // A later start never sees more.
      expect(m.lag.maxSince(base + since + SLOT_MS)).toBeLessThanOrEqual(got)
    }
  )

  it.prop(
    "heldSince adds up the holds after `since` (the part of each after it), however short each was",
    [observationsArb(60), fc.integer({ min: 0, max: 25_000 })],
    ([observations, since]) => {
      const { m, sorted, base } = replay(observations)
      const expected = sorted.filter(([t]) => t > since).reduce((a, [t, lag]) => a + Math.min(lag, t - since), 0)
      expect(m.lag.heldSince(base + since)).toBeCloseTo(expected, 6)
    }
  )

  it("ten holds of 30 ms in a 200 ms window: none over a quarter of it, 300 ms in all", () => {
    const m = manual()
    for (let i = 1; i <= 10; i++) m.lag.observe(1_000_000 + i * 50, 30)
    m.at(1_000_500)
    expect(m.lag.maxSince(1_000_000)).toBe(30)
    expect(m.lag.heldSince(1_000_000)).toBe(300)
  })
})

describe("LoopLag, live", () => {
  it.scopedLive("knows the loop is held while it is held, before its ticker's turn", () =>
    Effect.gen(function*() {
      const lag = new LoopLag()
      expect(lag.overdue()).toBe(0) // not started: nothing to say
      lag.start()
      yield* Effect.addFinalizer(() => Effect.sync(() => lag.stop()))
      const held = yield* Effect.sync(() => {
        const until = performance.now() + 300
        while (performance.now() < until) { /* the loop held */ }
        return lag.overdue()
      })
      expect(held).toBeGreaterThanOrEqual(300 - 20)
    }))
})

describe("the health checker and self-lateness", () => {
  const hc = healthCheck("tcp80", { interval: Duration.seconds(2), timeout: Duration.seconds(1), rise: 2, fall: 3 })
  const cfg = config({ healthchecks: [hc], backends: [backend("a", "10.0.0.1", "tcp80")] })
  const TIMEOUT = probeResult("L4TOUT", 1000, "connect timed out")
  const PASS = probeResult("L4OK", 1, "connected")
  const lateTimeout: ProbeResult = { ...TIMEOUT, selfLateMs: 2000 }

  /** A prober answering `answer` (the test changes it), recording when each probe was due. */
  interface Scripted {
    answer: ProbeOutcome
    readonly due: Array<number>
    readonly count: () => number
    readonly layer: Layer.Layer<Prober.Prober>
  }
  const scripted = (first: ProbeOutcome): Scripted => {
    const due: Array<number> = []
    const s: Scripted = {
      answer: first,
      due,
      count: () => due.length,
      layer: Prober.layerFrom(({ scheduledAt }) =>
        Effect.sync((): ProbeOutcome => {
          due.push(scheduledAt)
          return s.answer
        })
      )
    }
    return s
  }

  const selfLateCount = (reason: string) =>
    Metric.value(Metric.taggedWithLabels(probeSelfLate, [MetricLabel.make("reason", reason)])).pipe(
      Effect.map((s) => s.count)
    )

  const collect = () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = Logger.make(({ annotations }) => {
      const a: Record<string, unknown> = {}
      for (const [k, v] of annotations) a[k] = v
      lines.push(a)
    })
    return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
  }

  it.scoped("timeouts while late change nothing; they are counted, logged once per 5 s, and the round is rescheduled from now", () =>
    Effect.gen(function*() {
      const log = collect()
      const s = scripted(PASS)
      const before = yield* selfLateCount("timeout")
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(s.layer), Effect.provide(log.layer))
      yield* TestClock.adjust(Duration.seconds(12)) // up, fully healthy
      const up = yield* checker.backend("a")
      expect(up.status).toBe("up")
      expect(up.counter).toBe(4)
      s.answer = lateTimeout
      const n = s.count()
      yield* TestClock.adjust(Duration.seconds(60))
      const after = yield* checker.backend("a")
      expect(s.count() - n).toBeGreaterThanOrEqual(12)
      expect(after.status).toBe("up")
      expect(after.counter).toBe(4)
      expect(after.transitions.map((t) => t.to)).toEqual(["up"])
      expect((yield* selfLateCount("timeout")) - before).toBe(s.count() - n)
      const lines = log.lines.filter((l) => l["event"] === "probe-self-late")
      // One line per 5 s window at most, each naming the backend and the reason; the rest counted as suppressed.
      expect(lines.length).toBeGreaterThan(0)
      expect(lines.length).toBeLessThanOrEqual(Math.ceil(60 / 5) + 1)
      expect(lines[0]).toMatchObject({ backend: "a", reason: "timeout" })
      const told = lines.reduce((a, l) => a + 1 + (typeof l["suppressed"] === "number" ? l["suppressed"] - 1 : 0), 0)
      expect(told).toBeGreaterThan(0)
      // Rescheduled from now, later by the lateness (2 s) and spread over [0.5, 1.5) intervals (2 s): fewer
      // rounds while maglevd is behind, and no burst.
      const gaps = s.due.slice(n + 1).map((d, i) => d - s.due[n + i]!)
      for (const g of gaps) {
        expect(g).toBeGreaterThanOrEqual(2000 + 1000)
        expect(g).toBeLessThan(2000 + 3000)
      }
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Info)))

  it.scoped("a backend that really times out (we were on time) still goes down within fall rounds", () =>
    Effect.gen(function*() {
      const s = scripted(PASS)
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(s.layer))
      yield* TestClock.adjust(Duration.seconds(12))
      expect((yield* checker.backend("a")).counter).toBe(4)
      // One round dropped (we were late), then the backend really stops answering.
      s.answer = lateTimeout
      const n = s.count()
      yield* TestClock.adjust(Duration.millis(2200))
      expect(s.count()).toBe(n + 1)
      s.answer = TIMEOUT
      // fall 3: three counted timeouts - the dropped round's successor within its lateness + 1.5
      // intervals, then the fast interval (+10% jitter).
      yield* TestClock.adjust(Duration.millis(2000 + 3000 + 1100 + 1100))
      const a = yield* checker.backend("a")
      expect(a.status).toBe("down")
      expect(a.transitions.at(-1)?.result?.code).toBe("L4TOUT")
    }))

  it.scoped("a counted timeout's transition logs late_ms, maglevd's part in it; other codes do not", () =>
    Effect.gen(function*() {
      const log = collect()
      const s = scripted(PASS)
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(s.layer), Effect.provide(log.layer))
      yield* TestClock.adjust(Duration.seconds(12))
      // A timeout counted (12 ms of 1,000 ours), three times: down.
      s.answer = { ...TIMEOUT, selfLateMs: 12 }
      yield* TestClock.adjust(Duration.seconds(8))
      expect((yield* checker.backend("a")).status).toBe("down")
      // Up again, then refused (a probe thread's result carries a selfLateMs of its own): no late_ms.
      s.answer = PASS
      yield* TestClock.adjust(Duration.seconds(12))
      s.answer = { ...probeResult("L4CON", 1, "connect ECONNREFUSED"), selfLateMs: -0.001 }
      yield* TestClock.adjust(Duration.seconds(8))
      const downs = log.lines.filter((l) => l["event"] === "backend-transition" && l["to"] === "down")
      expect(downs.map((l) => [l["code"], l["late_ms"]])).toEqual([["L4TOUT", 12], ["L4CON", undefined]])
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Info)))

  it.scoped("a skipped round is counted and rescheduled from now, the state untouched", () =>
    Effect.gen(function*() {
      const before = yield* selfLateCount("start")
      // Probed once (up after rise 2 from unknown's counter), then every round starts too late.
      const s = scripted(PASS)
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(s.layer))
      yield* TestClock.adjust(Duration.millis(2000))
      const probed = s.count()
      expect(probed).toBeGreaterThanOrEqual(1)
      const state = yield* checker.backend("a")
      s.answer = skipped(1500)
      yield* TestClock.adjust(Duration.millis(2 * 3000 + 3000))
      expect(s.count() - probed).toBeGreaterThanOrEqual(2)
      expect(yield* checker.backend("a")).toEqual(state)
      // Each skipped round rescheduled from now, its lateness (1.5 s) plus [0.5, 1.5) intervals of its
      // state on (fast: 1 s).
      // The interval of the state the skips leave untouched: the fast one (1 s) while the counter is
      // short of fully healthy, the interval (2 s) once three passes fell within the first 2 s (the
      // first round spread over the interval and the ±10 % jitter allow it, at random).
      const every = State.intervalKind(state) === "interval" ? 2000 : 1000
      for (let i = probed + 1; i < s.due.length; i++) {
        expect(s.due[i]! - s.due[i - 1]!).toBeGreaterThanOrEqual(1500 + 0.5 * every)
        expect(s.due[i]! - s.due[i - 1]!).toBeLessThan(1500 + 1.5 * every)
      }
      expect((yield* selfLateCount("start")) - before).toBe(s.count() - probed)
    }))

  it.scoped("a backend not probed yet whose first round starts too late is spread again over one interval", () =>
    Effect.gen(function*() {
      const s = scripted(skipped(1500))
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(s.layer))
      yield* TestClock.adjust(Duration.millis(2000 + 3 * 1000))
      expect(s.count()).toBeGreaterThanOrEqual(3)
      expect((yield* checker.backend("a")).status).toBe("unknown")
      // Start-up lateness is not backed off: [0, 1) fast interval (1 s) from the skip.
      for (let i = 1; i < s.due.length; i++) expect(s.due[i]! - s.due[i - 1]!).toBeLessThan(1000)
      s.answer = PASS
      yield* TestClock.adjust(Duration.millis(3000))
      expect((yield* checker.backend("a")).status).toBe("up")
    }))
})

describe("a live probe in a process that blocks its own loop", () => {
  it.scopedLive("the timeout fires late, carries the lateness, and is not counted", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer((socket) =>
        socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
      )
      const check = httpCheck(server.port, {}, { timeoutMs: 200 })
      const lag = new LoopLag()
      lag.start()
      yield* Effect.addFinalizer(() => Effect.sync(() => lag.stop()))
      const result = yield* Effect.async<ProbeResult>((resume) => {
        const cancel = Probes.startProbe({ address: "127.0.0.1", healthcheck: check, netns: "" }, (r) => resume(Effect.succeed(r)), lag)
        // The daemon's loop held for 1 s right after the probe went out.
        const until = performance.now() + 1000
        while (performance.now() < until) { /* blocked */ }
        return Effect.sync(cancel)
      })
      expect(["L4TOUT", "L7TOUT"]).toContain(result.code)
      expect(result.selfLateMs).toBeGreaterThanOrEqual(800)
      expect(isSelfLate(result, 200)).toBe(true)
      // On time, the same backend answers, and the lag has passed.
      const again = yield* Probes.runProbe({ address: "127.0.0.1", healthcheck: httpCheck(server.port, {}, { timeoutMs: 5000 }), netns: "" })
      expect(again.code).toBe("L7OK")
    }))
})

describe("maglev_probe_start_lateness_seconds", () => {
  it.effect("observes how late each scheduled round started, skipped ones included", () =>
    Effect.gen(function*() {
      const before = yield* Metric.value(probeStartLateness)
      const outcomes: Array<ProbeOutcome> = []
      // Due 300 ms ago (a timer that fired that late): started, and observed in (0.25, 0.5].
      scheduleStart(-300, undefined, (deliver) => {
        deliver(probeResult("L7OK", 1, "HTTP 200 OK"))
        return () => {}
      }, (o) => outcomes.push(o))
      // Due 3 s ago with a 1 s skip bound: skipped, and observed above 2.5 s.
      scheduleStart(-3000, 1000, () => {
        throw new Error("a skipped round must not probe")
      }, (o) => outcomes.push(o))
      const after = yield* Metric.value(probeStartLateness)
      expect(outcomes.map((o) => ("_tag" in o ? o._tag : o.code))).toEqual(["L7OK", "ProbeSkipped"])
      expect(after.count - before.count).toBe(2)
      const at = (state: typeof before, le: number) => state.buckets.find(([b]) => b === le)![1]
      expect(at(after, 0.25) - at(before, 0.25)).toBe(0)
      expect(at(after, 0.5) - at(before, 0.5)).toBe(1)
      expect(at(after, 2.5) - at(before, 2.5)).toBe(1)
      expect(after.sum - before.sum).toBeGreaterThanOrEqual(3.3)
    }))
})
