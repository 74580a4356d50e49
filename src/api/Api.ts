/**
 * The daemon's RPC API: one `RpcGroup` shared by maglevd (Server.ts), maglevc
 * and the dashboard (Client.ts). Every payload, success and error is a Schema,
 * so what crosses the wire is decoded once at the edge on both sides.
 *
 * Errors are `Schema.TaggedError`s: `NotFound`, `Unavailable` (VPP disabled or
 * disconnected), `InvalidArgument` (including a payload that does not decode:
 * every RPC can fail with it), `Conflict`, and `Unauthorized` from the
 * `Authorization` middleware when the server has a token. Mutating RPCs carry
 * the `Mutating` annotation; the server asks for the token on those (and, with
 * `readonlyToo`, on every RPC). See docs/api.md.
 */
import { Rpc, RpcGroup, RpcMiddleware } from "@effect/rpc"
import { Context, Option, Schema } from "effect"
import { ConfigIssue } from "../config/Issue.js"
import { STATUSES } from "../health/HealthState.js"
import { PROBE_CODES } from "../health/ProbeResult.js"

// --- Errors ------------------------------------------------------------------------

export const NOT_FOUND_KINDS = ["frontend", "backend", "healthcheck", "pool", "pool-member"] as const

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  kind: Schema.Literal(...NOT_FOUND_KINDS),
  /** The name asked for; for a pool `frontend/pool`, for a pool member `frontend/pool/backend`. */
  name: Schema.String
}) {
  override get message(): string {
    return `${this.kind} "${this.name}" is not defined`
  }
}

/** VPP integration is disabled, or there is no connection to VPP now. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", { reason: Schema.String }) {
  override get message(): string {
    return `VPP is not available: ${this.reason}`
  }
}

/** The request is malformed: a payload that does not decode, a value out of range, options that do not go together. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", { reason: Schema.String }) {
  override get message(): string {
    return `invalid argument: ${this.reason}`
  }
}

/** The action does not apply in the current state (pausing a disabled backend; VPP refused a sync's operation). */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** The server wants `Authorization: Bearer <token>` for this RPC and did not get it. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { reason: Schema.String }) {
  override get message(): string {
    return `unauthorized: ${this.reason}`
  }
}

/** The server has as much of something as it takes (open `WatchEvents` streams): try again later. */
export class Busy extends Schema.TaggedError<Busy>()("Busy", { reason: Schema.String }) {
  override get message(): string {
    return `maglevd is busy: ${this.reason}`
  }
}

export type ApiError = NotFound | Unavailable | InvalidArgument | Conflict | Unauthorized | Busy

// --- Auth --------------------------------------------------------------------------

/** Checks the bearer token (implemented by Server.ts; a no-op when the server has no token). */
export class Authorization extends RpcMiddleware.Tag<Authorization>()("vpp-maglev/api/Authorization", {
  failure: Unauthorized
}) {}

/**
 * Annotates the RPCs that can change something (or, like a debug-level watch
 * or a check of any file, show what only the operator should see), with a
 * predicate on the (decoded) payload: with a token configured, those calls
 * require it.
 */
export class Mutating extends Context.Tag("vpp-maglev/api/Mutating")<Mutating, (payload: any) => boolean>() {}

const always = () => true

/** Whether this call needs the token whenever the server has one. */
export const isMutating = (rpc: { readonly annotations: Context.Context<never> }, payload: unknown): boolean =>
  Option.match(Context.getOption(rpc.annotations, Mutating), { onNone: () => false, onSome: (f) => f(payload) })

// --- Health ------------------------------------------------------------------------

export const HealthStatus = Schema.Literal(...STATUSES)
export type HealthStatus = typeof HealthStatus.Type

export const ProbeResultInfo = Schema.Struct({
  ok: Schema.Boolean,
  code: Schema.Literal(...PROBE_CODES),
  durationMs: Schema.Number,
  detail: Schema.String
})
export interface ProbeResultInfo extends Schema.Schema.Type<typeof ProbeResultInfo> {}

export const TransitionInfo = Schema.Struct({
  /** Unix milliseconds. */
  at: Schema.Number,
  from: HealthStatus,
  to: HealthStatus,
  cause: Schema.Literal("probe", "pause", "resume", "enable", "disable", "reload", "removed"),
  /** The probe result that caused it (cause `probe`). */
  result: Schema.optional(ProbeResultInfo)
})
export interface TransitionInfo extends Schema.Schema.Type<typeof TransitionInfo> {}

