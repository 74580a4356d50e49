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

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

export type Type = "counter" | "gauge" | "histogram" | "summary" | "untyped"

// --- names and escaping -----------------------------------------------------------

/** A metric name as the format allows it: anything else becomes `_`. */
export const metricName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s === "" ? "_" : s
}

/** The name a family is exported under: a valid name, `_total` at the end of a counter's. */
export const exportedName = (name: string, type: Type): string => {
  const valid = metricName(name)
  return type === "counter" && !valid.endsWith("_total") ? `${valid}_total` : valid
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

/** UTF-8 bytes of a constant piece of text (a metric name, `",le="0.5"} `). */
export const bytes = (text: string): Uint8Array => Buffer.from(text, "utf8")

const escapedValues = new Map<string, Uint8Array>()
const ESCAPED_VALUES_MAX = 200_000

/**
 * A label value, escaped and encoded (without quotes), cached by value: the
 * same backend names are written on every scrape, in several families each.
 */
export const labelValueBytes = (value: string): Uint8Array => {
  let b = escapedValues.get(value)
  if (b === undefined) {
    // Names come from the configuration; a cache this size only fills if they churn without end.
    if (escapedValues.size >= ESCAPED_VALUES_MAX) escapedValues.clear()
    b = bytes(escapeLabelValue(value))
    escapedValues.set(value, b)
  }
  return b
}

// --- the writer ----------------------------------------------------------------------

const NEWLINE = 10
const SPACE = 32

/** Writes a safe non-negative integer's digits at `pos`; returns the position after them. */
const writeUint = (buf: Buffer, pos: number, v: number): number => {
  if (v < 10) {
    buf[pos] = 48 + v
    return pos + 1
  }
  let digits = 1
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++
  const end = pos + digits
  let p = end
  for (let t = v; p > pos; t = Math.floor(t / 10)) buf[--p] = 48 + (t % 10)
  return end
}

/** A growing byte buffer of exposition text. */
export class Writer {
  private buf: Buffer
  private pos = 0

  /**
   * `reuse`: a buffer nobody reads any more (the body of an earlier render,
   * sent): writing into it again spares allocating ~20 MB per render at
   * 10,000 backends, which V8 counts as external memory and answers with a
   * full garbage collection each time.
   */
  constructor(capacity = 64 * 1024, reuse?: Buffer) {
    // allocUnsafeSlow: never a slice of Node's shared pool, which must not be handed out for reuse.
    this.buf = reuse !== undefined && reuse.length >= capacity ? reuse : Buffer.allocUnsafeSlow(Math.max(capacity, 1024))
  }

  get length(): number {
    return this.pos
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + needed))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Appends bytes (a constant piece, a cached label value). */
  raw(b: Uint8Array): void {
    const n = b.length
    if (this.pos + n > this.buf.length) this.grow(n)
    // TypedArray.set beats a byte loop even for a dozen bytes (measured: half the time at 10,000 backends).
    this.buf.set(b, this.pos)
    this.pos += n
  }

  /** Appends text as UTF-8. */
  text(s: string): void {
    if (this.pos + s.length * 3 > this.buf.length) this.grow(s.length * 3)
    this.pos += this.buf.write(s, this.pos, "utf8")
  }

  /** Appends `"value"`, escaped. */
  labelValue(value: string): void {
    this.byte(34)
    this.raw(labelValueBytes(value))
    this.byte(34)
  }

  byte(c: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1)
    this.buf[this.pos++] = c
  }

  /** Appends a sample value: integers digit by digit, the rest as `formatValue` says. */
  value(v: number | bigint): void {
    if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      if (this.pos + 16 > this.buf.length) this.grow(16)
      this.pos = writeUint(this.buf, this.pos, v)
      return
    }
    this.ascii(formatValue(v))
  }

  /** Appends ` value\n` (the end of a sample line). */
  end(v: number | bigint): void {
    this.byte(SPACE)
    this.value(v)
    this.byte(NEWLINE)
  }

  /**
   * A whole sample line from two pieces, `ab value\n` (`b` ends where the
   * value starts: `"} `); the hot path of a render, written with the buffer
   * and position in locals (a line built of `raw`, `byte` and `value` calls
   * cost three times as much at 10,000 backends).
   */
  line(a: Uint8Array, b: Uint8Array, v: number): void {
    let buf = this.buf
    let pos = this.pos
    if (pos + a.length + b.length + 24 > buf.length) {
      this.grow(a.length + b.length + 24)
      buf = this.buf
    }
    buf.set(a, pos)
    pos += a.length
    buf.set(b, pos)
    this.endLine(buf, pos + b.length, v)
  }

  /** A line's value and newline at `pos` (the caller made room for an integer's digits). */
  private endLine(buf: Buffer, pos: number, v: number): void {
    if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      pos = writeUint(buf, pos, v)
      buf[pos++] = NEWLINE
      this.pos = pos
      return
    }
    this.pos = pos
    this.ascii(formatValue(v))
    this.byte(NEWLINE)
  }

  /** Appends text known to be ASCII (a formatted number): latin1 is a plain copy, UTF-8 encoding is not. */
  ascii(s: string): void {
    if (this.pos + s.length > this.buf.length) this.grow(s.length)
    this.pos += this.buf.write(s, this.pos, "latin1")
  }

  /**
   * `abc value\n`: as `line`, with a piece in the middle (a backend's name
   * between a family's and a label's), written as `line` is, in locals (most
   * per-backend lines are written this way: the name is one piece shared by
   * every family, not a line start made per series).
   */
  line3(a: Uint8Array, b: Uint8Array, c: Uint8Array, v: number): void {
    let buf = this.buf
    let pos = this.pos
    if (pos + a.length + b.length + c.length + 24 > buf.length) {
      this.grow(a.length + b.length + c.length + 24)
      buf = this.buf
    }
    buf.set(a, pos)
    pos += a.length
    buf.set(b, pos)
    pos += b.length
    buf.set(c, pos)
    this.endLine(buf, pos + c.length, v)
  }

  /** Forgets what was written after `length` bytes. */
  truncate(length: number): void {
    this.pos = Math.min(this.pos, length)
  }

  /** The bytes written so far (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

// --- sources ---------------------------------------------------------------------------

/** One metric family, written unit by unit. */
export interface Source {
  /** As it is to be exported (see `exportedName`). */
  readonly name: string
  readonly help: string
  readonly type: Type
  /** How many units `write` takes (0: the family is left out). */
  readonly size: number
  /** Writes the sample lines of unit `i` (0 <= i < size), possibly none. */
  readonly write: (w: Writer, i: number) => void
}

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

