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
export const TICK_MS = 20
export const SLOT_MS = 100
const SLOTS = 256

export class LoopLag {
  /** Largest lag (ms) seen in each slot; slotIds says which slot number a cell holds. */
  private readonly lags = new Float64Array(SLOTS)
  private readonly slotIds = new Float64Array(SLOTS).fill(-1)
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
