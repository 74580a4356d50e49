/**
 * What the API shows, as pure functions of one snapshot of the daemon's state
 * (the running configuration, the health map, the operator's weight
 * overrides): backends, frontends with their effective weights and predicted
 * buckets (Desired.ts), health checks, config checks and LB operations, in
 * the wire shapes of Api.ts.
 */
import { HashMap, Option } from "effect"
import type { Config, Frontend, HealthCheck } from "../config/Config.js"
import { formatDuration } from "../config/Duration.js"
import type { CheckResult } from "../config/Issue.js"
import type { BackendHealth, HealthMap } from "../health/HealthChecker.js"
import type { HealthStatus, Transition } from "../health/HealthState.js"
import type { ProbeResult } from "../health/ProbeResult.js"
import { type DesiredVip, desiredVip, frontendState, predictedBuckets } from "../lb/Desired.js"
import { describeOp, type LbOp } from "../lb/Diff.js"
import * as Panic from "../lb/Panic.js"
import type { Ramps } from "../lb/SlowStart.js"
import { frontendVipKey, vipKeyString } from "../lb/VipKey.js"
import type * as Api from "./Api.js"

export interface Snapshot {
  readonly config: Config
  readonly health: HealthMap
  /** The file's weight of every pool member whose weight an operator replaced, by `memberKey`. */
  readonly fileWeights: ReadonlyMap<string, number>
  /** The slow starts in progress (LbSync's), so effective weights are the ramp's steps; none when left out. */
  readonly ramps?: Ramps | undefined
  /** The min-healthy guards (LbSync's), so a frontend in panic shows the weights it keeps; none when left out. */
  readonly panics?: ReadonlyMap<string, Panic.PanicState> | undefined
}

/** A frontend's panic (min-healthy): the LB sync's verdict for the snapshot's health, from its guard (Panic.shown). */
const shownOf = (s: Snapshot, f: Frontend, status: (backend: string) => HealthStatus | undefined) =>
  Panic.shown(f, desiredVip(f, s.config, status, s.ramps), status, s.panics?.get(f.name)?.guard, s.ramps?.now)

/** What VPP should hold for the frontend's VIP: the desired state, with the weights a panic keeps. */
export const desiredIn = (s: Snapshot, f: Frontend): DesiredVip => shownOf(s, f, statusIn(s.health)).vip

/** `frontend/pool/backend`. */
export const memberKey = (frontend: string, pool: string, backend: string): string => `${frontend}/${pool}/${backend}`

/** The health checker's state of a backend, as Desired.ts asks for it. */
export const statusIn = (health: HealthMap) => (backend: string): HealthStatus | undefined =>
  Option.getOrUndefined(Option.map(HashMap.get(health, backend), (h) => h.status))

/**
 * The desired VIP of each frontend, computed once per snapshot and only for
 * the frontends asked about (a list of backends over 1,000 frontends computes
 * each VIP once, not once per backend).
 */
const desiredOf = (s: Snapshot): (f: Frontend) => DesiredVip => {
  const cache = new Map<string, DesiredVip>()
  const status = statusIn(s.health)
  return (f) => {
    let vip = cache.get(f.name)
    if (vip === undefined) {
      vip = shownOf(s, f, status).vip
      cache.set(f.name, vip)
    }
    return vip
  }
}

export const probeResultInfo = (r: ProbeResult): Api.ProbeResultInfo => ({
  ok: r.ok,
  code: r.code,
  durationMs: r.durationMs,
  detail: r.detail
})

export const transitionInfo = (t: Transition): Api.TransitionInfo => ({
  at: t.at,
  from: t.from,
  to: t.to,
  cause: t.cause,
  result: t.result === undefined ? undefined : probeResultInfo(t.result)
})

/** The weight of `backend`'s AS through `pool`: the AS's desired weight when the pool is active, else 0. */
const effectiveIn = (vip: DesiredVip, pool: string, backend: string): number =>
  vip.activePool === pool ? (vip.ases.find((a) => a.backend === backend)?.weight ?? 0) : 0

/** When `backend`'s slow start through `pool` ends, while it ramps in the active pool. */
const rampIn = (vip: DesiredVip, pool: string, backend: string): number | undefined =>
  vip.activePool === pool ? vip.ases.find((a) => a.backend === backend)?.slowStartUntil : undefined

const backendInfoWith = (s: Snapshot, desired: (f: Frontend) => DesiredVip, h: BackendHealth): Api.BackendInfo => {
  const memberships: Array<Api.MembershipInfo> = []
  if (s.config.backends.has(h.name)) {
    for (const f of s.config.frontends.values()) {
      for (const pool of f.pools) {
        const m = pool.backends.find((m) => m.backend === h.name)
        if (m === undefined) continue
        const vip = desired(f)
        memberships.push({
          frontend: f.name,
          pool: pool.name,
          weight: m.weight,
          effectiveWeight: effectiveIn(vip, pool.name, h.name),
          slowStartUntil: rampIn(vip, pool.name, h.name),
          active: vip.activePool === pool.name
        })
      }
    }
  }
  return {
    name: h.name,
    address: h.address,
    healthcheck: h.healthcheck,
    enabled: h.status !== "disabled",
    state: h.status,
    counter: h.counter,
    rise: h.rise,
    fall: h.fall,
    lastResult: h.lastResult === undefined ? undefined : probeResultInfo(h.lastResult),
    lastProbeAt: h.lastProbeAt,
    transitions: h.transitions.map(transitionInfo),
    slowStartedAt: s.ramps?.startedAt(h.name),
    memberships
  }
}

/** One backend, given its health (which may be newer than the snapshot's, e.g. from a transition event). */
export const backendInfo = (s: Snapshot, h: BackendHealth): Api.BackendInfo => backendInfoWith(s, desiredOf(s), h)

