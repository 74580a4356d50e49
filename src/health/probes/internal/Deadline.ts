/**
 * A probe's time, which is wall time whatever Clock the fiber runs with: the
 * network does not follow TestClock.
 *
 * Probes are written callback-style (`start(deliver) => cancel`): socket
 * events drive them, one setTimeout enforces the deadline, and nothing else
 * runs per probe. `asEffect` and `scheduled` make one Effect.async of that,
 * so a probe costs its fiber one wake-up, the wait for its due time included.
 * Racing the work against a sleeping fiber (Effect.timeout, Effect.race) did
 * the same for ten times the CPU (two extra fibers and an interruption per
 * probe, ~30 us), which 10,000 probes a second cannot afford.
 *
 * The deadline is kept even when this process is late: a reply read after it
 * is a timeout, never a success ({@link finishedAt}), and a timeout says how
 * late the loop was while the probe ran ({@link timedOutAt}), so that the
 * health checker can tell our lateness from the backend's (SelfLate.ts).
 */
import { Effect } from "effect"
import { type ProbeCode, type ProbeResult, probeResult } from "../../ProbeResult.js"
import { type ProbeOutcome, skipped } from "../../SelfLate.js"
import { observeStartLateness } from "../../SelfLateMetrics.js"
import type { LoopLag } from "./LoopLag.js"
import { type TimerEntry, type TimerHeap, timers } from "./TimerHeap.js"

/** Receives a probe's one outcome. */
export type Deliver = (result: ProbeResult) => void

/** Starts a probe now; returns what cancels it (closes its socket, clears its timer). */
export type Start = (deliver: Deliver) => () => void

const TIMEOUT_OF: { readonly [C in ProbeCode]?: ProbeCode } = {
  L3OK: "L3TOUT",
  L4OK: "L4TOUT",
  L6OK: "L6TOUT",
  L7OK: "L7TOUT"
}

/** How late the loop was since `started`: what the ticker saw, and how overdue it is now. */
const loopLate = (started: number, lag: LoopLag | undefined): number =>
  lag === undefined ? 0 : Math.max(lag.maxSince(started), lag.overdue())

/**
 * The deadline passed (the timer fired): the timeout result, carrying how late
 * the loop was - the timer's own lateness, or the lag the monitor saw since
 * the probe started, whichever is more.
 */
export const timedOutAt = (
  code: ProbeCode,
  detail: string,
  started: number,
  timeoutMs: number,
  lag: LoopLag | undefined
): ProbeResult => {
  const elapsed = performance.now() - started
  return { ...probeResult(code, elapsed, detail), selfLateMs: Math.max(elapsed - timeoutMs, loopLate(started, lag)) }
}

/**
 * The probe decided before its timer fired. If the decision came after the
 * deadline anyway (the reply was read late), a success becomes the timeout of
 * its layer: no success is reported past the timeout.
 */
export const finishedAt = (
  result: ProbeResult,
  started: number,
  timeoutMs: number,
  lag: LoopLag | undefined
): ProbeResult => {
  if (result.durationMs <= timeoutMs) return result
  const code = result.ok ? TIMEOUT_OF[result.code] : undefined
  if (code === undefined) return result
  return {
    ...probeResult(code, result.durationMs, `${result.detail}, but only after ${Math.round(result.durationMs)} ms (timeout ${timeoutMs} ms)`),
    selfLateMs: Math.max(result.durationMs - timeoutMs, loopLate(started, lag))
  }
}

/** A probe started now, as an Effect; interruption cancels it. */
export const asEffect = (start: Start): Effect.Effect<ProbeResult> =>
  Effect.async<ProbeResult>((resume) => {
    const cancel = start((result) => resume(Effect.succeed(result)))
    return Effect.sync(cancel)
  })

