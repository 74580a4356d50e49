/**
 * Frontend states as an operator follows them: whether a frontend serves
 * (`up`: some backend of its active pool is up with weight > 0; `unknown`
 * while none of its backends is decided; `down` otherwise), which pool is
 * active, and how many backends serve. The same rule as the desired VPP
 * state's (lb/Desired.ts, `activePool`, `frontendState`). A frontend in
 * panic (min-healthy, lb/Panic.ts: the LB sync keeps its last good weights)
 * is `panic` whatever its health says: it serves from the kept pool, on the
 * kept backends (`serving`), up or not.
 *
 * `layer` follows the health checker's changes and the running
 * configuration's (a reload, a weight override) and logs every change of
 * state or active pool as `frontend-transition`: at warning level when the
 * frontend loses its last serving backend, at info otherwise. The metrics
 * (`maglev_frontend_state`, `maglev_frontend_serving_backends`) are computed
 * from the same rule at scrape time (metrics/Gauges.ts, `sources`).
 */
import { Chunk, Clock, Effect, HashMap, Layer, Option, Queue, type Scope, Stream } from "effect"
import type { Config, Frontend } from "../config/Config.js"
import * as RunningConfig from "../config/RunningConfig.js"
import { activePool, type FrontendState as HealthState, type StatusOf } from "../lb/Desired.js"
import * as LbSync from "../lb/LbSync.js"
import * as Panic from "../lb/Panic.js"
import { trace } from "../internal/Trace.js"
import { whenIdle } from "../internal/Urgent.js"
import { fromFamily, type Source } from "../metrics/Prometheus.js"
import * as HealthChecker from "./HealthChecker.js"
import type { HealthStatus } from "./HealthState.js"

/** `panic`: the LB sync keeps the last good weights (min-healthy) instead of what health alone gives. */
export type FrontendState = HealthState | "panic"

export const FRONTEND_STATES: ReadonlyArray<FrontendState> = ["up", "down", "unknown", "panic"]

export interface FrontendStatus {
  readonly state: FrontendState
  /** The pool new flows go to; none while the frontend is not up. */
  readonly activePool: string | undefined
  /** Distinct backends of the active pool that are up with weight > 0. */
  readonly serving: number
}

/** The LB sync's min-healthy guards and the configuration they judge by, for `frontendStatus`. */
export interface Guards {
  readonly config: Config
  readonly panics: ReadonlyMap<string, Panic.PanicState>
  /** Dates a panic the LB sync has not entered yet (Panic.shown). */
  readonly now: number
}

export const frontendStatus = (frontend: Frontend, status: StatusOf, guards?: Guards): FrontendStatus => {
  const guard = guards?.panics.get(frontend.name)?.guard
  const kept = guard === undefined ? undefined : Panic.keptWeights(guards!.config, frontend, status, guard, guards!.now)
  if (kept !== undefined) {
    let serving = 0
    for (const w of kept.weights.values()) if (w > 0) serving++
    return { state: "panic", activePool: kept.pool, serving }
  }
  const active = activePool(frontend, status)
  if (active !== undefined) {
    const serving = new Set(active.backends.filter((m) => m.weight > 0 && status(m.backend) === "up").map((m) => m.backend))
    return { state: "up", activePool: active.name, serving: serving.size }
  }
  const members = frontend.pools.flatMap((p) => p.backends)
  const undecided = members.length > 0 && members.every((m) => (status(m.backend) ?? "unknown") === "unknown")
  return { state: undecided ? "unknown" : "down", activePool: undefined, serving: 0 }
}

/** Every frontend of the configuration, in file order. */
export const statuses = (config: Config, status: StatusOf, guards?: Omit<Guards, "config">): ReadonlyMap<string, FrontendStatus> => {
  const g = guards === undefined ? undefined : { ...guards, config }
  return new Map([...config.frontends.values()].map((f) => [f.name, frontendStatus(f, status, g)]))
}

export interface FrontendTransition {
  readonly frontend: string
  readonly from: FrontendStatus
  readonly to: FrontendStatus
}

const NOTHING: FrontendStatus = { state: "unknown", activePool: undefined, serving: 0 }

