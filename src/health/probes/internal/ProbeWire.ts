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
   * Rounds to start, {@link REQUEST_SLOTS} small integers each: slot, round
   * (-1: cancelled before it was sent), due (us after `base`), skip-if-late
   * (us; -1: never).
   */
  readonly start?: ReadonlyArray<number>
  /** The origin of `start`'s due times, epoch ms. */
  readonly base?: number
}

/** Worker → main, one per turn. */
export interface FromWorker {
  /**
   * Outcomes, {@link OUTCOME_SLOTS} small integers each: slot, round, code
   * index (-1: skipped), duration us (skipped: how late), detail (its index
   * in `details`; -1: the slot's detail last sent, or none when skipped),
   * self-late us (-1: not measured), start lateness us.
   */
  readonly done?: ReadonlyArray<number>
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
 * Milliseconds as whole microseconds. Every number of a round's request and
 * outcome crosses as a small integer (times relative to the message's
 * `base`), which the structured clone copies as it is: a double (an epoch
 * time, a duration) became a heap number on the other side, one per number
 * per round, most of what the main thread allocated at 10,000 backends. (A
 * Float64Array per message instead made an ArrayBuffer per message, and
 * sweeping thousands of them a second held scavenges for up to 27 ms.)
 */
export const toMicros = (ms: number): number => Math.round(ms * 1000)
export const fromMicros = (us: number): number => us / 1000

/** Puts an outcome in `out`; `detailAt` is its detail's index in the message's details (-1: the slot's last). */
export const encodeOutcome = (out: Array<number>, slot: number, round: number, outcome: ProbeOutcome, detailAt: number, startLateMs: number): void => {
  if ("_tag" in outcome) {
    out.push(slot, round, -1, toMicros(outcome.lateMs), -1, -1, toMicros(startLateMs))
    return
  }
  const selfLate = outcome.selfLateMs
  out.push(
    slot,
    round,
    PROBE_CODES.indexOf(outcome.code),
    toMicros(outcome.durationMs),
    detailAt,
    selfLate === undefined ? -1 : toMicros(selfLate),
    toMicros(startLateMs)
  )
}
