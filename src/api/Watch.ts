/**
 * The `WatchEvents` stream: first a `Hydrate` with the current state, then
 * backend transitions, frontend changes, panic starts and ends (min-healthy,
 * as the LB sync decides them: a `FrontendPanicEvent`, then the frontend is
 * looked at again) and (when asked for) log records, and a `Heartbeat` every
 * 15 seconds whatever else happens.
 *
 * The subscriptions are taken before the snapshot that hydrates, so nothing
 * that happens in between is lost. A frontend's state and active pool are
 * computed (Desired.ts) after every transition of one of its backends and
 * after every change of the running configuration (a reload, a weight
 * override), and compared with what this watcher last saw: one
 * `FrontendEvent` per real change.
 *
 * Asked for, it also gets every change of a frontend (`frontendDetail`: a
 * weight override moves buckets without changing the state), the probes
 * starting and ending (`probes`, from health/ProbeActivity.ts) and the
 * binary-API message counts (`vppApi`, from vpp/transport/Activity.ts), both
 * batched every `ACTIVITY_INTERVAL_MS`: per backend only its latest news, so
 * a batch holds at most one entry per backend whatever the probe rate.
 *
 * A watcher that does not read is not kept forever: when the HTTP response
 * carrying its stream falls more than its byte budget behind
 * (internal/HttpProtocol.ts), `overflowed` completes and the stream ends
 * with an `Overflow` event. The server takes at most `maxWatchers` watches
 * at once (Handlers.ts); the next one fails with `Busy`.
 */
import { Clock, Deferred, Duration, Effect, LogLevel, Option, Schedule, Stream } from "effect"
import type * as HealthChecker from "../health/HealthChecker.js"
import * as ProbeActivity from "../health/ProbeActivity.js"
import * as VppActivity from "../vpp/transport/Activity.js"
import { ACTIVITY_INTERVAL_MS, type FrontendInfo, type FrontendPanicEvent, HEARTBEAT_INTERVAL_MS, type LogEvent, type ProbeEvent, type WatchEvent, type WatchLogLevel } from "./Api.js"
import type * as Panic from "../lb/Panic.js"
import type { ControlShape } from "./Control.js"
import { backendInfo, backendInfos, frontendInfo, frontendInfos, type Snapshot, transitionInfo } from "./Info.js"
import type { Overflowed } from "./internal/HttpProtocol.js"
import type { LogHubShape, LogRecord } from "./LogHub.js"

export interface WatchRequest {
  readonly logLevel?: WatchLogLevel | undefined
  readonly backend?: boolean | undefined
  readonly frontend?: boolean | undefined
  readonly frontendDetail?: boolean | undefined
  readonly probes?: boolean | undefined
  readonly vppApi?: boolean | undefined
}

export interface WatchServices {
  readonly checker: HealthChecker.HealthCheckerShape
  readonly control: ControlShape
  readonly hub: LogHubShape
  /** Completes when the reader has fallen too far behind (never, for a transport without the bound). */
  readonly overflowed?: Effect.Effect<Overflowed> | undefined
}

export const LEVELS: Readonly<Record<WatchLogLevel, LogLevel.LogLevel>> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
}

const LABELS: Partial<Record<LogLevel.LogLevel["_tag"], LogEvent["level"]>> = {
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warning: "warn",
  Error: "error",
  Fatal: "fatal"
}

export const logEvent = (r: LogRecord): LogEvent => ({
  _tag: "LogEvent",
  at: r.at,
  level: LABELS[r.level._tag] ?? "debug",
  message: r.message,
  annotations: r.annotations,
  cause: r.cause
})

type Input =
  | { readonly _tag: "Health"; readonly event: HealthChecker.HealthEvent }
  | { readonly _tag: "Health map" }
  | { readonly _tag: "Log"; readonly record: LogRecord }
  | { readonly _tag: "Heartbeat"; readonly at: number }
  | { readonly _tag: "Activity"; readonly at: number }
  | { readonly _tag: "Ramp"; readonly frontends: ReadonlyArray<string> }
  | { readonly _tag: "Panic"; readonly event: Panic.PanicEvent; readonly at: number }

/** The LB sync's panic start or end as watchers get it. */
export const panicEvent = (e: Panic.PanicEvent, at: number): FrontendPanicEvent =>
  e._tag === "Enter"
    ? {
      _tag: "FrontendPanicEvent",
      at,
      frontend: e.frontend,
      panic: true,
      pool: e.info.pool,
      up: e.info.up,
      threshold: e.info.threshold,
      minHealthy: e.minHealthy,
      keptPool: e.info.keptPool,
      since: e.info.since
    }
    : {
      _tag: "FrontendPanicEvent",
      at,
      frontend: e.frontend,
      panic: false,
      pool: e.pool,
      up: e.up,
      threshold: e.threshold,
      since: e.since,
      reason: e.reason,
      durationMs: Math.max(0, at - e.since)
    }

