/**
 * Slow start's pure parts: the step rule (SlowStart.ts), the ramp as an input
 * of the desired state (Desired.ts), and `slow-start` in maglev.yaml (both
 * validation stages). The ramp through the LB sync: slow-start-sync.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, FastCheck as fc, HashMap } from "effect"
import * as Info from "../../src/api/Info.js"
import * as Format from "../../src/cli/Format.js"
import * as Gauges from "../../src/metrics/Gauges.js"
import { renderText } from "../../src/metrics/Prometheus.js"
import type { Frontend, Pool } from "../../src/config/Config.js"
import { formatIssue } from "../../src/config/Issue.js"
import type { BackendHealth } from "../../src/health/HealthChecker.js"
import * as State from "../../src/health/HealthState.js"
import { desiredVip } from "../../src/lb/Desired.js"
import * as SlowStart from "../../src/lb/SlowStart.js"
import { check, configYaml, errorsOf } from "../config/support.js"
import { backend, config, healthCheck, tcpFrontend as frontend } from "../support/config.js"

/** Every (time, weight) the ramp passes through, following `nextStepAt` from its start. */
const walk = (weight: number, durationMs: number, start: number) => {
  const out: Array<readonly [number, number]> = [[start, SlowStart.weightAt(weight, durationMs, start, start)]]
  for (let t = SlowStart.nextStepAt(weight, durationMs, start, start); t !== undefined; t = SlowStart.nextStepAt(weight, durationMs, start, t)) {
    out.push([t, SlowStart.weightAt(weight, durationMs, start, t)])
  }
  return out
}

describe("SlowStart: the step rule", () => {
  it("30 s to weight 100: 4, 7, 10, … 97 a second apart, then 100 at 30 s", () => {
    const steps = walk(100, 30_000, 1_000)
    expect(steps).toHaveLength(31)
    expect(steps.slice(0, 4)).toEqual([[1_000, 4], [2_000, 7], [3_000, 10], [4_000, 13]])
    expect(steps.slice(-2)).toEqual([[30_000, 97], [31_000, 100]])
    expect(SlowStart.weightAt(100, 30_000, 1_000, 1_999)).toBe(4)
    expect(SlowStart.weightAt(100, 30_000, 1_000, 31_000 + 3_600_000)).toBe(100)
  })

  it("never more steps than the weight: 60 s to weight 3 is 1, 2, 3 twenty seconds apart", () => {
    expect(walk(3, 60_000, 0)).toEqual([[0, 1], [20_000, 2], [40_000, 3], [60_000, 3]])
  })

  it("a time a rounding error before a step's boundary is on it: the next step is ahead, never 1e-12 ms away", () => {
    // A start and a now as the harness's test clock gave them (the ramp fiber looped on them).
    const start = 27_106.731755
    const now = 28_106.731754999997
    expect(now).toBeLessThan(start + 1_000) // just short of the boundary, by a rounding error
    const next = SlowStart.nextStepAt(50, 3_000, start, now)!
    expect(next - now).toBeGreaterThan(1e-4)
    expect(next).toBe(start + 2_000)
    expect(SlowStart.weightAt(50, 3_000, start, now)).toBe(SlowStart.weightAt(50, 3_000, start, start + 1_000))
    // The step that began there is due (the ramp fiber sends it now, not with the next one); the next one is not.
    expect(SlowStart.isDue(start + 1_000, now)).toBe(true)
    expect(SlowStart.isDue(next, now)).toBe(false)
    // Every time of a ramp at epoch milliseconds: the next step is always some way ahead.
    for (let t = 1_760_000_000_000.3; t < 1_760_000_031_000; t += 499.9999) {
      const at = SlowStart.nextStepAt(100, 30_000, 1_760_000_000_000.1, t)
      if (at !== undefined) expect(at - t).toBeGreaterThan(1e-4)
    }
  })

  it("no ramp without a duration, for weight 0 or 1, before the start or once over", () => {
    expect(SlowStart.nextStepAt(100, 0, 0, 0)).toBeUndefined()
    expect(SlowStart.weightAt(100, 0, 0, 0)).toBe(100)
    expect(SlowStart.weightAt(0, 10_000, 0, 0)).toBe(0)
    expect(SlowStart.nextStepAt(1, 10_000, 0, 0)).toBeUndefined()
    expect(SlowStart.weightAt(100, 10_000, 5_000, 0)).toBe(10) // a start in the future: its first step
    expect(SlowStart.nextStepAt(100, 10_000, 0, 10_000)).toBeUndefined()
  })

  it("a ramp's start is the health's last transition into up after the warm-up, while a slow start can last", () => {
    const t = (at: number, from: State.HealthStatus, to: State.HealthStatus): State.Transition => ({ at, from, to, cause: "probe", result: undefined })
    const up = (at: number, from: State.HealthStatus = "down") => ({ status: "up", transitions: [t(at - 5_000, "up", "down"), t(at, from, "up")] })
    expect(SlowStart.rampStart(up(20_000), 10_000, 25_000, 30_000)).toBe(20_000)
    expect(SlowStart.rampStart(up(20_000, "unknown"), 10_000, 25_000, 30_000)).toBe(20_000) // a resume, an enable, a new backend
    expect(SlowStart.rampStart(up(9_000, "unknown"), 10_000, 25_000, 30_000)).toBeUndefined() // up in the warm-up: no ramp
    expect(SlowStart.rampStart(up(20_000), 10_000, 50_000, 30_000)).toBeUndefined() // over everywhere
    expect(SlowStart.rampStart({ status: "down", transitions: [t(20_000, "up", "down")] }, 10_000, 25_000, 30_000)).toBeUndefined()
    expect(SlowStart.rampStart({ status: "up", transitions: [] }, 10_000, 25_000, 30_000)).toBeUndefined()
  })

  const ramp = fc.record({
    weight: fc.integer({ min: 1, max: 100 }),
    durationMs: fc.integer({ min: 1_000, max: 600_000 }),
    start: fc.integer({ min: 0, max: 2 ** 40 })
  })

  it.prop("steps ≥ 1 s apart, at most min(weight, seconds) + 1 weights, rising from ≥ 1 to the weight at the end", [ramp], ([r]) => {
    const steps = walk(r.weight, r.durationMs, r.start)
    const n = SlowStart.steps(r.durationMs, r.weight)
    expect(steps.length).toBeLessThanOrEqual(Math.min(r.weight, Math.floor(r.durationMs / 1000)) + 1)
    expect(steps.length).toBe(r.weight <= 1 ? 1 : n + 1)
    expect(steps[0]![1]).toBeGreaterThanOrEqual(1)
    expect(steps[steps.length - 1]).toEqual([r.weight <= 1 ? r.start : r.start + r.durationMs, r.weight])
    for (let i = 1; i < steps.length; i++) {
      expect(steps[i]![0] - steps[i - 1]![0]).toBeGreaterThanOrEqual(1000)
      expect(steps[i]![1]).toBeGreaterThanOrEqual(steps[i - 1]![1])
    }
  })

  it.prop("the weight is constant between two steps", [ramp, fc.double({ min: 0, max: 1, noNaN: true })], ([r, f]) => {
    const t = r.start + Math.floor(f * r.durationMs)
    const next = SlowStart.nextStepAt(r.weight, r.durationMs, r.start, t)
    if (next === undefined) return
    expect(next).toBeGreaterThan(t)
    expect(SlowStart.weightAt(r.weight, r.durationMs, r.start, next - 1)).toBe(SlowStart.weightAt(r.weight, r.durationMs, r.start, t))
  })
})

