/**
 * The wire contract between maglevd-frontend (the server, src/frontend/) and
 * the browser app (web/): every document and event it sends, every request an
 * admin page may make, as Schemas. The browser imports this module (it only
 * needs `effect` and the `Api.ts` schemas it re-uses), so both sides decode and
 * encode the same shapes. See docs/dashboard.md.
 *
 *   GET  /view/api/state           StateDocument (read-only)
 *   GET  /view/api/events          text/event-stream (SSE; events below; no `log` events)
 *   GET  /admin/api/state          StateDocument with `admin: true`     (basic auth or bearer token)
 *   GET  /admin/api/events         SSE, `log` events included            (basic auth or bearer token)
 *   POST /admin/api/action         ActionRequest → ActionResponse       (basic auth or bearer token)
 *   GET  /healthz                  "ok\n" (200)
 *   GET  /view/…, /admin/…         the built app (web/dist/), index.html for any path without a file
 *
 * Every SSE `data:` is one line of JSON (the encoded side of the event's schema);
 * every event has an `id:` (`EventId`), so EventSource's automatic reconnect
 * sends `Last-Event-ID` and gets what it missed from the server's replay ring;
 * when it missed more than the ring holds (or the server restarted), it gets a
 * `resync` event and must fetch the state document again. `?since=<EventId>` on
 * the events URL does the same as `Last-Event-ID` (for the first connection
 * after fetching the state: pass the state's `eventId`). Two kinds of events
 * are live news only, without an `id:` and never replayed: `probe` and `api`
 * (the state document has where they stand now: `probing`, `api`).
 */
import { Schema } from "effect"
import { BackendInfo, FrontendEvent as ApiFrontendEvent, FrontendPanicEvent as ApiFrontendPanicEvent, FrontendCounters, ProbeEvent as ApiProbeEvent, FrontendInfo, HealthCheckInfo, LbOpInfo, LbState, LogEvent as ApiLogEvent, TransitionInfo, VersionInfo, VppInfo } from "../api/Api.js"

// --- Event ids ---------------------------------------------------------------------

/**
 * `<epoch>-<seq>`: the server's start (Unix ms) and a counter from 1. An id of
 * another epoch (the server restarted) cannot be resumed: `resync`.
 */
export const EventId = Schema.String.pipe(Schema.pattern(/^[0-9]+-[0-9]+$/))

// --- One maglevd ---------------------------------------------------------------------

/**
 * How the frontend server reaches one maglevd:
 * - `connecting`: never reached yet (first attempt in progress);
 * - `up`: the WatchEvents stream is open and the last refresh worked;
 * - `down`: unreachable (refused, timed out, stream ended); retried with backoff.
 */
export const Connection = Schema.Literal("connecting", "up", "down")
export type Connection = typeof Connection.Type

/** The VPP panel of one maglevd. */
export const VppPanel = Schema.Struct({
  /** maglevd answers GetVPPInfo (it is connected to VPP). */
  connected: Schema.Boolean,
  info: Schema.optional(VppInfo),
  /** Why not connected (maglevd's `Unavailable` reason, or the transport error). */
  reason: Schema.optional(Schema.String),
  /** VPP's lb state: VIPs with their ASes and `numBuckets` (bucket count per AS as VPP reports it). */
  lb: Schema.optional(LbState),
  /** Unix ms when `lb` was read (refreshed on transitions, at most once a second, and periodically). */
  lbAt: Schema.optional(Schema.Number),
  /** Per-VIP packet counters (they grow with traffic). */
  counters: Schema.optional(Schema.Array(FrontendCounters)),
  /** Unix ms when `info`/`counters` were read. */
  refreshedAt: Schema.optional(Schema.Number)
})
export interface VppPanel extends Schema.Schema.Type<typeof VppPanel> {}

/** A maglevd's binary-API messages to and from VPP since it started (WatchEvents' `VppApiEvent`). */
export const ApiCounts = Schema.Struct({
  /** Unix ms of the count. */
  at: Schema.Number,
  sent: Schema.Number,
  received: Schema.Number,
  /** Per message name, both directions (`lb_as_set_weight`, `lb_as_set_weight_reply`, `unknown`, …). */
  messages: Schema.Record({ key: Schema.String, value: Schema.Number })
})
export interface ApiCounts extends Schema.Schema.Type<typeof ApiCounts> {}

export const ServerState = Schema.Struct({
  /** Stable key of this maglevd for the page (tabs, events, actions): `host:port` of its URL. */
  id: Schema.String,
  /** The RPC URL as given to `--server`. */
  url: Schema.String,
  connection: Connection,
  /** Unix ms of the last change of `connection`. */
  since: Schema.Number,
  /** The last error while `down` (transport or RPC error text). */
  error: Schema.optional(Schema.String),
  /** From GetVersion, once reached. */
  version: Schema.optional(VersionInfo),
  /** The last known lists (kept while `down`, so the page can show them greyed out). */
  frontends: Schema.Array(FrontendInfo),
  backends: Schema.Array(BackendInfo),
  healthchecks: Schema.Array(HealthCheckInfo),
  vpp: VppPanel,
  /** Unix ms of the last successful refresh of the lists. */
  refreshedAt: Schema.optional(Schema.Number),
  /**
   * (State document only; `probe` events keep it current.) The probes in
   * flight now: backend and the Unix ms it was due (started, or starts).
   */
  probing: Schema.optional(Schema.Array(Schema.Struct({ backend: Schema.String, due: Schema.Number }))),
  /** (State document only; `api` events keep it current.) maglevd's binary-API message counts, once known. */
  api: Schema.optional(ApiCounts)
})
export interface ServerState extends Schema.Schema.Type<typeof ServerState> {}

