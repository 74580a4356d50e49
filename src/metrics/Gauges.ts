/**
 * The metrics read from the daemon's services at scrape time: backend state,
 * HAProxy counter and enabled flag, effective pool weights, the VPP
 * connection, and the lb plugin's per-VIP packet counters.
 *
 * They are built fresh from one snapshot on every scrape rather than kept in
 * Effect's registry, which never forgets a series: a backend or frontend that
 * a reload removed would otherwise be exported forever with its last value.
 * `families` is pure; `collect` reads the snapshot.
 */
import { Effect, HashMap, Option } from "effect"
import type { Config } from "../config/Config.js"
import * as HealthChecker from "../health/HealthChecker.js"
import { type HealthStatus, STATUSES } from "../health/HealthState.js"
import { type DesiredVip, desiredVip } from "../lb/Desired.js"
import * as LbSync from "../lb/LbSync.js"
import * as Supervisor from "../vpp/Supervisor.js"
import type { Family, Sample } from "./Prometheus.js"

export interface Snapshot {
  readonly config: Config
  readonly health: HealthChecker.HealthMap
  readonly vppConnected: boolean
  /** The lb plugin's per-VIP counters by frontend (`LbSync.counters`). */
  readonly vipCounters: ReadonlyMap<string, Supervisor.VipCounters>
}

/** The `kind` label of each of the lb plugin's four per-VIP counters. */
export const VIP_COUNTER_KINDS: ReadonlyArray<readonly [Supervisor.VipCounterName, string]> = [
  ["nextPacket", "next"],
  ["firstPacket", "first"],
  ["untrackedPacket", "untracked"],
  ["noServer", "no_server"]
]

/** Every backend the checker knows: the configured ones in file order, then those a reload removed. */
const backendsInOrder = (s: Snapshot): ReadonlyArray<HealthChecker.BackendHealth> => {
  const out: Array<HealthChecker.BackendHealth> = []
  for (const name of s.config.backends.keys()) {
    const h = HashMap.get(s.health, name)
    if (Option.isSome(h)) out.push(h.value)
  }
  for (const [name, h] of s.health) if (!s.config.backends.has(name)) out.push(h)
  return out
}

/** What the desired state (Desired.ts) asks VPP for: the AS's weight on the active pool's row, 0 on the others. */
const effectiveWeight = (vip: DesiredVip, pool: string, backend: string): number =>
  vip.activePool === pool ? (vip.ases.find((a) => a.backend === backend)?.weight ?? 0) : 0

export const families = (s: Snapshot): ReadonlyArray<Family> => {
  const backends = backendsInOrder(s)
  const status = (backend: string): HealthStatus | undefined =>
    Option.getOrUndefined(Option.map(HashMap.get(s.health, backend), (h) => h.status))

  const state: Array<Sample> = []
  const health: Array<Sample> = []
  const enabled: Array<Sample> = []
  for (const b of backends) {
    for (const st of STATUSES) state.push({ labels: [["backend", b.name], ["state", st]], value: b.status === st ? 1 : 0 })
    health.push({ labels: [["backend", b.name]], value: b.counter })
    enabled.push({ labels: [["backend", b.name]], value: b.status === "disabled" ? 0 : 1 })
  }

  const weights: Array<Sample> = []
  for (const f of s.config.frontends.values()) {
    const vip = desiredVip(f, s.config, status)
    for (const pool of f.pools) {
      for (const m of pool.backends) {
        weights.push({
          labels: [["frontend", f.name], ["pool", pool.name], ["backend", m.backend]],
          value: effectiveWeight(vip, pool.name, m.backend)
        })
      }
    }
  }

  const packets: Array<Sample> = []
  for (const [frontend, counters] of s.vipCounters) {
    for (const [key, kind] of VIP_COUNTER_KINDS) packets.push({ labels: [["frontend", frontend], ["kind", kind]], value: counters[key] })
  }

  return [
    {
      name: "maglev_backend_state",
      help: `Backend state: 1 on the series of the current state, 0 on the others (${STATUSES.join(", ")}).`,
      type: "gauge",
      samples: state
    },
    {
      name: "maglev_backend_health",
      help: "Backend health counter (HAProxy model): 0..rise+fall-1, up at rise or above.",
      type: "gauge",
      samples: health
    },
    { name: "maglev_backend_enabled", help: "1 unless the backend is disabled.", type: "gauge", samples: enabled },
    {
      name: "maglev_frontend_pool_backend_weight",
      help: "Effective weight asked of VPP for the backend through this pool: its weight in the active pool while up, else 0.",
      type: "gauge",
      samples: weights
    },
    {
      name: "maglev_vpp_connected",
      help: "1 while maglevd holds a connection to VPP (API and stats sockets), else 0.",
      type: "gauge",
      samples: [{ labels: [], value: s.vppConnected ? 1 : 0 }]
    },
    {
      name: "maglev_vip_packets_total",
      help: "Packets VPP's lb plugin counted for the frontend's VIP, by kind (next, first, untracked, no_server); reset when VPP restarts.",
      type: "counter",
      samples: packets
    }
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
    return { config, health, vppConnected: state._tag === "Connected", vipCounters }
  })

export const collect = Effect.map(snapshot, families)