describe("SlowStart: the ramp in the desired state", () => {
  const hc = healthCheck("hc", { slowStart: Duration.seconds(10) })
  const pool = (name: string, slowStart?: Duration.Duration): Pool => ({
    name,
    backends: [{ backend: "a", weight: 100 }, { backend: "b", weight: 50 }],
    slowStart
  })
  const web = frontend("web", "192.0.2.10/32", [pool("main")])
  const api = frontend("api", "192.0.2.20/32", [pool("main", Duration.seconds(2))])
  const backup = frontend("backup", "192.0.2.30/32", [{ name: "main", backends: [{ backend: "b", weight: 100 }] }, pool("spare")])
  const cfg = config({
    healthchecks: [hc],
    backends: [backend("a", "10.0.0.1", "hc"), backend("b", "10.0.0.2", "hc")],
    frontends: [web, api, backup]
  })
  const up = () => "up" as const
  const ramps = (now: number): SlowStart.Ramps => ({ now, startedAt: (b) => (b === "a" ? 0 : undefined) })
  const weights = (f: Frontend, now: number, status: (b: string) => "up" | "down" = up) =>
    desiredVip(f, cfg, status, ramps(now)).ases.map((a) => [a.backend, a.weight, a.slowStartUntil])

  it("a ramping backend gets its step weight in the active pool, with the pool's duration over the health check's", () => {
    expect(weights(web, 0)).toEqual([["a", 10, 10_000], ["b", 50, undefined]])
    expect(weights(web, 9_999)).toEqual([["a", 91, 10_000], ["b", 50, undefined]])
    expect(weights(web, 10_000)).toEqual([["a", 100, undefined], ["b", 50, undefined]])
    expect(weights(api, 0)).toEqual([["a", 34, 2_000], ["b", 50, undefined]])
    expect(weights(api, 1_000)).toEqual([["a", 67, 2_000], ["b", 50, undefined]])
    expect(desiredVip(web, cfg, up)).toMatchObject({ ases: [{ weight: 100 }, { weight: 50 }] }) // no ramps: no ramp
  })

  it("the API's effective weight is the step, with slowStartUntil; maglevc shows the time left; so does the metric", () => {
    const healthOf = (name: string, address: string): BackendHealth => ({
      ...State.initial({ rise: 2, fall: 3 }, true),
      status: "up",
      name,
      address,
      healthcheck: "hc"
    })
    const a = healthOf("a", "10.0.0.1")
    const snapshot: Info.Snapshot = {
      config: cfg,
      health: HashMap.make(["a", a], ["b", healthOf("b", "10.0.0.2")]),
      fileWeights: new Map(),
      ramps: ramps(3_000)
    }
    const info = Info.frontendInfo(snapshot, web)
    expect(info.pools[0]!.backends.map((b) => [b.backend, b.weight, b.effectiveWeight, b.slowStartUntil]))
      .toEqual([["a", 100, 37, 10_000], ["b", 50, 50, undefined]])
    expect(Info.backendInfo(snapshot, a).memberships.map((m) => [m.frontend, m.effectiveWeight, m.slowStartUntil]))
      .toEqual([["web", 37, 10_000], ["api", 100, undefined], ["backup", 0, undefined]])
    const style = { color: false, now: 3_000 }
    expect(Format.frontendText(info, style)).toMatch(/\n +a +10\.0\.0\.1 +up +100 +37 \(slow start, 7s\) /)
    expect(Format.weightText(info, "main", "a", style)).toContain("effective 37 (slow start, 7s), state up")
    expect(Format.frontendText(Info.frontendInfo({ ...snapshot, ramps: undefined }, web), style)).not.toContain("slow start")
    // The metric of the effective weight says the same.
    const scrape = renderText(Gauges.all({ config: cfg, health: snapshot.health, vppConnected: true, vipCounters: new Map(), ramps: ramps(3_000) }))
    expect(scrape).toContain('maglev_frontend_pool_backend_weight{frontend="web",pool="main",backend="a"} 37\n')
    expect(scrape).toContain('maglev_frontend_pool_backend_weight{frontend="api",pool="main",backend="a"} 100\n')
    expect(scrape).toContain('maglev_frontend_pool_backend_weight{frontend="web",pool="main",backend="b"} 50\n')
  })

  it("outside the active pool the weight is 0, ramp or not; a down backend is 0 with no ramp shown", () => {
    expect(weights(backup, 0)).toEqual([["a", 0, undefined], ["b", 100, undefined]])
    expect(weights(web, 0, (b) => (b === "a" ? "down" : "up"))).toEqual([["a", 0, undefined], ["b", 50, undefined]])
  })
})