/** One pool a backend is a member of. */
export const MembershipInfo = Schema.Struct({
  frontend: Schema.String,
  pool: Schema.String,
  /** The configured weight (with a runtime override, if any). */
  weight: Schema.Int,
  /** The weight VPP should have for the AS through this pool now: the weight in the active pool, else 0. */
  effectiveWeight: Schema.Int,
  /** While a slow start ramps `effectiveWeight` up: Unix ms it reaches `weight`. */
  slowStartUntil: Schema.optional(Schema.Number),
  /** This pool is the frontend's active pool. */
  active: Schema.Boolean
})
export interface MembershipInfo extends Schema.Schema.Type<typeof MembershipInfo> {}

export const BackendInfo = Schema.Struct({
  name: Schema.String,
  address: Schema.String,
  healthcheck: Schema.String,
  /** Not disabled (by the operator or the file). */
  enabled: Schema.Boolean,
  state: HealthStatus,
  /** The HAProxy counter, 0..rise+fall-1; up while >= rise. */
  counter: Schema.Int,
  rise: Schema.Int,
  fall: Schema.Int,
  lastResult: Schema.optional(ProbeResultInfo),
  /** Unix milliseconds of the last probe result. */
  lastProbeAt: Schema.optional(Schema.Number),
  /** The last `transition-history` transitions, oldest first. */
  transitions: Schema.Array(TransitionInfo),
  /** While a slow start is in progress (in any of its pools): Unix ms it began (the transition that brought the backend up). */
  slowStartedAt: Schema.optional(Schema.Number),
  /** Every frontend pool listing the backend, in config order (none for a removed backend). */
  memberships: Schema.Array(MembershipInfo)
})
export interface BackendInfo extends Schema.Schema.Type<typeof BackendInfo> {}

// --- Frontends -----------------------------------------------------------------------

/**
 * `up`: some backend of the active pool is up with weight > 0; `down`: none
 * serves; `unknown`: no backend decided yet; `panic`: fewer backends up than
 * `min-healthy`, and maglevd keeps the last good weights (see `panic`), so the
 * frontend serves on backends its health checks may call down.
 */
export const FrontendState = Schema.Literal("up", "down", "unknown", "panic")
export type FrontendState = typeof FrontendState.Type

export const PoolBackendInfo = Schema.Struct({
  backend: Schema.String,
  address: Schema.String,
  state: HealthStatus,
  /** The configured weight, 0..100 (with a runtime override, if any). */
  weight: Schema.Int,
  /** The file's weight, present only while a runtime override replaces it. */
  fileWeight: Schema.optional(Schema.Int),
  /** What VPP should have (Desired.ts): the weight in the active pool for an up backend, else 0; a slow start's step while it ramps. */
  effectiveWeight: Schema.Int,
  /** While a slow start ramps `effectiveWeight` up: Unix ms it reaches `weight`. */
  slowStartUntil: Schema.optional(Schema.Number),
  /** Predicted Maglev buckets once VPP matches (0 on rows that are not the effective one). */
  buckets: Schema.Int,
  /** Unix milliseconds of the backend's last transition, when it is still in the history. */
  since: Schema.optional(Schema.Number)
})
export interface PoolBackendInfo extends Schema.Schema.Type<typeof PoolBackendInfo> {}

export const PoolInfo = Schema.Struct({
  name: Schema.String,
  /** The pool's `slow-start` as the file writes it (it overrides its members' health checks'); absent when it has none. */
  slowStart: Schema.optional(Schema.String),
  active: Schema.Boolean,
  backends: Schema.Array(PoolBackendInfo)
})
export interface PoolInfo extends Schema.Schema.Type<typeof PoolInfo> {}

/** A frontend in panic (min-healthy, docs/config-guide.md): its active pool has fewer backends up than the threshold. */
export const PanicInfo = Schema.Struct({
  /** The pool judged: the active one, or (no pool having an up backend) the kept one. */
  pool: Schema.String,
  /** Its backends with weight > 0 that are up. */
  up: Schema.Int,
  threshold: Schema.Int,
  /** The pool whose last good weights are kept. */
  keptPool: Schema.String,
  /** The backends of the last good set (of `keptPool`): they keep their weight unless paused or disabled. */
  kept: Schema.optional(Schema.Array(Schema.String)),
  /** Unix milliseconds the panic began. */
  since: Schema.Number
})
export interface PanicInfo extends Schema.Schema.Type<typeof PanicInfo> {}

