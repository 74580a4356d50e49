/**
 * What VPP's lb plugin should hold, computed from the configuration and the
 * backends' health: one VIP per frontend, one AS per distinct backend of its
 * pools. Pure; the sync loop diffs it against VPP's dumps (Diff.ts).
 *
 * Every backend of every pool is always installed, standby pools included, so a
 * failover only changes weights: VPP rebuilds the new-flow table on a weight
 * change, while an AS add/delete would also make (or end) a lameduck AS.
 *
 * | backend state            | weight           | flush                          |
 * |--------------------------|------------------|--------------------------------|
 * | up, in the active pool   | its pool weight  | no                             |
 * | up, in another pool      | 0                | no                             |
 * | unknown, paused          | 0                | no (drain)                     |
 * | down                     | 0                | the frontend's `flush-on-down` |
 * | disabled                 | 0                | always                         |
 * | removed                  | not listed: the diff deletes the AS, with flush  |
 *
 * With `ramps` (slow start, SlowStart.ts), an up backend of the active pool
 * whose ramp is in progress gets its ramp's step weight instead of the pool's.
 */
import type { Backend, Config, Frontend, Pool } from "../config/Config.js"
import type { HealthStatus } from "../health/HealthState.js"
import type { lb_types } from "../vpp/binapi/index.js"
import * as Maglev from "./Maglev.js"
import * as SlowStart from "./SlowStart.js"
import { compareAddresses, frontendVipKey, type VipKey } from "./VipKey.js"

export { compareAddresses } from "./VipKey.js"

/** The two encapsulations the controller programs (the generated enum names); picked by the backends' family. */
export type Encap = Extract<lb_types.LbEncapType, "LB_API_ENCAP_TYPE_GRE4" | "LB_API_ENCAP_TYPE_GRE6">

export interface DesiredAs {
  /** The backend's address (config text). */
  readonly address: string
  readonly backend: string
  /** 0..100. */
  readonly weight: number
  /** Evict the AS's sticky sessions whenever its weight is (re)programmed. */
  readonly flush: boolean
  readonly status: HealthStatus
  /** While `weight` is a slow start's step: when the ramp reaches the pool weight (epoch ms). */
  readonly slowStartUntil?: number
}

export interface DesiredVip extends VipKey {
  readonly frontend: string
  readonly encap: Encap
  readonly srcIpSticky: boolean
  /** Sent explicitly on every VIP add (never 0: VPP would try to build a 2^32 table). */
  readonly newFlowsTableLength: number
  /** Name of the active pool; undefined when no pool has an up backend with weight > 0. */
  readonly activePool: string | undefined
  /** One per distinct backend, in `compareAddresses` order. */
  readonly ases: ReadonlyArray<DesiredAs>
}

/** A backend's health; `undefined` (no entry yet) counts as unknown. */
export type StatusOf = (backend: string) => HealthStatus | undefined

/** Whether a backend that moves into `state` has its AS flushed in a frontend (flush-on-down for down). */
export const flushesInto = (state: HealthStatus, flushOnDown: boolean): boolean =>
  state === "disabled" || state === "removed" || (state === "down" && flushOnDown)

export type FrontendState = "up" | "down" | "unknown"

/** GRE4 to IPv4 backends, GRE6 to IPv6 ones, whatever the VIP's own family. */
export const encapFor = (family: 4 | 6): Encap => (family === 4 ? "LB_API_ENCAP_TYPE_GRE4" : "LB_API_ENCAP_TYPE_GRE6")

const statusOf = (status: StatusOf, backend: string): HealthStatus => status(backend) ?? "unknown"

/** The first pool (in order) with a backend that is up and has pool weight > 0. */
export const activePool = (frontend: Frontend, status: StatusOf): Pool | undefined =>
  frontend.pools.find((pool) => pool.backends.some((m) => m.weight > 0 && statusOf(status, m.backend) === "up"))

const backendOf = (config: Config, frontend: Frontend, name: string): Backend => {
  const b = config.backends.get(name)
  // A validated config only references backends it defines.
  if (b === undefined) throw new Error(`frontend ${frontend.name} references undefined backend ${name}`)
  return b
}

/** The table's flush column: whether programming the AS's weight evicts its sessions. */
const flushOf = (status: HealthStatus, frontend: Frontend): boolean =>
  status === "disabled" || (status === "down" && frontend.flushOnDown)

/** A frontend's distinct backends in the AS order, each with the first pool that lists it. */
interface Member {
  readonly name: string
  readonly address: string
  readonly pool: Pool
  readonly weight: number
}
interface Layout {
  readonly members: ReadonlyArray<Member>
  /** The first member's family (the VIP's encap); undefined without members. */
  readonly family: 4 | 6 | undefined
  readonly key: VipKey
}

