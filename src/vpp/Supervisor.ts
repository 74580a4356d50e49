/**
 * The VPP supervisor: owns the connection to VPP, the binary-API socket and
 * the stats segment as one unit (reference §3.6), and keeps it alive.
 *
 * ```
 * main loop (forkScoped) ── session: Effect.scoped ─┬─ VppApi.connect (api socket)
 *    │ sleep reconnectDelay between sessions        ├─ StatsClient.make (stats socket)
 *    │ log connect failures once per reason         ├─ show_version, control_ping (pid), /sys/boottime
 *    ▼                                              ├─ lb_conf push (the desired one, if any)
 * SubscriptionRef<VppState>  ◀── Connected ─────────┤
 *                                                   └─ FiberSet: liveness (control_ping + boottime every
 *                                                      pingInterval), counters (every countersInterval:
 *                                                      the lb counters, keyed by VIP through the last
 *                                                      `show lb vips verbose`, read again only when stale),
 *                                                      lb_conf watcher; the first of them to see a
 *                                                      failure, or the API socket closing, ends the session
 * ```
 *
 * A session that fails to open (either socket), or that loses the connection
 * later, closes its scope: both sockets go (sockclnt_delete when the API
 * socket is still up), every session fiber stops, and the state is set to
 * `Disconnected` before that, so that nobody picks up a connection that is
 * being torn down. Reconnecting is retried every `reconnectDelay`.
 *
 * Everything lives in the scope of `make`: closing it stops the main loop,
 * which closes the session and with it the connection.
 */
import {
  Cause,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  LogLevel,
  Option,
  Ref,
  Schedule,
  Stream,
  SubscriptionRef
} from "effect"
import type { LbConfig } from "../config/Config.js"
import { vipKeyString } from "../lb/VipKey.js"
import { lb, memclnt, vpe } from "./binapi/index.js"
import { type LbVipRecord, showLbVips } from "./LbVips.js"
import type { StatsReadError } from "./stats/Errors.js"
import { LbVipCounter, WellKnown } from "./stats/Layout.js"
import * as StatsClient from "./stats/StatsClient.js"
import { VppApiError } from "./transport/Errors.js"
import * as VppApi from "./transport/VppApi.js"

// ---------------------------------------------------------------------------
// Public types

export interface VppSupervisorOptions {
  /** VPP's binary-API socket; "" disables VPP integration (state `Disabled`, nothing is attempted). */
  readonly apiSocket: string
  /** VPP's stats socket. */
  readonly statsSocket: string
  /** Between connection attempts, and after a connection is lost. Default 5 s. */
  readonly reconnectDelay?: Duration.DurationInput
  /** Liveness check (`control_ping`, and a read of `/sys/boottime`) period. Default 10 s. */
  readonly pingInterval?: Duration.DurationInput
  /** How long a `control_ping` may take before the connection is declared dead. Default 5 s. */
  readonly pingTimeout?: Duration.DurationInput
  /** Period of the lb plugin's per-VIP counter scrape. Default 5 s. */
  readonly countersInterval?: Duration.DurationInput
  /**
   * How old the `show lb vips verbose` listing (which keys the counters by VIP
   * and gives the flows per AS) may get before a counter scrape reads it again.
   * It is read sooner at the first scrape of a connection, after this process
   * added or deleted a VIP (`lbVipsChanged`) and after a failed listing; a full
   * sync's own listing (`offerLbVips`) counts as a read. Default 60 s.
   */
  readonly listingMaxAge?: Duration.DurationInput
  /** Per binary-API request (handshake included); see `VppApi.ConnectOptions.timeout`. Default 5 s. */
  readonly requestTimeout?: Duration.DurationInput
  /** How long the stats socket may take to hand over the segment. Default 5 s. */
  readonly statsConnectTimeout?: Duration.DurationInput
  /** A connect failure that keeps its reason is logged again after this long. Default 5 min. */
  readonly failureReminder?: Duration.DurationInput
  /** Our name in `show api clients`. Default `vpp-maglev`. */
  readonly clientName?: string
}

