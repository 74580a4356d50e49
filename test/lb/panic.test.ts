/**
 * The min-healthy guard's rule (src/lb/Panic.ts), pure: entering panic, the
 * weights kept, leaving it when enough backends are back, pool failover, a
 * reload, the seed from VPP's weights after a start, the log lines and the
 * metrics; and a property over random health sequences.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, HashMap, Logger } from "effect"
import { checkConfigText } from "../../src/config/Check.js"
import type { Config, Frontend, MinHealthy } from "../../src/config/Config.js"
import type { HealthStatus } from "../../src/health/HealthState.js"
import { desiredVip, type DesiredVip } from "../../src/lb/Desired.js"
import type { ObservedVip } from "../../src/lb/Diff.js"
import * as Info from "../../src/api/Info.js"
import * as F from "../../src/cli/Format.js"
import * as Panic from "../../src/lb/Panic.js"
import * as Gauges from "../../src/metrics/Gauges.js"
import { renderText } from "../../src/metrics/Prometheus.js"
import { backend, config as configOf } from "../support/config.js"

const NAMES = ["a", "b", "c", "d", "e", "f"] as const
const backends = NAMES.map((n, i) => backend(n, `10.0.0.${i + 1}`, "hc"))

/** A frontend as the configuration check makes it from YAML (weights 100, d 50). */
const frontend = (minHealthy: MinHealthy | undefined, pools: ReadonlyArray<readonly [string, ReadonlyArray<string>]>, name = "web"): Frontend => {
  const yaml = [
    "maglev:",
    "  vpp: { lb: { ipv4-src-address: 192.0.2.1 } }",
    "  healthchecks: { hc: { type: tcp, port: 80 } }",
    "  backends:",
    ...backends.map((b) => `    ${b.name}: { address: ${b.address}, healthcheck: hc }`),
    "  frontends:",
    `    ${name}:`,
    "      address: 192.0.2.10",
    "      protocol: tcp",
    "      port: 80",
    ...(minHealthy === undefined ? [] : [`      min-healthy: ${Panic.formatMinHealthy(minHealthy)}`]),
    "      pools:",
    ...pools.map(([pool, members]) => `        - { name: ${pool}, backends: { ${members.map((b) => `${b}: { weight: ${b === "d" ? 50 : 100} }`).join(", ")} } }`)
  ].join("\n")
  const checked = checkConfigText(yaml)
  if (checked._tag !== "Valid") throw new Error(JSON.stringify(checked))
  return checked.config.frontends.get(name)!
}

const PRIMARY = ["primary", ["a", "b", "c", "d"]] as const
const BACKUP = ["backup", ["e", "f"]] as const
const half: MinHealthy = { kind: "percent", value: 50 }

type Health = Readonly<Record<string, HealthStatus>>
const all = (s: HealthStatus, names: ReadonlyArray<string> = NAMES): Record<string, HealthStatus> => Object.fromEntries(names.map((n) => [n, s]))

/** A store and a frontend, stepped through health maps as the LB sync would compute them. */
const driver = (f: Frontend, cfg: Config = configOf({ backends, frontends: [f] })) => {
  const store = Panic.makeStore()
  let now = 1_000
  return {
    store,
    step: (health: Health, observed?: ObservedVip | null) => {
      now += 1_000
      const status = (b: string) => health[b]
      const ordinary = desiredVip(f, cfg, status)
      return store.apply(f, cfg, ordinary, status, observed, now)
    },
    withFrontend: (g: Frontend) => driver(g, configOf({ backends, frontends: [g] }))
  }
}

const weights = (vip: DesiredVip) => Object.fromEntries(vip.ases.map((a) => [a.backend, a.weight]))

describe("threshold", () => {
  const pool = (n: number, zero = 0) => ({
    name: "p",
    backends: [...Array.from({ length: n }, (_, i) => ({ backend: `b${i}`, weight: 100 })), ...Array.from({ length: zero }, (_, i) => ({ backend: `z${i}`, weight: 0 }))]
  })
  it("a count as written; a percentage of the backends with weight > 0, rounded up, at least 1", () => {
    expect(Panic.threshold({ kind: "count", value: 2 }, pool(4))).toBe(2)
    expect(Panic.threshold(half, pool(4))).toBe(2)
    expect(Panic.threshold(half, pool(3))).toBe(2)
    expect(Panic.threshold(half, pool(3, 5))).toBe(2) // weight-0 members never count
    expect(Panic.threshold({ kind: "percent", value: 33.3 }, pool(3))).toBe(1)
    expect(Panic.threshold({ kind: "percent", value: 100 }, pool(3))).toBe(3)
    expect(Panic.threshold({ kind: "percent", value: 1 }, pool(1))).toBe(1)
    expect(Panic.threshold(half, pool(0, 2))).toBe(1)
  })
})

