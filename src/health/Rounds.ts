/**
 * One backend's probe rounds: what a round's outcome does to the backend's
 * cell and its schedule ({@link decide}, pure but for the cell and the
 * counters it writes), and the live driver that runs rounds back to back off
 * the fiber ({@link runRounds}).
 *
 * Why off the fiber: a round in which nothing changed needs no Effect at all -
 * a timer, a probe, a counter, the cell, the next timer. Resuming the
 * backend's fiber for each of them cost 35-100 us of fiber machinery and
 * ~8 KB of garbage per round, more than the probe itself at 10,000 rounds a
 * second. So the backend's fiber (still one per backend, supervised by the
 * health checker's FiberMap, interrupted to stop probing) waits in one
 * Effect.async while {@link runRounds} drives the rounds with callbacks, and
 * is woken only for what needs the Effect world: a transition to publish, a
 * round not counted to log (SelfLate.ts), or a defect. Interrupting the fiber
 * cancels the round in flight (its timer, its socket).
 *
 * Scripted probers (tests, the simulation harness) have no callback form:
 * the checker drives them round by round on the fiber, through the same
 * {@link decide}, so the TestClock drives them and the rules are one.
 */
import { Duration } from "effect"
import type { HealthCheck } from "../config/Config.js"
import type * as Metrics from "../metrics/Metrics.js"
import * as State from "./HealthState.js"
import * as ProbeActivity from "./ProbeActivity.js"
import type { ProbeResult } from "./ProbeResult.js"
import type { ProbeRequest, ProbeTarget } from "./Prober.js"
import { isSelfLate, isSkipped, type ProbeOutcome, skipLateMs } from "./SelfLate.js"
import { countSelfLate } from "./SelfLateMetrics.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * One backend's health now: written by its rounds (or by the checker, with
 * the rounds stopped), read by everyone else.
 *
 * Copy on write. A reader's `get` hands out the value, which from then on
 * never changes. A round in which the status stays (most rounds) moves only
 * the counter, the last result and its time: the first such round after a
 * read (or a transition) copies the state, and the next ones change that
 * copy, which nobody else has seen, in place ({@link decide}). So a steady
 * round allocates nothing that lives until the next. A new state and result
 * per round (~200 B, 2 MB/s at 10,000 backends) lived one round, long
 * enough to be promoted, and were most of the main thread's old-generation
 * garbage: a major collection every few seconds with `--optimize-for-size`
 * (docs/health.md, "Scale").
 */
export class Cell<H extends State.BackendState> {
  /** Whether `value` is the rounds' own copy, never handed out. */
  private own = false
  constructor(private value: H) {}
  /** The state now, for a reader: it never changes after this (the next round copies it). */
  get(): H {
    this.own = false
    return this.value
  }
  /** Sets the state (handed out or not: it is not changed in place). */
  set(value: H): void {
    this.value = value
    this.own = false
  }
  /** The state now, for the rounds' own look: it may change in place afterwards. */
  peek(): H {
    return this.value
  }
  /** A steady round's counted result (`State.isSteady`): what `State.record` does, in place on the rounds' own copy. */
  steady(counter: number, result: ProbeResult, now: number): void {
    if (this.own) {
      const state = this.value as Mutable<H>
      const last = state.lastResult as Mutable<ProbeResult>
      state.counter = counter
      last.ok = result.ok
      last.code = result.code
      last.durationMs = result.durationMs
      last.detail = result.detail
      last.selfLateMs = result.selfLateMs
      state.lastProbeAt = now
      return
    }
    // One shape for every copy's result (the in-place writes stay monomorphic).
    const last: ProbeResult = {
      ok: result.ok,
      code: result.code,
      durationMs: result.durationMs,
      detail: result.detail,
      selfLateMs: result.selfLateMs
    }
    this.value = { ...this.value, counter, lastResult: last, lastProbeAt: now }
    this.own = true
  }
}

/** What a round works on: one backend, its cell (written only here while its rounds run) and its recorder. */
export interface RoundContext<H extends State.BackendState> {
  readonly target: ProbeTarget
  readonly timeoutMs: number
  /** The check's intervals in ms, by kind (decoded once: a Duration decode per round showed in profiles). */
  readonly intervals: { readonly [K in State.IntervalKind]: number }
  readonly cell: Cell<H>
  readonly recorder: Metrics.ProbeRecorder
  /** The configured transition history length now (a reload may change it without restarting the rounds). */
  readonly history: () => number
}

