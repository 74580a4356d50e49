/**
 * The dry-run plan of an admin action: which VPP lb operations it will cause
 * and how each affected VIP's new-flow table splits before and after. Pure,
 * over one maglevd as it last reported itself (its frontends, backends and
 * health checks, and VPP's lb state), with the rules that maglevd's LB sync
 * programs VPP by, called rather than copied:
 *
 * - the desired VIP after the action (`Desired.desiredVip`: active pool,
 *   weights, flush), with the slow starts in progress (`SlowStart`: each
 *   ramping backend's step at `now`, from its `slowStartedAt` and the
 *   `slow-start` of its pool or health check);
 * - the min-healthy guard (`Panic.evaluate`), from the guard maglevd shows
 *   (`FrontendInfo.panic` with its kept backends; outside a panic, the active
 *   pool's up backends as the last good set), so an action that takes the
 *   active pool below `min-healthy` plans the kept weights, not a drain;
 * - the operations (`Diff.diff`) from what maglevd asks VPP for now (the
 *   effective weights it reports) to that, with the flush of a backend that
 *   moves into a flushing state, and a set-weight's flush as the LB sync
 *   adds it (weight 0 again, with flush, when 0 is what it should be).
 *
 * A paused, resumed or enabled backend is probed afresh: resume and enable
 * predict `unknown` (it takes traffic again once its probes bring it up, and
 * then ramps up if it has a slow start).
 */
import { Duration, Either } from "effect"
import type { BackendInfo, FrontendInfo, HealthCheckInfo, HealthStatus, LbOpInfo, LbState } from "../api/Api.js"
import type { Backend, Config, Frontend, HealthCheck, MinHealthy, Pool } from "../config/Config.js"
import { parseDuration } from "../config/Duration.js"
import { type DesiredVip, desiredVip, flushesInto, predictedBuckets, type StatusOf } from "../lb/Desired.js"
import { describeOp, diff, eviction, flushKey, type LbOp, type ObservedVip } from "../lb/Diff.js"
import * as Panic from "../lb/Panic.js"
import type { Ramps } from "../lb/SlowStart.js"
import { canonicalAddress, keyOf, vipKey, vipKeyString } from "../lb/VipKey.js"
import type { ActionRequest, PlanVip } from "./Protocol.js"

export interface Plan {
  readonly ops: ReadonlyArray<LbOpInfo>
  readonly vips: ReadonlyArray<PlanVip>
}

