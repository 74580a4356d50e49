/**
 * The min-healthy guard (beyond the Go original; Envoy calls it panic mode).
 * A frontend with `min-healthy` (a number of backends, or a percentage of a
 * pool's backends with weight > 0) is in panic when the pool that would be
 * active has fewer backends up than that: rather than drain the rest down to
 * nothing (health checks that fail together often fail for a reason of their
 * own, and the few backends left would take everything), the frontend keeps
 * the last good weights.
 *
 * - The active pool is the ordinary one (Desired.ts: the first pool with an
 *   up backend of weight > 0); failover is unchanged. That pool is *judged*:
 *   up backends (weight > 0) against its threshold. While no pool has an up
 *   backend, the pool of the last good weights is judged.
 * - **Good**: the judged pool is the active one and meets the threshold. Its
 *   up backends are recorded as the last good set.
 * - **Panic**: the judged pool is below the threshold and a last good set is
 *   known. The backends of the last good set keep their weight in its pool
 *   (the current one, so an operator's override still applies), and so does a
 *   backend of that pool that is up; an operator's pause or disable is always
 *   honoured. Every other AS is drained (weight 0, no flush). It ends when the
 *   active pool meets its threshold again (the ordinary weights return; a
 *   backend still down is then drained, with its `flush-on-down`).
 * - **Undecided**: no last good set yet (a start), below the threshold, but
 *   backends of the judged pool still `unknown` could make up the
 *   difference: ordinary weights, no panic yet. Once a last good set is
 *   known, unknown counts as not up (a reload that restarts the probing of
 *   every backend keeps the last good weights rather than draining them).
 * - **Nothing to keep**: below the threshold with no last good set (this
 *   process never saw the frontend good, and VPP held no weight for its VIP),
 *   or one whose backends are all paused or disabled now: ordinary weights,
 *   no panic (the guard never drains to nothing a frontend the ordinary
 *   rule would serve).
 *
 * The state per frontend (`Guard`) is explicit and small: the last good set,
 * the panic (if on) and the shape of the pools it refers to. The LB sync keeps
 * it where it computes desired state (`Store`), so VPP's one writer decides
 * both. A reload that changes the frontend's pools or members (not only their
 * weights) resets it; with no memory (a reset, or a start), the last good set
 * is taken from the weights VPP holds for the VIP (`seedFrom`), so a daemon
 * restarted (or reloaded) during a panic keeps programming what VPP already
 * has.
 */
import { Effect, Stream } from "effect"
import type { Config, Frontend, MinHealthy, Pool } from "../config/Config.js"
import type { HealthStatus } from "../health/HealthState.js"
import { fromFamily, type Source } from "../metrics/Prometheus.js"
import { activePool, type DesiredAs, type DesiredVip, desiredVip, type StatusOf } from "./Desired.js"
import type { ObservedVip } from "./Diff.js"
import { canonicalAddress } from "./VipKey.js"

/** `min-healthy` as the file writes it: `2` or `50%`. */
export const formatMinHealthy = (m: MinHealthy): string => (m.kind === "count" ? String(m.value) : `${m.value}%`)

const weighted = (pool: Pool) => pool.backends.filter((m) => m.weight > 0)

/** The pool's threshold: the count, or the percentage of its backends with weight > 0 rounded up; at least 1. */
export const threshold = (min: MinHealthy, pool: Pool): number =>
  min.kind === "count" ? min.value : Math.max(1, Math.ceil((min.value * weighted(pool).length) / 100 - 1e-9))

const count = (pool: Pool, status: StatusOf, wanted: HealthStatus) =>
  weighted(pool).filter((m) => (status(m.backend) ?? "unknown") === wanted).length

/** A set of backends of one pool. */
export interface Kept {
  readonly pool: string
  readonly backends: ReadonlySet<string>
}

