/**
 * The metrics counted as things happen: counters and a histogram in Effect's
 * (process-wide) metric registry, updated where the event is (a probe result,
 * a backend transition, a binary-API request's outcome, an lb operation VPP
 * accepted). `Prometheus.ts` renders them, with the gauges read at scrape
 * time (`Gauges.ts`). docs/metrics.md lists them.
 *
 * The hot paths (a probe result per backend per interval, tens of thousands of
 * binary-API replies a second) never tag per event: a metric tagged on the
 * spot is a new registry key, hashed label by label to find its series. Their
 * metrics are tagged once, with one `taggedWithLabels` (a chain of
 * `Metric.tagged` would merge label arrays on every update), kept, and updated
 * through `unsafeUpdate` with no extra labels: the registry then finds the
 * series by the identity of that one label array, synchronously and without
 * allocating. It also leaves out fiber-level metric labels
 * (`Effect.tagMetrics`), which would make every update a fresh key.
 */
import { Effect, Metric, MetricBoundaries, MetricLabel } from "effect"
import type { HealthStatus } from "../health/HealthState.js"
import type { ProbeCode, ProbeResult } from "../health/ProbeResult.js"
import type { LbOp } from "../lb/Diff.js"

/** The original maglevd's buckets, in seconds. */
export const PROBE_DURATION_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export const probeTotal = Metric.counter("maglev_probe_total", {
  description: "Health-check probes completed, by backend, check type, result (success or failure) and HAProxy-style code.",
  incremental: true
})

export const probeDuration = Metric.histogram(
  "maglev_probe_duration_seconds",
  MetricBoundaries.fromIterable(PROBE_DURATION_BUCKETS),
  "Health-check probe duration in seconds, by backend and check type."
)

export const backendTransitions = Metric.counter("maglev_backend_transitions_total", {
  description: "Backend state transitions, by backend, previous state and new state.",
  incremental: true
})

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

// --- probes --------------------------------------------------------------------

export interface ProbeRecorder {
  /** Counts one probe result and observes its duration. */
  readonly record: (result: ProbeResult) => void
}

/**
 * The probe metrics of one backend's probe loop (one backend, one check type):
 * the histogram tagged once, a counter per code on the code's first result.
 */
export const probeRecorder = (backend: string, type: string): ProbeRecorder => {
  const duration = labelled(probeDuration, [["backend", backend], ["type", type]])
  const byCode = new Map<ProbeCode, Counter>()
  return {
    record: (result) => {
      let counter = byCode.get(result.code)
      if (counter === undefined) {
        counter = labelled(probeTotal, [
          ["backend", backend],
          ["type", type],
          ["result", result.ok ? "success" : "failure"],
          ["code", result.code]
        ])
        byCode.set(result.code, counter)
      }
      counter.unsafeUpdate(1, NO_LABELS)
      duration.unsafeUpdate(result.durationMs / 1000, NO_LABELS)
    }
  }
}

// --- transitions -----------------------------------------------------------------

/** Counts one transition (rare: tagged on the spot). */
export const countTransition = (backend: string, from: HealthStatus, to: HealthStatus): Effect.Effect<void> =>
  Metric.increment(labelled(backendTransitions, [["backend", backend], ["from", from], ["to", to]]))

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
