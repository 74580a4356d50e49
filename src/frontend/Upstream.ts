/**
 * The maglevds the dashboard follows, one supervised set of fibers each:
 *
 * - the watch: a `WatchEvents` stream (backend events, every frontend change,
 *   log records from info up, probes starting and ending, binary-API message
 *   counts) folded into the Hub; its `Hydrate` marks the
 *   maglevd `up`. When it fails, ends or stays silent past two heartbeats the
 *   maglevd is `down` and the watch is retried with exponential backoff
 *   (0.5 s doubling to 10 s; back to 0.5 s once it is up again);
 * - the refresh: frontends, backends, health checks, version and the VPP panel
 *   every `refreshInterval` (5 s) while up;
 * - the lb refresh: after transitions, frontends and VPP's lb state (buckets
 *   per AS) again, at most once per `lbDebounce` (1 s).
 *
 * A maglevd that fails only ever changes its own `ServerState`.
 */
import type { RpcClientError } from "@effect/rpc"
import { Cause, Context, Data, Duration, Effect, Layer, Option, Queue, Ref, Stream } from "effect"
import type * as Api from "../api/Api.js"
import * as Client from "../api/Client.js"
import { Hub } from "./Hub.js"
import type { VppPanel } from "./Protocol.js"

export interface Target {
  /** `host:port` of the URL. */
  readonly id: string
  readonly url: string
}

export interface UpstreamOptions {
  readonly servers: ReadonlyArray<string>
  readonly token?: string | undefined
  readonly refreshInterval?: Duration.DurationInput | undefined
  readonly lbDebounce?: Duration.DurationInput | undefined
  readonly backoffMin?: Duration.DurationInput | undefined
  readonly backoffMax?: Duration.DurationInput | undefined
}

export interface UpstreamsShape {
  readonly targets: ReadonlyArray<Target>
  /** The RPC client of a maglevd, by id. */
  readonly client: (id: string) => Option.Option<Client.MaglevClientShape>
  /** Asks for a refresh of the maglevd's frontends and lb state (debounced like the one after transitions). */
  readonly refresh: (id: string) => Effect.Effect<void>
}

export class Upstreams extends Context.Tag("vpp-maglev/frontend/Upstreams")<Upstreams, UpstreamsShape>() {}

/** The watch saw neither an event nor a heartbeat for two heartbeat intervals and more, or a call got no reply in time. */
class Silent extends Data.TaggedError("Silent")<{}> {
  override get message() {
    return "maglevd stopped answering (no event, heartbeat or reply in time)"
  }
}

/** The watch ended without an error: maglevd stopped serving it, or dropped us as a slow reader (Overflow). */
class Ended extends Data.TaggedError("Ended")<{}> {
  override get message() {
    return "the watch ended"
  }
}

export const SILENCE_LIMIT = Duration.seconds(40)

/** `http://10.0.0.1:9090/rpc` → `10.0.0.1:9090`; duplicates get `#2`, `#3`. */
export const targets = (urls: ReadonlyArray<string>): ReadonlyArray<Target> => {
  const seen = new Map<string, number>()
  return urls.map((url) => {
    const u = new URL(url)
    const base = u.host
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    return { id: n === 1 ? base : `${base}#${n}`, url }
  })
}

/** The innermost reason of a transport failure (`connect ECONNREFUSED 10.0.0.1:9090`), if it has one. */
const rootReason = (e: unknown): string | undefined => {
  let reason: string | undefined
  for (let c: unknown = (e as { cause?: unknown }).cause, depth = 0; c !== undefined && c !== null && depth < 8; depth++) {
    if (c instanceof Error && c.message !== "") reason = c.message
    c = (c as { cause?: unknown }).cause
  }
  return reason
}

/** The text of an RPC or transport failure, for `ServerState.error`. */
export const errorText = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  const root = rootReason(e)
  if (e instanceof Error) {
    const text = e.message === "" ? e.name : e.message
    return root !== undefined && root !== text ? `${text}: ${root}` : text
  }
  if (typeof e === "object" && e !== null && "_tag" in e) {
    const m = (e as { message?: unknown }).message
    return typeof m === "string" && m !== "" ? m : String((e as { _tag: unknown })._tag)
  }
  return String(e)
}