export const FrontendInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  /** Canonical prefix, e.g. `192.0.2.1/32`. */
  address: Schema.String,
  protocol: Schema.Literal("tcp", "udp", "any"),
  port: Schema.Int,
  /** The VIP key as VPP keys it (`192.0.2.1/32 6 80`). */
  vip: Schema.String,
  srcIpSticky: Schema.Boolean,
  flushOnDown: Schema.Boolean,
  newFlowsTableLength: Schema.Int,
  /** `min-healthy` as the file writes it (`2`, `50%`); absent when the guard is off. */
  minHealthy: Schema.optional(Schema.String),
  /** Present while the frontend is in panic: the last good weights are kept (`effectiveWeight`). */
  panic: Schema.optional(PanicInfo),
  state: FrontendState,
  activePool: Schema.optional(Schema.String),
  pools: Schema.Array(PoolInfo)
})
export interface FrontendInfo extends Schema.Schema.Type<typeof FrontendInfo> {}

// --- Health checks ---------------------------------------------------------------------

export const HealthCheckInfo = Schema.Struct({
  name: Schema.String,
  type: Schema.Literal("http", "https", "tcp", "icmp"),
  port: Schema.optional(Schema.Int),
  /** Durations as the file writes them (`1m30s`). */
  interval: Schema.String,
  fastInterval: Schema.String,
  downInterval: Schema.String,
  timeout: Schema.String,
  rise: Schema.Int,
  fall: Schema.Int,
  probeIpv4Src: Schema.optional(Schema.String),
  probeIpv6Src: Schema.optional(Schema.String),
  /** `slow-start` as the file writes it; absent when none. */
  slowStart: Schema.optional(Schema.String),
  http: Schema.optional(Schema.Struct({
    method: Schema.Literal("GET", "HEAD"),
    path: Schema.String,
    host: Schema.optional(Schema.String),
    headers: Schema.Array(Schema.Tuple(Schema.String, Schema.String)),
    expectedCodes: Schema.Array(Schema.Struct({ from: Schema.Int, to: Schema.Int })),
    responseRegex: Schema.optional(Schema.String),
    serverName: Schema.optional(Schema.String),
    insecure: Schema.Boolean,
    caFile: Schema.optional(Schema.String)
  })),
  tcp: Schema.optional(Schema.Struct({
    send: Schema.optional(Schema.String),
    expect: Schema.optional(Schema.String),
    tls: Schema.Boolean,
    serverName: Schema.optional(Schema.String),
    insecure: Schema.Boolean
  })),
  /** Backends using it, in config order. */
  backends: Schema.Array(Schema.String)
})
export interface HealthCheckInfo extends Schema.Schema.Type<typeof HealthCheckInfo> {}

// --- Configuration ---------------------------------------------------------------------

/** `CheckResult` (src/config/Issue.ts) on the wire: the configuration itself stays home. */
export const CheckResultInfo = Schema.Union(
  Schema.TaggedStruct("Valid", {
    warnings: Schema.Array(ConfigIssue),
    frontends: Schema.Int,
    backends: Schema.Int,
    healthchecks: Schema.Int
  }),
  /** YAML syntax, shape or kinds; also a file that cannot be read (one issue with path ""). */
  Schema.TaggedStruct("ParseError", { errors: Schema.Array(ConfigIssue) }),
  Schema.TaggedStruct("SemanticError", { errors: Schema.Array(ConfigIssue), warnings: Schema.Array(ConfigIssue) })
)
export type CheckResultInfo = typeof CheckResultInfo.Type

export const ConfigCheck = Schema.Struct({
  /** The file that was checked. */
  file: Schema.String,
  result: CheckResultInfo
})
export interface ConfigCheck extends Schema.Schema.Type<typeof ConfigCheck> {}

// --- VPP -----------------------------------------------------------------------------

export const VppInfo = Schema.Struct({
  version: Schema.String,
  buildDate: Schema.String,
  pid: Schema.Int,
  /** Unix milliseconds (whole seconds, from the stats segment). */
  bootTime: Schema.Number,
  /** Unix milliseconds. */
  connectedAt: Schema.Number,
  /** 1 for the first connection, +1 on every reconnect. */
  connectCount: Schema.Int
})
export interface VppInfo extends Schema.Schema.Type<typeof VppInfo> {}

