/**
 * The LB sync: VPP's lb state has one writer, this service's fiber. It makes
 * the lb plugin match the desired state, a pure function of the running
 * configuration (file + operator overrides, `RunningConfig`) and the health
 * of every backend, with the fewest mutations, and none when VPP matches.
 *
 *   health transitions, overrides, flushes ─▶ urgent queue ─┐
 *   full syncs (periodic, connect, reload),                  ├─▶ the sync fiber ─▶ one window of
 *   operator syncs, dry runs, warm-up ticks ─▶ bulk queue ──┘    requests on the socket ─▶ VPP
 *
 * Every change to VPP's lb state, whoever asks, is a request on one of the two
 * queues; a caller that wants the outcome awaits it (a `Deferred`). Requests
 * that wait together are coalesced: many transitions in one tick are one diff
 * of the VIPs they touch, and a full sync asked for by several triggers runs
 * once. Urgent requests come first, also in the middle of a full sync: its
 * ops go out through a bounded window, and between replies the fiber plans
 * and sends any reaction that arrived (from its memory of VPP's state, which
 * includes the ops already sent), dropping the sync's unsent ops for those
 * VIPs (the reaction's diff supersedes them).
 *
 * See docs/lbsync.md for the rules.
 */
import { Cause, Chunk, Clock, Context, Data, Deferred, Duration, Effect, Exit, FiberId, HashMap, Layer, LogLevel, Option, PubSub, Queue, Stream } from "effect"
import type { Config, Frontend } from "../config/Config.js"
import * as RunningConfig from "../config/RunningConfig.js"
import * as HealthChecker from "../health/HealthChecker.js"
import type { HealthStatus } from "../health/HealthState.js"
import { LogDemand } from "../internal/LogDemand.js"
import { trace, tracing } from "../internal/Trace.js"
import { hold } from "../internal/Urgent.js"
import * as Metrics from "../metrics/Metrics.js"
import type { VppRequestError } from "../vpp/transport/Errors.js"
import type { VppConnection } from "../vpp/transport/VppApi.js"
import { lb } from "../vpp/binapi/index.js"
import { type AsOf, asLinesMatch, asLinesText, lazyRecords, type LbVipRecord, readAsLines, showLbVips, showLbVipsWith } from "../vpp/LbVips.js"
import * as Supervisor from "../vpp/Supervisor.js"
import { type DesiredVip, desiredVip, flushesInto } from "./Desired.js"
import {
  applyOp,
  describeOp,
  diff,
  eviction,
  flushKeyOf,
  type LbOp,
  type ObservedAs,
  type ObservedVip,
  observedFromDumps,
  vipMatches
} from "./Diff.js"
import { heapMode } from "./HeapMode.js"
import { logOps, opLogger } from "./internal/OpLog.js"
import * as Panic from "./Panic.js"
import * as Requests from "./Requests.js"
import * as SlowStart from "./SlowStart.js"
import { canonicalAddress, compareAddresses, frontendVipKey, type VipKey, vipKey, vipKeyString } from "./VipKey.js"
import * as WarmUp from "./WarmUp.js"

export interface SyncReport {
  /**
   * The ops sent, VPP accepting each (a dry run: planned); a full sync leaves out those a reaction
   * took over while it ran (superseded: the reaction sent and logged its own for those VIPs).
   */
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

export type SyncError = Supervisor.VppUnavailable | LbSyncError

export interface LbSyncShape {
  /** The operator's sync: all VIPs, or one frontend's, from a fresh read of VPP; with `dryRun` only the plan. */
  readonly sync: (options?: {
    readonly frontend?: string | undefined
    readonly dryRun?: boolean | undefined
  }) => Effect.Effect<SyncReport, SyncError | UnknownFrontend>
  /**
   * Brings one frontend's VIP to its desired state now, as an urgent request
   * (after a weight override); while the warm-up holds VPP, it fails with
   * `VppUnavailable` and the release programs it. `flush`: a backend whose AS gets its sessions
   * evicted, when its desired weight is 0 (else a warning says why not).
   */
  readonly reconcileFrontend: (
    frontend: string,
    options?: { readonly flush?: string | undefined; readonly reason?: string | undefined }
  ) => Effect.Effect<SyncReport, SyncError | UnknownFrontend>
  /** Asks for a full sync (a reload does, through its RunningConfig subscription; the new lb_conf first). */
  readonly requestFull: (reason: string) => Effect.Effect<void>
  /** The desired state right now. */
  readonly desired: Effect.Effect<ReadonlyArray<DesiredVip>>
  /** The warm-up phase right now. */
  readonly phase: Effect.Effect<WarmUp.Phase>
  /** The slow starts in progress, as of now (a copy). */
  readonly ramps: Effect.Effect<SlowStart.Ramps>
  /** The frontends of each slow-start step (their effective weights change with no transition), for watchers. */
  readonly rampSteps: Stream.Stream<ReadonlyArray<string>>
  /** The lb plugin's four per-VIP counters by frontend (frontends whose VIP VPP does not hold are left out); empty while disconnected. */
  readonly counters: Effect.Effect<ReadonlyMap<string, Supervisor.VipCounters>>
  /** The min-healthy guards (Panic.ts) by frontend: each one's last good set, panic and panic count. */
  readonly panics: Effect.Effect<ReadonlyMap<string, Panic.PanicState>>
  /** Every panic start and end from now on (the guard already recorded), for watchers. */
  readonly panicEvents: Stream.Stream<Panic.PanicEvent>
  /** No request is pending and none is running (for tests and the simulation harness). */
  readonly idle: Effect.Effect<boolean>
}

export class LbSync extends Context.Tag("vpp-maglev/LbSync")<LbSync, LbSyncShape>() {}

/** A sync asked of the fiber. */
interface Request {
  /** Every VIP, or the VIPs in `keys`. */
  readonly full: boolean
  readonly keys: ReadonlySet<string>
  /** `flushKey`s of ASes whose backend just moved into a flushing state. */
  readonly flush: ReadonlySet<string>
  /** Operator flushes: the AS of `backend` in the VIP `key`, evicted when its desired weight is 0. */
  readonly evict: ReadonlyArray<{ readonly key: string; readonly frontend: string; readonly backend: string }>
  /** Read VPP's state (dumps) rather than trust the memory of it. */
  readonly fresh: boolean
  readonly dryRun: boolean
  /** An automatic trigger, which the warm-up holds back; an operator's request is not held. */
  readonly gated: boolean
  readonly reason: string
  readonly reply: Deferred.Deferred<SyncReport, SyncError> | undefined
}

const request = (r: Partial<Request> & Pick<Request, "reason">): Request => ({
  full: false,
  keys: new Set(),
  flush: new Set(),
  evict: [],
  fresh: false,
  dryRun: false,
  gated: true,
  reply: undefined,
  ...r
})

/**
 * Requests outstanding at once while a sync applies its ops. VPP answers in
 * order, so an urgent request written now is handled after at most this many;
 * the socket stays full enough for the simulator's and VPP's throughput.
 */
const WINDOW = 128

/**
 * Requests a full sync keeps outstanding of its own while reactions may
 * interleave: a reaction's first request is written at once and answered
 * after at most these (VPP answers in order). Enough to keep the socket busy.
 */
const SYNC_WINDOW = 32

/**
 * A reaction planned from memory goes out a chunk of VIPs at a time: its first
 * VIP is planned and written at once (FIRST_CHUNK; the next SMALL_CHUNK at
 * once too when that one needs no op), then SMALL_CHUNK VIPs at a time until
 * VPP's first answer is in, and CHUNK at a time while those requests are out.
 * A backend in 1,000 VIPs then has its first request written after one VIP's
 * planning, not 1,000 (nor 8: 0.1-0.3 ms more of planning and encoding before
 * the write, issue 14's trace). A request of more than SMALL_CHUNK VIPs is
 * chunked.
 */
const FIRST_CHUNK = 1
const SMALL_CHUNK = 8
const CHUNK = 128

/** Transitions' dirty marks kept before they are settled into keys without a full computation (LbSync's `marks`). */
const MAX_MARKS = 4096

/** Replies handled between two yields of the sync fiber while it applies a sync (so a transition is seen soon). */
const YIELD_EVERY = 64

/**
 * How long V8's `--optimize-for-size` stays lifted after the reconciler's last drain that wrote lb
 * mutations (HeapMode): the reactions of a burst (a switch flapping, a rack going down) and the syncs
 * among them run without it.
 */
const HEAP_HOLD_MS = 10_000

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
  remembered: (vip: VipKey) => boolean | undefined,
  /** src_ip_sticky by VIP key as a read just now showed it (a full sync's first read): not read again. */
  known?: ReadonlyMap<string, boolean>
) {
  const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL_VIPS, pfx_matcher: { le: 0, ge: 0 } })
  const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL_VIPS)
  const listed = known !== undefined ? known : yield* showLbVips(conn).pipe(
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

/** An AS line of `show lb vips verbose` as the diff sees it (made as the text is read: one object per AS). */
const observedAs: AsOf<ObservedAs> = (address, weight, buckets, _flows, used) => ({
  address: canonicalAddress(address),
  weight,
  lameduck: !used,
  numBuckets: buckets
})

/**
 * A VIP's ASes in the one AS order, one per address (an active entry wins over
 * a lameduck one: a VIP deleted and re-added before GC). VPP lists them in its
 * pool order, which for ASes this process added is already that order: then
 * one pass checks it and nothing is copied.
 */
const asOrder = (ases: ReadonlyArray<ObservedAs>): ReadonlyArray<ObservedAs> => {
  let ordered = true
  for (let i = 1; i < ases.length && ordered; i++) ordered = compareAddresses(ases[i - 1]!.address, ases[i]!.address) < 0
  if (ordered) return ases
  const list: Array<ObservedAs> = []
  const seen = new Map<string, number>()
  for (const a of ases) {
    const at = seen.get(a.address)
    if (at === undefined) {
      seen.set(a.address, list.length)
      list.push(a)
    } else if (list[at]!.lameduck && !a.lameduck) list[at] = a
  }
  return list.sort((x, y) => compareAddresses(x.address, y.address))
}

/** A VIP's AS lines as the last listing showed them, and the ASes read from (or matched with) them. */
interface Listed {
  text: string
  ases: ReadonlyArray<ObservedAs>
}

/**
 * VPP's view from two cheap reads: the VIP dump and `show lb vips verbose`,
 * whose text lists every VIP's ASes (one message, where the AS dump is one
 * per AS). Undefined when the text cannot be read; the caller then dumps.
 * A VIP whose AS lines are what `seen` (the last read, and the ops sent
 * since) says is that same record: compared in place, nothing made per AS,
 * which at 1,000 VIPs × 32 ASes is most of a no-change sync's cost. Before
 * that, its AS lines' text is compared with the last listing's (`last`): when
 * it is the same and memory still holds what was read from it, that is all.
 */
const observeBrief = (
  conn: VppConnection,
  seen: (key: string) => ObservedVip | undefined,
  /** each VIP's AS lines in the last listing, by key; updated with this one */
  last: Map<string, Listed>,
  /** the listing as the supervisor keeps it (its counters and flows per AS are then this fresh) */
  offer: (listed: ReadonlyArray<LbVipRecord>) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    // Both requests on the wire at once (one round trip, not two: VPP answers the dump, then formats the listing).
    const dumped = conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL_VIPS, pfx_matcher: { le: 0, ge: 0 } }).pipe(
      Effect.tap((vips) => trace("full-vips", vips.length))
    )
    const listing = showLbVipsWith(conn, undefined).pipe(
      Effect.tap(({ text, vips }) => offer(lazyRecords(text, vips))),
      Effect.map(({ text, vips }) => {
        trace("full-parsed", vips.length)
        const byKey = new Map<string, { readonly sticky: boolean; readonly ases: ReadonlyArray<ObservedAs> }>()
        for (const vip of vips) {
          if (vip.removed) continue
          const k = vipKeyString(vip.key)
          const before = seen(k)
          const lines = asLinesText(text, vip.body)
          const was = last.get(k)
          const ases = before !== undefined &&
              ((was !== undefined && was.ases === before.ases && was.text === lines) || asLinesMatch(text, vip.body, before.ases))
            ? before.ases
            : asOrder(readAsLines(text, vip.body, observedAs))
          if (was === undefined) last.set(k, { text: lines, ases })
          else {
            was.text = lines
            was.ases = ases
          }
          byKey.set(k, { sticky: vip.srcIpSticky, ases })
        }
        // VIPs gone since keep no text alive for long.
        if (last.size > 2 * byKey.size + 64) for (const k of last.keys()) if (!byKey.has(k)) last.delete(k)
        return byKey
      }),
      Effect.catchTag("LbVipsParseError", () => Effect.succeed(undefined)),
      Effect.catchTag("VppApiError", () => Effect.succeed(undefined))
    )
    const [vips, listed] = yield* Effect.all([dumped, listing], { concurrency: 2 })
    trace("full-compared")
    if (listed === undefined) return undefined
    const out: Array<ObservedVip> = []
    for (const d of Chunk.toReadonlyArray(vips)) {
      const { k, key } = dumpedKey(d.vip.pfx, d.vip.protocol, d.vip.port)
      const l = listed.get(k)
      // A VIP the dump has and the text does not: the text is not what we think it is.
      if (l === undefined) return undefined
      const before = seen(k)
      out.push(
        before !== undefined && before.ases === l.ases && before.encap === d.encap && before.srcIpSticky === l.sticky &&
          before.newFlowsTableLength === d.flow_table_length && before.deleted !== true
          ? before
          : { ...key, encap: d.encap, srcIpSticky: l.sticky, newFlowsTableLength: d.flow_table_length, ases: l.ases }
      )
    }
    return out
  })

