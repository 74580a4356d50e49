/**
 * The metrics counted as things happen, updated where the event is (a probe
 * result, a backend transition, a binary-API request's outcome, an lb
 * operation VPP accepted). `Server.ts` renders them, with the gauges read at
 * scrape time (`Gauges.ts`). docs/metrics.md lists them.
 *
 * The per-backend ones (probe counters and durations, transitions) live in a
 * store of their own (Store.ts), not in Effect's metric registry: at 10,000
 * backends they are ~200,000 series, and `Metric.snapshot` made a key, a
 * state and a pair per series on every scrape, to be turned into label
 * arrays and strings. There a series is a run of float64 slots in shared
 * memory, which the scrape worker renders from (`storeSources` here).
 *
 * The other counters (binary API, lb sync, Effect's own `effect_fiber_*`,
 * other modules' metrics) stay in Effect's registry. Their hot path (tens of
 * thousands of binary-API replies a second) never tags per event: a metric
 * tagged on the spot is a new registry key, hashed label by label to find its
 * series. They are tagged once, with one `taggedWithLabels`, kept, and
 * updated through `unsafeUpdate` with no extra labels: the registry then
 * finds the series by the identity of that one label array, synchronously
 * and without allocating.
 */
import { Effect, Metric, MetricLabel } from "effect"
import type { HealthStatus } from "../health/HealthState.js"
import type { LbOp } from "../lb/Diff.js"
import type { Source } from "./Exposition.js"
import * as Store from "./Store.js"

export { PROBE_DURATION_BUCKETS, PROBE_TOTAL, PROBE_DURATION, BACKEND_TRANSITIONS } from "./Store.js"

export const vppApiRequests = Metric.counter("maglev_vpp_api_requests_total", {
  description: "VPP binary-API requests by message and outcome: ok, error (VPP refused it or answered out of protocol), timeout, disconnected.",
  incremental: true
})

export const lbSyncOperations = Metric.counter("maglev_lb_sync_operations_total", {
  description: "lb plugin changes VPP accepted from the sync loop, by operation: vip_add, vip_del, as_add, as_del, as_weight.",
  incremental: true
})

const NO_LABELS: ReadonlyArray<MetricLabel.MetricLabel> = []

type Counter = Metric.Metric.Counter<number>

const labelled = <M extends Metric.Metric<any, any, any>>(metric: M, labels: ReadonlyArray<readonly [string, string]>): M =>
  Metric.taggedWithLabels(metric, labels.map(([k, v]) => MetricLabel.make(k, v))) as M

// --- the per-backend store (Store.ts) -------------------------------------------------

export { probeCounts, type ProbeCounts, probeRecorder, type ProbeRecorder, transitionCount } from "./Store.js"

/** The probe families over the series that exist now (Store.ts), and the transition family. */
export const storeSources = (): ReadonlyArray<Source> => Store.sources()

/** Counts one transition, now (for callers counting many in one step). */
export const unsafeCountTransition = (backend: string, from: HealthStatus, to: HealthStatus): void => Store.countTransition(backend, from, to)

/** Counts one transition. */
export const countTransition = (backend: string, from: HealthStatus, to: HealthStatus): Effect.Effect<void> =>
  Effect.sync(() => Store.countTransition(backend, from, to))

// --- binary API ------------------------------------------------------------------

export type VppRequestResult = "ok" | "error" | "timeout" | "disconnected"

type RequestCounters = { readonly [R in VppRequestResult]: Counter }

/** Per message name, made on the name's first request; the set of names is the bound messages'. */
const requestCounters = new Map<string, RequestCounters>()

const requestCountersOf = (message: string): RequestCounters => {
  const tag = (result: VppRequestResult) => labelled(vppApiRequests, [["message", message], ["result", result]])
  return { ok: tag("ok"), error: tag("error"), timeout: tag("timeout"), disconnected: tag("disconnected") }
}

/** Counts the outcome of one binary-API request; synchronous, for the client's reader and sweeper. */
export const countVppRequest = (message: string, result: VppRequestResult): void => {
  let counters = requestCounters.get(message)
  if (counters === undefined) {
    counters = requestCountersOf(message)
    requestCounters.set(message, counters)
  }
  counters[result].unsafeUpdate(1, NO_LABELS)
}

// --- lb sync -----------------------------------------------------------------------

type LbOpTag = LbOp["_tag"]

const opLabel: { readonly [T in LbOpTag]: string } = {
  VipAdd: "vip_add",
  VipDel: "vip_del",
  AsAdd: "as_add",
  AsDel: "as_del",
  AsWeight: "as_weight"
}

const opCounters = Object.fromEntries(
  Object.entries(opLabel).map(([tag, op]) => [tag, labelled(lbSyncOperations, [["op", op]])])
) as { readonly [T in LbOpTag]: Counter }

/** Counts one lb operation VPP accepted. */
export const countLbOp = (op: LbOp): Effect.Effect<void> => Metric.increment(opCounters[op._tag])
