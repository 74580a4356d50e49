/**
 * The per-backend metric store: probe counters and durations by backend and
 * check type, transitions by backend; and how it is written as exposition.
 * No Effect here: the scrape worker (ScrapeWorker.ts) loads this module too.
 *
 * At 10,000 backends these are ~200,000 series. A series is a run of float64
 * slots (a probe recorder's counts by code, its bucket counts, sum and count;
 * a backend's transition counts by from and to) in a `SharedArrayBuffer`
 * slab of the process, its backend's name encoded once (shared with every
 * family) and the exposition written from it directly. The main thread
 * writes the slots as things happen (`ProbeSeries.record`,
 * `countTransition`); the scrape worker renders from the same memory, told
 * of each new series and slab once (`exportSince` / `Replica.apply`).
 *
 * What a scrape reads from another thread: each slot is one aligned 8-byte
 * float, written whole (on x86-64 and arm64 an aligned 8-byte access does
 * not tear; the ECMAScript memory model allows it to, in theory, for
 * Float64Array), and a counter only grows. A probe being recorded while the
 * worker writes its series can be in some of its slots and not yet in others
 * (in the count by code, not yet in the histogram): a series is at most one
 * observation behind another. A histogram is written consistently whatever
 * happens: its `_count` is its `+Inf` bucket (the cumulative sum of its
 * buckets, as read), not the count slot.
 *
 * Like Effect's registry, the store never forgets a series: a removed
 * backend keeps its counters.
 */
import { STATUSES, type HealthStatus } from "../health/HealthState.js"
import { PROBE_CODES, type ProbeCode, type ProbeResult } from "../health/ProbeResult.js"
import {
  Blocks,
  bytes,
  escapeLabelValue,
  fieldOf,
  formatValue,
  labelValueBytes,
  microsWidth,
  type Source,
  toMicros,
  uintWidth,
  type Writer
} from "./Exposition.js"

/** The original maglevd's buckets, in seconds. */
export const PROBE_DURATION_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export const PROBE_TOTAL = "maglev_probe_total"
export const PROBE_DURATION = "maglev_probe_duration_seconds"
export const BACKEND_TRANSITIONS = "maglev_backend_transitions_total"

export interface ProbeRecorder {
  /** Counts one probe result and observes its duration; synchronous, allocates nothing. */
  record(result: ProbeResult): void
}

const BUCKETS = PROBE_DURATION_BUCKETS.length
const CODES = PROBE_CODES.length
/** Layout of a probe series' slots: count, sum, the buckets (not cumulative; the last is above 2.5 s), then a count per code and result. */
const COUNT = 0
const SUM = 1
const BUCKET0 = 2
const CODE0 = BUCKET0 + BUCKETS + 1
const PROBE_SLOTS = CODE0 + CODES * 2
const BOUNDS = Float64Array.from(PROBE_DURATION_BUCKETS)

const STATES = STATUSES.length
const TRANSITION_SLOTS = STATES * STATES
/**
 * A transition series' slots: a count per from and to, then their total
 * (counted first: never below their sum), then the same total counted last
 * (`TRANSITION_DONE`: below the total while a transition is half counted).
 */
const TRANSITION_TOTAL = TRANSITION_SLOTS
const TRANSITION_DONE = TRANSITION_SLOTS + 1
const TRANSITION_SERIES_SLOTS = TRANSITION_SLOTS + 2

const codeIndex = Object.fromEntries(PROBE_CODES.map((c, i) => [c, i])) as { readonly [C in ProbeCode]: number }
const stateIndex = Object.fromEntries(STATUSES.map((s, i) => [s, i])) as { readonly [S in HealthStatus]: number }

// --- the pieces of a line ------------------------------------------------------------

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
const TRANSITIONS_OPEN = bytes(`${BACKEND_TRANSITIONS}{backend="`)

/** `",from="...",to="..."} ` by from index * STATES + to index: what follows the backend's name. */
const TRANSITION_LABELS: ReadonlyArray<Uint8Array> = STATUSES.flatMap((from) => STATUSES.map((to) => bytes(`",from="${from}",to="${to}"} `)))

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

// --- series ------------------------------------------------------------------------

