/**
 * The LB sync loop: makes VPP's lb plugin match the desired state computed
 * from the configuration and the health of every backend, with the fewest
 * mutations, and none at all when VPP already matches.
 *
 *   triggers ─▶ Queue<Trigger> ─▶ sync fiber: coalesce everything pending,
 *                                  ask the warm-up gate what may be touched,
 *                                  dump VPP, diff (pure), apply, log
 *
 * Triggers: every health transition (the frontends using that backend, with
 * a flush where the new state asks for one), a full sync every
 * `sync-interval`, after every reload (`requestFull`) and after every VPP
 * (re)connect, and the warm-up's phase changes.
 */
import { Chunk, Clock, Context, Data, Duration, Effect, HashMap, Layer, Option, Queue, Stream } from "effect"
import type { Config, Frontend } from "../config/Config.js"
import * as HealthChecker from "../health/HealthChecker.js"
import type { HealthStatus } from "../health/HealthState.js"
import * as Metrics from "../metrics/Metrics.js"
import type { VppRequestError } from "../vpp/transport/Errors.js"
import type { VppConnection } from "../vpp/transport/VppApi.js"
import { lb } from "../vpp/binapi/index.js"
import { showLbVips } from "../vpp/LbVips.js"
import * as Supervisor from "../vpp/Supervisor.js"
import { type DesiredVip, desiredState, desiredVip } from "./Desired.js"
import { applyOp, describeOp, diff, flushKey, type LbOp, type ObservedVip, observedFromDumps } from "./Diff.js"
import * as Requests from "./Requests.js"
import { frontendVipKey, type VipKey, vipKeyString } from "./VipKey.js"
import * as WarmUp from "./WarmUp.js"

export interface SyncReport {
  readonly ops: ReadonlyArray<LbOp>
  readonly applied: boolean
  readonly scope: "full" | ReadonlyArray<string>
}

/** A VPP request of a sync failed; the sync stopped there (the next one retries). */
export class LbSyncError extends Data.TaggedError("LbSyncError")<{
  readonly op: LbOp
  readonly reason: string
}> {
  override get message(): string {
    return `${describeOp(this.op).event} failed: ${this.reason}`
  }
}

export class UnknownFrontend extends Data.TaggedError("UnknownFrontend")<{ readonly frontend: string }> {}

export interface LbSyncShape {
  /** Syncs now (all VIPs, or one frontend's); with `dryRun` only returns the plan. */
  readonly sync: (options?: {
    readonly frontend?: string | undefined
    readonly dryRun?: boolean | undefined
  }) => Effect.Effect<SyncReport, Supervisor.VppUnavailable | LbSyncError | UnknownFrontend>
  /** After a reload: pushes the new lb_conf (if it changed) and asks the loop for a full sync. */
  readonly requestFull: (reason: string) => Effect.Effect<void>
  /** The desired state right now. */
  readonly desired: Effect.Effect<ReadonlyArray<DesiredVip>>
  /** The warm-up phase right now. */
  readonly phase: Effect.Effect<WarmUp.Phase>
  /** The lb plugin's four per-VIP counters by frontend (frontends whose VIP VPP does not hold are left out); empty while disconnected. */
  readonly counters: Effect.Effect<ReadonlyMap<string, Supervisor.VipCounters>>
  /** No trigger is pending and no triggered sync is running (for tests and the simulation harness). */
  readonly idle: Effect.Effect<boolean>
}

export class LbSync extends Context.Tag("vpp-maglev/LbSync")<LbSync, LbSyncShape>() {}

type Trigger =
  | { readonly _tag: "Full"; readonly reason: string }
  | { readonly _tag: "Vips"; readonly keys: ReadonlyArray<string>; readonly flush: ReadonlyArray<string> }
  | { readonly _tag: "Tick" }

/** Requests in flight at once while applying a sync's ops. */
const WINDOW = 256

/** An all-zero prefix: "every VIP" for both dumps. */
const ALL_VIPS = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const

/**
 * VPP's view: every VIP, and every AS dumped without a filter (a filter on an
 * IPv4 VIP matches nothing: VPP bug, vpp-wire.md §3.7), grouped client-side.
 * src_ip_sticky is not in the dumps: it comes from `show lb vips verbose`
 * (LbVips.ts); when that cannot be read, from `remembered` (what this process
 * programmed), else it is not compared.
 */
