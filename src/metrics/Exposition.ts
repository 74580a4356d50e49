/**
 * The Prometheus text exposition format, version 0.0.4, without Effect: names,
 * escaping, the byte `Writer`, families as `Source`s and their collation.
 * Prometheus.ts adds what needs Effect (the sliced render, Effect's metric
 * registry) and re-exports this module; the scrape worker (ScrapeWorker.ts)
 * loads only this one, since the `effect` package alone costs a worker
 * thread ~18 MB of RSS (measured: 10 MB for a worker with node:http, 28 MB
 * with `effect`).
 */

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
  if (v < 2147483648) {
    // Int32 arithmetic (no float division and floor per digit): about half the cost of a render's digits.
    const end = pos + (v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10)
    let p = end
    let t = v | 0
    while (p > pos) {
      const q = (t / 10) | 0
      buf[--p] = 48 + t - q * 10
      t = q
    }
    return end
  }
  let digits = 1
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++
  const end = pos + digits
  let p = end
  for (let t = v; p > pos; t = Math.floor(t / 10)) buf[--p] = 48 + (t % 10)
  return end
}

/**
 * A sum of seconds in microseconds (`v` * 1e6, rounded), written with six
 * decimals (`Writer.microsLine`): its width changes only when its whole seconds
 * gain a digit, so a histogram's `_sum` is written over in its kept block
 * like a count (`patchMicros`); NaN when `v` has no such form (negative, not
 * finite, too large), then written as `formatValue` says.
 */
export const toMicros = (v: number): number => {
  const u = Math.round(v * 1e6)
  return u >= 0 && u <= Number.MAX_SAFE_INTEGER ? u : NaN
}

/**
 * Blanks of room a value written in a field gets before its digits (the
 * scrape worker's store series, `Writer.line3At`'s `field`): the format allows
 * any number of blanks between a sample's labels and its value, so a value
 * right-aligned in a field of its digits and this many more keeps its line's
 * length while it gains up to this many digits, and is written over in the
 * series' kept block (`patchField`) instead of the series written again.
 */
export const FIELD_ROOM = 2

/** The field a value of `width` characters is written in: its width and `FIELD_ROOM` blanks. */
export const fieldOf = (width: number): number => width + FIELD_ROOM

/** The width of `u` microseconds (`toMicros`) as written: its whole seconds' digits, the point, six decimals. */
export const microsWidth = (u: number): number => (u < 1e6 ? 8 : uintWidth(Math.floor(u / 1e6)) + 7)

