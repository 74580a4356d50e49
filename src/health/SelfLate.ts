/**
 * A probe's verdict must be about the backend, not about this daemon. When
 * the daemon's own event loop was late while a probe ran (blocked by a long
 * task or a GC pause, starved of CPU), a reply may have sat unread in the
 * kernel while the probe's deadline passed: the "timeout" is ours. Such a
 * result is not counted: the round is dropped and the next one scheduled
 * from now. Pure; the live prober measures the lateness (probes/internal/LoopLag.ts).
 *
 * The rule: a timeout (L3TOUT, L4TOUT, L6TOUT, L7TOUT) is counted only when
 * the daemon's own part in it (`selfLateMs`) was at most
 * {@link SELF_LATE_FRACTION} of the probe's timeout. The probe measures that
 * part: how long the loop was held while the probe ran, the holds added up
 * or the longest, or how late its timer fired (internal/Scheduled.ts); all
 * of the timeout when the kernel shows the backend's part done but unread at
 * the deadline (internal/StreamProbe.ts). Conservative on purpose: while we
 * were late, a timeout is not held against the backend even when no answer
 * came (docs/health.md says why). Every other result is the backend's own
 * answer (a 200, a 503, a refused connection, a reset) and is counted however
 * late we were: the backend said it. A success is never reported after the
 * timeout: the live prober turns a reply read after the deadline into a
 * timeout, to which this rule then applies.
 *
 * A round whose start is late by more than half its interval is skipped
 * ({@link skipLateMs}): probing then would only pile a burst of catch-up
 * probes onto a loop that is already behind.
 */
import type { ProbeResult } from "./ProbeResult.js"

export const SELF_LATE_FRACTION = 0.25

const TIMEOUTS: ReadonlySet<string> = new Set(["L3TOUT", "L4TOUT", "L6TOUT", "L7TOUT"])

export const isTimeout = (result: ProbeResult): boolean => TIMEOUTS.has(result.code)

/** Whether the result is the daemon's lateness rather than the backend's verdict. */
export const isSelfLate = (result: ProbeResult, timeoutMs: number): boolean =>
  !result.ok && TIMEOUTS.has(result.code) && (result.selfLateMs ?? 0) > SELF_LATE_FRACTION * timeoutMs

/** How late a round may start before it is skipped: half its interval. */
export const skipLateMs = (intervalMs: number): number => intervalMs / 2

/** A round not probed: its start came too late. */
export interface ProbeSkipped {
  readonly _tag: "ProbeSkipped"
  /** How late the start was, ms. */
  readonly lateMs: number
}

export const skipped = (lateMs: number): ProbeSkipped => ({ _tag: "ProbeSkipped", lateMs })

export type ProbeOutcome = ProbeResult | ProbeSkipped

export const isSkipped = (o: ProbeOutcome): o is ProbeSkipped => (o as { _tag?: unknown })._tag === "ProbeSkipped"