/** One backend and check type's counts; on the main thread it is also the recorder its probe loops are given (no closure per backend). */
class ProbeSeries implements ProbeRecorder {
  /** The backend's name as written (`labelValueBytes`, shared), and the pieces of its type: found at the first scrape. */
  name: Uint8Array | undefined = undefined
  pieces: TypePieces | undefined = undefined

  constructor(readonly backend: string, readonly type: string, readonly stats: Float64Array) {}

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

interface TransitionSeries {
  readonly backend: string
  readonly counts: Float64Array
  /** The backend's name as written (`labelValueBytes`, shared): found at the first scrape. */
  name: Uint8Array | undefined
}

/** Room for 16 more digits after a block (~1.5 % of a histogram's, 600 KB at 10,000 backends). */
const BLOCK_SLACK = 16

/**
 * What the scrape worker keeps of a family between renders (Exposition's
 * `Blocks`): by series index, its lines as last written (`lines`; a
 * histogram's whole: its buckets, `_sum` and `_count`), and the field
 * each value is written in (`widths`, `stride` per series; for counters,
 * how many lines, then each one's slot and field; for a histogram, each
 * bucket's, then its sum's): its digits right-aligned, with `FIELD_ROOM`
 * blanks before them when written (Exposition's `fieldOf`). A render copies
 * a series' block and writes the values' digits over the old ones, a count
 * that gained a digit or two with them; a series whose values no longer fit
 * (a value outgrew its field, a line more or less) is written the long way,
 * with room again, and its block made again.
 */
class Kept {
  readonly lines: Array<Uint8Array | undefined> = []
  /** Series written the long way while keeping blocks (diagnostics, tests): made, or made again. */
  written = 0
  widths: Uint8Array
  /** Each block's room (its length when made and its slack), by series. */
  rooms: Int32Array

  constructor(readonly blocks: Blocks, readonly stride: number) {
    this.widths = new Uint8Array(stride * 1024)
    this.rooms = new Int32Array(1024)
  }

  /** Series `i`'s widths start here (room made, and a place in the lists of blocks). */
  widthsAt(i: number): number {
    // Up to `i` (not a hole-y list: a series with no line yet keeps no block, and a list grown past holes may turn
    // into a dictionary).
    while (this.lines.length <= i) this.lines.push(undefined)
    const o = i * this.stride
    if (o + this.stride > this.widths.length) {
      const next = new Uint8Array(Math.max(this.widths.length * 2, o + this.stride))
      next.set(this.widths)
      this.widths = next
    }
    if (i + 1 > this.rooms.length) {
      const next = new Int32Array(Math.max(this.rooms.length * 2, i + 1))
      next.set(this.rooms)
      this.rooms = next
    }
    return o
  }

  /** Series `i`'s block made again from what was just written. */
  keep(i: number, bytes: Uint8Array): void {
    this.lines[i] = this.place(this.lines[i], i, bytes)
  }

  /** Series `i` keeps no block (written the long way while it has none). */
  forget(i: number): void {
    this.blocks.drop(this.lines[i], this.rooms[i])
    this.lines[i] = undefined
  }

  /**
   * `bytes` as the block after `old`: where `old` was if they fit in its
   * room (a value's digit more: no dead bytes, no new chunk, while young
   * counts gain digits often), else a new block with room to grow.
   */
  private place(old: Uint8Array | undefined, r: number, bytes: Uint8Array): Uint8Array {
    if (old !== undefined && bytes.length <= this.rooms[r]!) {
      const block = new Uint8Array(old.buffer, old.byteOffset, bytes.length)
      block.set(bytes)
      return block
    }
    this.blocks.drop(old, this.rooms[r])
    this.rooms[r] = bytes.length + BLOCK_SLACK
    return this.blocks.keep(bytes, BLOCK_SLACK)
  }

