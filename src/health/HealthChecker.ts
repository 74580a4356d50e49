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
 * second is the target). Transitions are published in batches, one per turn
 * of the event loop (a start-up storm of 10,000 first verdicts is a handful
 * of changes of the map, not 10,000), and every one is still logged. Operator actions and reloads are serialised by one
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
  Cause,
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  FiberMap,
  FiberRef,
  HashMap,
  Layer,
  LogLevel,
  PubSub,
  Queue,
  Random,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import type { Backend, Config, HealthCheck } from "../config/Config.js"
import { sameProbing } from "../config/Equality.js"
import * as RunningConfig from "../config/RunningConfig.js"
import { LogDemand } from "../internal/LogDemand.js"
import * as LogLimit from "../internal/LogLimit.js"
import { trace, tracing } from "../internal/Trace.js"
import * as Metrics from "../metrics/Metrics.js"
import { yieldToEventLoop } from "../metrics/Prometheus.js"
import * as State from "./HealthState.js"
import { type ProbeTarget, Prober } from "./Prober.js"
import * as Rounds from "./Rounds.js"
import { isTimeout } from "./SelfLate.js"

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
   * The health of every backend now, as `health`, as a list: the backends in
   * the order the checker took them (the file's, then those reloads added).
   * Cheaper than the map (no map is built): what reads every backend (a
   * scrape of /metrics) reads this.
   */
  readonly healthList: Effect.Effect<ReadonlyArray<BackendHealth>>
  /**
   * The health map, each backend as of its last change of state (a
   * transition, an action, a reload that changed it): every status is exact,
   * a backend's counters and last results are as of its last change.
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
  /**
   * Takes a new, already validated configuration whole: `RunningConfig.replace`
   * (the running configuration's owner), which the checker follows like every
   * other subscriber. A convenience for embedding programs and tests.
   */
  readonly reload: (config: Config) => Effect.Effect<void>
  /** The running configuration (`RunningConfig.config`: the file's, with operator weight overrides). */
  readonly config: Effect.Effect<Config>
  /** Backends with a running probe fiber (for tests and diagnostics). */
  readonly probing: Effect.Effect<ReadonlyArray<string>>
}

export class HealthChecker extends Context.Tag("vpp-maglev/HealthChecker")<HealthChecker, HealthCheckerShape>() {}

/**
 * Log lines at one level, each with annotations of its own, given to the
 * fiber's loggers in one step, as `Effect.log` does for one line (the same
 * minimum level, loggers, spans, base annotations and clock).
 * `Effect.annotateLogs` around each line sets the annotations through
 * `Effect.locally` (an uninterruptible region and two FiberRef writes): ~15 us
 * a line against ~4, and a start-up at 10,000 backends logs 10,000 first
 * verdicts in about a second.
 */
const logEach = (level: LogLevel.LogLevel, message: string, lines: ReadonlyArray<Readonly<Record<string, unknown>>>) =>
  Effect.withFiberRuntime<void>((fiber) => {
    if (lines.length === 0 || LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), level)) return Effect.void
    const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
    const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
    const base = fiber.getFiberRef(FiberRef.currentLogAnnotations)
    const context = fiber.getFiberRefs()
    const date = new Date(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis())
    const fiberId = fiber.id()
    // As Effect.log hands it over: the message's parts.
    const parts = [message]
    for (const fields of lines) {
      const annotations = HashMap.mutate(base, (m) => {
        for (const k in fields) HashMap.set(m, k, fields[k])
      })
      for (const logger of loggers) logger.log({ fiberId, logLevel: level, message: parts, cause: Cause.empty, context, spans, annotations, date })
    }
    return Effect.void
  })

/** How long rounds not counted wait for the line of the one that woke its fiber before one wakes again (SelfLate). */
const SELF_LATE_HOLD_MS = 5000

/** Backends whose probing starts between two turns of the event loop at start-up. */
const START_SLICE = 200