export const LbConfInfo = Schema.Struct({
  ip4SrcAddress: Schema.String,
  ip6SrcAddress: Schema.String,
  stickyBucketsPerCore: Schema.Int,
  flowTimeout: Schema.Int
})

export const LbAsState = Schema.Struct({
  address: Schema.String,
  weight: Schema.Int,
  /** false: lameduck (deleted, draining until garbage collection). */
  active: Schema.Boolean,
  numBuckets: Schema.optional(Schema.Int),
  /** The configured backend with this address, if any. */
  backend: Schema.optional(Schema.String)
})

export const LbVipState = Schema.Struct({
  vip: Schema.String,
  prefix: Schema.String,
  protocol: Schema.Int,
  port: Schema.Int,
  encap: Schema.String,
  /** From `show lb vips verbose`; absent when it could not be read. */
  srcIpSticky: Schema.optional(Schema.Boolean),
  /** As `lb_vip_details` reports it: modulo 65536. */
  newFlowsTableLength: Schema.optional(Schema.Int),
  /** The configured frontend with this VIP key, if any. */
  frontend: Schema.optional(Schema.String),
  ases: Schema.Array(LbAsState)
})

export const LbState = Schema.Struct({ conf: LbConfInfo, vips: Schema.Array(LbVipState) })
export interface LbState extends Schema.Schema.Type<typeof LbState> {}

/** One LB operation (`Diff.LbOp`) as its log line names it (`describeOp`). */
export const LbOpInfo = Schema.Struct({
  op: Schema.Literal("VipAdd", "VipDel", "AsAdd", "AsDel", "AsWeight"),
  event: Schema.String,
  vip: Schema.String,
  address: Schema.optional(Schema.String),
  weight: Schema.optional(Schema.Int),
  flush: Schema.optional(Schema.Boolean),
  frontend: Schema.optional(Schema.String),
  backend: Schema.optional(Schema.String)
})
export interface LbOpInfo extends Schema.Schema.Type<typeof LbOpInfo> {}

export const SyncReportInfo = Schema.Struct({
  /** false for a dry run: the plan only. */
  applied: Schema.Boolean,
  /** `full`, or the VIP keys synced. */
  scope: Schema.Union(Schema.Literal("full"), Schema.Array(Schema.String)),
  ops: Schema.Array(LbOpInfo)
})
export interface SyncReportInfo extends Schema.Schema.Type<typeof SyncReportInfo> {}

/** The lb plugin's four per-VIP counters, summed over threads (bigints, as decimal strings on the wire). */
export const FrontendCounters = Schema.Struct({
  frontend: Schema.String,
  vip: Schema.String,
  nextPacket: Schema.BigInt,
  firstPacket: Schema.BigInt,
  untrackedPacket: Schema.BigInt,
  noServer: Schema.BigInt,
  /**
   * The VIP's ASes with their `flows:` from the supervisor's last `show lb
   * vips verbose` (src/lb/AsFlows.ts: the plugin's `as_refcount`, established
   * flows pinned to each AS, summed over threads), lameduck ones included;
   * absent while that listing is missing or lacks the VIP.
   */
  ases: Schema.optional(Schema.Array(Schema.Struct({
    address: Schema.String,
    /** The configured backend with this address, if any. */
    backend: Schema.optional(Schema.String),
    flows: Schema.Int,
    /** false: lameduck (deleted, draining until garbage collection). */
    active: Schema.Boolean
  })))
})
export interface FrontendCounters extends Schema.Schema.Type<typeof FrontendCounters> {}

