/**
 * Error classes and the bounded error log. A probe is an error when it timed
 * out, got an HTTP status outside 200-399, failed on the network (refused,
 * reset, unreachable, TLS, other), or answered fine but slowly: a latency
 * spike, above {@link SPIKE_FACTOR} times the rolling median and above
 * {@link SPIKE_FLOOR_MS}, once the window holds {@link SPIKE_MIN_SAMPLES}.
 * A spike is not a failure: the client got its answer.
 */
import type { Outcome } from "./Outcome.js"
import { formatMs } from "./internal/Units.js"

export type ErrorClass = "timeout" | "http" | "network" | "spike"
export const ERROR_CLASSES: ReadonlyArray<ErrorClass> = ["timeout", "http", "network", "spike"]

export const SPIKE_FACTOR = 3
export const SPIKE_FLOOR_MS = 50
export const SPIKE_MIN_SAMPLES = 10

/** How many errors the log keeps. */
export const ERROR_LOG_SIZE = 200

export interface ErrorEntry {
  readonly at: number
  readonly vip: string
  readonly class: ErrorClass
  readonly detail: string
}

/** The class of an outcome given the rolling median before it (and how many samples that median is of), or undefined when it is no error. */
export const classify = (
  outcome: Outcome,
  median: { readonly p50: number; readonly samples: number } | undefined
): { readonly class: ErrorClass; readonly detail: string } | undefined => {
  switch (outcome._tag) {
    case "Timeout":
      return { class: "timeout", detail: outcome.stage === "connect" ? "no connection within the timeout" : "no response within the timeout" }
    case "HttpStatus":
      return { class: "http", detail: `HTTP ${outcome.status}${outcome.servedBy === undefined ? "" : ` from ${outcome.servedBy}`}` }
    case "Network":
      return { class: "network", detail: `${outcome.reason}: ${outcome.detail}` }
    case "Ok":
      if (
        median !== undefined && median.samples >= SPIKE_MIN_SAMPLES && outcome.latencyMs > SPIKE_FLOOR_MS &&
        outcome.latencyMs > SPIKE_FACTOR * median.p50
      ) {
        const by = outcome.servedBy === undefined ? "" : ` from ${outcome.servedBy}`
        return { class: "spike", detail: `${formatMs(outcome.latencyMs)} > ${SPIKE_FACTOR}x p50 ${formatMs(median.p50)}${by}` }
      }
      return undefined
  }
}

/** An error as the log keeps it: the same error again is counted in its entry, not added. */
export interface LoggedError extends ErrorEntry {
  /** How many times it happened. */
  readonly count: number
  /** When it first happened (`at` is the last time). */
  readonly first: number
}

const sameError = (a: ErrorEntry, b: ErrorEntry) => a.vip === b.vip && a.class === b.class && a.detail === b.detail

/**
 * The last {@link ERROR_LOG_SIZE} distinct errors, most recent first (an
 * error seen again moves to the front with its count), and the lifetime
 * count of each class.
 */
export class ErrorLog {
  /** Oldest first. */
  private entries: Array<LoggedError> = []
  readonly counts: Record<ErrorClass, number> = { timeout: 0, http: 0, network: 0, spike: 0 }

  constructor(readonly size = ERROR_LOG_SIZE) {}

  add(entry: ErrorEntry): void {
    this.counts[entry.class]++
    const i = this.entries.findIndex((e) => sameError(e, entry))
    const before = i < 0 ? undefined : this.entries[i]!
    if (i >= 0) this.entries.splice(i, 1)
    this.entries.push({ ...entry, count: (before?.count ?? 0) + 1, first: before?.first ?? entry.at })
    if (this.entries.length > this.size) this.entries.shift()
  }

  /** The kept errors, the most recent first. */
  recent(): ReadonlyArray<LoggedError> {
    return [...this.entries].reverse()
  }
}
