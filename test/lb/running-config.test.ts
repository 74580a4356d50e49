/**
 * RunningConfig: the one owner of the configuration and of the operator's
 * weight overrides, which the health checker and the LB sync subscribe to.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import type { Frontend } from "../../src/config/Config.js"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import { backend, config, healthCheck } from "../support/config.js"

const web: Frontend = {
  name: "web",
  description: "",
  address: "192.0.2.10/32",
  family: 4,
  protocol: "tcp",
  port: 80,
  pools: [
    { name: "primary", backends: [{ backend: "a", weight: 100 }, { backend: "b", weight: 50 }] },
    { name: "backup", backends: [{ backend: "c", weight: 100 }] }
  ],
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 1024
}
const other: Frontend = { ...web, name: "other", address: "192.0.2.11/32" }
const cfg = config({
  healthchecks: [healthCheck("hc")],
  backends: [backend("a", "10.0.0.1", "hc"), backend("b", "10.0.0.2", "hc"), backend("c", "10.0.0.3", "hc")],
  frontends: [web, other]
})

const weightOf = (f: Frontend | undefined, pool: string, member: string) =>
  f?.pools.find((p) => p.name === pool)?.backends.find((m) => m.backend === member)?.weight

describe("RunningConfig", () => {
  it.effect("an override changes the effective configuration only, shares what it does not change, and the file's weight removes it", () =>
    Effect.gen(function*() {
      const running = yield* RunningConfig.make(cfg)
      const set = yield* running.setWeight("web", "primary", "b", 0)
      expect(set).toMatchObject({ changed: true, fileWeight: 50 })
      expect(weightOf(set.frontend, "primary", "b")).toBe(0)
      const r = yield* running.get
      expect(r.file).toBe(cfg)
      expect([...r.weights]).toEqual([["web/primary/b", 0]])
      expect(weightOf(r.effective.frontends.get("web"), "primary", "b")).toBe(0)
      // Objects the override does not touch are the file's own.
      expect(r.effective.frontends.get("other")).toBe(other)
      expect(r.effective.backends).toBe(cfg.backends)
      // Setting the same weight again is no change; the file's weight removes the override.
      expect((yield* running.setWeight("web", "primary", "b", 0)).changed).toBe(false)
      expect((yield* running.setWeight("web", "primary", "b", 50)).changed).toBe(true)
      expect((yield* running.get).weights.size).toBe(0)
      expect(yield* running.config).toBe(cfg)
    }))

  it.effect("names what it does not know", () =>
    Effect.gen(function*() {
      const running = yield* RunningConfig.make(cfg)
      const missing = (f: string, p: string, b: string) => Effect.flip(running.setWeight(f, p, b, 10))
      expect(yield* missing("nope", "primary", "a")).toMatchObject({ kind: "frontend", name: "nope" })
      expect(yield* missing("web", "nope", "a")).toMatchObject({ kind: "pool", name: "web/nope" })
      expect((yield* missing("web", "backup", "a")).message).toBe(`pool-member "web/backup/a" is not in the running configuration`)
    }))

  it.effect("a reload replaces the configuration whole and drops the overrides; subscribers apply every change in order before it returns, while subscribed", () =>
    Effect.gen(function*() {
      const running = yield* RunningConfig.make(cfg)
      const seen: Array<string> = []
      const scope = yield* Scope.make()
      yield* running.subscribe((c) => Effect.sync(() => void seen.push(`first ${c._tag}`))).pipe(Scope.extend(scope))
      yield* running.subscribe((c) =>
        Effect.sync(() => void seen.push(`second ${c._tag}${c._tag === "Override" ? ` ${c.frontend}/${c.pool}/${c.backend}` : ""}`))
      ).pipe(Scope.extend(scope))
      yield* running.setWeight("web", "backup", "c", 10)
      expect(seen).toEqual(["first Override", "second Override web/backup/c"])
      const next = config({ healthchecks: [healthCheck("hc")], backends: [backend("a", "10.0.0.1", "hc")], frontends: [] })
      yield* running.replace(next)
      expect(seen.slice(2)).toEqual(["first Reload", "second Reload"])
      const r = yield* running.get
      expect(r.file).toBe(next)
      expect(r.effective).toBe(next)
      expect(r.weights.size).toBe(0)
      yield* Scope.close(scope, Exit.void)
      yield* running.replace(cfg)
      expect(seen).toHaveLength(4)
    }))
})