export const observe = Effect.fn("LbSync.observe")(function*(
  conn: VppConnection,
  remembered: (vip: VipKey) => boolean | undefined
) {
  const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL_VIPS, pfx_matcher: { le: 0, ge: 0 } })
  const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL_VIPS)
  const listed = yield* showLbVips(conn).pipe(
    Effect.map((records) => new Map(records.filter((r) => !r.removed).map((r) => [vipKeyString(r.key), r.srcIpSticky]))),
    Effect.catchTag("LbVipsParseError", (e) =>
      Effect.logWarning("cannot read src_ip_sticky from show lb vips verbose").pipe(
        Effect.annotateLogs({ event: "vpp-lb-vips-failed", error: e.message }),
        Effect.as(undefined)
      )),
    Effect.catchTag("VppApiError", () => Effect.succeed(undefined))
  )
  const sticky = (k: VipKey) => (listed === undefined ? remembered(k) : listed.get(vipKeyString(k)) ?? remembered(k))
  return observedFromDumps(Chunk.toReadonlyArray(vips), Chunk.toReadonlyArray(ases), sticky)
})

const statusLookup = (health: HealthChecker.HealthMap) => (backend: string): HealthStatus =>
  Option.match(HashMap.get(health, backend), { onNone: () => "unknown", onSome: (h) => h.status })

/**
 * The frontends each backend serves in, per configuration (a reload brings a
 * new Config object): a transition then costs its own frontends, not a scan of
 * every pool of every frontend (10,000 first transitions at start-up would
 * otherwise scan the whole configuration 10,000 times).
 */
const frontendsOfCache = new WeakMap<Config, ReadonlyMap<string, ReadonlyArray<Frontend>>>()
const frontendsOf = (config: Config, backend: string): ReadonlyArray<Frontend> => {
  let index = frontendsOfCache.get(config)
  if (index === undefined) {
    const m = new Map<string, Array<Frontend>>()
    for (const f of config.frontends.values()) {
      const names = new Set<string>()
      for (const p of f.pools) for (const member of p.backends) names.add(member.backend)
      for (const name of names) {
        const list = m.get(name)
        if (list === undefined) m.set(name, [f])
        else list.push(f)
      }
    }
    index = m
    frontendsOfCache.set(config, index)
  }
  return index.get(backend) ?? []
}

/** Which VIPs a backend's transition touches, and the flushes it asks for. */
const affected = (config: Config, event: HealthChecker.HealthEvent): Extract<Trigger, { _tag: "Vips" }> => {
  const keys: Array<string> = []
  const flush: Array<string> = []
  const to = event.transition.to
  for (const f of frontendsOf(config, event.backend)) {
    const key = frontendVipKey(f)
    keys.push(vipKeyString(key))
    if (to === "disabled" || to === "removed" || (to === "down" && f.flushOnDown)) flush.push(flushKey(key, event.address))
  }
  return { _tag: "Vips", keys, flush }
}

