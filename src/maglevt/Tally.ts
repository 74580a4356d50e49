/**
 * The tally of the response header that names the backend (`X-Served-By`):
 * how many answers each value gave, and whether it serves now (an answer in
 * the last {@link SERVING_MS}) or is drained (seen before, not since). Pure:
 * the time is an argument.
 */

export const SERVING_MS = 5_000

/** The name a response without the header is counted under. */
export const NO_HEADER = "(none)"

export type TallyState = "serving" | "drained"

export interface TallyEntry {
  readonly value: string
  readonly count: number
  readonly lastSeen: number
  readonly state: TallyState
}

/** A backend that started or stopped serving. */
export interface TallyChange {
  readonly value: string
  readonly state: TallyState
}

export class Tally {
  private readonly seen = new Map<string, { count: number; lastSeen: number }>()
  /** The state each value was last reported in (by `changes`). */
  private readonly reported = new Map<string, TallyState>()

  constructor(readonly servingMs = SERVING_MS) {}

  record(value: string, now: number): void {
    const entry = this.seen.get(value)
    if (entry === undefined) this.seen.set(value, { count: 1, lastSeen: now })
    else {
      entry.count++
      entry.lastSeen = Math.max(entry.lastSeen, now)
    }
  }

  private stateAt(lastSeen: number, now: number): TallyState {
    return now - lastSeen <= this.servingMs ? "serving" : "drained"
  }

  /** Every value, serving first, then by count (most first), then by name. */
  entries(now: number): ReadonlyArray<TallyEntry> {
    return [...this.seen].map(([value, e]) => ({ value, count: e.count, lastSeen: e.lastSeen, state: this.stateAt(e.lastSeen, now) }))
      .sort((a, b) => (a.state === b.state ? 0 : a.state === "serving" ? -1 : 1) || b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
  }

  /** What changed state since the last call, in name order: each value first reported serving. */
  changes(now: number): ReadonlyArray<TallyChange> {
    const out: Array<TallyChange> = []
    for (const [value, e] of [...this.seen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const state = this.stateAt(e.lastSeen, now)
      if (this.reported.get(value) !== state) {
        this.reported.set(value, state)
        out.push({ value, state })
      }
    }
    return out
  }
}