/** What we learn about VPP when connecting. Times are Unix milliseconds. */
export interface VppInfo {
  /** `show_version_reply.version` */
  readonly version: string
  /** `show_version_reply.build_date` */
  readonly buildDate: string
  /** `control_ping_reply.vpe_pid` */
  readonly pid: number
  /** `/sys/boottime` (whole seconds when VPP's stats collector started), in milliseconds */
  readonly bootTime: number
  /** When this connection was established (Effect clock). */
  readonly connectedAt: number
  /** 1 for this supervisor's first connection, +1 on every reconnect. */
  readonly connectCount: number
}

export interface Disabled {
  readonly _tag: "Disabled"
}

export interface Disconnected {
  readonly _tag: "Disconnected"
  /** Since when we have been without a connection (start, or the loss of the last one). */
  readonly since: number
  /** Why: the loss, or the latest failed attempt. */
  readonly reason: string
  /** Failed connection attempts since `since`. */
  readonly attempts: number
}

export interface Connected {
  readonly _tag: "Connected"
  readonly info: VppInfo
  readonly connection: VppApi.VppConnection
  readonly stats: StatsClient.StatsClientShape
}

export type VppState = Disabled | Disconnected | Connected

/** The four per-VIP counters of the lb plugin, summed over threads. */
export type VipCounterName = keyof typeof LbVipCounter
export type VipCounters = { readonly [K in VipCounterName]: bigint }

/** lb_conf as it goes on the wire. */
export interface LbConfWire {
  readonly ip4_src_address: string
  readonly ip6_src_address: string
  readonly sticky_buckets_per_core: number
  readonly flow_timeout: number
}

/** There is no connection to VPP now (or VPP integration is disabled). */
export class VppUnavailable extends Data.TaggedError("VppUnavailable")<{
  readonly reason: string
}> {
  override get message(): string {
    return `VPP is not available: ${this.reason}`
  }
}

export interface VppSupervisorShape {
  readonly state: Effect.Effect<VppState>
  /** The current state, then every change. */
  readonly changes: Stream.Stream<VppState>
  /** The live connection, or `VppUnavailable` with the reason there is none. */
  readonly connected: Effect.Effect<Connected, VppUnavailable>
  /** Waits for a connection; fails only when VPP integration is disabled. */
  readonly awaitConnected: Effect.Effect<Connected, VppUnavailable>
  /**
   * Every connection, starting with the current one if there is one: the hook
   * for services that must (re)program VPP after each (re)connect.
   */
  readonly connects: Stream.Stream<Connected>
  /**
   * Records the desired lb_conf. It is pushed on every connect and whenever it
   * changes; a value already attempted on this connection is not sent again.
   */
  readonly setLbConf: (conf: LbConfig) => Effect.Effect<void>
  /** The per-VIP counters by VIP pool index (the placeholder VIP 0 left out); empty while disconnected. */
  readonly vipCounters: Effect.Effect<ReadonlyMap<number, VipCounters>>
  /**
   * The same counters by `vipKeyString` of the VIP's key, for the VIPs not
   * marked removed, through the last `show lb vips verbose`; empty while
   * disconnected and while that listing fails.
   */
  readonly vipCountersByKey: Effect.Effect<ReadonlyMap<string, VipCounters>>
  /** The last `show lb vips verbose` listing; empty while disconnected and while it fails. */
  readonly lbVips: Effect.Effect<ReadonlyArray<LbVipRecord>>
  /** When `lbVips` was read (Effect clock, ms); undefined while there is none. */
  readonly lbVipsAt: Effect.Effect<number | undefined>
  /**
   * The VIPs of `connection` were added or deleted (by the LB sync, VPP's one
   * writer): the next counter scrape lists them again before keying the counters.
   */
  readonly lbVipsChanged: Effect.Effect<void>
  /**
   * A listing read just now on `connection` by someone else (the LB sync's full
   * sync): kept as `lbVips`, and the counters keyed through it, instead of the
   * scrape's own listing. Ignored when `connection` is not the current one.
   */
  readonly offerLbVips: (connection: VppApi.VppConnection, listed: ReadonlyArray<LbVipRecord>) => Effect.Effect<void>
}

export class VppSupervisor extends Context.Tag("vpp-maglev/VppSupervisor")<VppSupervisor, VppSupervisorShape>() {}

// ---------------------------------------------------------------------------
// Pure helpers

/** VPP's own values for "no source address" (`lb_init`): lb_conf always overwrites both. */
export const UNSET_IP4_SRC = "255.255.255.255"
export const UNSET_IP6_SRC = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

