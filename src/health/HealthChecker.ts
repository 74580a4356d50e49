/**
 * The health checker: one supervised probe fiber per backend (a FiberMap keyed
 * by backend name, however many frontends use the backend), the health of
 * every backend in a SubscriptionRef, and every transition published on a
 * PubSub.
 *
 * Fibers only move data: a probe result goes through the pure state machine
 * (HealthState.ts) and lands in the backend's own cell; only a transition
 * touches what others share - the published health map (a SubscriptionRef),
 * the log and the PubSub - so a round in which nothing changed costs one
 * wake-up, the probe, a counter and a few small objects (10,000 backends a
 * second is the target). Operator actions and reloads are serialised by one
 * lock, and stop a backend's fiber (awaiting its interruption) before they
 * change its state, so a probe that was in flight can never overwrite what the
 * operator just did: a cell has one writer at a time.
 *
 * A result the daemon's own lateness may have caused is not counted
 * (SelfLate.ts): the round is dropped, counted in
 * `maglev_probe_self_late_total` and logged (`probe-self-late`, at most once
 * per 5 s, then a line with the number suppressed), and the next round is
 * scheduled from now, later by that lateness and spread over an interval
 * (HealthState.respread).
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
  LogLevel,
  MutableRef,
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
import * as LogLimit from "../internal/LogLimit.js"
import * as Metrics from "../metrics/Metrics.js"
import * as State from "./HealthState.js"
import { type ProbeTarget, Prober } from "./Prober.js"
import { isSelfLate, isSkipped, skipLateMs } from "./SelfLate.js"
import { countSelfLate } from "./SelfLateMetrics.js"

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
  /** The health of every backend now, counters and last results included (removed ones stay until the next reload). */
  readonly health: Effect.Effect<HealthMap>
  /**
   * The health map as of the last change of state (a transition, an action, a
   * reload): every status is exact, counters and last results are as of then.
   * Cheap: what needs only statuses (the desired VPP state) reads this.
   */
  readonly statuses: Effect.Effect<HealthMap>
  /** The `statuses` map now, then at every change of state (not at every probe). */
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
  /** Each backend's health now; written by its probe fiber, or under the lock with that fiber stopped. */
  const cells = new Map<string, MutableRef.MutableRef<BackendHealth>>()
  /** The map as of the last change of state. */
  const healthRef = yield* SubscriptionRef.make<HealthMap>(HashMap.empty())
  const events = yield* PubSub.unbounded<HealthEvent>()
  const fibers = yield* FiberMap.make<string>()
  const lock = yield* Effect.makeSemaphore(1)

  const snapshot = (): HealthMap =>
    HashMap.mutate(HashMap.empty<string, BackendHealth>(), (m) => {
      for (const [name, cell] of cells) HashMap.set(m, name, MutableRef.get(cell))
    })

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

  /** Sets one backend's health (its cell and the published map), publishing the transition. */
  const put = (health: BackendHealth, transition: State.Transition | undefined) =>
    Effect.suspend(() => {
      const cell = cells.get(health.name)
      if (cell === undefined) cells.set(health.name, MutableRef.make(health))
      else MutableRef.set(cell, health)
      return SubscriptionRef.update(healthRef, HashMap.set(health.name, health))
    }).pipe(
      Effect.zipRight(publish(health, transition)),
      Effect.as(health)
    )

  const forget = (name: string) =>
    Effect.suspend(() => {
      cells.delete(name)
      return SubscriptionRef.update(healthRef, HashMap.remove(name))
    })

  // probe-self-late: at most one line per 5 s, then one saying how many more (LogLimit).
  const limited = yield* LogLimit.make({ window: Duration.seconds(5) })
  const noteSelfLate = (backend: string, reason: "timeout" | "start", lateMs: number, timeoutMs: number) =>
    limited.log(LogLevel.Warning, "probe round not counted: maglevd itself was late", {
      event: "probe-self-late",
      backend,
      reason,
      late_ms: Math.round(lateMs),
      timeout_ms: timeoutMs
    })

  /**
   * The probe loop of one backend: probe at the due time, record, and set the
   * next due time from the interval the state asks for (jittered), counted
   * from the start of the previous probe so slow probes do not stretch the
   * schedule. The prober itself waits for the due time (see Prober.ts). A
   * round the daemon was too late for is not counted and the next is
   * scheduled from now (SelfLate.ts), so lateness is shed, never piled up
   * into a burst of catch-up probes.
   */
  const probeRounds = (target: ProbeTarget, cell: MutableRef.MutableRef<BackendHealth>, start: "now" | "spread") =>
    Effect.gen(function*() {
      const hc = target.healthcheck
      const timeoutMs = Math.max(1, Duration.toMillis(hc.timeout))
      const recorder = Metrics.probeRecorder(target.backend, hc.type)
      const clock = yield* Effect.clock
      const random = yield* Effect.random
      let due = clock.unsafeCurrentTimeMillis() +
        (start === "spread" ? State.firstDelay(Duration.toMillis(hc.interval), yield* random.next) : 0)
      for (;;) {
        const every = intervalMillis(hc, State.intervalKind(MutableRef.get(cell)))
        const outcome = yield* prober.probe({ target, scheduledAt: due, skipIfLateMs: skipLateMs(every) })
        const now = clock.unsafeCurrentTimeMillis()
        const r = yield* random.next
        if (isSkipped(outcome)) {
          countSelfLate("start")
          yield* noteSelfLate(target.backend, "start", outcome.lateMs, timeoutMs)
          due = now + State.respread(every, r, outcome.lateMs)
          continue
        }
        if (isSelfLate(outcome, timeoutMs)) {
          countSelfLate("timeout")
          yield* noteSelfLate(target.backend, "timeout", outcome.selfLateMs ?? 0, timeoutMs)
          due = now + State.respread(every, r, outcome.selfLateMs ?? 0)
          continue
        }
        recorder.record(outcome)
        const history = (yield* Ref.get(configRef)).healthchecker.transitionHistory
        const current = MutableRef.get(cell)
        const step = State.record(current, outcome, now, history)
        const next: BackendHealth = { ...current, ...step.state }
        MutableRef.set(cell, next)
        if (step.transition !== undefined) {
          yield* SubscriptionRef.update(healthRef, HashMap.set(next.name, next))
          yield* publish(next, step.transition)
        }
        const startedAt = Math.min(now, Math.max(due, now - outcome.durationMs))
        due = startedAt + State.jitter(intervalMillis(hc, State.intervalKind(next)), r)
      }
    })

  /** The rounds, restarted (at the fast interval) after an unexpected defect, which is logged. */
  const probeLoop = (
    target: ProbeTarget,
    cell: MutableRef.MutableRef<BackendHealth>,
    start: "now" | "spread"
  ): Effect.Effect<never> =>
    probeRounds(target, cell, start).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logError("probe failed unexpectedly", cause).pipe(
          Effect.annotateLogs({ event: "probe-defect", backend: target.backend }),
          Effect.zipRight(Effect.sleep(target.healthcheck.fastInterval)),
          Effect.zipRight(Effect.suspend(() => probeLoop(target, cell, "now")))
        )
      ),
      Effect.annotateLogs({ backend: target.backend })
    )

  const targetOf = (config: Config, backend: Backend): ProbeTarget | undefined => {
    const healthcheck = config.healthchecks.get(backend.healthcheck)
    return healthcheck === undefined
      ? undefined
      : { backend: backend.name, address: backend.address, healthcheck, netns: config.healthchecker.netns }
  }

  const startProbing = (config: Config, name: string, start: "now" | "spread") => {
    const backend = config.backends.get(name)
    const target = backend === undefined ? undefined : targetOf(config, backend)
    const cell = cells.get(name)
    return target === undefined || cell === undefined
      ? Effect.void
      : FiberMap.run(fibers, name, probeLoop(target, cell, start)).pipe(Effect.asVoid)
  }

  const stopProbing = (name: string) => FiberMap.remove(fibers, name)

  const act = (action: Action) =>
    Effect.fn(`HealthChecker.${action}`)(function*(name: string) {
      return yield* lock.withPermits(1)(Effect.gen(function*() {
        const cell = cells.get(name)
        if (cell === undefined) return yield* new BackendNotFound({ backend: name })
        const current = { value: MutableRef.get(cell) }
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
      const map = snapshot()
      yield* Ref.set(configRef, config)

      let started = 0
      let restarted = 0
      let kept = 0
      let removed = 0
      for (const [name, current] of map) {
        if (config.backends.has(name)) continue
        if (current.status === "removed") {
          // Removed at an earlier reload and still absent: forget it.
          yield* forget(name)
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
    cells.set(backend.name, MutableRef.make(health))
    return backend.enabled ? startProbing(initialConfig, backend.name, "spread") : Effect.void
  }, { discard: true })
  yield* SubscriptionRef.set(healthRef, snapshot())

  const backend = (name: string) =>
    Effect.suspend(() => {
      const cell = cells.get(name)
      return cell === undefined ? Effect.fail(new BackendNotFound({ backend: name })) : Effect.succeed(MutableRef.get(cell))
    })

  return HealthChecker.of({
    health: Effect.sync(snapshot),
    statuses: SubscriptionRef.get(healthRef),
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