/**
 * One backend's scheduled probe, reused round after round (a round at a
 * time): the wait for the due time is an entry of this thread's
 * {@link TimerHeap}, and the round's state lives in these fields, so a round
 * allocates nothing that outlives its probe (internal/TimerHeap.ts says why
 * that matters). When the due time comes more than `skipIfLateMs` late, the
 * probe is not sent: the outcome is `ProbeSkipped`. How late it came goes to
 * `observeLate` (`maglev_probe_start_lateness_seconds`) and stays in
 * {@link startLateMs}.
 */
export class ScheduledStart implements TimerEntry {
  at = 0
  heapIndex = -1
  /** How late the last round's start was (ms). */
  startLateMs = 0
  /** The round's due time (performance.now() ms). */
  private due = 0
  private skipIfLateMs: number | undefined = undefined
  private deliverTo: ((outcome: ProbeOutcome) => void) | undefined = undefined
  private cancelProbe: (() => void) | undefined = undefined
  private rounds = 0

  constructor(
    private readonly start: Start,
    readonly observeLate: (lateMs: number) => void = observeStartLateness,
    private readonly heap: TimerHeap = timers
  ) {}

  /** A round is waiting or running. */
  get busy(): boolean {
    return this.deliverTo !== undefined
  }

  /** Starts a round: the probe after `delayMs` of real time (at once when not positive); `deliver` gets its outcome. */
  schedule(delayMs: number, skipIfLateMs: number | undefined, deliver: (outcome: ProbeOutcome) => void): void {
    this.deliverTo = deliver
    this.skipIfLateMs = skipIfLateMs
    this.due = performance.now() + delayMs
    if (delayMs > 0) this.heap.schedule(this, this.due)
    else this.fire()
  }

  /** The due time came (TimerHeap). */
  fire(): void {
    const late = performance.now() - this.due
    this.startLateMs = late
    this.observeLate(late)
    if (this.skipIfLateMs !== undefined && late > this.skipIfLateMs) return this.finish(skipped(late))
    const round = ++this.rounds
    const cancel = this.start(this.finished)
    // A probe that answered at once (a bad address) has delivered, and its deliver may have started the next round.
    if (round === this.rounds && this.deliverTo !== undefined) this.cancelProbe = cancel
  }

  private readonly finished = (result: ProbeResult): void => this.finish(result)

  private finish(outcome: ProbeOutcome): void {
    const deliver = this.deliverTo
    this.deliverTo = undefined
    this.cancelProbe = undefined
    deliver?.(outcome)
  }

  /** Cancels the round (its wait, or its probe: socket and deadline); nothing is delivered. */
  readonly cancel = (): void => {
    this.heap.cancel(this)
    const cancel = this.cancelProbe
    this.cancelProbe = undefined
    this.deliverTo = undefined
    this.rounds++
    cancel?.()
  }
}

/**
 * A probe started after `delayMs` of real time (its due time), callback-style,
 * as one round of a {@link ScheduledStart} of its own. Returns what cancels it.
 */
export const scheduleStart = (
  delayMs: number,
  skipIfLateMs: number | undefined,
  start: Start,
  deliver: (outcome: ProbeOutcome) => void,
  /** Where the start's lateness goes (a probe thread sends it to the main thread's histogram with the outcome). */
  observeLate: (lateMs: number) => void = observeStartLateness
): (() => void) => {
  const slot = new ScheduledStart(start, observeLate)
  slot.schedule(delayMs, skipIfLateMs, deliver)
  return slot.cancel
}

/** {@link scheduleStart} as one Effect.async: one wake-up of the fiber for the wait and the probe. */
export const scheduled = (delayMs: number, skipIfLateMs: number | undefined, start: Start): Effect.Effect<ProbeOutcome> =>
  Effect.async<ProbeOutcome>((resume) => {
    const cancel = scheduleStart(delayMs, skipIfLateMs, start, (outcome) => resume(Effect.succeed(outcome)))
    return Effect.sync(cancel)
  })

/** Waits `millis` of real time (a probe's due time is wall time, like its timeout). */
export const waitReal = (millis: number): Effect.Effect<void> =>
  millis <= 0
    ? Effect.void
    : Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), millis)
      return Effect.sync(() => clearTimeout(timer))
    })
