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
import { Blocks, bytes, labelValueBytes, type Source, uintWidth, type Writer } from "./Exposition.js"

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
 * configuration: encoded row starts, each backend's encoded name once
 * written, and (the scrape worker's) each backend's lines as last written
 * (`Kept`).
 */
export interface Layout {
  readonly data: LayoutData
  readonly rows: ReadonlyArray<Uint8Array>
  readonly labels: Array<Uint8Array | undefined>
  readonly kept: Kept | undefined
}

/**
 * A backend's lines of each family as last written, by its position in the
 * layout (Exposition's `Blocks`): a render copies them in one move and
 * writes the values' digits over the old ones (a state line's 0 or 1, the
 * health counter), instead of two or three pieces and the digits per line.
 * ~0.4 KB per backend.
 */
interface Kept {
  readonly blocks: Blocks
  readonly state: Array<Uint8Array | undefined>
  readonly health: Array<Uint8Array | undefined>
  readonly enabled: Array<Uint8Array | undefined>
  /** The width of the value in each one-line block, by position. */
  readonly healthWidths: Uint8Array
  readonly enabledWidths: Uint8Array
}

/** `keep`: the backends' lines kept between renders (the scrape worker, which renders every scrape of this layout). */
export const layout = (data: LayoutData, keep = false): Layout => ({
  data,
  rows: data.rows.map(bytes),
  labels: new Array(data.names.length).fill(undefined),
  kept: keep
    ? {
      blocks: new Blocks(),
      // Filled with undefined: written by position, not always in order (a hole-y array may turn into a dictionary).
      state: new Array<Uint8Array | undefined>(data.names.length).fill(undefined),
      health: new Array<Uint8Array | undefined>(data.names.length).fill(undefined),
      enabled: new Array<Uint8Array | undefined>(data.names.length).fill(undefined),
      healthWidths: new Uint8Array(data.names.length),
      enabledWidths: new Uint8Array(data.names.length)
    }
    : undefined
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

/** A one-line block (a value of `width` digits, then a newline) with `v` written over: false if it does not fit. */
const patchedLine = (w: Writer, block: Uint8Array, width: number, v: number): boolean => {
  const at = w.copy(block)
  if (w.patchUint(at + block.length - 1 - width, width, v)) return true
  w.truncate(at)
  return false
}

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
  const kept = l.kept
  /** A one-line family's line of backend `i`, from its block (`blocks`, by layout position) when kept. */
  const oneLine = (w: Writer, blocks: Array<Uint8Array | undefined> | undefined, widths: Uint8Array | undefined, open: Uint8Array, i: number, v: number) => {
    const at = c.at[i]!
    const block = blocks === undefined || at < 0 ? undefined : blocks[at]
    if (block !== undefined && patchedLine(w, block, widths![at]!, v)) return
    const start = w.length
    w.line3(open, label(i), QUOTE_CLOSE, v)
    if (blocks !== undefined && at >= 0) {
      kept!.blocks.drop(block)
      blocks[at] = kept!.blocks.keep(w.view(start, w.length))
      widths![at] = uintWidth(v)
    }
  }
  if (kept?.blocks.stale()) {
    kept.state.fill(undefined)
    kept.health.fill(undefined)
    kept.enabled.fill(undefined)
    kept.blocks.reset()
  }
  return [
    {
      name: "maglev_backend_state",
      help: `Backend state: 1 on the series of the current state, 0 on the others (${STATUSES.join(", ")}).`,
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.status],
      // Six lines a backend: from its block when kept (the six values are one digit each: written over), else the
      // lines after the first copying their start from it.
      write: (w, i) => {
        const status = c.status[i]!
        const at = c.at[i]!
        const block = kept === undefined || at < 0 ? undefined : kept.state[at]
        if (block !== undefined) {
          const start = w.copy(block)
          let pos = start + STATE_OPEN.length + l.labels[at]!.length
          for (let k = 0; k < STATUSES.length; k++) {
            pos += STATE_LABELS[k]!.length
            w.patchUint(pos, 1, status === k ? 1 : 0)
            pos += STATE_OPEN.length + l.labels[at]!.length + 2
          }
          return
        }
        const name = label(i)
        const start = w.line3At(STATE_OPEN, name, STATE_LABELS[0]!, status === 0 ? 1 : 0)
        for (let k = 1; k < STATUSES.length; k++) w.lineAgain(start, STATE_OPEN.length + name.length, STATE_LABELS[k]!, status === k ? 1 : 0)
        if (kept !== undefined && at >= 0) kept.state[at] = kept.blocks.keep(w.view(start, w.length))
      }
    },
    {
      name: "maglev_backend_health",
      help: "Backend health counter (HAProxy model): 0..rise+fall-1, up at rise or above.",
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.counter],
      write: (w, i) => oneLine(w, kept?.health, kept?.healthWidths, HEALTH_OPEN, i, c.counter[i]!)
    },
    {
      name: "maglev_backend_enabled",
      help: "1 unless the backend is disabled.",
      type: "gauge",
      size: count,
      version: [l, c.at, c.removed, c.status],
      write: (w, i) => oneLine(w, kept?.enabled, kept?.enabledWidths, ENABLED_OPEN, i, c.status[i] === DISABLED ? 0 : 1)
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