/** Where a new flow to a frontend's VIP would go (Flow.ts): the desired state through the lb plugin's flow hash and Maglev table. */
export const FlowInfo = Schema.Struct({
  frontend: Schema.String,
  /** The VIP key (`192.0.2.1/32 6 80`). */
  vip: Schema.String,
  src: Schema.String,
  /** Absent when not given (see `spread`). */
  srcPort: Schema.optional(Schema.Int),
  dst: Schema.String,
  dstPort: Schema.Int,
  protocol: Schema.Int,
  srcIpSticky: Schema.Boolean,
  /** The ports are part of the hash (TCP or UDP, not src-ip-sticky). */
  portsHashed: Schema.Boolean,
  newFlowsTableLength: Schema.Int,
  /** `lb_node_get_hash`; absent when the ports are hashed and no source port was given. */
  hash: Schema.optional(Schema.Int),
  /** `hash & (newFlowsTableLength - 1)`. */
  bucket: Schema.optional(Schema.Int),
  /** The backend of that bucket; absent when it points at VPP's drop AS (no backend has weight > 0). */
  backend: Schema.optional(Schema.String),
  address: Schema.optional(Schema.String),
  activePool: Schema.optional(Schema.String),
  /** Without a source port on a VIP that hashes ports: each backend's share of source ports 1024..65535. */
  spread: Schema.optional(Schema.Array(Schema.Struct({ backend: Schema.String, address: Schema.String, ports: Schema.Int, share: Schema.Number })))
})
export interface FlowInfo extends Schema.Schema.Type<typeof FlowInfo> {}

export const FlowRequest = Schema.Struct({
  /** The frontend. */
  name: Schema.String,
  /** The client's address (IPv4 or IPv6, the VIP's family). */
  src: Schema.String,
  srcPort: Schema.optional(Schema.Int.pipe(Schema.between(0, 65535))),
  /** IP protocol number; default the frontend's (6 for `any`). */
  protocol: Schema.optional(Schema.Int.pipe(Schema.between(0, 255))),
  /** Default the VIP's port (give it for an all-port VIP). */
  dstPort: Schema.optional(Schema.Int.pipe(Schema.between(0, 65535)))
})
export interface FlowRequest extends Schema.Schema.Type<typeof FlowRequest> {}

// --- The daemon ----------------------------------------------------------------------

export const VersionInfo = Schema.Struct({
  version: Schema.String,
  commit: Schema.String,
  /** The commit's date. */
  date: Schema.String,
  /** Unix milliseconds when the daemon started. */
  startedAt: Schema.Number,
  /** The configuration file it runs. */
  configFile: Schema.String
})
export interface VersionInfo extends Schema.Schema.Type<typeof VersionInfo> {}

// --- Events --------------------------------------------------------------------------

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const
export const WatchLogLevel = Schema.Literal(...LOG_LEVELS)
export type WatchLogLevel = typeof WatchLogLevel.Type

export const Hydrate = Schema.TaggedStruct("Hydrate", {
  /** Every backend (when backend events are watched, else empty). */
  backends: Schema.Array(BackendInfo),
  /** Every frontend (when frontend events are watched, else empty). */
  frontends: Schema.Array(FrontendInfo)
})

export const BackendEvent = Schema.TaggedStruct("BackendEvent", {
  transition: TransitionInfo,
  /** The backend right after the transition. */
  backend: BackendInfo
})

export const FrontendEvent = Schema.TaggedStruct("FrontendEvent", {
  frontend: Schema.String,
  from: FrontendState,
  to: FrontendState,
  activePoolFrom: Schema.optional(Schema.String),
  activePool: Schema.optional(Schema.String),
  /** The frontend after the change. */
  info: FrontendInfo
})

/**
 * A frontend's panic (min-healthy) began (`panic: true`; maglevd logs
 * `frontend-panic`) or ended (`panic: false`; `frontend-panic-end`), as the LB
 * sync decided it. Sent with frontend events (`frontend`, default on). The
 * frontend's state goes to or from `panic` in a FrontendEvent of its own,
 * which may come just before this one (a watcher computes the state from
 * the health it sees) or just after.
 */
export const FrontendPanicEvent = Schema.TaggedStruct("FrontendPanicEvent", {
  /** Unix milliseconds. */
  at: Schema.Number,
  frontend: Schema.String,
  /** true: the panic began; false: it ended. */
  panic: Schema.Boolean,
  /** The pool judged (the active one, or the kept one while no pool has an up backend), its up backends with weight > 0 and its threshold. */
  pool: Schema.String,
  up: Schema.Int,
  threshold: Schema.Int,
  /** (Start) `min-healthy` as the file writes it. */
  minHealthy: Schema.optional(Schema.String),
  /** (Start) the pool whose last good weights are kept. */
  keptPool: Schema.optional(Schema.String),
  /** Unix milliseconds the panic began. */
  since: Schema.Number,
  /** (End) `healthy`: the active pool meets its threshold again; `reload`: min-healthy turned off or the pools changed; `nothing-kept`: every kept backend is paused or disabled. */
  reason: Schema.optional(Schema.Literal("healthy", "reload", "nothing-kept")),
  /** (End) how long it lasted. */
  durationMs: Schema.optional(Schema.Number)
})
export type FrontendPanicEvent = typeof FrontendPanicEvent.Type