const thresholds = (hc: HealthCheck): State.Thresholds => ({ rise: hc.rise, fall: hc.fall })

/**
 * A backend's health from its state and its identity, as one literal: the
 * same hidden class for every backend. A spread that adds keys
 * (`{ ...state, name, ... }`) gave each object a map of its own in
 * optimised code (V8's object-clone path): 10,000 maps and descriptor arrays
 * (~0.4 KB each) in the old generation at start-up.
 */
const backendHealth = (
  state: State.BackendState,
  identity: { readonly name: string; readonly address: string; readonly healthcheck: string }
): BackendHealth => ({
  status: state.status,
  counter: state.counter,
  rise: state.rise,
  fall: state.fall,
  transitions: state.transitions,
  lastResult: state.lastResult,
  lastProbeAt: state.lastProbeAt,
  name: identity.name,
  address: identity.address,
  healthcheck: identity.healthcheck
})

/**
 * What cancels a backend's live rounds, whichever wake-up of its fiber
 * started them: the fiber's end (interrupted: stop, pause, reload, the
 * scope's close) calls it, through one observer added the first time.
 */
interface Parked {
  cancel: () => void
  observed: boolean
}

const noRounds = (): void => {}

const cancelOnEnd = (parked: Parked): Effect.Effect<void> =>
  Effect.withFiberRuntime<void>((fiber) => {
    if (!parked.observed) {
      parked.observed = true
      fiber.addObserver(() => parked.cancel())
    }
    return Effect.void
  })

const actions = {
  pause: State.pause,
  resume: State.resume,
  enable: State.enable,
  disable: State.disable
} as const
type Action = keyof typeof actions

/**
 * Builds the checker over the running configuration and starts probing; it
 * follows every reload of `RunningConfig` (weight overrides do not concern
 * it). Every fiber belongs to the scope: closing it stops all probing.
 */
