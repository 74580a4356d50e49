/**
 * The metrics read from the daemon's services at scrape time: backend state,
 * HAProxy counter and enabled flag, effective pool weights, the VPP
 * connection, the lb plugin's per-VIP packet counters and its flows per AS.
 *
 * They are built fresh from one snapshot on every scrape rather than kept in
 * Effect's registry, which never forgets a series: a backend or frontend that
 * a reload removed would otherwise be exported forever with its last value.
 * `sources` is pure (it reads the snapshot as it is written); `collect`
 * takes the snapshot.
 */
import { Effect } from "effect"
import type { Config, Pool } from "../config/Config.js"
import * as FrontendState from "../health/FrontendState.js"
import * as HealthChecker from "../health/HealthChecker.js"
import { type HealthStatus, STATUSES } from "../health/HealthState.js"
import { type AsFlows, asFlowsByFrontend } from "../lb/AsFlows.js"
import { activePool } from "../lb/Desired.js"
import * as LbSync from "../lb/LbSync.js"
import * as Panic from "../lb/Panic.js"
import * as SlowStart from "../lb/SlowStart.js"
import * as Supervisor from "../vpp/Supervisor.js"
import * as Process from "./Process.js"
import { bytes, escapeLabelValue, fromFamily, labelValueBytes, type Source } from "./Prometheus.js"

export interface Snapshot {
  readonly config: Config
  /** Every backend's health: the checker's list (`healthList`, cheap) or a map of it. */
  readonly health: HealthChecker.HealthMap | ReadonlyArray<HealthChecker.BackendHealth>
  readonly vppConnected: boolean
  /** The lb plugin's per-VIP counters by frontend (`LbSync.counters`). */
  readonly vipCounters: ReadonlyMap<string, Supervisor.VipCounters>
  /** Each frontend's ASes with their established flows (AsFlows.ts); none when absent. */
  readonly asFlows?: ReadonlyMap<string, ReadonlyArray<AsFlows>>
  /** The min-healthy guards (`LbSync.panics`); none when absent. */
  readonly panics?: ReadonlyMap<string, Panic.PanicState>
  /** The slow starts in progress (`LbSync.ramps`); none when absent. */
  readonly ramps?: SlowStart.Ramps
}

/** The `kind` label of each of the lb plugin's four per-VIP counters. */
export const VIP_COUNTER_KINDS: ReadonlyArray<readonly [Supervisor.VipCounterName, string]> = [
  ["nextPacket", "next"],
  ["firstPacket", "first"],
  ["untrackedPacket", "untracked"],
  ["noServer", "no_server"]
]

const STATE_OPEN = bytes("maglev_backend_state{backend=\"")
/** `",state="..."} ` by status index. */
const STATE_LABELS: ReadonlyArray<Uint8Array> = STATUSES.map((st) => bytes(`",state="${st}"} `))
const HEALTH_OPEN = bytes("maglev_backend_health{backend=\"")
const ENABLED_OPEN = bytes("maglev_backend_enabled{backend=\"")
const QUOTE_CLOSE = bytes("\"} ")
const NOTHING = new Uint8Array(0)

/**
 * What a configuration's families need on every scrape, made once per
 * configuration (a reload makes a new one): its backends in file order, and
 * every pool row's line prefix and backend. A scrape then finds each backend
 * by position: at 10,000 backends a lookup by name per series (tens of
 * thousands of `Map.get`s of strings cut from the YAML text, which hash
 * slowly) was a fifth of a render. What is per backend (its escaped name) is
 * made as the render writes it, in the render's slices: made all at once,
 * the first scrape held the event loop for 0.3-0.5 s at 10,000 backends
 * before its first slice.
 */
interface Layout {
  readonly names: ReadonlyArray<string>
  readonly index: ReadonlyMap<string, number>
  /** Each backend's name, escaped and encoded, once written (see `labelAt`). */
  readonly labels: Array<Uint8Array | undefined>
  /** Per frontend, per pool, per member: `maglev_frontend_pool_backend_weight{frontend=...,pool=...,backend="..."} ` and the backend's position. */
  readonly rows: ReadonlyArray<ReadonlyArray<ReadonlyArray<{ readonly open: Uint8Array; readonly backend: number }>>>
}

const layouts = new WeakMap<Config, Layout>()

const layoutOf = (config: Config): Layout => {
  let layout = layouts.get(config)
  if (layout !== undefined) return layout
  const names = [...config.backends.keys()]
  const index = new Map(names.map((n, i) => [n, i]))
  const rows = [...config.frontends.values()].map((f) =>
    f.pools.map((p) => {
      const open = `maglev_frontend_pool_backend_weight{frontend="${escapeLabelValue(f.name)}",pool="${escapeLabelValue(p.name)}",backend="`
      // A validated configuration's pools name only backends it defines.
      return p.backends.map((m) => ({ open: bytes(`${open}${escapeLabelValue(m.backend)}"} `), backend: index.get(m.backend) ?? -1 }))
    })
  )
  layout = { names, index, labels: new Array(names.length).fill(undefined), rows }
  layouts.set(config, layout)
  return layout
}