  /** Every block dropped (the store's blocks are reset). */
  clear(): void {
    this.lines.length = 0
  }
}

/**
 * A counter series of `slots` counts (`stats` from `from`), a line per count
 * that is not 0, each `open` + the backend's name + `labels[slot]` + value.
 * From its block if it has one that fits: its lines' slots and widths are
 * kept (`widths`: how many, then slot and width for each), and only those
 * counts are read, their sum checked against `stats[total]`, which the
 * recording thread counts first (so it is never below the sum of every
 * count): equal, no other count is above 0 and the block has every line
 * (26 or 36 counts, most of them 0, not read each time). Else the long way,
 * the lines after the first copying their start from it (one move instead of
 * two), and its block made. Each count is read once (another thread may be
 * counting).
 */
const writeCounts = (
  w: Writer,
  open: Uint8Array,
  name: Uint8Array,
  labels: ReadonlyArray<Uint8Array>,
  stats: Float64Array,
  from: number,
  slots: number,
  total: number,
  kept: Kept | undefined,
  i: number
): void => {
  const prefix = open.length + name.length
  const block = kept?.lines[i]
  if (block !== undefined) {
    const lines = kept!.widths
    const o = i * kept!.stride
    const n = lines[o]!
    const start = w.copy(block)
    let pos = start
    let sum = 0
    let k = 0
    for (; k < n; k++) {
      const slot = lines[o + 1 + 2 * k]!
      const width = lines[o + 2 + 2 * k]!
      const v = stats[from + slot]!
      pos += prefix + labels[slot]!.length
      if (!w.patchField(pos, width, v)) break
      sum += v
      pos += width + 1
    }
    if (k === n && sum === stats[total]) return
    w.truncate(start)
  }
  const o = kept === undefined ? 0 : kept.widthsAt(i)
  const start = w.length
  let at = -1
  let n = 0
  for (let slot = 0; slot < slots; slot++) {
    const v = stats[from + slot]!
    if (v === 0) continue
    // In process, the digits alone; kept, in a field with room to grow.
    let field = 0
    if (kept !== undefined) {
      field = fieldOf(uintWidth(v))
      kept.widths[o + 1 + 2 * n] = slot
      kept.widths[o + 2 + 2 * n] = field
    }
    n++
    if (at < 0) at = w.line3At(open, name, labels[slot]!, v, field)
    else w.lineAgain(at, prefix, labels[slot]!, v, field)
  }
  if (kept !== undefined && at >= 0) {
    kept.widths[o] = n
    kept.written++
    kept.keep(i, w.view(start, w.length))
  }
}

const writeProbeTotal = (w: Writer, s: ProbeSeries, kept: Kept | undefined, i: number): void => {
  const name = (s.name ??= labelValueBytes(s.backend))
  const pieces = (s.pieces ??= piecesOf(s.type))
  writeCounts(w, TOTAL_OPEN, name, pieces.codes, s.stats, CODE0, CODES * 2, COUNT, kept, i)
}

const writeTransitions = (w: Writer, s: TransitionSeries, kept: Kept | undefined, i: number): void => {
  // The name found once (a lookup by name per render was 5 % of the store's families).
  const name = (s.name ??= labelValueBytes(s.backend))
  writeCounts(w, TRANSITIONS_OPEN, name, TRANSITION_LABELS, s.counts, 0, TRANSITION_SLOTS, TRANSITION_TOTAL, kept, i)
}

/** A histogram's widths: a bucket's each (the `+Inf` one is also `_count`'s), then `_sum`'s. */
const SUM_WIDTH = BUCKETS + 1
const HISTOGRAM_STRIDE = BUCKETS + 2

/**
 * A histogram: the bucket lines, cumulative, `_sum` (seconds with six
 * decimals: Exposition's `toMicros`, whose width changes only when its whole
 * seconds gain a digit) and `_count`; from its block when every value fits
 * its field, else the long way (kept: each value in a field with room to
 * grow), the bucket lines after the first copying their start from it, and
 * its block made. `_count` is the `+Inf` bucket (the
 * cumulative sum of the buckets as read), not the count slot: the same once
 * a recording is done, and consistent while another thread records.
 */
const writeProbeDuration = (w: Writer, s: ProbeSeries, kept: Kept | undefined, i: number): void => {
  const stats = s.stats
  if (stats[COUNT] === 0) return
  const name = (s.name ??= labelValueBytes(s.backend))
  const pieces = (s.pieces ??= piecesOf(s.type))
  const start = BUCKET_OPEN.length + name.length
  const sum = stats[SUM]!
  const micros = toMicros(sum)
  const block = kept?.lines[i]
  if (block !== undefined) {
    const widths = kept!.widths
    const o = i * HISTOGRAM_STRIDE
    const at = w.copy(block)
    let pos = at
    let cumulative = 0
    let b = 0
    for (; b <= BUCKETS; b++) {
      cumulative += stats[BUCKET0 + b]!
      pos += start + pieces.le[b]!.length
      const width = widths[o + b]!
      if (!w.patchField(pos, width, cumulative)) break
      pos += width + 1
    }
    if (b > BUCKETS) {
      const close = name.length + pieces.close.length
      pos += SUM_OPEN.length + close
      const width = widths[o + SUM_WIDTH]!
      // The count's field is the +Inf bucket's: the same value.
      if (w.patchMicros(pos, width, micros) && w.patchField(pos + width + 1 + COUNT_OPEN.length + close, widths[o + BUCKETS]!, cumulative)) return
    }
    w.truncate(at)
  }
  // In process, the digits alone; kept, each value in a field with room to grow (the count in the +Inf bucket's).
  // (widthsAt may grow the widths: they are read after it.)
  const o = kept === undefined ? 0 : kept.widthsAt(i)
  const widths = kept === undefined ? undefined : kept.widths
  let cumulative = stats[BUCKET0]!
  let field = widths === undefined ? 0 : (widths[o] = fieldOf(uintWidth(cumulative)))
  const at = w.line3At(BUCKET_OPEN, name, pieces.le[0]!, cumulative, field)
  for (let b = 1; b <= BUCKETS; b++) {
    cumulative += stats[BUCKET0 + b]!
    if (widths !== undefined) field = widths[o + b] = fieldOf(uintWidth(cumulative))
    w.lineAgain(at, start, pieces.le[b]!, cumulative, field)
  }
  const sumField = kept === undefined || Number.isNaN(micros) ? 0 : fieldOf(microsWidth(micros))
  w.microsLine(SUM_OPEN, name, pieces.close, micros, sum, sumField)
  w.line3(COUNT_OPEN, name, pieces.close, cumulative, field)
  if (kept === undefined) return
  kept.written++
  // A sum with no such form keeps no block: written the long way.
  if (Number.isNaN(micros)) return kept.forget(i)
  kept.widths[o + SUM_WIDTH] = sumField
  kept.keep(i, w.view(at, w.length))
}

/** A new series, as told to a replica: which kind, whose, and where its slots are. */
export interface SeriesEntry {
  readonly kind: "probe" | "transition"
  readonly backend: string
  /** The check type (probe series; "" for transitions). */
  readonly type: string
  readonly slab: number
  readonly offset: number
}

/** What a replica needs to catch up: the slabs and series made since its last update (`exportSince`). */
export interface Update {
  /** The index of the first slab in `slabs`. */
  readonly firstSlab: number
  readonly slabs: ReadonlyArray<SharedArrayBuffer>
  readonly entries: ReadonlyArray<SeriesEntry>
}

/** How far an update went: the slabs and entries a replica has. */
export interface Mark {
  readonly slabs: number
  readonly entries: number
}

/** The series in order of creation, and the families they make. */
class Series {
  readonly probes: Array<ProbeSeries> = []
  readonly transitions: Array<TransitionSeries> = []

