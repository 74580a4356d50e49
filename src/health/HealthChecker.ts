/**
 * The health checker: one supervised probe fiber per backend (a FiberMap keyed
 * by backend name, however many frontends use the backend), the health of
 * every backend in a SubscriptionRef, and every transition published on a
 * PubSub.
 *
 * Fibers only move data: a probe result goes through the pure state machine
 * (HealthState.ts) inside one atomic `modify` of the health map, and the
 * transition it returns, if any, is logged and published. Operator actions and
 * reloads are serialised by one lock, and stop a backend's fiber (awaiting its
 * interruption) before they change its state, so a probe that was in flight
 * can never overwrite what the operator just did.
 */
import {
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  FiberMap,
  HashMap,
  Layer,
  Option,
  PubSub,
  Queue,
  Random,
  Ref,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import type { Backend, Config, HealthCheck } from "../config/Config.js"
import { healthCheckEquals } from "../config/Equality.js"
import * as Metrics from "../metrics/Metrics.js"
import * as State from "./HealthState.js"
import { type ProbeTarget, Prober } from "./Prober.js"
import type { ProbeResult } from "./ProbeResult.js"

/** One backend's health as the rest of the program sees it. */
export interface BackendHealth extends State.BackendState {
  readonly name: string
  readonly address: string
  readonly healthcheck: string
}

export type HealthMap = HashMap.HashMap<string, BackendHealth>

export interface BackendTransition {
  readonly _tag: "BackendTransition"
  readonly backend: string
  readonly address: string
  readonly transition: State.Transition
  /** The backend's health right after the transition. */
  readonly health: BackendHealth
}

export type HealthEvent = BackendTransition

export class BackendNotFound extends Data.TaggedError("BackendNotFound")<{ readonly backend: string }> {
  override get message(): string {
    return `backend "${this.backend}" is not defined`
  }
}

/** The action does not apply in the backend's state (e.g. pausing a disabled backend). */
export class BackendConflict extends Data.TaggedError("BackendConflict")<{
  readonly backend: string
  readonly action: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot ${this.action} backend "${this.backend}": ${this.reason}`
  }
}

export type ActionError = BackendNotFound | BackendConflict

export interface HealthCheckerShape {
  /** The health of every backend (removed ones stay until the next reload). */
  readonly health: Effect.Effect<HealthMap>
  /** The current map, then every change. */
  readonly changes: Stream.Stream<HealthMap>
  readonly backend: (name: string) => Effect.Effect<BackendHealth, BackendNotFound>
  /** Transitions from now on, for as long as the scope is open. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<HealthEvent>, never, Scope.Scope>
  readonly pause: (name: string) => Effect.Effect<BackendHealth, ActionError>
  readonly resume: (name: string) => Effect.Effect<BackendHealth, ActionError>
  readonly enable: (name: string) => Effect.Effect<BackendHealth, ActionError>
  readonly disable: (name: string) => Effect.Effect<BackendHealth, ActionError>
  /** Takes a new, already validated configuration whole. */
  readonly reload: (config: Config) => Effect.Effect<void>
  /** The configuration the checker is running. */
  readonly config: Effect.Effect<Config>
  /** Backends with a running probe fiber (for tests and diagnostics). */
  readonly probing: Effect.Effect<ReadonlyArray<string>>
}

export class HealthChecker extends Context.Tag("vpp-maglev/HealthChecker")<HealthChecker, HealthCheckerShape>() {}

const thresholds = (hc: HealthCheck): State.Thresholds => ({ rise: hc.rise, fall: hc.fall })

const intervalMillis = (hc: HealthCheck, kind: State.IntervalKind): number =>
  Duration.toMillis(kind === "interval" ? hc.interval : kind === "fast-interval" ? hc.fastInterval : hc.downInterval)

/** Whether a reload may leave the backend's prober running untouched. */
const sameProbing = (oldConfig: Config, oldBackend: Backend, config: Config, backend: Backend): boolean => {
  if (oldConfig.healthchecker.netns !== config.healthchecker.netns) return false
  if (oldBackend.address !== backend.address || oldBackend.healthcheck !== backend.healthcheck) return false
  const a = oldConfig.healthchecks.get(oldBackend.healthcheck)
  const b = config.healthchecks.get(backend.healthcheck)
  return a !== undefined && b !== undefined && healthCheckEquals(a, b)
}

const actions = {
  pause: State.pause,
  resume: State.resume,
  enable: State.enable,
  disable: State.disable
} as const
type Action = keyof typeof actions

/**
 * Builds the checker for a validated configuration and starts probing. Every
 * fiber belongs to the scope: closing it stops all probing.
 */
export const make = Effect.fn("HealthChecker.make")(function*(initialConfig: Config) {
  const prober = yield* Prober
  const configRef = yield* Ref.make(initialConfig)
  const healthRef = yield* SubscriptionRef.make<HealthMap>(HashMap.empty())
  const events = yield* PubSub.unbounded<HealthEvent>()
  const fibers = yield* FiberMap.make<string>()
  const lock = yield* Effect.makeSemaphore(1)

  const publish = (backend: BackendHealth, transition: State.Transition | undefined) =>
    transition === undefined
      ? Effect.void
      : Effect.logInfo("backend transition").pipe(
          Effect.annotateLogs({
            event: "backend-transition",
            backend: backend.name,
            address: backend.address,
            from: transition.from,
            to: transition.to,
            cause: transition.cause,
            ...(transition.result === undefined
              ? {}
              : {
                  code: transition.result.code,
                  detail: transition.result.detail,
                  duration_ms: Math.round(transition.result.durationMs * 1000) / 1000
                })
          }),
          Effect.zipRight(Metrics.countTransition(backend.name, transition.from, transition.to)),
          Effect.zipRight(
            PubSub.publish(events, {
              _tag: "BackendTransition" as const,
              backend: backend.name,
              address: backend.address,
              transition,
              health: backend
            })
          ),
          Effect.asVoid
        )

  /** Applies a probe result; returns the backend's health afterwards (none if it vanished). */
  const recordResult = (name: string, result: ProbeResult) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const history = (yield* Ref.get(configRef)).healthchecker.transitionHistory
      const outcome = yield* SubscriptionRef.modify(healthRef, (map) => {
        const current = HashMap.get(map, name)
        if (Option.isNone(current)) return [undefined, map] as const
        const step = State.record(current.value, result, now, history)
        const next: BackendHealth = { ...current.value, ...step.state }
        return [{ health: next, transition: step.transition }, HashMap.set(map, name, next)] as const
      })
      if (outcome === undefined) return undefined
      yield* publish(outcome.health, outcome.transition)
      return { health: outcome.health, result }
    })

  /**
   * The probe loop of one backend: probe at the due time, record, and set the
   * next due time from the interval the state asks for (jittered), counted
   * from the start of the previous probe so slow probes do not stretch the
   * schedule. The prober itself waits for the due time (see Prober.ts). An
   * unexpected defect is logged and the loop goes on at the fast interval.
   */
  const probeLoop = (target: ProbeTarget, start: "now" | "spread") =>
    Effect.gen(function*() {
      const hc = target.healthcheck
      const metrics = Metrics.probeRecorder(target.backend, hc.type)
      let due = (yield* Clock.currentTimeMillis) +
        (start === "spread" ? State.firstDelay(Duration.toMillis(hc.interval), yield* Random.next) : 0)
      for (;;) {
        const scheduledAt = due
        const outcome = yield* prober.probe({ target, scheduledAt }).pipe(
          Effect.flatMap((result) => {
            metrics.record(result)
            return recordResult(target.backend, result)
          }),
          Effect.catchAllCause((cause) =>
            Effect.logError("probe failed unexpectedly", cause).pipe(
              Effect.annotateLogs({ event: "probe-defect", backend: target.backend }),
              Effect.as(undefined)
            )
          )
        )
        const now = yield* Clock.currentTimeMillis
        const startedAt = outcome === undefined
          ? now
          : Math.min(now, Math.max(scheduledAt, now - outcome.result.durationMs))
        const kind = outcome === undefined ? "fast-interval" : State.intervalKind(outcome.health)
        due = startedAt + State.jitter(intervalMillis(hc, kind), yield* Random.next)
      }
    }).pipe(Effect.annotateLogs({ backend: target.backend }))

  const targetOf = (config: Config, backend: Backend): ProbeTarget | undefined => {
    const healthcheck = config.healthchecks.get(backend.healthcheck)
    return healthcheck === undefined
      ? undefined
      : { backend: backend.name, address: backend.address, healthcheck, netns: config.healthchecker.netns }
  }

  const startProbing = (config: Config, name: string, start: "now" | "spread") => {
    const backend = config.backends.get(name)
    const target = backend === undefined ? undefined : targetOf(config, backend)
    return target === undefined ? Effect.void : FiberMap.run(fibers, name, probeLoop(target, start)).pipe(Effect.asVoid)
  }

  const stopProbing = (name: string) => FiberMap.remove(fibers, name)

  /** Sets one backend's health, returning it and publishing the transition. */
  const put = (health: BackendHealth, transition: State.Transition | undefined) =>
    SubscriptionRef.update(healthRef, HashMap.set(health.name, health)).pipe(
      Effect.zipRight(publish(health, transition)),
      Effect.as(health)
    )

  const act = (action: Action) =>
    Effect.fn(`HealthChecker.${action}`)(function*(name: string) {
      return yield* lock.withPermits(1)(Effect.gen(function*() {
        const current = HashMap.get(yield* SubscriptionRef.get(healthRef), name)
        if (Option.isNone(current)) return yield* new BackendNotFound({ backend: name })
        const now = yield* Clock.currentTimeMillis
        const config = yield* Ref.get(configRef)
        const outcome = actions[action](current.value, now, config.healthchecker.transitionHistory)
        if (outcome._tag === "Refused") return yield* new BackendConflict({ backend: name, action, reason: outcome.reason })
        const { state, transition } = outcome.step
        if (transition === undefined) return current.value
        if (State.isInactive(state.status)) yield* stopProbing(name)
        const health = yield* put({ ...current.value, ...state }, transition)
        if (!State.isInactive(state.status)) yield* startProbing(config, name, "now")
        yield* Effect.logInfo(`backend ${action}d`).pipe(
          Effect.annotateLogs({ event: `backend-${action}`, backend: name })
        )
        return health
      }))
    })

  const reload = Effect.fn("HealthChecker.reload")(function*(config: Config) {
    yield* lock.withPermits(1)(Effect.gen(function*() {
      const oldConfig = yield* Ref.get(configRef)
      const now = yield* Clock.currentTimeMillis
      const history = config.healthchecker.transitionHistory
      const map = yield* SubscriptionRef.get(healthRef)
      yield* Ref.set(configRef, config)

      let started = 0
      let restarted = 0
      let kept = 0
      let removed = 0
      for (const [name, current] of map) {
        if (config.backends.has(name)) continue
        if (current.status === "removed") {
          // Removed at an earlier reload and still absent: forget it.
          yield* SubscriptionRef.update(healthRef, HashMap.remove(name))
          continue
        }
        yield* stopProbing(name)
        const step = State.remove(State.withHistory(current, history), now, history)
        yield* put({ ...current, ...step.state }, step.transition)
        removed++
      }

      for (const backend of config.backends.values()) {
        const hc = config.healthchecks.get(backend.healthcheck)
        if (hc === undefined) continue // validation guarantees it exists
        const current = HashMap.get(map, backend.name)
        const oldBackend = oldConfig.backends.get(backend.name)
        const identity = { name: backend.name, address: backend.address, healthcheck: backend.healthcheck }
        if (Option.isNone(current) || current.value.status === "removed" || oldBackend === undefined) {
          yield* put({ ...State.initial(thresholds(hc), backend.enabled), ...identity }, undefined)
          if (backend.enabled) yield* startProbing(config, backend.name, "spread")
          started++
          continue
        }
        if (sameProbing(oldConfig, oldBackend, config, backend)) {
          // Runtime state (an operator's pause or disable) survives, unless the
          // file's own `enabled` changed: then the file is the newer word.
          let health: BackendHealth = { ...current.value, ...State.withHistory(current.value, history) }
          yield* put(health, undefined)
          if (oldBackend.enabled !== backend.enabled) {
            const outcome = (backend.enabled ? State.enable : State.disable)(health, now, history)
            if (outcome._tag === "Applied" && outcome.step.transition !== undefined) {
              if (!backend.enabled) yield* stopProbing(backend.name)
              health = yield* put({ ...health, ...outcome.step.state }, outcome.step.transition)
              if (backend.enabled) yield* startProbing(config, backend.name, "now")
            }
          }
          kept++
          continue
        }
        yield* stopProbing(backend.name)
        const step = State.restart(current.value, thresholds(hc), backend.enabled, now, history)
        yield* put({ ...current.value, ...step.state, ...identity }, step.transition)
        if (backend.enabled) yield* startProbing(config, backend.name, "spread")
        restarted++
      }
      yield* Effect.logInfo("health checker reloaded").pipe(
        Effect.annotateLogs({ event: "healthchecker-reload", started, restarted, kept, removed })
      )
    }))
  })

  // Initial population: every backend unknown (or disabled), probes spread over their interval.
  yield* Effect.forEach(initialConfig.backends.values(), (backend) => {
    const hc = initialConfig.healthchecks.get(backend.healthcheck)
    if (hc === undefined) return Effect.void
    const health: BackendHealth = {
      ...State.initial(thresholds(hc), backend.enabled),
      name: backend.name,
      address: backend.address,
      healthcheck: backend.healthcheck
    }
    return SubscriptionRef.update(healthRef, HashMap.set(backend.name, health)).pipe(
      Effect.zipRight(backend.enabled ? startProbing(initialConfig, backend.name, "spread") : Effect.void)
    )
  }, { discard: true })

  const backend = (name: string) =>
    SubscriptionRef.get(healthRef).pipe(
      Effect.map(HashMap.get(name)),
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new BackendNotFound({ backend: name })),
        onSome: Effect.succeed
      }))
    )

  return HealthChecker.of({
    health: SubscriptionRef.get(healthRef),
    changes: healthRef.changes,
    backend,
    subscribe: PubSub.subscribe(events),
    pause: act("pause"),
    resume: act("resume"),
    enable: act("enable"),
    disable: act("disable"),
    reload,
    config: Ref.get(configRef),
    probing: Effect.sync(() => {
      const names: Array<string> = []
      for (const [name] of fibers) names.push(name)
      return names
    })
  })
})

/** The checker as a scoped layer, for a configuration already validated. */
export const layer = (config: Config): Layer.Layer<HealthChecker, never, Prober> =>
  Layer.scoped(HealthChecker, make(config))
