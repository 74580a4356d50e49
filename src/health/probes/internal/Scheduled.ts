/**
 * The callback core of a probe's time (Deadline.ts has the why): the
 * deadline's rules for a result ({@link finishedAt}, {@link timedOutAt}) and
 * a backend's round waiting for its due time ({@link ScheduledStart}).
 *
 * It imports nothing of Effect, nor anything that does, and neither do the
 * probes (Http.ts, Tcp.ts, StreamProbe.ts): a probe thread
 * (ProbeWorker.ts) loads only this path, and Effect's modules cost each
 * thread's heap 20-22 MB (its isolate loads them whole: docs/health.md,
 * "Scale").
 */
import { type ProbeCode, type ProbeResult, probeResult } from "../../ProbeResult.js"
import { type ProbeOutcome, skipped } from "../../SelfLate.js"
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

/**
 * How late the loop was since `started`: the longest hold the ticker saw, or
 * all its holds added up (several short ones delay each of a probe's steps,
 * which a probe with several steps adds up), whichever is more; both count
 * how overdue the ticker is now.
 */
const loopLate = (started: number, lag: LoopLag | undefined): number =>
  lag === undefined ? 0 : Math.max(lag.maxSince(started), lag.heldSince(started))

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
    readonly observeLate: (lateMs: number) => void,
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