/**
 * The backends of a snapshot, in the order they are written: each one's
 * health and its position in the layout (-1: a reload removed it). Two
 * arrays rather than an object per backend: a scrape at 10,000 backends made
 * 10,000 of them, live for the whole render.
 */
interface Rows {
  readonly length: number
  readonly health: ReadonlyArray<HealthChecker.BackendHealth>
  readonly at: Int32Array
}

const labelAt = (layout: Layout, rows: Rows, i: number): Uint8Array => {
  const at = rows.at[i]!
  if (at < 0) return labelValueBytes(rows.health[i]!.name)
  let label = layout.labels[at]
  if (label === undefined) {
    label = labelValueBytes(rows.health[i]!.name)
    layout.labels[at] = label
  }
  return label
}

/**
 * The backends of a snapshot: the configured ones the checker knows, in file
 * order, then those a reload removed (it still reports them); and a status
 * by name, for the frontends' rules.
 */
const backendsInOrder = (s: Snapshot) => {
  const layout = layoutOf(s.config)
  const known: Array<HealthChecker.BackendHealth | undefined> = new Array(layout.names.length).fill(undefined)
  const removed: Array<HealthChecker.BackendHealth> = []
  const place = (h: HealthChecker.BackendHealth) => {
    const i = layout.index.get(h.name)
    if (i === undefined) removed.push(h)
    else known[i] = h
  }
  // One pass (a lookup per backend in Effect's HashMap hashes the name each time).
  if (Array.isArray(s.health)) for (const h of s.health as ReadonlyArray<HealthChecker.BackendHealth>) place(h)
  else for (const [, h] of s.health as HealthChecker.HealthMap) place(h)
  let count = removed.length
  for (let i = 0; i < known.length; i++) if (known[i] !== undefined) count++
  const health = new Array<HealthChecker.BackendHealth>(count)
  const at = new Int32Array(count)
  let n = 0
  for (let i = 0; i < known.length; i++) {
    const h = known[i]
    if (h === undefined) continue
    health[n] = h
    at[n++] = i
  }
  for (const h of removed) {
    health[n] = h
    at[n++] = -1
  }
  const rows: Rows = { length: count, health, at }
  const removedStatus = new Map(removed.map((h) => [h.name, h.status]))
  const status = (backend: string): HealthStatus | undefined => {
    const i = layout.index.get(backend)
    return i === undefined ? removedStatus.get(backend) : known[i]?.status
  }
  return { layout, known, rows, status }
}

/** A family of one gauge per backend, `{backend="..."} value`. */
const perBackend = (
  layout: Layout,
  rows: Rows,
  name: string,
  help: string,
  open: Uint8Array,
  value: (b: HealthChecker.BackendHealth) => number
): Source => ({
  name,
  help,
  type: "gauge",
  size: rows.length,
  write: (w, i) => w.line3(open, labelAt(layout, rows, i), QUOTE_CLOSE, value(rows.health[i]!))
})

/** The scrape-time families of one snapshot; the per-backend and per-frontend work is done as they are written. */
export const sources = (s: Snapshot): ReadonlyArray<Source> => sourcesOf(s, backendsInOrder(s))

