/**
 * The metrics counted as things happen, updated where the event is (a probe
 * result, a backend transition, a binary-API request's outcome, an lb
 * operation VPP accepted). `Server.ts` renders them, with the gauges read at
 * scrape time (`Gauges.ts`). docs/metrics.md lists them.
 *
 * The per-backend ones (probe counters and durations, transitions) live in a
 * store of their own, not in Effect's metric registry: at 10,000 backends
 * they are ~200,000 series, and `Metric.snapshot` made a key, a state and a
 * pair per series on every scrape, to be turned into label arrays and
 * strings. Here a series is one `Float64Array` (a probe recorder's counts by
 * code, its bucket counts, sum and count; a backend's transition counts by
 * from and to), its backend's name encoded once (shared with every family),
 * and the exposition is written from it directly (`probeSources`,
 * `transitionSources`). Like the registry,
 * the store never forgets a series: a removed backend keeps its counters.
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
import { type HealthStatus, STATUSES } from "../health/HealthState.js"
import { PROBE_CODES, type ProbeCode, type ProbeResult } from "../health/ProbeResult.js"
import type { LbOp } from "../lb/Diff.js"
import { bytes, escapeLabelValue, formatValue, labelValueBytes, type Source, type Writer } from "./Prometheus.js"

/** The original maglevd's buckets, in seconds. */
export const PROBE_DURATION_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export const PROBE_TOTAL = "maglev_probe_total"
export const PROBE_DURATION = "maglev_probe_duration_seconds"
export const BACKEND_TRANSITIONS = "maglev_backend_transitions_total"

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
  /** Counts one probe result and observes its duration; synchronous, allocates nothing. */
  record(result: ProbeResult): void
}

const BUCKETS = PROBE_DURATION_BUCKETS.length
const CODES = PROBE_CODES.length
/** Layout of a probe series' array: count, sum, the buckets (not cumulative; the last is above 2.5 s), then a count per code and result. */
const COUNT = 0
const SUM = 1
const BUCKET0 = 2
const CODE0 = BUCKET0 + BUCKETS + 1
const SLOTS = CODE0 + CODES * 2
const BOUNDS = Float64Array.from(PROBE_DURATION_BUCKETS)

const codeIndex = Object.fromEntries(PROBE_CODES.map((c, i) => [c, i])) as { readonly [C in ProbeCode]: number }

/**
 * A probe line is written from three pieces: the family's start up to the
 * backend's name (`maglev_probe_total{backend="`), the name (escaped and
 * encoded once per backend, shared with every family: `labelValueBytes`),
 * and the rest, which depends only on the check type and the slot
 * (`",type="http",result="success",code="L7OK"} `), made once per type. No
 * piece per series: 10,000 backends' first scrape made 40,000 line starts
 * (each a Buffer kept for good), and collected the garbage of making them.
 */
const TOTAL_OPEN = bytes(`${PROBE_TOTAL}{backend="`)
const BUCKET_OPEN = bytes(`${PROBE_DURATION}_bucket{backend="`)
const SUM_OPEN = bytes(`${PROBE_DURATION}_sum{backend="`)
const COUNT_OPEN = bytes(`${PROBE_DURATION}_count{backend="`)

/** The pieces after a backend's name, for one check type. */
interface TypePieces {
  /** `",type="...",result="...",code="..."} ` by code index * 2 + (1 if ok). */
  readonly codes: ReadonlyArray<Uint8Array>
  /** `",type="...",le="..."} ` by bucket, `+Inf` last. */
  readonly le: ReadonlyArray<Uint8Array>
  /** `",type="..."} ` */
  readonly close: Uint8Array
}

const typePieces = new Map<string, TypePieces>()