export interface PanicInfo {
  /** The pool judged: the active one, or (no pool having an up backend) the kept one. */
  readonly pool: string
  /** Its backends with weight > 0 that are up. */
  readonly up: number
  readonly threshold: number
  /** The pool whose last good weights are kept. */
  readonly keptPool: string
  /** Epoch milliseconds the panic began. */
  readonly since: number
}

export interface Guard {
  /** The frontend's pools and members when it was recorded (a reload that changes them resets the guard). */
  readonly shape: string
  /** The last good set; `null`: known to be none (VPP held no weight for the VIP); undefined: not known yet. */
  readonly good: Kept | null | undefined
  readonly panic: PanicInfo | undefined
}

export type PanicEvent =
  | { readonly _tag: "Enter"; readonly frontend: string; readonly minHealthy: string; readonly info: PanicInfo }
  | {
    readonly _tag: "End"
    readonly frontend: string
    /** `healthy`: the active pool meets its threshold; `reload`: the guard was turned off, its pools changed, or the frontend removed. */
    readonly reason: "healthy" | "reload" | "nothing-kept"
    readonly pool: string
    readonly up: number
    readonly threshold: number
    readonly since: number
  }

export interface Verdict {
  readonly vip: DesiredVip
  readonly guard: Guard | undefined
  readonly event: PanicEvent | undefined
  /** False while the verdict waits for VPP's weights (no memory, VPP not read yet): compute it again then. */
  readonly settled: boolean
}

/**
 * The last good set from the weights VPP holds for the VIP: the pool that
 * explains most of them (its members VPP gives their weight in that pool,
 * ties to the first pool: a backend in two pools belongs to the one whose
 * weights VPP has), with those members; null when VPP gives no member weight.
 */
export const seedFrom = (frontend: Frontend, config: Config, observed: ObservedVip | undefined): Kept | null => {
  if (observed === undefined || observed.deleted === true) return null
  const holds = new Map(observed.ases.filter((a) => !a.lameduck && a.weight > 0).map((a) => [a.address, a.weight]))
  let best: { readonly kept: Kept; readonly score: number } | undefined
  for (const pool of frontend.pools) {
    let score = 0
    const members: Array<string> = []
    for (const m of weighted(pool)) {
      const b = config.backends.get(m.backend)
      const w = b === undefined ? undefined : holds.get(canonicalAddress(b.address))
      if (w === undefined) continue
      members.push(m.backend)
      // A member VPP gives its weight in this pool counts twice: it is this pool's weights VPP holds.
      score += w === m.weight ? 2 : 1
    }
    if (members.length > 0 && (best === undefined || score > best.score)) best = { kept: { pool: pool.name, backends: new Set(members) }, score }
  }
  return best?.kept ?? null
}

/** A guard as a reader knows it (the API's `panic` and kept backends): for a plan of what the LB sync will do. */
export const guardOf = (frontend: Frontend, good: Kept | null | undefined, panic: PanicInfo | undefined): Guard => ({ shape: shapeOf(frontend), good, panic })

const shapes = new WeakMap<Frontend, string>()
const shapeOf = (f: Frontend): string => {
  let s = shapes.get(f)
  if (s === undefined) {
    s = JSON.stringify(f.pools.map((p) => [p.name, p.backends.map((m) => m.backend)]))
    shapes.set(f, s)
  }
  return s
}

/** States a kept backend still serves in; paused and disabled are the operator's and always honoured. */
const KEEPS: ReadonlySet<HealthStatus> = new Set(["up", "down", "unknown"])

/** The desired VIP in panic: the kept set (and the pool's up backends) at their weight in the kept pool, every other AS drained. */
const keep = (vip: DesiredVip, pool: Pool, kept: Kept): DesiredVip => {
  const weights = new Map(weighted(pool).map((m) => [m.backend, m.weight]))
  const ases = vip.ases.map((as): DesiredAs => {
    const w = weights.get(as.backend)
    if (w !== undefined && KEEPS.has(as.status) && (kept.backends.has(as.backend) || as.status === "up")) {
      // An up backend of the active pool keeps what the ordinary rule gives it (a slow start's step).
      return { ...as, weight: vip.activePool === pool.name && as.weight > 0 ? as.weight : w, flush: false }
    }
    return as.weight === 0 ? as : { ...as, weight: 0, flush: false }
  })
  return { ...vip, activePool: pool.name, ases }
}