/** A family as plain data: for the few series of Effect's registry, and tests. */
export type Family =
  | (FamilyBase & { readonly type: "counter" | "gauge" | "untyped"; readonly samples: ReadonlyArray<Sample> })
  | (FamilyBase & { readonly type: "histogram"; readonly samples: ReadonlyArray<HistogramSample> })
  | (FamilyBase & { readonly type: "summary"; readonly samples: ReadonlyArray<SummarySample> })

const OPEN = 123 // {
const CLOSE = 125 // }
const COMMA = 44

const writeLabels = (w: Writer, labels: Labels, extra?: readonly [string, string]): void => {
  if (labels.length === 0 && extra === undefined) return
  w.byte(OPEN)
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) w.byte(COMMA)
    w.text(labelName(labels[i]![0]))
    w.byte(61) // =
    w.labelValue(labels[i]![1])
  }
  if (extra !== undefined) {
    if (labels.length > 0) w.byte(COMMA)
    w.text(extra[0])
    w.byte(61)
    w.labelValue(extra[1])
  }
  w.byte(CLOSE)
}

const writeSumAndCount = (w: Writer, name: string, s: HistogramSample | SummarySample): void => {
  w.text(`${name}_sum`)
  writeLabels(w, s.labels)
  w.end(s.sum)
  w.text(`${name}_count`)
  writeLabels(w, s.labels)
  w.end(s.count)
}