/** `u` microseconds as seconds with six decimals at `pos`, `width` (`microsWidth(u)`) bytes. */
const writeMicros = (buf: Buffer, pos: number, width: number, u: number): void => {
  const whole = Math.floor(u / 1e6)
  writeUint(buf, pos, whole)
  buf[pos + width - 7] = 46 // .
  let t = (u - whole * 1e6) | 0
  for (let p = pos + width; p > pos + width - 6;) {
    const q = (t / 10) | 0
    buf[--p] = 48 + t - q * 10
    t = q
  }
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

  /**
   * A line's value and newline at `pos` (the caller made room for an integer's
   * digits and `field` bytes more); an integer right-aligned in `field` bytes
   * (blanks before its digits) when `field` is more than its digits.
   */
  private endLine(buf: Buffer, pos: number, v: number, field = 0): void {
    if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      if (field > 0) for (let n = field - uintWidth(v); n > 0; n--) buf[pos++] = SPACE
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
    const n = s.length
    if (this.pos + n > this.buf.length) this.grow(n)
    // A loop, not buf.write(s, "latin1"): a number is a few to two dozen characters, and the binding's call cost
    // more than the copy (a histogram's sum per series: ~30 % of its line).
    const buf = this.buf
    const pos = this.pos
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i)
    this.pos = pos + n
  }

  /**
   * `abc value\n`: as `line`, with a piece in the middle (a backend's name
   * between a family's and a label's), written as `line` is, in locals (most
   * per-backend lines are written this way: the name is one piece shared by
   * every family, not a line start made per series).
   */
  line3(a: Uint8Array, b: Uint8Array, c: Uint8Array, v: number, field = 0): void {
    let buf = this.buf
    let pos = this.pos
    if (pos + a.length + b.length + c.length + 24 + field > buf.length) {
      this.grow(a.length + b.length + c.length + 24 + field)
      buf = this.buf
    }
    buf.set(a, pos)
    pos += a.length
    buf.set(b, pos)
    pos += b.length
    buf.set(c, pos)
    this.endLine(buf, pos + c.length, v, field)
  }

  /**
   * As `line3`, and returns where `ab` starts, for `lineAgain`: the lines of
   * one series share their start (`maglev_probe_duration_seconds_bucket{backend="name`),
   * which the next ones copy within the buffer in one move instead of two.
   * `field`: the value right-aligned in that many bytes, blanks before it
   * (`fieldOf`; 0: its digits alone).
   */
  line3At(a: Uint8Array, b: Uint8Array, c: Uint8Array, v: number, field = 0): number {
    // The start is where the line goes once there is room (growing copies what is written, offsets stay).
    if (this.pos + a.length + b.length + c.length + 24 + field > this.buf.length) this.grow(a.length + b.length + c.length + 24 + field)
    const at = this.pos
    this.line3(a, b, c, v, field)
    return at
  }

  /** `ab c value\n`, `ab` being the `length` bytes at `at` (a `line3At` line's start): ~40 % cheaper a line than `line3`. */
  lineAgain(at: number, length: number, c: Uint8Array, v: number, field = 0): void {
    let buf = this.buf
    let pos = this.pos
    if (pos + length + c.length + 24 + field > buf.length) {
      this.grow(length + c.length + 24 + field)
      buf = this.buf
    }
    buf.copyWithin(pos, at, at + length)
    pos += length
    buf.set(c, pos)
    this.endLine(buf, pos + c.length, v, field)
  }

  /** Appends a block (a series' lines as written before, `Blocks`) in one move; returns where it starts, for `patchUint`. */
  copy(b: Uint8Array): number {
    const at = this.pos
    if (at + b.length > this.buf.length) this.grow(b.length)
    this.buf.set(b, at)
    this.pos = at + b.length
    return at
  }

  /**
   * Writes `v`'s digits over the `width` bytes at `at` (a value in a block
   * just copied); false, the bytes then undefined, when `v` is not a safe
   * non-negative integer of exactly `width` digits (the block no longer fits
   * the values: written again the long way).
   */
  patchUint(at: number, width: number, v: number): boolean {
    return this.digitsBack(at, at + width, v) === at
  }

  /**
   * As `patchUint`, but `v` right-aligned in the `field` bytes at `at` (a
   * value written in a field, `line3At`'s `field`), blanks before its
   * digits: false, the bytes then undefined, when `v` is not a safe
   * non-negative integer or has more digits than the field holds.
   */
  patchField(at: number, field: number, v: number): boolean {
    let p = this.digitsBack(at, at + field, v)
    if (p < 0) return false
    const buf = this.buf
    while (p > at) buf[--p] = SPACE
    return true
  }

  /**
   * Writes `v`'s digits backwards from `end`, not before `at`; returns where
   * they start, or -1 (the bytes then undefined) when `v` is not a safe
   * non-negative integer or has more digits than `end - at`.
   */
  private digitsBack(at: number, end: number, v: number): number {
    const buf = this.buf
    let p = end
    if ((v | 0) === v && v >= 0) {
      let t = v
      do {
        if (p === at) return -1
        const q = (t / 10) | 0
        buf[--p] = 48 + t - q * 10
        t = q
      } while (t > 0)
      return p
    }
    if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) return -1
    let t = v
    do {
      if (p === at) return -1
      buf[--p] = 48 + (t % 10)
      t = Math.floor(t / 10)
    } while (t > 0)
    return p
  }

  /**
   * `abc`, then `u` microseconds as seconds with six decimals (`toMicros`;
   * NaN: `v` as `formatValue` says), right-aligned in `field` bytes if it is
   * more than their width (blanks before them), and a newline.
   */
  microsLine(a: Uint8Array, b: Uint8Array, c: Uint8Array, u: number, v: number, field = 0): void {
    if (Number.isNaN(u)) {
      this.raw(a)
      this.raw(b)
      this.raw(c)
      this.ascii(formatValue(v))
      this.byte(NEWLINE)
      return
    }
    const width = microsWidth(u)
    const blanks = Math.max(0, field - width)
    const n = a.length + b.length + c.length + blanks
    if (this.pos + n + width + 1 > this.buf.length) this.grow(n + width + 1)
    const buf = this.buf
    let pos = this.pos
    buf.set(a, pos)
    pos += a.length
    buf.set(b, pos)
    pos += b.length
    buf.set(c, pos)
    pos += c.length
    for (let k = 0; k < blanks; k++) buf[pos++] = SPACE
    writeMicros(buf, pos, width, u)
    buf[pos + width] = NEWLINE
    this.pos = pos + width + 1
  }

  /**
   * As `patchField`, for `u` microseconds (`toMicros`) written as `microsLine`
   * does, right-aligned in the `field` bytes at `at`: false when they do not
   * fit (or `u` is NaN).
   */
  patchMicros(at: number, field: number, u: number): boolean {
    if (Number.isNaN(u)) return false
    const width = microsWidth(u)
    if (width > field) return false
    const buf = this.buf
    const end = at + field - width
    for (let p = at; p < end; p++) buf[p] = SPACE
    writeMicros(buf, end, width, u)
    return true
  }

  /** Forgets what was written after `length` bytes. */
  truncate(length: number): void {
    this.pos = Math.min(this.pos, length)
  }

  /** The bytes written so far (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos)
  }

  /** Bytes `from` to `to` written so far (a view, not a copy: still valid after the writer grows, which copies). */
  view(from: number, to: number): Buffer {
    return this.buf.subarray(from, Math.min(to, this.pos))
  }
}