// --- The fleet view ------------------------------------------------------------------

/** One maglevd's view of one VIP. */
export const FleetMember = Schema.Struct({
  server: Schema.String,
  /** The frontend (on that maglevd) with this VIP. */
  frontend: Schema.String,
  newFlowsTableLength: Schema.Int,
  /** The ASes with the weight maglevd wants VPP to have (the effective weight), sorted by address; weight-0 ones included. */
  ases: Schema.Array(Schema.Struct({ address: Schema.String, weight: Schema.Int })),
  /** Hex digest of the predicted Maglev new-flow table (src/lb/Maglev.ts) over `ases` and the table length (weight-0 ASes take no bucket: they do not change it). */
  fingerprint: Schema.String,
  /** The same digest over what VPP reports for the VIP (its ASes and weights), when the lb state is known. */
  vppFingerprint: Schema.optional(Schema.String)
})
export interface FleetMember extends Schema.Schema.Type<typeof FleetMember> {}

export const FleetVip = Schema.Struct({
  /** The VIP key as VPP keys it (`192.0.2.1/32 6 80`). */
  vip: Schema.String,
  /** Every connected maglevd that has the VIP, with the same `fingerprint`. */
  agree: Schema.Boolean,
  /** Connected maglevds (`up`) that do not have this VIP at all. */
  missing: Schema.Array(Schema.String),
  members: Schema.Array(FleetMember),
  /**
   * The servers whose fingerprint is not the majority's (ties: not the first
   * server's); empty when `agree`. A server missing the VIP is listed in `missing`, not here.
   */
  differing: Schema.Array(Schema.String)
})
export interface FleetVip extends Schema.Schema.Type<typeof FleetVip> {}

// --- The state document ----------------------------------------------------------------

export const StateDocument = Schema.Struct({
  /** Unix ms. */
  generatedAt: Schema.Number,
  /** The id of the last event already folded into this document (use as `?since=`). */
  eventId: EventId,
  /** Served under /admin/ (actions allowed). */
  admin: Schema.Boolean,
  /** In `--server` order. */
  servers: Schema.Array(ServerState),
  /** One entry per VIP of any connected maglevd, sorted by VIP key. */
  fleet: Schema.Array(FleetVip)
})
export interface StateDocument extends Schema.Schema.Type<typeof StateDocument> {}

// --- SSE events (the `event:` name → its `data:`) ----------------------------------------

/** `event: server` — one maglevd's whole state replaced (connect, disconnect, a refresh that changed something). */
export const ServerEventData = ServerState

/** `event: backend` — a backend transition on one maglevd (from its WatchEvents). */
export const BackendEventData = Schema.Struct({
  server: Schema.String,
  transition: TransitionInfo,
  backend: BackendInfo
})

/** `event: frontend` — a frontend changed on one maglevd: its state, active pool, or anything else (weights, buckets). */
export const FrontendEventData = Schema.Struct({
  server: Schema.String,
  ...ApiFrontendEvent.fields
}).pipe(Schema.omit("_tag"))

/**
 * `event: panic` — a frontend of one maglevd went into panic (min-healthy:
 * `panic: true`, it keeps its last good weights) or out of it (`panic: false`,
 * with `reason` and `durationMs`), as maglevd's LB sync decided it (its
 * WatchEvents' `FrontendPanicEvent`). The frontend's state (`panic`) comes in
 * `frontend` events of its own.
 */
export const PanicEventData = Schema.Struct({
  server: Schema.String,
  ...ApiFrontendPanicEvent.fields
}).pipe(Schema.omit("_tag"))

/** `event: vpp` — one maglevd's VPP panel replaced (lb state after transitions, info/counters refresh). */
export const VppEventData = Schema.Struct({ server: Schema.String, vpp: VppPanel })

/** `event: fleet` — the whole fleet view replaced (sent when it changes). */
export const FleetEventData = Schema.Struct({ fleet: Schema.Array(FleetVip) })

/** `event: log` — (admin streams only) a log record of one maglevd, info level and above. */
export const LogEventData = Schema.Struct({
  server: Schema.String,
  ...ApiLogEvent.fields
}).pipe(Schema.omit("_tag"))

/**
 * `event: probe` — (live only, no `id:`) probes of one maglevd that started or
 * ended, at most four batches a second per maglevd, one entry per backend:
 * `due` without `ended`: in flight from `due` on; `ended`: done.
 */