const piecesOf = (type: string): TypePieces => {
  let p = typePieces.get(type)
  if (p === undefined) {
    const t = `",type="${escapeLabelValue(type)}"`
    p = {
      codes: PROBE_CODES.flatMap((code) => [bytes(`${t},result="failure",code="${code}"} `), bytes(`${t},result="success",code="${code}"} `)]),
      le: [...PROBE_DURATION_BUCKETS.map((le) => bytes(`${t},le="${formatValue(le)}"} `)), bytes(`${t},le="+Inf"} `)],
      close: bytes(`${t}} `)
    }
    typePieces.set(type, p)
  }
  return p
}

/** One backend and check type's counts; it is also the recorder its probe loops are given (no closure per backend). */
class ProbeSeries implements ProbeRecorder {
  readonly stats = new Float64Array(SLOTS)
  /** The backend's name as written (`labelValueBytes`, shared), and the pieces of its type: found at the first scrape. */
  name: Uint8Array | undefined = undefined
  pieces: TypePieces | undefined = undefined

  constructor(readonly backend: string, readonly type: string) {}

  record(result: ProbeResult): void {
    const stats = this.stats
    const seconds = result.durationMs / 1000
    stats[COUNT]! += 1
    stats[SUM]! += seconds
    let b = 0
    while (b < BUCKETS && seconds > BOUNDS[b]!) b++
    stats[BUCKET0 + b]! += 1
    stats[CODE0 + codeIndex[result.code] * 2 + (result.ok ? 1 : 0)]! += 1
  }
}

const probeSeries: Array<ProbeSeries> = []
const probeSeriesByKey = new Map<string, ProbeSeries>()

const probeSeriesOf = (backend: string, type: string): ProbeSeries => {
  const key = `${backend}\u0000${type}`
  let s = probeSeriesByKey.get(key)
  if (s === undefined) {
    s = new ProbeSeries(backend, type)
    probeSeriesByKey.set(key, s)
    probeSeries.push(s)
  }
  return s
}

/**
 * The probe metrics of one backend's probe loop (one backend, one check
 * type); a loop made again for the same backend and type (a restart, a
 * reload) goes on counting in the same series.
 */
export const probeRecorder = (backend: string, type: string): ProbeRecorder => probeSeriesOf(backend, type)

export interface ProbeCounts {
  /** Results by code and result (success or failure); codes never seen are left out. */
  readonly byCode: ReadonlyArray<{ readonly code: ProbeCode; readonly result: "success" | "failure"; readonly count: number }>
  /** Cumulative, as exported: upper bound, observations at or below it. */
  readonly buckets: ReadonlyArray<readonly [le: number, count: number]>
  readonly count: number
  readonly sum: number
}

/** What the store holds for a backend and check type (for tests and diagnostics); undefined before its first recorder. */
export const probeCounts = (backend: string, type: string): ProbeCounts | undefined => {
  const s = probeSeriesByKey.get(`${backend}\u0000${type}`)
  if (s === undefined) return undefined
  const byCode: Array<ProbeCounts["byCode"][number]> = []
  PROBE_CODES.forEach((code, c) => {
    for (const ok of [1, 0]) {
      const count = s.stats[CODE0 + c * 2 + ok]!
      if (count > 0) byCode.push({ code, result: ok === 1 ? "success" : "failure", count })
    }
  })
  let cumulative = 0
  const buckets = PROBE_DURATION_BUCKETS.map((le, b) => [le, (cumulative += s.stats[BUCKET0 + b]!)] as const)
  return { byCode, buckets, count: s.stats[COUNT]!, sum: s.stats[SUM]! }
}

const writeProbeTotal = (w: Writer, s: ProbeSeries): void => {
  const stats = s.stats
  for (let slot = 0; slot < CODES * 2; slot++) {
    const n = stats[CODE0 + slot]!
    if (n === 0) continue
    s.name ??= labelValueBytes(s.backend)
    s.pieces ??= piecesOf(s.type)
    w.line3(TOTAL_OPEN, s.name, s.pieces.codes[slot]!, n)
  }
}

