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
 */
import { Context, Effect, Layer, Option, PubSub, Schema, type Scope, Stream } from "effect"
import type { BackendInfo, FrontendInfo } from "../api/Api.js"
import * as Fleet from "./Fleet.js"
import { type FleetVip, type ServerState, SSE_EVENTS, type SseEvent, type SseEventName, type StateDocument, VppPanel as VppPanelSchema, type VppPanel } from "./Protocol.js"

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

/** What a subscriber gets: numbered events, or the one `resync` that ends its stream. */
export type Delivery = Numbered | {
  readonly seq: undefined
  readonly event: ReturnType<typeof sseEvent<"resync">>
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
    const lock = yield* Effect.makeSemaphore(1)
    // Owned by this module, written only under `lock`.
    const order: Array<string> = []
    const servers = new Map<string, ServerState>()
    let fleet: ReadonlyArray<FleetVip> = []
    const ring: Array<Numbered> = []
    let seq = 0

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
        if (sameJson(encodeServer(old), encodeServer(next))) return Effect.void
        servers.set(id, next)
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

    const subscribe: HubShape["subscribe"] = (since) =>
      Effect.gen(function*() {
        const { queue, start } = yield* lock.withPermits(1)(Effect.gen(function*() {
          const queue = yield* PubSub.subscribe(pubsub)
          const oldest = ring.length === 0 ? seq + 1 : ring[0]!.seq
          const point = resumePoint(since, epoch, oldest, seq)
          const start = point._tag === "After"
            ? { replay: ring.filter((n) => n.seq > point.seq), next: seq + 1 }
            : point._tag === "Live"
            ? { replay: [], next: seq + 1 }
            : { resync: point.reason }
          return { queue, start }
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
          Stream.takeUntil((d) => d.seq === undefined)
        )
        return Stream.concat(Stream.fromIterable<Delivery>(start.replay), live) as Stream.Stream<Delivery>
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
      logEvent: (data) => locked(() => publish(sseEvent("log", data))),
      server: (id) => Effect.sync(() => servers.get(id)),
      snapshot: (admin) =>
        locked(() =>
          Effect.sync((): StateDocument => ({
            generatedAt: Date.now(),
            eventId: eventId(seq),
            admin,
            servers: ordered(),
            fleet
          }))
        ),
      subscribe
    })
  })

export const layer = (options: HubOptions = {}): Layer.Layer<Hub> => Layer.effect(Hub, make(options))
