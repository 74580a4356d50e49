/**
 * Slow start end to end: the real HealthChecker (scripted probe results), the
 * VPP supervisor and the LB sync against the in-process simulator over real
 * Unix sockets, on TestClock. Each step's weight is read from the simulator's
 * mutation log: the ramp goes through the one writer as ordinary weight
 * changes. The clock moves one second at a time and the test waits for the
 * expected weight (the event), never for a length of time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, HashMap, Layer, Logger, LogLevel, Stream, TestClock } from "effect"
import * as Control from "../../src/api/Control.js"
import * as LogHub from "../../src/api/LogHub.js"
import { watchEvents } from "../../src/api/Watch.js"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import type { ProbeResult } from "../../src/health/ProbeResult.js"
import { pollDelay } from "../../src/internal/WallClock.js"
import * as LbSync from "../../src/lb/LbSync.js"
import type { LbMutation } from "../../src/sim/LbPlugin.js"
import { backend, config, healthCheck, tcpFrontend as frontend } from "../support/config.js"
import { advanceUntil, daemon, FAIL, PASS, simulatorAt } from "../support/lbDaemon.js"
import { waitFor } from "../support/wait.js"

/**
 * The health check's slow start ramps a in web; api's pool overrides it with 3 s. Without `slowStart`: the same
 * configuration with no slow-start at all (a reload that removes it).
 */
const configWith = (slowStart: Duration.Duration | undefined) =>
  config({
    healthchecks: [healthCheck("hc", {
      interval: Duration.seconds(1),
      fastInterval: Duration.seconds(1),
      downInterval: Duration.seconds(1),
      rise: 1,
      fall: 1,
      slowStart
    })],
    backends: [backend("a", "10.0.0.1", "hc"), backend("b", "10.0.0.2", "hc")],
    frontends: [
      frontend("web", "192.0.2.10/32", [{ name: "main", backends: [{ backend: "a", weight: 100 }, { backend: "b", weight: 100 }] }]),
      frontend("api", "192.0.2.20/32", [{
        name: "main",
        backends: [{ backend: "a", weight: 100 }, { backend: "b", weight: 100 }],
        slowStart: slowStart === undefined ? undefined : Duration.seconds(3)
      }])
    ]
  })
const cfg = configWith(Duration.seconds(10))

/** 10 s to weight 100: ten 1 s steps of ⌈100·k/11⌉, then 100 (SlowStart.ts). */
const WEB_RAMP = [10, 19, 28, 37, 46, 55, 64, 73, 82, 91, 100]
/** 3 s: three steps of ⌈100·k/4⌉, then 100. */
const API_RAMP = [25, 50, 75, 100]

/** The weights VPP was given for `address` in the VIP `pfx` since `from` (as-add and as-weight), in order. */
const weightsSent = (ms: ReadonlyArray<LbMutation>, pfx: string, address: string, from = 0): ReadonlyArray<number> => {
  const vips = new Map<number, string>()
  const out: Array<number> = []
  for (const m of ms) {
    if (m.op === "vip-add") vips.set(m.details.vip, m.details.key.pfx)
    if (m.seq <= from || (m.op !== "as-add" && m.op !== "as-weight")) continue
    if (m.details.address !== address || vips.get(m.details.vip) !== pfx) continue
    out.push(m.op === "as-add" ? m.details.weight : m.details.to)
  }
  return out
}

