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
import { Effect, HashMap } from "effect"
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
import { escapeLabelValue, fromFamily, type Source, yieldToEventLoop } from "./Prometheus.js"

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
 *
 * A layout is made ahead of the first scrape that needs it and in slices
 * (`layoutAhead`, Server.ts: when a configuration appears), so that no
 * part of a scrape makes it; a configuration of the same shape as the last
 * one (an operator's weight: only weights differ) keeps the last one's
 * layout, which the scrape worker already has. Its rows are encoded
 * (`Columns.layout`) only where the lines are written: on this thread for
 * an in-process render, else by the worker.
 */
export interface ConfigLayout {
  readonly data: Columns.LayoutData
  readonly index: ReadonlyMap<string, number>
  /** Per frontend, per pool, per member: the backend's position (pool rows are numbered in this order). */
  readonly rowBackends: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
  /** The frontends' and pools' names, in order: with `data.names` and `rowBackends`, the shape the rows are made of. */
  readonly pools: ReadonlyArray<ReadonlyArray<string>>
  readonly frontends: ReadonlyArray<string>
}

const layouts = new WeakMap<Config, ConfigLayout | LayoutBuild>()
let layoutKeys = 0
let lastLayout: ConfigLayout | undefined
const columnLayouts = new WeakMap<ConfigLayout, Columns.Layout>()

/** The layout with its rows encoded, for writing the lines on this thread (made once per layout). */
const encodedLayout = (layout: ConfigLayout): Columns.Layout => {
  let c = columnLayouts.get(layout)
  if (c === undefined) {
    c = Columns.layout(layout.data)
    columnLayouts.set(layout, c)
  }
  return c
}

/** Backends, pool members: units of work between two looks at the clock, in a layout made in slices or a sliced part. */
const STEP = 512

/**
 * Makes a configuration's layout, yielding every `STEP` units (a
 * caller in slices looks at the clock there): the same code made ahead in
 * slices (`layoutAhead`) or by a scrape that needs it first (`layoutSteps`).
 */
function* buildLayout(config: Config): Generator<void, ConfigLayout> {
  const names: Array<string> = []
  const index = new Map<string, number>()
  for (const name of config.backends.keys()) {
    index.set(name, names.length)
    names.push(name)
    if (names.length % STEP === 0) yield
  }
  const frontends: Array<string> = []
  const pools: Array<Array<string>> = []
  const rowBackends: Array<Array<Array<number>>> = []
  let units = 0
  for (const f of config.frontends.values()) {
    frontends.push(f.name)
    pools.push(f.pools.map((p) => p.name))
    rowBackends.push(f.pools.map((p) =>
      // A validated configuration's pools name only backends it defines.
      p.backends.map((m) => index.get(m.backend) ?? -1)
    ))
    units += f.pools.length
    if (units >= STEP) {
      units = 0
      yield
    }
  }
  const last = lastLayout
  if (last !== undefined && sameShape(last, names, frontends, pools, rowBackends)) return last
  const rows: Array<string> = []
  units = 0
  for (const f of config.frontends.values()) {
    for (const p of f.pools) {
      const open = `maglev_frontend_pool_backend_weight{frontend="${escapeLabelValue(f.name)}",pool="${escapeLabelValue(p.name)}",backend="`
      for (const m of p.backends) rows.push(`${open}${escapeLabelValue(m.backend)}"} `)
    }
    if (rows.length - units >= STEP) {
      units = rows.length
      yield
    }
  }
  return { data: { key: ++layoutKeys, names, rows }, index, rowBackends, pools, frontends }
}

const sameList = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The same backends in the same order, and the same frontends, pools and members: the same rows. */
const sameShape = (
  l: ConfigLayout,
  names: ReadonlyArray<string>,
  frontends: ReadonlyArray<string>,
  pools: ReadonlyArray<ReadonlyArray<string>>,
  rowBackends: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>
): boolean =>
  sameList(l.data.names, names) && sameList(l.frontends, frontends) &&
  pools.every((ps, f) => sameList(l.pools[f]!, ps)) &&
  rowBackends.every((ps, f) => ps.every((members, p) => sameList(l.rowBackends[f]![p]!, members)))

/** A layout being made in slices: whoever needs it first at once finishes it. */
class LayoutBuild {
  private readonly steps: Generator<void, ConfigLayout>
  result: ConfigLayout | undefined = undefined
  constructor(readonly config: Config) {
    this.steps = buildLayout(config)
  }
  /** One step (a `STEP` of units) of the build, whoever runs it; true when done. */
  step(): boolean {
    if (this.result === undefined) {
      const next = this.steps.next()
      if (next.done === true) this.done(next.value)
    }
    return this.result !== undefined
  }
  private done(layout: ConfigLayout): void {
    this.result = layout
    lastLayout = layout
    layouts.set(this.config, layout)
  }
}

const buildOf = (config: Config): ConfigLayout | LayoutBuild => {
  let l = layouts.get(config)
  if (l === undefined) {
    l = new LayoutBuild(config)
    layouts.set(config, l)
  }
  return l
}

/** How long a slice of `layoutAhead` makes the layout before it lets the event loop run. */
export const LAYOUT_SLICE_MS = 3

/**
 * A configuration's layout made ahead, in slices of `LAYOUT_SLICE_MS` with
 * the event loop let run between them (10,000 backends and 1,000 frontends:
 * ~10-30 ms at once, most of it the rows' text).
 */
export const layoutAhead = (config: Config): Effect.Effect<ConfigLayout> =>
  Effect.suspend(() => inSlices(layoutSteps(config), LAYOUT_SLICE_MS))

/** A configuration's layout as steps of a caller's generator: made ahead, or made here, a step at a time. */
function* layoutSteps(config: Config): Generator<void, ConfigLayout> {
  const l = buildOf(config)
  if (!(l instanceof LayoutBuild)) return l
  while (!l.step()) yield
  return l.result!
}

const FRONTEND_STEP = 64

/** Steps run to the end, at once. */
const atOnce = <A>(steps: Generator<void, A>): A => {
  for (;;) {
    const next = steps.next()
    if (next.done === true) return next.value
  }
}

/** Steps run in slices of `sliceMs`, the event loop let run between two. */
const inSlices = <A>(steps: Generator<void, A>, sliceMs: number): Effect.Effect<A> =>
  Effect.suspend(function slice(): Effect.Effect<A> {
    const until = performance.now() + sliceMs
    for (;;) {
      const next = steps.next()
      if (next.done === true) return Effect.succeed(next.value)
      if (performance.now() >= until) return Effect.zipRight(yieldToEventLoop, Effect.suspend(slice))
    }
  })

/**
 * The backends of a snapshot: the configured ones the checker knows, in file
 * order, then those a reload removed (it still reports them); and a status
 * by name, for the frontends' rules.
 */
function* backendsInOrder(s: Snapshot) {
  const layout = yield* layoutSteps(s.config)
  const known: Array<HealthChecker.BackendHealth | undefined> = new Array(layout.data.names.length).fill(undefined)
  const removed: Array<HealthChecker.BackendHealth> = []
  let placed = 0
  const place = (h: HealthChecker.BackendHealth) => {
    const i = layout.index.get(h.name)
    if (i === undefined) removed.push(h)
    else known[i] = h
  }
  // One pass (a lookup per backend in Effect's HashMap hashes the name each time).
  for (const h of Array.isArray(s.health) ? s.health as ReadonlyArray<HealthChecker.BackendHealth> : HashMap.values(s.health as HealthChecker.HealthMap)) {
    place(h)
    if (++placed % STEP === 0) yield
  }
  const removedStatus = new Map(removed.map((h) => [h.name, h.status]))
  const status = (backend: string): HealthStatus | undefined => {
    const i = layout.index.get(backend)
    return i === undefined ? removedStatus.get(backend) : known[i]?.status
  }
  const backends: Backends = { layout, known, removed, status }
  return backends
}

interface Backends {
  readonly layout: ConfigLayout
  readonly known: ReadonlyArray<HealthChecker.BackendHealth | undefined>
  readonly removed: ReadonlyArray<HealthChecker.BackendHealth>
  readonly status: (backend: string) => HealthStatus | undefined
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
function* columnsOf(s: Snapshot, { known, layout, removed, status }: Backends, spare?: Columns.Columns): Generator<void, Columns.Columns> {
  let count = removed.length
  for (let i = 0; i < known.length; i++) if (known[i] !== undefined) count++
  // The arrays of a part the scrape worker gave back, when of the same size: every element is written below.
  const at = Columns.reuse(spare?.at, count, (n) => new Int32Array(n))
  const statuses = Columns.reuse(spare?.status, count, (n) => new Uint8Array(n))
  const counter = Columns.reuse(spare?.counter, count, (n) => new Float64Array(n))
  let n = 0
  const put = (h: HealthChecker.BackendHealth, position: number) => {
    at[n] = position
    statuses[n] = statusIndex[h.status]
    counter[n++] = h.counter
  }
  for (let i = 0; i < known.length; i++) {
    if (known[i] !== undefined) put(known[i]!, i)
    if ((i + 1) % STEP === 0) yield
  }
  for (const h of removed) put(h, -1)

  // A slow start's step while the backend ramps (SlowStart.ts).
  const ramps = s.ramps
  const ramped = (pool: Pool, backend: string, weight: number): number => {
    if (ramps === undefined || weight <= 1) return weight
    const start = ramps.startedAt(backend)
    return start === undefined ? weight : SlowStart.weightAt(weight, SlowStart.durationMs(s.config, pool, backend), start, ramps.now)
  }
  const weights = Columns.reuse(spare?.weights, layout.data.rows.length, (n) => new Float64Array(n))
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
    if (f % FRONTEND_STEP === 0) yield
  }
  return { layout: layout.data.key, at, removed: removed.map((h) => h.name), status: statuses, counter, weights }
}

/** The scrape-time families of one snapshot; the per-backend lines are written from its columns. */
export const sources = (s: Snapshot): ReadonlyArray<Source> => {
  const backends = atOnce(backendsInOrder(s))
  return [...Columns.sources(encodedLayout(backends.layout), atOnce(columnsOf(s, backends))), ...others(s)]
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

/**
 * Every frontend's state (FrontendState.statuses, a frontend at a time: 1,000
 * frontends judged at once were ~2-5 ms, and most of a cold part). A frontend
 * in panic (min-healthy) is `panic`, as in the API and the frontend-transition
 * log.
 */
function* frontendStatuses(s: Snapshot, backends: Backends): Generator<void, ReadonlyMap<string, FrontendState.FrontendStatus>> {
  const guards = s.panics && { panics: s.panics, now: s.ramps?.now ?? Date.now(), config: s.config }
  const out = new Map<string, FrontendState.FrontendStatus>()
  for (const frontend of s.config.frontends.values()) {
    out.set(frontend.name, FrontendState.frontendStatus(frontend, backends.status, guards))
    if (out.size % FRONTEND_STEP === 0) yield
  }
  return out
}

/** The families of one snapshot that are not per backend: the VPP ones, the frontends' states (FrontendState.ts), the panics' and the process's (Process.ts). */
function* perSnapshot(s: Snapshot, backends: Backends): Generator<void, ReadonlyArray<Source>> {
  const frontends = FrontendState.sources(yield* frontendStatuses(s, backends))
  yield
  return [...others(s), ...frontends, ...Panic.sources(s.config, s.panics ?? new Map()), ...Process.sources()]
}

/** Every scrape-time family of one snapshot, over one pass of the health map. */
export const all = (s: Snapshot): ReadonlyArray<Source> => {
  const backends = atOnce(backendsInOrder(s))
  return [...Columns.sources(encodedLayout(backends.layout), atOnce(columnsOf(s, backends))), ...atOnce(perSnapshot(s, backends))]
}

export interface Split {
  readonly layout: Columns.LayoutData
  readonly columns: Columns.Columns
  readonly rest: ReadonlyArray<Source>
}

function* splitSteps(s: Snapshot, spare?: Columns.Columns): Generator<void, Split> {
  const backends = yield* backendsInOrder(s)
  const columns = yield* columnsOf(s, backends, spare)
  return { layout: backends.layout.data, columns, rest: yield* perSnapshot(s, backends) }
}

/**
 * One snapshot split as the scrape worker takes it: the per-backend columns
 * and their layout (Columns.ts; the worker writes their lines), and every
 * other family (`all` is the two together).
 */
export const split = (s: Snapshot): Split => atOnce(splitSteps(s))

/**
 * `split` in slices of `sliceMs` with the event loop let run between them
 * (the snapshot was taken at once: the slices read it, not the services):
 * at 10,000 backends and 1,000 frontends it took ~5-10 ms at once, and
 * several times that the first time (cold code), the first scrape's part.
 * `spare`: a part's columns the scrape worker gave back, written over when
 * of the same sizes (no new arrays per part).
 */
export const splitInSlices = (s: Snapshot, sliceMs: number, spare?: Columns.Columns): Effect.Effect<Split> =>
  inSlices(splitSteps(s, spare), sliceMs)

/** The families of one snapshot (`all`). */
export const collect = Effect.map(snapshot, all)
