/**
 * The protocol between the main thread (ProbeThreads.ts, which has the why)
 * and a probe thread (ProbeWorker.ts): plain data, batched per event-loop
 * turn. Like everything a probe thread loads, it imports nothing of Effect
 * (internal/Scheduled.ts says why).
 */
import { PROBE_CODES } from "../../ProbeResult.js"
import type { ProbeOutcome } from "../../SelfLate.js"
import type { ProbeCheck } from "./StartProbe.js"

/** The settings of a check a probe needs, as plain data (Durations do not survive the structured clone). */
export type CheckWire = ProbeCheck

/** Main → worker, one per turn; the worker reads its parts in this order. */
export interface ToWorker {
  /** New checks: [id, settings]. */
  readonly checks?: ReadonlyArray<readonly [number, CheckWire]>
  /** Rounds cancelled, {@link CANCEL_SLOTS} each: slot, round. */
  readonly cancel?: ReadonlyArray<number>
  /** Slots (a backend each, ids reused) taking a target, {@link BIND_SLOTS} each: slot, check id, address, netns. */
  readonly bind?: ReadonlyArray<number | string>
  /**
   * Rounds to start, {@link REQUEST_SLOTS} each: slot, round (-1: cancelled before it was sent), due (epoch ms),
   * skip-if-late ms (-1: never).
   */
  readonly start?: Float64Array
}

/** Worker → main, one per turn. */
export interface FromWorker {
  /**
   * Outcomes, {@link OUTCOME_SLOTS} numbers each: slot, round, code index
   * (-1: skipped), duration ms (skipped: how late), detail (its index in
   * `details`; -1: the slot's detail last sent, or none when skipped),
   * self-late ms (-1: not measured), start lateness ms.
   */
  readonly done?: Float64Array
  /** The details of `done` that differ from their slot's last (a slot's detail is most often the same round after round). */
  readonly details?: ReadonlyArray<string>
  /** The worker's largest loop delay over the last 10 s, ms (sent once a second). */
  readonly lagMs?: number
}

export const CANCEL_SLOTS = 2
export const BIND_SLOTS = 4
export const REQUEST_SLOTS = 4
export const OUTCOME_SLOTS = 7

/**
 * Numbers batched for one message, in a buffer kept from turn to turn: the
 * message carries them as one Float64Array (its buffer transferred), not as
 * an array of numbers, whose every element the other side's structured clone
 * rebuilt, doubles as heap numbers (at 10,000 probes a second, most of what
 * the main thread allocated).
 */
export class Batch {
  private buf: Float64Array<ArrayBuffer> = new Float64Array(256)
  length = 0

  push(value: number): void {
    if (this.length === this.buf.length) this.grow()
    this.buf[this.length++] = value
  }

  /** Changes a number already pushed (not taken yet). */
  set(at: number, value: number): void {
    this.buf[at] = value
  }

  /** The numbers so far, in an array of their own (for postMessage's transfer list); the batch is empty afterwards. */
  take(): Float64Array<ArrayBuffer> {
    const out = this.buf.slice(0, this.length)
    this.length = 0
    return out
  }

  clear(): void {
    this.length = 0
  }

  private grow(): void {
    const bigger = new Float64Array(this.buf.length * 2)
    bigger.set(this.buf)
    this.buf = bigger
  }
}

const pushOutcome = (out: Batch, slot: number, round: number, code: number, ms: number, detailAt: number, selfLateMs: number, startLateMs: number) => {
  out.push(slot)
  out.push(round)
  out.push(code)
  out.push(ms)
  out.push(detailAt)
  out.push(selfLateMs)
  out.push(startLateMs)
}

/** Puts an outcome in `out`; `detailAt` is its detail's index in the message's details (-1: the slot's last). */
export const encodeOutcome = (out: Batch, slot: number, round: number, outcome: ProbeOutcome, detailAt: number, startLateMs: number): void => {
  if ("_tag" in outcome) {
    pushOutcome(out, slot, round, -1, outcome.lateMs, -1, -1, startLateMs)
    return
  }
  pushOutcome(out, slot, round, PROBE_CODES.indexOf(outcome.code), outcome.durationMs, detailAt, outcome.selfLateMs ?? -1, startLateMs)
}