describe("slow start through the LB sync", () => {
  it.scoped("no ramp at start-up; a backend that comes up ramps step by step in each pool; a flap restarts the ramp; pause and resume; an override and a reload in the middle of a ramp", () => {
    const events: Array<string> = []
    const collect = Logger.make(({ annotations }) => {
      const e = HashMap.get(annotations, "event")
      if (e._tag === "Some" && String(e.value).startsWith("backend-slow-start")) events.push(String(e.value))
    })
    return Effect.gen(function*() {
      const { sim, ...sockets } = yield* simulatorAt("slow-start-")
      const answers = new Map<string, ProbeResult>()
      const last = Effect.map(sim.mutations, (ms) => ms[ms.length - 1]?.seq ?? 0)
      const sent = (pfx: string, from: number) => Effect.map(sim.mutations, (ms) => weightsSent(ms, pfx, "10.0.0.1", from))
      /** Moves the clock by `ms` and waits until `pfx` has been sent `n` weights for a since `from`. */
      const stepUntil = (ms: number, pfx: string, from: number, n: number) =>
        Effect.gen(function*() {
          yield* TestClock.adjust(Duration.millis(ms))
          yield* waitFor(`${n} weights in ${pfx}`, Effect.map(sent(pfx, from), (w) => (w.length >= n ? true : undefined)))
        })

      /** a's probes fail until web's AS of a got weight 0; returns the mutation it counted from. */
      const goesDown = (what: string) =>
        Effect.gen(function*() {
          answers.set("a", FAIL)
          const from = yield* last
          yield* advanceUntil(what, Effect.map(sent("192.0.2.10/32", from), (w) => (w.includes(0) ? true : undefined)))
          return from
        })
      /** a's probes pass until web's AS of a got a weight; returns the mutation it counted from. */
      const comesUp = (what: string) =>
        Effect.gen(function*() {
          answers.set("a", PASS)
          const from = yield* last
          yield* advanceUntil(what, Effect.map(sent("192.0.2.10/32", from), (w) => (w.length > 0 ? true : undefined)))
          return from
        })

      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        // A detailed watcher (the dashboard's): a's effective weight in web, from each FrontendEvent of web.
        const watched: Array<number> = []
        const services = { checker: yield* HealthChecker.HealthChecker, control: yield* Control.Control, hub: yield* LogHub.LogHub }
        yield* Effect.forkScoped(Stream.runForEach(watchEvents(services, { backend: false, frontendDetail: true }), (e) =>
          Effect.sync(() => {
            if (e._tag === "FrontendEvent" && e.frontend === "web") watched.push(e.info.pools[0]!.backends.find((b) => b.backend === "a")!.effectiveWeight)
          })))
        // Start-up: both backends come up in the warm-up and are programmed at their full weight at once.
        yield* advanceUntil("warm-up done", Effect.map(sync.phase, (p) => (p === "done" ? true : undefined)))
        yield* waitFor("web programmed", Effect.map(sent("192.0.2.10/32", 0), (w) => (w.length > 0 ? true : undefined)))
        expect((yield* sync.ramps).startedAt("a")).toBeUndefined()
        expect(yield* sent("192.0.2.10/32", 0)).toEqual([100])
        expect(yield* sent("192.0.2.20/32", 0)).toEqual([100])
        expect(events).toEqual([])

        // a goes down (weight 0), then comes back: the ramp starts at its first step.
        yield* goesDown("a down")
        const up = yield* comesUp("a up")
        const started = (yield* sync.ramps).startedAt("a")
        expect(started).toBeDefined()
        yield* waitFor("api's first step", Effect.map(sent("192.0.2.20/32", up), (w) => (w.length > 0 ? true : undefined)))
        // The clock is less than a step past the ramp's start: one step per second from here.
        expect(yield* TestClock.currentTimeMillis).toBeLessThan(started! + 1000)
        const desired = (yield* sync.desired).find((v) => v.frontend === "web")!.ases.find((a) => a.backend === "a")!
        expect(desired).toMatchObject({ weight: 10, slowStartUntil: started! + 10_000 })
        // The ramp fiber woken a rounding error short of a step's boundary (by a reload or an override elsewhere; the
        // harness's clock moves in ticks, so a fiber woken by its sleep can read the sleep's end, a float's ulp short):
        // that instant is on the boundary (SlowStart), so the step is due, in every VIP of the backend, now and not a
        // second later. The override is api's b: api is programmed anyway, web only by the ramp fiber.
        const running = yield* RunningConfig.RunningConfig
        yield* TestClock.setTime(started! + 1000 - 0.0005)
        yield* running.setWeight("api", "main", "b", 90)
        yield* waitFor("web's step 2 on the boundary", Effect.map(sent("192.0.2.10/32", up), (w) => (w.length >= 2 ? true : undefined)))
        yield* waitFor("the watcher's step 2", Effect.sync(() => (watched.at(-1) === WEB_RAMP[1] ? true : undefined)))
        yield* TestClock.setTime(started! + 1000)
        for (let k = 3; k <= WEB_RAMP.length; k++) {
          yield* stepUntil(1000, "192.0.2.10/32", up, k)
          yield* waitFor(`the watcher's step ${k}`, Effect.sync(() => (watched.at(-1) === WEB_RAMP[k - 1] ? true : undefined)))
        }
        expect(yield* sent("192.0.2.10/32", up)).toEqual(WEB_RAMP)
        // Every step reached the watcher, after the 0 of the down.
        expect(watched.slice(watched.lastIndexOf(0) + 1)).toEqual(WEB_RAMP)
        expect(yield* sent("192.0.2.20/32", up)).toEqual(API_RAMP)
        // Over: forgotten, and nothing more is sent.
        expect((yield* sync.ramps).startedAt("a")).toBeUndefined()
        const done = yield* last
        yield* TestClock.adjust("3 seconds")
        yield* pollDelay(100)
        expect(yield* sent("192.0.2.10/32", done)).toEqual([])

        // A flap mid-ramp: down after a few steps, up again, and the ramp starts over.
        yield* goesDown("a down again")
        const up2 = yield* comesUp("a up again")
        for (let k = 2; k <= 4; k++) yield* stepUntil(1000, "192.0.2.10/32", up2, k)
        yield* goesDown("a down mid-ramp")
        expect((yield* sync.ramps).startedAt("a")).toBeUndefined()
        const up3 = yield* comesUp("a up after the flap")
        for (let k = 2; k <= WEB_RAMP.length; k++) yield* stepUntil(1000, "192.0.2.10/32", up3, k)
        expect(yield* sent("192.0.2.10/32", up3)).toEqual(WEB_RAMP)
        // Before the 0: the first ramp's steps so far (the step due with the failing probe may or may not have gone out).
        const flapped = yield* sent("192.0.2.10/32", up2)
        const zero = flapped.indexOf(0)
        expect(zero).toBeGreaterThanOrEqual(4)
        expect(flapped).toEqual([...WEB_RAMP.slice(0, zero), 0, ...WEB_RAMP])
        // Three ramps started; the one the flap cut short did not finish.
        expect(events).toEqual([
          "backend-slow-start",
          "backend-slow-start-done",
          "backend-slow-start",
          "backend-slow-start",
          "backend-slow-start-done"
        ])

        // Paused (drained, no ramp) and resumed: probed afresh, it comes up and ramps again.
        const checker = yield* HealthChecker.HealthChecker
        const paused = yield* last
        yield* checker.pause("a")
        yield* waitFor("a drained by the pause", Effect.map(sent("192.0.2.10/32", paused), (w) => (w.includes(0) ? true : undefined)))
        expect(yield* sent("192.0.2.10/32", paused)).toEqual([0])
        const up4 = yield* last
        yield* checker.resume("a")
        yield* advanceUntil("a up after the resume", Effect.map(sent("192.0.2.10/32", up4), (w) => (w.length > 0 ? true : undefined)))
        // An override in the middle of a ramp: the steps follow the new weight (50) from the same start.
        yield* stepUntil(1000, "192.0.2.10/32", up4, 2)
        yield* running.setWeight("web", "main", "a", 50)
        yield* waitFor("the override's step", Effect.map(sent("192.0.2.10/32", up4), (w) => (w.length >= 3 ? true : undefined)))
        for (let k = 4; k <= 5; k++) yield* stepUntil(1000, "192.0.2.10/32", up4, k)
        // A reload without slow-start: the full weight at once (the reload dropped the override); probing goes on (no 0).
        yield* running.replace(configWith(undefined))
        yield* waitFor("the reload's weight", Effect.map(sent("192.0.2.10/32", up4), (w) => (w.length >= 6 ? true : undefined)))
        expect(yield* sent("192.0.2.10/32", up4)).toEqual([10, 19, 10, 14, 19, 100])
        yield* waitFor("the ramp's end", Effect.sync(() => (events.length >= 7 ? true : undefined)))
        expect(events.slice(5)).toEqual(["backend-slow-start", "backend-slow-start-done"])
        expect((yield* sync.ramps).startedAt("a")).toBeUndefined()
      }).pipe(Effect.provide(
        Layer.mergeAll(Control.layer({ configFile: "maglev.yaml" }), LogHub.layer()).pipe(Layer.provideMerge(daemon(cfg, sockets, answers)))
      ))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Info), Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
  }, 60_000)
})