/**
 * Each backend's status, looked up once per computation: a reaction of 1,000
 * VIPs over the same 32 backends asks 32,000 times (a HashMap lookup and two
 * closures each were a third of its time).
 */
const statusLookup = (health: HealthChecker.HealthMap) => {
  const seen = new Map<string, HealthStatus>()
  return (backend: string): HealthStatus => {
    let s = seen.get(backend)
    if (s === undefined) {
      const h = HashMap.get(health, backend)
      s = h._tag === "Some" ? h.value.status : "unknown"
      seen.set(backend, s)
    }
    return s
  }
}

/**
 * The frontends each backend serves in, per configuration (a reload or an
 * override brings a new Config object): a transition then costs its own
 * frontends, not a scan of every pool of every frontend.
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

/** A frontend's `vipKeyString`, per Frontend object (a transition of a backend in 1,000 VIPs names 1,000 of them). */
const keyStrings = new WeakMap<Frontend, string>()
const keyStringOf = (f: Frontend): string => {
  let k = keyStrings.get(f)
  if (k === undefined) {
    k = vipKeyString(frontendVipKey(f))
    keyStrings.set(f, k)
  }
  return k
}

/**
 * What a transition of a backend touches, per configuration: the VIP keys of
 * its frontends, and the flush keys of its AS in them when it moves into a
 * state that flushes (`flushesInto`: down flushes where the frontend says so,
 * disabled and removed everywhere). Made once, not per transition: a backend
 * in 1,000 VIPs made 1,000 key strings and two sets of them in the transition
 * forwarder on every transition (0.6 ms before the request was queued).
 */
interface Reach {
  readonly keys: ReadonlySet<string>
  readonly flushDown: ReadonlySet<string>
  readonly flushAll: ReadonlySet<string>
}
const NOTHING: ReadonlySet<string> = new Set()
const NO_REACH: Reach = { keys: NOTHING, flushDown: NOTHING, flushAll: NOTHING }
const reachCache = new WeakMap<Config, Map<string, Reach>>()
const reachOf = (config: Config, backend: string, address: string): Reach => {
  let byBackend = reachCache.get(config)
  if (byBackend === undefined) reachCache.set(config, byBackend = new Map())
  const id = `${backend}|${address}`
  let reach = byBackend.get(id)
  if (reach === undefined) {
    const canonical = canonicalAddress(address)
    const keys = new Set<string>()
    const flushDown = new Set<string>()
    const flushAll = new Set<string>()
    for (const f of frontendsOf(config, backend)) {
      const k = keyStringOf(f)
      keys.add(k)
      const fk = flushKeyOf(k, canonical)
      flushAll.add(fk)
      if (flushesInto("down", f.flushOnDown)) flushDown.add(fk)
    }
    // A backend in no frontend (or none flushing on down) shares the one empty set: three empty sets a
    // backend were 4.7 MiB of the main heap at 10,000 backends in no frontend (docs/health.md, "Scale").
    reach = keys.size === 0 ? NO_REACH : { keys, flushDown: flushDown.size === 0 ? NOTHING : flushDown, flushAll }
    byBackend.set(id, reach)
  }
  return reach
}
/** The flush keys of a transition into `to`. */
const flushOf = (reach: Reach, to: HealthStatus): ReadonlySet<string> =>
  flushesInto(to, false) ? reach.flushAll : to === "down" ? reach.flushDown : NOTHING

/** Every frontend by its VIP key, per configuration. */
const byKeyCache = new WeakMap<Config, ReadonlyMap<string, Frontend>>()
const frontendsByKey = (config: Config): ReadonlyMap<string, Frontend> => {
  let m = byKeyCache.get(config)
  if (m === undefined) {
    m = new Map([...config.frontends.values()].map((f) => [keyStringOf(f), f]))
    byKeyCache.set(config, m)
  }
  return m
}

