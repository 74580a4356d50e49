/**
 * The dry-run plan of an admin action: which VPP lb operations it will cause
 * and how each affected VIP's new-flow table splits before and after. Pure,
 * over the frontends as maglevd last reported them, with the rules maglevd
 * programs VPP by (src/lb/Desired.ts):
 *
 * | backend state            | weight in VPP    | flush                          |
 * |--------------------------|------------------|--------------------------------|
 * | up, in the active pool   | its pool weight  | no                             |
 * | up, in another pool      | 0                | no                             |
 * | unknown, paused          | 0                | no (drain)                     |
 * | down                     | 0                | the frontend's `flush-on-down` |
 * | disabled                 | 0                | always                         |
 *
 * The active pool is the first with an up backend of pool weight > 0. A paused,
 * resumed or enabled backend is probed afresh: resume and enable predict
 * `unknown` (it takes traffic again once its probes bring it up).
 */
import type { FrontendInfo, HealthStatus, LbOpInfo } from "../api/Api.js"
import * as Maglev from "../lb/Maglev.js"
import type { ActionRequest, PlanVip } from "./Protocol.js"

export interface Plan {
  readonly ops: ReadonlyArray<LbOpInfo>
  readonly vips: ReadonlyArray<PlanVip>
}

interface Row {
  readonly pool: string
  readonly backend: string
  readonly address: string
  readonly weight: number
  readonly state: HealthStatus
}

const stateAfter = (action: ActionRequest["action"], state: HealthStatus): HealthStatus => {
  switch (action) {
    case "pause":
      return state === "disabled" ? state : "paused"
    case "resume":
      return state === "paused" ? "unknown" : state
    case "enable":
      return state === "disabled" ? "unknown" : state
    case "disable":
      return "disabled"
    case "set-weight":
      return state
  }
}

const rowsOf = (frontend: FrontendInfo): ReadonlyArray<Row> =>
  frontend.pools.flatMap((pool) =>
    pool.backends.map((b) => ({ pool: pool.name, backend: b.backend, address: b.address, weight: b.weight, state: b.state }))
  )

const activePool = (frontend: FrontendInfo, rows: ReadonlyArray<Row>): string | undefined =>
  frontend.pools.find((pool) => rows.some((r) => r.pool === pool.name && r.weight > 0 && r.state === "up"))?.name

interface Vpp {
  readonly active: string | undefined
  /** address → weight and flush, one per distinct backend. */
  readonly ases: ReadonlyMap<string, { readonly backend: string; readonly weight: number; readonly flush: boolean }>
}

const vppOf = (frontend: FrontendInfo, rows: ReadonlyArray<Row>): Vpp => {
  const active = activePool(frontend, rows)
  const ases = new Map<string, { backend: string; weight: number; flush: boolean }>()
  for (const r of rows) {
    if (ases.has(r.address)) continue
    const activeWeight = rows.find((x) => x.pool === active && x.backend === r.backend)?.weight
    const weight = r.state === "up" ? activeWeight ?? 0 : 0
    const flush = r.state === "disabled" || (r.state === "down" && frontend.flushOnDown)
    ases.set(r.address, { backend: r.backend, weight, flush })
  }
  return { active, ases }
}

const buckets = (vpp: Vpp, length: number): ReadonlyMap<string, number> => {
  const list = [...vpp.ases].map(([address, a]) => ({ address, weight: a.weight }))
  const counts = Maglev.bucketCounts(list, length)
  return new Map(list.map((a, i) => [a.address, counts[i]!]))
}

/**
 * The plan of `request` against the frontends of one maglevd. A frontend the
 * backend is not in is left out; a set-weight only touches its own pool row.
 * With `flush`, a set-weight to 0 flushes.
 */
export const plan = (request: ActionRequest, frontends: ReadonlyArray<FrontendInfo>): Plan => {
  const ops: Array<LbOpInfo> = []
  const vips: Array<PlanVip> = []
  for (const frontend of frontends) {
    const before = rowsOf(frontend)
    if (!before.some((r) => r.backend === request.backend)) continue
    if (request.action === "set-weight" && request.frontend !== frontend.name) continue
    const after = before.map((r): Row => {
      if (r.backend !== request.backend) return r
      if (request.action === "set-weight") {
        return r.pool === request.pool && request.weight !== undefined ? { ...r, weight: request.weight } : r
      }
      return { ...r, state: stateAfter(request.action, r.state) }
    })
    const vppBefore = vppOf(frontend, before)
    const vppAfter = vppOf(frontend, after)
    const bucketsBefore = buckets(vppBefore, frontend.newFlowsTableLength)
    const bucketsAfter = buckets(vppAfter, frontend.newFlowsTableLength)
    for (const [address, a] of vppAfter.ases) {
      const was = vppBefore.ases.get(address)!
      // maglevd reprograms an AS only when its weight changes.
      if (was.weight === a.weight) continue
      const flush = a.flush || (request.action === "set-weight" && request.flush === true && a.weight === 0)
      ops.push({
        op: "AsWeight",
        event: "vpp-lbsync-as-weight",
        vip: frontend.vip,
        address,
        weight: a.weight,
        flush,
        frontend: frontend.name,
        backend: a.backend
      })
    }
    vips.push({
      frontend: frontend.name,
      vip: frontend.vip,
      ...(vppBefore.active !== undefined ? { activePoolBefore: vppBefore.active } : {}),
      ...(vppAfter.active !== undefined ? { activePoolAfter: vppAfter.active } : {}),
      ases: [...vppAfter.ases].map(([address, a]) => ({
        address,
        backend: a.backend,
        weightBefore: vppBefore.ases.get(address)!.weight,
        weightAfter: a.weight,
        bucketsBefore: bucketsBefore.get(address) ?? 0,
        bucketsAfter: bucketsAfter.get(address) ?? 0
      }))
    })
  }
  return { ops, vips }
}

/** `pause web1 on lb1: 2 VPP operations (web: 10.0.0.2 weight 0)`. */
export const summary = (request: ActionRequest, server: string, p: Plan): string => {
  const what = request.action === "set-weight"
    ? `set weight of ${request.backend} in ${request.frontend}/${request.pool} to ${request.weight}${request.flush === true ? " with flush" : ""}`
    : `${request.action} ${request.backend}`
  const n = p.ops.length
  const detail = p.ops.map((o) => `${o.frontend}: ${o.address} weight ${o.weight}${o.flush === true ? " flush" : ""}`).join(", ")
  return `${what} on ${server}: ${n === 0 ? "no VPP operation" : n === 1 ? "1 VPP operation" : `${n} VPP operations`}${n > 0 ? ` (${detail})` : ""}`
}