export const make = Effect.fn("LbSync.make")(function*() {
  const checker = yield* HealthChecker.HealthChecker
  const vpp = yield* Supervisor.VppSupervisor
  const triggers = yield* Queue.unbounded<Trigger>()
  const config0 = yield* checker.config
  const now0 = yield* Clock.currentTimeMillis
  let warm = WarmUp.start(
    now0,
    Duration.toMillis(config0.vpp.lb.startupMinDelay),
    Duration.toMillis(config0.vpp.lb.startupMaxDelay)
  )
  const released = new Set<string>()
  // lb_conf follows the configuration: now, and after every reload (requestFull).
  yield* vpp.setLbConf(config0.vpp.lb)
  // src_ip_sticky is not in lb_vip_details: what this process programmed is what it knows.
  const sticky = new Map<string, boolean>()

  /**
   * VPP's lb state as this process last saw it: replaced by every dump, updated
   * with every op VPP accepts (`applyOp`), and dropped on any failure or when the
   * connection changes. Health-triggered syncs diff against it instead of
   * dumping everything (the AS dump cannot be filtered on IPv4 VIPs), which is
   * what keeps their reaction time independent of the number of VIPs; every
   * other sync dumps, so drift by other clients is repaired at the next one.
   */
  let memory: { readonly conn: VppConnection; readonly vips: Map<string, ObservedVip> } | undefined

  /** Every frontend by its VIP key, per configuration (a reload brings a new Config object). */
  const byKeyCache = new WeakMap<Config, ReadonlyMap<string, Frontend>>()
  const frontendsByKey = (config: Config): ReadonlyMap<string, Frontend> => {
    let m = byKeyCache.get(config)
    if (m === undefined) {
      m = new Map([...config.frontends.values()].map((f) => [vipKeyString(frontendVipKey(f)), f]))
      byKeyCache.set(config, m)
    }
    return m
  }

  /** The desired VIPs: all, or only those of the frontends in scope. */
  const desiredFor = (scope: ReadonlySet<string> | undefined) =>
    Effect.gen(function*() {
      const config = yield* checker.config
      const health = yield* checker.statuses
      if (scope === undefined) return desiredState(config, statusLookup(health))
      const byKey = frontendsByKey(config)
      const out: Array<DesiredVip> = []
      for (const k of scope) {
        const f = byKey.get(k)
        if (f !== undefined) out.push(desiredVip(f, config, statusLookup(health)))
      }
      return out
    })

  const desiredNow = desiredFor(undefined)

  /**
   * Sends the ops pipelined (VPP answers in order), logs each one VPP accepted,
   * and keeps `memory` in step; the first refusal fails the sync (ops after it
   * were already sent: those VPP accepted are logged, and memory is dropped so
   * the next sync starts from a dump).
   */
  const apply = (conn: VppConnection, ops: ReadonlyArray<LbOp>) =>
    Effect.gen(function*() {
      let failed: LbSyncError | undefined
      for (let i = 0; i < ops.length; i += WINDOW) {
        const batch = ops.slice(i, i + WINDOW)
        const waits: Array<Effect.Effect<unknown, VppRequestError>> = []
        for (const op of batch) {
          const sent = yield* Effect.either(Requests.start(conn, op))
          if (sent._tag === "Left") {
            failed ??= new LbSyncError({ op, reason: sent.left.message })
            break
          }
          waits.push(sent.right)
        }
        for (const [j, wait] of waits.entries()) {
          const op = batch[j]!
          const done = yield* Effect.either(wait)
          if (done._tag === "Left") {
            failed ??= new LbSyncError({ op, reason: done.left.message })
            continue
          }
          const k = vipKeyString(op.vip)
          if (memory !== undefined) {
            const next = applyOp(memory.vips.get(k), op)
            if (next === undefined) memory.vips.delete(k)
            else memory.vips.set(k, next)
          }
          if (op._tag === "VipAdd") sticky.set(k, op.vip.srcIpSticky)
          if (op._tag === "VipDel") sticky.delete(k)
          yield* Metrics.countLbOp(op)
          const d = describeOp(op)
          yield* Effect.logInfo(d.event).pipe(Effect.annotateLogs({ event: d.event, ...d.fields }))
        }
        if (failed !== undefined) break
      }
      if (failed !== undefined) {
        memory = undefined
        return yield* failed
      }
    })

  /**
   * Diffs and (unless dry) applies; the one path every sync takes. VPP's state
   * comes from a dump, or from `memory` when `fromMemory` and it is current.
   */
  const run = (
    scope: ReadonlySet<string> | undefined,
    flush: ReadonlySet<string>,
    dryRun: boolean,
    why: string,
    fromMemory = false
  ): Effect.Effect<SyncReport, Supervisor.VppUnavailable | LbSyncError> =>
    Effect.gen(function*() {
      const connected = yield* vpp.connected
      const conn = connected.connection
      const desired = yield* desiredFor(scope)
      let observed: ReadonlyArray<ObservedVip>
      const cached = fromMemory && scope !== undefined && memory !== undefined && memory.conn === conn ? memory : undefined
      if (cached !== undefined) {
        observed = [...scope!].flatMap((k) => {
          const o = cached.vips.get(k)
          return o === undefined || o.deleted === true ? [] : [o]
        })
      } else {
        observed = yield* observe(conn, (k) => sticky.get(vipKeyString(k))).pipe(
          Effect.mapError((e) => new Supervisor.VppUnavailable({ reason: `dump failed: ${e.message}` }))
        )
        memory = { conn, vips: new Map(observed.map((o) => [vipKeyString(o), o])) }
      }
      const ops = diff(desired, observed, scope === undefined ? { flush } : { scope, flush })
      if (fromMemory && ops.some((op) => op._tag === "VipAdd")) {
        // A VIP to add (a reload's new frontend, or one another client deleted): VPP refuses it next
        // to a stale VIP on the same prefix that only a full sync deletes, so sync everything.
        return yield* run(undefined, flush, dryRun, `${why}; a VIP to add`)
      }
      const report: SyncReport = { ops, applied: !dryRun, scope: scope === undefined ? "full" : [...scope] }
      if (dryRun) return report
      const started = yield* Clock.currentTimeMillis
      yield* Effect.logDebug("lb sync start").pipe(
        Effect.annotateLogs({ event: "vpp-lbsync-start", reason: why, scope: report.scope === "full" ? "full" : report.scope.length })
      )
      const applied = yield* Effect.either(apply(conn, ops))
      if (applied._tag === "Left") {
        if (cached === undefined) return yield* applied.left
        // What this process remembered was stale (another client changed VPP): once more from a dump.
        yield* Effect.logWarning("lb sync from memory refused; syncing again from a dump").pipe(
          Effect.annotateLogs({ event: "vpp-lbsync-stale", reason: why, error: applied.left.message })
        )
        return yield* run(scope, flush, false, why, false)
      }
      const took = (yield* Clock.currentTimeMillis) - started
      yield* (ops.length > 0 ? Effect.logInfo : Effect.logDebug)("lb sync done").pipe(
        Effect.annotateLogs({
          event: "vpp-lbsync-done",
          reason: why,
          scope: report.scope === "full" ? "full" : report.scope.length,
          mutations: ops.length,
          duration_ms: took
        })
      )
      return report
    })

  /** One pass of the loop over everything that was pending, under the warm-up gate. */
  const handle = (batch: ReadonlyArray<Trigger>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const phase = WarmUp.phase(warm, now)
      if (phase === "hands-off") return
      let full = false
      const reasons = new Set<string>()
      const keys = new Set<string>()
      const flush = new Set<string>()
      for (const t of batch) {
        if (t._tag === "Full") {
          full = true
          reasons.add(t.reason)
        } else if (t._tag === "Vips") {
          for (const k of t.keys) keys.add(k)
          for (const f of t.flush) flush.add(f)
          reasons.add("health")
        }
      }
      if (phase === "releasing") {
        const desired = yield* desiredNow
        const ready = desired.filter((v) => WarmUp.releasable(v)).map((v) => vipKeyString(v))
        const fresh = ready.filter((k) => !released.has(k))
        const scope = new Set([...fresh, ...[...keys].filter((k) => released.has(k))])
        if (ready.length === desired.length) {
          warm = WarmUp.finish(warm)
          yield* Effect.logInfo("warm-up done: every VIP released").pipe(Effect.annotateLogs({ event: "vpp-lbsync-warmup-done" }))
          yield* run(undefined, flush, false, "warm-up done")
          for (const k of ready) released.add(k)
          return
        }
        if (scope.size === 0) return
        yield* run(scope, flush, false, "warm-up release")
        for (const k of fresh) released.add(k)
        return
      }
      if (!warm.done) {
        warm = WarmUp.finish(warm)
        yield* Effect.logInfo("warm-up done: startup-max-delay reached").pipe(
          Effect.annotateLogs({ event: "vpp-lbsync-warmup-done" })
        )
        full = true
        reasons.add("warm-up deadline")
      }
      if (full) yield* run(undefined, flush, false, [...reasons].join(", "))
      else if (keys.size > 0) yield* run(keys, flush, false, [...reasons].join(", "), true)
    }).pipe(
      Effect.catchAll((e) =>
        e._tag === "VppUnavailable"
          ? Effect.logDebug("lb sync skipped: VPP unavailable").pipe(Effect.annotateLogs({ event: "vpp-lbsync-skipped", reason: e.reason }))
          : Effect.logError("lb sync failed").pipe(Effect.annotateLogs({ event: "vpp-lbsync-failed", error: e.message }))
      ),
      Effect.catchAllCause((cause) => Effect.logError("lb sync defect", cause).pipe(Effect.annotateLogs({ event: "vpp-lbsync-defect" })))
    )

  // The sync fiber: wait for a trigger, take everything pending with it, sync once.
  let running = false
  yield* Effect.forkScoped(Effect.forever(
    Queue.take(triggers).pipe(
      Effect.flatMap((first) => Queue.takeAll(triggers).pipe(Effect.map((rest) => [first, ...Chunk.toReadonlyArray(rest)]))),
      Effect.tap(() => Effect.sync(() => (running = true))),
      Effect.flatMap(handle),
      Effect.ensuring(Effect.sync(() => (running = false)))
    )
  ))

  // Health transitions.
  const events = yield* checker.subscribe
  // Transitions that arrived together (a start-up storm, a switch going down) become one trigger.
  yield* Effect.forkScoped(Effect.forever(
    Queue.take(events).pipe(
      Effect.flatMap((first) => Effect.map(Queue.takeAll(events), (rest) => [first, ...Chunk.toReadonlyArray(rest)])),
      Effect.flatMap((batch) =>
        Effect.flatMap(checker.config, (config) => {
          const keys = new Set<string>()
          const flush = new Set<string>()
          for (const event of batch) {
            const t = affected(config, event)
            for (const k of t.keys) keys.add(k)
            for (const f of t.flush) flush.add(f)
          }
          return Queue.offer(triggers, { _tag: "Vips", keys: [...keys], flush: [...flush] })
        })
      )
    )
  ))

  // Every (re)connect of VPP.
  yield* Effect.forkScoped(vpp.connects.pipe(
    Stream.runForEach(() => Queue.offer(triggers, { _tag: "Full", reason: "vpp connect" }))
  ))

  // The periodic full sync.
  yield* Effect.forkScoped(Effect.forever(
    checker.config.pipe(
      Effect.flatMap((c) => Effect.sleep(c.vpp.lb.syncInterval)),
      Effect.zipRight(Queue.offer(triggers, { _tag: "Full", reason: "periodic" }))
    )
  ))

  // Warm-up phase boundaries wake the loop.
  yield* Effect.forkScoped(Effect.gen(function*() {
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const next = WarmUp.nextBoundary(warm, now)
      if (next === undefined) return
      yield* Effect.sleep(Duration.millis(next - now))
      yield* Queue.offer(triggers, { _tag: "Tick" })
    }
  }))

  const sync = Effect.fn("LbSync.sync")(function*(options?: { readonly frontend?: string | undefined; readonly dryRun?: boolean | undefined }) {
    let scope: ReadonlySet<string> | undefined
    if (options?.frontend !== undefined) {
      const config = yield* checker.config
      const f = config.frontends.get(options.frontend)
      if (f === undefined) return yield* new UnknownFrontend({ frontend: options.frontend })
      scope = new Set([vipKeyString(frontendVipKey(f))])
    }
    return yield* run(scope, new Set(), options?.dryRun === true, "operator")
  })

  return LbSync.of({
    sync,
    requestFull: (reason) =>
      checker.config.pipe(
        Effect.flatMap((config) => vpp.setLbConf(config.vpp.lb)),
        Effect.zipRight(Queue.offer(triggers, { _tag: "Full", reason })),
        Effect.asVoid
      ),
    desired: desiredNow,
    phase: Clock.currentTimeMillis.pipe(Effect.map((now) => WarmUp.phase(warm, now))),
    counters: Effect.gen(function*() {
      const config = yield* checker.config
      const byKey = yield* vpp.vipCountersByKey
      const out = new Map<string, Supervisor.VipCounters>()
      for (const [key, f] of frontendsByKey(config)) {
        const c = byKey.get(key)
        if (c !== undefined) out.set(f.name, c)
      }
      return out
    }),
    idle: Effect.map(Effect.all([Queue.size(triggers), Queue.size(events)]), ([t, e]) => t <= 0 && e <= 0 && !running) // negative: fibers waiting to take
  })
})

export const layer: Layer.Layer<LbSync, never, HealthChecker.HealthChecker | Supervisor.VppSupervisor> = Layer.scoped(
  LbSync,
  make()
)
