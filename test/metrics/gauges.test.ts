/**
 * The scrape-time gauges (src/metrics/Gauges.ts) as a pure function of one
 * snapshot: backends in file order then removed ones, state as a label set,
 * effective weights on the active pool's rows only, VIP packets per kind.
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import { checkConfigText } from "../../src/config/Check.js"
import type { BackendHealth } from "../../src/health/HealthChecker.js"
import type { HealthStatus } from "../../src/health/HealthState.js"
import * as Gauges from "../../src/metrics/Gauges.js"
import * as Prometheus from "../../src/metrics/Prometheus.js"
import { yaml } from "../api/support.js"
import { parse, valueOf } from "./exposition.js"

const checked = checkConfigText(yaml())
if (checked._tag !== "Valid") throw new Error("the test configuration is invalid")
const config = checked.config

const health = (name: string, status: HealthStatus, counter: number): BackendHealth => ({
  name,
  address: config.backends.get(name)?.address ?? "10.0.0.99",
  healthcheck: "hc",
  status,
  counter,
  rise: 1,
  fall: 1,
  transitions: [],
  lastResult: undefined,
  lastProbeAt: undefined
})

const scrape = (statuses: Record<string, readonly [HealthStatus, number]>, vipCounters = new Map()) => {
  const map = HashMap.fromIterable(Object.entries(statuses).map(([n, [s, c]]) => [n, health(n, s, c)] as const))
  return parse(Prometheus.renderText(Gauges.sources({ config, health: map, vppConnected: false, vipCounters })))
}

describe("scrape-time gauges", () => {
  it("one series per state, 1 on the current one; removed backends after the configured ones; enabled unless disabled", () => {
    const m = scrape({ gone: ["removed", 0], c: ["disabled", 0], b: ["down", 0], a: ["up", 1] })
    const state = m.get("maglev_backend_state")!
    expect(state.type).toBe("gauge")
    // the configuration's order, then the removed one
    expect([...new Set(state.samples.map((s) => s.labels["backend"]))]).toEqual(["a", "b", "c", "gone"])
    const current = state.samples.filter((s) => s.value === 1).map((s) => `${s.labels["backend"]}=${s.labels["state"]}`)
    expect(current).toEqual(["a=up", "b=down", "c=disabled", "gone=removed"])
    expect(state.samples.filter((s) => s.labels["backend"] === "a").map((s) => s.labels["state"])).toEqual([
      "unknown", "up", "down", "paused", "disabled", "removed"
    ])
    expect(["a", "b", "c", "gone"].map((b) => valueOf(m, "maglev_backend_enabled", { backend: b }))).toEqual([1, 1, 0, 1])
    expect(["a", "b", "c", "gone"].map((b) => valueOf(m, "maglev_backend_health", { backend: b }))).toEqual([1, 0, 0, 0])
    expect(valueOf(m, "maglev_vpp_connected")).toBe(0)
    expect(m.has("maglev_vip_packets_total")).toBe(false)
  })

  it("effective weights: the active pool's weights for up backends, 0 elsewhere; failover to the backup pool", () => {
    const w = (m: ReturnType<typeof scrape>, pool: string, backend: string) =>
      valueOf(m, "maglev_frontend_pool_backend_weight", { frontend: "web", pool, backend })
    const primary = scrape({ a: ["up", 1], b: ["down", 0], c: ["up", 1] })
    expect([w(primary, "primary", "b"), w(primary, "primary", "a"), w(primary, "backup", "c")]).toEqual([0, 50, 0])
    const failover = scrape({ a: ["down", 0], b: ["paused", 0], c: ["up", 1] })
    // c's pool weight is the default, 100
    expect([w(failover, "primary", "b"), w(failover, "primary", "a"), w(failover, "backup", "c")]).toEqual([0, 0, 100])
    const none = scrape({ a: ["unknown", 0], b: ["unknown", 0], c: ["unknown", 0] })
    expect(none.get("maglev_frontend_pool_backend_weight")!.samples.map((s) => s.value)).toEqual([0, 0, 0])
  })

  it("VIP packets: four kinds per frontend, bigints written in full", () => {
    const vipCounters = new Map([["web", { nextPacket: 2n ** 64n - 1n, firstPacket: 1n, untrackedPacket: 0n, noServer: 7n }]])
    const m = scrape({}, vipCounters)
    expect(m.get("maglev_vip_packets_total")!.type).toBe("counter")
    expect(m.get("maglev_vip_packets_total")!.samples.map((s) => [s.labels["kind"], s.value])).toEqual([
      ["next", 18446744073709552000],
      ["first", 1],
      ["untracked", 0],
      ["no_server", 7]
    ])
    const text = Prometheus.renderText(Gauges.sources({ config, health: HashMap.empty(), vppConnected: true, vipCounters }))
    expect(text).toContain("maglev_vip_packets_total{frontend=\"web\",kind=\"next\"} 18446744073709551615\n")
    expect(text).toContain("maglev_vpp_connected 1\n")
  })
})
