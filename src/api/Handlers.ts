/**
 * The handlers of every RPC in `MaglevApi`. They own no state: they read the
 * daemon's services (HealthChecker, VppSupervisor, LbSync), change things
 * through them or through `Control`, and turn the answers into the wire
 * shapes (Info.ts) and the API's errors.
 */
import { Clock, Effect, HashMap, LogLevel, Option, Ref, Stream } from "effect"
import * as LogLimit from "../internal/LogLimit.js"
import * as HealthChecker from "../health/HealthChecker.js"
import { asFlowsByFrontend } from "../lb/AsFlows.js"
import * as LbSync from "../lb/LbSync.js"
import { canonicalAddress, frontendVipKey, vipKeyString } from "../lb/VipKey.js"
import { lb } from "../vpp/binapi/index.js"
import * as Supervisor from "../vpp/Supervisor.js"
import { Busy, Conflict, type LbState, MaglevApi, NotFound, Unavailable } from "./Api.js"
import { Control } from "./Control.js"
import { getFrontendFlow } from "./Flow.js"
import { backendInfo, backendInfos, frontendInfo, frontendInfos, healthCheckInfo, opInfo } from "./Info.js"
import { LogHub } from "./LogHub.js"
import * as Version from "../Version.js"
import type { Overflowed } from "./internal/HttpProtocol.js"
import { watchEvents } from "./Watch.js"

export interface HandlersOptions {
  /** Open `WatchEvents` streams at most; the next one fails with `Busy`. Default 64. */
  readonly maxWatchers?: number | undefined
  /**
   * Of those, at debug level at most (each costs an encoded record per
   * binary-API message); default 4.
   */
  readonly maxDebugWatchers?: number | undefined
  /** From the transport (internal/HttpProtocol.ts): when a client's response fell too far behind. */
  readonly overflowed?: ((clientId: number) => Effect.Effect<Overflowed>) | undefined
}

export const DEFAULT_MAX_WATCHERS = 64
export const DEFAULT_MAX_DEBUG_WATCHERS = 4

const unavailable = (e: Supervisor.VppUnavailable) => new Unavailable({ reason: e.reason })

const actionError = (e: HealthChecker.ActionError) =>
  e._tag === "BackendNotFound" ? new NotFound({ kind: "backend", name: e.backend }) : new Conflict({ reason: e.message })

export const layer = (options: HandlersOptions = {}) => MaglevApi.toLayer(Effect.gen(function*() {
  const checker = yield* HealthChecker.HealthChecker
  const vpp = yield* Supervisor.VppSupervisor
  const sync = yield* LbSync.LbSync
  const control = yield* Control
  const hub = yield* LogHub
  const startedAt = yield* Clock.currentTimeMillis
  const maxWatchers = options.maxWatchers ?? DEFAULT_MAX_WATCHERS
  const maxDebugWatchers = options.maxDebugWatchers ?? DEFAULT_MAX_DEBUG_WATCHERS
  const watchers = yield* Ref.make({ all: 0, debug: 0 })
  // Any client can ask for watches: the refusals are rate-limited.
  const limit = yield* LogLimit.make()

  /** A watcher's place, for as long as the stream's scope is open; Busy when all are taken. */
  const admitWatcher = (debug: boolean) =>
    Effect.acquireRelease(
      Ref.modify(watchers, (n): readonly [string | undefined, { readonly all: number; readonly debug: number }] =>
        n.all >= maxWatchers
          ? [`${maxWatchers} watches open already, the most it takes (--rpc-max-watchers)`, n]
          : debug && n.debug >= maxDebugWatchers
          ? [`${maxDebugWatchers} debug-level watches open already, the most it takes (--rpc-max-debug-watchers)`, n]
          : [undefined, { all: n.all + 1, debug: n.debug + (debug ? 1 : 0) }]),
      (refused) => (refused === undefined ? Ref.update(watchers, (n) => ({ all: n.all - 1, debug: n.debug - (debug ? 1 : 0) })) : Effect.void)
    ).pipe(
      Effect.flatMap((refused) =>
        refused === undefined
          ? Effect.void
          : Effect.zipRight(
            limit.log(LogLevel.Warning, "WatchEvents refused: the server has as many watchers as it takes", {
              event: "rpc-watch-refused",
              max_watchers: maxWatchers,
              max_debug_watchers: maxDebugWatchers,
              debug
            }),
            Effect.fail(new Busy({ reason: refused }))
          )
      )
    )

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
    GetVersion: () => Effect.map(Version.build, (b) => ({ version: b.version, commit: b.commit, date: b.date, startedAt, configFile: control.configFile })),
    ListFrontends: () => Effect.map(control.snapshot, frontendInfos),
    GetFrontend: ({ name }) =>
      Effect.flatMap(control.snapshot, (s) => {
        const f = s.config.frontends.get(name)
        return f === undefined ? new NotFound({ kind: "frontend", name }) : Effect.succeed(frontendInfo(s, f))
      }),
    GetFrontendFlow: getFrontendFlow(control.snapshot),
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
        const flows = asFlowsByFrontend(config, yield* vpp.lbVips)
        return [...config.frontends.values()].flatMap((f) => {
          const c = counters.get(f.name)
          return c === undefined ? [] : [{ frontend: f.name, vip: vipKeyString(frontendVipKey(f)), ...c, ases: flows.get(f.name) }]
        })
      }),
    WatchEvents: (request, { clientId }) =>
      Stream.unwrapScoped(Effect.as(
        admitWatcher(request.logLevel === "debug"),
        watchEvents({ checker, control, hub, overflowed: options.overflowed?.(clientId) }, request)
      ))
  })
}))
