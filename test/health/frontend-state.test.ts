/**
 * Frontend states (health/FrontendState.ts): the rule, the transitions it
 * logs as the health checker and the running configuration change, and the
 * metrics of a state.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, HashMap, Layer, Logger, PubSub, Queue, SubscriptionRef } from "effect"
import type { Frontend } from "../../src/config/Config.js"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as FrontendState from "../../src/health/FrontendState.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import type { HealthStatus } from "../../src/health/HealthState.js"
import { renderText } from "../../src/metrics/Prometheus.js"
import { backend, config, healthCheck, tcpFrontend } from "../support/config.js"

const web: Frontend = {
  name: "web",
  description: "",
  address: "192.0.2.1/32",
  family: 4,
  protocol: "tcp",
  port: 80,
  pools: [
    { name: "primary", backends: [{ backend: "web1", weight: 100 }, { backend: "web2", weight: 100 }] },
    { name: "fallback", backends: [{ backend: "web3", weight: 100 }] }
  ],
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 1024
}
const cfg = config({
  healthchecks: [healthCheck("hc")],
  backends: [backend("web1", "10.0.0.1", "hc"), backend("web2", "10.0.0.2", "hc"), backend("web3", "10.0.0.3", "hc")],
  frontends: [web]
})

const statusOf = (s: Record<string, HealthStatus>) => (b: string) => s[b]

describe("the rule", () => {
  it("up while a backend of the first pool with one up serves; the count is that pool's up backends with weight", () => {
    expect(FrontendState.frontendStatus(web, statusOf({ web1: "up", web2: "up", web3: "up" }))).toEqual({ state: "up", activePool: "primary", serving: 2 })
    expect(FrontendState.frontendStatus(web, statusOf({ web1: "down", web2: "up" }))).toEqual({ state: "up", activePool: "primary", serving: 1 })
    expect(FrontendState.frontendStatus(web, statusOf({ web1: "down", web2: "paused", web3: "up" }))).toEqual({ state: "up", activePool: "fallback", serving: 1 })
    expect(FrontendState.frontendStatus(web, statusOf({ web1: "down", web2: "disabled", web3: "down" }))).toEqual({ state: "down", activePool: undefined, serving: 0 })
    expect(FrontendState.frontendStatus(web, statusOf({}))).toEqual({ state: "unknown", activePool: undefined, serving: 0 })
  })

  it("a transition is a change of state or of active pool, not of the count alone", () => {
    const at = (s: Record<string, HealthStatus>) => FrontendState.statuses(cfg, statusOf(s))
    expect(FrontendState.transitions(at({ web1: "up", web2: "up" }), at({ web1: "up", web2: "down" }))).toEqual([])
    const [lost] = FrontendState.transitions(at({ web1: "up" }), at({ web1: "down", web3: "down" }))
    expect(FrontendState.describe(lost!)).toBe("frontend web is down: no backend serving")
    const [moved] = FrontendState.transitions(at({ web1: "up" }), at({ web1: "down", web3: "up" }))
    expect(FrontendState.describe(moved!)).toBe("frontend web serves from pool fallback (was primary), 1 backend")
  })

  it("exports one state series per state and the serving count", () => {
    const text = renderText(FrontendState.sources(FrontendState.statuses(cfg, statusOf({ web1: "up", web2: "up" }))))
    expect(text).toContain('maglev_frontend_state{frontend="web",state="up"} 1\n')
    expect(text).toContain('maglev_frontend_state{frontend="web",state="down"} 0\n')
    expect(text).toContain('maglev_frontend_serving_backends{frontend="web"} 2\n')
  })
})

describe("the tracker", () => {
  const STATUSES: ReadonlyArray<HealthStatus | undefined> = [undefined, "unknown", "up", "down", "paused", "disabled"]
  const BACKENDS = 12
  /** Frontends of one or two pools over backends b0..b11 (weights 0 or 100). */
  const frontendArb = fc.array(
    fc.array(fc.record({ backend: fc.integer({ min: 0, max: BACKENDS - 1 }), weight: fc.constantFrom(0, 100) }), { minLength: 1, maxLength: 4 }),
    { minLength: 1, maxLength: 2 }
  )
  const configOf = (frontends: ReadonlyArray<ReadonlyArray<ReadonlyArray<{ backend: number; weight: number }>>>) =>
    config({
      healthchecks: [healthCheck("hc")],
      backends: Array.from({ length: BACKENDS }, (_, i) => backend(`b${i}`, `10.0.0.${i + 1}`, "hc")),
      frontends: frontends.map((pools, f) =>
        tcpFrontend(`f${f}`, `192.0.2.${f + 1}/32`, pools.map((members, p) => ({ name: `p${p}`, backends: members.map((m) => ({ backend: `b${m.backend}`, weight: m.weight })) })))
      )
    })
  /** Steps of health changes, (backend, status) pairs applied together, some with a switch to the other configuration. */
  const stepsArb = fc.array(
    fc.record({ health: fc.array(fc.tuple(fc.integer({ min: 0, max: BACKENDS - 1 }), fc.constantFrom(...STATUSES)), { maxLength: 4 }), reload: fc.boolean() }),
    { maxLength: 12 }
  )
  const configsArb = fc.tuple(fc.array(frontendArb, { minLength: 1, maxLength: 8 }), fc.array(frontendArb, { minLength: 1, maxLength: 8 }))

  it.prop("judging only the frontends of the backends that changed gives what judging every frontend gives", [configsArb, stepsArb], ([[one, other], steps]) => {
    const configs = [configOf(one), configOf(other)] as const
    let cfg = configs[0]
    const health = new Map<string, HealthStatus | undefined>()
    const status = (b: string) => health.get(b)
    const tracker = FrontendState.makeTracker()
    tracker.update(cfg, status, undefined, { backends: [], frontends: [] })
    let before = FrontendState.statuses(cfg, status)
    for (const step of steps) {
      for (const [b, s] of step.health) health.set(`b${b}`, s)
      if (step.reload) cfg = cfg === configs[0] ? configs[1] : configs[0]
      const got = tracker.update(cfg, status, undefined, { backends: step.health.map(([b]) => `b${b}`), frontends: [] })
      const after = FrontendState.statuses(cfg, status)
      expect(got).toEqual(FrontendState.transitions(before, after))
      expect(tracker.current()).toEqual(after)
      before = after
    }
  })

  it("asks only the backends that changed, not the other members of their frontends; a new configuration asks all", () => {
    // 1,000 frontends of 4 backends each, no two sharing one.
    const many = config({
      healthchecks: [healthCheck("hc")],
      backends: Array.from({ length: 4000 }, (_, i) => backend(`b${i}`, `10.1.${i >> 8}.${i & 255}`, "hc")),
      frontends: Array.from({ length: 1000 }, (_, f) =>
        tcpFrontend(`f${f}`, `192.0.${f >> 8}.${f & 255}/32`, [{ name: "p", backends: [0, 1, 2, 3].map((k) => ({ backend: `b${4 * f + k}`, weight: 100 })) }]))
    })
    const asked = new Set<string>()
    const health = new Map<string, HealthStatus>()
    const status = (b: string) => (asked.add(b), health.get(b))
    const tracker = FrontendState.makeTracker()
    tracker.update(many, status, undefined, { backends: [], frontends: [] })
    expect(asked.size).toBe(4000)
    asked.clear()
    health.set("b2001", "up")
    const [t] = tracker.update(many, status, undefined, { backends: ["b2001"], frontends: [] })
    expect(t).toMatchObject({ frontend: "f500", to: { state: "up", serving: 1 } })
    expect([...asked]).toEqual(["b2001"])
    asked.clear()
    // A frontend judged again (a panic's start or end) without a change of health: still up, no transition.
    expect(tracker.update(many, status, undefined, { backends: [], frontends: ["f500"] })).toEqual([])
    expect(tracker.current().get("f500")).toEqual({ state: "up", activePool: "p", serving: 1 })
    asked.clear()
    tracker.update({ ...many }, status, undefined, { backends: [], frontends: [] })
    expect(asked.size).toBe(4000)
  })
})