/**
 * One frontend's verdict: its ordinary desired VIP (Desired.ts) and the guard
 * so far → the VIP to program, the guard from now on, and the event to log.
 * `seed` reads VPP's weights for the VIP when there is no memory (undefined:
 * VPP not read yet). Pure; `now` only dates a panic's start.
 */
export const evaluate = (
  frontend: Frontend,
  vip: DesiredVip,
  status: StatusOf,
  prev: Guard | undefined,
  seed: (() => Kept | null | undefined) | undefined,
  now: number
): Verdict => {
  const min = frontend.minHealthy
  const ended = (reason: "healthy" | "reload" | "nothing-kept", pool: string, up: number, t: number): PanicEvent | undefined =>
    prev?.panic === undefined ? undefined : { _tag: "End", frontend: frontend.name, reason, pool, up, threshold: t, since: prev.panic.since }
  if (min === undefined) return { vip, guard: undefined, event: ended("reload", "", 0, 0), settled: true }
  const shape = shapeOf(frontend)
  const same = prev?.shape === shape ? prev : undefined
  const inPanic = prev?.panic !== undefined
  // A panic across a reload that changed the pools goes on from what VPP holds.
  const good = same?.good ?? (inPanic ? seed?.() : undefined)
  const active = vip.activePool === undefined ? undefined : frontend.pools.find((p) => p.name === vip.activePool)
  const judged = active ?? (good ? frontend.pools.find((p) => p.name === good.pool) : undefined) ?? frontend.pools[0]!
  const t = threshold(min, judged)
  const up = count(judged, status, "up")
  if (active !== undefined && up >= t) {
    const backends = new Set(weighted(active).filter((m) => status(m.backend) === "up").map((m) => m.backend))
    return { vip, guard: { shape, good: { pool: active.name, backends }, panic: undefined }, event: ended("healthy", active.name, up, t), settled: true }
  }
  // No last good set yet (a start): backends still unknown may make up the difference, so no verdict yet.
  if (good === undefined && !inPanic && up + count(judged, status, "unknown") >= t) {
    return { vip, guard: { shape, good, panic: undefined }, event: undefined, settled: true }
  }
  let kept = good
  if (kept === undefined) {
    kept = seed?.()
    if (kept === undefined) return { vip, guard: prev, event: undefined, settled: false }
  }
  const pool = kept === null ? undefined : frontend.pools.find((p) => p.name === kept.pool)
  if (kept === null || pool === undefined) {
    return { vip, guard: { shape, good: null, panic: undefined }, event: ended("nothing-kept", judged.name, up, t), settled: true }
  }
  const held = keep(vip, pool, kept)
  if (!held.ases.some((a) => a.weight > 0)) {
    // Every kept backend is paused or disabled: keeping them would drain the frontend to nothing, which the guard is for.
    return { vip, guard: { shape, good: kept, panic: undefined }, event: ended("nothing-kept", judged.name, up, t), settled: true }
  }
  const info: PanicInfo = { pool: judged.name, up, threshold: t, keptPool: pool.name, since: prev?.panic?.since ?? now }
  return {
    vip: held,
    guard: { shape, good: kept, panic: info },
    event: prev?.panic === undefined ? { _tag: "Enter", frontend: frontend.name, minHealthy: formatMinHealthy(min), info } : undefined,
    settled: true
  }
}

/**
 * What a reader (the API, the metrics, the frontend-transition log) shows for a
 * frontend, given the guard the LB sync keeps: the verdict the LB sync reaches
 * for the health now from that guard (`evaluate`, without VPP's weights), so a
 * reader that looks between a transition and the LB sync's computation already
 * sees the panic it will enter (or leave). It never writes the guard: the panic
 * is entered, counted and logged by the LB sync. `now` dates a panic not
 * entered yet. `kept`: the backends of the last good set, while in panic.
 */