/** How many digits `writeUint` writes for `v` (a safe non-negative integer). */
export const uintWidth = (v: number): number => {
  if (v < 2147483648) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10
  let digits = 1
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++
  return digits
}

// --- blocks ----------------------------------------------------------------------------

/** Bytes per chunk of a `Blocks` store. */
const BLOCK_CHUNK = 1024 * 1024

/**
 * Blocks of exposition kept between renders: a series' lines as a render
 * wrote them (the scrape worker's, Store.ts and Columns.ts), so that the
 * next render copies them in one move and writes only the values' digits
 * over the old ones (`Writer.copy`, `patchUint`), instead of two or three
 * pieces and the digits per line. A block is a view of a chunk of 1 MiB (no
 * buffer per series). A block that no longer fits (a value with one more
 * digit, a line more) is made again and its old bytes are dead; once the
 * dead bytes outweigh half the live ones, `stale()` says so and the owner drops
 * every block (made again by the next render, the long way) and `reset()`s.
 */
export class Blocks {
  private chunk: Buffer | undefined
  private used = 0
  private live = 0
  private dead = 0

  /**
   * A copy of `bytes` kept as a block, with `slack` bytes of room after it
   * (the owner may write a longer block there: a value's digit more).
   */
  keep(bytes: Uint8Array, slack = 0): Uint8Array {
    const n = bytes.length
    this.live += n + slack
    if (n > BLOCK_CHUNK / 4) return Uint8Array.from(bytes)
    if (this.chunk === undefined || this.used + n + slack > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(BLOCK_CHUNK)
      this.used = 0
    }
    const at = this.used
    this.chunk.set(bytes, at)
    this.used = at + n + slack
    return this.chunk.subarray(at, at + n)
  }

  /** A block replaced or no longer used: its bytes (`room` of them, its slack included) are dead. */
  drop(block: Uint8Array | undefined, room = block?.length ?? 0): void {
    if (block === undefined) return
    this.live -= room
    this.dead += room
  }

  /**
   * Dead bytes outweigh half the live ones (and a chunk's worth): time to
   * drop every block and `reset` (the chunks then hold at most 1.5 times the
   * live blocks; a reset costs one render the long way).
   */
  stale(): boolean {
    return this.dead > BLOCK_CHUNK && this.dead * 2 > this.live
  }