const sourcesOf = (s: Snapshot, { known, layout, rows, status }: ReturnType<typeof backendsInOrder>): ReadonlyArray<Source> => {
  const frontends = [...s.config.frontends.values()]
  // A slow start's step while the backend ramps (SlowStart.ts).
  const ramps = s.ramps
  const ramped = (pool: Pool, backend: string, weight: number): number => {
    if (ramps === undefined || weight <= 1) return weight
    const start = ramps.startedAt(backend)
    return start === undefined ? weight : SlowStart.weightAt(weight, SlowStart.durationMs(s.config, pool, backend), start, ramps.now)
  }
  const packets = [...s.vipCounters]

  return [
    {
      name: "maglev_backend_state",
      help: `Backend state: 1 on the series of the current state, 0 on the others (${STATUSES.join(", ")}).`,
      type: "gauge",
      size: rows.length,
      // Six lines a backend, written each time: a block per backend kept between scrapes (10,000 buffers, 3 MB at
      // 10,000 backends) saved ~5 % of a render's CPU and cost its first render a quarter more, with half again
      // as many collections, and every major collection the marking of them.
      write: (w, i) => {
        const status = rows.health[i]!.status
        const name = labelAt(layout, rows, i)
        for (let k = 0; k < STATUSES.length; k++) w.line3(STATE_OPEN, name, STATE_LABELS[k]!, status === STATUSES[k] ? 1 : 0)
      }
    },
    perBackend(
      layout,
      rows,
      "maglev_backend_health",
      "Backend health counter (HAProxy model): 0..rise+fall-1, up at rise or above.",
      HEALTH_OPEN,
      (b) => b.counter
    ),
    perBackend(layout, rows, "maglev_backend_enabled", "1 unless the backend is disabled.", ENABLED_OPEN, (b) => (b.status === "disabled" ? 0 : 1)),
    {
      name: "maglev_frontend_pool_backend_weight",
      // What the desired state (Desired.ts, `desiredVip`) asks VPP for through a pool's row: in the frontend's active pool, an up
      // backend's weight there; 0 on every other row. The same rule as `desiredVip`'s, without building (and sorting) the
      // frontend's whole AS list per scrape.
      help: "Effective weight asked of VPP for the backend through this pool: its weight in the active pool while up, else 0.",
      type: "gauge",
      size: frontends.length,
      write: (w, i) => {
        const f = frontends[i]!
        const active = activePool(f, status)
        const rows = layout.rows[i]!
        // A frontend in panic (min-healthy) asks VPP for the weights it keeps.
        const kept = Panic.keptWeights(s.config, f, status, s.panics?.get(f.name)?.guard, s.ramps?.now)
        for (let p = 0; p < f.pools.length; p++) {
          const pool = f.pools[p]!
          const members = pool.backends
          const poolRows = rows[p]!
          for (let k = 0; k < members.length; k++) {
            const row = poolRows[k]!
            const up = active === pool && known[row.backend]?.status === "up"
            const weight = kept === undefined ? (up ? ramped(pool, members[k]!.backend, members[k]!.weight) : 0) : kept.pool === pool.name ? (kept.weights.get(members[k]!.backend) ?? 0) : 0
            w.line(row.open, NOTHING, weight)
          }
        }
      }
    },
    fromFamily({
      name: "maglev_vpp_connected",
      help: "1 while maglevd holds a connection to VPP (API and stats sockets), else 0.",
      type: "gauge",
      samples: [{ labels: [], value: s.vppConnected ? 1 : 0 }]
    }),
    fromFamily({
      name: "maglev_vip_packets_total",
      help: "Packets VPP's lb plugin counted for the frontend's VIP, by kind (next, first, untracked, no_server); reset when VPP restarts.",
      type: "counter",
      samples: packets.flatMap(([frontend, counters]) =>
        VIP_COUNTER_KINDS.map(([key, kind]) => ({ labels: [["frontend", frontend], ["kind", kind]] as const, value: counters[key] }))
      )
    }),
    fromFamily({
      name: "maglev_vip_as_flows",
      help: "Established flows VPP's lb plugin holds for the AS in the frontend's VIP (its sticky-table entries, summed over threads); backend is \"\" for an AS no backend has.",
      type: "gauge",
      samples: [...(s.asFlows ?? [])].flatMap(([frontend, ases]) =>
        ases.map((a) => ({ labels: [["frontend", frontend], ["backend", a.backend ?? ""], ["address", a.address]] as const, value: a.flows }))
      )
    })
  ]
}

/** One snapshot of the services. */
export const snapshot: Effect.Effect<Snapshot, never, HealthChecker.HealthChecker | Supervisor.VppSupervisor | LbSync.LbSync> =
  Effect.gen(function*() {
    const checker = yield* HealthChecker.HealthChecker
    const vpp = yield* Supervisor.VppSupervisor
    const sync = yield* LbSync.LbSync
    const config = yield* checker.config
    const health = yield* checker.healthList
    const state = yield* vpp.state
    const vipCounters = yield* sync.counters
    const asFlows = asFlowsByFrontend(config, yield* vpp.lbVips)
    return { config, health, vppConnected: state._tag === "Connected", vipCounters, asFlows, panics: yield* sync.panics, ramps: yield* sync.ramps }
  })

/**
 * Every scrape-time family of one snapshot: `sources`, the frontends' states
 * (FrontendState.ts) and the process's (Process.ts), over one pass of the
 * health map.
 */
export const all = (s: Snapshot): ReadonlyArray<Source> => {
  const backends = backendsInOrder(s)
  return [
    ...sourcesOf(s, backends),
    // A frontend in panic (min-healthy) is `panic`, as in the API and the frontend-transition log.
    ...FrontendState.sources(FrontendState.statuses(s.config, backends.status, s.panics && { panics: s.panics, now: s.ramps?.now ?? Date.now() })),
    ...Panic.sources(s.config, s.panics ?? new Map()),
    ...Process.sources()
  ]
}

/** The families of one snapshot (`all`). */
export const collect = Effect.map(snapshot, all)