const failureMessage = (cause: Cause.Cause<VppRequestError>): string =>
  Option.match(Cause.failureOption(cause), { onNone: () => Cause.pretty(cause), onSome: (e) => e.message })

/**
 * An op's `vipKeyString`, once per VIP object: a diff's ops for one VIP share it,
 * and a sync of 33,000 ops asks for each op's key several times.
 */
const opKeys = new WeakMap<VipKey, string>()
/** `vipKeyString`, once per key object (an op's VIP, a desired or remembered VIP: they live across syncs). */
const keyString = (vip: VipKey): string => {
  let k = opKeys.get(vip)
  if (k === undefined) {
    k = vipKeyString(vip)
    opKeys.set(vip, k)
  }
  return k
}
const opKey = (op: LbOp): string => keyString(op.vip)

/**
 * A VIP's key and its string by what `lb_vip_details` says: VPP writes the
 * same text every time, so a full sync looks each VIP up instead of parsing
 * and masking its prefix again. (A memo of a pure function; emptied if it
 * ever holds many more keys than any VPP has VIPs.)
 */
const dumpedKeys = new Map<string, { readonly key: VipKey; readonly k: string }>()
const dumpedKey = (pfx: string, protocol: number, port: number) => {
  const raw = `${pfx} ${protocol} ${port}`
  let e = dumpedKeys.get(raw)
  if (e === undefined) {
    if (dumpedKeys.size >= 1 << 17) dumpedKeys.clear()
    const key = vipKey(pfx, protocol, port)
    e = { key, k: vipKeyString(key) }
    dumpedKeys.set(raw, e)
  }
  return e
}

/** For each op, the index after the last op of the same VIP (a diff's ops of one VIP are together and share its key object). */
const groupEnds = (ops: ReadonlyArray<LbOp>): Int32Array => {
  const ends = new Int32Array(ops.length)
  for (let i = ops.length - 1; i >= 0; i--) ends[i] = i + 1 < ops.length && ops[i + 1]!.vip === ops[i]!.vip ? ends[i + 1]! : i + 1
  return ends
}

/** An op written to VPP, waiting for (or holding) its answer. */
interface Slot {
  readonly op: LbOp
  readonly job: Job
  exit: Exit.Exit<unknown, VppRequestError> | undefined
  /** A reaction's first op, while tracing (Trace.ts): its answer and its log line are trace points. */
  readonly traced: boolean
  /** Logged already, where its answer was read (a reaction's op: not behind the batch of answers it came in). */
  logged: boolean
}

/** One sync's ops on their way to VPP. */
interface Job {
  readonly ops: Array<LbOp>
  /** Next op to send. */
  next: number
  /** Sent and not answered yet. */
  outstanding: number
  /** Answers VPP sent (read by the transport; handled by the pump or not yet). */
  answered: number
  failed: LbSyncError | undefined
  /** Planned from memory (a refusal then means memory was stale). */
  readonly fromMemory: boolean
  /** Plans the job's next VIPs onto `ops` (a reaction planned a chunk at a time); undefined once all are. */
  more: Effect.Effect<void> | undefined
  /** A reaction (not a full sync): its first op's way to VPP and back is traced (Trace.ts). */
  readonly reaction: boolean
  /** Ranges of `ops` (from, to, from, to, ...) never sent: superseded by a reaction that took their VIPs over. */
  readonly skipped: Array<number>
}

const newJob = (ops: ReadonlyArray<LbOp>, fromMemory: boolean, reaction = false): Job => ({
  ops: [...ops],
  next: 0,
  outstanding: 0,
  answered: 0,
  failed: undefined,
  fromMemory,
  more: undefined,
  reaction,
  skipped: []
})

/** The ops a job sent: its ops but the ranges a reaction superseded (`Job.skipped`). */
const sentOps = (job: Job): ReadonlyArray<LbOp> => {
  if (job.skipped.length === 0) return job.ops
  const out: Array<LbOp> = []
  let at = 0
  for (let i = 0; i < job.skipped.length; i += 2) {
    for (let j = at; j < job.skipped[i]!; j++) out.push(job.ops[j]!)
    at = job.skipped[i + 1]!
  }
  for (let j = at; j < job.ops.length; j++) out.push(job.ops[j]!)
  return out
}