  /** Forgets every block (their owner dropped them): the next ones go into new chunks. */
  reset(): void {
    this.chunk = undefined
    this.used = 0
    this.live = 0
    this.dead = 0
  }

  /** Bytes held by blocks in use. */
  get bytes(): number {
    return this.live
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
  /**
   * What the family's lines are written from, where the same (`sameValues`)
   * means the same bytes: a render may then send the bytes of an earlier
   * render of it instead of writing them again (the scrape worker's
   * `Families`). Absent: written every time.
   */
  readonly version?: ReadonlyArray<unknown> | undefined
  /**
   * With a `version`: where each unit's lines started in the last write of
   * the family, from the writer's first byte (a family written whole into a
   * writer of its own, Merge's `Families.writer`, which keeps them with its
   * bytes for `patch`); undefined when no unit was written.
   */
  readonly marks?: () => Int32Array | undefined
  /**
   * With a `version`: the family written into `w` (empty) from its bytes as
   * written whole for an earlier version (`old`, `oldVersion`, `oldMarks`),
   * the values that changed written over, byte for byte what `write` would
   * write; false when it cannot (other units, a value of another width), `w`
   * then to be emptied and the family written whole.
   */
  readonly patch?: (w: Writer, old: Uint8Array, oldVersion: ReadonlyArray<unknown>, oldMarks: Int32Array) => boolean
}

/**
 * Two versions (`Source.version`) alike: element by element the same value,
 * typed arrays and arrays of the same contents.
 */
export const sameValues = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) {
      const u = x as unknown as ArrayLike<number>
      const v = y as unknown as ArrayLike<number>
      if (x.constructor !== y.constructor || u.length !== v.length) return false
      for (let k = 0; k < u.length; k++) if (u[k] !== v[k]) return false
      continue
    }
    if (Array.isArray(x) && Array.isArray(y) && sameValues(x, y)) continue
    return false
  }
  return true
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

const labelNames = new Map<string, Uint8Array>()

/** `name=` of a label as written, encoded once per name (a handful of names: a regex and an encoding per label per line were a tenth of the main thread's part at 1,000 frontends). */
const labelNameBytes = (name: string): Uint8Array => {
  let b = labelNames.get(name)
  if (b === undefined) {
    b = bytes(`${labelName(name)}=`)
    if (labelNames.size < 1_000) labelNames.set(name, b)
  }
  return b
}

const writeLabels = (w: Writer, labels: Labels, extra?: readonly [string, string]): void => {
  if (labels.length === 0 && extra === undefined) return
  w.byte(OPEN)
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) w.byte(COMMA)
    w.raw(labelNameBytes(labels[i]![0]))
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
export const writeHeader = (w: Writer, s: Source): void => {
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
export const writeGroup = (
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
export const writeWholeGroup = (w: Writer, group: ReadonlyArray<Source>): void => {
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

/**
 * Families written group by group into one buffer, each with its header,
 * `names[i]`'s group ending at `ends[i]` (in name order); the names in
 * `except` left out. What the main thread hands the scrape worker to merge
 * with its own (`merge`).
 */
export interface Groups {
  readonly body: Uint8Array
  readonly names: ReadonlyArray<string>
  readonly ends: ReadonlyArray<number>
}

export const renderGroups = (sources: Iterable<Source>, except: ReadonlySet<string>, capacity?: number, reuse?: Buffer): Groups => {
  const w = new Writer(capacity, reuse)
  const names: Array<string> = []
  const ends: Array<number> = []
  for (const group of collate(sources)) {
    const name = group[0]!.name
    if (except.has(name)) continue
    const before = w.length
    writeWholeGroup(w, group)
    if (w.length === before) continue
    names.push(name)
    ends.push(w.length)
  }
  return { body: w.result(), names, ends }
}

/** The whole exposition at once, as text. */
export const renderText = (sources: Iterable<Source>): string => renderBytes(sources).toString("utf8")

/** Plain families as text (tests, small outputs). */
export const render = (families: Iterable<Family>): string => renderText(Array.from(families, fromFamily))