const writeProbeDuration = (w: Writer, s: ProbeSeries): void => {
  const stats = s.stats
  if (stats[COUNT] === 0) return
  const name = (s.name ??= labelValueBytes(s.backend))
  const pieces = (s.pieces ??= piecesOf(s.type))
  let cumulative = 0
  for (let b = 0; b <= BUCKETS; b++) {
    cumulative += stats[BUCKET0 + b]!
    w.line3(BUCKET_OPEN, name, pieces.le[b]!, cumulative)
  }
  w.line3(SUM_OPEN, name, pieces.close, stats[SUM]!)
  w.line3(COUNT_OPEN, name, pieces.close, stats[COUNT]!)
}

/**
 * The probe families over the series that exist now, one unit per backend
 * and check type. The store only grows: a render reads the first `size`
 * series in place (no copy of the list per scrape).
 */
export const probeSources = (): ReadonlyArray<Source> => {
  const size = probeSeries.length
  return [
    {
      name: PROBE_TOTAL,
      help: "Health-check probes completed, by backend, check type, result (success or failure) and HAProxy-style code.",
      type: "counter",
      size,
      write: (w, i) => writeProbeTotal(w, probeSeries[i]!)
    },
    {
      name: PROBE_DURATION,
      help: "Health-check probe duration in seconds, by backend and check type.",
      type: "histogram",
      size,
      write: (w, i) => writeProbeDuration(w, probeSeries[i]!)
    }
  ]
}

// --- transitions -----------------------------------------------------------------

const STATES = STATUSES.length
const stateIndex = Object.fromEntries(STATUSES.map((s, i) => [s, i])) as { readonly [S in HealthStatus]: number }

const TRANSITIONS_OPEN = bytes(`${BACKEND_TRANSITIONS}{backend="`)

/** `",from="...",to="..."} ` by from index * STATES + to index: what follows the backend's name. */
const TRANSITION_LABELS: ReadonlyArray<Uint8Array> = STATUSES.flatMap((from) => STATUSES.map((to) => bytes(`",from="${from}",to="${to}"} `)))

interface TransitionSeries {
  readonly backend: string
  readonly counts: Float64Array
}

const transitionSeries: Array<TransitionSeries> = []
const transitionSeriesByBackend = new Map<string, TransitionSeries>()

/** Counts one transition, now (for callers counting many in one step). */
export const unsafeCountTransition = (backend: string, from: HealthStatus, to: HealthStatus): void => {
  let s = transitionSeriesByBackend.get(backend)
  if (s === undefined) {
    s = { backend, counts: new Float64Array(STATES * STATES) }
    transitionSeriesByBackend.set(backend, s)
    transitionSeries.push(s)
  }
  s.counts[stateIndex[from] * STATES + stateIndex[to]]! += 1
}

/** Counts one transition. */
export const countTransition = (backend: string, from: HealthStatus, to: HealthStatus): Effect.Effect<void> =>
  Effect.sync(() => unsafeCountTransition(backend, from, to))

/** Transitions counted from `from` to `to` for a backend (for tests and diagnostics). */
export const transitionCount = (backend: string, from: HealthStatus, to: HealthStatus): number =>
  transitionSeriesByBackend.get(backend)?.counts[stateIndex[from] * STATES + stateIndex[to]] ?? 0

/** The transition family over the backends that had one, one unit per backend (read in place, as `probeSources`). */
export const transitionSources = (): ReadonlyArray<Source> => [{
  name: BACKEND_TRANSITIONS,
  help: "Backend state transitions, by backend, previous state and new state.",
  type: "counter",
  size: transitionSeries.length,
  write: (w, i) => {
    const s = transitionSeries[i]!
    let name: Uint8Array | undefined
    for (let k = 0; k < STATES * STATES; k++) {
      const n = s.counts[k]!
      if (n === 0) continue
      name ??= labelValueBytes(s.backend)
      w.line3(TRANSITIONS_OPEN, name, TRANSITION_LABELS[k]!, n)
    }
  }
}]

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