describe("the panic rule", () => {
  it("enters panic when the active pool falls under min-healthy, keeps the last good weights, and leaves when enough are back", () => {
    const d = driver(frontend(half, [PRIMARY, BACKUP]))
    // All up: good, the ordinary weights.
    let v = d.step(all("up"))
    expect(v.guard?.panic).toBeUndefined()
    expect(weights(v.vip)).toEqual({ a: 100, b: 100, c: 100, d: 50, e: 0, f: 0 })
    // Two of four down: still at the threshold (2), drained as usual.
    v = d.step({ ...all("up"), a: "down", b: "down" })
    expect(v.guard?.panic).toBeUndefined()
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 100, d: 50, e: 0, f: 0 })
    // c goes down too: 1 < 2, panic. c keeps its weight, unflushed; a and b stay drained.
    v = d.step({ ...all("up"), a: "down", b: "down", c: "down" })
    expect(v.event).toMatchObject({ _tag: "Enter", frontend: "web", minHealthy: "50%", info: { pool: "primary", up: 1, threshold: 2, keptPool: "primary" } })
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 100, d: 50, e: 0, f: 0 })
    expect(v.vip.ases.find((x) => x.backend === "c")?.flush).toBe(false)
    expect(v.vip.activePool).toBe("primary")
    const since = v.guard!.panic!.since
    // Still under: no new event, the same start, the up count follows.
    v = d.step({ ...all("up"), a: "down", b: "down", c: "down", d: "down" })
    // No pool of primary up: failover would go to backup, which meets its threshold (1 of 2): panic over.
    expect(v.event).toMatchObject({ _tag: "End", reason: "healthy", pool: "backup", up: 2, threshold: 1, since })
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 0, d: 0, e: 100, f: 100 })
  })

  it("with every pool under min-healthy, the last good weights of the last active pool are kept", () => {
    const d = driver(frontend({ kind: "count", value: 2 }, [PRIMARY, BACKUP]))
    d.step(all("up"))
    // Primary down altogether: backup (2 up) takes over, and is the last good pool.
    let v = d.step({ ...all("down", ["a", "b", "c", "d"]), e: "up", f: "up" })
    expect(v.guard?.panic).toBeUndefined()
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 0, d: 0, e: 100, f: 100 })
    // Primary comes back with one backend (it would be active, but 1 < 2): panic, backup kept.
    v = d.step({ ...all("down", ["b", "c", "d"]), a: "up", e: "up", f: "up" })
    expect(v.event).toMatchObject({ _tag: "Enter", info: { pool: "primary", up: 1, threshold: 2, keptPool: "backup" } })
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 0, d: 0, e: 100, f: 100 })
    // The operator pauses both of backup's: keeping them would serve nobody, so the ordinary weights (a).
    v = d.step({ ...all("down", ["b", "c", "d"]), a: "up", e: "paused", f: "paused" })
    expect(v.event).toMatchObject({ _tag: "End", reason: "nothing-kept" })
    expect(weights(v.vip)).toEqual({ a: 100, b: 0, c: 0, d: 0, e: 0, f: 0 })
    // Resumed (and up): the panic is back, with backup's weights.
    v = d.step({ ...all("down", ["b", "c", "d"]), a: "up", e: "up", f: "up" })
    expect(v.event).toMatchObject({ _tag: "Enter", info: { keptPool: "backup" } })
    // Everything down: still the backup's weights, never nothing.
    v = d.step(all("down"))
    expect(v.event).toBeUndefined()
    expect(v.guard?.panic).toMatchObject({ pool: "backup", up: 0, keptPool: "backup" })
    expect(weights(v.vip)).toEqual({ a: 0, b: 0, c: 0, d: 0, e: 100, f: 100 })
    // Primary back to two: it meets min-healthy and takes over.
    v = d.step({ ...all("down"), a: "up", b: "up" })
    expect(v.event).toMatchObject({ _tag: "End", reason: "healthy", pool: "primary", up: 2, threshold: 2 })
    expect(weights(v.vip)).toEqual({ a: 100, b: 100, c: 0, d: 0, e: 0, f: 0 })
  })

  it("in panic, a backend of the kept pool that comes up serves too; the operator's pause and disable are honoured", () => {
    const d = driver(frontend({ kind: "count", value: 3 }, [PRIMARY]))
    d.step({ ...all("up"), d: "down" }) // good: a, b, c
    let v = d.step({ ...all("up"), b: "down", c: "down", d: "down" })
    expect(v.guard?.panic).toMatchObject({ up: 1, threshold: 3 })
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 100, c: 100, d: 0 })
    v = d.step({ a: "disabled", b: "paused", c: "down", d: "up" })
    expect(v.guard?.panic).toBeDefined()
    expect(weights(v.vip)).toMatchObject({ a: 0, b: 0, c: 100, d: 50 })
    expect(v.vip.ases.find((x) => x.backend === "a")?.flush).toBe(true) // disabled: always flushed
  })

  it("backends still unknown are given the benefit of the doubt at a start, not once a last good set is known", () => {
    const d = driver(frontend(half, [PRIMARY]))
    let v = d.step(all("unknown"))
    expect(v.guard?.panic).toBeUndefined()
    v = d.step({ ...all("unknown"), a: "up" })
    expect(v.guard?.panic).toBeUndefined()
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 0 })
    v = d.step({ ...all("down"), a: "up", b: "up" })
    expect(v.guard?.good).toEqual({ pool: "primary", backends: new Set(["a", "b"]) })
    // Once good: a reload that restarts every probe (all unknown again) keeps the last good weights.
    v = d.step(all("unknown"))
    expect(v.event).toMatchObject({ _tag: "Enter", info: { up: 0, threshold: 2, keptPool: "primary" } })
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 100, c: 0, d: 0 })
  })

  it("without a last good set: the weights VPP holds (after a start), else the ordinary rule; none before VPP was read", () => {
    const d = driver(frontend(half, [PRIMARY]))
    const health = { ...all("down"), a: "up" } as const
    // VPP not read yet: ordinary weights, and not settled (the LB sync computes it again).
    let v = d.step(health, undefined)
    expect(v.settled).toBe(false)
    expect(v.guard?.panic).toBeUndefined()
    // VPP holds a, b and c with weight (a panic of the daemon before this one): kept.
    const observed: ObservedVip = {
      pfx: "192.0.2.10/32", protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", srcIpSticky: false, newFlowsTableLength: 1024,
      ases: [
        { address: "10.0.0.1", weight: 100, lameduck: false },
        { address: "10.0.0.2", weight: 100, lameduck: false },
        { address: "10.0.0.3", weight: 100, lameduck: true },
        { address: "10.0.0.4", weight: 0, lameduck: false }
      ]
    } as never
    v = d.step(health, observed)
    expect(v.settled).toBe(true)
    expect(v.event?._tag).toBe("Enter")
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 100, c: 0, d: 0 })
    // A backend in two pools: the pool whose weights VPP holds is the one kept.
    const shared = frontend(half, [["first", ["d", "e"]], ["second", ["a", "f"]]])
    const sharedCfg = configOf({ backends, frontends: [shared] })
    const twoPools = Panic.seedFrom({ ...shared, pools: [shared.pools[0]!, { name: "second", backends: [{ backend: "d", weight: 100 }, { backend: "f", weight: 100 }] }] }, sharedCfg, {
      ...observed,
      ases: [{ address: "10.0.0.4", weight: 100, lameduck: false }, { address: "10.0.0.6", weight: 100, lameduck: false }]
    } as never)
    expect(twoPools).toEqual({ pool: "second", backends: new Set(["d", "f"]) })
    // A fresh store, VPP holds no weight for the VIP: nothing to keep, the ordinary rule.
    const e = driver(frontend(half, [PRIMARY]))
    v = e.step(health, null)
    expect(v.settled).toBe(true)
    expect(v.guard).toMatchObject({ good: null, panic: undefined })
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 0 })
  })

  it("a reload that changes the pools resets the guard (re-seeded from VPP); min-healthy turned off ends the panic", () => {
    const f = frontend(half, [PRIMARY])
    const d = driver(f)
    d.step(all("up"))
    const panicked = d.step({ ...all("down"), a: "up" })
    expect(panicked.guard?.panic).toBeDefined()
    const cfg = (g: Frontend) => configOf({ backends, frontends: [g] })
    const status = (h: Health) => (b: string) => h[b]
    const h: Health = { ...all("down"), a: "up" }
    // Only weights changed (an override, or the file): the guard holds, with the new weight.
    const reweighted: Frontend = { ...f, pools: [{ name: "primary", backends: f.pools[0]!.backends.map((m) => (m.backend === "b" ? { ...m, weight: 7 } : m)) }] }
    let v = d.store.apply(reweighted, cfg(reweighted), desiredVip(reweighted, cfg(reweighted), status(h)), status(h), null, 10_000)
    expect(v.event).toBeUndefined()
    expect(weights(v.vip)).toMatchObject({ a: 100, b: 7, c: 100, d: 50 })
    // A member removed: reset; VPP holds nothing for it (null): nothing to keep, the panic ends.
    const smaller: Frontend = { ...f, pools: [{ name: "primary", backends: f.pools[0]!.backends.filter((m) => m.backend !== "d") }] }
    v = d.store.apply(smaller, cfg(smaller), desiredVip(smaller, cfg(smaller), status(h)), status(h), null, 11_000)
    expect(v.event).toMatchObject({ _tag: "End", reason: "nothing-kept" })
    // Turned off: no guard at all, and a panic in progress ends.
    const e = driver(f)
    e.step(all("up"))
    e.step({ ...all("down"), a: "up" })
    const off = frontend(undefined, [PRIMARY])
    v = e.store.apply(off, cfg(off), desiredVip(off, cfg(off), status(h)), status(h), null, 12_000)
    expect(v.event).toMatchObject({ _tag: "End", reason: "reload" })
    expect(v.guard).toBeUndefined()
    expect(e.store.states().get("web")).toEqual({ guard: undefined, entries: 1 })
  })

  it("a reload that removes the frontend forgets its guard: its panic ends (reload), and one added again under its name starts afresh", () => {
    const d = driver(frontend(half, [PRIMARY]))
    d.step(all("up"))
    expect(d.step({ ...all("down"), a: "up" }).guard?.panic).toBeDefined()
    const without = configOf({ backends, frontends: [frontend(half, [PRIMARY], "api")] })
    expect(d.store.prune(without)).toEqual([{ _tag: "End", frontend: "web", reason: "reload", pool: "primary", up: 1, threshold: 2, since: 3_000 }])
    expect(d.store.states().has("web")).toBe(false)
    expect(d.store.prune(without)).toEqual([])
    // Added again, every backend up: no old guard, no panic, no count carried over.
    const again = d.step(all("up"))
    expect(again.event).toBeUndefined()
    expect(again.guard?.panic).toBeUndefined()
    expect(d.store.states().get("web")?.entries).toBe(0)
  })

  it("what the API shows: the LB sync's verdict for the health now from its guard, which it never writes", () => {
    const f = frontend(half, [PRIMARY])
    const cfg = configOf({ backends, frontends: [f] })
    const d = driver(f, cfg)
    d.step(all("up"))
    const p = d.step({ ...all("down"), a: "up" })
    const guard = d.store.states().get("web")?.guard
    const at = (h: Health) => {
      const status = (b: string) => h[b]
      return Panic.shown(f, desiredVip(f, cfg, status), status, guard)
    }
    expect(at({ ...all("down"), a: "up" })).toEqual({ vip: p.vip, panic: p.guard?.panic, kept: ["a", "b", "c", "d"] })
    expect(at(all("up")).panic).toBeUndefined()
    expect(Panic.shown(f, p.vip, () => "down", undefined).panic).toBeUndefined()
    // A guard out of panic, with every backend down now: the panic the LB sync enters at its next computation.
    d.step(all("up"))
    const healthy = d.store.states().get("web")?.guard
    const down = (_: string) => "down" as const
    const ahead = Panic.shown(f, desiredVip(f, cfg, down), down, healthy, 7_000)
    expect(ahead.panic).toEqual({ pool: "primary", up: 0, threshold: 2, keptPool: "primary", since: 7_000 })
    expect(ahead.vip.ases.every((a) => a.weight > 0)).toBe(true)
    expect(d.store.states().get("web")?.guard).toBe(healthy)
  })
})

