/**
 * The model of maglevt: for every VIP its counts, rolling latencies, last
 * status and header tally, and one bounded error log for all. Pure: it does
 * no I/O and reads no clock (the time is an argument), so it is tested
 * directly; one fiber owns it (main.ts) and feeds it the probes' outcomes.
 */
import { classify, type ErrorClass, type ErrorEntry, ErrorLog, SPIKE_FLOOR_MS } from "./Errors.js"
import { LatencyWindow } from "./Latency.js"
import { isFailure, type Outcome } from "./Outcome.js"
import { NO_HEADER, Tally, type TallyState } from "./Tally.js"
import type { Target } from "./Targets.js"

export type MonitorEvent =
  | { readonly _tag: "Error"; readonly entry: ErrorEntry }
  | { readonly _tag: "Backend"; readonly at: number; readonly vip: string; readonly value: string; readonly state: TallyState }
  /** An answer after `failures` failed probes in a row. */
  | { readonly _tag: "Recovered"; readonly at: number; readonly vip: string; readonly failures: number }

export class VipStats {
  count = 0
  failures = 0
  /** Failed probes in a row, up to the last one. */
  streak = 0
  last: Outcome | undefined = undefined
  lastAt: number | undefined = undefined
  readonly latency = new LatencyWindow()
  readonly tally = new Tally()
  readonly errors: Record<ErrorClass, number> = { timeout: 0, http: 0, network: 0, spike: 0 }

  constructor(readonly target: Target) {}
}

const tallyEvents = (vip: VipStats, now: number): Array<MonitorEvent> =>
  vip.tally.changes(now).map((c) => ({ _tag: "Backend", at: now, vip: vip.target.name, value: c.value, state: c.state }))

export class Monitor {
  readonly vips: ReadonlyArray<VipStats>
  readonly errors = new ErrorLog()

  constructor(targets: ReadonlyArray<Target>) {
    this.vips = targets.map((t) => new VipStats(t))
  }

  /** One probe of VIP `index` ended at `now`: what it changed, as events. */
  record(index: number, outcome: Outcome, now: number): ReadonlyArray<MonitorEvent> {
    const vip = this.vips[index]!
    const events: Array<MonitorEvent> = []
    // Only an answer slower than the floor can be a spike: the median (a sort) is not needed for the others.
    const median = outcome._tag === "Ok" && outcome.latencyMs > SPIKE_FLOOR_MS ? vip.latency.percentiles(now) : undefined
    const error = classify(outcome, median)
    vip.count++
    if (isFailure(outcome)) {
      vip.failures++
      vip.streak++
    } else if (vip.streak > 0) {
      events.push({ _tag: "Recovered", at: now, vip: vip.target.name, failures: vip.streak })
      vip.streak = 0
    }
    vip.last = outcome
    vip.lastAt = now
    if (outcome._tag === "Ok" || outcome._tag === "HttpStatus") {
      vip.latency.add(now, outcome.latencyMs)
      if (vip.target.kind !== "tcp") {
        vip.tally.record(outcome.servedBy ?? NO_HEADER, now)
        events.push(...tallyEvents(vip, now))
      }
    }
    if (error !== undefined) {
      const entry: ErrorEntry = { at: now, vip: vip.target.name, class: error.class, detail: error.detail }
      vip.errors[error.class]++
      this.errors.add(entry)
      events.push({ _tag: "Error", entry })
    }
    return events
  }

  /** Time passed: backends that stopped serving. */
  tick(now: number): ReadonlyArray<MonitorEvent> {
    return this.vips.flatMap((vip) => tallyEvents(vip, now))
  }
}
