/**
 * How late this process's own event loop is: a ticker every {@link TICK_MS}
 * measures how much later than asked it runs. When the loop is blocked (a
 * long synchronous task, a GC pause) or starved (the kernel does not give us
 * the CPU, or the loop has more callbacks than it can run), every timer and
 * every socket read waits as long, and a probe whose reply sat unread in the
 * kernel would look like a backend timeout. Probes ask this monitor how late
 * the loop was while they ran (`maxSince`), and results that the daemon's own
 * lateness could have caused are not counted (see SelfLate.ts).
 *
 * The largest lag is kept per slot of {@link SLOT_MS} for the last
 * {@link SLOTS} slots, so a query over a probe's window reads at most a few
 * numbers, and the ticker itself costs one wake-up per tick. A tick that finds
 * the loop `lag` ms late means the loop was held during the `lag` ms before it:
 * the lag is written into every slot that span covers, so a probe that started
 * during a long block sees it.
 */
import { trace, tracing } from "../../../internal/Trace.js"

/** Ticks later than this are trace points (`loop-lag`, ms) when anyone records them (bench/reconcileTrace.ts). */
const TRACE_LAG_MS = 2

export const TICK_MS = 20
export const SLOT_MS = 100
const SLOTS = 256
/** Ticks kept for {@link LoopLag.heldSince}: 4,096 x 20 ms, 80 s and more. */
const TICKS = 4096

export class LoopLag {
  /** Largest lag (ms) seen in each slot; slotIds says which slot number a cell holds. */
  private readonly lags = new Float64Array(SLOTS)
  private readonly slotIds = new Float64Array(SLOTS).fill(-1)
  /** Every tick with a lag: when it ran and how late (a ring; `ticks` counts them all). */
  private readonly tickAt = new Float64Array(TICKS)
  private readonly tickLag = new Float64Array(TICKS)
  private ticks = 0
  private timer: ReturnType<typeof setInterval> | undefined
  private last = 0

  constructor(private readonly now: () => number = () => performance.now()) {}

  start(): void {
    if (this.timer !== undefined) return
    this.last = this.now()
    this.timer = setInterval(this.tick, TICK_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private readonly tick = (): void => {
    const t = this.now()
    this.observe(t, t - this.last - TICK_MS)
    this.last = t
  }

  /** Records that at time `t` the loop ran `lag` ms late (exposed for tests). */
  observe(t: number, lag: number): void {
    if (!(lag > 0)) return
    if (lag > TRACE_LAG_MS && tracing()) trace("loop-lag", Math.round(lag * 1000) / 1000)
    const k = this.ticks++ % TICKS
    this.tickAt[k] = t
    this.tickLag[k] = lag
    const first = Math.floor((t - lag) / SLOT_MS)
    const last = Math.floor(t / SLOT_MS)
    for (let s = Math.max(first, last - SLOTS + 1); s <= last; s++) {
      const i = s % SLOTS
      if (this.slotIds[i] !== s) {
        this.slotIds[i] = s
        this.lags[i] = lag
      } else if (lag > this.lags[i]!) {
        this.lags[i] = lag
      }
    }
  }

  /**
   * How far past its due time the ticker is right now (ms; 0 when not
   * started): the loop has been held that long in the iteration that is
   * running. A socket callback that runs late in a long iteration, before the
   * ticker's turn, learns the lateness from this.
   */
  overdue(): number {
    if (this.timer === undefined) return 0
    const o = this.now() - this.last - TICK_MS
    return o > 0 ? o : 0
  }

  /**
   * How long (ms) the loop was held between `since` and now, in all: the
   * sum of the ticks' lags (the part of each that falls after `since`), and
   * how overdue the ticker is now. Holds each shorter than a quarter of a
   * probe's timeout can add up to more than the timeout: the largest alone
   * ({@link maxSince}) does not show them.
   */
  heldSince(since: number): number {
    let held = this.overdue()
    const oldest = Math.max(0, this.ticks - TICKS)
    for (let n = this.ticks - 1; n >= oldest; n--) {
      const k = n % TICKS
      const at = this.tickAt[k]!
      if (at <= since) break
      held += Math.min(this.tickLag[k]!, at - since)
    }
    return held
  }

  /** The largest lag (ms) the loop had between `since` (same time base as `now`) and now. */
  maxSince(since: number): number {
    const last = Math.floor(this.now() / SLOT_MS)
    const first = Math.max(Math.floor(since / SLOT_MS), last - SLOTS + 1)
    let max = 0
    for (let s = first; s <= last; s++) {
      const i = s % SLOTS
      if (this.slotIds[i] === s && this.lags[i]! > max) max = this.lags[i]!
    }
    return max
  }
}