export const makeRunning = Effect.fn("HealthChecker.makeRunning")(function*() {
  const prober = yield* Prober
  const running = yield* RunningConfig.RunningConfig
  const initialConfig = (yield* running.get).file
  /** Each backend's health now; written by its probe fiber, or under the lock with that fiber stopped. */
  const cells = new Map<string, Rounds.Cell<BackendHealth>>()
  /** The map as of the last change of state. */
  const healthRef = yield* SubscriptionRef.make<HealthMap>(HashMap.empty())
  const events = yield* PubSub.unbounded<HealthEvent>()
  const fibers = yield* FiberMap.make<string>()
  const lock = yield* Effect.makeSemaphore(1)
  const demand = yield* LogDemand

  const snapshot = (): HealthMap =>
    HashMap.mutate(HashMap.empty<string, BackendHealth>(), (m) => {
      for (const [name, cell] of cells) HashMap.set(m, name, cell.get())
    })

  /** A transition's log line: its fields. */
  const transitionFields = (backend: BackendHealth, transition: State.Transition): Record<string, unknown> => ({
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
        duration_ms: Math.round(transition.result.durationMs * 1000) / 1000,
        // How late maglevd was while the probe ran (a timeout's; SelfLate.ts): the rule's figure, to read a false down by.
        ...(transition.result.selfLateMs === undefined || !isTimeout(transition.result)
          ? {}
          : { late_ms: Math.round(transition.result.selfLateMs * 1000) / 1000 })
      })
  })

  /** Logs and counts transitions (every one is logged, when anyone reads lines at info). */
  const announce = (list: ReadonlyArray<BackendTransition>) =>
    Effect.suspend(() => {
      for (const { health, transition } of list) Metrics.unsafeCountTransition(health.name, transition.from, transition.to)
      return demand.wants(LogLevel.Info)
        ? logEach(LogLevel.Info, "backend transition", list.map(({ health, transition }) => transitionFields(health, transition)))
        : Effect.void
    })

  const eventOf = (backend: BackendHealth, transition: State.Transition): BackendTransition => ({
    _tag: "BackendTransition",
    backend: backend.name,
    address: backend.address,
    transition,
    health: backend
  })

  /**
   * Transitions of the probe rounds not yet published. The rounds run off
   * their fibers (Rounds.runRounds) and put their transitions here instead of
   * waking their fiber; one flush per turn of the event loop publishes them
   * all: one write of the published map (so its followers - FrontendState,
   * the LB sync, WatchEvents - see one change, not one per backend, when
   * 10,000 backends come up together at start-up), one PubSub.publishAll, and
   * a log line and a count for each.
   */
  let pending: Array<{ readonly cell: Rounds.Cell<BackendHealth>; readonly event: BackendTransition }> = []
  const flushNeeded = yield* Queue.sliding<void>(1)
  const flushLock = yield* Effect.makeSemaphore(1)
  const noteTransition = (cell: Rounds.Cell<BackendHealth>, health: BackendHealth, transition: State.Transition) => {
    pending.push({ cell, event: eventOf(health, transition) })
    if (tracing()) trace("verdict", `${health.name} ${transition.to}`)
    if (pending.length === 1) flushNeeded.unsafeOffer(undefined)
  }
  /**
   * Publishes the pending transitions, in the order they happened. The map
   * gets each backend's cell as it is now (what the map promises is exact
   * statuses), unless the backend was forgotten (or re-created) since.
   */
  let flushing = 0
  const flushPending: Effect.Effect<void> = flushLock.withPermits(1)(Effect.suspend(() => {
    if (pending.length === 0) return Effect.void
    const batch = pending
    pending = []
    flushing++
    trace("publishing", batch.length)
    return SubscriptionRef.update(healthRef, (map) =>
      HashMap.mutate(map, (m) => {
        for (const { cell, event } of batch) {
          if (cells.get(event.backend) === cell) HashMap.set(m, event.backend, cell.get())
        }
      })).pipe(
        Effect.zipRight(announce(batch.map((p) => p.event))),
        Effect.zipRight(Effect.sync(() => trace("published", batch.length))),
        Effect.zipRight(PubSub.publishAll(events, batch.map((p) => p.event))),
        Effect.ensuring(Effect.sync(() => flushing--))
      )
  }))
  // Nothing pending and nothing being published: no lock to take (a reload puts every backend).
  const flush: Effect.Effect<void> = Effect.suspend(() => pending.length === 0 && flushing === 0 ? Effect.void : flushPending)
  yield* Queue.take(flushNeeded).pipe(Effect.zipRight(flush), Effect.forever, Effect.forkScoped)

  const publish = (backend: BackendHealth, transition: State.Transition | undefined) => {
    if (transition === undefined) return Effect.void
    const event = eventOf(backend, transition)
    return announce([event]).pipe(Effect.zipRight(PubSub.publish(events, event)), Effect.asVoid)
  }

  /**
   * Sets one backend's health (its cell and the published map), publishing
   * the transition after those of the rounds still pending (the caller
   * stopped the backend's rounds first, so theirs are among them).
   */
  const put = (health: BackendHealth, transition: State.Transition | undefined) =>
    Effect.zipRight(
      flush,
      Effect.suspend(() => {
        const cell = cells.get(health.name)
        if (cell === undefined) cells.set(health.name, new Rounds.Cell(health))
        else cell.set(health)
        return SubscriptionRef.update(healthRef, HashMap.set(health.name, health))
      })
    ).pipe(
      Effect.zipRight(publish(health, transition)),
      Effect.as(health)
    )

  // probe-self-late: at most one line per 5 s, then one saying how many more (LogLimit).
  const limited = yield* LogLimit.make({ window: Duration.seconds(5) })
  const selfLateAnnotations = (backend: string, reason: "timeout" | "start", lateMs: number, timeoutMs: number) => ({
    event: "probe-self-late",
    backend,
    reason,
    late_ms: Math.round(lateMs),
    timeout_ms: timeoutMs
  })
  const SELF_LATE = "probe round not counted: maglevd itself was late"
  /**
   * The limiter knows a line is suppressed only once the first of a burst is
   * logged, by the fiber its round woke; a burst of rounds not counted comes
   * in one turn (a batch of a probe thread's answers), before that fiber runs.
   * Rounds not counted meanwhile (for at most a window) are held here and
   * handed to the limiter after that line, instead of each waking its fiber:
   * a start-up of 10,000 backends woke 10,000 fibers to suppress 9,999 lines.
   */
  let selfLateWakingSince = -Infinity
  let selfLateHeld = 0
  let selfLateHeldLast: ReturnType<typeof selfLateAnnotations> | undefined
  const absorbSelfLate = (annotations: ReturnType<typeof selfLateAnnotations>): boolean => {
    if (limited.unsafeSuppressed(LogLevel.Warning, annotations)) return true
    const now = Date.now()
    if (now - selfLateWakingSince < SELF_LATE_HOLD_MS) {
      selfLateHeld++
      selfLateHeldLast = annotations
      return true
    }
    selfLateWakingSince = now
    return false
  }
  const noteSelfLate = (backend: string, reason: "timeout" | "start", lateMs: number, timeoutMs: number) =>
    limited.log(LogLevel.Warning, SELF_LATE, selfLateAnnotations(backend, reason, lateMs, timeoutMs)).pipe(
      Effect.zipRight(Effect.suspend(() => {
        selfLateWakingSince = -Infinity
        const held = selfLateHeld
        const last = selfLateHeldLast
        selfLateHeld = 0
        selfLateHeldLast = undefined
        return last === undefined ? Effect.void : handOver(held, last)
      }))
    )
  /** `n` rounds not counted to the limiter: counted into its summary, or through `log` (which starts one). */
  const handOver = (n: number, annotations: ReturnType<typeof selfLateAnnotations>): Effect.Effect<void> =>
    Effect.suspend(() => {
      let rest = n
      while (rest > 0 && limited.unsafeSuppressed(LogLevel.Warning, annotations)) rest--
      return rest === 0 ? Effect.void : Effect.zipRight(limited.log(LogLevel.Warning, SELF_LATE, annotations), handOver(rest - 1, annotations))
    })

  /** The transition history to keep, as configured now (apply updates it). */
  let historyNow = initialConfig.healthchecker.transitionHistory
  const history = () => historyNow

  /**
   * The probe loop of one backend: probe at the due time, record, and set the
   * next due time from the interval the state asks for (jittered), counted
   * from the start of the previous probe so slow probes do not stretch the
   * schedule (Rounds.decide). The prober itself waits for the due time (see
   * Prober.ts). A round the daemon was too late for is not counted and the
   * next is scheduled from now (SelfLate.ts), so lateness is shed, never piled
   * up into a burst of catch-up probes.
   *
   * With the live prober the rounds run off the fiber (Rounds.runRounds): the
   * fiber waits in one Effect.async and wakes only to log a round not counted
   * (a transition joins the pending batch without waking it). A scripted
   * prober is driven round by round.
   */
  /** What a decision that woke a backend's fiber does (a scripted prober's rounds come here one by one). */
  const handle = (target: ProbeTarget, timeoutMs: number, cell: Rounds.Cell<BackendHealth>, decision: Rounds.Decision<BackendHealth>): Effect.Effect<void> => {
    switch (decision._tag) {
      case "SelfLate":
        return noteSelfLate(target.backend, decision.reason, decision.lateMs, timeoutMs)
      case "Transition":
        // Only a scripted prober's rounds come here (one at a time, on the fiber).
        noteTransition(cell, decision.health, decision.transition)
        return flush
      case "Steady":
        return Effect.void
    }
  }

  /**
   * One backend's live rounds (a prober with `start`: Rounds.runRoundsTo)
   * while its fiber waits in one Effect.async: what they share, with their
   * callbacks as methods. Closures for each (the rounds' wake, defect and
   * absorb, the loop's next step and handler) and the chain of contexts they
   * kept cost every parked fiber ~0.7 KB of heap at 10,000 backends.
   */
  class LiveRounds implements Rounds.RoundsSink<BackendHealth> {
    private resume: ((effect: Effect.Effect<Rounds.Decision<BackendHealth>>) => void) | undefined = undefined
    private runs = 0

    constructor(
      private readonly ctx: Rounds.RoundContext<BackendHealth>,
      private readonly startRound: Rounds.StartRound,
      private readonly parked: Parked
    ) {}

    /**
     * The rounds from `at` on, until one needs the fiber. No canceler: the
     * fiber's end cancels the rounds (`parked`, an observer of the fiber added
     * once), for an async with one cost every parked fiber ~2 KB of heap (the
     * onInterrupt around it: an uninterruptible mask, a match on the cause,
     * their frames).
     */
    loop(at: number): Effect.Effect<never> {
      return Effect.flatMap(
        Effect.async<Rounds.Decision<BackendHealth>>((resume) => {
          this.resume = resume
          this.run(at)
        }),
        this.woken
      )
    }

    /** The fiber woke for a decision: handle it, then the rounds go on from its due time. */
    private readonly woken = (decision: Rounds.Decision<BackendHealth>): Effect.Effect<never> =>
      Effect.zipRight(
        Effect.suspend(() => handle(this.ctx.target, this.ctx.timeoutMs, this.ctx.cell, decision)),
        Effect.suspend(() => this.loop(decision.due))
      )

    private run(at: number): void {
      const mine = ++this.runs
      const c = Rounds.runRoundsTo(this.ctx, at, this.startRound, this)
      // A round that delivered at once may have started the next run already.
      if (mine === this.runs) this.parked.cancel = c
    }

    /** A transition goes to the pending batch and the rounds go on: the fiber wakes only for a round not counted (to log it) or a defect. */
    wake(decision: Rounds.Decision<BackendHealth>): void {
      if (decision._tag !== "Transition") return this.resume!(Effect.succeed(decision))
      noteTransition(this.ctx.cell, decision.health, decision.transition)
      this.run(decision.due)
    }

    defect(error: unknown): void {
      this.resume!(Effect.die(error))
    }

    absorb(decision: Rounds.Decision<BackendHealth> & { readonly _tag: "SelfLate" }): boolean {
      return absorbSelfLate(selfLateAnnotations(this.ctx.target.backend, decision.reason, decision.lateMs, this.ctx.timeoutMs))
    }
  }

  /**
   * When the last start of many backends began (the initial population, built
   * a slice at a time; a reload): their first rounds are spread over one
   * interval from then, not each from when its own fiber started
   * (State.firstDelay). Never cleared: a fiber forked in the last slice may
   * run its first step after the loop is over.
   */
  let spreadFrom = 0

  const probeRounds = (
    target: ProbeTarget,
    cell: Rounds.Cell<BackendHealth>,
    start: "now" | "spread",
    parked: Parked = { cancel: noRounds, observed: false }
  ): Effect.Effect<never> =>
    // A chain of flatMaps, not Effect.gen: a parked fiber keeps no generator
    // and its frame (~0.7 KB of each of 10,000 backends).
    Effect.clockWith((clock) =>
      Effect.randomWith((random) =>
        Effect.flatMap(start === "spread" ? random.next : Effect.succeed(0), (r) => {
          const hc = target.healthcheck
          const ctx = Rounds.context(target, cell, Metrics.probeRecorder(target.backend, hc.type), history)
          const now = clock.unsafeCurrentTimeMillis()
          const due = now + (start === "spread" ? State.firstDelay(ctx.intervals.interval, r, now - spreadFrom) : 0)
          const startRound = prober.start
          if (startRound !== undefined) return Effect.zipRight(cancelOnEnd(parked), new LiveRounds(ctx, startRound, parked).loop(due))
          // A scripted prober: driven round by round on the fiber, its clock and random the Effect's (TestClock).
          const next = (from: number): Effect.Effect<Rounds.Decision<BackendHealth>> =>
            Effect.flatMap(prober.probe(Rounds.request(ctx, from)), (outcome) =>
              Effect.map(random.next, (r) => Rounds.decide(ctx, outcome, from, clock.unsafeCurrentTimeMillis(), r)))
          const loop = (at: number): Effect.Effect<never> =>
            Effect.flatMap(next(at), (decision) =>
              Effect.zipRight(Effect.suspend(() => handle(target, ctx.timeoutMs, cell, decision)), Effect.suspend(() => loop(decision.due))))
          return loop(due)
        })
      )
    )

  /**
   * The rounds, restarted (at the fast interval) after an unexpected defect,
   * which is logged. Every line the rounds log names its backend itself: an
   * `Effect.annotateLogs` around the loop cost each parked fiber 2.5 KB of
   * heap (a quarter of a backend's cost at 10,000 backends).
   */
  const probeLoop = (
    target: ProbeTarget,
    cell: Rounds.Cell<BackendHealth>,
    start: "now" | "spread"
  ): Effect.Effect<never> =>
    probeLoopFrom(target, cell, start, { cancel: noRounds, observed: false })

  const probeLoopFrom = (
    target: ProbeTarget,
    cell: Rounds.Cell<BackendHealth>,
    start: "now" | "spread",
    parked: Parked
  ): Effect.Effect<never> =>
    probeRounds(target, cell, start, parked).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logError("probe failed unexpectedly", cause).pipe(
          Effect.annotateLogs({ event: "probe-defect", backend: target.backend }),
          Effect.zipRight(Effect.sleep(target.healthcheck.fastInterval)),
          Effect.zipRight(Effect.suspend(() => probeLoopFrom(target, cell, "now", parked)))
        )
      )
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
        const current = { value: cell.get() }
        const now = yield* Clock.currentTimeMillis
        const config = (yield* running.get).file
        const outcome = actions[action](current.value, now, config.healthchecker.transitionHistory)
        if (outcome._tag === "Refused") return yield* new BackendConflict({ backend: name, action, reason: outcome.reason })
        const { state, transition } = outcome.step
        if (transition === undefined) return current.value
        if (State.isInactive(state.status)) yield* stopProbing(name)
        const health = yield* put(backendHealth(state, current.value), transition)
        if (!State.isInactive(state.status)) yield* startProbing(config, name, "now")
        yield* Effect.logInfo(`backend ${action}d`).pipe(
          Effect.annotateLogs({ event: `backend-${action}`, backend: name })
        )
        return health
      }))
    })

  /**
   * Applies a reload of the running configuration (RunningConfig calls it,
   * under its own lock). An unchanged backend costs a lookup and a compare:
   * its fiber, cell and entry in the published map are left alone (only a
   * shorter transition history trims them). The fibers of what changes are
   * stopped first, then every new state is set at once and published as one
   * change of the map (what changed in it: a rebuild of the whole map was
   * 7 ms and its garbage at 10,000 backends), then
   * the transitions (in order, after those pending from the stopped rounds),
   * then the new fibers start. Putting each backend one by one (a write of
   * the published map, a flush and their fiber steps each) held the main
   * loop ~0.2-0.45 s of CPU at 10,000 backends for a reload that changed one
   * weight, and showed its followers 10,000 intermediate maps.
   */
  const apply = Effect.fn("HealthChecker.reload")(function*(oldConfig: Config, config: Config) {
    yield* lock.withPermits(1)(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      spreadFrom = now
      const history = config.healthchecker.transitionHistory
      historyNow = history
      const probingKept = sameProbing(oldConfig, config)

      // What changes, in the order its transitions are published: removals, then the file's order.
      const removed: Array<string> = []
      const gone: Array<string> = []
      for (const [name, cell] of cells) {
        if (config.backends.has(name)) continue
        if (cell.peek().status === "removed") gone.push(name) // removed at an earlier reload and still absent: forget it
        else removed.push(name)
      }
      type Change =
        | { readonly _tag: "Start"; readonly backend: Backend; readonly hc: HealthCheck }
        | { readonly _tag: "Restart"; readonly backend: Backend; readonly hc: HealthCheck }
        | { readonly _tag: "Enabled"; readonly backend: Backend }
      const changes: Array<Change> = []
      const trimmed: Array<string> = []
      let kept = 0
      for (const backend of config.backends.values()) {
        const hc = config.healthchecks.get(backend.healthcheck)
        if (hc === undefined) continue // validation guarantees it exists
        const cell = cells.get(backend.name)
        const oldBackend = oldConfig.backends.get(backend.name)
        if (cell === undefined || cell.peek().status === "removed" || oldBackend === undefined) {
          changes.push({ _tag: "Start", backend, hc })
        } else if (!probingKept(oldBackend, backend)) {
          changes.push({ _tag: "Restart", backend, hc })
        } else {
          kept++
          // Runtime state (an operator's pause or disable) survives, unless the
          // file's own `enabled` changed: then the file is the newer word.
          if (oldBackend.enabled !== backend.enabled) changes.push({ _tag: "Enabled", backend })
          else if (cell.peek().transitions.length > history) {
            const current = cell.get()
            cell.set(backendHealth(State.withHistory(current, history), current))
            trimmed.push(backend.name)
          }
        }
      }

      // Stop the fibers of what changes (a disabled one has none), then publish what their rounds left pending.
      for (const name of removed) yield* stopProbing(name)
      for (const c of changes) {
        if (c._tag === "Restart" || (c._tag === "Enabled" && !c.backend.enabled)) yield* stopProbing(c.backend.name)
      }
      yield* flush

      const transitions: Array<BackendTransition> = []
      const touched: Array<string> = trimmed
      const set = (health: BackendHealth, transition: State.Transition | undefined) => {
        touched.push(health.name)
        const cell = cells.get(health.name)
        if (cell === undefined) cells.set(health.name, new Rounds.Cell(health))
        else cell.set(health)
        if (transition !== undefined) transitions.push(eventOf(health, transition))
      }
      for (const name of gone) cells.delete(name)
      for (const name of removed) {
        const current = cells.get(name)!.get()
        const step = State.remove(State.withHistory(current, history), now, history)
        set(backendHealth(step.state, current), step.transition)
      }
      const starts: Array<readonly [string, "now" | "spread"]> = []
      let started = 0
      let restarted = 0
      for (const c of changes) {
        const { backend } = c
        const identity = { name: backend.name, address: backend.address, healthcheck: backend.healthcheck }
        switch (c._tag) {
          case "Start":
            set(backendHealth(State.initial(thresholds(c.hc), backend.enabled), identity), undefined)
            if (backend.enabled) starts.push([backend.name, "spread"])
            started++
            break
          case "Restart": {
            const step = State.restart(cells.get(backend.name)!.get(), thresholds(c.hc), backend.enabled, now, history)
            set(backendHealth(step.state, identity), step.transition)
            if (backend.enabled) starts.push([backend.name, "spread"])
            restarted++
            break
          }
          case "Enabled": {
            const current = cells.get(backend.name)!.get()
            const health = backendHealth(State.withHistory(current, history), current)
            const outcome = (backend.enabled ? State.enable : State.disable)(health, now, history)
            if (outcome._tag === "Applied" && outcome.step.transition !== undefined) {
              set(backendHealth(outcome.step.state, health), outcome.step.transition)
              if (backend.enabled) starts.push([backend.name, "now"])
            } else {
              set(health, undefined)
            }
            break
          }
        }
      }
      // One change of the published map: what the reload changed (an unchanged backend's entry stays as of its last change).
      yield* SubscriptionRef.update(healthRef, (map) =>
        HashMap.mutate(map, (m) => {
          for (const name of gone) HashMap.remove(m, name)
          for (const name of touched) {
            const cell = cells.get(name)
            if (cell !== undefined) HashMap.set(m, name, cell.get())
          }
        }))
      if (transitions.length > 0) yield* Effect.zipRight(announce(transitions), PubSub.publishAll(events, transitions))
      for (const [name, start] of starts) yield* startProbing(config, name, start)
      yield* Effect.logInfo("health checker reloaded").pipe(
        Effect.annotateLogs({ event: "healthchecker-reload", started, restarted, kept, removed: removed.length })
      )
    }))
    // The next subscriber (the LB sync: its indexes, then a full sync's desired state) in a turn of its own:
    // back to back in the Effect scheduler's microtasks, the two made one hold of the event loop.
    yield* yieldToEventLoop
  })

  // Initial population: every backend unknown (or disabled), first probes spread over one interval
  // from when the population began (`spreadFrom`; an offset already past runs at once). Built a slice
  // at a time, letting the event loop run in between: 10,000 backends held it for seconds in one go,
  // so the first rounds (and any scrape) waited them out.
  let inSlice = 0
  spreadFrom = yield* Clock.currentTimeMillis
  for (const backend of initialConfig.backends.values()) {
    const hc = initialConfig.healthchecks.get(backend.healthcheck)
    if (hc === undefined) continue
    const health = backendHealth(State.initial(thresholds(hc), backend.enabled), backend)
    cells.set(backend.name, new Rounds.Cell(health))
    if (!backend.enabled) continue
    yield* startProbing(initialConfig, backend.name, "spread")
    if (++inSlice === START_SLICE) {
      inSlice = 0
      yield* yieldToEventLoop
    }
  }
  yield* SubscriptionRef.set(healthRef, snapshot())
  yield* running.subscribe((change) => change._tag === "Reload" ? apply(change.previous.file, change.current.file) : Effect.void)

  const backend = (name: string) =>
    Effect.suspend(() => {
      const cell = cells.get(name)
      return cell === undefined ? Effect.fail(new BackendNotFound({ backend: name })) : Effect.succeed(cell.get())
    })

  return HealthChecker.of({
    health: Effect.sync(snapshot),
    healthList: Effect.sync(() => Array.from(cells.values(), (cell) => cell.get())),
    statuses: SubscriptionRef.get(healthRef),
    changes: healthRef.changes,
    backend,
    subscribe: PubSub.subscribe(events),
    pause: act("pause"),
    resume: act("resume"),
    enable: act("enable"),
    disable: act("disable"),
    reload: running.replace,
    config: running.config,
    probing: Effect.sync(() => {
      const names: Array<string> = []
      for (const [name] of fibers) names.push(name)
      return names
    })
  })
})

/** Builds the checker with a running configuration of its own (for programs that run the checker alone, and tests). */
export const make = (config: Config): Effect.Effect<HealthCheckerShape, never, Prober | Scope.Scope> =>
  Effect.flatMap(RunningConfig.make(config), (running) =>
    Effect.provideService(makeRunning(), RunningConfig.RunningConfig, running))

/** The checker over the `RunningConfig` provided. */
export const layerRunning: Layer.Layer<HealthChecker, never, Prober | RunningConfig.RunningConfig> = Layer.scoped(
  HealthChecker,
  makeRunning()
)

/** The checker and a running configuration for a configuration already validated. */
export const layer = (config: Config): Layer.Layer<HealthChecker | RunningConfig.RunningConfig, never, Prober> =>
  layerRunning.pipe(Layer.provideMerge(RunningConfig.layer(config)))
