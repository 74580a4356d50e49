import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Context, Deferred, Duration, Effect, Exit, Fiber, HashMap, Layer, Logger, LogLevel, Option, Queue, Scope, Stream, TestClock } from "effect"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import { type ProbeOutcome, skipped } from "../../src/health/SelfLate.js"
import { backend, config, healthCheck } from "../support/config.js"

const PASS = probeResult("L4OK", 2, "connected")
const FAIL = probeResult("L4CON", 1, "connect ECONNREFUSED")

interface Call {
  readonly backend: string
  readonly at: number
  readonly scheduledAt: number
}

/** A prober whose answers the test sets per backend, logging every call with its (virtual) time. */
const scripted = () => {
  const answers = new Map<string, ProbeResult | Deferred.Deferred<ProbeResult>>()
  const calls: Array<Call> = []
  const layer = Prober.layerFrom(({ scheduledAt, target }) =>
    Effect.gen(function*() {
      calls.push({ backend: target.backend, at: yield* Clock.currentTimeMillis, scheduledAt })
      const answer = answers.get(target.backend) ?? PASS
      return Deferred.DeferredTypeId in answer ? yield* Deferred.await(answer) : answer
    })
  )
  const callsOf = (name: string) => calls.filter((c) => c.backend === name)
  return { answers, calls, callsOf, layer }
}

const hc = healthCheck("tcp80", { interval: Duration.seconds(2), rise: 2, fall: 3 })
const base = config({
  healthchecks: [hc],
  backends: [backend("a", "10.0.0.1", "tcp80"), backend("b", "10.0.0.2", "tcp80"), backend("c", "10.0.0.3", "tcp80")]
})

const start = (s: ReturnType<typeof scripted>, cfg = base) =>
  HealthChecker.make(cfg).pipe(Effect.provide(s.layer))

const status = (checker: HealthChecker.HealthCheckerShape, name: string) =>
  checker.backend(name).pipe(Effect.map((h) => h.status))

/**
 * A live-style prober (rounds run off the fibers, Rounds.runRounds): the test
 * holds each round's delivery, and sees which rounds were cancelled.
 */
const heldProber = () => {
  const held: Array<(outcome: ProbeOutcome) => void> = []
  const rounds: Array<{ readonly backend: string; readonly deliver: (outcome: ProbeOutcome) => void; cancelled: boolean; delivered: boolean }> = []
  const prober = Layer.succeed(Prober.Prober, {
    probe: () => Effect.never,
    start: (request, deliver) => {
      held.push(deliver)
      const round = {
        backend: request.target.backend,
        deliver: (outcome: ProbeOutcome) => {
          round.delivered = true
          deliver(outcome)
        },
        cancelled: false,
        delivered: false
      }
      rounds.push(round)
      return () => {
        round.cancelled = true
      }
    }
  })
  return { held, rounds, prober }
}

const names = Array.from({ length: 300 }, (_, i) => `b${i}`)
const many = config({ healthchecks: [hc], backends: names.map((n, i) => backend(n, `10.0.${i >> 8}.${i & 255}`, "tcp80")) })