export const intervalMillis = (hc: HealthCheck, kind: State.IntervalKind): number =>
  Duration.toMillis(kind === "interval" ? hc.interval : kind === "fast-interval" ? hc.fastInterval : hc.downInterval)

/** A check's timeout and intervals in ms, decoded once per check (10,000 backends share a few checks). */
const timings = new WeakMap<HealthCheck, { readonly timeoutMs: number; readonly intervals: RoundContext<State.BackendState>["intervals"] }>()
const timingsOf = (hc: HealthCheck) => {
  let t = timings.get(hc)
  if (t === undefined) {
    t = {
      timeoutMs: Math.max(1, Duration.toMillis(hc.timeout)),
      intervals: {
        "interval": intervalMillis(hc, "interval"),
        "fast-interval": intervalMillis(hc, "fast-interval"),
        "down-interval": intervalMillis(hc, "down-interval")
      }
    }
    timings.set(hc, t)
  }
  return t
}

export const context = <H extends State.BackendState>(
  target: ProbeTarget,
  cell: Cell<H>,
  recorder: Metrics.ProbeRecorder,
  history: () => number
): RoundContext<H> => {
  const { intervals, timeoutMs } = timingsOf(target.healthcheck)
  return { target, timeoutMs, intervals, cell, recorder, history }
}

/** The interval the backend's state asks for now, before jitter. */
export const currentInterval = <H extends State.BackendState>(ctx: RoundContext<H>): number =>
  ctx.intervals[State.intervalKind(ctx.cell.peek())]

/** The request for the round due at `due` (epoch ms). */
export const request = <H extends State.BackendState>(ctx: RoundContext<H>, due: number): ProbeRequest => ({
  target: ctx.target,
  scheduledAt: due,
  skipIfLateMs: skipLateMs(currentInterval(ctx))
})

/** What a round did. Every kind carries when the next round is due (epoch ms). */
export type Decision<H> =
  /** Counted, nothing changed but the cell: the rounds go on without waking anyone. */
  | { readonly _tag: "Steady"; readonly due: number }
  /** Counted, and the backend changed state: publish it. */
  | { readonly _tag: "Transition"; readonly due: number; readonly health: H; readonly transition: State.Transition }
  /** Not counted: maglevd itself was late (SelfLate.ts); log it. */
  | {
    readonly _tag: "SelfLate"
    readonly due: number
    readonly reason: "start" | "timeout"
    readonly lateMs: number
  }

/**
 * Applies one round's outcome, decided at `now` (epoch ms), for the round that
 * was due at `due`; `random` in [0, 1) jitters the next due time. A round
 * not counted is only counted in `maglev_probe_self_late_total` and put off
 * (HealthState.respread); a counted one is recorded in the probe metrics and
 * goes through the state machine into the cell. The next round is due an
 * interval (jittered, of the kind the new state asks for) after this one
 * started, so slow probes do not stretch the schedule.
 */
export const decide = <H extends State.BackendState>(
  ctx: RoundContext<H>,
  outcome: ProbeOutcome,
  due: number,
  now: number,
  random: number
): Decision<H> => {
  if (isSkipped(outcome)) {
    countSelfLate("start")
    const every = currentInterval(ctx)
    // A backend never probed yet was late for its first round because the
    // daemon was starting (10,000 fibers, the configuration, the modules),
    // not because its rounds pile up: spread it again over one interval from
    // now, without the back-off, so that probing reaches its rate as soon as
    // the start-up is over.
    const first = ctx.cell.peek().lastProbeAt === undefined
    return {
      _tag: "SelfLate",
      reason: "start",
      lateMs: outcome.lateMs,
      due: now + (first ? State.firstDelay(every, random) : State.respread(every, random, outcome.lateMs))
    }
  }
  if (isSelfLate(outcome, ctx.timeoutMs)) {
    const lateMs = outcome.selfLateMs ?? 0
    countSelfLate("timeout")
    return { _tag: "SelfLate", reason: "timeout", lateMs, due: now + State.respread(currentInterval(ctx), random, lateMs) }
  }
  ctx.recorder.record(outcome)
  const current = ctx.cell.peek()
  const startedAt = Math.min(now, Math.max(due, now - outcome.durationMs))
  if (State.isSteady(current, outcome.ok)) {
    ctx.cell.steady(State.counterAfter(current, outcome.ok), outcome, now)
    return { _tag: "Steady", due: startedAt + State.jitter(ctx.intervals[State.intervalKind(ctx.cell.peek())], random) }
  }
  const step = State.record(current, outcome, now, ctx.history())
  // HealthState spreads the state it is given, so the step's state keeps the cell's own fields (a
  // backend's name, address, check).
  const next = step.state as H
  ctx.cell.set(next)
  const nextDue = startedAt + State.jitter(ctx.intervals[State.intervalKind(next)], random)
  return step.transition === undefined
    ? { _tag: "Steady", due: nextDue }
    : { _tag: "Transition", due: nextDue, health: next, transition: step.transition }
}