export const ProbeEventData = Schema.Struct({
  server: Schema.String,
  ...ApiProbeEvent.fields
}).pipe(Schema.omit("_tag"))

/** `event: api` — (live only, no `id:`) one maglevd's binary-API message counts moved; at most four a second per maglevd. */
export const ApiEventData = Schema.Struct({ server: Schema.String, api: ApiCounts })

/** `event: resync` — what was missed cannot be replayed: fetch the state document again. */
export const ResyncEventData = Schema.Struct({
  reason: Schema.Literal("too-old", "other-epoch", "overflow")
})

/** The SSE `event:` names and their data schemas. Keep-alives are SSE comments (`: keep-alive`), every 15 s. */
export const SSE_EVENTS = {
  server: ServerEventData,
  backend: BackendEventData,
  frontend: FrontendEventData,
  panic: PanicEventData,
  vpp: VppEventData,
  fleet: FleetEventData,
  log: LogEventData,
  resync: ResyncEventData,
  probe: ProbeEventData,
  api: ApiEventData
} as const

/** The events without an id: live news, never replayed. */
export const LIVE_ONLY: ReadonlySet<SseEventName> = new Set(["probe", "api", "resync"])
export type SseEventName = keyof typeof SSE_EVENTS

/** Any event, tagged by its SSE name, as the server's ring holds it. */
export type SseEvent = {
  readonly [K in SseEventName]: { readonly event: K; readonly data: Schema.Schema.Type<(typeof SSE_EVENTS)[K]> }
}[SseEventName]

export const KEEP_ALIVE_MS = 15_000

// --- Admin actions ---------------------------------------------------------------------

export const ACTIONS = ["pause", "resume", "enable", "disable", "set-weight"] as const
export const ActionName = Schema.Literal(...ACTIONS)
export type ActionName = typeof ActionName.Type

/**
 * `POST /admin/api/action`, JSON. First with `dryRun: true` (the page shows the
 * plan), then the same with `dryRun: false` once the operator confirms.
 * `set-weight` needs `frontend`, `pool`, `weight` (0..100) and may set `flush`
 * (with weight 0: also drop the AS's sessions).
 */
export const ActionRequest = Schema.Struct({
  /** `ServerState.id`. */
  server: Schema.String,
  action: ActionName,
  backend: Schema.String,
  frontend: Schema.optional(Schema.String),
  pool: Schema.optional(Schema.String),
  weight: Schema.optional(Schema.Int.pipe(Schema.between(0, 100))),
  flush: Schema.optional(Schema.Boolean),
  dryRun: Schema.Boolean
})
export interface ActionRequest extends Schema.Schema.Type<typeof ActionRequest> {}

/** One VIP's new-flow split before and after the action (predicted buckets per AS). */
export const PlanVip = Schema.Struct({
  frontend: Schema.String,
  vip: Schema.String,
  activePoolBefore: Schema.optional(Schema.String),
  activePoolAfter: Schema.optional(Schema.String),
  ases: Schema.Array(Schema.Struct({
    address: Schema.String,
    backend: Schema.String,
    weightBefore: Schema.Int,
    weightAfter: Schema.Int,
    bucketsBefore: Schema.Int,
    bucketsAfter: Schema.Int
  }))
})
export interface PlanVip extends Schema.Schema.Type<typeof PlanVip> {}

/**
 * 200 answer. Dry run: `applied: false` and the plan — the VPP lb operations
 * the action will cause (`ops`, the same shape maglevc's `sync --dry-run`
 * prints) and the affected VIPs' bucket split. Applied: `applied: true`, the
 * same plan as it was predicted, and the backend/frontend as maglevd returned them.
 */
export const ActionResponse = Schema.Struct({
  server: Schema.String,
  action: ActionName,
  backend: Schema.String,
  applied: Schema.Boolean,
  ops: Schema.Array(LbOpInfo),
  vips: Schema.Array(PlanVip),
  /** A human summary, e.g. `pause web1 on lb1: 2 VPP operations`. */
  summary: Schema.String,
  /** After an applied pause/resume/enable/disable. */
  backendAfter: Schema.optional(BackendInfo),
  /** After an applied set-weight. */
  frontendAfter: Schema.optional(FrontendInfo)
})
export interface ActionResponse extends Schema.Schema.Type<typeof ActionResponse> {}

/**
 * Non-200 answers of every /api/ endpoint: 400 (bad request: does not decode,
 * unknown server/backend, action does not apply), 401 (no or wrong credentials;
 * with `WWW-Authenticate: Basic`), 403 (admin disabled: no credentials
 * configured; or an action with another site's `Origin`), 409 (maglevd said
 * Conflict), 415 (an action whose Content-Type is not application/json),
 * 502 (maglevd unreachable or failed).
 */
export const ErrorBody = Schema.Struct({
  error: Schema.String,
  /** maglevd's error tag when it answered one (`NotFound`, `Conflict`, …). */
  tag: Schema.optional(Schema.String)
})
export interface ErrorBody extends Schema.Schema.Type<typeof ErrorBody> {}
