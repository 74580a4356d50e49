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
  readonly start?: ReadonlyArray<number>
}

/** Worker → main, one per turn. */
export interface FromWorker {
  /**
   * Outcomes, {@link OUTCOME_SLOTS} slots each: slot, round, code index
   * (-1: skipped), duration ms (skipped: how late), detail, self-late ms
   * (-1: not measured), start lateness ms.
   */
  readonly done?: ReadonlyArray<number | string>
  /** The worker's largest loop delay over the last 10 s, ms (sent once a second). */
  readonly lagMs?: number
}

export const CANCEL_SLOTS = 2
export const BIND_SLOTS = 4
export const REQUEST_SLOTS = 4
export const OUTCOME_SLOTS = 7

export const encodeOutcome = (out: Array<number | string>, slot: number, round: number, outcome: ProbeOutcome, startLateMs: number): void => {
  if ("_tag" in outcome) {
    out.push(slot, round, -1, outcome.lateMs, "", -1, startLateMs)
    return
  }
  out.push(slot, round, PROBE_CODES.indexOf(outcome.code), outcome.durationMs, outcome.detail, outcome.selfLateMs ?? -1, startLateMs)
}