describe("SlowStart: slow-start in maglev.yaml", () => {
  const pools = (extra: string) => ({
    frontends: ["web:", "  address: 192.0.2.10", "  protocol: tcp", "  port: 80", "  pools:", "    - name: main", `      backends: { b1: , b2: }${extra}`].join("\n")
  })
  const errors = (sections: Parameters<typeof configYaml>[0]) => {
    const result = check(configYaml(sections))
    return { tag: result._tag, errors: errorsOf(result).map((e) => ({ path: e.path, rule: e.rule, value: e.value })), result }
  }

  it("is read on a health check and on a pool", () => {
    const result = check(configYaml({ healthchecks: "hc: { type: tcp, port: 80, slow-start: 30s }", ...pools("\n      slow-start: 1m") }))
    expect(result._tag).toBe("Valid")
    if (result._tag !== "Valid") return
    expect(Duration.toMillis(result.config.healthchecks.get("hc")!.slowStart!)).toBe(30_000)
    expect(Duration.toMillis(result.config.frontends.get("web")!.pools[0]!.slowStart!)).toBe(60_000)
  })

  it.each([
    ["0s", "SemanticError", "must be at least 1s (leave slow-start out for none)", '"0s"'],
    ["0", "SemanticError", "must be at least 1s (leave slow-start out for none)", "0"],
    ["500ms", "SemanticError", "must be at least 1s (leave slow-start out for none)", '"500ms"'],
    ["-5s", "ParseError", "a duration cannot be negative", '"-5s"'],
    ["30", "ParseError", "missing unit", "30"],
    ["30 seconds", "ParseError", "unknown unit", '"30 seconds"'],
    ["[30s]", "ParseError", "expected a duration like 2s, 500ms or 1m30s", "[…]"]
  ] as const)("slow-start: %s on a health check is refused: %s", (value, stage, rule, shown) => {
    const e = errors({ healthchecks: `hc: { type: tcp, port: 80, slow-start: ${value} }` })
    expect(e.tag).toBe(stage)
    expect(e.errors).toHaveLength(1)
    expect(e.errors[0]!.path).toBe("maglev.healthchecks.hc.slow-start")
    expect(e.errors[0]!.rule).toContain(rule)
    expect(e.errors[0]!.value).toBe(shown)
  })

  it("on a pool, with the file, line, field and value as written in the printed error", () => {
    const result = check(configYaml(pools("\n      slow-start: 0.5s")))
    const [e] = errorsOf(result)
    expect(e).toMatchObject({ path: "maglev.frontends.web.pools[0].slow-start", value: '"0.5s"', line: 18 })
    expect(formatIssue(e!, "maglev.yaml")).toContain("maglev.yaml:18:")
    expect(formatIssue(e!, "maglev.yaml")).toContain("maglev.frontends.web.pools[0].slow-start")
  })
})