const usesBackend = (snapshot: Snapshot, backend: string): ReadonlyArray<string> =>
  [...snapshot.config.frontends.values()]
    .filter((f) => f.pools.some((p) => p.backends.some((m) => m.backend === backend)))
    .map((f) => f.name)

/** The same frontend as a watcher sees it: state, pools, weights, buckets (the info is plain data, small). */
const sameFrontend = (a: FrontendInfo, b: FrontendInfo): boolean => JSON.stringify(a) === JSON.stringify(b)

export const watchEvents = (services: WatchServices, request: WatchRequest): Stream.Stream<WatchEvent> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const { checker, control, hub } = services
    const backends = request.backend !== false
    const frontends = request.frontend !== false
    const health = backends || frontends ? yield* checker.subscribe : undefined
    const logs = request.logLevel === undefined ? undefined : yield* hub.subscribe(LEVELS[request.logLevel])
    const detail = request.frontendDetail === true

    // The probes since the last batch, per backend its latest news (written by the rounds' callbacks: one
    // Map lookup, and an entry per backend and batch; 0 = none).
    let probes = new Map<string, { due: number; ended: number }>()
    if (request.probes === true) {
      yield* Effect.acquireRelease(
        Effect.sync(() =>
          ProbeActivity.listen({
            start: (backend, due) => {
              const p = probes.get(backend)
              if (p === undefined) probes.set(backend, { due, ended: 0 })
              else {
                p.due = due
                p.ended = 0
              }
            },
            end: (backend, ended) => {
              const p = probes.get(backend)
              if (p === undefined) probes.set(backend, { due: 0, ended })
              else p.ended = ended
            }
          })
        ),
        (stop) => Effect.sync(stop)
      )
    }
    /** The API counts this watcher last got; undefined until the first VppApiEvent. */
    let api: { sent: number; received: number; messages: Map<string, number> } | undefined
    const activity = (at: number): Array<WatchEvent> => {
      const out: Array<WatchEvent> = []
      if (probes.size > 0) {
        const batch: Array<ProbeEvent["probes"][number]> = []
        for (const [backend, p] of probes) {
          batch.push(p.ended === 0 ? { backend, due: p.due } : p.due === 0 ? { backend, ended: p.ended } : { backend, due: p.due, ended: p.ended })
        }
        probes = new Map()
        out.push({ _tag: "ProbeEvent", at, probes: batch })
      }
      const now = VppActivity.activity
      if (request.vppApi === true && (api === undefined || api.sent !== now.sent || api.received !== now.received)) {
        const messages: Record<string, number> = {}
        for (const [name, n] of now.messages) if (api?.messages.get(name) !== n) messages[name] = n
        api = { sent: now.sent, received: now.received, messages: new Map(now.messages) }
        out.push({ _tag: "VppApiEvent", at, sent: now.sent, received: now.received, messages })
      }
      return out
    }

    const snapshot0 = yield* control.snapshot
    const seen = new Map<string, FrontendInfo>()
    for (const f of frontendInfos(snapshot0)) seen.set(f.name, f)
    let config = snapshot0.config
    const hydrate: WatchEvent = {
      _tag: "Hydrate",
      backends: backends ? backendInfos(snapshot0) : [],
      frontends: frontends ? [...seen.values()] : []
    }

    /** FrontendEvents for the named frontends whose state or active pool changed since this watcher last looked. */
    const frontendChanges = (s: Snapshot, names: Iterable<string>): Array<WatchEvent> => {
      const out: Array<WatchEvent> = []
      for (const name of names) {
        const f = s.config.frontends.get(name)
        if (f === undefined) {
          seen.delete(name)
          continue
        }
        const info = frontendInfo(s, f)
        const before = seen.get(name)
        seen.set(name, info)
        if (before !== undefined && before.state === info.state && before.activePool === info.activePool && !(detail && !sameFrontend(before, info))) continue
        out.push({
          _tag: "FrontendEvent",
          frontend: name,
          from: before?.state ?? "unknown",
          to: info.state,
          activePoolFrom: before?.activePool,
          activePool: info.activePool,
          info
        })
      }
      return out
    }

    /** Every frontend, when the running configuration is not the one last looked at. */
    const afterConfigChange = (s: Snapshot): Array<WatchEvent> => {
      if (s.config === config) return []
      config = s.config
      return frontendChanges(s, new Set([...seen.keys(), ...s.config.frontends.keys()]))
    }

    const handle = (input: Input): Effect.Effect<ReadonlyArray<WatchEvent>> => {
      switch (input._tag) {
        case "Log":
          return Effect.succeed([logEvent(input.record)])
        case "Heartbeat":
          return Effect.succeed([{ _tag: "Heartbeat", at: input.at }])
        case "Ramp":
          return Effect.map(control.snapshot, (s) => frontendChanges(s, input.frontends))
        case "Activity":
          return Effect.sync(() => activity(input.at))
        case "Panic":
          return Effect.map(control.snapshot, (s) => [panicEvent(input.event, input.at), ...frontendChanges(s, [input.event.frontend])])
        case "Health map":
          // Cheap unless the configuration changed: this runs after every recorded probe.
          return Effect.flatMap(checker.config, (c) =>
            c === config ? Effect.succeed([]) : Effect.map(control.snapshot, afterConfigChange))
        case "Health":
          return Effect.map(control.snapshot, (s) => {
            const out: Array<WatchEvent> = []
            if (backends) {
              out.push({ _tag: "BackendEvent", transition: transitionInfo(input.event.transition), backend: backendInfo(s, input.event.health) })
            }
            // After a configuration change every frontend is looked at again; the second call then finds nothing new.
            if (frontends) out.push(...afterConfigChange(s), ...frontendChanges(s, usesBackend(s, input.event.backend)))
            return out
          })
      }
    }

    const sources: Array<Stream.Stream<Input>> = []
    if (health !== undefined) sources.push(Stream.map(Stream.fromQueue(health), (event) => ({ _tag: "Health", event })))
    if (frontends) sources.push(Stream.as(checker.changes, { _tag: "Health map" }))
    // A weight override changes no health: the running configuration's own changes say so.
    if (frontends && control.configChanges !== undefined) sources.push(Stream.as(control.configChanges, { _tag: "Health map" }))
    // A slow start's step changes effective weights, and nothing else: only a detailed watch hears of it.
    if (frontends && detail && control.rampSteps !== undefined) {
      sources.push(Stream.map(control.rampSteps, (names): Input => ({ _tag: "Ramp", frontends: names })))
    }
    if (frontends && control.panicEvents !== undefined) {
      sources.push(Stream.mapEffect(control.panicEvents, (event) => Effect.map(Clock.currentTimeMillis, (at): Input => ({ _tag: "Panic", event, at }))))
    }
    if (logs !== undefined) sources.push(Stream.map(logs, (record) => ({ _tag: "Log", record })))
    if (request.probes === true || request.vppApi === true) {
      // The first tick at once: the VppApiEvent that gives the watcher its baseline.
      sources.push(
        Stream.fromSchedule(Schedule.union(Schedule.once, Schedule.spaced(Duration.millis(ACTIVITY_INTERVAL_MS)))).pipe(
          Stream.mapEffect(() => Effect.map(Clock.currentTimeMillis, (at): Input => ({ _tag: "Activity", at })))
        )
      )
    }
    sources.push(
      Stream.fromSchedule(Schedule.spaced(Duration.millis(HEARTBEAT_INTERVAL_MS))).pipe(
        Stream.mapEffect(() => Effect.map(Clock.currentTimeMillis, (at): Input => ({ _tag: "Heartbeat", at })))
      )
    )

    const events = Stream.concat(
      Stream.succeed(hydrate),
      Stream.mergeAll(sources, { concurrency: "unbounded" }).pipe(Stream.mapEffect(handle), Stream.flattenIterables)
    )
    const overflowed = services.overflowed
    if (overflowed === undefined) return events
    // Ends the stream the moment the reader is dropped; the Overflow event is its last word.
    const dropped = yield* Deferred.make<Overflowed>()
    yield* Effect.forkScoped(Effect.flatMap(overflowed, (o) => Deferred.succeed(dropped, o)))
    const last = Stream.unwrap(Effect.map(Deferred.poll(dropped), Option.match({
      onNone: () => Stream.empty,
      onSome: (o) => Stream.fromEffect(Effect.zipWith(o, Clock.currentTimeMillis, (o, at): WatchEvent => ({ _tag: "Overflow", at, ...o })))
    })))
    return events.pipe(Stream.interruptWhenDeferred(dropped), Stream.concat(last))
  }))