/** A prober's callback form: starts the round's probe (at its due time); returns what cancels it. */
export type StartRound = (request: ProbeRequest, deliver: (outcome: ProbeOutcome) => void) => () => void

/** Where a driver's rounds report: methods, so that a long-lived sink (a backend's) costs no closure per callback. */
export interface RoundsSink<H> {
  /** The first decision that is not Steady (nor absorbed): the rounds have stopped. */
  wake(decision: Decision<H>): void
  /** A defect in a round (a bug: probes never throw): the rounds have stopped. */
  defect(error: unknown): void
  /**
   * Takes a round not counted without waking (its log line would be
   * suppressed anyway: LogLimit.unsafeSuppressed); false: wake for it.
   */
  absorb?(decision: Decision<H> & { readonly _tag: "SelfLate" }): boolean
}

/**
 * Runs rounds from `due` on, with real time (Date.now, Math.random), until
 * one is not Steady: that decision goes to `wake`, once, and the rounds stop
 * (the caller handles it and calls again from its `due`). Returns what
 * cancels the round in flight. A defect in a round (a bug: probes never
 * throw) goes to `defect` instead. A round not counted that `absorb` takes
 * (its log line would be suppressed anyway: LogLimit.unsafeSuppressed) does
 * not wake the caller either: an overloaded daemon sheds rounds without
 * spending a fiber wake-up on each.
 */
export const runRounds = <H extends State.BackendState>(
  ctx: RoundContext<H>,
  due: number,
  start: StartRound,
  wake: (decision: Decision<H>) => void,
  defect: (error: unknown) => void,
  absorb?: (decision: Decision<H> & { readonly _tag: "SelfLate" }) => boolean
): (() => void) => runRoundsTo(ctx, due, start, absorb === undefined ? { wake, defect } : { wake, defect, absorb })

/** {@link runRounds}, reporting to a sink. */
export const runRoundsTo = <H extends State.BackendState>(
  ctx: RoundContext<H>,
  due: number,
  start: StartRound,
  sink: RoundsSink<H>
): (() => void) => {
  const run = new Run(ctx, due, start, sink)
  run.round()
  return run.stop
}

/** One run of rounds (runRoundsTo): its state in fields, two closures (what the prober calls, what stops it). */
class Run<H extends State.BackendState> {
  private cancel: (() => void) | undefined = undefined
  private stopped = false
  /** Rounds started; a round that delivered synchronously may already have started the next. */
  private seq = 0

  constructor(
    private readonly ctx: RoundContext<H>,
    private dueAt: number,
    private readonly start: StartRound,
    private readonly sink: RoundsSink<H>
  ) {}

  readonly deliver = (outcome: ProbeOutcome): void => {
    if (this.stopped) return
    this.cancel = undefined
    const ctx = this.ctx
    if (ProbeActivity.listeners !== null) ProbeActivity.ended(ctx.target.backend)
    let decision: Decision<H>
    try {
      decision = decide(ctx, outcome, this.dueAt, Date.now(), Math.random())
    } catch (e) {
      this.stopped = true
      return this.sink.defect(e)
    }
    if (decision._tag !== "Steady" && !(decision._tag === "SelfLate" && this.sink.absorb?.(decision) === true)) {
      this.stopped = true
      return this.sink.wake(decision)
    }
    this.dueAt = decision.due
    this.round()
  }

  round(): void {
    const mine = ++this.seq
    try {
      if (ProbeActivity.listeners !== null) ProbeActivity.started(this.ctx.target.backend, this.dueAt)
      const c = this.start(request(this.ctx, this.dueAt), this.deliver)
      if (mine === this.seq && !this.stopped) this.cancel = c
    } catch (e) {
      this.stopped = true
      this.sink.defect(e)
    }
  }

  readonly stop = (): void => {
    this.stopped = true
    const c = this.cancel
    this.cancel = undefined
    c?.()
    if (c !== undefined && ProbeActivity.listeners !== null) ProbeActivity.ended(this.ctx.target.backend)
  }
}
