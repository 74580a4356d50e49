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
import * as Columns from "./Columns.js"
import { escapeLabelValue, fromFamily, type Source } from "./Prometheus.js"

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

/**
 * What a configuration's families need on every scrape, made once per
 * configuration (a reload makes a new one): its backends in file order, and
 * every pool row's line start (Columns.ts) and backend. A scrape then finds
 * each backend by position: at 10,000 backends a lookup by name per series
 * (tens of thousands of `Map.get`s of strings cut from the YAML text, which
 * hash slowly) was a fifth of a render. What is per backend (its escaped
 * name) is made as a render writes it, in the render's slices: made all at
 * once, the first scrape held the event loop for 0.3-0.5 s at 10,000
 * backends before its first slice.
 */
interface ConfigLayout {
  readonly columns: Columns.Layout
  readonly index: ReadonlyMap<string, number>
  /** Per frontend, per pool, per member: the backend's position (pool rows are numbered in this order). */
  readonly rowBackends: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
}

const layouts = new WeakMap<Config, ConfigLayout>()
let layoutKeys = 0

const layoutOf = (config: Config): ConfigLayout => {
  let layout = layouts.get(config)
  if (layout !== undefined) return layout
  const names = [...config.backends.keys()]
  const index = new Map(names.map((n, i) => [n, i]))
  const rows: Array<string> = []
  const rowBackends = [...config.frontends.values()].map((f) =>
    f.pools.map((p) => {
      const open = `maglev_frontend_pool_backend_weight{frontend="${escapeLabelValue(f.name)}",pool="${escapeLabelValue(p.name)}",backend="`
      return p.backends.map((m) => {
        rows.push(`${open}${escapeLabelValue(m.backend)}"} `)
        // A validated configuration's pools name only backends it defines.
        return index.get(m.backend) ?? -1
      })
    })
  )
  layout = { columns: Columns.layout({ key: ++layoutKeys, names, rows }), index, rowBackends }
  layouts.set(config, layout)
  return layout
}

/**
 * The backends of a snapshot: the configured ones the checker knows, in file
 * order, then those a reload removed (it still reports them); and a status
 * by name, for the frontends' rules.
 */
const backendsInOrder = (s: Snapshot) => {
  const layout = layoutOf(s.config)
  const known: Array<HealthChecker.BackendHealth | undefined> = new Array(layout.columns.data.names.length).fill(undefined)
  const removed: Array<HealthChecker.BackendHealth> = []
  const place = (h: HealthChecker.BackendHealth) => {
    const i = layout.index.get(h.name)
    if (i === undefined) removed.push(h)
    else known[i] = h
  }
  // One pass (a lookup per backend in Effect's HashMap hashes the name each time).
  if (Array.isArray(s.health)) for (const h of s.health as ReadonlyArray<HealthChecker.BackendHealth>) place(h)
  else for (const [, h] of s.health as HealthChecker.HealthMap) place(h)
  const removedStatus = new Map(removed.map((h) => [h.name, h.status]))
  const status = (backend: string): HealthStatus | undefined => {
    const i = layout.index.get(backend)
    return i === undefined ? removedStatus.get(backend) : known[i]?.status
  }
  return { layout, known, removed, status }
}

const statusIndex = Object.fromEntries(STATUSES.map((st, i) => [st, i])) as { readonly [S in HealthStatus]: number }

/**
 * The per-backend columns of a snapshot (Columns.ts): every backend's status
 * and counter in the order written, and every pool row's effective weight:
 * what the desired state (Desired.ts, `desiredVip`) asks VPP for through the
 * row (in the frontend's active pool, an up backend's weight there; 0 on
 * every other row), by the same rule as `desiredVip`'s, without building
 * (and sorting) the frontend's whole AS list.
 */