  /**
   * The probe families over the series that exist now, one unit per backend
   * and check type, and the transition family, one unit per backend. The
   * lists only grow: a render reads the first `size` series in place (no
   * copy of the list per scrape). `kept`: the families' blocks (the scrape
   * worker's; none in process).
   */
  sources(kept?: { readonly total: Kept; readonly duration: Kept; readonly transitions: Kept }): ReadonlyArray<Source> {
    const probes = this.probes
    const transitions = this.transitions
    return [
      {
        name: PROBE_TOTAL,
        help: "Health-check probes completed, by backend, check type, result (success or failure) and HAProxy-style code.",
        type: "counter",
        size: probes.length,
        write: (w, i) => writeProbeTotal(w, probes[i]!, kept?.total, i)
      },
      {
        name: PROBE_DURATION,
        help: "Health-check probe duration in seconds, by backend and check type.",
        type: "histogram",
        size: probes.length,
        write: (w, i) => writeProbeDuration(w, probes[i]!, kept?.duration, i)
      },
      {
        name: BACKEND_TRANSITIONS,
        help: "Backend state transitions, by backend, previous state and new state.",
        type: "counter",
        size: transitions.length,
        // Totals only grow: the same series and the same sum of totals, the same counts (a transition is rare; a
        // render then sends the family's bytes of the last render that wrote it). None while a transition is half
        // counted: its lines, written meanwhile, may miss its count, and must not be kept under the new total.
        version: kept === undefined ? undefined : versionOf(transitions),
        write: (w, i) => writeTransitions(w, transitions[i]!, kept?.transitions, i)
      }
    ]
  }
}

/**
 * The transition family's version: the number of series and the sum of their
 * totals (a transition counts its total first, so it moves before any count
 * does), or none while a transition is half counted (a series' total counted
 * last, read first, below its total counted first). With a version, no
 * transition was half counted when it was read, and one counted after it
 * moves the total: the lines written from then on are of that version or
 * are never sent again as it.
 */
const versionOf = (transitions: ReadonlyArray<TransitionSeries>): ReadonlyArray<number> | undefined => {
  let total = 0
  let done = 0
  for (let i = 0; i < transitions.length; i++) {
    const c = transitions[i]!.counts
    done += c[TRANSITION_DONE]!
    total += c[TRANSITION_TOTAL]!
  }
  return done === total ? [transitions.length, total] : undefined
}

/** The names of the families the store writes (a replica's renderer leaves the main thread's of these names out). */
export const FAMILIES: ReadonlyArray<string> = [PROBE_TOTAL, PROBE_DURATION, BACKEND_TRANSITIONS]

// --- the process's store (main thread) ---------------------------------------------------

/** Slots per slab: 512 KiB, ~1,200 probe series. */
const SLAB_SLOTS = 64 * 1024

const slabs: Array<SharedArrayBuffer> = []
let slabUsed = SLAB_SLOTS
const entries: Array<SeriesEntry> = []
const store = new Series()
const probesByKey = new Map<string, ProbeSeries>()
const transitionsByBackend = new Map<string, TransitionSeries>()

/** `n` zeroed slots in a slab, and where they are. */
const allocate = (n: number): { readonly slab: number; readonly offset: number; readonly view: Float64Array } => {
  if (slabUsed + n > SLAB_SLOTS) {
    slabs.push(new SharedArrayBuffer(SLAB_SLOTS * 8))
    slabUsed = 0
  }
  const slab = slabs.length - 1
  const offset = slabUsed
  slabUsed += n
  return { slab, offset, view: new Float64Array(slabs[slab]!, offset * 8, n) }
}

const probeSeriesOf = (backend: string, type: string): ProbeSeries => {
  const key = `${backend}\u0000${type}`
  let s = probesByKey.get(key)
  if (s === undefined) {
    const { offset, slab, view } = allocate(PROBE_SLOTS)
    s = new ProbeSeries(backend, type, view)
    probesByKey.set(key, s)
    store.probes.push(s)
    entries.push({ kind: "probe", backend, type, slab, offset })
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
  const s = probesByKey.get(`${backend}\u0000${type}`)
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

/** Counts one transition, now. */
export const countTransition = (backend: string, from: HealthStatus, to: HealthStatus): void => {
  for (const store of transitionStores(backend, from, to)) store()
}

/**
 * The stores that count one transition, in order (`countTransition` makes
 * them all at once; a test, one at a time, to render between two): its total,
 * its count, its total again (`TRANSITION_DONE`).
 */
export const transitionStores = (backend: string, from: HealthStatus, to: HealthStatus): ReadonlyArray<() => void> => {
  let s = transitionsByBackend.get(backend)
  if (s === undefined) {
    const { offset, slab, view } = allocate(TRANSITION_SERIES_SLOTS)
    s = { backend, counts: view, name: undefined }
    transitionsByBackend.set(backend, s)
    store.transitions.push(s)
    entries.push({ kind: "transition", backend, type: "", slab, offset })
  }
  // The total first: a render that reads a series' counts and then its total finds the total at least their sum.
  // The total again last: a render that reads it below the total keeps no version of the family (`versionOf`).
  const counts = s.counts
  return [
    () => void (counts[TRANSITION_TOTAL]! += 1),
    () => void (counts[stateIndex[from] * STATES + stateIndex[to]]! += 1),
    () => void (counts[TRANSITION_DONE]! += 1)
  ]
}

/** Transitions counted from `from` to `to` for a backend (for tests and diagnostics). */
export const transitionCount = (backend: string, from: HealthStatus, to: HealthStatus): number =>
  transitionsByBackend.get(backend)?.counts[stateIndex[from] * STATES + stateIndex[to]] ?? 0

/** The store's families (see `Series.sources`). */
export const sources = (): ReadonlyArray<Source> => store.sources()

/** Where the store is now, for the next `exportSince`. */
export const mark = (): Mark => ({ slabs: slabs.length, entries: entries.length })

/** The slabs and series made since `from` (a replica's last mark); nothing copied but the new entries' list. */
export const exportSince = (from: Mark): Update => ({
  firstSlab: from.slabs,
  slabs: slabs.slice(from.slabs),
  entries: entries.slice(from.entries)
})

/** Series made since `from` and not yet exported. */
export const pending = (from: Mark): number => entries.length - from.entries

/**
 * At most `limit` of the series made since `from` (and every new slab), and
 * the mark after them: a replica told of 20,000 series in slices (a message
 * of 20,000 entries took ~3-15 ms of this thread to clone), in order.
 */
export const exportNext = (from: Mark, limit: number): { readonly update: Update; readonly mark: Mark } => {
  const end = Math.min(entries.length, from.entries + limit)
  return {
    update: { firstSlab: from.slabs, slabs: slabs.slice(from.slabs), entries: entries.slice(from.entries, end) },
    mark: { slabs: slabs.length, entries: end }
  }
}

// --- a replica (the scrape worker) ------------------------------------------------------------

/** The store as another thread sees it: the same slots, the series told by updates in order. */
export class Replica {
  private readonly slabs: Array<SharedArrayBuffer> = []
  private readonly series = new Series()

  apply(update: Update): void {
    for (let i = 0; i < update.slabs.length; i++) this.slabs[update.firstSlab + i] = update.slabs[i]!
    for (const e of update.entries) {
      const slab = this.slabs[e.slab]
      if (slab === undefined) throw new Error(`metric store update: series of ${e.backend} in slab ${e.slab}, which no update brought`)
      if (e.kind === "probe") this.series.probes.push(new ProbeSeries(e.backend, e.type, new Float64Array(slab, e.offset * 8, PROBE_SLOTS)))
      else this.series.transitions.push({ backend: e.backend, counts: new Float64Array(slab, e.offset * 8, TRANSITION_SERIES_SLOTS), name: undefined })
    }
  }

  /**
   * The series' lines as last written, kept between renders (~the store's
   * share of a body: 12 MB at 10,000 backends): a render copies a series'
   * block and writes its values' digits over the old ones, one move a series
   * instead of two or three a line.
   */
  private readonly blocks = new Blocks()
  private readonly kept = {
    total: new Kept(this.blocks, 1 + 2 * CODES * 2),
    duration: new Kept(this.blocks, HISTOGRAM_STRIDE),
    transitions: new Kept(this.blocks, 1 + 2 * TRANSITION_SLOTS)
  }

  sources(): ReadonlyArray<Source> {
    if (this.blocks.stale()) {
      this.kept.total.clear()
      this.kept.duration.clear()
      this.kept.transitions.clear()
      this.blocks.reset()
    }
    return this.series.sources(this.kept)
  }

  /** Series told so far, probe and transition. */
  get seriesCount(): number {
    return this.series.probes.length + this.series.transitions.length
  }

  /** Bytes of blocks kept (diagnostics, tests). */
  get keptBytes(): number {
    return this.blocks.bytes
  }

  /** Series written the long way so far (their blocks made or made again; diagnostics, tests). */
  get written(): number {
    return this.kept.total.written + this.kept.duration.written + this.kept.transitions.written
  }
}
