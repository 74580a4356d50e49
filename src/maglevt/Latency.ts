/**
 * A rolling window of latencies: the answers of the last {@link WINDOW_MS}
 * (at most {@link WINDOW_SAMPLES} of them), with their percentiles. Pure: no
 * clock, the time is an argument.
 */

export const WINDOW_MS = 60_000
export const WINDOW_SAMPLES = 2_000

export interface Percentiles {
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly samples: number
}

/** Nearest-rank percentile of ascending `sorted` (not empty): the smallest value with at least p of them at or below it. */
export const nearestRank = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

export class LatencyWindow {
  private at: Array<number> = []
  private ms: Array<number> = []
  private head = 0
  private sortedCache: Array<number> | undefined

  constructor(readonly windowMs = WINDOW_MS, readonly capacity = WINDOW_SAMPLES) {}

  add(now: number, latencyMs: number): void {
    this.at.push(now)
    this.ms.push(latencyMs)
    this.sortedCache = undefined
    this.expire(now)
  }

  /** Drops what is older than the window, or beyond the capacity. */
  expire(now: number): void {
    const before = this.head
    while (this.head < this.at.length && (this.at[this.head]! < now - this.windowMs || this.at.length - this.head > this.capacity)) this.head++
    if (this.head !== before) this.sortedCache = undefined
    // Compact now and then, so the arrays do not grow for ever.
    if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head)
      this.ms = this.ms.slice(this.head)
      this.head = 0
    }
  }

  get size(): number {
    return this.at.length - this.head
  }

  private sorted(): Array<number> {
    this.sortedCache ??= this.ms.slice(this.head).sort((a, b) => a - b)
    return this.sortedCache
  }

  /** The median, or undefined while the window is empty. */
  p50(now: number): number | undefined {
    this.expire(now)
    return this.size === 0 ? undefined : nearestRank(this.sorted(), 0.5)
  }

  percentiles(now: number): Percentiles | undefined {
    this.expire(now)
    if (this.size === 0) return undefined
    const s = this.sorted()
    return { p50: nearestRank(s, 0.5), p95: nearestRank(s, 0.95), p99: nearestRank(s, 0.99), max: s[s.length - 1]!, samples: s.length }
  }
}
