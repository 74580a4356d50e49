/**
 * The Prometheus text exposition format, version 0.0.4: metric families in,
 * text out. Pure.
 *
 * ```
 * # HELP maglev_probe_total Health-check probes ...
 * # TYPE maglev_probe_total counter
 * maglev_probe_total{backend="web1",type="http",result="success",code="L7OK"} 42
 * ```
 *
 * `fromSnapshot` turns Effect's metric registry (`Metric.snapshot`) into
 * families; the daemon's scrape-time gauges (`Gauges.ts`) are families
 * already. `render` groups every family by name under one HELP and one TYPE
 * (the format requires it), escapes label values (`\`, `"`, newline) and HELP
 * text (`\`, newline), and writes histograms as cumulative `_bucket{le=...}`
 * series ending in `+Inf`, then `_sum` and `_count`.
 */
import { MetricKeyType, MetricState, Option } from "effect"
import type { MetricPair } from "effect"

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** Label name, value; in the order they are written. */
export type Labels = ReadonlyArray<readonly [name: string, value: string]>

export interface Sample {
  readonly labels: Labels
  readonly value: number | bigint
}

export interface HistogramSample {
  readonly labels: Labels
  /** Upper bounds with the cumulative count of observations at or below each; `+Inf` may be left out. */
  readonly buckets: ReadonlyArray<readonly [le: number, count: number]>
  readonly count: number
  readonly sum: number
}

export interface SummarySample {
  readonly labels: Labels
  /** Quantile, value (undefined: no observation yet, written as NaN). */
  readonly quantiles: ReadonlyArray<readonly [quantile: number, value: number | undefined]>
  readonly count: number
  readonly sum: number
}

interface FamilyBase {
  readonly name: string
  readonly help: string
}

export type Family =
  | (FamilyBase & { readonly type: "counter" | "gauge" | "untyped"; readonly samples: ReadonlyArray<Sample> })
  | (FamilyBase & { readonly type: "histogram"; readonly samples: ReadonlyArray<HistogramSample> })
  | (FamilyBase & { readonly type: "summary"; readonly samples: ReadonlyArray<SummarySample> })

// --- names and escaping -----------------------------------------------------------

/** A metric name as the format allows it: anything else becomes `_`. */
export const metricName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s === "" ? "_" : s
}

/** A label name as the format allows it (no colons). */
export const labelName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s === "" ? "_" : s
}

export const escapeLabelValue = (value: string): string =>
  value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === "\"" ? "\\\"" : "\\n"))

export const escapeHelp = (text: string): string => text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"))

export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const labelSet = (labels: Labels, extra?: readonly [string, string]): string => {
  if (labels.length === 0 && extra === undefined) return ""
  const parts = labels.map(([k, v]) => `${labelName(k)}="${escapeLabelValue(v)}"`)
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`)
  return `{${parts.join(",")}}`
}

// --- rendering ---------------------------------------------------------------------

const writeSamples = (out: Array<string>, name: string, family: Family): void => {
  switch (family.type) {
    case "counter":
    case "gauge":
    case "untyped":
      for (const s of family.samples) out.push(`${name}${labelSet(s.labels)} ${formatValue(s.value)}`)
      return
    case "histogram":
      for (const s of family.samples) {
        for (const [le, count] of s.buckets) {
          if (le === Infinity) continue
          out.push(`${name}_bucket${labelSet(s.labels, ["le", formatValue(le)])} ${formatValue(count)}`)
        }
        out.push(`${name}_bucket${labelSet(s.labels, ["le", "+Inf"])} ${formatValue(s.count)}`)
        out.push(`${name}_sum${labelSet(s.labels)} ${formatValue(s.sum)}`)
        out.push(`${name}_count${labelSet(s.labels)} ${formatValue(s.count)}`)
      }
      return
    case "summary":
      for (const s of family.samples) {
        for (const [q, v] of s.quantiles) {
          out.push(`${name}${labelSet(s.labels, ["quantile", formatValue(q)])} ${formatValue(v ?? NaN)}`)
        }
        out.push(`${name}_sum${labelSet(s.labels)} ${formatValue(s.sum)}`)
        out.push(`${name}_count${labelSet(s.labels)} ${formatValue(s.count)}`)
      }
      return
  }
}

/**
 * The exposition text: one HELP and one TYPE per name, families sorted by
 * name, samples in the order given. Families sharing a name are merged (the
 * first one's HELP); one whose type differs from the first's is left out, as
 * the format cannot say it. Families without samples are left out.
 */
export const render = (families: Iterable<Family>): string => {
  const byName = new Map<string, Array<Family>>()
  for (const f of families) {
    const name = metricName(f.name)
    const group = byName.get(name)
    if (group === undefined) byName.set(name, [f])
    else if (group[0]!.type === f.type) group.push(f)
  }
  const out: Array<string> = []
  for (const name of [...byName.keys()].sort()) {
    const group = byName.get(name)!
    if (group.every((f) => f.samples.length === 0)) continue
    const first = group[0]!
    out.push(`# HELP ${name} ${escapeHelp(first.help)}`)
    out.push(`# TYPE ${name} ${first.type}`)
    for (const f of group) writeSamples(out, name, f)
  }
  return out.length === 0 ? "" : out.join("\n") + "\n"
}

// --- Effect's metric registry --------------------------------------------------------

/**
 * Effect's metrics as families: gauges, histograms and summaries as such;
 * counters as counters when they are `incremental` (only those are monotonic),
 * else as gauges; a frequency as a counter with a `key` label per word. One
 * family per metric key (`render` merges those of one name).
 */
export const fromSnapshot = (pairs: Iterable<MetricPair.MetricPair.Untyped>): ReadonlyArray<Family> => {
  const out: Array<Family> = []
  for (const { metricKey: key, metricState: state } of pairs) {
    const name = key.name
    const help = Option.getOrElse(key.description, () => name)
    const labels: Labels = key.tags.map((t) => [t.key, t.value] as const)
    if (MetricState.isCounterState(state)) {
      // A counter made without `incremental` takes decrements (effect_fiber_active): a gauge to Prometheus.
      const monotonic = MetricKeyType.isCounterKey(key.keyType) && key.keyType.incremental
      out.push({ name, help, type: monotonic ? "counter" : "gauge", samples: [{ labels, value: state.count }] })
    } else if (MetricState.isGaugeState(state)) {
      out.push({ name, help, type: "gauge", samples: [{ labels, value: state.value }] })
    } else if (MetricState.isHistogramState(state)) {
      out.push({ name, help, type: "histogram", samples: [{ labels, buckets: state.buckets, count: state.count, sum: state.sum }] })
    } else if (MetricState.isSummaryState(state)) {
      const quantiles = state.quantiles.map(([q, v]) => [q, Option.getOrUndefined(v)] as const)
      out.push({ name, help, type: "summary", samples: [{ labels, quantiles, count: state.count, sum: state.sum }] })
    } else if (MetricState.isFrequencyState(state)) {
      const samples = [...state.occurrences].map(([word, n]): Sample => ({ labels: [...labels, ["key", word]], value: n }))
      out.push({ name, help, type: "counter", samples })
    }
  }
  return out
}