/** Every backend: the configured ones in file order, then those a reload removed (until the next reload forgets them). */
export const backendInfos = (s: Snapshot): ReadonlyArray<Api.BackendInfo> => {
  const desired = desiredOf(s)
  const out: Array<Api.BackendInfo> = []
  for (const name of s.config.backends.keys()) {
    const h = HashMap.get(s.health, name)
    if (Option.isSome(h)) out.push(backendInfoWith(s, desired, h.value))
  }
  for (const [name, h] of s.health) if (!s.config.backends.has(name)) out.push(backendInfoWith(s, desired, h))
  return out
}

const frontendInfoWith = (s: Snapshot, vip: DesiredVip, f: Frontend): Api.FrontendInfo => {
  const buckets = predictedBuckets(vip)
  const status = statusIn(s.health)
  const shown = Panic.mayPanic(f, status, s.panics?.get(f.name)?.guard) ? shownOf(s, f, status) : undefined
  const panic = shown?.panic === undefined ? undefined : { ...shown.panic, kept: shown.kept }
  return {
    name: f.name,
    description: f.description,
    address: f.address,
    protocol: f.protocol,
    port: f.port,
    vip: vipKeyString(frontendVipKey(f)),
    srcIpSticky: f.srcIpSticky,
    flushOnDown: f.flushOnDown,
    newFlowsTableLength: f.newFlowsTableLength,
    minHealthy: f.minHealthy === undefined ? undefined : Panic.formatMinHealthy(f.minHealthy),
    panic,
    // In panic the kept weights serve, whatever health says: a state of its own (FrontendState.ts, the metrics, the log).
    state: panic === undefined ? frontendState(vip) : "panic",
    activePool: vip.activePool,
    pools: f.pools.map((pool) => ({
      name: pool.name,
      slowStart: pool.slowStart === undefined ? undefined : formatDuration(pool.slowStart),
      active: vip.activePool === pool.name,
      backends: pool.backends.map((m) => {
        const address = s.config.backends.get(m.backend)?.address ?? ""
        const transitions = Option.getOrUndefined(HashMap.get(s.health, m.backend))?.transitions
        const effectiveWeight = effectiveIn(vip, pool.name, m.backend)
        const active = vip.activePool === pool.name
        return {
          backend: m.backend,
          address,
          state: status(m.backend) ?? "unknown",
          weight: m.weight,
          fileWeight: s.fileWeights.get(memberKey(f.name, pool.name, m.backend)),
          effectiveWeight,
          slowStartUntil: rampIn(vip, pool.name, m.backend),
          buckets: active ? (buckets.get(address) ?? 0) : 0,
          since: transitions?.[transitions.length - 1]?.at
        }
      })
    }))
  }
}

export const frontendInfo = (s: Snapshot, f: Frontend): Api.FrontendInfo => frontendInfoWith(s, desiredOf(s)(f), f)

export const frontendInfos = (s: Snapshot): ReadonlyArray<Api.FrontendInfo> => {
  const desired = desiredOf(s)
  return [...s.config.frontends.values()].map((f) => frontendInfoWith(s, desired(f), f))
}

export const healthCheckInfo = (config: Config, hc: HealthCheck): Api.HealthCheckInfo => ({
  name: hc.name,
  type: hc.type,
  port: hc.port,
  interval: formatDuration(hc.interval),
  fastInterval: formatDuration(hc.fastInterval),
  downInterval: formatDuration(hc.downInterval),
  timeout: formatDuration(hc.timeout),
  rise: hc.rise,
  fall: hc.fall,
  probeIpv4Src: hc.probeIpv4Src,
  probeIpv6Src: hc.probeIpv6Src,
  slowStart: hc.slowStart === undefined ? undefined : formatDuration(hc.slowStart),
  http: hc.http === undefined ? undefined : { ...hc.http, expectedCodes: hc.http.expectedCodes.map((r) => ({ ...r })) },
  tcp: hc.tcp === undefined ? undefined : { ...hc.tcp },
  backends: [...config.backends.values()].filter((b) => b.healthcheck === hc.name).map((b) => b.name)
})

export const checkResultInfo = (result: CheckResult): Api.CheckResultInfo => {
  switch (result._tag) {
    case "Valid":
      return {
        _tag: "Valid",
        warnings: result.warnings,
        frontends: result.config.frontends.size,
        backends: result.config.backends.size,
        healthchecks: result.config.healthchecks.size
      }
    case "ParseError":
      return { _tag: "ParseError", errors: result.errors }
    case "SemanticError":
      return { _tag: "SemanticError", errors: result.errors, warnings: result.warnings }
  }
}

/** A file that cannot be read checks as a parse error with one issue about the whole file (as `--check` exits 1). */
export const unreadable = (file: string, reason: string): Api.CheckResultInfo => ({
  _tag: "ParseError",
  errors: [{ path: "", rule: `cannot read ${file}: ${reason}` }]
})

export const opInfo = (op: LbOp): Api.LbOpInfo => {
  const event = describeOp(op).event
  const vip = vipKeyString(op.vip)
  switch (op._tag) {
    case "VipAdd":
      return { op: op._tag, event, vip, frontend: op.vip.frontend }
    case "VipDel":
      return { op: op._tag, event, vip, frontend: op.frontend }
    case "AsAdd":
    case "AsWeight":
      return { op: op._tag, event, vip, address: op.address, weight: op.weight, flush: op.flush, frontend: op.frontend, backend: op.backend }
    case "AsDel":
      return { op: op._tag, event, vip, address: op.address, flush: op.flush, frontend: op.frontend, backend: op.backend }
  }
}
