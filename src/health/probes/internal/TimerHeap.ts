/**
 * One timer for every probe round's due time on this thread, instead of a
 * setTimeout per round.
 *
 * A round's wait for its due time lives about one interval, and a Node
 * timer brings a Timeout object (with its async id, its list links, and the
 * closures it calls) to every one of them. At 10,000 backends a second those
 * objects outlive a scavenge or two and are promoted: the old generation then
 * grows by megabytes a second until a major collection (docs/health.md,
 * "Scale"). Here each waiting round is a long-lived entry (one per backend,
 * reused round after round) in a binary min-heap keyed by due time, and one
 * Node timer is armed for the earliest; a round costs a heap insertion and
 * removal, no allocation.
 */

/** Something to run at a time (performance.now() ms); its fields belong to the heap while it is scheduled. */
export interface TimerEntry {
  /** When (performance.now() ms); set by {@link TimerHeap.schedule}. */
  at: number
  /** Where it sits in the heap; -1 when not scheduled. */
  heapIndex: number
  /** Runs at (or after) `at`, once per schedule, after the entry left the heap. */
  fire(): void
}

/** How early (ms) an entry may fire: Node's timers have a resolution of one millisecond. */
const EARLY_MS = 1

export class TimerHeap {
  private readonly entries: Array<TimerEntry> = []
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires (performance.now() ms); Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY
  private running = false
  /** While entries fire: the latest due time this turn fires. */
  private horizon = Number.NEGATIVE_INFINITY

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number {
    return this.entries.length
  }

  /** Runs `entry.fire()` at `at` (performance.now() ms); an entry already scheduled moves. */
  schedule(entry: TimerEntry, at: number): void {
    if (entry.heapIndex >= 0) this.remove(entry)
    // Scheduled by an entry firing, for now or earlier: the next turn, so that one turn's work is bounded.
    entry.at = this.running && at <= this.horizon ? this.horizon + 0.001 : at
    entry.heapIndex = this.entries.length
    this.entries.push(entry)
    this.up(entry.heapIndex)
    if (!this.running && at < this.armedAt) this.arm()
  }

  /** Takes a scheduled entry out (it does not fire); nothing when it is not scheduled. */
  cancel(entry: TimerEntry): void {
    if (entry.heapIndex < 0) return
    this.remove(entry)
    // With entries left, the armed timer may fire for nothing, which is harmless (it re-arms for the
    // earliest); with none, it goes, so that it does not hold the process (a shutdown) until it fires.
    if (this.entries.length === 0 && this.timer !== undefined && !this.running) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.armedAt = Number.POSITIVE_INFINITY
    }
  }

  private readonly expire = (): void => {
    this.timer = undefined
    this.armedAt = Number.POSITIVE_INFINITY
    this.running = true
    try {
      // Node's timers count from the loop's cached time, so this can run a fraction of a millisecond
      // before the earliest entry's time by performance.now(): what is due within EARLY_MS is due now.
      this.horizon = this.now() + EARLY_MS
      for (let top = this.entries[0]; top !== undefined && top.at <= this.horizon; top = this.entries[0]) {
        this.remove(top)
        top.fire()
      }
    } finally {
      this.running = false
      if (this.entries.length > 0) this.arm()
    }
  }

  private arm(): void {
    const top = this.entries[0]
    if (top === undefined) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    const delay = Math.max(1, Math.round(top.at - this.now()))
    this.armedAt = top.at
    this.timer = setTimeout(this.expire, delay)
  }

  private remove(entry: TimerEntry): void {
    const i = entry.heapIndex
    const last = this.entries.pop()!
    entry.heapIndex = -1
    if (last === entry) return
    this.entries[i] = last
    last.heapIndex = i
    this.down(i)
    this.up(last.heapIndex)
  }

  private up(i: number): void {
    const e = this.entries
    const x = e[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = e[p]!
      if (parent.at <= x.at) break
      e[i] = parent
      parent.heapIndex = i
      i = p
    }
    e[i] = x
    x.heapIndex = i
  }

  private down(i: number): void {
    const e = this.entries
    const n = e.length
    const x = e[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && e[r]!.at < e[l]!.at ? r : l
      const child = e[c]!
      if (child.at >= x.at) break
      e[i] = child
      child.heapIndex = i
      i = c
    }
    e[i] = x
    x.heapIndex = i
  }
}

/** This thread's heap (a worker thread has its own module instance, hence its own). */
export const timers = new TimerHeap()
