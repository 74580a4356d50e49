/**
 * The per-backend gauges read at scrape time (`maglev_backend_state`,
 * `_health`, `_enabled`, `maglev_frontend_pool_backend_weight`) as columns
 * of numbers over a configuration's layout, and how they are written. No
 * Effect here: the scrape worker writes them too.
 *
 * Gauges.ts reads the services and fills the columns (a status index and a
 * health counter per backend, a weight per pool row): a few arrays, cheap
 * to make and to hand to another thread. The text of those lines (~5 MB at
 * 10,000 backends) is written by whoever renders, from the layout: the
 * configuration's backend names in file order and its pool rows' line
 * starts, made once per configuration (and sent to the scrape worker once).
 */
import { STATUSES } from "../health/HealthState.js"
import { bytes, labelValueBytes, sameValues, type Source, uintWidth, type Writer } from "./Exposition.js"

/** What a configuration's families need on every scrape, as plain data (another thread can have it). */
export interface LayoutData {
  /** Which configuration (a number the main thread gives each). */
  readonly key: number
  /** Its backends, in file order. */
  readonly names: ReadonlyArray<string>
  /** Every pool row's line start, frontend by frontend, pool by pool, member by member: `maglev_frontend_pool_backend_weight{frontend=...,pool=...,backend="..."} `. */
  readonly rows: ReadonlyArray<string>
}

/**
 * A layout with what a render makes of it, kept as long as the
 * configuration: encoded row starts, and each backend's encoded name once
 * written.
 */
export interface Layout {
  readonly data: LayoutData
  readonly rows: ReadonlyArray<Uint8Array>
  /** Each backend's encoded label value, by position, once written. */
  readonly labels: Array<Uint8Array | undefined>
  /**
   * The scrape worker's: its per-backend families are kept between renders
   * (Merge's `Families`), so they say where each backend's lines start
   * (`Source.marks`) and can be written from their last bytes with the
   * values that changed written over (`Source.patch`).
   */
  readonly keep: boolean
}

/** `keep`: the scrape worker's (its renders keep the families, see `Layout.keep`). */
export const layout = (data: LayoutData, keep = false): Layout => ({
  data,
  rows: data.rows.map(bytes),
  labels: new Array(data.names.length).fill(undefined),
  keep
})

/** One scrape's values over a layout. */
export interface Columns {
  readonly layout: number
  /** The backends in the order written: each one's position in the layout, -1 for one a reload removed (named in `removed`, in order). */
  readonly at: Int32Array
  readonly removed: ReadonlyArray<string>
  /** Per backend written: its status's index in `STATUSES`, its health counter. */
  readonly status: Uint8Array
  readonly counter: Float64Array
  /** Per pool row of the layout: the effective weight. */
  readonly weights: Float64Array
}

/**
 * The buffers of `c`'s arrays that can be transferred to another thread
 * (postMessage's transfer list) instead of cloned: each a whole
 * `ArrayBuffer` of its own, not empty (nor detached), not shared; the
 * others are cloned. Transferred, they are detached on this side (length
 * 0): nothing may read them here afterwards.
 */
export const transferable = (c: Columns): Array<ArrayBuffer> => {
  const out: Array<ArrayBuffer> = []
  for (const a of [c.at, c.status, c.counter, c.weights]) {
    const b = a.buffer
    if (b instanceof ArrayBuffer && a.byteLength > 0 && a.byteOffset === 0 && a.byteLength === b.byteLength && !out.includes(b)) out.push(b)
  }
  return out
}

/** `spare` (an array given back, see `transferable`) if it has `length` elements (so not detached); else a new one. */
export const reuse = <A extends Int32Array | Uint8Array | Float64Array>(spare: A | undefined, length: number, make: (n: number) => A): A =>
  spare !== undefined && length > 0 && spare.length === length ? spare : make(length)

const STATE_OPEN = bytes("maglev_backend_state{backend=\"")
/** `",state="..."} ` by status index. */
const STATE_LABELS: ReadonlyArray<Uint8Array> = STATUSES.map((st) => bytes(`",state="${st}"} `))
const HEALTH_OPEN = bytes("maglev_backend_health{backend=\"")
const ENABLED_OPEN = bytes("maglev_backend_enabled{backend=\"")
const QUOTE_CLOSE = bytes("\"} ")
const NOTHING = new Uint8Array(0)
const DISABLED = STATUSES.indexOf("disabled")

/** The families these columns make (the main thread's part leaves them out when the worker writes them). */
export const FAMILIES: ReadonlyArray<string> = [
  "maglev_backend_state",
  "maglev_backend_health",
  "maglev_backend_enabled",
  "maglev_frontend_pool_backend_weight"
]

