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
import { Clock, Effect, HashMap, Layer, Option, Queue, type Scope, Stream } from "effect"
import type { Config, Frontend } from "../config/Config.js"
import * as RunningConfig from "../config/RunningConfig.js"
import { activePool, type FrontendState as HealthState, type StatusOf } from "../lb/Desired.js"
import * as LbSync from "../lb/LbSync.js"
import * as Panic from "../lb/Panic.js"
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

/**
 * Follows the health checker and the running configuration while the scope
 * is open, logging each frontend transition. One fiber computes, from one
 * stream of both kinds of change, so the states compared are in order. With
 * the LB sync there (the daemon), its min-healthy guards too: a panic's start
 * and end are changes of their own.
 */
export const watch: Effect.Effect<void, never, HealthChecker.HealthChecker | RunningConfig.RunningConfig | Scope.Scope> =
  Effect.gen(function*() {
    const checker = yield* HealthChecker.HealthChecker
    const running = yield* RunningConfig.RunningConfig
    const configChanged = yield* Queue.sliding<void>(1)
    yield* running.subscribe(() => Queue.offer(configChanged, undefined))
    const sync = Option.getOrUndefined(yield* Effect.serviceOption(LbSync.LbSync))
    let last: ReadonlyMap<string, FrontendStatus> | undefined
    const update = Effect.gen(function*() {
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
      const next = statuses(config, status, guards)
      if (last !== undefined) yield* Effect.forEach(transitions(last, next), logTransition, { discard: true })
      last = next
    })
    // The states at the start are the baseline (not logged); the streams then start with what is current.
    yield* update
    const panics = sync === undefined ? Stream.empty : Stream.as(sync.panicEvents, undefined)
    yield* Stream.mergeAll([checker.changes, Stream.fromQueue(configChanged), panics], { concurrency: "unbounded" }).pipe(
      Stream.runForEach(() => update),
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