/**
 * What of a frontend's VIP does not depend on health, per configuration: its
 * distinct members sorted once into the AS order (a reaction of a backend in
 * 1,000 VIPs computes 1,000 of them: a set, a sort and two spreads each were
 * most of its planning).
 */
const layouts = new WeakMap<Config, WeakMap<Frontend, Layout>>()
const layoutOf = (config: Config, frontend: Frontend): Layout => {
  let byFrontend = layouts.get(config)
  if (byFrontend === undefined) {
    byFrontend = new WeakMap()
    layouts.set(config, byFrontend)
  }
  let layout = byFrontend.get(frontend)
  if (layout === undefined) {
    const seen = new Set<string>()
    const members: Array<Member> = []
    let family: 4 | 6 | undefined
    for (const pool of frontend.pools) {
      for (const member of pool.backends) {
        if (seen.has(member.backend)) continue
        seen.add(member.backend)
        const backend = backendOf(config, frontend, member.backend)
        family ??= backend.family
        members.push({ name: member.backend, address: backend.address, pool, weight: member.weight })
      }
    }
    members.sort((a, b) => compareAddresses(a.address, b.address))
    layout = { members, family, key: frontendVipKey(frontend) }
    byFrontend.set(frontend, layout)
  }
  return layout
}

/**
 * `previous`: this frontend's VIP as computed before (any origin); an AS of it
 * with the same fields is reused rather than made again, so a reaction that
 * changes one backend in 1,000 VIPs allocates one AS per VIP, not 32 (the
 * collector's pauses are the reactions' tail).
 */
export const desiredVip = (
  frontend: Frontend,
  config: Config,
  status: StatusOf,
  ramps?: SlowStart.Ramps,
  previous?: DesiredVip
): DesiredVip => {
  const active = activePool(frontend, status)
  const { family, key, members } = layoutOf(config, frontend)
  const ases: Array<DesiredAs> = []
  const before = previous?.ases
  let j = 0
  for (const member of members) {
    const s = statusOf(status, member.name)
    // "removed" means the health checker already knows the backend left the
    // configuration: the AS goes (the diff deletes it with flush).
    if (s === "removed") continue
    // In the active pool itself, the member is its own entry (a search per member was 1,000 VIPs × 32² per reaction).
    const activeWeight = active === member.pool ? member.weight : active?.backends.find((m) => m.backend === member.name)?.weight
    const weight = s === "up" ? activeWeight ?? 0 : 0
    const flush = flushOf(s, frontend)
    // The previous list is in the same order, less the members that were removed then.
    let old: DesiredAs | undefined
    if (before !== undefined) {
      let k = j
      while (k < before.length && before[k]!.backend !== member.name) k++
      if (k < before.length) {
        old = before[k]
        j = k + 1
      }
    }
    const as: DesiredAs =
      old !== undefined && old.address === member.address && old.status === s && old.weight === weight && old.flush === flush &&
        old.slowStartUntil === undefined
        ? old
        : { address: member.address, backend: member.name, status: s, weight, flush }
    ases.push(ramps === undefined || active === undefined || as.weight <= 1 ? as : SlowStart.ramped(as, config, active, ramps))
  }
  return {
    prefix: key.prefix,
    protocol: key.protocol,
    port: key.port,
    frontend: frontend.name,
    // A valid frontend has at least one backend; its own family is only a fallback.
    encap: encapFor(family ?? frontend.family),
    srcIpSticky: frontend.srcIpSticky,
    newFlowsTableLength: frontend.newFlowsTableLength,
    activePool: active?.name,
    ases
  }
}

/** Every frontend's VIP, in config order. */
export const desiredState = (config: Config, status: StatusOf, ramps?: SlowStart.Ramps): ReadonlyArray<DesiredVip> =>
  [...config.frontends.values()].map((f) => desiredVip(f, config, status, ramps))

/**
 * `num_buckets` per AS address as VPP will report it once the VIP matches:
 * the same Maglev model the simulator uses, over every AS (all are active;
 * weight-0 ones get 0), with the VIP's table length. The counts sum to the
 * table length when any weight is above 0.
 */
export const predictedBuckets = (vip: DesiredVip): ReadonlyMap<string, number> => {
  const counts = Maglev.bucketCounts(
    vip.ases.map((a) => ({ address: a.address, weight: a.weight })),
    vip.newFlowsTableLength
  )
  return new Map(vip.ases.map((a, i) => [a.address, counts[i]!]))
}

/**
 * `up` when some AS takes new flows (weight > 0); `unknown` while every backend
 * is still unknown (nothing decided yet, e.g. right after a start); `down`
 * otherwise, including a VIP with no AS left.
 */
export const frontendState = (vip: DesiredVip): FrontendState => {
  if (vip.ases.some((a) => a.weight > 0)) return "up"
  if (vip.ases.length > 0 && vip.ases.every((a) => a.status === "unknown")) return "unknown"
  return "down"
}