export const LogEvent = Schema.TaggedStruct("LogEvent", {
  /** Unix milliseconds. */
  at: Schema.Number,
  level: Schema.Literal("trace", "debug", "info", "warn", "error", "fatal"),
  message: Schema.String,
  /** The record's annotations (`event`, `backend`, ...), as JSON values. */
  annotations: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  cause: Schema.optional(Schema.String)
})
export type LogEvent = typeof LogEvent.Type

/**
 * Sent every `HEARTBEAT_INTERVAL_MS` on every watch: it keeps an idle stream
 * alive through HTTP clients' body timeouts and proxies, and lets a client
 * tell a quiet daemon from a silent (gone) one.
 */
export const Heartbeat = Schema.TaggedStruct("Heartbeat", {
  /** Unix milliseconds. */
  at: Schema.Number
})

export const HEARTBEAT_INTERVAL_MS = 15_000

/**
 * The last message of a watch whose reader fell too far behind: the server
 * kept `limitBytes` of events for it at most, threw away what it held
 * (`queuedBytes`) and ended the stream. Watch again to get a fresh `Hydrate`.
 */
export const Overflow = Schema.TaggedStruct("Overflow", {
  /** Unix milliseconds. */
  at: Schema.Number,
  queuedBytes: Schema.Number,
  limitBytes: Schema.Number
})

/**
 * (Asked for with `probes`.) The probes of the last `ACTIVITY_INTERVAL_MS`,
 * one entry per backend with its latest news: `due` when a probe was handed to
 * the prober (it starts at that time, or a little later when maglevd is
 * late), `ended` when it ended (a result, a round skipped, or the rounds
 * stopped). Both: a probe that started and ended within the batch. Only
 * `due`: in flight now. Only `ended`: the probe in flight ended.
 */
export const ProbeEvent = Schema.TaggedStruct("ProbeEvent", {
  /** Unix milliseconds. */
  at: Schema.Number,
  probes: Schema.Array(Schema.Struct({
    backend: Schema.String,
    /** Unix ms the probe is due (starts). */
    due: Schema.optional(Schema.Number),
    /** Unix ms it ended. */
    ended: Schema.optional(Schema.Number)
  }))
})
export type ProbeEvent = typeof ProbeEvent.Type

/**
 * (Asked for with `vppApi`.) The binary-API messages maglevd sent to VPP and
 * received from it since it started, over all its connections: sent when the
 * counts moved, at most every `ACTIVITY_INTERVAL_MS` (the first one at once).
 */
export const VppApiEvent = Schema.TaggedStruct("VppApiEvent", {
  /** Unix milliseconds. */
  at: Schema.Number,
  sent: Schema.Number,
  received: Schema.Number,
  /** Per message name (`lb_as_set_weight`, `lb_as_set_weight_reply`, …), both directions: the names whose count changed since this watch's last VppApiEvent (every name in the first). */
  messages: Schema.Record({ key: Schema.String, value: Schema.Number })
})
export type VppApiEvent = typeof VppApiEvent.Type

/** How often a watch sends its batched ProbeEvent and its VppApiEvent (when there is news). */
export const ACTIVITY_INTERVAL_MS = 250

export const WatchEvent = Schema.Union(Hydrate, BackendEvent, FrontendEvent, FrontendPanicEvent, LogEvent, Heartbeat, Overflow, ProbeEvent, VppApiEvent)
export type WatchEvent = typeof WatchEvent.Type

// --- The group -------------------------------------------------------------------------

/** Where the server serves the group (POST, NDJSON). */
export const DEFAULT_PATH = "/rpc"

const named = { name: Schema.String }

const SetWeight = Schema.Struct({
  frontend: Schema.String,
  pool: Schema.String,
  backend: Schema.String,
  weight: Schema.Int.pipe(Schema.between(0, 100)),
  /** With weight 0: also flush the AS's sessions in VPP. */
  flush: Schema.optional(Schema.Boolean)
})

