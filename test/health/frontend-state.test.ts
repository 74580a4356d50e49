/**
 * Frontend states (health/FrontendState.ts): the rule, the transitions it
 * logs as the health checker and the running configuration change, and the
 * metrics of a state.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, Queue, SubscriptionRef } from "effect"
import type { Frontend } from "../../src/config/Config.js"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as FrontendState from "../../src/health/FrontendState.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import type { HealthStatus } from "../../src/health/HealthState.js"
import { renderText } from "../../src/metrics/Prometheus.js"
import { backend, config, healthCheck } from "../support/config.js"

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

/** A health checker that is only its statuses, set by the test. */
const scriptedChecker = (statuses: SubscriptionRef.SubscriptionRef<HealthChecker.HealthMap>) =>
  Layer.succeed(HealthChecker.HealthChecker, {
    statuses: SubscriptionRef.get(statuses),
    changes: statuses.changes
  } as unknown as HealthChecker.HealthCheckerShape)

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
      const statuses = yield* SubscriptionRef.make(healthMap({}))
      const running = yield* RunningConfig.make(cfg)
      yield* FrontendState.watch.pipe(
        Effect.provide(scriptedChecker(statuses)),
        Effect.provideService(RunningConfig.RunningConfig, running),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture))
      )
      // The first state is where it starts from: no line.
      yield* SubscriptionRef.set(statuses, healthMap({ web1: "up", web2: "up", web3: "up" }))
      const up = yield* Queue.take(records)
      expect(up).toMatchObject({ level: "INFO", message: "frontend web is up: pool primary, 2 backends serving" })
      expect(up.annotations).toMatchObject({ event: "frontend-transition", frontend: "web", from: "unknown", to: "up", active_pool_from: "", active_pool: "primary", serving: 2 })

      // An operator weight override (not a health change) moves the frontend to the fallback pool.
      yield* running.setWeight("web", "primary", "web1", 0)
      yield* running.setWeight("web", "primary", "web2", 0)
      const moved = yield* Queue.take(records)
      expect(moved.annotations).toMatchObject({ from: "up", to: "up", active_pool_from: "primary", active_pool: "fallback", serving: 1 })

      yield* SubscriptionRef.set(statuses, healthMap({ web1: "up", web2: "up", web3: "down" }))
      const down = yield* Queue.take(records)
      expect(down).toMatchObject({ level: "WARN", message: "frontend web is down: no backend serving" })
      expect(down.annotations).toMatchObject({ from: "up", to: "down", active_pool_from: "fallback", active_pool: "", serving_from: 1, serving: 0 })
      expect(yield* Queue.size(records)).toBe(0)
    }))
})
