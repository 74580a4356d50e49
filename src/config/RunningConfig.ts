/**
 * The running configuration: the one owner of the validated configuration and
 * of the operator's overrides (pool member weights). Everyone else reads it
 * here or subscribes to its changes; nobody else holds a configuration of
 * their own.
 *
 * - `replace` (a reload: SIGHUP, the ReloadConfig RPC) takes a configuration
 *   that is already validated, whole: overrides are dropped, and every
 *   subscriber applies it before `replace` returns. Changes are serialised by
 *   one lock, so subscribers see them one at a time and in order.
 * - `setWeight` (an operator override) replaces one pool member's weight until
 *   the next reload. It is not a reload: the file's configuration stays, the
 *   health checker is not involved, and the reconciler recomputes only that
 *   frontend's VIP.
 *
 * `effective` is the file's configuration with the overrides applied: the
 * input of the desired VPP state (Desired.ts), and what the API shows.
 */
import { Context, Data, Effect, Layer, Ref, type Scope, Stream, SubscriptionRef } from "effect"
import type { Config, Frontend } from "./Config.js"

/** `frontend/pool/backend`: a pool member. */
export const memberKey = (frontend: string, pool: string, backend: string): string => `${frontend}/${pool}/${backend}`

export interface Running {
  /** The validated configuration as loaded from the file. */
  readonly file: Config
  /** Operator weight overrides by `memberKey`; empty after every reload. */
  readonly weights: ReadonlyMap<string, number>
  /** `file` with the overrides applied (the same object as `file` when there are none). */
  readonly effective: Config
}

export type Change =
  /** A reload: a new file configuration, overrides dropped. */
  | { readonly _tag: "Reload"; readonly previous: Running; readonly current: Running }
  /** One pool member's weight overridden (or given back its file weight). */
  | {
    readonly _tag: "Override"
    readonly previous: Running
    readonly current: Running
    readonly frontend: string
    readonly pool: string
    readonly backend: string
  }

/** The override names a frontend, pool or member the running configuration does not have. */
export class UnknownMember extends Data.TaggedError("UnknownMember")<{
  readonly kind: "frontend" | "pool" | "pool-member"
  readonly name: string
}> {
  override get message(): string {
    return `${this.kind} "${this.name}" is not in the running configuration`
  }
}

export interface RunningConfigShape {
  /** The configuration, the overrides and the effective configuration, read together. */
  readonly get: Effect.Effect<Running>
  /** The effective configuration (file + overrides). */
  readonly config: Effect.Effect<Config>
  /** A reload: replaces the file configuration whole and drops every override; returns once every subscriber applied it. */
  readonly replace: (config: Config) => Effect.Effect<void>
  /**
   * Overrides one pool member's weight until the next reload (the file's
   * weight drops the override); returns the frontend as it is now. Returns
   * once every subscriber applied it.
   */
  readonly setWeight: (
    frontend: string,
    pool: string,
    backend: string,
    weight: number
  ) => Effect.Effect<{ readonly frontend: Frontend; readonly fileWeight: number; readonly changed: boolean }, UnknownMember>
  /**
   * Calls `apply` for every change from now on, in order, while the scope is
   * open; the change is complete (and `replace`/`setWeight` return) only once
   * every subscriber's `apply` returned. Subscribers run in subscription order.
   */
  readonly subscribe: (apply: (change: Change) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** The running state now, then after every change. */
  readonly changes: Stream.Stream<Running>
}

export class RunningConfig extends Context.Tag("vpp-maglev/RunningConfig")<RunningConfig, RunningConfigShape>() {}

/** The configuration with the weights applied; every object not changed is shared. */
export const withWeights = (config: Config, weights: ReadonlyMap<string, number>): Config => {
  if (weights.size === 0) return config
  const touched = new Set<string>()
  for (const key of weights.keys()) touched.add(key.slice(0, key.indexOf("/")))
  const frontends = new Map<string, Frontend>()
  for (const [name, f] of config.frontends) {
    if (!touched.has(name)) {
      frontends.set(name, f)
      continue
    }
    frontends.set(name, {
      ...f,
      pools: f.pools.map((p) => ({
        ...p,
        backends: p.backends.map((m) => {
          const w = weights.get(memberKey(name, p.name, m.backend))
          return w === undefined || w === m.weight ? m : { ...m, weight: w }
        })
      }))
    })
  }
  return { ...config, frontends }
}

const running = (file: Config, weights: ReadonlyMap<string, number>): Running => ({
  file,
  weights,
  effective: withWeights(file, weights)
})

export const make = Effect.fn("RunningConfig.make")(function*(initial: Config) {
  const state = yield* SubscriptionRef.make(running(initial, new Map()))
  const lock = yield* Effect.makeSemaphore(1)
  const subscribers = yield* Ref.make<ReadonlyArray<(change: Change) => Effect.Effect<void>>>([])

  const notify = (change: Change) =>
    Effect.flatMap(Ref.get(subscribers), (all) => Effect.forEach(all, (apply) => apply(change), { discard: true }))

  const replace = Effect.fn("RunningConfig.replace")(function*(config: Config) {
    yield* lock.withPermits(1)(Effect.gen(function*() {
      const previous = yield* SubscriptionRef.get(state)
      const current = running(config, new Map())
      yield* SubscriptionRef.set(state, current)
      yield* notify({ _tag: "Reload", previous, current })
    }))
  })

  const setWeight = Effect.fn("RunningConfig.setWeight")(function*(frontend: string, pool: string, backend: string, weight: number) {
    return yield* lock.withPermits(1)(Effect.gen(function*() {
      const previous = yield* SubscriptionRef.get(state)
      const f = previous.file.frontends.get(frontend)
      if (f === undefined) return yield* new UnknownMember({ kind: "frontend", name: frontend })
      const p = f.pools.find((p) => p.name === pool)
      if (p === undefined) return yield* new UnknownMember({ kind: "pool", name: `${frontend}/${pool}` })
      const m = p.backends.find((m) => m.backend === backend)
      if (m === undefined) return yield* new UnknownMember({ kind: "pool-member", name: memberKey(frontend, pool, backend) })
      const key = memberKey(frontend, pool, backend)
      const now = previous.weights.get(key) ?? m.weight
      if (now === weight) {
        return { frontend: previous.effective.frontends.get(frontend) ?? f, fileWeight: m.weight, changed: false }
      }
      const weights = new Map(previous.weights)
      if (weight === m.weight) weights.delete(key)
      else weights.set(key, weight)
      const current = running(previous.file, weights)
      yield* SubscriptionRef.set(state, current)
      yield* notify({ _tag: "Override", previous, current, frontend, pool, backend })
      return { frontend: current.effective.frontends.get(frontend) ?? f, fileWeight: m.weight, changed: true }
    }))
  })

  const subscribe = (apply: (change: Change) => Effect.Effect<void>) =>
    Effect.acquireRelease(
      Ref.update(subscribers, (all) => [...all, apply]),
      () => Ref.update(subscribers, (all) => all.filter((a) => a !== apply))
    )

  return RunningConfig.of({
    get: SubscriptionRef.get(state),
    config: Effect.map(SubscriptionRef.get(state), (r) => r.effective),
    replace,
    setWeight,
    subscribe,
    changes: state.changes
  })
})

/** The running configuration, starting from a configuration already validated. */
export const layer = (config: Config): Layer.Layer<RunningConfig> => Layer.effect(RunningConfig, make(config))
