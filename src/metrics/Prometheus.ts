/**
 * The Prometheus text exposition format, version 0.0.4: metric families in,
 * bytes out.
 *
 * ```
 * # HELP maglev_probe_total Health-check probes ...
 * # TYPE maglev_probe_total counter
 * maglev_probe_total{backend="web1",type="http",result="success",code="L7OK"} 42
 * ```
 *
 * A family is a `Source`: a name, HELP, TYPE and `size` units, each written
 * straight into a byte `Writer` (a unit is whatever the family's owner finds
 * natural: one backend, one series). At 10,000 backends a scrape is ~20 MB of
 * text in ~300,000 lines; building it as JavaScript strings (a label array,
 * an escaped string and a line per sample) spent most of its time allocating
 * and collecting them. Here the constant parts of a line are encoded once,
 * label values are escaped and encoded once per distinct value (cached), and
 * integers are written as digits: a render allocates its output buffer and
 * little else.
 *
 * `collate` groups the sources by name under one HELP and one TYPE (the
 * format requires it) and sorts them; `renderText` writes them at once (pure,
 * for tests and small outputs); `renderChunked` writes them in slices of up
 * to 50 ms, yielding to the event loop between slices, and stops
 * where it is when interrupted. Histograms are cumulative `_bucket{le=...}`
 * series ending in `+Inf`, then `_sum` and `_count`.
 *
 * Counters are named `..._total` on the way out (Effect's own
 * `effect_fiber_started` is exported as `effect_fiber_started_total`), as
 * `promtool check metrics` and the OpenMetrics convention ask.
 */
import { Effect, MetricKeyType, MetricState, Option } from "effect"
import type { MetricKey, MetricPair } from "effect"
import { bytes, collate, escapeLabelValue, exportedName, type Family, fromFamily, type Groups, labelName, type Labels, type Sample, type Source, type Type, writeGroup, writeHeader, Writer } from "./Exposition.js"

export * from "./Exposition.js"

/** Lets the event loop run (timers, sockets) before going on: `setImmediate`, not the Effect scheduler's microtasks. */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * How long a render writes before it lets the event loop run. Each yield
 * costs a whole turn of the loop, which on a daemon busy with 10,000
 * backends is tens to hundreds of milliseconds: slices of 2 ms made a 40 ms
 * render take 1-3 s of wall time. Slices of 50 ms make the render of 10,000
 * backends one slice or two, so a scrape waits about its CPU time, and hold
 * the loop at most ~50 ms once per scrape: little beside probes' timeouts
 * of hundreds of ms (from 2,000 backends the probes' timers run on probe
 * threads, not on this loop; below that a render takes a few ms).
 */
export const DEFAULT_SLICE_MS = 50

export interface ChunkedOptions {
  /** Longest stretch of synchronous writing, milliseconds (default `DEFAULT_SLICE_MS`). */
  readonly sliceMs?: number | undefined
  /** Output buffer to start with, bytes (the previous render's size avoids regrowing). */
  readonly capacity?: number | undefined
  /** A buffer to write into if it is large enough (see `Writer`). */
  readonly reuse?: Buffer | undefined
}

export interface Chunked {
  readonly body: Buffer
  readonly slices: number
  /** The longest stretch of writing between two yields (a slice's `sliceMs`, plus a unit's overrun, plus GC). */
  readonly longestSliceMs: number
}

/**
 * Groups written one after the other into `w`, in slices of `sliceMs` with
 * the event loop let run in between; interrupting it stops it at the next
 * slice. `done(name, end)` is told of each group that wrote a line (an empty
 * one is left out whole, header and all).
 */
const writeInSlices = (
  groups: ReadonlyArray<ReadonlyArray<Source>>,
  w: Writer,
  sliceMs: number,
  done: (name: string, end: number) => void
): Effect.Effect<{ readonly slices: number; readonly longestSliceMs: number }> =>
  Effect.suspend(() => {
    let slices = 1
    let longest = 0
    let sliceStart = performance.now()
    let deadline = sliceStart + sliceMs
    const yieldNow = () => {
      slices++
      longest = Math.max(longest, performance.now() - sliceStart)
      return Effect.zipRight(yieldToEventLoop, step)
    }
    const more = () => performance.now() < deadline
    let g = 0
    const at = { source: 0, unit: 0 }
    let mark = 0
    let body = 0
    const step: Effect.Effect<{ readonly slices: number; readonly longestSliceMs: number }> = Effect.suspend(() => {
      sliceStart = performance.now()
      deadline = sliceStart + sliceMs
      while (g < groups.length) {
        const group = groups[g]!
        if (at.source === 0 && at.unit === 0) {
          mark = w.length
          writeHeader(w, group[0]!)
          body = w.length
        }
        if (!writeGroup(w, group, at, more)) return yieldNow()
        if (w.length === body) w.truncate(mark)
        else done(group[0]!.name, w.length)
        g++
        at.source = 0
        at.unit = 0
        if (g < groups.length && !more()) return yieldNow()
      }
      longest = Math.max(longest, performance.now() - sliceStart)
      return Effect.succeed({ slices, longestSliceMs: longest })
    })
    return step
  })