/** The frontends whose state or active pool changed (one new since `before` counts from unknown). */
export const transitions = (
  before: ReadonlyMap<string, FrontendStatus>,
  after: ReadonlyMap<string, FrontendStatus>
): Array<FrontendTransition> => {
  const out: Array<FrontendTransition> = []
  for (const [frontend, to] of after) {
    const from = before.get(frontend) ?? NOTHING
    if (from.state !== to.state || from.activePool !== to.activePool) out.push({ frontend, from, to })
  }
  return out
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** The log line's sentence. */
export const describe = (t: FrontendTransition): string => {
  const { frontend, from, to } = t
  switch (to.state) {
    case "down":
      return `frontend ${frontend} is down: no backend serving`
    case "unknown":
      return `frontend ${frontend} is unknown: no backend decided yet`
    case "panic":
      return `frontend ${frontend} is in panic: serving the last good weights of pool ${to.activePool}, ${plural(to.serving, "backend")} (min-healthy)`
    case "up":
      return from.state === "up"
        ? `frontend ${frontend} serves from pool ${to.activePool} (was ${from.activePool}), ${plural(to.serving, "backend")}`
        : `frontend ${frontend} is up: pool ${to.activePool}, ${plural(to.serving, "backend")} serving`
  }
}

/** Logs one transition: warning when the frontend lost its last serving backend, or went into panic. */
export const logTransition = (t: FrontendTransition): Effect.Effect<void> =>
  ((t.to.state === "down" || t.to.state === "panic") && t.from.state !== t.to.state ? Effect.logWarning : Effect.logInfo)(describe(t)).pipe(
    Effect.annotateLogs({
      event: "frontend-transition",
      frontend: t.frontend,
      from: t.from.state,
      to: t.to.state,
      // Always strings and numbers: "" when no pool is active.
      active_pool_from: t.from.activePool ?? "",
      active_pool: t.to.activePool ?? "",
      serving_from: t.from.serving,
      serving: t.to.serving
    })
  )

/** What changed since the last judgement, besides the configuration. */
export interface Changes {
  /** Backends whose health changed: the frontends that use them are judged again. */
  readonly backends: Iterable<string>
  /** Frontends judged again whatever their backends did (a panic of theirs started or ended). */
  readonly frontends: Iterable<string>
}

/** One place a backend has in a frontend: the frontend's position, the pool's, whether it has weight there, its entries there. */
interface Membership {
  readonly frontend: number
  readonly pool: number
  weighted: boolean
  entries: number
}

/**
 * A configuration's frontends in file order, where each backend serves
 * (rebuilt when the configuration changes), and per frontend the counts its
 * state follows from (kept as backends change): per pool, its distinct
 * members with weight that are up; and its members (an entry per pool) whose
 * status is decided (not unknown).
 */
interface Index {
  readonly config: Config
  readonly frontends: ReadonlyArray<Frontend>
  readonly position: ReadonlyMap<string, number>
  readonly places: ReadonlyMap<string, ReadonlyArray<Membership>>
  /** The status each count was kept at, by backend. */
  readonly known: Map<string, HealthStatus | undefined>
  readonly upWeighted: ReadonlyArray<Int32Array>
  readonly decided: Int32Array
  readonly members: Int32Array
}

const isDecided = (s: HealthStatus | undefined): boolean => s !== undefined && s !== "unknown"

const indexOf = (config: Config, status: StatusOf): Index => {
  const frontends = [...config.frontends.values()]
  const position = new Map<string, number>()
  const places = new Map<string, Array<Membership>>()
  const known = new Map<string, HealthStatus | undefined>()
  const upWeighted = frontends.map((f) => new Int32Array(f.pools.length))
  const decided = new Int32Array(frontends.length)
  const members = new Int32Array(frontends.length)
  frontends.forEach((f, i) => {
    position.set(f.name, i)
    f.pools.forEach((pool, p) => {
      // A valid configuration names a backend once per pool; were it twice, it counts once, with weight if either has.
      const inPool = new Map<string, Membership>()
      for (const m of pool.backends) {
        members[i]!++
        let s = known.get(m.backend)
        if (s === undefined && !known.has(m.backend)) known.set(m.backend, s = status(m.backend))
        if (isDecided(s)) decided[i]!++
        const place = inPool.get(m.backend)
        if (place !== undefined) {
          place.entries++
          place.weighted ||= m.weight > 0
          continue
        }
        const fresh: Membership = { frontend: i, pool: p, weighted: m.weight > 0, entries: 1 }
        inPool.set(m.backend, fresh)
        const list = places.get(m.backend)
        if (list === undefined) places.set(m.backend, [fresh])
        else list.push(fresh)
      }
      for (const [b, place] of inPool) if (place.weighted && known.get(b) === "up") upWeighted[i]![p]!++
    })
  })
  return { config, frontends, position, places, known, upWeighted, decided, members }
}

/** The counts' side of `frontendStatus` (outside panic): the first pool with an up backend with weight is active. */
const fromCounts = (index: Index, i: number): FrontendStatus => {
  const up = index.upWeighted[i]!
  for (let p = 0; p < up.length; p++) {
    if (up[p]! > 0) return { state: "up", activePool: index.frontends[i]!.pools[p]!.name, serving: up[p]! }
  }
  return { state: index.members[i]! > 0 && index.decided[i] === 0 ? "unknown" : "down", activePool: undefined, serving: 0 }
}

/**
 * Every frontend's status, kept up to date in O(what changed): a change of
 * configuration (a reload, a weight override: another `Config`) judges every
 * frontend again; a health change moves the counts of the frontends that use
 * the backend (an index backend -> frontends, built per configuration) and
 * judges those from their counts, so a backend going down in 1,000 VIPs is
 * 1,000 small steps, not 1,000 walks over every pool, and a batch of first
 * verdicts at start-up touches the frontends of that batch. A frontend with
 * a min-healthy guard is judged by `frontendStatus` (the guard decides).
 */
export interface Tracker {
  /** The transitions since the last update, in file order; the first update is the baseline (everything from unknown). */
  readonly update: (config: Config, status: StatusOf, guards: Omit<Guards, "config"> | undefined, changes: Changes) => ReadonlyArray<FrontendTransition>
  /** Every frontend's status as of the last update, in file order. */
  readonly current: () => ReadonlyMap<string, FrontendStatus>
}

export const makeTracker = (): Tracker => {
  let index: Index | undefined
  let last = new Map<string, FrontendStatus>()
  const judge = (index: Index, i: number, status: StatusOf, guards: Guards | undefined): FrontendStatus => {
    const f = index.frontends[i]!
    return guards !== undefined && f.minHealthy !== undefined ? frontendStatus(f, status, guards) : fromCounts(index, i)
  }
  return {
    update: (config, status, guards, changes) => {
      const g = guards === undefined ? undefined : { ...guards, config }
      if (index === undefined || index.config !== config) {
        const fresh = indexOf(config, status)
        index = fresh
        const next = new Map<string, FrontendStatus>()
        fresh.frontends.forEach((f, i) => next.set(f.name, judge(fresh, i, status, g)))
        const out = transitions(last, next)
        last = next
        return out
      }
      const { frontends, known, places, position, upWeighted, decided } = index
      const touched = new Set<number>()
      for (const b of changes.backends) {
        const from = known.get(b)
        const to = status(b)
        if (from === to) continue
        known.set(b, to)
        const up = (to === "up" ? 1 : 0) - (from === "up" ? 1 : 0)
        const dec = (isDecided(to) ? 1 : 0) - (isDecided(from) ? 1 : 0)
        for (const m of places.get(b) ?? []) {
          if (m.weighted) upWeighted[m.frontend]![m.pool]! += up
          decided[m.frontend]! += dec * m.entries
          touched.add(m.frontend)
        }
      }
      for (const name of changes.frontends) {
        const i = position.get(name)
        if (i !== undefined) touched.add(i)
      }
      const out: Array<FrontendTransition> = []
      for (const i of [...touched].sort((a, b) => a - b)) {
        const name = frontends[i]!.name
        const to = judge(index, i, status, g)
        const from = last.get(name) ?? NOTHING
        if (from.state === to.state && from.activePool === to.activePool) {
          if (from.serving !== to.serving) last.set(name, to)
          continue
        }
        last.set(name, to)
        out.push({ frontend: name, from, to })
      }
      return out
    },
    current: () => last
  }
}

/**
 * Resumes once the event loop has polled for I/O at least once: two
 * `setImmediate` turns (the check phase runs right after a poll phase, so
 * the second turn comes after the next loop's poll, whichever phase this
 * starts from), and then once no urgent exchange is outstanding
 * (`Urgent.whenIdle`: the LB sync's reaction to the same transition until
 * VPP's answer is read, 20 ms at most; after the poll alone, FrontendState
 * still judged before the answer was read in a third to a half of the
 * reactions at load 14-19, VPP not having answered by that poll). Not
 * `Effect.yieldNow`, which stays in the Effect scheduler's microtasks: the
 * event loop reads no socket until they are all done.
 */
export const afterPoll: Effect.Effect<void> = Effect.async<void>((resume) => {
  let second: NodeJS.Immediate | undefined
  const first = setImmediate(() => {
    second = setImmediate(() => whenIdle(() => resume(Effect.void)))
  })
  return Effect.sync(() => {
    clearImmediate(first)
    if (second !== undefined) clearImmediate(second)
  })
})

/** What one change of the watch's input says to judge again. */
type Work =
  | { readonly _tag: "Backend"; readonly name: string }
  | { readonly _tag: "Frontend"; readonly name: string }
  | { readonly _tag: "Config" }

const CONFIG: Work = { _tag: "Config" }

/**
 * Follows the health checker and the running configuration while the scope
 * is open, logging each frontend transition. One fiber computes, from one
 * queue of every kind of change taken a batch at a time (the transitions
 * published in one turn, a reload, a panic's start or end), so the states
 * compared are in order; it judges only the frontends a batch touches
 * (Tracker). With the LB sync there (the daemon), its min-healthy guards
 * too: a panic's start and end judge their frontend again.
 */
export const watch: Effect.Effect<void, never, HealthChecker.HealthChecker | RunningConfig.RunningConfig | Scope.Scope> =
  Effect.gen(function*() {
    const checker = yield* HealthChecker.HealthChecker
    const running = yield* RunningConfig.RunningConfig
    // Every kind of change, in the order it came: the one fiber below takes them a batch at a time.
    const inbox = yield* Queue.unbounded<Work>()
    yield* running.subscribe(() => Queue.offer(inbox, CONFIG))
    // Before the baseline, so that no transition falls between the two.
    const healthEvents = yield* checker.subscribe
    const sync = Option.getOrUndefined(yield* Effect.serviceOption(LbSync.LbSync))
    const tracker = makeTracker()
    const update = (batch: ReadonlyArray<Work>) =>
      Effect.gen(function*() {
        const config = yield* running.config
        const health = yield* checker.statuses
        // Once per backend per update: 1,000 frontends over the same 32 backends ask ~100,000 times.
        const seen = new Map<string, HealthStatus | undefined>()
        const status: StatusOf = (backend) => {
          if (seen.has(backend)) return seen.get(backend)
          const s = Option.getOrUndefined(HashMap.get(health, backend))?.status
          seen.set(backend, s)
          return s
        }
        const guards = sync === undefined ? undefined : { panics: yield* sync.panics, now: yield* Clock.currentTimeMillis }
        const backends: Array<string> = []
        const frontends: Array<string> = []
        for (const w of batch) {
          if (w._tag === "Backend") backends.push(w.name)
          else if (w._tag === "Frontend") frontends.push(w.name)
        }
        return tracker.update(config, status, guards, { backends, frontends })
      })
    // The states at the start are the baseline (not logged).
    yield* update([])
    // The sources move into the inbox through plain queues and fibers, not a merged Stream: a
    // Stream.mergeAll's channels ran ~1 ms of the runtime's work per transition between the LB sync's
    // reaction written and VPP's answer read (issue 14's profile), all before the event loop's poll.
    yield* Queue.take(healthEvents).pipe(
      Effect.flatMap((first) => Effect.map(Queue.takeAll(healthEvents), (rest) => [first, ...Chunk.toReadonlyArray(rest)])),
      Effect.flatMap((events) => Queue.offerAll(inbox, events.map((e): Work => ({ _tag: "Backend", name: e.backend })))),
      Effect.forever,
      Effect.forkScoped
    )
    if (sync !== undefined) {
      yield* sync.panicEvents.pipe(
        Stream.runForEach((e) => Queue.offer(inbox, { _tag: "Frontend", name: e.frontend })),
        Effect.forkScoped
      )
    }
    // Each batch is judged after the event loop's next poll (afterPoll): the transition that woke
    // this fiber also sent the LB sync's reaction to VPP, whose answer is then read (and the
    // reaction's lines logged) before the frontends of a backend in 1,000 VIPs are judged here,
    // not after (issue 14: 0.8-5 ms of a reaction's way during a full sync). Only log lines wait.
    yield* Queue.take(inbox).pipe(
      Effect.zipLeft(afterPoll),
      Effect.flatMap((first) => Effect.map(Queue.takeAll(inbox), (rest) => [first, ...Chunk.toReadonlyArray(rest)])),
      Effect.flatMap(update),
      Effect.tap((list) => Effect.sync(() => trace("frontends-judged", list.length))),
      Effect.flatMap((list) => Effect.forEach(list, logTransition, { discard: true })),
      Effect.forever,
      Effect.forkScoped
    )
  })

/** The watch as a feature of the daemon. */
export const layer: Layer.Layer<never, never, HealthChecker.HealthChecker | RunningConfig.RunningConfig> = Layer.scopedDiscard(watch)

// --- metrics --------------------------------------------------------------------------------

/** `maglev_frontend_state` and `maglev_frontend_serving_backends` for these statuses. */
export const sources = (frontends: ReadonlyMap<string, FrontendStatus>): ReadonlyArray<Source> => {
  const list = [...frontends]
  return [
    fromFamily({
      name: "maglev_frontend_state",
      help: `Frontend state: 1 on the series of the current state, 0 on the others (${FRONTEND_STATES.join(", ")}).`,
      type: "gauge",
      samples: list.flatMap(([frontend, s]) => FRONTEND_STATES.map((state) => ({ labels: [["frontend", frontend], ["state", state]] as const, value: s.state === state ? 1 : 0 })))
    }),
    fromFamily({
      name: "maglev_frontend_serving_backends",
      help: "Backends of the frontend's active pool taking new flows (up, weight > 0); 0 while the frontend is down.",
      type: "gauge",
      samples: list.map(([frontend, s]) => ({ labels: [["frontend", frontend]] as const, value: s.serving }))
    })
  ]
}