describe("logs and metrics", () => {
  it.effect("frontend-panic (warning) and frontend-panic-end (info) with frontend, pool, up count and threshold", () =>
    Effect.gen(function*() {
      const lines: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        lines.push({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      const d = driver(frontend(half, [PRIMARY]))
      d.step(all("up"))
      const enter = d.step({ ...all("down"), a: "up" }).event!
      const end = d.step(all("up")).event!
      yield* Panic.logEvent(enter, 5_000).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      yield* Panic.logEvent(end, 9_500).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(lines.map((l) => [l.level, l.annotations])).toEqual([
        ["WARN", { event: "frontend-panic", frontend: "web", pool: "primary", up: 1, threshold: 2, min_healthy: "50%", kept_pool: "primary" }],
        ["INFO", { event: "frontend-panic-end", frontend: "web", reason: "healthy", pool: "primary", up: 4, threshold: 2, duration_ms: 9_500 - 3_000 }]
      ])
      expect(String(lines[0]!.message)).toContain("frontend web in panic: pool primary has 1 backend up, fewer than min-healthy 50% (2)")
    }))

  it("maglev_frontend_panic and maglev_frontend_panics_total for every frontend", () => {
    const f = frontend(half, [PRIMARY])
    const g = frontend(undefined, [PRIMARY], "api")
    const cfg = configOf({ backends, frontends: [f, g] })
    const d = driver(f, cfg)
    d.step(all("up"))
    d.step({ ...all("down"), a: "up" })
    const text = renderText(Panic.sources(cfg, d.store.states()))
    expect(text).toContain('maglev_frontend_panic{frontend="web"} 1\nmaglev_frontend_panic{frontend="api"} 0\n')
    expect(text).toContain('maglev_frontend_panics_total{frontend="web"} 1\nmaglev_frontend_panics_total{frontend="api"} 0\n')
  })
})

describe("the API and maglevc", () => {
  it("FrontendInfo has minHealthy, panic, state panic and the kept weights; show frontends, show frontend and the metrics say so", () => {
    const f = frontend(half, [PRIMARY])
    const cfg = configOf({ backends, frontends: [f] })
    const d = driver(f, cfg)
    d.step(all("up"))
    const h: Health = { ...all("down"), a: "up" }
    d.step(h)
    const health = HashMap.fromIterable(Object.entries(h).map(([name, status]) => [name, { name, address: "", status, counter: 0, transitions: [] } as never]))
    const info = Info.frontendInfo({ config: cfg, health, fileWeights: new Map(), panics: d.store.states() }, f)
    expect(info.minHealthy).toBe("50%")
    expect(info.panic).toEqual({ pool: "primary", up: 1, threshold: 2, keptPool: "primary", kept: ["a", "b", "c", "d"], since: 3_000 })
    expect(info.state).toBe("panic")
    expect(info.pools[0]!.backends.map((b) => [b.backend, b.state, b.effectiveWeight])).toEqual([
      ["a", "up", 100], ["b", "down", 100], ["c", "down", 100], ["d", "down", 50]
    ])
    // Without the LB sync's guard, the ordinary weights and no panic.
    const ordinary = Info.frontendInfo({ config: cfg, health, fileWeights: new Map() }, f)
    expect(ordinary.panic).toBeUndefined()
    expect(ordinary.pools[0]!.backends.map((b) => b.effectiveWeight)).toEqual([100, 0, 0, 0])
    const style = { color: false, now: 63_000 }
    expect(F.frontendsText([info], style)).toMatch(/^web +192\.0\.2\.10\/32 +tcp +80 +panic +primary +4\/4 serving$/m)
    const text = F.frontendText(info, style)
    expect(text).toMatch(/^min-healthy +50%$/m)
    expect(text).toMatch(/^panic +pool primary has 1 up, fewer than 2; keeping the last good weights of pool primary, since 1970-01-01T00:00:03\.000Z \(1m00s ago\)$/m)
    expect(text).toMatch(/^state +panic$/m)
    expect(F.frontendText(ordinary, style)).not.toMatch(/^panic/m)
    expect(ordinary.state).toBe("up")
    // The metric of effective weights says the same as the API.
    const scrape = renderText(Gauges.all({ config: cfg, health, vppConnected: true, vipCounters: new Map(), panics: d.store.states() }))
    expect(scrape).toContain('maglev_frontend_pool_backend_weight{frontend="web",pool="primary",backend="c"} 100\n')
    expect(scrape).toContain('maglev_frontend_panic{frontend="web"} 1\n')
    // maglev_frontend_state says panic too, and the kept backends serve.
    expect(scrape).toContain('maglev_frontend_state{frontend="web",state="panic"} 1\n')
    expect(scrape).toContain('maglev_frontend_state{frontend="web",state="up"} 0\n')
    expect(scrape).toContain('maglev_frontend_serving_backends{frontend="web"} 4\n')
  })
})

describe("properties", () => {
  const statusArb = fc.constantFrom<HealthStatus>("up", "up", "down", "unknown", "paused", "disabled")
  const healthArb = fc.record(Object.fromEntries(NAMES.map((n) => [n, statusArb])) as Record<string, fc.Arbitrary<HealthStatus>>)
  const minArb = fc.oneof(
    fc.integer({ min: 1, max: 3 }).map((value): MinHealthy => ({ kind: "count", value })),
    fc.integer({ min: 1, max: 100 }).map((value): MinHealthy => ({ kind: "percent", value }))
  )

  it.prop("outside panic the weights are the ordinary ones; in panic only the kept pool serves, never a paused or disabled backend, and never nobody", [minArb, fc.array(healthArb, { minLength: 1, maxLength: 25 })], ([min, seq]) => {
    const f = frontend(min, [PRIMARY, BACKUP])
    const cfg = configOf({ backends, frontends: [f] })
    const d = driver(f, cfg)
    let inPanic = false
    for (const h of seq) {
      const status = (b: string) => h[b]
      const ordinary = desiredVip(f, cfg, status)
      const v = d.step(h, null)
      // Events alternate: an Enter only from outside, an End only from inside.
      if (v.event?._tag === "Enter") expect(inPanic).toBe(false)
      if (v.event?._tag === "End") expect(inPanic).toBe(true)
      inPanic = v.guard?.panic !== undefined
      // Never drained to nothing where the ordinary rule serves.
      if (ordinary.ases.some((a) => a.weight > 0)) expect(v.vip.ases.some((a) => a.weight > 0)).toBe(true)
      if (!inPanic) {
        expect(v.vip).toEqual(ordinary)
        continue
      }
      const kept = f.pools.find((p) => p.name === v.guard!.panic!.keptPool)!
      for (const as of v.vip.ases) {
        if (as.weight === 0) continue
        expect(kept.backends.some((m) => m.backend === as.backend)).toBe(true)
        expect(["up", "down", "unknown"]).toContain(as.status)
        expect(as.flush).toBe(false)
      }
      // The active pool really is under its threshold.
      const judged = f.pools.find((p) => p.name === v.guard!.panic!.pool)!
      const up = judged.backends.filter((m) => h[m.backend] === "up").length
      expect(up).toBeLessThan(Panic.threshold(min, judged))
    }
  })

  it.prop("restart neutrality: a store with no memory, seeded from the weights VPP was given, programs the same weights", [minArb, fc.array(healthArb, { minLength: 1, maxLength: 25 }), healthArb], ([min, seq, last]) => {
    const f = frontend(min, [PRIMARY, BACKUP])
    const cfg = configOf({ backends, frontends: [f] })
    const before = driver(f, cfg)
    for (const h of seq) before.step(h, null)
    // The restarted daemon's warm-up waits until no backend is unknown; until then the old one runs.
    const decided: Health = Object.fromEntries(Object.entries(last).map(([b, st]) => [b, st === "unknown" ? "down" : st]))
    const programmed = before.step(decided, null).vip
    const vpp: ObservedVip = {
      pfx: "192.0.2.10/32", protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", srcIpSticky: false, newFlowsTableLength: 1024,
      ases: programmed.ases.map((a) => ({ address: a.address, weight: a.weight, lameduck: false }))
    } as never
    const after = driver(f, cfg).step(decided, vpp)
    expect(weights(after.vip)).toEqual(weights(programmed))
  })

  it.prop("without min-healthy the store changes nothing", [fc.array(healthArb, { minLength: 1, maxLength: 10 })], ([seq]) => {
    const f = frontend(undefined, [PRIMARY, BACKUP])
    const cfg = configOf({ backends, frontends: [f] })
    const d = driver(f, cfg)
    for (const h of seq) {
      const v = d.step(h)
      expect(v).toEqual({ vip: desiredVip(f, cfg, (b) => h[b]), guard: undefined, event: undefined, settled: true })
    }
    expect(d.store.states().size).toBe(0)
  })
})