/** The families of one scrape's columns; backend names are encoded as they are first written. */
export const sources = (l: Layout, c: Columns): ReadonlyArray<Source> => {
  const count = c.at.length
  // The removed backends' positions among the written ones: they come last, in `removed`'s order.
  const firstRemoved = count - c.removed.length
  const label = (i: number): Uint8Array => {
    const at = c.at[i]!
    if (at < 0) return labelValueBytes(c.removed[i - firstRemoved]!)
    let name = l.labels[at]
    if (name === undefined) {
      name = labelValueBytes(l.data.names[at]!)
      l.labels[at] = name
    }
    return name
  }
  /**
   * Where each backend's lines start in a family written whole (`Source.marks`; the scrape worker's only): made by
   * the family's first unit, filled as it is written.
   */
  const marker = () => {
    let marks: Int32Array | undefined
    return {
      mark: (w: Writer, i: number) => {
        if (i === 0 || marks === undefined) marks = new Int32Array(count)
        marks[i] = w.length
      },
      marks: () => marks
    }
  }
  /**
   * A version of the same backends as `old`'s (the same layout, positions and removed names: each backend at the
   * same place in the bytes, its name of the same length), whose values are its fourth element.
   */
  const sameBackends = (old: ReadonlyArray<unknown>): boolean =>
    old[0] === l && sameValues([old[1], old[2]], [c.at, c.removed])
  /**
   * A one-line family from its last bytes: the lines whose value changed written over (`value` old and new, of the
   * same width), false if one's width changed.
   */
  const patchLines = (w: Writer, old: Uint8Array, marks: Int32Array, open: Uint8Array, value: (i: number) => number, was: (i: number) => number): boolean => {
    const at = w.copy(old)
    for (let i = 0; i < count; i++) {
      const v = value(i)
      const before = was(i)
      if (v === before) continue
      if (!Number.isSafeInteger(before) || before < 0) return false
      if (!w.patchUint(at + marks[i]! + open.length + label(i).length + QUOTE_CLOSE.length, uintWidth(before), v)) return false
    }
    return true
  }
  const state = marker()
  const health = marker()
  const enabled = marker()
  const keep = l.keep
  return [
    {
      name: "maglev_backend_state",
      help: `Backend state: 1 on the series of the current state, 0 on the others (${STATUSES.join(", ")}).`,
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.status],
      // Six lines a backend, the lines after the first copying their start from it.
      write: (w, i) => {
        if (keep) state.mark(w, i)
        const status = c.status[i]!
        const name = label(i)
        const start = w.line3At(STATE_OPEN, name, STATE_LABELS[0]!, status === 0 ? 1 : 0)
        for (let k = 1; k < STATUSES.length; k++) w.lineAgain(start, STATE_OPEN.length + name.length, STATE_LABELS[k]!, status === k ? 1 : 0)
      },
      marks: state.marks,
      // A backend whose status changed: its old state's line and its new one's written over (one digit each).
      patch: (w, old, version, marks) => {
        if (!sameBackends(version)) return false
        const was = version[3] as Uint8Array
        const at = w.copy(old)
        for (let i = 0; i < count; i++) {
          const before = was[i]!
          const now = c.status[i]!
          if (before === now) continue
          const prefix = STATE_OPEN.length + label(i).length
          let pos = at + marks[i]! + prefix
          for (let k = 0; k < STATUSES.length; k++) {
            pos += STATE_LABELS[k]!.length
            if (k === before || k === now) w.patchUint(pos, 1, now === k ? 1 : 0)
            pos += 2 + prefix
          }
        }
        return true
      }
    },
    {
      name: "maglev_backend_health",
      help: "Backend health counter (HAProxy model): 0..rise+fall-1, up at rise or above.",
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.counter],
      write: (w, i) => {
        if (keep) health.mark(w, i)
        w.line3(HEALTH_OPEN, label(i), QUOTE_CLOSE, c.counter[i]!)
      },
      marks: health.marks,
      patch: (w, old, version, marks) => {
        if (!sameBackends(version)) return false
        const was = version[3] as Float64Array
        return patchLines(w, old, marks, HEALTH_OPEN, (i) => c.counter[i]!, (i) => was[i]!)
      }
    },
    {
      name: "maglev_backend_enabled",
      help: "1 unless the backend is disabled.",
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.status],
      write: (w, i) => {
        if (keep) enabled.mark(w, i)
        w.line3(ENABLED_OPEN, label(i), QUOTE_CLOSE, c.status[i] === DISABLED ? 0 : 1)
      },
      marks: enabled.marks,
      patch: (w, old, version, marks) => {
        if (!sameBackends(version)) return false
        const was = version[3] as Uint8Array
        return patchLines(w, old, marks, ENABLED_OPEN, (i) => (c.status[i] === DISABLED ? 0 : 1), (i) => (was[i] === DISABLED ? 0 : 1))
      }
    },
    {
      name: "maglev_frontend_pool_backend_weight",
      // What the desired state (Desired.ts, `desiredVip`) asks VPP for through a pool's row: in the frontend's active pool, an up
      // backend's weight there; 0 on every other row (Gauges.ts computes it).
      help: "Effective weight asked of VPP for the backend through this pool: its weight in the active pool while up, else 0.",
      type: "gauge",
      size: c.weights.length,
      version: [l, c.weights],
      write: (w, i) => w.line(l.rows[i]!, NOTHING, c.weights[i]!)
    }
  ]
}