export class MaglevApi extends RpcGroup.make(
  Rpc.make("GetVersion", { success: VersionInfo, error: InvalidArgument }),
  Rpc.make("ListFrontends", { success: Schema.Array(FrontendInfo), error: InvalidArgument }),
  Rpc.make("GetFrontend", { payload: named, success: FrontendInfo, error: Schema.Union(NotFound, InvalidArgument) }),
  Rpc.make("GetFrontendFlow", { payload: FlowRequest, success: FlowInfo, error: Schema.Union(NotFound, InvalidArgument) }),
  Rpc.make("ListBackends", { success: Schema.Array(BackendInfo), error: InvalidArgument }),
  Rpc.make("GetBackend", { payload: named, success: BackendInfo, error: Schema.Union(NotFound, InvalidArgument) }),
  Rpc.make("ListHealthChecks", { success: Schema.Array(HealthCheckInfo), error: InvalidArgument }),
  Rpc.make("GetHealthCheck", { payload: named, success: HealthCheckInfo, error: Schema.Union(NotFound, InvalidArgument) }),
  Rpc.make("PauseBackend", { payload: named, success: BackendInfo, error: Schema.Union(NotFound, Conflict, InvalidArgument) })
    .annotate(Mutating, always),
  Rpc.make("ResumeBackend", { payload: named, success: BackendInfo, error: Schema.Union(NotFound, Conflict, InvalidArgument) })
    .annotate(Mutating, always),
  Rpc.make("EnableBackend", { payload: named, success: BackendInfo, error: Schema.Union(NotFound, Conflict, InvalidArgument) })
    .annotate(Mutating, always),
  Rpc.make("DisableBackend", { payload: named, success: BackendInfo, error: Schema.Union(NotFound, Conflict, InvalidArgument) })
    .annotate(Mutating, always),
  Rpc.make("SetFrontendPoolBackendWeight", { payload: SetWeight, success: FrontendInfo, error: Schema.Union(NotFound, InvalidArgument) })
    .annotate(Mutating, always),
  Rpc.make("CheckConfig", {
    payload: { path: Schema.optional(Schema.String) },
    success: ConfigCheck,
    error: InvalidArgument
    // An explicit path makes the daemon read a file of the caller's choosing and quote from it.
  }).annotate(Mutating, (p: { readonly path?: string | undefined }) => p.path !== undefined),
  Rpc.make("ReloadConfig", { success: ConfigCheck, error: InvalidArgument }).annotate(Mutating, always),
  Rpc.make("GetVPPInfo", { success: VppInfo, error: Schema.Union(Unavailable, InvalidArgument) }),
  Rpc.make("GetVPPLBState", { success: LbState, error: Schema.Union(Unavailable, InvalidArgument) }),
  Rpc.make("SyncVPPLBState", {
    payload: { frontend: Schema.optional(Schema.String), dryRun: Schema.optional(Schema.Boolean) },
    success: SyncReportInfo,
    error: Schema.Union(Unavailable, NotFound, Conflict, InvalidArgument)
  }).annotate(Mutating, (p: { readonly dryRun?: boolean | undefined }) => p.dryRun !== true),
  Rpc.make("GetVPPLBCounters", { success: Schema.Array(FrontendCounters), error: Schema.Union(Unavailable, InvalidArgument) }),
  Rpc.make("WatchEvents", {
    payload: {
      /** Also stream log records at this level or above (none when absent). */
      logLevel: Schema.optional(WatchLogLevel),
      /** Backend transitions; default true. */
      backend: Schema.optional(Schema.Boolean),
      /** Frontend state and active-pool changes, and panic starts and ends (`FrontendPanicEvent`); default true. */
      frontend: Schema.optional(Schema.Boolean),
      /** With `frontend`: a FrontendEvent for any change of the frontend (a weight override, buckets, a backend's state), not only of its state or active pool; default false. */
      frontendDetail: Schema.optional(Schema.Boolean),
      /** Probes starting and ending, batched (`ProbeEvent`); default false. */
      probes: Schema.optional(Schema.Boolean),
      /** Binary-API message counts (`VppApiEvent`); default false. */
      vppApi: Schema.optional(Schema.Boolean)
    },
    success: WatchEvent,
    // Busy: the server has as many watchers as it takes (`maxWatchers`).
    error: Schema.Union(Busy, InvalidArgument),
    stream: true
    // Debug records show every binary-API message: with a token, only its holder gets them.
  }).annotate(Mutating, (p: { readonly logLevel?: string | undefined }) => p.logLevel === "debug")
).middleware(Authorization) {}

export type MaglevRpcs = RpcGroup.Rpcs<typeof MaglevApi>