const columnsOf = (s: Snapshot, { known, layout, removed, status }: ReturnType<typeof backendsInOrder>): Columns.Columns => {
  let count = removed.length
  for (let i = 0; i < known.length; i++) if (known[i] !== undefined) count++
  const at = new Int32Array(count)
  const statuses = new Uint8Array(count)
  const counter = new Float64Array(count)
  let n = 0
  const put = (h: HealthChecker.BackendHealth, position: number) => {
    at[n] = position
    statuses[n] = statusIndex[h.status]
    counter[n++] = h.counter
  }
  for (let i = 0; i < known.length; i++) if (known[i] !== undefined) put(known[i]!, i)
  for (const h of removed) put(h, -1)

  // A slow start's step while the backend ramps (SlowStart.ts).
  const ramps = s.ramps
  const ramped = (pool: Pool, backend: string, weight: number): number => {
    if (ramps === undefined || weight <= 1) return weight
    const start = ramps.startedAt(backend)
    return start === undefined ? weight : SlowStart.weightAt(weight, SlowStart.durationMs(s.config, pool, backend), start, ramps.now)
  }
  const weights = new Float64Array(layout.columns.data.rows.length)
  let row = 0
  let f = 0
  for (const frontend of s.config.frontends.values()) {
    const active = activePool(frontend, status)
    const rows = layout.rowBackends[f++]!
    // A frontend in panic (min-healthy) asks VPP for the weights it keeps.
    const kept = Panic.keptWeights(s.config, frontend, status, s.panics?.get(frontend.name)?.guard, s.ramps?.now)
    for (let p = 0; p < frontend.pools.length; p++) {
      const pool = frontend.pools[p]!
      const members = pool.backends
      for (let k = 0; k < members.length; k++) {
        const up = active === pool && known[rows[p]![k]!]?.status === "up"
        const m = members[k]!
        weights[row++] = kept === undefined ? (up ? ramped(pool, m.backend, m.weight) : 0) : kept.pool === pool.name ? (kept.weights.get(m.backend) ?? 0) : 0
      }
    }
  }
  return { layout: layout.columns.data.key, at, removed: removed.map((h) => h.name), status: statuses, counter, weights }
}

/** The scrape-time families of one snapshot; the per-backend lines are written from its columns. */
export const sources = (s: Snapshot): ReadonlyArray<Source> => {
  const backends = backendsInOrder(s)
  return [...Columns.sources(backends.layout.columns, columnsOf(s, backends)), ...others(s)]
}

/** The families that are not per backend. */
const others = (s: Snapshot): ReadonlyArray<Source> => {
  const packets = [...s.vipCounters]
  return [
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

/** The families of one snapshot that are not per backend: the VPP ones, the frontends' states (FrontendState.ts), the panics' and the process's (Process.ts). */
const perSnapshot = (s: Snapshot, backends: ReturnType<typeof backendsInOrder>): ReadonlyArray<Source> => [
  ...others(s),
  // A frontend in panic (min-healthy) is `panic`, as in the API and the frontend-transition log.
  ...FrontendState.sources(FrontendState.statuses(s.config, backends.status, s.panics && { panics: s.panics, now: s.ramps?.now ?? Date.now() })),
  ...Panic.sources(s.config, s.panics ?? new Map()),
  ...Process.sources()
]

/** Every scrape-time family of one snapshot, over one pass of the health map. */
export const all = (s: Snapshot): ReadonlyArray<Source> => {
  const backends = backendsInOrder(s)
  return [...Columns.sources(backends.layout.columns, columnsOf(s, backends)), ...perSnapshot(s, backends)]
}

/**
 * One snapshot split as the scrape worker takes it: the per-backend columns
 * and their layout (Columns.ts; the worker writes their lines), and every
 * other family (`all` is the two together).
 */
export const split = (s: Snapshot): { readonly layout: Columns.LayoutData; readonly columns: Columns.Columns; readonly rest: ReadonlyArray<Source> } => {
  const backends = backendsInOrder(s)
  return { layout: backends.layout.columns.data, columns: columnsOf(s, backends), rest: perSnapshot(s, backends) }
}

/** The families of one snapshot (`all`). */
export const collect = Effect.map(snapshot, all)