/** A health checker that is only its statuses and transitions, set by the test. */
const scriptedChecker = Effect.gen(function*() {
  const statuses = yield* SubscriptionRef.make(healthMap({}))
  const events = yield* PubSub.unbounded<HealthChecker.HealthEvent>()
  const layer = Layer.succeed(HealthChecker.HealthChecker, {
    statuses: SubscriptionRef.get(statuses),
    changes: statuses.changes,
    subscribe: PubSub.subscribe(events)
  } as unknown as HealthChecker.HealthCheckerShape)
  /** Sets the statuses and publishes a transition for each backend whose status changed, as the checker does. */
  const set = (s: Record<string, HealthStatus>) =>
    Effect.gen(function*() {
      const before = yield* SubscriptionRef.get(statuses)
      yield* SubscriptionRef.set(statuses, healthMap(s))
      const changed = Object.keys(s).filter((b) => HashMap.get(before, b).pipe((o) => o._tag === "None" || o.value.status !== s[b]))
      yield* PubSub.publishAll(events, changed.map((b) => ({ _tag: "BackendTransition", backend: b }) as unknown as HealthChecker.HealthEvent))
    })
  return { layer, set }
})

const healthMap = (s: Record<string, HealthStatus>): HealthChecker.HealthMap =>
  HashMap.fromIterable(
    Object.entries(s).map(([name, status]) => [name, { name, status } as unknown as HealthChecker.BackendHealth] as const)
  )