export const shown = (
  frontend: Frontend,
  vip: DesiredVip,
  status: StatusOf,
  guard: Guard | undefined,
  now = guard?.panic?.since ?? 0
): { readonly vip: DesiredVip; readonly panic: PanicInfo | undefined; readonly kept?: ReadonlyArray<string> } => {
  if (!mayPanic(frontend, status, guard)) return { vip, panic: undefined }
  const v = evaluate(frontend, vip, status, guard, undefined, now)
  const good = v.guard?.good
  return v.guard?.panic === undefined || !good ? { vip, panic: undefined } : { vip: v.vip, panic: v.guard.panic, kept: [...good.backends] }
}

/**
 * Whether `shown` can find a panic: a guard, and the active pool below its
 * threshold (when it meets it, `evaluate` gives the ordinary weights). A
 * count over one pool, so readers of many frontends build a VIP only for
 * those that may be in panic.
 */
export const mayPanic = (frontend: Frontend, status: StatusOf, guard: Guard | undefined): boolean => {
  const min = frontend.minHealthy
  if (guard === undefined || min === undefined) return false
  const active = activePool(frontend, status)
  return active === undefined || count(active, status, "up") < threshold(min, active)
}

/** The weights a frontend in panic keeps, by backend, and their pool (for a reader that does not build VIPs); undefined outside panic. */
export const keptWeights = (
  config: Config,
  frontend: Frontend,
  status: StatusOf,
  guard: Guard | undefined,
  now?: number
): { readonly pool: string; readonly weights: ReadonlyMap<string, number> } | undefined => {
  if (!mayPanic(frontend, status, guard)) return undefined
  const v = shown(frontend, desiredVip(frontend, config, status), status, guard, now)
  if (v.panic === undefined) return undefined
  return { pool: v.panic.keptPool, weights: new Map(v.vip.ases.map((a) => [a.backend, a.weight])) }
}

// --- the store the LB sync keeps --------------------------------------------------------

export interface PanicState {
  readonly guard: Guard | undefined
  /** Panics entered since the daemon started. */
  readonly entries: number
}

export interface Store {
  /** Evaluates one frontend against its guard and records the outcome. */
  readonly apply: (
    frontend: Frontend,
    config: Config,
    vip: DesiredVip,
    status: StatusOf,
    /** VPP's VIP as last read (null: VPP does not hold it; undefined: not read yet), for a guard with no memory. */
    observed: ObservedVip | null | undefined,
    now: number
  ) => Verdict
  /**
   * Forgets the guards and panic counts of frontends `config` no longer has (a
   * reload removed them); a panic among them ends (`reload`). Without it a
   * removed frontend stayed in panic for ever, and one added again under its
   * name took its old guard.
   */
  readonly prune: (config: Config) => ReadonlyArray<PanicEvent>
  /** Every frontend's guard and panic count, by name. */
  readonly states: () => ReadonlyMap<string, PanicState>
  /** Every panic start and end from now on, as `apply` decides them (the guard already recorded): for watchers. */
  readonly events: Stream.Stream<PanicEvent>
}

