/**
 * The min-healthy guard through VPP's one writer: the real HealthChecker
 * (scripted probe results), the VPP supervisor and the LB sync against the
 * in-process simulator, on TestClock. The test waits for the LB sync's own
 * verdict (its panic state, an idle queue), never for a length of time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, HashMap, Logger, LogLevel } from "effect"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import type { ProbeResult } from "../../src/health/ProbeResult.js"
import { pollDelay } from "../../src/internal/WallClock.js"
import * as LbSync from "../../src/lb/LbSync.js"
import type { LbMutation } from "../../src/sim/LbPlugin.js"
import { backend, config, healthCheck, tcpFrontend } from "../support/config.js"
import { advanceUntil, asWeights, daemon, FAIL, PASS, simulatorAt } from "../support/lbDaemon.js"

const hc = healthCheck("hc", { interval: Duration.seconds(1), fastInterval: Duration.seconds(1), downInterval: Duration.seconds(1), rise: 1, fall: 1 })
const NAMES = ["a", "b", "c", "d"]
const cfg = config({
  healthchecks: [hc],
  backends: NAMES.map((n, i) => backend(n, `10.0.0.${i + 1}`, "hc")),
  frontends: [
    tcpFrontend("web", "192.0.2.10/32", [{ name: "primary", backends: NAMES.map((backend) => ({ backend, weight: 100 })) }], {
      minHealthy: { kind: "percent", value: 50 }
    })
  ]
})

/** A logger that keeps the frontend-panic* events, in order. */
const panicEvents = (events: Array<string>) =>
  Logger.make(({ annotations }) => {
    const e = HashMap.get(annotations, "event")
    if (e._tag === "Some" && String(e.value).startsWith("frontend-panic")) events.push(String(e.value))
  })

const lbOps = (ms: ReadonlyArray<LbMutation>) => ms.filter((m) => m.op !== "conf" && m.op !== "restart")

describe("min-healthy through the LB sync", () => {
  it.scoped("VPP keeps the weights when the pool falls under min-healthy, a restart in panic changes nothing, and the end drains", () => {
    const events: Array<string> = []
    const collect = panicEvents(events)
    return Effect.gen(function*() {
      const sockets = yield* simulatorAt("panic-")
      const { sim } = sockets
      const answers = new Map<string, ProbeResult>()
      /** The LB sync has nothing pending and the frontend's panic is as wanted. */
      const settled = (sync: LbSync.LbSyncShape, panic: boolean) =>
        Effect.gen(function*() {
          const idle = yield* sync.idle
          const p = (yield* sync.panics).get("web")?.guard?.panic
          return idle && (p !== undefined) === panic ? true : undefined
        })

      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        yield* advanceUntil("programmed", Effect.sync(() => (Object.keys(asWeights(sim)).length === 4 ? true : undefined)))
        expect(asWeights(sim)).toEqual({ "10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.3": 100, "10.0.0.4": 100 })

        // Two of four down: at the threshold (2), drained as usual.
        answers.set("a", FAIL)
        answers.set("b", FAIL)
        yield* advanceUntil("a and b drained", Effect.sync(() => (asWeights(sim)["10.0.0.2"] === 0 && asWeights(sim)["10.0.0.1"] === 0 ? true : undefined)))

        // c down too: 1 of 4 up, panic. VPP is not touched: c keeps its weight, unflushed.
        const mark = (yield* sim.mutations).length
        answers.set("c", FAIL)
        yield* advanceUntil("panic", settled(sync, true))
        yield* pollDelay(50)
        expect(lbOps((yield* sim.mutations).slice(mark))).toEqual([])
        expect(asWeights(sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 100, "10.0.0.4": 100 })
        expect((yield* sync.panics).get("web")?.guard?.panic).toMatchObject({ pool: "primary", up: 1, threshold: 2, keptPool: "primary" })
        // A full sync agrees: nothing to do.
        expect((yield* sync.sync()).ops).toEqual([])
        expect(events).toEqual(["frontend-panic"])
      }).pipe(Effect.provide(daemon(cfg, sockets, answers)))

      // A restarted daemon, still in panic: it takes the last good weights from VPP and changes nothing.
      const mark = (yield* sim.mutations).length
      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        yield* advanceUntil("warm-up done, in panic", Effect.zipWith(sync.phase, settled(sync, true), (p, s) => (p === "done" ? s : undefined)))
        expect((yield* sync.sync()).ops).toEqual([])
        expect((yield* sim.mutations).slice(mark)).toEqual([])
        expect(asWeights(sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 100, "10.0.0.4": 100 })

        // b comes back: 2 of 4 up, the panic ends; the ordinary weights, c (still down) drained with a flush.
        answers.set("b", PASS)
        yield* advanceUntil("panic over", settled(sync, false))
        yield* advanceUntil("b serves", Effect.sync(() => (asWeights(sim)["10.0.0.2"] === 100 ? true : undefined)))
        expect(asWeights(sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 100, "10.0.0.3": 0, "10.0.0.4": 100 })
        expect(lbOps((yield* sim.mutations).slice(mark)).map((m) => [m.op, (m.details as { address?: string }).address])).toEqual([
          ["as-weight", "10.0.0.2"],
          ["as-weight", "10.0.0.3"],
          ["as-flush", "10.0.0.3"]
        ])
        expect((yield* sync.panics).get("web")?.entries).toBe(1)
      }).pipe(Effect.provide(daemon(cfg, sockets, answers)))
      expect(events).toEqual(["frontend-panic", "frontend-panic", "frontend-panic-end"])
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)), Logger.withMinimumLogLevel(LogLevel.Info))
  }, 60_000)

  it.scoped("a reload that removes a frontend in panic ends the panic and forgets its guard", () => {
    const events: Array<string> = []
    const collect = panicEvents(events)
    return Effect.gen(function*() {
      const sockets = yield* simulatorAt("panic-rm-")
      const answers = new Map<string, ProbeResult>()
      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        const running = yield* RunningConfig.RunningConfig
        yield* advanceUntil("programmed", Effect.sync(() => (Object.keys(asWeights(sockets.sim)).length === 4 ? true : undefined)))
        for (const n of ["a", "b", "c"]) answers.set(n, FAIL)
        yield* advanceUntil("panic", Effect.map(sync.panics, (p) => (p.get("web")?.guard?.panic !== undefined ? true : undefined)))
        yield* running.replace(config({ healthchecks: [hc], backends: [...cfg.backends.values()], frontends: [] }))
        yield* advanceUntil("the guard forgotten", Effect.zipWith(sync.idle, sync.panics, (idle, p) => (idle && !p.has("web") ? true : undefined)))
        expect(events).toEqual(["frontend-panic", "frontend-panic-end"])
      }).pipe(Effect.provide(daemon(cfg, sockets, answers)))
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)), Logger.withMinimumLogLevel(LogLevel.Info))
  }, 60_000)
})