/** The lb_conf request for a configuration; an absent source address is sent as VPP's default. */
export const lbConfWire = (conf: LbConfig): LbConfWire => ({
  ip4_src_address: conf.ipv4SrcAddress ?? UNSET_IP4_SRC,
  ip6_src_address: conf.ipv6SrcAddress ?? UNSET_IP6_SRC,
  sticky_buckets_per_core: conf.stickyBucketsPerCore,
  flow_timeout: conf.flowTimeoutSeconds
})

const sameLbConf = (a: LbConfWire, b: LbConfWire): boolean =>
  a.ip4_src_address === b.ip4_src_address &&
  a.ip6_src_address === b.ip6_src_address &&
  a.sticky_buckets_per_core === b.sticky_buckets_per_core &&
  a.flow_timeout === b.flow_timeout

const COUNTERS = Object.entries(LbVipCounter) as ReadonlyArray<readonly [VipCounterName, LbVipCounter]>

/** Per-VIP totals from the four counter vectors (`[counter][vip index]`), VIP 0 left out. */
export const vipCountersOf = (
  totals: Readonly<Record<VipCounterName, ReadonlyArray<bigint>>>
): ReadonlyMap<number, VipCounters> => {
  const length = Math.max(0, ...COUNTERS.map(([key]) => totals[key].length))
  const out = new Map<number, VipCounters>()
  for (let i = 1; i < length; i++) {
    out.set(i, {
      nextPacket: totals.nextPacket[i] ?? 0n,
      firstPacket: totals.firstPacket[i] ?? 0n,
      untrackedPacket: totals.untrackedPacket[i] ?? 0n,
      noServer: totals.noServer[i] ?? 0n
    })
  }
  return out
}

/**
 * The counters of the listed VIPs that are not removed, by `vipKeyString`. A
 * removed VIP shares its key with the live one re-added in its place, and its
 * counters are history. A listed VIP the counters do not cover yet is left out.
 */
export const vipCountersByKeyOf = (
  byIndex: ReadonlyMap<number, VipCounters>,
  vips: ReadonlyArray<LbVipRecord>
): ReadonlyMap<string, VipCounters> => {
  const out = new Map<string, VipCounters>()
  for (const v of vips) {
    const c = byIndex.get(v.index)
    if (!v.removed && c !== undefined) out.set(vipKeyString(v.key), c)
  }
  return out
}

const EMPTY_COUNTERS: ReadonlyMap<number, VipCounters> = new Map()
const EMPTY_BY_KEY: ReadonlyMap<string, VipCounters> = new Map()
const NO_VIPS: ReadonlyArray<LbVipRecord> = []

const format = (d: Duration.DurationInput): string => Duration.format(Duration.decode(d))

const levels = {
  Debug: LogLevel.Debug,
  Info: LogLevel.Info,
  Warning: LogLevel.Warning,
  Error: LogLevel.Error
} as const

const isConnected = (s: VppState): s is Connected => s._tag === "Connected"

type SessionOutcome =
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "Lost"; readonly reason: string }

// ---------------------------------------------------------------------------
// The service