/** The guards of one LB sync. Only its computation of desired state writes them. */
export const makeStore = (): Store => {
  const guards = new Map<string, Guard>()
  const entries = new Map<string, number>()
  const listeners = new Set<(e: PanicEvent) => void>()
  return {
    apply: (frontend, config, vip, status, observed, now) => {
      const prev = guards.get(frontend.name)
      if (prev === undefined && frontend.minHealthy === undefined) return { vip, guard: undefined, event: undefined, settled: true }
      const seed = () => (observed === undefined ? undefined : seedFrom(frontend, config, observed ?? undefined))
      const v = evaluate(frontend, vip, status, prev, seed, now)
      if (v.guard === undefined) guards.delete(frontend.name)
      else guards.set(frontend.name, v.guard)
      if (v.event?._tag === "Enter") entries.set(frontend.name, (entries.get(frontend.name) ?? 0) + 1)
      if (v.event !== undefined) for (const l of listeners) l(v.event)
      return v
    },
    prune: (config) => {
      const out: Array<PanicEvent> = []
      for (const [name, guard] of guards) {
        if (config.frontends.has(name)) continue
        guards.delete(name)
        const p = guard.panic
        if (p !== undefined) {
          out.push({ _tag: "End", frontend: name, reason: "reload", pool: p.pool, up: p.up, threshold: p.threshold, since: p.since })
        }
      }
      for (const name of entries.keys()) if (!config.frontends.has(name)) entries.delete(name)
      for (const e of out) for (const l of listeners) l(e)
      return out
    },
    states: () => {
      const out = new Map<string, PanicState>()
      for (const name of new Set([...guards.keys(), ...entries.keys()])) {
        out.set(name, { guard: guards.get(name), entries: entries.get(name) ?? 0 })
      }
      return out
    },
    events: Stream.asyncPush<PanicEvent>((emit) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const l = (e: PanicEvent) => void emit.single(e)
          listeners.add(l)
          return l
        }),
        (l) => Effect.sync(() => listeners.delete(l))
      ), { bufferSize: "unbounded" })
  }
}

// --- logs and metrics ---------------------------------------------------------------------

const backends = (n: number) => `${n} backend${n === 1 ? "" : "s"}`

/** `frontend-panic` (warning) and `frontend-panic-end` (info). */
export const logEvent = (e: PanicEvent, now: number): Effect.Effect<void> =>
  e._tag === "Enter"
    ? Effect.logWarning(
      `frontend ${e.frontend} in panic: pool ${e.info.pool} has ${backends(e.info.up)} up, fewer than min-healthy ${e.minHealthy} ` +
        `(${e.info.threshold}); the last good weights of pool ${e.info.keptPool} are kept`
    ).pipe(Effect.annotateLogs({
      event: "frontend-panic",
      frontend: e.frontend,
      pool: e.info.pool,
      up: e.info.up,
      threshold: e.info.threshold,
      min_healthy: e.minHealthy,
      kept_pool: e.info.keptPool
    }))
    : Effect.logInfo(
      e.reason === "healthy"
        ? `frontend ${e.frontend} out of panic: pool ${e.pool} has ${backends(e.up)} up (threshold ${e.threshold})`
        : e.reason === "reload"
        ? `frontend ${e.frontend} out of panic: a reload turned min-healthy off, changed its pools or removed the frontend`
        : `frontend ${e.frontend} out of panic: no last good weights to keep`
    ).pipe(Effect.annotateLogs({
      event: "frontend-panic-end",
      frontend: e.frontend,
      reason: e.reason,
      pool: e.pool,
      up: e.up,
      threshold: e.threshold,
      duration_ms: Math.max(0, now - e.since)
    }))

/** `maglev_frontend_panic` (0/1) and `maglev_frontend_panics_total` for every frontend of the configuration. */
export const sources = (config: Config, states: ReadonlyMap<string, PanicState>): ReadonlyArray<Source> => {
  const names = [...config.frontends.keys()]
  return [
    fromFamily({
      name: "maglev_frontend_panic",
      help: "1 while the frontend is in panic (its active pool has fewer backends up than min-healthy; the last good weights are kept), else 0.",
      type: "gauge",
      samples: names.map((f) => ({ labels: [["frontend", f]] as const, value: states.get(f)?.guard?.panic === undefined ? 0 : 1 }))
    }),
    fromFamily({
      name: "maglev_frontend_panics_total",
      help: "Times the frontend went into panic (min-healthy) since maglevd started.",
      type: "counter",
      samples: names.map((f) => ({ labels: [["frontend", f]] as const, value: states.get(f)?.entries ?? 0 }))
    })
  ]
}