/**
 * The whole exposition, written in slices of `sliceMs` with the event loop
 * let run in between; interrupting it stops it at the next slice.
 */
export const renderChunked = (
  sources: Iterable<Source>,
  options: ChunkedOptions = {}
): Effect.Effect<Chunked> =>
  Effect.suspend(() => {
    const w = new Writer(options.capacity, options.reuse)
    return Effect.map(
      writeInSlices(collate(sources), w, options.sliceMs ?? DEFAULT_SLICE_MS, () => {}),
      ({ longestSliceMs, slices }) => ({ body: w.result(), slices, longestSliceMs })
    )
  })

/**
 * `renderGroups` (the main thread's part for the scrape worker) in slices of
 * `sliceMs`, the same bytes: at 10,000 backends and 1,000 frontends its
 * ~0.4 MB took 2-3 ms warm and 25-30 ms the first time (cold code), at once.
 */
export const renderGroupsChunked = (
  sources: Iterable<Source>,
  except: ReadonlySet<string>,
  options: ChunkedOptions = {}
): Effect.Effect<Groups> =>
  Effect.suspend(() => {
    const w = new Writer(options.capacity, options.reuse)
    const names: Array<string> = []
    const ends: Array<number> = []
    const groups = collate(sources).filter((group) => !except.has(group[0]!.name))
    return Effect.map(writeInSlices(groups, w, options.sliceMs ?? DEFAULT_SLICE_MS, (name, end) => {
      names.push(name)
      ends.push(end)
    }), () => ({ body: w.result(), names, ends }))
  })

// --- Effect's metric registry --------------------------------------------------------

const labelsOf = new WeakMap<MetricKey.MetricKey.Untyped, Labels>()

/** A key's tags as labels, made once per key (the registry keeps its keys). */
const keyLabels = (key: MetricKey.MetricKey.Untyped): Labels => {
  let labels = labelsOf.get(key)
  if (labels === undefined) {
    labels = key.tags.map((t) => [t.key, t.value] as const)
    labelsOf.set(key, labels)
  }
  return labels
}

const linePrefixes = new WeakMap<MetricKey.MetricKey.Untyped, Uint8Array>()

/** `name{labels}` of a key's one series, encoded once per key. */
const linePrefix = (key: MetricKey.MetricKey.Untyped, name: string): Uint8Array => {
  let b = linePrefixes.get(key)
  if (b === undefined) {
    const labels = keyLabels(key)
    const set = labels.map(([k, v]) => `${labelName(k)}="${escapeLabelValue(v)}"`).join(",")
    b = bytes(labels.length === 0 ? name : `${name}{${set}}`)
    linePrefixes.set(key, b)
  }
  return b
}

/**
 * Effect's registry as sources: its counters and gauges (most of it; one
 * series per key, possibly thousands of keys, e.g. a counter per backend)
 * one source per name, each series a cached line prefix and its value; the
 * other kinds through `fromSnapshot`.
 */
export const registrySources = (pairs: Iterable<MetricPair.MetricPair.Untyped>): ReadonlyArray<Source> => {
  const scalars = new Map<string, { help: string; type: Type; prefixes: Array<Uint8Array>; values: Array<number | bigint> }>()
  const others: Array<MetricPair.MetricPair.Untyped> = []
  for (const pair of pairs) {
    const { metricKey: key, metricState: state } = pair
    let type: Type
    let value: number | bigint
    if (MetricState.isCounterState(state)) {
      type = MetricKeyType.isCounterKey(key.keyType) && key.keyType.incremental ? "counter" : "gauge"
      value = state.count
    } else if (MetricState.isGaugeState(state)) {
      type = "gauge"
      value = state.value
    } else {
      others.push(pair)
      continue
    }
    const name = exportedName(key.name, type)
    let group = scalars.get(name)
    if (group === undefined) {
      group = { help: Option.getOrElse(key.description, () => key.name), type, prefixes: [], values: [] }
      scalars.set(name, group)
    } else if (group.type !== type) continue // the format cannot say it
    group.prefixes.push(linePrefix(key, name))
    group.values.push(value)
  }
  const out: Array<Source> = []
  for (const [name, g] of scalars) {
    out.push({ name, help: g.help, type: g.type, size: g.prefixes.length, write: (w, i) => (w.raw(g.prefixes[i]!), w.end(g.values[i]!)) })
  }
  for (const f of fromSnapshot(others)) out.push(fromFamily(f))
  return out
}

/**
 * Effect's metrics as families: gauges, histograms and summaries as such;
 * counters as counters when they are `incremental` (only those are monotonic),
 * else as gauges; a frequency as a counter with a `key` label per word. One
 * family per metric key (`collate` merges those of one name).
 */
export const fromSnapshot = (pairs: Iterable<MetricPair.MetricPair.Untyped>): ReadonlyArray<Family> => {
  const out: Array<Family> = []
  for (const { metricKey: key, metricState: state } of pairs) {
    const name = key.name
    const help = Option.getOrElse(key.description, () => name)
    const labels = keyLabels(key)
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