export const make = Effect.fn("VppSupervisor.make")(function*(options: VppSupervisorOptions) {
  const reconnectDelay = Duration.decode(options.reconnectDelay ?? Duration.seconds(5))
  const pingInterval = Duration.decode(options.pingInterval ?? Duration.seconds(10))
  const pingTimeout = Duration.decode(options.pingTimeout ?? Duration.seconds(5))
  const countersInterval = Duration.decode(options.countersInterval ?? Duration.seconds(5))
  const listingMaxAgeMs = Duration.toMillis(Duration.decode(options.listingMaxAge ?? Duration.seconds(60)))
  const reminderMs = Duration.toMillis(Duration.decode(options.failureReminder ?? Duration.minutes(5)))
  const disabled = options.apiSocket === ""

  const start = yield* Clock.currentTimeMillis
  const stateRef = yield* SubscriptionRef.make<VppState>(
    disabled ? { _tag: "Disabled" } : { _tag: "Disconnected", since: start, reason: "not connected yet", attempts: 0 }
  )
  const desiredConf = yield* SubscriptionRef.make<LbConfWire | undefined>(undefined)
  const counters = yield* Ref.make(EMPTY_COUNTERS)
  const countersByKey = yield* Ref.make(EMPTY_BY_KEY)
  const lbVips = yield* Ref.make(NO_VIPS)
  /**
   * The listing's book-keeping: the connection it is of, when it was read, and
   * the generation of the VIP set it saw (`changes` counts `lbVipsChanged`).
   * Only the session's fibers and the service's methods touch it, one at a time.
   */
  const listing = { connection: undefined as VppApi.VppConnection | undefined, at: undefined as number | undefined, seen: -1, changes: 0 }
  const clearCounters = Effect.all(
    [
      Ref.set(counters, EMPTY_COUNTERS),
      Ref.set(countersByKey, EMPTY_BY_KEY),
      Ref.set(lbVips, NO_VIPS),
      Effect.sync(() => {
        listing.connection = undefined
        listing.at = undefined
      })
    ],
    { discard: true }
  )

  const logEvent = (
    level: "Debug" | "Info" | "Warning" | "Error",
    message: string,
    event: string,
    annotations: Record<string, unknown> = {}
  ) => Effect.logWithLevel(levels[level], message).pipe(Effect.annotateLogs({ event, ...annotations }))

  /**
   * A loop's unexpected failure: logged, and the loop goes on. (When the loop's
   * own fiber is interrupted, failure handlers do not run: this only ever sees
   * causes from below, an interruption of something the loop waited on included.)
   */
  const logDefect = (loop: string) => (cause: Cause.Cause<unknown>) =>
    Effect.logError("VPP supervisor loop failed", cause).pipe(Effect.annotateLogs({ event: "vpp-loop-defect", loop }))

  // --- lb_conf --------------------------------------------------------------

  /**
   * One push on `connection`. `attempted` is the last value tried on this
   * connection, successful or not: a failure is retried on the next change or
   * the next connection, not in a loop against the same refusal.
   */
  const pushLbConf = (
    connection: VppApi.VppConnection,
    wire: LbConfWire,
    attempted: { current: LbConfWire | undefined }
  ) =>
    Effect.gen(function*() {
      attempted.current = wire
      const result = yield* Effect.either(connection.request(lb.LbConf, lb.LbConfReply, wire))
      if (Either.isRight(result)) {
        yield* logEvent("Info", "lb_conf set", "vpp-lb-conf-set", { ...wire })
        return
      }
      const error = result.left
      yield* logEvent("Error", "lb_conf push failed", "vpp-lb-conf-failed", {
        ...wire,
        error: error instanceof VppApiError ? error.errorName : error._tag,
        ...(error instanceof VppApiError ? { retval: error.retval } : {}),
        reason: error.message
      })
    })

  const lbConfWatcher = (connection: VppApi.VppConnection, attempted: { current: LbConfWire | undefined }) =>
    desiredConf.changes.pipe(
      Stream.runForEach((wire) =>
        wire === undefined || (attempted.current !== undefined && sameLbConf(wire, attempted.current))
          ? Effect.void
          : pushLbConf(connection, wire, attempted).pipe(Effect.catchAllCause(logDefect("lb-conf")))
      )
    )

  // --- liveness and counters --------------------------------------------------

  /** A reason to drop the connection, or undefined when all is well. */
  const checkLiveness = (connected: Connected) =>
    Effect.gen(function*() {
      const ping = yield* Effect.either(
        connected.connection.request(memclnt.ControlPing, memclnt.ControlPingReply, {}).pipe(
          Effect.timeoutFail({ duration: pingTimeout, onTimeout: () => `no reply to control_ping within ${format(pingTimeout)}` })
        )
      )
      if (Either.isLeft(ping)) return typeof ping.left === "string" ? ping.left : `control_ping failed: ${ping.left.message}`
      if (ping.right.vpe_pid !== connected.info.pid) {
        return `VPP's pid changed from ${connected.info.pid} to ${ping.right.vpe_pid}`
      }
      const boot = yield* Effect.either(connected.stats.scalar(WellKnown.bootTime))
      if (Either.isLeft(boot)) return yield* statsFailure(boot.left, "liveness")
      if (Number(boot.right) * 1000 !== connected.info.bootTime) return "VPP's boot time changed in the stats segment"
      return undefined
    })

  /** A busy writer is transient (warned, the read skipped); anything else means the segment is unusable. */
  const statsFailure = (error: StatsReadError, what: string): Effect.Effect<string | undefined> =>
    error._tag === "StatsBusy"
      ? Effect.as(logEvent("Warning", "stats segment busy", "vpp-stats-busy", { read: what, reason: error.message }), undefined)
      : Effect.succeed(`stats segment unreadable: ${error.message}`)

  /**
   * Lists the VIPs to key the counters by. A failure does not end the session:
   * it is logged (at warn when its reason is new on this connection), and the
   * keyed counters and the list are emptied until a listing succeeds again
   * (the next scrape tries again).
   */
  const readLbVips = (
    connection: VppApi.VppConnection,
    byIndex: ReadonlyMap<number, VipCounters>,
    lastFailure: { current: string | undefined }
  ) =>
    Effect.gen(function*() {
      // VPP answers in order: a change signalled before the request was written is in the text.
      const generation = listing.changes
      // The AS lines (flows per AS, for metrics and the API) are read when asked for.
      const listed = yield* Effect.either(showLbVips(connection, { ases: "lazy" }))
      if (Either.isRight(listed)) {
        lastFailure.current = undefined
        listing.at = yield* Clock.currentTimeMillis
        listing.seen = generation
        yield* Ref.set(lbVips, listed.right)
        yield* Ref.set(countersByKey, vipCountersByKeyOf(byIndex, listed.right))
        return
      }
      listing.at = undefined
      yield* Ref.set(lbVips, NO_VIPS)
      yield* Ref.set(countersByKey, EMPTY_BY_KEY)
      // A lost connection ends the session, which logs it as vpp-disconnect.
      if (listed.left._tag === "VppDisconnected") return
      const reason = listed.left.message
      const repeated = lastFailure.current === reason
      lastFailure.current = reason
      yield* logEvent(repeated ? "Debug" : "Warning", "cannot list the lb VIPs", "vpp-lb-vips-failed", {
        error: listed.left._tag,
        reason,
        ...(repeated ? { repeated: true } : {})
      })
    })

  /** Reads the four counters, then keys them by VIP; a reason to drop the connection, or undefined. */
  const readCounters = (
    stats: StatsClient.StatsClientShape,
    connection: VppApi.VppConnection,
    lastFailure: { current: string | undefined }
  ) =>
    Effect.gen(function*() {
      const read = yield* Effect.either(
        Effect.forEach(COUNTERS, ([key, name]) =>
          stats.simpleCounterTotals(name).pipe(
            // The counters appear with the first VIP (vpp-wire.md §4.4).
            Effect.catchTag("StatsEntryNotFound", () => Effect.succeed<ReadonlyArray<bigint>>([])),
            Effect.map((totals) => [key, totals] as const)
          ))
      )
      if (Either.isLeft(read)) return yield* statsFailure(read.left, "counters")
      const byIndex = vipCountersOf(Object.fromEntries(read.right) as Record<VipCounterName, ReadonlyArray<bigint>>)
      yield* Ref.set(counters, byIndex)
      // The listing is VPP's text of every VIP and AS (2 MB at 1,000 VIPs × 32), formatted on
      // VPP's main thread while its API answers nothing else: read when stale, not every scrape.
      const now = yield* Clock.currentTimeMillis
      if (listing.at === undefined || listing.seen !== listing.changes || now - listing.at >= listingMaxAgeMs) {
        yield* readLbVips(connection, byIndex, lastFailure)
      } else {
        yield* Ref.set(countersByKey, vipCountersByKeyOf(byIndex, yield* Ref.get(lbVips)))
      }
      return undefined
    })

  // --- one session --------------------------------------------------------------

  const open = Effect.gen(function*() {
    const connection = yield* VppApi.connect({
      path: options.apiSocket,
      ...(options.requestTimeout !== undefined ? { timeout: options.requestTimeout } : {}),
      ...(options.clientName !== undefined ? { clientName: options.clientName } : {})
    })
    const stats = yield* StatsClient.make({
      socketPath: options.statsSocket,
      connectTimeout: options.statsConnectTimeout ?? Duration.seconds(5)
    })
    const version = yield* connection.request(vpe.ShowVersion, vpe.ShowVersionReply, {})
    const ping = yield* connection.request(memclnt.ControlPing, memclnt.ControlPingReply, {})
    const boot = yield* stats.scalar(WellKnown.bootTime)
    return { connection, stats, version, pid: ping.vpe_pid, bootTime: Number(boot) * 1000 }
  })

  let connectCount = 0

  /**
   * Opens both sockets, runs until the connection is lost, and sets the state
   * to Disconnected before its scope (the sockets) closes.
   */
  const session = (failedAttempts: number) =>
    Effect.scoped(Effect.gen(function*() {
      const opened = yield* Effect.either(open)
      if (Either.isLeft(opened)) return { _tag: "Failed", reason: opened.left.message } satisfies SessionOutcome
      const { connection, stats, version, pid, bootTime } = opened.right
      connectCount++
      const connected: Connected = {
        _tag: "Connected",
        info: {
          version: version.version,
          buildDate: version.build_date,
          pid,
          bootTime,
          connectedAt: yield* Clock.currentTimeMillis,
          connectCount
        },
        connection,
        stats
      }

      // lb_conf goes first, so that whoever reacts to the connect finds it in place.
      const attempted: { current: LbConfWire | undefined } = { current: undefined }
      const desired = yield* SubscriptionRef.get(desiredConf)
      if (desired !== undefined) {
        // VPP may hold it already (a restarted daemon): then there is nothing to push.
        const current = yield* Effect.option(connection.request(lb.LbConfGet, lb.LbConfGetReply, {}))
        if (Option.isSome(current) && sameLbConf(desired, current.value)) {
          attempted.current = desired
          yield* logEvent("Debug", "lb_conf already in place", "vpp-lb-conf-unchanged", { ...desired })
        } else {
          yield* pushLbConf(connection, desired, attempted)
        }
      }

      const lost = yield* Deferred.make<string>()
      const lose = (reason: string | undefined) => (reason === undefined ? Effect.void : Deferred.succeed(lost, reason))
      listing.connection = connection
      listing.at = undefined
      const loops = yield* FiberSet.make()
      yield* FiberSet.run(
        loops,
        Effect.sleep(pingInterval).pipe(
          Effect.zipRight(checkLiveness(connected)),
          Effect.flatMap(lose),
          Effect.catchAllCause(logDefect("liveness")),
          Effect.forever
        )
      )
      yield* FiberSet.run(
        loops,
        readCounters(stats, connection, { current: undefined }).pipe(
          Effect.flatMap(lose),
          Effect.catchAllCause(logDefect("counters")),
          Effect.repeat(Schedule.spaced(countersInterval))
        )
      )
      yield* FiberSet.run(loops, lbConfWatcher(connection, attempted).pipe(Effect.catchAllCause(logDefect("lb-conf"))))

      yield* SubscriptionRef.set(stateRef, connected)
      yield* logEvent("Info", "connected to VPP", "vpp-connect", {
        version: connected.info.version,
        build_date: connected.info.buildDate,
        pid,
        boottime: new Date(bootTime).toISOString(),
        connect_count: connected.info.connectCount,
        failed_attempts: failedAttempts
      })

      const reason = yield* Effect.raceFirst(
        Deferred.await(lost),
        Effect.map(connection.closed, (closed) => closed.reason)
      ).pipe(
        Effect.onInterrupt(() =>
          logEvent("Info", "disconnected from VPP", "vpp-disconnect", { reason: "supervisor stopped", pid })
        )
      )
      yield* FiberSet.clear(loops)
      yield* clearCounters
      const now = yield* Clock.currentTimeMillis
      yield* SubscriptionRef.set(stateRef, { _tag: "Disconnected", since: now, reason, attempts: 0 })
      yield* logEvent("Warning", "disconnected from VPP", "vpp-disconnect", {
        reason,
        pid,
        connected_ms: now - connected.info.connectedAt
      })
      return { _tag: "Lost", reason } satisfies SessionOutcome
    }))

  // --- the main loop ----------------------------------------------------------------

  const run = Effect.gen(function*() {
    let attempts = 0
    let logged: { reason: string; at: number } | undefined
    for (;;) {
      const outcome: SessionOutcome = yield* session(attempts).pipe(
        Effect.catchAllCause((cause) => {
          const squashed = Cause.squash(cause)
          const reason = `unexpected failure: ${squashed instanceof Error ? squashed.message : String(squashed)}`
          return Effect.as(logDefect("session")(cause), { _tag: "Failed", reason } as const)
        })
      )
      if (outcome._tag === "Lost") {
        attempts = 0
        logged = undefined
      } else {
        attempts++
        yield* clearCounters
        const now = yield* Clock.currentTimeMillis
        const n = attempts
        yield* SubscriptionRef.update(stateRef, (s): VppState =>
          s._tag === "Disconnected"
            ? { ...s, reason: outcome.reason, attempts: n }
            : { _tag: "Disconnected", since: now, reason: outcome.reason, attempts: n }
        )
        // Once per distinct reason, and a reminder now and then; every attempt at debug.
        if (logged === undefined || logged.reason !== outcome.reason) {
          logged = { reason: outcome.reason, at: now }
          yield* logEvent("Warning", "cannot connect to VPP", "vpp-connect-failed", {
            reason: outcome.reason,
            attempts,
            retry_in: format(reconnectDelay)
          })
        } else if (now - logged.at >= reminderMs) {
          logged = { reason: outcome.reason, at: now }
          yield* logEvent("Warning", "still cannot connect to VPP", "vpp-connect-failed", {
            reason: outcome.reason,
            attempts,
            repeated: true
          })
        } else {
          yield* logEvent("Debug", "cannot connect to VPP", "vpp-connect-retry", { reason: outcome.reason, attempts })
        }
      }
      yield* Effect.sleep(reconnectDelay)
    }
  })

  if (disabled) {
    yield* logEvent("Info", "VPP integration disabled (no API socket configured)", "vpp-disabled")
  } else {
    // Registered before the fork, so it runs after the loop (and the connection) is gone.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* clearCounters
        const now = yield* Clock.currentTimeMillis
        yield* SubscriptionRef.set(stateRef, { _tag: "Disconnected", since: now, reason: "supervisor stopped", attempts: 0 })
      })
    )
    yield* run.pipe(
      Effect.annotateLogs({ api_socket: options.apiSocket, stats_socket: options.statsSocket }),
      Effect.forkScoped
    )
  }

  const unavailable = (s: Exclude<VppState, Connected>) =>
    new VppUnavailable({
      reason: s._tag === "Disabled" ? "VPP integration is disabled (no API socket configured)" : s.reason
    })

  const connected = Effect.flatMap(SubscriptionRef.get(stateRef), (s) =>
    isConnected(s) ? Effect.succeed(s) : Effect.fail(unavailable(s)))

  const awaitConnected: Effect.Effect<Connected, VppUnavailable> = disabled
    ? Effect.fail(unavailable({ _tag: "Disabled" }))
    : stateRef.changes.pipe(
      Stream.filter(isConnected),
      Stream.runHead,
      Effect.flatMap(Option.match({
        onNone: () => Effect.dieMessage("the VPP state stream ended"),
        onSome: Effect.succeed
      }))
    )

  return VppSupervisor.of({
    state: SubscriptionRef.get(stateRef),
    changes: stateRef.changes,
    connected,
    awaitConnected,
    connects: stateRef.changes.pipe(
      Stream.filter(isConnected),
      Stream.changesWith((a, b) => a.info.connectCount === b.info.connectCount)
    ),
    setLbConf: (conf) => SubscriptionRef.set(desiredConf, lbConfWire(conf)),
    vipCounters: Ref.get(counters),
    vipCountersByKey: Ref.get(countersByKey),
    lbVips: Ref.get(lbVips),
    lbVipsAt: Effect.sync(() => listing.at),
    lbVipsChanged: Effect.sync(() => {
      listing.changes++
    }),
    offerLbVips: (connection, listed) =>
      Effect.gen(function*() {
        if (connection !== listing.connection) return
        listing.at = yield* Clock.currentTimeMillis
        listing.seen = listing.changes
        yield* Ref.set(lbVips, listed)
        yield* Ref.set(countersByKey, vipCountersByKeyOf(yield* Ref.get(counters), listed))
      })
  })
})

/** The supervisor as a scoped layer: closing it closes the connection and stops every fiber. */
export const layer = (options: VppSupervisorOptions): Layer.Layer<VppSupervisor> =>
  Layer.scoped(VppSupervisor, make(options))
