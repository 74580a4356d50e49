/**
 * The dashboard's state and its event log, with one owner: every maglevd's
 * `ServerState`, the fleet view computed from them, and the SSE events that
 * tell browsers what changed, each numbered and kept in a replay ring.
 *
 * Upstream fibers (Upstream.ts) send it what they learn; browsers read a
 * snapshot (`snapshot`) and then follow `subscribe(since)`: the events after
 * `since` from the ring, then the live ones. Snapshot and subscription are
 * taken under the same lock as every publish, so nothing falls between them.
 *
 * A subscriber that falls more than the live queue behind (a stalled browser)
 * loses the oldest events: it notices the gap in the numbers and gets
 * `resync`, never a silently wrong page.
 *
 * `probe` and `api` events are live news, not state: no number, no ring, and a
 * queue of their own per subscriber that drops the oldest when it is full
 * (`LIVE_QUEUE_SIZE`): a busy fleet's probes never push the state out of the
 * ring, and a stalled browser loses only news. The state document has where
 * they stand now (`probing`, `api`).
 *
 * A refresh that changed only what changes at every probe (a backend's
 * `lastProbeAt`, its last probe's duration) or the refresh times is kept
 * without an event: a quiet maglevd sends nothing every 5 s.
 */
import { Context, Effect, Layer, Option, PubSub, Schema, type Scope, Stream } from "effect"
import type { BackendInfo, FrontendInfo } from "../api/Api.js"
import * as Fleet from "./Fleet.js"
import { type ApiCounts, type FleetVip, type ServerState, SSE_EVENTS, type SseEvent, type SseEventName, type StateDocument, VppPanel as VppPanelSchema, type VppPanel } from "./Protocol.js"

/** The data of the SSE event `K`. */
export type SseData<K extends SseEventName> = Schema.Schema.Type<(typeof SSE_EVENTS)[K]>

/** An event by its SSE name. */
export const sseEvent = <K extends SseEventName>(event: K, data: SseData<K>) => ({ event, data }) as Extract<SseEvent, { readonly event: K }>

/** An event with its number and its data encoded once (JSON text), as the ring and the live queue hold it. */
export interface Numbered {
  readonly seq: number
  readonly event: SseEvent
  readonly json: string
}

/** What a subscriber gets: numbered events, live news (`probe`, `api`), or the one `resync` that ends its stream. */
export type Delivery = Numbered | {
  readonly seq: undefined
  readonly event: SseEvent
  readonly json: string
}

/** The JSON text of an event's data, as its schema encodes it (bigint counters become strings). */
export const encodeData = (event: SseEvent): string =>
  JSON.stringify(Schema.encodeSync(SSE_EVENTS[event.event] as Schema.Schema<unknown, unknown>)(event.data))

const resyncDelivery = (reason: "too-old" | "other-epoch" | "overflow"): Delivery => {
  const event = sseEvent("resync", { reason })
  return { seq: undefined, event, json: encodeData(event) }
}

export interface HubOptions {
  /** Events kept for replay; default 1024. */
  readonly ringSize?: number | undefined
  /** Events a subscriber may have unread before it is resynced; default 4096. */
  readonly queueSize?: number | undefined
  /** The ids' epoch; default the current time. */
  readonly epoch?: number | undefined
}