type Failure = Api.ApiError | RpcClientError.RpcClientError | Silent

/** How long one refresh or action may wait for a maglevd that accepted the connection but does not answer. */
export const CALL_TIMEOUT = Duration.seconds(30)

const vppPanel = (client: Client.MaglevClientShape): Effect.Effect<VppPanel> =>
  Effect.all([client.GetVPPInfo(), client.GetVPPLBState(), Effect.option(client.GetVPPLBCounters())], { concurrency: 3 }).pipe(
    Effect.timeout(CALL_TIMEOUT),
    // The counters come from the stats segment, a separate socket: without them the panel still shows the rest.
    Effect.map(([info, lb, counters]): VppPanel => {
      const now = Date.now()
      return { connected: true, info, lb, lbAt: now, ...(counters._tag === "Some" ? { counters: counters.value } : {}), refreshedAt: now }
    }),
    // Unavailable (VPP disabled or not connected), or maglevd itself failed: the panel says which.
    Effect.catchAllCause((cause) => Effect.succeed<VppPanel>({ connected: false, reason: errorText(cause) }))
  )

const follow = (target: Target, client: Client.MaglevClientShape, options: UpstreamOptions) =>
  Effect.gen(function*() {
    const hub = yield* Hub
    const { id } = target
    const refreshInterval = Duration.decode(options.refreshInterval ?? "5 seconds")
    const lbDebounce = Duration.decode(options.lbDebounce ?? "1 second")
    const backoffMin = Duration.toMillis(options.backoffMin ?? "500 millis")
    const backoffMax = Duration.toMillis(options.backoffMax ?? "10 seconds")
    const up = yield* Ref.make(false)
    // The last failure logged: a maglevd that stays away is logged once, not at every retry.
    const logged = yield* Ref.make<string | undefined>(undefined)
    const lbTrigger = yield* Queue.sliding<void>(1)
    const log = (effect: Effect.Effect<void>) => effect.pipe(Effect.annotateLogs({ server: id, url: target.url }))

    const refreshVpp = Effect.flatMap(vppPanel(client), (panel) => hub.updateVpp(id, () => panel))

    const refreshLists = Effect.all(
      [client.ListFrontends(), client.ListBackends(), client.ListHealthChecks(), client.GetVersion()],
      { concurrency: 4 }
    ).pipe(
      Effect.timeout(CALL_TIMEOUT),
      Effect.flatMap(([frontends, backends, healthchecks, version]) =>
        hub.updateServer(id, (s) => ({ ...s, frontends, backends, healthchecks, version, refreshedAt: Date.now() }))
      )
    )

    const markDown = (cause: Cause.Cause<unknown>) =>
      Effect.gen(function*() {
        const error = errorText(cause)
        yield* Ref.set(up, false)
        const now = Date.now()
        yield* hub.updateServer(id, (s) => ({
          ...s,
          connection: "down",
          since: s.connection === "down" ? s.since : now,
          error,
          vpp: { ...s.vpp, connected: false, reason: "maglevd unreachable" }
        }))
        if ((yield* Ref.getAndSet(logged, error)) !== error) {
          yield* log(Effect.logWarning("maglevd unreachable").pipe(Effect.annotateLogs({ event: "upstream-down", error })))
        }
      })

    const onEvent = (event: Api.WatchEvent): Effect.Effect<void, Failure> => {
      switch (event._tag) {
        case "Hydrate":
          return Effect.gen(function*() {
            const [healthchecks, version] = yield* Effect.all([client.ListHealthChecks(), client.GetVersion()], { concurrency: 2 }).pipe(
              Effect.timeoutFail({ duration: CALL_TIMEOUT, onTimeout: () => new Silent() })
            )
            yield* hub.updateServer(id, (s) => {
              const { error: _, ...rest } = s
              return {
                ...rest,
                connection: "up",
                since: s.connection === "up" ? s.since : Date.now(),
                frontends: event.frontends,
                backends: event.backends,
                healthchecks,
                version,
                refreshedAt: Date.now()
              }
            })
            yield* Ref.set(up, true)
            yield* Ref.set(logged, undefined)
            yield* log(Effect.logInfo("maglevd reached").pipe(Effect.annotateLogs({ event: "upstream-up" })))
            yield* refreshVpp
          })
        case "BackendEvent":
          return Effect.zipRight(
            hub.backendEvent(id, { server: id, transition: event.transition, backend: event.backend }),
            Queue.offer(lbTrigger, undefined)
          )
        case "FrontendEvent": {
          const { _tag, ...data } = event
          return Effect.zipRight(hub.frontendEvent(id, { server: id, ...data }), Queue.offer(lbTrigger, undefined))
        }
        case "FrontendPanicEvent": {
          const { _tag, ...data } = event
          return hub.panicEvent({ server: id, ...data })
        }
        case "ProbeEvent":
          return hub.probeEvent(id, { server: id, at: event.at, probes: event.probes })
        case "VppApiEvent":
          return hub.apiEvent(id, { at: event.at, sent: event.sent, received: event.received, messages: event.messages })
        case "LogEvent": {
          const { _tag, ...data } = event
          return hub.logEvent({ server: id, ...data })
        }
        case "Heartbeat":
        case "Overflow":
          return Effect.void
      }
    }

    // One watch until it ends or fails; an end is a failure too (maglevd stopped, or dropped us with Overflow).
    const watchOnce = client.WatchEvents({
      logLevel: "info",
      backend: true,
      frontend: true,
      frontendDetail: true,
      probes: true,
      vppApi: true
    }).pipe(
      Stream.timeoutFail(() => new Silent(), SILENCE_LIMIT),
      Stream.runForEach(onEvent),
      Effect.zipRight(Effect.fail(new Ended()))
    )

    const watchLoop = Effect.gen(function*() {
      let attempt = 0
      for (;;) {
        const exit = yield* Effect.exit(watchOnce)
        if (exit._tag === "Failure" && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
        if (yield* Ref.get(up)) attempt = 0
        yield* markDown(exit._tag === "Failure" ? exit.cause : Cause.fail(new Ended()))
        const delay = Math.min(backoffMax, backoffMin * 2 ** Math.min(attempt, 20))
        attempt++
        yield* Effect.sleep(Duration.millis(delay))
      }
    })

    const whileUp = <E>(what: string, effect: Effect.Effect<void, E>) =>
      Effect.flatMap(Ref.get(up), (isUp) => (isUp ? effect : Effect.void)).pipe(
        Effect.catchAllCause((cause) =>
          log(Effect.logWarning(`maglevd ${what} failed`).pipe(Effect.annotateLogs({ event: "upstream-refresh-failed", what, error: errorText(cause) })))
        )
      )

    const refreshLoop = Effect.forever(Effect.zipRight(Effect.sleep(refreshInterval), whileUp("refresh", Effect.zipRight(refreshLists, refreshVpp))))
    const lbLoop = Effect.forever(
      Queue.take(lbTrigger).pipe(
        Effect.zipRight(whileUp("lb refresh", Effect.zipRight(refreshLists, refreshVpp))),
        Effect.zipRight(Effect.sleep(lbDebounce))
      )
    )
    yield* Effect.forkScoped(watchLoop)
    yield* Effect.forkScoped(refreshLoop)
    yield* Effect.forkScoped(lbLoop)
    return lbTrigger
  })

export const make = (options: UpstreamOptions) =>
  Effect.gen(function*() {
    const hub = yield* Hub
    const list = targets(options.servers)
    const clients = new Map<string, Client.MaglevClientShape>()
    const triggers = new Map<string, Queue.Enqueue<void>>()
    for (const target of list) yield* hub.register(target.id, target.url)
    for (const target of list) {
      const client = yield* Client.make({ url: target.url, token: options.token })
      clients.set(target.id, client)
      triggers.set(target.id, yield* follow(target, client, options))
    }
    return Upstreams.of({
      targets: list,
      client: (id) => Option.fromNullable(clients.get(id)),
      refresh: (id) => {
        const q = triggers.get(id)
        return q === undefined ? Effect.void : Effect.asVoid(Queue.offer(q, undefined))
      }
    })
  })

export const layer = (options: UpstreamOptions): Layer.Layer<Upstreams, never, Hub> => Layer.scoped(Upstreams, make(options))