/** What the plan reads of one maglevd (a `ServerState` is one). */
export interface PlanInput {
  readonly frontends: ReadonlyArray<FrontendInfo>
  /** For each backend's health check (slow start) and ramp start; a backend not listed has neither. */
  readonly backends?: ReadonlyArray<BackendInfo> | undefined
  readonly healthchecks?: ReadonlyArray<HealthCheckInfo> | undefined
  /** VPP's lb state, for a min-healthy guard with no memory (as the LB sync seeds it). */
  readonly vpp?: { readonly lb?: LbState | undefined } | undefined
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


const duration = (text: string | undefined): Duration.Duration | undefined => {
  if (text === undefined) return undefined
  const d = parseDuration(text)
  return Either.isRight(d) ? d.right : undefined
}

const minHealthy = (text: string | undefined): MinHealthy | undefined => {
  if (text === undefined) return undefined
  return text.endsWith("%") ? { kind: "percent", value: Number(text.slice(0, -1)) } : { kind: "count", value: Number(text) }
}

const familyOf = (address: string) => (address.includes(":") ? 6 : 4)

const frontendOf = (f: FrontendInfo, weight?: { readonly pool: string; readonly backend: string; readonly weight: number }): Frontend => ({
  name: f.name,
  description: f.description,
  address: f.address,
  family: familyOf(f.address),
  protocol: f.protocol,
  port: f.port,
  srcIpSticky: f.srcIpSticky,
  flushOnDown: f.flushOnDown,
  newFlowsTableLength: f.newFlowsTableLength,
  minHealthy: minHealthy(f.minHealthy),
  pools: f.pools.map((p): Pool => ({
    name: p.name,
    slowStart: duration(p.slowStart),
    backends: p.backends.map((b) => ({
      backend: b.backend,
      weight: weight !== undefined && weight.pool === p.name && weight.backend === b.backend ? weight.weight : b.weight
    }))
  }))
})

/**
 * The configuration as far as the rules read it: backends (address, family,
 * health check), health checks (`slow-start`) and the frontends. Built from
 * the API's view, so fields the rules never read (probing) are left out.
 */
const configOf = (input: PlanInput, frontends: ReadonlyArray<Frontend>): Config => {
  const backends = new Map<string, Backend>()
  for (const b of input.backends ?? []) {
    backends.set(b.name, { name: b.name, address: b.address, family: familyOf(b.address), healthcheck: b.healthcheck, enabled: b.enabled })
  }
  for (const f of input.frontends) {
    for (const p of f.pools) {
      for (const b of p.backends) {
        if (!backends.has(b.backend)) backends.set(b.backend, { name: b.backend, address: b.address, family: familyOf(b.address), healthcheck: "", enabled: true })
      }
    }
  }
  const healthchecks = new Map((input.healthchecks ?? []).map((hc) => [hc.name, { name: hc.name, slowStart: duration(hc.slowStart) } as HealthCheck]))
  return { backends, healthchecks, frontends: new Map(frontends.map((f) => [f.name, f])) } as unknown as Config
}

/** The guard maglevd shows for a frontend: its panic and kept backends, or (outside one) no memory beyond what health says. */
const guardOf = (frontend: Frontend, f: FrontendInfo): Panic.Guard | undefined => {
  if (frontend.minHealthy === undefined) return undefined
  if (f.panic !== undefined) {
    const kept = f.panic.kept ?? f.pools.find((p) => p.name === f.panic!.keptPool)?.backends.filter((b) => b.effectiveWeight > 0).map((b) => b.backend) ?? []
    const { kept: _, ...info } = f.panic
    return Panic.guardOf(frontend, { pool: f.panic.keptPool, backends: new Set(kept) }, info)
  }
  // Outside a panic, the last good set is the active pool's up backends when it meets its threshold (evaluate records
  // them, as the LB sync did at the last transition); below it, the LB sync kept nothing and takes VPP's weights (seed).
  return undefined
}

/** VPP's VIP as the lb state shows it, for a guard with no memory (`Panic.seedFrom`). */
const observedOf = (lb: LbState | undefined, vip: string): ObservedVip | null | undefined => {
  if (lb === undefined) return undefined
  const v = lb.vips.find((x) => x.vip === vip)
  if (v === undefined) return null
  return {
    ...vipKey(v.prefix, v.protocol, v.port),
    encap: v.encap as ObservedVip["encap"],
    srcIpSticky: v.srcIpSticky,
    newFlowsTableLength: v.newFlowsTableLength,
    ases: v.ases.map((a) => ({ address: canonicalAddress(a.address), weight: a.weight, lameduck: !a.active }))
  }
}

/** What maglevd asks VPP for now (the effective weights it reports), as the diff's observed side. */
const reportedOf = (vip: DesiredVip, f: FrontendInfo): ObservedVip => {
  const weights = new Map<string, number>()
  for (const p of f.pools) for (const b of p.backends) weights.set(b.backend, Math.max(weights.get(b.backend) ?? 0, b.effectiveWeight))
  return {
    ...keyOf(vip),
    encap: vip.encap,
    srcIpSticky: vip.srcIpSticky,
    newFlowsTableLength: vip.newFlowsTableLength,
    ases: vip.ases.map((a) => ({ address: canonicalAddress(a.address), weight: weights.get(a.backend) ?? 0, lameduck: false }))
  }
}

const opInfo = (op: LbOp): LbOpInfo => {
  const { event } = describeOp(op)
  const a = op as Partial<Extract<LbOp, { _tag: "AsWeight" }>>
  return {
    op: op._tag,
    event,
    vip: vipKeyString(op.vip),
    ...(a.address !== undefined ? { address: canonicalAddress(a.address) } : {}),
    ...(a.weight !== undefined ? { weight: a.weight } : {}),
    ...(a.flush !== undefined ? { flush: a.flush } : {}),
    ...(a.frontend !== undefined ? { frontend: a.frontend } : {}),
    ...(a.backend !== undefined ? { backend: a.backend } : {})
  }
}

/**
 * The plan of `request` against one maglevd at `now` (Unix ms: the slow
 * starts' steps). A frontend the backend is not in is left out; a set-weight
 * only touches its own pool row. With `flush`, a set-weight to 0 flushes.
 */
export const plan = (request: ActionRequest, input: PlanInput, now: number = Date.now()): Plan => {
  const ops: Array<LbOpInfo> = []
  const vips: Array<PlanVip> = []
  const target = request.backend
  const frontendsBefore = input.frontends.map((f) => frontendOf(f))
  const configBefore = configOf(input, frontendsBefore)
  const info = new Map((input.backends ?? []).map((b) => [b.name, b]))
  const states = new Map<string, HealthStatus>()
  for (const f of input.frontends) for (const p of f.pools) for (const b of p.backends) states.set(b.backend, b.state)
  const before: StatusOf = (b) => states.get(b)
  const after: StatusOf = (b) => (b === target ? stateAfter(request.action, states.get(b) ?? "unknown") : states.get(b))
  const ramps = (status: StatusOf): Ramps => ({
    now,
    // A ramp lasts while the backend stays up; the rules only ask about up backends.
    startedAt: (b) => (status(b) === "up" ? info.get(b)?.slowStartedAt : undefined)
  })
  input.frontends.forEach((f, i) => {
    if (!f.pools.some((p) => p.backends.some((b) => b.backend === target))) return
    if (request.action === "set-weight" && request.frontend !== f.name) return
    const fBefore = frontendsBefore[i]!
    const weight = request.action === "set-weight" && request.pool !== undefined && request.weight !== undefined
      ? { pool: request.pool, backend: target, weight: request.weight }
      : undefined
    const fAfter = weight === undefined ? fBefore : frontendOf(f, weight)
    const configAfter = weight === undefined ? configBefore : configOf(input, frontendsBefore.map((x) => (x === fBefore ? fAfter : x)))
    const observed = observedOf(input.vpp?.lb, f.vip)
    const seed = observed === undefined ? undefined : () => Panic.seedFrom(fBefore, configBefore, observed ?? undefined)
    const was = desiredVip(fBefore, configBefore, before, ramps(before))
    const judged = Panic.evaluate(fBefore, was, before, guardOf(fBefore, f), seed, now)
    const ordinary = desiredVip(fAfter, configAfter, after, ramps(after))
    const next = Panic.evaluate(fAfter, ordinary, after, judged.guard, seed, now).vip
    // The diff from what maglevd asks of VPP now; a backend that moves into a flushing state is flushed even at the same weight.
    const reported = reportedOf(next, f)
    const moved = after(target) !== before(target) && flushesInto(after(target) ?? "unknown", f.flushOnDown)
    const address = next.ases.find((a) => a.backend === target)?.address
    const flush = new Set(moved && address !== undefined ? [flushKey(next, address)] : [])
    const planned = [...diff([next], [reported], { scope: new Set([vipKeyString(next)]), flush })]
    // A set-weight's flush (the LB sync's eviction): weight 0 again, with flush, unless an op already flushes it.
    if (request.action === "set-weight" && request.flush === true) {
      const x = eviction(next, target, planned)
      if (x._tag === "Evict") planned.push(x.op)
    }
    ops.push(...planned.map(opInfo))
    const weightsBefore = new Map(reported.ases.map((a) => [a.address, a.weight]))
    const bucketsBefore = predictedBuckets({ ...next, ases: next.ases.map((a) => ({ ...a, weight: weightsBefore.get(canonicalAddress(a.address)) ?? 0 })) })
    const bucketsAfter = predictedBuckets(next)
    vips.push({
      frontend: f.name,
      vip: f.vip,
      ...(f.activePool !== undefined ? { activePoolBefore: f.activePool } : {}),
      ...(next.activePool !== undefined ? { activePoolAfter: next.activePool } : {}),
      ases: next.ases.map((a) => ({
        address: canonicalAddress(a.address),
        backend: a.backend,
        weightBefore: weightsBefore.get(canonicalAddress(a.address)) ?? 0,
        weightAfter: a.weight,
        bucketsBefore: bucketsBefore.get(a.address) ?? 0,
        bucketsAfter: bucketsAfter.get(a.address) ?? 0
      }))
    })
  })
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