export interface HubShape {
  readonly epoch: number
  /** `<epoch>-<seq>`. */
  readonly eventId: (seq: number) => string
  /** Adds a maglevd (in `--server` order) in state `connecting`. */
  readonly register: (id: string, url: string) => Effect.Effect<void>
  /** Replaces one maglevd's state with `f(state)`; publishes `server` (and `fleet`) when it changed. */
  readonly updateServer: (id: string, f: (s: ServerState) => ServerState) => Effect.Effect<void>
  /** Replaces one maglevd's VPP panel; publishes `vpp` (and `fleet`) when it changed. */
  readonly updateVpp: (id: string, f: (v: VppPanel) => VppPanel) => Effect.Effect<void>
  /** A backend transition from a maglevd's watch: folded into its list, published as `backend`. */
  readonly backendEvent: (id: string, data: SseData<"backend">) => Effect.Effect<void>
  /** A frontend change from a maglevd's watch: folded into its list, published as `frontend`. */
  readonly frontendEvent: (id: string, data: SseData<"frontend">) => Effect.Effect<void>
  /** A batch of probes from a maglevd's watch: folded into its `probing`, sent as `probe` (live only). */
  readonly probeEvent: (id: string, data: SseData<"probe">) => Effect.Effect<void>
  /** A maglevd's binary-API counts from its watch (the names that moved): kept as its `api`, sent as `api` (live only). */
  readonly apiEvent: (id: string, counts: ApiCounts) => Effect.Effect<void>
  /** A frontend's panic start or end from a maglevd's watch, published as `panic`. */
  readonly panicEvent: (data: SseData<"panic">) => Effect.Effect<void>
  /** A log record from a maglevd's watch, published as `log` (admin streams only). */
  readonly logEvent: (data: SseData<"log">) => Effect.Effect<void>
  readonly server: (id: string) => Effect.Effect<ServerState | undefined>
  readonly snapshot: (admin: boolean) => Effect.Effect<StateDocument>
  /**
   * Events after `since` (an event id; none = live only), then live ones, for
   * as long as the scope is open. What cannot be replayed yields a single `resync`.
   */
  readonly subscribe: (since: string | undefined) => Effect.Effect<Stream.Stream<Delivery>, never, Scope.Scope>
}

export class Hub extends Context.Tag("vpp-maglev/frontend/Hub")<Hub, HubShape>() {}

export const DEFAULT_RING_SIZE = 1024
export const DEFAULT_QUEUE_SIZE = 4096
/** Live-only events a subscriber may have unread; older ones are dropped. */
export const LIVE_QUEUE_SIZE = 256

const replaceBy = <A extends { readonly name: string }>(list: ReadonlyArray<A>, item: A): ReadonlyArray<A> => {
  const i = list.findIndex((x) => x.name === item.name)
  return i < 0 ? [...list, item] : list.map((x, k) => (k === i ? item : x))
}

export const emptyServer = (id: string, url: string, now: number): ServerState => ({
  id,
  url,
  connection: "connecting",
  since: now,
  frontends: [],
  backends: [],
  healthchecks: [],
  vpp: { connected: false }
})

const encodeServer = Schema.encodeSync(SSE_EVENTS.server)
const encodeVpp = Schema.encodeSync(VppPanelSchema)
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** A server's state without what every probe or refresh changes: equal = nothing to tell the browsers. */
const settledOf = (s: ServerState): ServerState => {
  const { refreshedAt: _r, probing: _p, api: _a, ...rest } = s
  return {
    ...rest,
    backends: s.backends.map((b) => {
      const { lastProbeAt: _, lastResult, ...b2 } = b
      return lastResult === undefined ? b2 : { ...b2, lastResult: { ...lastResult, durationMs: 0 } }
    })
  }
}

/** Where a subscriber starts, given the ring's bounds: `undefined` = live only. */
export const resumePoint = (
  since: string | undefined,
  epoch: number,
  oldest: number,
  latest: number
): { readonly _tag: "Live" } | { readonly _tag: "After"; readonly seq: number } | { readonly _tag: "Resync"; readonly reason: "too-old" | "other-epoch" } => {
  if (since === undefined || since === "") return { _tag: "Live" }
  const m = /^([0-9]+)-([0-9]+)$/.exec(since.trim())
  if (m === null || Number(m[1]) !== epoch) return { _tag: "Resync", reason: "other-epoch" }
  const seq = Number(m[2])
  // From the future: another server of the same start millisecond, or a made-up id.
  if (seq > latest) return { _tag: "Resync", reason: "other-epoch" }
  // The ring holds oldest..latest: resuming after seq needs seq+1 >= oldest.
  if (seq + 1 < oldest) return { _tag: "Resync", reason: "too-old" }
  return { _tag: "After", seq }
}