describe("HealthChecker", () => {
  it.scoped("starts every backend unknown and spreads first probes over the interval", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s)
      for (const name of ["a", "b", "c"]) expect(yield* status(checker, name)).toBe("unknown")
      expect(s.calls).toHaveLength(0)
      yield* TestClock.adjust(Duration.millis(1999))
      // Each backend probed within its first interval, not all at the same instant.
      const firsts = ["a", "b", "c"].map((n) => s.callsOf(n)[0]?.at)
      for (const at of firsts) expect(at).toBeLessThan(2000)
      expect(new Set(firsts).size).toBe(3)
      for (const name of ["a", "b", "c"]) expect(yield* status(checker, name)).toBe("up")
      expect([...yield* checker.probing].sort()).toEqual(["a", "b", "c"])
    }))

  it.scoped("probes at fast-interval while rising, then at interval (±10%), counted from the probe start", () =>
    Effect.gen(function*() {
      const s = scripted()
      yield* start(s)
      yield* TestClock.adjust(Duration.seconds(60))
      const times = s.callsOf("a").map((c) => c.at)
      const gaps = times.slice(1).map((t, i) => t - times[i]!)
      // counter: 1 (preloaded) -> 2 (up) -> 3 -> 4 = max: two gaps at the fast interval.
      for (const gap of gaps.slice(0, 2)) {
        expect(gap).toBeGreaterThanOrEqual(900)
        expect(gap).toBeLessThanOrEqual(1100)
      }
      for (const gap of gaps.slice(2)) {
        expect(gap).toBeGreaterThanOrEqual(1800)
        expect(gap).toBeLessThanOrEqual(2200)
      }
      expect(new Set(gaps.slice(2)).size).toBeGreaterThan(1) // jittered, not a fixed tick
      for (const c of s.calls) expect(c.at).toBeGreaterThanOrEqual(c.scheduledAt - 0.001) // never early
    }))

  it.scoped("a fully down backend is probed at down-interval", () =>
    Effect.gen(function*() {
      const s = scripted()
      s.answers.set("a", FAIL)
      const checker = yield* start(s)
      yield* TestClock.adjust(Duration.seconds(60))
      expect(yield* status(checker, "a")).toBe("down")
      const times = s.callsOf("a").map((c) => c.at)
      for (let i = 1; i < times.length; i++) {
        expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(3600)
        expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(4400)
      }
    }))

  it.scoped("publishes each transition with the probe result that caused it, keeping the last N", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s, { ...base, healthchecker: { ...base.healthchecker, transitionHistory: 2 } })
      const events = yield* checker.subscribe
      yield* TestClock.adjust(Duration.seconds(3))
      s.answers.set("a", FAIL)
      yield* TestClock.adjust(Duration.seconds(30))
      s.answers.set("a", PASS)
      yield* TestClock.adjust(Duration.seconds(30))
      const all = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).filter((e) => e.backend === "a")
      expect(all.map((e) => [e.transition.from, e.transition.to])).toEqual([["unknown", "up"], ["up", "down"], ["down", "up"]])
      expect(all.map((e) => e.transition.result)).toEqual([PASS, FAIL, PASS])
      expect(all[1]!.health.status).toBe("down")
      const a = yield* checker.backend("a")
      expect(a.transitions.map((t) => t.to)).toEqual(["down", "up"])
      expect(a.lastResult).toEqual(PASS)
    }))

  it.scoped("pause cancels the probe fiber and resume probes again at once from unknown", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s)
      yield* TestClock.adjust(Duration.seconds(5))
      const paused = yield* checker.pause("a")
      expect(paused.status).toBe("paused")
      expect(yield* checker.probing).not.toContain("a")
      const before = s.callsOf("a").length
      yield* TestClock.adjust(Duration.seconds(60))
      expect(s.callsOf("a")).toHaveLength(before)
      expect(yield* checker.pause("a")).toMatchObject({ status: "paused" }) // idempotent
      const resumed = yield* checker.resume("a")
      expect(resumed.status).toBe("unknown")
      expect(resumed.transitions.map((t) => t.to)).toEqual(["up", "paused", "unknown"])
      yield* TestClock.adjust(Duration.millis(1))
      expect(s.callsOf("a")).toHaveLength(before + 1)
      expect(yield* status(checker, "a")).toBe("up")
    }))

  it.scoped("a result in flight when the backend is paused is never recorded", () =>
    Effect.gen(function*() {
      const s = scripted()
      const gate = yield* Deferred.make<ProbeResult>()
      s.answers.set("a", gate)
      const checker = yield* start(s)
      yield* TestClock.adjust(Duration.seconds(2))
      expect(s.callsOf("a")).toHaveLength(1)
      yield* checker.pause("a")
      yield* Deferred.succeed(gate, FAIL)
      yield* TestClock.adjust(Duration.seconds(10))
      const a = yield* checker.backend("a")
      expect(a.status).toBe("paused")
      expect(a.lastResult).toBeUndefined()
    }))

  it.scoped("disable stops probing; enable restarts it; both idempotent; pause/resume refused while disabled", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s)
      yield* TestClock.adjust(Duration.seconds(3))
      expect((yield* checker.disable("b")).status).toBe("disabled")
      expect((yield* checker.disable("b")).transitions.filter((t) => t.to === "disabled")).toHaveLength(1)
      const n = s.callsOf("b").length
      yield* TestClock.adjust(Duration.seconds(30))
      expect(s.callsOf("b")).toHaveLength(n)
      const refused = yield* Effect.flip(checker.pause("b"))
      expect(refused).toBeInstanceOf(HealthChecker.BackendConflict)
      expect(refused.message).toContain("disabled")
      expect((yield* Effect.flip(checker.resume("b")))._tag).toBe("BackendConflict")
      expect((yield* checker.enable("b")).status).toBe("unknown")
      // Idempotent: no second transition (the probe that enable started may already have answered).
      const again = yield* checker.enable("b")
      expect(again.transitions.filter((t) => t.cause === "enable")).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* status(checker, "b")).toBe("up")
      const missing = yield* Effect.flip(checker.pause("nope"))
      expect(missing).toEqual(new HealthChecker.BackendNotFound({ backend: "nope" }))
    }))

  it.scoped("a backend disabled in the file starts disabled and is never probed", () =>
    Effect.gen(function*() {
      const s = scripted()
      const cfg = config({ healthchecks: [hc], backends: [backend("x", "10.0.0.9", "tcp80", false)] })
      const checker = yield* start(s, cfg)
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* status(checker, "x")).toBe("disabled")
      expect(s.calls).toHaveLength(0)
    }))

  describe("reload", () => {
    it.scoped("keeps unchanged backends probing without a gap and with their runtime state", () =>
      Effect.gen(function*() {
        const s = scripted()
        const checker = yield* start(s)
        yield* TestClock.adjust(Duration.seconds(20))
        yield* checker.pause("b")
        const events = yield* checker.subscribe
        const lastA = s.callsOf("a").at(-1)!.at
        // Same content, different objects: a fresh decode of the same file.
        yield* checker.reload(config({
          healthchecks: [healthCheck("tcp80", { interval: Duration.seconds(2) })],
          backends: [backend("a", "10.0.0.1", "tcp80"), backend("b", "10.0.0.2", "tcp80"), backend("c", "10.0.0.3", "tcp80")]
        }))
        expect(yield* Queue.size(events)).toBe(0)
        expect(yield* status(checker, "a")).toBe("up")
        expect(yield* status(checker, "b")).toBe("paused")
        yield* TestClock.adjust(Duration.seconds(10))
        const afterA = s.callsOf("a").map((c) => c.at).filter((t) => t > lastA)
        // The schedule carried on: the next probe came within one jittered interval of the last.
        expect(afterA[0]! - lastA).toBeLessThanOrEqual(2200)
        expect(afterA[0]! - lastA).toBeGreaterThanOrEqual(1800)
        expect(yield* status(checker, "b")).toBe("paused")
      }))

    it.scoped("restarts changed backends, removes absent ones, starts new ones, forgets removed ones next time", () =>
      Effect.gen(function*() {
        const s = scripted()
        const checker = yield* start(s)
        yield* TestClock.adjust(Duration.seconds(20))
        const fast = healthCheck("fast", { interval: Duration.seconds(1), rise: 1, fall: 1 })
        yield* checker.reload(config({
          healthchecks: [hc, fast],
          backends: [
            backend("a", "10.0.0.1", "tcp80"),
            backend("b", "10.0.0.2", "fast"), // other health check
            backend("c", "10.0.0.33", "tcp80"), // other address
            backend("d", "10.0.0.4", "tcp80") // new
          ]
        }))
        const map = yield* checker.health
        const st = (n: string) => Option.getOrThrow(HashMap.get(map, n)).status
        expect([st("a"), st("b"), st("c"), st("d")]).toEqual(["up", "unknown", "unknown", "unknown"])
        const b = Option.getOrThrow(HashMap.get(map, "b"))
        expect(b).toMatchObject({ rise: 1, fall: 1, counter: 0 })
        expect(b.transitions.at(-1)).toMatchObject({ from: "up", to: "unknown", cause: "reload" })
        expect(Option.getOrThrow(HashMap.get(map, "c")).address).toBe("10.0.0.33")
        yield* TestClock.adjust(Duration.seconds(5))
        expect(s.callsOf("d").length).toBeGreaterThan(0)
        for (const n of ["b", "c", "d"]) expect(yield* status(checker, n)).toBe("up")

        yield* checker.reload(config({ healthchecks: [hc], backends: [backend("a", "10.0.0.1", "tcp80")] }))
        for (const n of ["b", "c", "d"]) expect(yield* status(checker, n)).toBe("removed")
        expect(yield* checker.probing).toEqual(["a"])
        const n = s.calls.length
        yield* TestClock.adjust(Duration.seconds(20))
        expect(s.calls.filter((c) => c.backend !== "a").length).toBe(
          n - s.calls.slice(0, n).filter((c) => c.backend === "a").length
        )
        expect((yield* Effect.flip(checker.enable("b")))._tag).toBe("BackendConflict")
        yield* checker.reload(config({ healthchecks: [hc], backends: [backend("a", "10.0.0.1", "tcp80")] }))
        expect(HashMap.size(yield* checker.health)).toBe(1)
        expect(Array.from(HashMap.keys(yield* checker.statuses))).toEqual(["a"])
      }))

    it.scoped("a change of the file's `enabled` applies; an operator's disable otherwise survives", () =>
      Effect.gen(function*() {
        const s = scripted()
        const checker = yield* start(s)
        yield* TestClock.adjust(Duration.seconds(5))
        yield* checker.disable("a")
        yield* checker.reload(base)
        expect(yield* status(checker, "a")).toBe("disabled")
        yield* checker.reload(config({
          healthchecks: [hc],
          backends: [backend("a", "10.0.0.1", "tcp80"), backend("b", "10.0.0.2", "tcp80", false), backend("c", "10.0.0.3", "tcp80")]
        }))
        expect(yield* status(checker, "b")).toBe("disabled")
        expect(yield* checker.probing).not.toContain("b")
        yield* checker.reload(base)
        // Enabled again: back to unknown (its restarted probe may already have answered).
        const b = yield* checker.backend("b")
        expect(b.transitions.filter((t) => t.cause === "enable").at(-1)?.to).toBe("unknown")
        expect(yield* checker.probing).toContain("b")
      }))
  })

  it.scoped("a storm of transitions in one turn is one change of the map; each is still published and logged, in order", () =>
    Effect.gen(function*() {
      const { held, prober } = heldProber()
      const logged: Array<string> = []
      const logger = Logger.make(({ annotations }) => {
        const event = HashMap.get(annotations, "event")
        if (Option.isSome(event) && event.value === "backend-transition") logged.push(String(Option.getOrThrow(HashMap.get(annotations, "backend"))))
      })
      const checker = yield* HealthChecker.make(many).pipe(Effect.provide(Layer.merge(prober, Logger.add(logger))))
      const events = yield* checker.subscribe
      const pull = yield* Stream.toPull(checker.changes)
      const statusesIn = (chunk: Chunk.Chunk<HealthChecker.HealthMap>) =>
        new Set(names.map((n) => Option.getOrThrow(HashMap.get(Chunk.unsafeLast(chunk), n)).status))
      expect(statusesIn(yield* pull)).toEqual(new Set(["unknown"]))
      expect(held).toHaveLength(300)
      // Every first round passes in the same turn of the event loop.
      for (const deliver of held.splice(0)) deliver(PASS)
      const after = yield* pull
      expect(after.length).toBe(1)
      expect(statusesIn(after)).toEqual(new Set(["up"]))
      const published = Chunk.toReadonlyArray(yield* Queue.takeBetween(events, 300, 300))
      expect(published.map((e) => [e.backend, e.transition.from, e.transition.to, e.health.status])).toEqual(names.map((n) => [n, "unknown", "up", "up"]))
      expect(logged).toEqual(names)
      // Each backend's next round started without its fiber waking.
      expect(held).toHaveLength(300)
    }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Info))))

  it.scoped("a reload is one change of the map; an unchanged backend's round in flight and state are left alone, a changed one's restart", () =>
    Effect.gen(function*() {
      const { held, prober, rounds } = heldProber()
      const checker = yield* HealthChecker.make(many).pipe(Effect.provide(prober))
      const pull = yield* Stream.toPull(checker.changes)
      yield* pull
      held.splice(0)
      for (const round of rounds.slice()) round.deliver(PASS)
      expect((yield* pull).length).toBe(1)
      const before = yield* checker.backend("b1")
      expect(before.status).toBe("up")
      const inFlight = (name: string) => rounds.filter((r) => r.backend === name && !r.cancelled && !r.delivered)
      const [b1Round] = inFlight("b1")
      // A fresh decode of the same file (new objects), but b7 moved and b299 left.
      yield* checker.reload(config({
        healthchecks: [healthCheck("tcp80", { interval: Duration.seconds(2), rise: 2, fall: 3 })],
        backends: names.slice(0, 299).map((n, i) => backend(n, i === 7 ? "10.9.9.9" : `10.0.${i >> 8}.${i & 255}`, "tcp80"))
      }))
      const changes = yield* pull
      expect(changes.length).toBe(1)
      const map = Chunk.unsafeLast(changes)
      expect(Option.getOrThrow(HashMap.get(map, "b7"))).toMatchObject({ status: "unknown", address: "10.9.9.9" })
      expect(Option.getOrThrow(HashMap.get(map, "b299")).status).toBe("removed")
      // b1: the same round in flight, the same state object (not rebuilt).
      expect(b1Round!.cancelled).toBe(false)
      expect(inFlight("b1")).toEqual([b1Round])
      expect(yield* checker.backend("b1")).toBe(before)
      expect(rounds.filter((r) => r.backend === "b7").some((r) => r.cancelled)).toBe(true)
      expect(inFlight("b7")).toHaveLength(1)
      expect(inFlight("b299")).toHaveLength(0)
    }))

  it.scoped("a reload lets the event loop run between the checker's part and the next subscriber's", () =>
    Effect.gen(function*() {
      const s = scripted()
      const context = yield* Layer.build(HealthChecker.layer(many).pipe(Layer.provide(s.layer)))
      const running = Context.get(context, RunningConfig.RunningConfig)
      let turned = false
      const seen: Array<boolean> = []
      yield* running.subscribe(() => Effect.sync(() => seen.push(turned)))
      setImmediate(() => {
        turned = true
      })
      yield* running.replace({ ...many, backends: new Map(many.backends) })
      expect(seen).toEqual([true])
    }))

  it.scoped("a burst of rounds not counted (maglevd late) in one turn: one line, the others counted in its summary", () =>
    Effect.gen(function*() {
      const { held, prober } = heldProber()
      const lines: Array<Readonly<Record<string, unknown>>> = []
      const logger = Logger.make(({ annotations }) => {
        const fields = Object.fromEntries(HashMap.toEntries(annotations))
        if (fields["event"] === "probe-self-late") lines.push(fields)
      })
      const checker = yield* HealthChecker.make(many).pipe(Effect.provide(Layer.merge(prober, Logger.add(logger))))
      expect(held).toHaveLength(300)
      for (const deliver of held.splice(0)) deliver(skipped(700))
      yield* TestClock.adjust(Duration.seconds(6))
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatchObject({ backend: "b0", reason: "start", late_ms: 700 })
      expect(lines[1]).toMatchObject({ reason: "start", suppressed: 299 })
      // Every backend's next round started; none was counted.
      expect(held).toHaveLength(300)
      for (const n of names) expect((yield* checker.backend(n)).status).toBe("unknown")
    }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Info))))

  it.scoped("live rounds: stopping a backend's fiber cancels its round in flight, whatever woke the fiber last; closing the scope cancels all", () =>
    Effect.gen(function*() {
      const { prober, rounds } = heldProber()
      const scope = yield* Scope.make()
      const checker = yield* HealthChecker.make(base).pipe(Effect.provide(prober), Scope.extend(scope))
      const inFlight = (name: string) => rounds.filter((r) => r.backend === name && !r.cancelled && !r.delivered)
      expect(rounds.map((r) => r.backend).sort()).toEqual(["a", "b", "c"])
      // A round not counted (maglevd late) wakes a's fiber, which starts the rounds again.
      inFlight("a")[0]!.deliver(skipped(800))
      yield* Effect.yieldNow()
      expect(inFlight("a")).toHaveLength(1)
      const [pending] = inFlight("a")
      yield* checker.pause("a")
      expect(pending!.cancelled).toBe(true)
      expect(inFlight("a")).toHaveLength(0)
      // Its result, would it come anyway, is not recorded.
      pending!.deliver(FAIL)
      expect(yield* checker.backend("a")).toMatchObject({ status: "paused", lastResult: undefined })
      expect(inFlight("b")).toHaveLength(1)
      yield* Scope.close(scope, Exit.void)
      expect(rounds.filter((r) => !r.cancelled && !r.delivered)).toEqual([])
    }))

  it.scoped("the start lets the event loop run between slices of backends", () =>
    Effect.gen(function*() {
      const { held, prober } = heldProber()
      const n = 1000
      const cfg = config({ healthchecks: [hc], backends: Array.from({ length: n }, (_, i) => backend(`s${i}`, `10.1.${i >> 8}.${i & 255}`, "tcp80")) })
      // Turns of the event loop while the checker is built: an immediate that queues itself again.
      let turns = 0
      let on = true
      const tick = () => {
        if (!on) return
        turns++
        setImmediate(tick)
      }
      setImmediate(tick)
      yield* HealthChecker.make(cfg).pipe(Effect.provide(prober))
      on = false
      expect(held).toHaveLength(n)
      // 200 backends a slice: the loop turned between every two.
      expect(turns).toBeGreaterThanOrEqual(n / 200 - 1)
    }))

  it.scoped("one probe fiber per backend however many frontends use it", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s)
      expect([...yield* checker.probing].sort()).toEqual(["a", "b", "c"])
    }))

  it.scoped("changes streams the current map and then every update", () =>
    Effect.gen(function*() {
      const s = scripted()
      const checker = yield* start(s)
      const fiber = yield* checker.changes.pipe(
        Stream.map((m) => Option.getOrThrow(HashMap.get(m, "a")).status),
        Stream.changes,
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* TestClock.adjust(Duration.seconds(3))
      expect(Chunk.toReadonlyArray(yield* Fiber.join(fiber))).toEqual(["unknown", "up"])
    }))

  it.scoped("closing the scope stops all probing", () =>
    Effect.gen(function*() {
      const s = scripted()
      yield* Effect.scoped(Layer.build(HealthChecker.layer(base).pipe(Layer.provide(s.layer))))
      yield* TestClock.adjust(Duration.seconds(30))
      expect(s.calls).toHaveLength(0)
    }))
})