export const make = Effect.fn("LbSync.make")(function*() {
  const checker = yield* HealthChecker.HealthChecker
  const running = yield* RunningConfig.RunningConfig
  const demand = yield* LogDemand
  /**
   * `vpp-lbsync-start` of a partial sync, built only when someone reads debug lines: the record
   * and its annotations were 0.08 ms of a reaction's way before its first write (issue 14's trace).
   */
  const logPartialStart = (reason: string, vips: number) =>
    demand.wants(LogLevel.Debug)
      ? Effect.logDebug("lb sync start").pipe(Effect.annotateLogs({ event: "vpp-lbsync-start", reason, scope: "partial", vips }))
      : Effect.void
  const vpp = yield* Supervisor.VppSupervisor
  const urgent = yield* Queue.unbounded<Request>()
  const bulk = yield* Queue.unbounded<Request>()
  const wake = yield* Queue.sliding<void>(1)
  const config0 = yield* running.config
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
   * VPP's lb state as this process last saw it: replaced by every read of VPP,
   * updated with every op as it is sent (`applyOp`: VPP answers in order, so a
   * plan made now from it sees the ops ahead of it), and dropped on any failure
   * or when the connection changes. Reactions diff against it instead of
   * reading VPP, which is what keeps their cost independent of the number of
   * VIPs; full syncs read VPP, so drift by other clients is repaired.
   */
  let memory: { readonly conn: VppConnection; readonly vips: Map<string, ObservedVip> } | undefined

  /**
   * The desired VIP of each frontend as last computed, by VIP key, with the
   * Frontend object it was computed from; `dirty` VIPs have a backend whose
   * state changed since. A full sync recomputes only those (and frontends an
   * override or a reload replaced).
   */
  const cache = new Map<string, { readonly frontend: Frontend; readonly vip: DesiredVip }>()
  /** Each VIP's AS lines in the last full sync's listing (observeBrief). */
  const listedLines = new Map<string, Listed>()
  const dirty = new Set<string>()
  /**
   * A transition's VIP keys, marked dirty only when a full computation needs
   * them (`settleDirty`): marking a backend's 1,000 keys one by one was 0.15 ms
   * of the forwarder's turn, before its reaction was planned (issue 14's trace).
   * Each with its mark's number; a VIP computed since (`computedAt`) is not dirty.
   */
  const marks: Array<{ readonly keys: ReadonlySet<string>; readonly seq: number }> = []
  const computedAt = new Map<string, number>()
  let markSeq = 0
  /** lb mutations written to VPP so far (a drain that wrote some holds V8's lift after it: drainNow). */
  let written = 0
  const markDirty = (keys: ReadonlySet<string>) => {
    marks.push({ keys, seq: ++markSeq })
    // Transitions with no full computation for a long while (VPP away): the marks made into keys.
    if (marks.length > MAX_MARKS) settleDirty()
  }
  function settleDirty() {
    for (const m of marks) {
      for (const k of m.keys) if ((computedAt.get(k) ?? 0) < m.seq) dirty.add(k)
    }
    marks.length = 0
    computedAt.clear()
  }
  /** The min-healthy guards: judged where desired state is computed, so this one writer decides both. */
  const guards = Panic.makeStore()

  /**
   * Slow start. A ramp's start is read from the health map (`SlowStart.rampStart`: the
   * backend's last transition, into up after the warm-up ended at `warmDoneAt`), so a
   * desired state computed before the transition forwarder ran still ramps. `ramps` is
   * the ramp fiber's schedule: the backends that came up since, written by the
   * forwarder (and dropped when they leave up) and by the fiber (when over).
   */
  const ramps = new Map<string, number>()
  let warmDoneAt: number | undefined
  const rampsAt = (config: Config, health: HealthChecker.HealthMap, now: number): SlowStart.Ramps | undefined => {
    const since = warmDoneAt
    const longest = SlowStart.longestMs(config)
    if (since === undefined || longest === 0) return undefined
    return {
      now,
      startedAt: (b) => Option.match(HashMap.get(health, b), { onNone: () => undefined, onSome: (h) => SlowStart.rampStart(h, since, now, longest) })
    }
  }
  /** Wakes the ramp fiber: a ramp started, or the configuration changed. */
  const rampWake = yield* Queue.sliding<void>(1)
  const rampSteps = yield* PubSub.unbounded<ReadonlyArray<string>>()

  const desiredFor = (keys: ReadonlySet<string> | undefined) =>
    Effect.gen(function*() {
      if (keys === undefined) settleDirty()
      const config = yield* running.config
      const health = yield* checker.statuses
      const status = statusLookup(health)
      const ramp = rampsAt(config, health, yield* Clock.currentTimeMillis)
      const byKey = frontendsByKey(config)
      const now = yield* Clock.currentTimeMillis
      const panicEvents: Array<Panic.PanicEvent> = []
      const unsettled: Array<string> = []
      const one = (k: string, f: Frontend): DesiredVip => {
        const c = cache.get(k)
        if (c !== undefined && c.frontend === f && !dirty.has(k) && keys === undefined) return c.vip
        // The last computed VIP's unchanged ASes are reused (a reaction allocates one AS per VIP).
        const vip = desiredVip(f, config, status, ramp, c?.vip)
        const v = guards.apply(f, config, vip, status, memory === undefined ? undefined : (memory.vips.get(k) ?? null), now)
        if (v.event !== undefined) panicEvents.push(v.event)
        // A guard waiting for VPP's weights (after a start) is judged again once VPP was read.
        if (!v.settled) unsettled.push(k)
        cache.set(k, { frontend: f, vip: v.vip })
        dirty.delete(k)
        if (marks.length > 0) computedAt.set(k, markSeq)
        return v.vip
      }
      const out: Array<DesiredVip> = []
      if (keys === undefined) {
        for (const [k, f] of byKey) out.push(one(k, f))
        if (cache.size > byKey.size) for (const k of cache.keys()) if (!byKey.has(k)) cache.delete(k)
        panicEvents.push(...guards.prune(config))
        dirty.clear()
      } else {
        for (const k of keys) {
          const f = byKey.get(k)
          if (f !== undefined) out.push(one(k, f))
        }
      }
      for (const k of unsettled) dirty.add(k)
      yield* Effect.forEach(panicEvents, (e) => Panic.logEvent(e, now), { discard: true })
      return out
    })

  const remember = (conn: VppConnection, observed: ReadonlyArray<ObservedVip>) => {
    const vips = new Map<string, ObservedVip>()
    for (const o of observed) vips.set(keyString(o), o)
    memory = { conn, vips }
  }

  const fromMemory = (keys: ReadonlySet<string>): ReadonlyArray<ObservedVip> => {
    const out: Array<ObservedVip> = []
    for (const k of keys) {
      const o = memory?.vips.get(k)
      if (o !== undefined && o.deleted !== true) out.push(o)
    }
    return out
  }

  /** The ops an operator's flush adds: the AS's weight 0 again, with flush, when 0 is what it should be (Diff.eviction). */
  const evictions = (desired: ReadonlyArray<DesiredVip>, evict: Request["evict"], planned: ReadonlyArray<LbOp>) =>
    Effect.gen(function*() {
      const ops: Array<LbOp> = []
      for (const e of evict) {
        const x = eviction(desired.find((d) => vipKeyString(d) === e.key), e.backend, planned)
        if (x._tag === "Evict") ops.push(x.op)
        else if (x._tag === "Serving") {
          yield* Effect.logWarning("flush skipped: the AS still takes traffic through another pool").pipe(
            Effect.annotateLogs({ event: "frontend-weight-flush-skipped", frontend: e.frontend, backend: e.backend, weight: x.weight })
          )
        }
      }
      return ops
    })

  /**
   * `mutations` counts what this sync sent and VPP accepted; `superseded`, the planned ops it left
   * to a reaction that took their VIPs over meanwhile (that reaction sent and logged them): a full
   * sync's line and the reaction's then do not count the same weights twice.
   */
  const logDone = (why: string, scope: SyncReport["scope"], mutations: number, started: number, superseded = 0) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      (mutations > 0 ? Effect.logInfo : Effect.logDebug)("lb sync done").pipe(
        Effect.annotateLogs({
          event: "vpp-lbsync-done",
          reason: why,
          // One type per field: scope says which kind of sync, vips how many VIPs a partial one covered.
          ...(scope === "full" ? { scope: "full" } : { scope: "partial", vips: scope.length }),
          mutations,
          ...(superseded > 0 ? { superseded } : {}),
          duration_ms: now - started
        })
      ))

  // --- the pipe: one window of requests on the socket ---------------------------

  /** Urgent requests taken in the middle of a sync that could not be planned from memory: handled after it. */
  const postponed: Array<Request> = []
  /** While a full sync waits for VPP's answers: wakes it (an urgent request arrived). */
  let poke: (() => void) | undefined

  /**
   * Sends the jobs' ops through one window of outstanding requests, urgent jobs
   * first, and awaits the replies in order (VPP answers in order). Each op VPP
   * accepted is logged; a refused op ends its job (its unsent ops are dropped)
   * and drops the memory. With `interleave`, reactions that arrive meanwhile are
   * planned from memory and sent ahead of `main`'s remaining ops.
   */
  const pump = (conn: VppConnection, main: Job, interleave: boolean) =>
    Effect.gen(function*() {
      const reactions: Array<{ readonly job: Job; readonly finish: (job: Job) => Effect.Effect<void> }> = []
      /** The ops of a batch of replies VPP accepted. */
      const accepted: Array<LbOp> = []
      /** Those of them not logged yet (a reaction's are logged as their answers are read). */
      const unlogged: Array<LbOp> = []
      /**
       * A reaction's op is logged where its answer is read (the transport's callback), not once this
       * fiber's turn comes and the batch of the sync's answers read with it was handled: after VPP's
       * answer, as every mutation line, once.
       */
      const logNow = yield* opLogger
      const one: Array<LbOp> = []
      /**
       * Sent and not handled yet, in the order VPP answers (`head` is the oldest);
       * the transport's callback fills in `exit` and wakes this fiber.
       */
      const window: Array<Slot> = []
      let head = 0
      let waiting: Deferred.Deferred<void> | undefined
      const wake = () => {
        const w = waiting
        if (w !== undefined) {
          waiting = undefined
          Deferred.unsafeDone(w, Exit.void)
        }
      }
      if (interleave) poke = wake
      /**
       * VIPs a reaction took over: the sync's unsent ops for them are skipped (the reaction's diff covers
       * them). Each reaction's own key set, not their union: adding a backend's 1,000 keys to one set
       * came between the reaction's planning and its first write (0.07 ms); a sync meets few reactions.
       */
      const superseded: Array<ReadonlySet<string>> = []
      const isSuperseded = (k: string) => {
        for (const keys of superseded) if (keys.has(k)) return true
        return false
      }
      /** Where each op's VIP's ops end in a sync that reactions may interleave (made before any reaction comes). */
      const groupEnd = interleave ? groupEnds(main.ops) : undefined
      /** Requests encoded since the last write to the socket. */
      let burst = false
      /** The burst on the wire now, not on the next tick, which a busy runtime puts off by milliseconds. */
      const flushBurst = () => {
        if (burst) {
          burst = false
          conn.flush()
        }
      }
      const nextJob = (): Job | undefined => {
        for (const r of reactions) if (r.job.failed === undefined && r.job.next < r.job.ops.length) return r.job
        if (superseded.length > 0 && main.next < main.ops.length && isSuperseded(opKey(main.ops[main.next]!))) {
          // The reaction's requests go out first: a backend in every VIP supersedes every op left.
          flushBurst()
          // A VIP's ops are together and share their key object: one lookup per VIP, and a jump to the
          // next VIP's ops (`groupEnd`): this runs after the reaction's write, before the event loop reads
          // its answer, and a loop over 30,000 ops, cold, took 1-2 ms of that.
          let i = main.next
          const ends = groupEnd !== undefined && groupEnd.length === main.ops.length ? groupEnd : groupEnds(main.ops)
          while (i < main.ops.length && isSuperseded(opKey(main.ops[i]!))) i = ends[i]!
          main.skipped.push(main.next, i)
          main.next = i
        }
        return main.failed === undefined && main.next < main.ops.length ? main : undefined
      }
      const fail = (job: Job, op: LbOp, reason: string) => {
        job.failed ??= new LbSyncError({ op, reason })
        job.next = job.ops.length
        job.more = undefined
        memory = undefined
      }
      // A reaction's next chunk is planned once its first answer is in (logged where it was read): planned
      // after a batch of the sync's answers read ahead of it, its 128 VIPs kept the event loop from reading
      // the reaction's own answer for milliseconds.
      const topUp = (j: Job) =>
        Effect.gen(function*() {
          while (j.failed === undefined && j.next >= j.ops.length && j.more !== undefined && (j.answered > 0 || j.outstanding === 0)) {
            yield* j.more
          }
        })
      const topUpAll = Effect.suspend(() => Effect.zipRight(Effect.forEach(reactions, (r) => topUp(r.job), { discard: true }), topUp(main)))
      for (;;) {
        if (interleave && (yield* Queue.size(urgent)) > 0) {
          const taken = Chunk.toReadonlyArray(yield* Queue.takeAll(urgent))
          trace("lb-taken", taken.length)
          const planned = yield* planReaction(conn, taken)
          if (planned === undefined) postponed.push(...taken)
          else {
            // The reaction's diff covers its VIPs whole: the sync's unsent ops for them are superseded
            // (skipped as they come up: filtering 30,000 ops here held the reaction's first write).
            superseded.push(planned.keys)
            reactions.push({ job: planned.job, finish: planned.finish })
          }
        }
        // The next chunks are planned here only when nothing is outstanding; else once the replies in
        // hand were handled (below), so that a reaction's first weight is logged before 128 more VIPs
        // are planned.
        if (head === window.length) yield* topUpAll
        let job: Job | undefined
        // Refilled in bursts (one write for many requests), once half the window was answered. A
        // sync that reactions may interleave keeps fewer of its own out (SYNC_WINDOW): a reaction's
        // first request, which may use the whole window, waits behind at most that many.
        const own = interleave ? SYNC_WINDOW : WINDOW
        const refill = window.length - head <= own / 2 || reactions.some((r) => r.job.next === 0) ||
          (reactions.length > 0 && window.length - head <= WINDOW / 2)
        while (refill && (job = nextJob()) !== undefined && window.length - head < (job === main ? own : WINDOW)) {
          const op = job.ops[job.next++]!
          const first = job.reaction && job.next === 1
          const traced = first && tracing()
          const slot: Slot = { op, job, exit: undefined, traced, logged: false }
          const urgent = job.reaction
          // A reaction's first request until its answer is read: what can wait (log writes, the frontends'
          // judging) waits for it (Urgent.whenIdle).
          const release = first ? hold() : undefined
          const started = Requests.startWith(conn, op, (exit) => {
            slot.exit = exit
            slot.job.answered++
            if (slot.traced) trace("lb-answered")
            if (urgent && exit._tag === "Success") {
              one[0] = op
              logNow(one, 0, 1, opKey)
              slot.logged = true
              if (slot.traced) trace("lb-logged", 1)
            }
            release?.()
            wake()
          })
          if (traced) trace("lb-queued")
          // `Effect.void` once on the wire with no debug record wanted (VppConnection.sendWith): nothing to run.
          const sent = started === Effect.void ? undefined : yield* Effect.either(started)
          if (sent?._tag === "Left") {
            release?.()
            fail(job, op, sent.left.message)
            continue
          }
          job.outstanding++
          written++
          if (memory !== undefined && memory.conn === conn) {
            const k = opKey(op)
            const next = applyOp(memory.vips.get(k), op)
            if (next === undefined) memory.vips.delete(k)
            else memory.vips.set(k, next)
          }
          window.push(slot)
          burst = true
          // A reaction's first request on the wire now, not after the rest of the burst (its own other
          // requests and the sync's that refill the window behind it, each encoded and remembered first).
          if (first) flushBurst()
        }
        flushBurst()
        if (head === window.length) break
        if (window[head]!.exit === undefined) {
          waiting = Deferred.unsafeMake<void>(FiberId.none)
          // A sync waiting for VPP's answers: an urgent request wakes it (poke).
          if (interleave) trace("lb-waiting")
          yield* Deferred.await(waiting)
          if (window[head]!.exit === undefined) continue
        }
        // The replies that are in, up to YIELD_EVERY; then the other fibers run (the health
        // checker, the transition forwarder) before more are handled. Each op VPP accepted is
        // logged, in the order VPP applied them, the batch's lines at once (OpLog).
        accepted.length = 0
        unlogged.length = 0
        // A reaction in the window: every reply that is in, at once (its own comes after the sync's
        // ahead of it; a yield between them let other fibers delay its first weight by milliseconds).
        const limit = reactions.length > 0 ? WINDOW : YIELD_EVERY
        let vipsChanged = false
        for (let n = 0; n < limit && head < window.length && window[head]!.exit !== undefined; n++) {
          const { exit, job, logged, op } = window[head]!
          window[head++] = undefined!
          job.outstanding--
          if (exit!._tag === "Failure") fail(job, op, failureMessage(exit!.cause))
          else {
            if (op._tag === "VipAdd") {
              sticky.set(opKey(op), op.vip.srcIpSticky)
              vipsChanged = true
            } else if (op._tag === "VipDel") {
              sticky.delete(opKey(op))
              vipsChanged = true
            }
            accepted.push(op)
            if (!logged) unlogged.push(op)
          }
        }
        trace("lb-answers", accepted.length)
        // The supervisor's listing (VIP pool index → key for the counters) is read again.
        if (vipsChanged) yield* vpp.lbVipsChanged
        yield* logOps(unlogged, 0, unlogged.length, opKey)
        for (const op of accepted) yield* Metrics.countLbOp(op)
        if (head === window.length) {
          window.length = 0
          head = 0
        }
        for (let i = 0; i < reactions.length; i++) {
          const r = reactions[i]!
          if (r.job.outstanding === 0 && (r.job.failed !== undefined || (r.job.next >= r.job.ops.length && r.job.more === undefined))) {
            reactions.splice(i--, 1)
            yield* r.finish(r.job)
          }
        }
        yield* topUpAll
        // The other fibers run (the transition forwarder among them); what they asked is looked at
        // first thing, before the window is refilled with more of the sync.
        yield* Effect.yieldNow()
      }
      if (interleave) poke = undefined
      for (const r of reactions) yield* r.finish(r.job)
    })

  /** `keys`' ops planned from memory; undefined when one of them must be added or re-created (not from memory). */
  const planFromMemory = (keys: ReadonlySet<string>, flush: ReadonlySet<string>) =>
    Effect.map(desiredFor(keys), (desired) => {
      const planned = diff(desired, fromMemory(keys), { scope: keys, flush })
      return planned.some((op) => op._tag === "VipAdd" || op._tag === "VipDel") ? undefined : planned
    })

  /**
   * Gives `job` the rest of `keys` (from `from` on) to plan a chunk at a time
   * (`Job.more`), each chunk's ops added to `all` as well: SMALL_CHUNK VIPs
   * until VPP answered one of its requests, CHUNK after. A chunk that cannot
   * be planned from memory stops it: `blocked` gets the keys left. (The keys
   * are listed in an array by the first chunk after the first, not before the
   * first write: 1,000 of them, 8 KB.)
   */
  const planInChunks = (
    job: Job,
    keys: ReadonlySet<string>,
    from: number,
    flush: ReadonlySet<string>,
    all: Array<LbOp>,
    blocked: (rest: ReadonlyArray<string>) => void
  ) => {
    let at = from
    let list: ReadonlyArray<string> | undefined
    const step: Effect.Effect<void> = Effect.gen(function*() {
      list ??= [...keys]
      const chunk = new Set(list.slice(at, at + (job.answered > 0 ? CHUNK : SMALL_CHUNK)))
      const planned = yield* planFromMemory(chunk, flush)
      if (planned === undefined) {
        job.more = undefined
        blocked(list.slice(at))
        return
      }
      at += chunk.size
      job.ops.push(...planned)
      all.push(...planned)
      job.more = at < keys.size ? step : undefined
    })
    job.more = at < keys.size ? step : undefined
  }

  /** The first `n` of `keys`, in their order. */
  const firstKeys = (keys: ReadonlySet<string>, n: number): ReadonlySet<string> => {
    const out = new Set<string>()
    for (const k of keys) {
      if (out.size === n) break
      out.add(k)
    }
    return out
  }

  /**
   * Plans urgent requests taken in the middle of a sync from memory; undefined
   * when they cannot be (no memory, a VIP to add or re-create, the warm-up).
   */
  const planReaction = (conn: VppConnection, taken: ReadonlyArray<Request>) =>
    Effect.gen(function*() {
      if (memory === undefined || memory.conn !== conn) return undefined
      if (!warm.done && taken.some((r) => r.gated)) return undefined
      const merged = merge(taken)
      // Health transitions (nobody awaits them, nothing to evict) go out a chunk of VIPs at a time.
      const chunked = merged.evict.length === 0 && taken.every((r) => r.reply === undefined) && merged.keys.size > SMALL_CHUNK
      const first = chunked ? firstKeys(merged.keys, FIRST_CHUNK) : merged.keys
      const desired = yield* desiredFor(first)
      const planned = diff(desired, fromMemory(first), { scope: first, flush: merged.flush })
      trace("lb-planned", first.size)
      if (planned.some((op) => op._tag === "VipAdd" || op._tag === "VipDel")) return undefined
      const ops = [...planned, ...(yield* evictions(desired, merged.evict, planned))]
      const started = yield* Clock.currentTimeMillis
      yield* logPartialStart(merged.reason, merged.keys.size)
      const job = newJob(ops, true, true)
      if (chunked) {
        // VIPs a later chunk cannot plan from memory are synced after the sync, as a request of their own.
        planInChunks(job, merged.keys, FIRST_CHUNK, merged.flush, ops, (rest) =>
          postponed.push(request({ keys: new Set(rest), flush: merged.flush, reason: merged.reason })))
      }
      return {
        keys: merged.keys,
        job,
        finish: (job: Job) =>
          job.failed === undefined
            ? Effect.suspend(() => {
              const report: SyncReport = { ops, applied: true, scope: [...merged.keys] }
              return Effect.zipRight(logDone(merged.reason, report.scope, ops.length, started), reply(taken, Exit.succeed(report)))
            })
            : Effect.zipRight(
              Effect.logWarning("lb sync from memory refused; the next full sync reads VPP again").pipe(
                Effect.annotateLogs({ event: "vpp-lbsync-stale", reason: merged.reason, error: job.failed.message })
              ),
              // Sent back to be planned again, from a read of VPP (memory is gone now).
              Effect.sync(() => postponed.push(...taken))
            )
      }
    })

  // --- syncs ---------------------------------------------------------------------

  /** A scoped sync: from memory unless `fresh`; a VIP to add turns it into a full sync. */
  const runScoped = (
    r: Request,
    conn: VppConnection
  ): Effect.Effect<SyncReport, SyncError> =>
    Effect.gen(function*() {
      const cached = !r.fresh && memory !== undefined && memory.conn === conn
      if (cached && !r.dryRun && r.evict.length === 0 && r.keys.size > SMALL_CHUNK) return yield* runChunked(r, conn)
      let observed: ReadonlyArray<ObservedVip>
      if (cached) observed = fromMemory(r.keys)
      else {
        observed = yield* observe(conn, (k) => sticky.get(vipKeyString(k))).pipe(
          Effect.mapError((e) => new Supervisor.VppUnavailable({ reason: `dump failed: ${e.message}` }))
        )
        remember(conn, observed)
      }
      const desired = yield* desiredFor(r.keys)
      const planned = diff(desired, observed, { scope: r.keys, flush: r.flush })
      if (cached && planned.some((op) => op._tag === "VipAdd")) {
        // A VIP to add (a reload's new frontend, or one another client deleted): VPP refuses it next
        // to a stale VIP on the same prefix that only a full sync deletes, so sync everything.
        return yield* runFull({ ...r, full: true, reason: `${r.reason}; a VIP to add` }, conn)
      }
      const ops = [...planned, ...(yield* evictions(desired, r.evict, planned))]
      const report: SyncReport = { ops, applied: !r.dryRun, scope: [...r.keys] }
      if (r.dryRun) return report
      const started = yield* Clock.currentTimeMillis
      yield* logPartialStart(r.reason, r.keys.size)
      const job = newJob(ops, cached, true)
      yield* pump(conn, job, false)
      if (job.failed !== undefined) {
        if (!cached) return yield* job.failed
        // What this process remembered was stale (another client changed VPP): once more from a dump.
        yield* Effect.logWarning("lb sync from memory refused; syncing again from a dump").pipe(
          Effect.annotateLogs({ event: "vpp-lbsync-stale", reason: r.reason, error: job.failed.message })
        )
        return yield* runScoped({ ...r, fresh: true }, conn)
      }
      yield* logDone(r.reason, report.scope, ops.length, started)
      return report
    })

  /**
   * A scoped sync from memory, a chunk of VIPs at a time (`planInChunks`): the
   * first requests are on the wire after a few VIPs' planning. A VIP to add
   * turns it into a full sync, before anything is sent or after what was.
   */
  const runChunked = (r: Request, conn: VppConnection): Effect.Effect<SyncReport, SyncError> =>
    Effect.gen(function*() {
      const toFull = () => runFull({ ...r, full: true, reason: `${r.reason}; a VIP to add` }, conn)
      const planned = yield* planFromMemory(firstKeys(r.keys, FIRST_CHUNK), r.flush)
      trace("lb-planned", FIRST_CHUNK)
      if (planned === undefined) return yield* toFull()
      const ops = [...planned]
      const job = newJob(planned, true, true)
      let blocked = false
      planInChunks(job, r.keys, FIRST_CHUNK, r.flush, ops, () => (blocked = true))
      const started = yield* Clock.currentTimeMillis
      yield* logPartialStart(r.reason, r.keys.size)
      yield* pump(conn, job, false)
      if (job.failed !== undefined) {
        yield* Effect.logWarning("lb sync from memory refused; syncing again from a dump").pipe(
          Effect.annotateLogs({ event: "vpp-lbsync-stale", reason: r.reason, error: job.failed.message })
        )
        return yield* runScoped({ ...r, fresh: true }, conn)
      }
      if (blocked) return yield* toFull()
      const keys = [...r.keys]
      yield* logDone(r.reason, keys, ops.length, started)
      return { ops, applied: true, scope: keys }
    })

  /**
   * A full sync. VPP's state is read cheaply first (the VIP dump and the CLI's
   * listing); when every VIP matches (the usual periodic sync), that is all.
   * Otherwise the AS dump is the word on what differs, and the diff's ops go out
   * through the window, reactions interleaved.
   */
  const runFull = (r: Request, conn: VppConnection): Effect.Effect<SyncReport, SyncError> =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const unavailable = (e: { readonly message: string }) => new Supervisor.VppUnavailable({ reason: `dump failed: ${e.message}` })
      const seen = memory !== undefined && memory.conn === conn ? memory.vips : undefined
      trace("full-start")
      const brief = yield* observeBrief(conn, (k) => seen?.get(k), listedLines, (listed) => vpp.offerLbVips(conn, listed)).pipe(
        Effect.mapError(unavailable)
      )
      trace("full-observed")
      let desired = yield* desiredFor(undefined)
      trace("full-desired")
      const start = Effect.logDebug("lb sync start").pipe(Effect.annotateLogs({ event: "vpp-lbsync-start", reason: r.reason, scope: "full" }))
      if (brief !== undefined && r.flush.size === 0 && r.evict.length === 0 && matchesAll(desired, brief)) {
        trace("full-matched")
        remember(conn, brief)
        // VPP is as desired: nothing to plan (a diff of 1,000 VIPs would only say so, at a cost).
        const report: SyncReport = { ops: [], applied: !r.dryRun, scope: "full" }
        if (!r.dryRun) yield* Effect.zipRight(start, logDone(r.reason, "full", 0, started))
        trace("full-done")
        return report
      }
      // The brief read's src_ip_sticky stands (the text is not read twice); without it, the text is read.
      const known = brief === undefined ? undefined : new Map(brief.map((o) => [vipKeyString(o), o.srcIpSticky ?? false]))
      const observed = yield* observe(conn, (k) => sticky.get(vipKeyString(k)), known).pipe(Effect.mapError(unavailable))
      remember(conn, observed)
      desired = yield* desiredFor(undefined)
      const planned = diff(desired, observed, { flush: r.flush })
      const ops = [...planned, ...(yield* evictions(desired, r.evict, planned))]
      if (r.dryRun) return { ops, applied: false, scope: "full" }
      yield* start
      const job = newJob(ops, false)
      yield* pump(conn, job, true)
      if (job.failed !== undefined) return yield* job.failed
      // What this sync sent: the ops a reaction took over meanwhile are the reaction's (it sent and logged them).
      const sent = sentOps(job)
      yield* logDone(r.reason, "full", sent.length, started, ops.length - sent.length)
      return { ops: sent, applied: true, scope: "full" }
    })

  /**
   * Pairs of a desired VIP and what VPP showed found to match (both are
   * immutable records): in a sync with no change, both sides are the same
   * objects as in the last one (the cache's, memory's), so nothing is
   * compared again.
   */
  const matched = new WeakMap<DesiredVip, ObservedVip>()
  const matchesAll = (desired: ReadonlyArray<DesiredVip>, observed: ReadonlyArray<ObservedVip>): boolean => {
    if (desired.length !== observed.length) return false
    const byKey = new Map<string, ObservedVip>()
    for (const o of observed) byKey.set(keyString(o), o)
    for (const d of desired) {
      const o = byKey.get(keyString(d))
      if (o === undefined) return false
      if (matched.get(d) === o) continue
      if (!vipMatches(d, o)) return false
      matched.set(d, o)
    }
    return true
  }

  const run = (r: Request): Effect.Effect<SyncReport, SyncError> =>
    Effect.flatMap(vpp.connected, ({ connection }) => (r.full ? runFull(r, connection) : runScoped(r, connection)))

  // --- the fiber -------------------------------------------------------------------

  /** Several requests as one: every VIP if any asks for all, else the union of their VIPs (one is itself: no copy of its sets). */
  const merge = (rs: ReadonlyArray<Request>): Request => {
    if (rs.length === 1) return { ...rs[0]!, reply: undefined }
    const keys = new Set<string>()
    const flush = new Set<string>()
    const reasons = new Set<string>()
    const evict: Array<Request["evict"][number]> = []
    for (const r of rs) {
      for (const k of r.keys) keys.add(k)
      for (const f of r.flush) flush.add(f)
      evict.push(...r.evict)
      reasons.add(r.reason)
    }
    return request({
      full: rs.some((r) => r.full),
      keys,
      flush,
      evict,
      fresh: rs.some((r) => r.fresh),
      gated: rs.every((r) => r.gated),
      reason: [...reasons].join(", ")
    })
  }

  const reply = (rs: ReadonlyArray<Request>, exit: Exit.Exit<SyncReport, SyncError>) =>
    Effect.forEach(rs, (r) => (r.reply === undefined ? Effect.void : Deferred.done(r.reply, exit)), { discard: true })

  /** The warm-up's gate over automatic requests; returns what may run now, if anything. */
  const gate = (r: Request): Effect.Effect<Request | undefined> =>
    Effect.gen(function*() {
      if (!r.gated || warm.done) return r
      const now = yield* Clock.currentTimeMillis
      const phase = WarmUp.phase(warm, now)
      if (phase === "hands-off") return undefined
      if (phase === "done") {
        warm = WarmUp.finish(warm)
        warmDoneAt = now
        yield* Effect.logInfo("warm-up done: startup-max-delay reached").pipe(Effect.annotateLogs({ event: "vpp-lbsync-warmup-done" }))
        return { ...r, full: true, reason: r.reason === "" ? "warm-up deadline" : `${r.reason}, warm-up deadline` }
      }
      // Releasing: each VIP once none of its backends is unknown; all released = done.
      const desired = yield* desiredFor(undefined)
      const ready = desired.filter((v) => WarmUp.releasable(v)).map((v) => vipKeyString(v))
      if (ready.length === desired.length) {
        warm = WarmUp.finish(warm)
        warmDoneAt = now
        yield* Effect.logInfo("warm-up done: every VIP released").pipe(Effect.annotateLogs({ event: "vpp-lbsync-warmup-done" }))
        for (const k of ready) released.add(k)
        return { ...r, full: true, fresh: true, reason: "warm-up done" }
      }
      const fresh = ready.filter((k) => !released.has(k))
      const scope = new Set([...fresh, ...[...r.keys].filter((k) => released.has(k))])
      for (const k of fresh) released.add(k)
      if (scope.size === 0) return undefined
      return { ...r, full: false, fresh: true, keys: scope, reason: "warm-up release" }
    })

  const logFailure = (why: string) => (e: SyncError) =>
    e._tag === "VppUnavailable"
      ? Effect.logDebug("lb sync skipped: VPP unavailable").pipe(Effect.annotateLogs({ event: "vpp-lbsync-skipped", reason: e.reason }))
      : Effect.logError("lb sync failed").pipe(Effect.annotateLogs({ event: "vpp-lbsync-failed", reason: why, error: e.message }))

  /** Runs one request (already merged), answering every caller in `rs`. Never fails: failures are logged and answered. */
  const handle = (rs: ReadonlyArray<Request>, r: Request) =>
    Effect.gen(function*() {
      const allowed = yield* gate(r)
      if (allowed === undefined) {
        return yield* reply(rs, Exit.fail(new Supervisor.VppUnavailable({ reason: "warm-up: VPP is not touched yet" })))
      }
      if (!allowed.full && allowed.keys.size === 0) return yield* reply(rs, Exit.succeed({ ops: [], applied: !allowed.dryRun, scope: [] }))
      const exit = yield* Effect.exit(run(allowed).pipe(Effect.tapError(logFailure(allowed.reason))))
      yield* reply(rs, exit)
    }).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logError("lb sync defect", cause).pipe(
          Effect.annotateLogs({ event: "vpp-lbsync-defect" }),
          Effect.zipRight(reply(rs, Exit.fail(new Supervisor.VppUnavailable({ reason: "lb sync defect (logged)" }))))
        )
      )
    )

  /**
   * Everything pending: urgent first (coalesced), then dry runs one by one, then the rest of the
   * bulk as one sync; with `urgentOnly`, the urgent requests only (the bulk is the fiber's).
   */
  const drain = (urgentOnly: boolean) => Effect.gen(function*() {
    for (;;) {
      const u = [...postponed.splice(0), ...Chunk.toReadonlyArray(yield* Queue.takeAll(urgent))]
      if (u.length > 0) {
        trace("lb-taken", u.length)
        // The warm-up holds back automatic requests, never an operator's: they do not merge.
        const automatic = u.filter((r) => r.gated)
        const operator = u.filter((r) => !r.gated)
        if (operator.length > 0) yield* handle(operator, merge(operator))
        if (automatic.length > 0) yield* handle(automatic, merge(automatic))
        continue
      }
      if (urgentOnly) return
      const b = Chunk.toReadonlyArray(yield* Queue.takeAll(bulk))
      if (b.length === 0) return
      for (const dry of b.filter((r) => r.dryRun)) yield* handle([dry], dry)
      const rest = b.filter((r) => !r.dryRun)
      if (rest.length > 0) yield* handle(rest, merge(rest))
    }
  })

  /**
   * VPP's one writer is whoever holds this permit and drains: the sync fiber, woken by any
   * request, or the transition forwarder itself when the writer is idle. A health transition
   * then goes out in the forwarder's own turn: waking the sync fiber put its reaction behind
   * every other fiber the transition woke (FrontendState's, the watchers'): 0.6 ms at the median,
   * 12 ms once in 30 under load (issue 14's trace).
   */
  const writer = yield* Effect.makeSemaphore(1)
  let busy = false
  /**
   * Every request (a reaction, a full sync, an operator's) is handled in a drain, and each drain runs
   * with V8's `--optimize-for-size` lifted (HeapMode; only where the daemon set the flag): under it a
   * full sync's short-lived tens of MB brought compacting collections of the whole heap on V8's
   * helper threads, which then took the cores from the reactions around it. A drain that wrote lb
   * mutations holds the lift for HEAP_HOLD_MS after it ends, one that wrote none (the periodic
   * no-change sync) ends it with itself: held after those too, the heap of a daemon at 10,000
   * backends grew by 50-70 MiB each sync-interval (docs/lbsync.md, fourteenth and fifteenth rounds).
   */
  const drainNow = (urgentOnly: boolean) =>
    Effect.suspend(() => {
      busy = true
      const before = written
      heapMode.working()
      return drain(urgentOnly).pipe(Effect.ensuring(Effect.sync(() => heapMode.idle(written > before ? HEAP_HOLD_MS : 0))))
    }).pipe(Effect.ensuring(Effect.sync(() => (busy = false))))
  yield* Effect.forkScoped(Effect.forever(
    Queue.take(wake).pipe(
      Effect.zipRight(Effect.sync(() => trace("lb-woken"))),
      Effect.zipRight(writer.withPermits(1)(drainNow(false)))
    )
  ))
  /**
   * The forwarder's drain, when no one writes now and the warm-up is over: the urgent requests
   * only (a reaction planned from memory; one that must add a VIP becomes a full sync here, as in
   * the fiber, and transitions meanwhile wait to be forwarded until it ends).
   */
  const drainIfIdle = Effect.suspend(() => (warm.done ? writer.withPermitsIfAvailable(1)(drainNow(true)) : Effect.succeedNone))

  const isUrgent = (r: Request) => !r.full && !r.fresh && !r.dryRun
  const submit = (r: Request) =>
    Queue.offer(isUrgent(r) ? urgent : bulk, r).pipe(
      Effect.zipRight(Queue.offer(wake, undefined)),
      // A full sync waiting for VPP's answers looks at it now, not at the next answer.
      Effect.zipRight(isUrgent(r) ? Effect.sync(() => poke?.()) : Effect.void)
    )
  /**
   * An urgent request written by the forwarder itself when no one writes (`drainIfIdle`); the sync
   * fiber is woken only when it could not be (the writer busy, the warm-up): woken for every
   * transition, it ran after the reaction's write and before the event loop read VPP's answer,
   * only to find nothing to do.
   */
  const submitAndDrain = (r: Request) =>
    Queue.offer(urgent, r).pipe(
      Effect.zipRight(Effect.sync(() => poke?.())),
      Effect.zipRight(drainIfIdle),
      Effect.flatMap((drained) => (Option.isSome(drained) ? Effect.void : Queue.offer(wake, undefined)))
    )

  /** Submits and awaits the outcome. */
  const ask = (r: Omit<Request, "reply">) =>
    Effect.flatMap(Deferred.make<SyncReport, SyncError>(), (d) => Effect.zipRight(submit({ ...r, reply: d }), Deferred.await(d)))

  // Health transitions: those that arrived together (a start-up storm, a switch going down) are one request.
  const events = yield* checker.subscribe
  yield* Effect.forkScoped(Effect.forever(
    Queue.take(events).pipe(
      Effect.flatMap((first) => Effect.map(Queue.takeAll(events), (rest) => [first, ...Chunk.toReadonlyArray(rest)])),
      Effect.flatMap((batch) =>
        Effect.flatMap(running.config, (config) => {
          const reaches: Array<Reach> = []
          const tos: Array<HealthStatus> = []
          const ramping: Array<Effect.Effect<void>> = []
          // The ramp fiber is woken only when the ramps changed (it was, for every transition, before the answer was read).
          let rampsChanged = false
          for (const event of batch) {
            const to = event.transition.to
            if (tracing()) trace("lb-seen", `${event.backend} ${to}`)
            // Slow start: a backend that comes up ramps, but not from the warm-up's first verdicts (restart neutrality).
            if (to !== "up") rampsChanged = ramps.delete(event.backend) || rampsChanged
            // (Only when some pool or check has a slow start: the schedule walks every pool of the backend's frontends.)
            else if (event.transition.from !== "up" && warm.done && SlowStart.longestMs(config) > 0) {
              const at = event.transition.at
              const s = SlowStart.schedule(config, frontendsOf(config, event.backend), event.backend, at, at)
              if (s.next !== undefined) {
                ramps.set(event.backend, at)
                rampsChanged = true
                ramping.push(Effect.logInfo("slow start").pipe(
                  Effect.annotateLogs({ event: "backend-slow-start", backend: event.backend, duration_ms: s.end - at })
                ))
              }
            }
            const reach = reachOf(config, event.backend, event.address)
            markDirty(reach.keys)
            reaches.push(reach)
            tos.push(to)
          }
          // One transition (the usual case): its sets as they are; several: their union.
          let keys: ReadonlySet<string> = reaches.length === 1 ? reaches[0]!.keys : new Set<string>()
          let flush: ReadonlySet<string> = reaches.length === 1 ? flushOf(reaches[0]!, tos[0]!) : new Set<string>()
          if (reaches.length > 1) {
            const k = new Set<string>()
            const f = new Set<string>()
            for (let i = 0; i < reaches.length; i++) {
              for (const key of reaches[i]!.keys) k.add(key)
              for (const key of flushOf(reaches[i]!, tos[i]!)) f.add(key)
            }
            keys = k
            flush = f
          }
          trace("lb-submit", keys.size)
          const sent = keys.size === 0 ? Effect.void : submitAndDrain(request({ keys, flush, reason: "health" }))
          return Effect.all([...ramping, rampsChanged ? Queue.offer(rampWake, undefined) : Effect.void, sent], { discard: true })
        })
      )
    )
  ))

  // Every (re)connect of VPP.
  yield* Effect.forkScoped(vpp.connects.pipe(
    Stream.runForEach(() => submit(request({ full: true, fresh: true, reason: "vpp connect" })))
  ))

  // The periodic full sync.
  yield* Effect.forkScoped(Effect.forever(
    running.config.pipe(
      Effect.flatMap((c) => Effect.sleep(c.vpp.lb.syncInterval)),
      Effect.zipRight(submit(request({ full: true, fresh: true, reason: "periodic" })))
    )
  ))

  // Warm-up phase boundaries wake the loop.
  yield* Effect.forkScoped(Effect.gen(function*() {
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const next = WarmUp.nextBoundary(warm, now)
      if (next === undefined) return
      yield* Effect.sleep(Duration.millis(next - now))
      yield* submit(request({ fresh: true, reason: "" }))
    }
  }))

  // Slow start: at each step, the VIPs of every ramping backend (the diff sends only what changed).
  yield* Effect.forkScoped(Effect.gen(function*() {
    let due: number | undefined
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const config = yield* running.config
      const keys = new Set<string>()
      const names = new Set<string>()
      let next: number | undefined
      for (const [backend, startedAt] of ramps) {
        const frontends = frontendsOf(config, backend)
        // On the boundary is due (SlowStart.isDue): else the step would wait for the next one while its weights already apply.
        if (due !== undefined && SlowStart.isDue(due, now)) {
          for (const f of frontends) {
            keys.add(keyStringOf(f))
            names.add(f.name)
          }
        }
        const s = SlowStart.schedule(config, frontends, backend, startedAt, now)
        if (s.over) {
          ramps.delete(backend)
          yield* Effect.logInfo("slow start done").pipe(Effect.annotateLogs({ event: "backend-slow-start-done", backend }))
        }
        if (s.next !== undefined && (next === undefined || s.next < next)) next = s.next
      }
      for (const k of keys) dirty.add(k)
      if (keys.size > 0) {
        yield* submit(request({ keys, reason: "slow start" }))
        yield* PubSub.publish(rampSteps, [...names])
      }
      due = next
      if (next === undefined) yield* Queue.take(rampWake)
      else yield* Effect.raceFirst(Effect.sleep(Duration.millis(next - now)), Queue.take(rampWake))
    }
  }))

  const requestFull = (reason: string) =>
    running.config.pipe(
      Effect.flatMap((config) => vpp.setLbConf(config.vpp.lb)),
      Effect.zipRight(submit(request({ full: true, fresh: true, reason }))),
      Effect.asVoid
    )

  /** A configuration's indexes, built when it arrives rather than on its first transition's path (2-5 ms at 1,000 frontends). */
  const index = (config: Config) => {
    frontendsOf(config, "")
    frontendsByKey(config)
    // The first transition after a reload does not make its backend's keys (0.5 ms for a backend in 1,000 VIPs).
    for (const b of config.backends.values()) reachOf(config, b.name, b.address)
  }
  index(config0)

  // A reload: a new lb_conf and a full sync. An override: that frontend's VIP, now.
  yield* running.subscribe((change) =>
    Effect.sync(() => index(change.current.effective)).pipe(Effect.zipRight(change._tag === "Reload"
      ? requestFull("reload")
      : Effect.suspend(() => {
        const f = change.current.effective.frontends.get(change.frontend)
        return f === undefined
          ? Effect.void
          : submit(request({ keys: new Set([keyStringOf(f)]), reason: "weight override" }))
      }))).pipe(Effect.zipRight(Queue.offer(rampWake, undefined)))
  )

  const keyOfFrontend = (name: string) =>
    Effect.flatMap(running.config, (config) => {
      const f = config.frontends.get(name)
      return f === undefined ? Effect.fail(new UnknownFrontend({ frontend: name })) : Effect.succeed(keyStringOf(f))
    })

  const sync = Effect.fn("LbSync.sync")(function*(options?: { readonly frontend?: string | undefined; readonly dryRun?: boolean | undefined }) {
    const dryRun = options?.dryRun === true
    trace("sync-asked")
    if (options?.frontend === undefined) return yield* ask(request({ full: true, fresh: true, dryRun, gated: false, reason: "operator" }))
    const k = yield* keyOfFrontend(options.frontend)
    return yield* ask(request({ keys: new Set([k]), fresh: true, dryRun, gated: false, reason: "operator" }))
  })

  const reconcileFrontend = Effect.fn("LbSync.reconcileFrontend")(function*(
    frontend: string,
    options?: { readonly flush?: string | undefined; readonly reason?: string | undefined }
  ) {
    const k = yield* keyOfFrontend(frontend)
    const evict = options?.flush === undefined ? [] : [{ key: k, frontend, backend: options.flush }]
    // Held by the warm-up like a transition: the release then programs the override with everything else.
    return yield* ask(request({ keys: new Set([k]), evict, reason: options?.reason ?? "operator" }))
  })

  return LbSync.of({
    sync,
    reconcileFrontend,
    requestFull,
    desired: desiredFor(undefined),
    panics: Effect.sync(() => guards.states()),
    panicEvents: guards.events,
    phase: Clock.currentTimeMillis.pipe(Effect.map((now) => WarmUp.phase(warm, now))),
    rampSteps: Stream.fromPubSub(rampSteps),
    ramps: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      return rampsAt(yield* running.config, yield* checker.statuses, now) ?? { now, startedAt: () => undefined }
    }),
    counters: Effect.gen(function*() {
      const config = yield* running.config
      const byKey = yield* vpp.vipCountersByKey
      const out = new Map<string, Supervisor.VipCounters>()
      for (const [key, f] of frontendsByKey(config)) {
        const c = byKey.get(key)
        if (c !== undefined) out.set(f.name, c)
      }
      return out
    }),
    idle: Effect.map(
      Effect.all([Queue.size(urgent), Queue.size(bulk), Queue.size(events)]),
      ([u, b, e]) => u <= 0 && b <= 0 && e <= 0 && !busy && postponed.length === 0
    ) // negative sizes: fibers waiting to take
  })
})

export const layer: Layer.Layer<
  LbSync,
  never,
  RunningConfig.RunningConfig | HealthChecker.HealthChecker | Supervisor.VppSupervisor
> = Layer.scoped(LbSync, make())
