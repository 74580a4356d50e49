/**
 * Restart-neutral warm-up: what the LB sync may touch in the first moments
 * after the daemon starts, as pure functions of time and health.
 *
 * A restarted daemon knows nothing about its backends for a moment: every one
 * is `unknown`, whose weight is 0. Syncing then would drain every VIP that
 * VPP is serving perfectly well. So:
 *
 * 1. hands-off: for `startup-min-delay` VPP is not touched at all;
 * 2. releasing: then each VIP is synced as soon as every backend of it has
 *    left `unknown` (its desired weights are real by then);
 * 3. done: at `startup-max-delay` (or once every VIP is released) a full sync
 *    covers the rest, and from then on syncing is normal.
 *
 * A delay of zero disables its phase. The warm-up clock is never reset (not by
 * a reload, nor by a VPP reconnect).
 */
import type { DesiredVip } from "./Desired.js"

export type Phase = "hands-off" | "releasing" | "done"

export interface WarmUp {
  /** Epoch ms the daemon started. */
  readonly startedAt: number
  readonly minDelayMs: number
  /** 0 = no deadline: released VIP by VIP until all are. */
  readonly maxDelayMs: number
  /** Set once every VIP was released or the deadline passed; never unset. */
  readonly done: boolean
}

export const start = (startedAt: number, minDelayMs: number, maxDelayMs: number): WarmUp => ({
  startedAt,
  minDelayMs,
  maxDelayMs,
  done: false
})

/** Which phase `now` is in. */
export const phase = (w: WarmUp, now: number): Phase => {
  if (w.done) return "done"
  if (w.minDelayMs > 0 && now < w.startedAt + w.minDelayMs) return "hands-off"
  if (w.maxDelayMs > 0 && now >= w.startedAt + w.maxDelayMs) return "done"
  return "releasing"
}

/** A VIP may be synced while releasing once none of its backends is `unknown`. */
export const releasable = (vip: DesiredVip): boolean => vip.ases.every((as) => as.status !== "unknown")

/** When the next phase begins (epoch ms), if a timer must wake the sync loop for it. */
export const nextBoundary = (w: WarmUp, now: number): number | undefined => {
  if (w.done) return undefined
  const min = w.startedAt + w.minDelayMs
  if (w.minDelayMs > 0 && now < min) return min
  const max = w.startedAt + w.maxDelayMs
  if (w.maxDelayMs > 0 && now < max) return max
  return undefined
}

export const finish = (w: WarmUp): WarmUp => (w.done ? w : { ...w, done: true })