describe("the watch", () => {
  it.scoped("logs each frontend transition from the checker and the running configuration, a lost frontend at warning", () =>
    Effect.gen(function*() {
      const records = yield* Queue.unbounded<{ level: string; message: string; annotations: Record<string, unknown> }>()
      const capture = Logger.make(({ annotations, logLevel, message }) => {
        if (HashMap.get(annotations, "event")._tag === "Some") {
          records.unsafeOffer({ level: logLevel.label, message: String((message as Array<unknown>)[0]), annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
        }
      })
      const checker = yield* scriptedChecker
      const running = yield* RunningConfig.make(cfg)
      yield* FrontendState.watch.pipe(
        Effect.provide(checker.layer),
        Effect.provideService(RunningConfig.RunningConfig, running),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture))
      )
      // The first state is where it starts from: no line.
      yield* checker.set({ web1: "up", web2: "up", web3: "up" })
      const up = yield* Queue.take(records)
      expect(up).toMatchObject({ level: "INFO", message: "frontend web is up: pool primary, 2 backends serving" })
      expect(up.annotations).toMatchObject({ event: "frontend-transition", frontend: "web", from: "unknown", to: "up", active_pool_from: "", active_pool: "primary", serving: 2 })

      // An operator weight override (not a health change) moves the frontend to the fallback pool.
      yield* running.setWeight("web", "primary", "web1", 0)
      yield* running.setWeight("web", "primary", "web2", 0)
      const moved = yield* Queue.take(records)
      expect(moved.annotations).toMatchObject({ from: "up", to: "up", active_pool_from: "primary", active_pool: "fallback", serving: 1 })

      yield* checker.set({ web1: "up", web2: "up", web3: "down" })
      const down = yield* Queue.take(records)
      expect(down).toMatchObject({ level: "WARN", message: "frontend web is down: no backend serving" })
      expect(down.annotations).toMatchObject({ from: "up", to: "down", active_pool_from: "fallback", active_pool: "", serving_from: 1, serving: 0 })
      expect(yield* Queue.size(records)).toBe(0)
    }))
})
