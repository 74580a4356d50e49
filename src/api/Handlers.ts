/**
 * The handlers of every RPC in `MaglevApi`. They own no state: they read the
 * daemon's services (HealthChecker, VppSupervisor, LbSync), change things
 * through them or through `Control`, and turn the answers into the wire
 * shapes (Info.ts) and the API's errors.
 */
import { Clock, Effect, HashMap, Option } from "effect"
import * as HealthChecker from "../health/HealthChecker.js"
import * as LbSync from "../lb/LbSync.js"
import { canonicalAddress, frontendVipKey, vipKeyString } from "../lb/VipKey.js"
import { lb } from "../vpp/binapi/index.js"
import * as Supervisor from "../vpp/Supervisor.js"
import { Conflict, type LbState, MaglevApi, NotFound, Unavailable } from "./Api.js"
import { Control } from "./Control.js"
import { backendInfo, backendInfos, frontendInfo, frontendInfos, healthCheckInfo, opInfo } from "./Info.js"
import { LogHub } from "./LogHub.js"
import { COMMIT, COMMIT_DATE, VERSION } from "../Version.js"
import { watchEvents } from "./Watch.js"

const unavailable = (e: Supervisor.VppUnavailable) => new Unavailable({ reason: e.reason })

const actionError = (e: HealthChecker.ActionError) =>
  e._tag === "BackendNotFound" ? new NotFound({ kind: "backend", name: e.backend }) : new Conflict({ reason: e.message })

export const layer = MaglevApi.toLayer(Effect.gen(function*() {
  const checker = yield* HealthChecker.HealthChecker
  const vpp = yield* Supervisor.VppSupervisor
  const sync = yield* LbSync.LbSync
  const control = yield* Control
  const hub = yield* LogHub
  const startedAt = yield* Clock.currentTimeMillis

  const backendAfter = (action: Effect.Effect<HealthChecker.BackendHealth, HealthChecker.ActionError>) =>
    Effect.flatMap(Effect.mapError(action, actionError), (health) => Effect.map(control.snapshot, (s) => backendInfo(s, health)))

  /** The connection, or why there is none. */
  const connected = Effect.mapError(vpp.connected, unavailable)

  const lbState = Effect.gen(function*() {
    const { connection } = yield* connected
    const config = yield* checker.config
    const failed = (e: { readonly message: string }) => new Unavailable({ reason: `VPP request failed: ${e.message}` })
    const conf = yield* Effect.mapError(connection.request(lb.LbConfGet, lb.LbConfGetReply, {}), failed)
    const observed = yield* Effect.mapError(LbSync.observe(connection, () => undefined), failed)
    const frontends = new Map([...config.frontends.values()].map((f) => [vipKeyString(frontendVipKey(f)), f.name]))
    const backends = new Map<string, string>()
    for (const b of config.backends.values()) {
      const a = canonicalAddress(b.address)
      if (!backends.has(a)) backends.set(a, b.name)
    }
    return {
      conf: {
        ip4SrcAddress: conf.ip4_src_address,
        ip6SrcAddress: conf.ip6_src_address,
        stickyBucketsPerCore: conf.sticky_buckets_per_core,
        flowTimeout: conf.flow_timeout
      },
      vips: observed.map((v) => ({
        vip: vipKeyString(v),
        prefix: v.prefix,
        protocol: v.protocol,
        port: v.port,
        encap: v.encap,
        srcIpSticky: v.srcIpSticky,
        newFlowsTableLength: v.newFlowsTableLength,
        frontend: frontends.get(vipKeyString(v)),
        ases: v.ases.map((a) => ({
          address: a.address,
          weight: a.weight,
          active: !a.lameduck,
          numBuckets: a.numBuckets,
          backend: backends.get(a.address)
        }))
      }))
    } satisfies LbState
  })

  return MaglevApi.of({
    GetVersion: () => Effect.succeed({ version: VERSION, commit: COMMIT, date: COMMIT_DATE, startedAt, configFile: control.configFile }),
    ListFrontends: () => Effect.map(control.snapshot, frontendInfos),
    GetFrontend: ({ name }) =>
      Effect.flatMap(control.snapshot, (s) => {
        const f = s.config.frontends.get(name)
        return f === undefined ? new NotFound({ kind: "frontend", name }) : Effect.succeed(frontendInfo(s, f))
      }),
    ListBackends: () => Effect.map(control.snapshot, backendInfos),
    GetBackend: ({ name }) =>
      Effect.flatMap(control.snapshot, (s) =>
        Option.match(HashMap.get(s.health, name), {
          onNone: () => new NotFound({ kind: "backend", name }),
          onSome: (h) => Effect.succeed(backendInfo(s, h))
        })),
    ListHealthChecks: () => Effect.map(checker.config, (c) => [...c.healthchecks.values()].map((hc) => healthCheckInfo(c, hc))),
    GetHealthCheck: ({ name }) =>
      Effect.flatMap(checker.config, (c) => {
        const hc = c.healthchecks.get(name)
        return hc === undefined ? new NotFound({ kind: "healthcheck", name }) : Effect.succeed(healthCheckInfo(c, hc))
      }),
    PauseBackend: ({ name }) => backendAfter(checker.pause(name)),
    ResumeBackend: ({ name }) => backendAfter(checker.resume(name)),
    EnableBackend: ({ name }) => backendAfter(checker.enable(name)),
    DisableBackend: ({ name }) => backendAfter(checker.disable(name)),
    SetFrontendPoolBackendWeight: (request) =>
      Effect.flatMap(control.setWeight(request), (after) =>
        Effect.map(control.snapshot, (s) => frontendInfo(s, s.config.frontends.get(after.name) ?? after))),
    CheckConfig: ({ path }) => control.checkFile(path),
    ReloadConfig: () => control.reloadFile("rpc"),
    GetVPPInfo: () => Effect.map(connected, (c) => ({ ...c.info })),
    GetVPPLBState: () => lbState,
    SyncVPPLBState: ({ dryRun, frontend }) =>
      sync.sync({ frontend, dryRun }).pipe(
        Effect.map((r) => ({ applied: r.applied, scope: r.scope, ops: r.ops.map(opInfo) })),
        Effect.catchTags({
          VppUnavailable: (e) => Effect.fail(unavailable(e)),
          UnknownFrontend: (e) => Effect.fail(new NotFound({ kind: "frontend", name: e.frontend })),
          LbSyncError: (e) => Effect.fail(new Conflict({ reason: e.message }))
        })
      ),
    GetVPPLBCounters: () =>
      Effect.gen(function*() {
        yield* connected
        const config = yield* checker.config
        const counters = yield* sync.counters
        return [...config.frontends.values()].flatMap((f) => {
          const c = counters.get(f.name)
          return c === undefined ? [] : [{ frontend: f.name, vip: vipKeyString(frontendVipKey(f)), ...c }]
        })
      }),
    WatchEvents: (request) => watchEvents({ checker, control, hub }, request)
  })
}))