export const make = (options: HubOptions = {}): Effect.Effect<HubShape> =>
  Effect.gen(function*() {
    const epoch = options.epoch ?? Date.now()
    const ringSize = options.ringSize ?? DEFAULT_RING_SIZE
    const pubsub = yield* PubSub.sliding<Numbered>(options.queueSize ?? DEFAULT_QUEUE_SIZE)
    const news = yield* PubSub.sliding<Delivery>(LIVE_QUEUE_SIZE)
    const lock = yield* Effect.makeSemaphore(1)
    // Owned by this module, written only under `lock`.
    const order: Array<string> = []
    const servers = new Map<string, ServerState>()
    let fleet: ReadonlyArray<FleetVip> = []
    const ring: Array<Numbered> = []
    let seq = 0
    /** Per server: the probes in flight (backend → due), and the API counts. */
    const probing = new Map<string, Map<string, number>>()
    const apis = new Map<string, ApiCounts>()

    const eventId = (n: number) => `${epoch}-${n}`

    // Under the lock.
    const publish = (event: SseEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        const numbered: Numbered = { seq: ++seq, event, json: encodeData(event) }
        ring.push(numbered)
        if (ring.length > ringSize) ring.splice(0, ring.length - ringSize)
        return Effect.asVoid(PubSub.publish(pubsub, numbered))
      })

    const ordered = () => order.map((id) => servers.get(id)!)

    /** Live news: no number, not kept. */
    const tell = (event: SseEvent): Effect.Effect<void> =>
      Effect.suspend(() => Effect.asVoid(PubSub.publish(news, { seq: undefined, event, json: encodeData(event) })))

    const publishFleet = Effect.suspend(() => {
      const next = Fleet.fleet(ordered())
      if (sameJson(next, fleet)) return Effect.void
      fleet = next
      return publish(sseEvent("fleet", { fleet: next }))
    })

    const locked = <A>(f: () => Effect.Effect<A>) => lock.withPermits(1)(Effect.suspend(f))

    const updateServer = (id: string, f: (s: ServerState) => ServerState) =>
      locked(() => {
        const old = servers.get(id)
        if (old === undefined) return Effect.void
        const next = f(old)
        if (next.connection !== "up") probing.delete(id)
        if (sameJson(encodeServer(old), encodeServer(next))) return Effect.void
        servers.set(id, next)
        if (sameJson(encodeServer(settledOf(old)), encodeServer(settledOf(next)))) return Effect.void
        return Effect.zipRight(publish(sseEvent("server", next)), publishFleet)
      })

    const updateVpp = (id: string, f: (v: VppPanel) => VppPanel) =>
      locked(() => {
        const old = servers.get(id)
        if (old === undefined) return Effect.void
        const vpp = f(old.vpp)
        // Encoded first: the counters are bigints, which JSON.stringify refuses.
        if (sameJson(encodeVpp(old.vpp), encodeVpp(vpp))) return Effect.void
        servers.set(id, { ...old, vpp })
        return Effect.zipRight(publish(sseEvent("vpp", { server: id, vpp })), publishFleet)
      })

    const backendEvent: HubShape["backendEvent"] = (id, data) =>
      locked(() => {
        const old = servers.get(id)
        if (old === undefined) return Effect.void
        servers.set(id, { ...old, backends: replaceBy<BackendInfo>(old.backends, data.backend) })
        return publish(sseEvent("backend", data))
      })

    const frontendEvent: HubShape["frontendEvent"] = (id, data) =>
      locked(() => {
        const old = servers.get(id)
        if (old === undefined) return Effect.void
        servers.set(id, { ...old, frontends: replaceBy<FrontendInfo>(old.frontends, data.info) })
        return Effect.zipRight(publish(sseEvent("frontend", data)), publishFleet)
      })

    const probeEvent: HubShape["probeEvent"] = (id, data) =>
      locked(() => {
        if (!servers.has(id)) return Effect.void
        let inFlight = probing.get(id)
        if (inFlight === undefined) probing.set(id, inFlight = new Map())
        for (const p of data.probes) {
          if (p.ended !== undefined) inFlight.delete(p.backend)
          else if (p.due !== undefined) inFlight.set(p.backend, p.due)
        }
        return tell(sseEvent("probe", data))
      })

    const apiEvent: HubShape["apiEvent"] = (id, counts) =>
      locked(() => {
        if (!servers.has(id)) return Effect.void
        const api = { ...counts, messages: { ...apis.get(id)?.messages, ...counts.messages } }
        apis.set(id, api)
        return tell(sseEvent("api", { server: id, api }))
      })

    /** A server as the state document shows it: with its probes in flight and API counts. */
    const documented = (s: ServerState): ServerState => {
      const inFlight = probing.get(s.id)
      const api = apis.get(s.id)
      return {
        ...s,
        ...(inFlight !== undefined ? { probing: [...inFlight].map(([backend, due]) => ({ backend, due })) } : {}),
        ...(api !== undefined ? { api } : {})
      }
    }

    const subscribe: HubShape["subscribe"] = (since) =>
      Effect.gen(function*() {
        const { queue, newsQueue, start } = yield* lock.withPermits(1)(Effect.gen(function*() {
          const queue = yield* PubSub.subscribe(pubsub)
          const newsQueue = yield* PubSub.subscribe(news)
          const oldest = ring.length === 0 ? seq + 1 : ring[0]!.seq
          const point = resumePoint(since, epoch, oldest, seq)
          const start = point._tag === "After"
            ? { replay: ring.filter((n) => n.seq > point.seq), next: seq + 1 }
            : point._tag === "Live"
            ? { replay: [], next: seq + 1 }
            : { resync: point.reason }
          return { queue, newsQueue, start }
        }))
        if ("resync" in start) {
          return Stream.make(resyncDelivery(start.resync))
        }
        let expected = start.next
        const live = Stream.fromQueue(queue).pipe(
          Stream.mapAccum(false, (gone, n): [boolean, Option.Option<Delivery>] => {
            if (gone) return [true, Option.none()]
            if (n.seq < expected) return [false, Option.none()]
            if (n.seq > expected) {
              return [true, Option.some(resyncDelivery("overflow"))]
            }
            expected++
            return [false, Option.some(n)]
          }),
          Stream.filterMap((x): Option.Option<Delivery> => x),
          Stream.takeUntil((d) => d.event.event === "resync")
        )
        return Stream.merge(
          Stream.concat(Stream.fromIterable<Delivery>(start.replay), live),
          Stream.fromQueue(newsQueue),
          { haltStrategy: "left" }
        )
      })

    return Hub.of({
      epoch,
      eventId,
      register: (id, url) =>
        locked(() =>
          Effect.sync(() => {
            if (servers.has(id)) return
            order.push(id)
            servers.set(id, emptyServer(id, url, Date.now()))
          })
        ),
      updateServer,
      updateVpp,
      backendEvent,
      frontendEvent,
      probeEvent,
      apiEvent,
      panicEvent: (data) => locked(() => publish(sseEvent("panic", data))),
      logEvent: (data) => locked(() => publish(sseEvent("log", data))),
      server: (id) => Effect.sync(() => servers.get(id)),
      snapshot: (admin) =>
        locked(() =>
          Effect.sync((): StateDocument => ({
            generatedAt: Date.now(),
            eventId: eventId(seq),
            admin,
            servers: ordered().map(documented),
            fleet
          }))
        ),
      subscribe
    })
  })

export const layer = (options: HubOptions = {}): Layer.Layer<Hub> => Layer.effect(Hub, make(options))