const writeSample = (w: Writer, name: string, family: Family, i: number): void => {
  switch (family.type) {
    case "counter":
    case "gauge":
    case "untyped": {
      const s = family.samples[i]!
      w.text(name)
      writeLabels(w, s.labels)
      w.end(s.value)
      return
    }
    case "histogram": {
      const s = family.samples[i]!
      for (const [le, count] of s.buckets) {
        if (le === Infinity) continue
        w.text(`${name}_bucket`)
        writeLabels(w, s.labels, ["le", formatValue(le)])
        w.end(count)
      }
      w.text(`${name}_bucket`)
      writeLabels(w, s.labels, ["le", "+Inf"])
      w.end(s.count)
      writeSumAndCount(w, name, s)
      return
    }
    case "summary": {
      const s = family.samples[i]!
      for (const [q, v] of s.quantiles) {
        w.text(name)
        writeLabels(w, s.labels, ["quantile", formatValue(q)])
        w.end(v ?? NaN)
      }
      writeSumAndCount(w, name, s)
      return
    }
  }
}

/** A plain family as a source, one unit per sample. */
export const fromFamily = (family: Family): Source => {
  const name = exportedName(family.name, family.type)
  return { name, help: family.help, type: family.type, size: family.samples.length, write: (w, i) => writeSample(w, name, family, i) }
}

/** A family's HELP and TYPE lines. */
const writeHeader = (w: Writer, s: Source): void => {
  w.text(`# HELP ${s.name} ${escapeHelp(s.help)}\n# TYPE ${s.name} ${s.type}\n`)
}

/**
 * The families to write, in order: one group per name, sorted by name, with
 * the sources of that name in the order given under the first one's HELP and
 * TYPE. A source whose type differs from the first of its name is left out
 * (the format cannot say it), and so are empty ones.
 */
export const collate = (sources: Iterable<Source>): ReadonlyArray<ReadonlyArray<Source>> => {
  const byName = new Map<string, Array<Source>>()
  for (const s of sources) {
    if (s.size === 0) continue
    const group = byName.get(s.name)
    if (group === undefined) byName.set(s.name, [s])
    else if (group[0]!.type === s.type) group.push(s)
  }
  return [...byName.keys()].sort().map((name) => byName.get(name)!)
}

/**
 * Writes one group from `at` (updated as it goes) until done or until
 * `more()` says to stop (asked every 16 units); true when the group is done.
 */
const writeGroup = (
  w: Writer,
  group: ReadonlyArray<Source>,
  at: { source: number; unit: number },
  more: () => boolean
): boolean => {
  for (; at.source < group.length; at.source++, at.unit = 0) {
    const s = group[at.source]!
    while (at.unit < s.size) {
      const stop = Math.min(s.size, at.unit + 16)
      for (; at.unit < stop; at.unit++) s.write(w, at.unit)
      if (at.unit < s.size && !more()) return false
    }
    if (at.source + 1 < group.length && !more()) {
      at.source++
      at.unit = 0
      return false
    }
  }
  return true
}

/** A group with its header; none at all when no unit wrote a line (a store whose series have no sample yet). */
const writeWholeGroup = (w: Writer, group: ReadonlyArray<Source>): void => {
  const mark = w.length
  writeHeader(w, group[0]!)
  const body = w.length
  writeGroup(w, group, { source: 0, unit: 0 }, () => true)
  if (w.length === body) w.truncate(mark)
}

/** The whole exposition at once. */
export const renderBytes = (sources: Iterable<Source>): Buffer => {
  const w = new Writer()
  for (const group of collate(sources)) writeWholeGroup(w, group)
  return w.result()
}

/** The whole exposition at once, as text. */
export const renderText = (sources: Iterable<Source>): string => renderBytes(sources).toString("utf8")

/** Plain families as text (tests, small outputs). */
export const render = (families: Iterable<Family>): string => renderText(Array.from(families, fromFamily))

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
 * The whole exposition, written in slices of `sliceMs` with the event loop
 * let run in between; interrupting it stops it at the next slice.
 */
export const renderChunked = (
  sources: Iterable<Source>,
  options: ChunkedOptions = {}
): Effect.Effect<Chunked> =>
  Effect.suspend(() => {
    const sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS
    const groups = collate(sources)
    const w = new Writer(options.capacity, options.reuse)
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
    const step: Effect.Effect<Chunked> = Effect.suspend(() => {
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
        g++
        at.source = 0
        at.unit = 0
        if (g < groups.length && !more()) return yieldNow()
      }
      longest = Math.max(longest, performance.now() - sliceStart)
      return Effect.succeed({ body: w.result(), slices, longestSliceMs: longest })
    })
    return step
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
