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
import type { Config, Pool, PoolMember } from "../config/Config.js"
import * as FrontendState from "../health/FrontendState.js"
import * as HealthChecker from "../health/HealthChecker.js"
import { type HealthStatus, STATUSES } from "../health/HealthState.js"
import { type AsFlows, asFlowsByFrontend } from "../lb/AsFlows.js"
import { activePool, type StatusOf } from "../lb/Desired.js"
import * as LbSync from "../lb/LbSync.js"
import * as Supervisor from "../vpp/Supervisor.js"
import * as Process from "./Process.js"
import { bytes, fromFamily, labelValueBytes, type Source } from "./Prometheus.js"

export interface Snapshot {
  readonly config: Config
  readonly health: HealthChecker.HealthMap
  readonly vppConnected: boolean
  /** The lb plugin's per-VIP counters by frontend (`LbSync.counters`). */
  readonly vipCounters: ReadonlyMap<string, Supervisor.VipCounters>
  /** Each frontend's ASes with their established flows (AsFlows.ts); none when absent. */
  readonly asFlows?: ReadonlyMap<string, ReadonlyArray<AsFlows>>
}

/** The `kind` label of each of the lb plugin's four per-VIP counters. */
export const VIP_COUNTER_KINDS: ReadonlyArray<readonly [Supervisor.VipCounterName, string]> = [
  ["nextPacket", "next"],
  ["firstPacket", "first"],
  ["untrackedPacket", "untracked"],
  ["noServer", "no_server"]
]

const STATE_OPEN = bytes("maglev_backend_state{backend=\"")
/** `,state="..."} ` by status index. */
const STATE_LABELS: ReadonlyArray<Uint8Array> = STATUSES.map((st) => bytes(`",state="${st}"}`))
const HEALTH_OPEN = bytes("maglev_backend_health{backend=\"")
const ENABLED_OPEN = bytes("maglev_backend_enabled{backend=\"")
const WEIGHT_OPEN = bytes("maglev_frontend_pool_backend_weight{frontend=")
const POOL = bytes(",pool=")
const BACKEND = bytes(",backend=")
const CLOSE = bytes("}")
const QUOTE_CLOSE = bytes("\"}")

/**
 * Every backend the checker knows: the configured ones in file order, then
 * those a reload removed; and the same by name. One pass over the health map
 * (a lookup per backend in Effect's HashMap hashes the name each time, and
 * three families and the weights look every backend up).
 */
const backendsInOrder = (s: Snapshot) => {
  const byName = new Map<string, HealthChecker.BackendHealth>()
  for (const [name, h] of s.health) byName.set(name, h)
  const list: Array<HealthChecker.BackendHealth> = []
  for (const name of s.config.backends.keys()) {
    const h = byName.get(name)
    if (h !== undefined) list.push(h)
  }
  for (const [name, h] of byName) if (!s.config.backends.has(name)) list.push(h)
  // Each backend's name is written in four families: looked up in the label cache once.
  return { list, byName, names: list.map((b) => labelValueBytes(b.name)) }
}

/**
 * What the desired state (Desired.ts, `desiredVip`) asks VPP for through a
 * pool's row: in the frontend's active pool, an up backend's weight there;
 * 0 on every other row. The same rule as `desiredVip`'s, without building
 * (and sorting) the frontend's whole AS list per scrape.
 */
const effectiveWeight = (active: Pool | undefined, pool: Pool, member: PoolMember, status: StatusOf): number =>
  active === pool && status(member.backend) === "up" ? member.weight : 0

/** A family of one gauge per backend, `{backend="..."} value`. */
const perBackend = (
  backends: ReadonlyArray<HealthChecker.BackendHealth>,
  names: ReadonlyArray<Uint8Array>,
  name: string,
  help: string,
  open: Uint8Array,
  value: (b: HealthChecker.BackendHealth) => number
): Source => ({
  name,
  help,
  type: "gauge",
  size: backends.length,
  write: (w, i) => {
    w.raw(open)
    w.raw(names[i]!)
    w.raw(QUOTE_CLOSE)
    w.end(value(backends[i]!))
  }
})

/** The scrape-time families of one snapshot; the per-backend and per-frontend work is done as they are written. */
export const sources = (s: Snapshot): ReadonlyArray<Source> => {
  const { byName, list: backends, names } = backendsInOrder(s)
  const status = (backend: string): HealthStatus | undefined => byName.get(backend)?.status
  const frontends = [...s.config.frontends.values()]
  const packets = [...s.vipCounters]

  return [
    {
      name: "maglev_backend_state",
      help: `Backend state: 1 on the series of the current state, 0 on the others (${STATUSES.join(", ")}).`,
      type: "gauge",
      size: backends.length,
      write: (w, i) => {
        const b = backends[i]!
        const name = names[i]!
        for (let k = 0; k < STATUSES.length; k++) {
          w.raw(STATE_OPEN)
          w.raw(name)
          w.raw(STATE_LABELS[k]!)
          w.end(b.status === STATUSES[k] ? 1 : 0)
        }
      }
    },
    perBackend(
      backends,
      names,
      "maglev_backend_health",
      "Backend health counter (HAProxy model): 0..rise+fall-1, up at rise or above.",
      HEALTH_OPEN,
      (b) => b.counter
    ),
    perBackend(backends, names, "maglev_backend_enabled", "1 unless the backend is disabled.", ENABLED_OPEN, (b) => (b.status === "disabled" ? 0 : 1)),
    {
      name: "maglev_frontend_pool_backend_weight",
      help: "Effective weight asked of VPP for the backend through this pool: its weight in the active pool while up, else 0.",
      type: "gauge",
      size: frontends.length,
      write: (w, i) => {
        const f = frontends[i]!
        const active = activePool(f, status)
        for (const pool of f.pools) {
          for (const m of pool.backends) {
            w.raw(WEIGHT_OPEN)
            w.labelValue(f.name)
            w.raw(POOL)
            w.labelValue(pool.name)
            w.raw(BACKEND)
            w.labelValue(m.backend)
            w.raw(CLOSE)
            w.end(effectiveWeight(active, pool, m, status))
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
    const health = yield* checker.health
    const state = yield* vpp.state
    const vipCounters = yield* sync.counters
    const asFlows = asFlowsByFrontend(config, yield* vpp.lbVips)
    return { config, health, vppConnected: state._tag === "Connected", vipCounters, asFlows }
  })

/** The families of one snapshot, the frontends' states (FrontendState.ts) and the process's (Process.ts). */
export const collect = Effect.map(snapshot, (s) => [...sources(s), ...frontendSources(s), ...Process.sources()])

/** `maglev_frontend_state` and `maglev_frontend_serving_backends` of a snapshot. */
export const frontendSources = (s: Snapshot): ReadonlyArray<Source> => {
  const byName = new Map<string, HealthStatus>()
  for (const [name, h] of s.health) byName.set(name, h.status)
  return FrontendState.sources(FrontendState.statuses(s.config, (backend) => byName.get(backend)))
}
