/**
 * The dashboard's event log in process: the replay ring (what a reconnect
 * gets, `resync` when it cannot), a subscriber that falls behind, the state
 * document's event id, live-only news (probes, API counts), refreshes that
 * change only what every probe changes, and the SSE framing with keep-alive comments over real
 * HTTP (no maglevd: the Hub is fed directly).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Logger, Stream } from "effect"
import * as Frontend from "../../src/frontend/Frontend.js"
import * as Hub from "../../src/frontend/Hub.js"

const EPOCH = 1_700_000_000_000

const addServer = (hub: Hub.HubShape, id: string) => hub.register(id, `http://${id}/rpc`)
/** One `server` event: the server's connection changes. */
const bump = (hub: Hub.HubShape, id: string, n: number) =>
  hub.updateServer(id, (s) => ({ ...s, connection: n % 2 === 0 ? "up" : "down", since: n }))

const take = (stream: Stream.Stream<Hub.Delivery>, n: number) =>
  Effect.map(Stream.runCollect(Stream.take(stream, n)), Chunk.toReadonlyArray)

describe("Hub", () => {
  it("resumePoint: live without an id; after a known id; resync for another epoch, the future, or past the ring", () => {
    expect(Hub.resumePoint(undefined, EPOCH, 1, 10)).toEqual({ _tag: "Live" })
    expect(Hub.resumePoint(`${EPOCH}-4`, EPOCH, 5, 10)).toEqual({ _tag: "After", seq: 4 })
    expect(Hub.resumePoint(`${EPOCH}-10`, EPOCH, 5, 10)).toEqual({ _tag: "After", seq: 10 })
    expect(Hub.resumePoint(`${EPOCH}-3`, EPOCH, 5, 10)).toEqual({ _tag: "Resync", reason: "too-old" })
    expect(Hub.resumePoint(`${EPOCH + 1}-4`, EPOCH, 5, 10)).toEqual({ _tag: "Resync", reason: "other-epoch" })
    expect(Hub.resumePoint(`${EPOCH}-11`, EPOCH, 5, 10)).toEqual({ _tag: "Resync", reason: "other-epoch" })
    expect(Hub.resumePoint("garbage", EPOCH, 5, 10)).toEqual({ _tag: "Resync", reason: "other-epoch" })
  })

  it.scoped("replays the events after the given id, then goes on live; an id older than the ring gets resync", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make({ epoch: EPOCH, ringSize: 4 })
      yield* addServer(hub, "a")
      for (let n = 1; n <= 6; n++) yield* bump(hub, "a", n)
      const doc = yield* hub.snapshot(false)
      expect(doc.eventId).toBe(`${EPOCH}-6`)
      // The ring holds 3..6: after 2 is the oldest resumable point.
      const resumed = yield* hub.subscribe(`${EPOCH}-2`)
      const fiber = yield* Effect.fork(take(resumed, 5))
      yield* Effect.yieldNow()
      yield* bump(hub, "a", 7)
      const got = yield* fiber.await.pipe(Effect.flatten)
      expect(got.map((d) => d.seq)).toEqual([3, 4, 5, 6, 7])
      expect(got.every((d) => d.event.event === "server")).toBe(true)
      const stale = yield* hub.subscribe(`${EPOCH}-1`)
      const [resync, ...rest] = yield* Effect.map(Stream.runCollect(stale), Chunk.toReadonlyArray)
      expect(rest).toEqual([])
      expect(resync).toMatchObject({ seq: undefined, event: { event: "resync", data: { reason: "too-old" } } })
      expect(JSON.parse(resync!.json)).toEqual({ reason: "too-old" })
    }))

  it.scoped("a subscriber that falls further behind than its queue gets resync (overflow) and its stream ends", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make({ epoch: EPOCH, queueSize: 2 })
      yield* addServer(hub, "a")
      const slow = yield* hub.subscribe(undefined)
      // Nobody reads while 5 events go by: the sliding queue keeps the last 2.
      for (let n = 1; n <= 5; n++) yield* bump(hub, "a", n)
      const got = yield* Effect.map(Stream.runCollect(slow), Chunk.toReadonlyArray)
      expect(got.map((d) => d.event.event)).toEqual(["resync"])
      expect(got[0]!.event.data).toEqual({ reason: "overflow" })
    }))

  it.scoped("a change that changes nothing is not an event", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make({ epoch: EPOCH })
      yield* addServer(hub, "a")
      yield* bump(hub, "a", 2)
      yield* bump(hub, "a", 2)
      expect((yield* hub.snapshot(false)).eventId).toBe(`${EPOCH}-1`)
    }))

  it.scoped("probe and api news: live only (no number, no ring), folded into the state document", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make({ epoch: EPOCH })
      yield* addServer(hub, "a")
      yield* bump(hub, "a", 2)
      const live = yield* hub.subscribe(`${EPOCH}-1`)
      const fiber = yield* Effect.fork(take(live, 3))
      yield* Effect.yieldNow()
      yield* hub.probeEvent("a", { server: "a", at: 5, probes: [{ backend: "web1", due: 4 }, { backend: "web2", due: 3, ended: 5 }] })
      yield* hub.apiEvent("a", { at: 5, sent: 3, received: 4, messages: { lb_as_set_weight: 1, lb_as_set_weight_reply: 1, control_ping: 1 } })
      yield* hub.apiEvent("a", { at: 6, sent: 4, received: 5, messages: { lb_as_set_weight: 2, lb_as_set_weight_reply: 2 } })
      const got = yield* fiber.await.pipe(Effect.flatten)
      expect(got.map((d) => [d.seq, d.event.event])).toEqual([[undefined, "probe"], [undefined, "api"], [undefined, "api"]])
      // The api news carries every name (the watch sends only the ones that moved).
      expect(got[2]!.event.data).toEqual({ server: "a", api: { at: 6, sent: 4, received: 5, messages: { lb_as_set_weight: 2, lb_as_set_weight_reply: 2, control_ping: 1 } } })
      const doc = yield* hub.snapshot(false)
      expect(doc.eventId).toBe(`${EPOCH}-1`)
      expect(doc.servers[0]).toMatchObject({ probing: [{ backend: "web1", due: 4 }], api: { sent: 4, messages: { control_ping: 1 } } })
      // The probe ends; a maglevd that goes down has no probes in flight.
      yield* hub.probeEvent("a", { server: "a", at: 7, probes: [{ backend: "web1", ended: 7 }] })
      expect((yield* hub.snapshot(false)).servers[0]!.probing).toEqual([])
      yield* hub.probeEvent("a", { server: "a", at: 8, probes: [{ backend: "web1", due: 8 }] })
      yield* bump(hub, "a", 3)
      expect((yield* hub.snapshot(false)).servers[0]!.probing).toBeUndefined()
    }))

  it.scoped("a refresh that changed only the probe times and refresh times is kept without an event", () =>
    Effect.gen(function*() {
      const hub = yield* Hub.make({ epoch: EPOCH })
      yield* addServer(hub, "a")
      const backend = {
        name: "web1", address: "10.0.0.1", healthcheck: "hc", enabled: true, state: "up" as const, counter: 3, rise: 2, fall: 2,
        lastResult: { ok: true, code: "L7OK" as const, durationMs: 3, detail: "HTTP 200" }, lastProbeAt: 100, transitions: [], memberships: []
      }
      yield* hub.updateServer("a", (s) => ({ ...s, connection: "up", backends: [backend], refreshedAt: 100 }))
      expect((yield* hub.snapshot(false)).eventId).toBe(`${EPOCH}-1`)
      yield* hub.updateServer("a", (s) => ({ ...s, backends: [{ ...backend, lastProbeAt: 200, lastResult: { ...backend.lastResult, durationMs: 7 } }], refreshedAt: 200 }))
      const doc = yield* hub.snapshot(false)
      expect(doc.eventId).toBe(`${EPOCH}-1`)
      expect(doc.servers[0]!.backends[0]!.lastProbeAt).toBe(200)
      // What a browser shows (the counter) is an event.
      yield* hub.updateServer("a", (s) => ({ ...s, backends: [{ ...s.backends[0]!, counter: 2 }] }))
      expect((yield* hub.snapshot(false)).eventId).toBe(`${EPOCH}-2`)
    }))
})

describe("SSE over HTTP", () => {
  it.live("event-stream headers, an opening comment, framed events with ids, keep-alive comments", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Frontend.layer({ servers: [], port: 0, keepAliveMs: 20, epoch: EPOCH }))
      const server = Context.get(context, Frontend.FrontendServer)
      const hub = Context.get(context, Hub.Hub)
      yield* addServer(hub, "a")
      const text = yield* Effect.promise(async () => {
        const r = await fetch(`${server.url}view/api/events?since=${EPOCH}-0`)
        expect(r.headers.get("content-type")).toMatch(/^text\/event-stream/)
        expect(r.headers.get("x-accel-buffering")).toBe("no")
        const reader = r.body!.getReader()
        let text = ""
        // Until two keep-alives have come (they come every 20 ms here; 15 s by default).
        while ((text.match(/: keep-alive/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value)
        await reader.cancel()
        return text
      })
      expect(text.startsWith("retry: 2000\n: view events\n\n")).toBe(true)
      // The registration above is no event (nothing a browser shows changed): the first event is a change.
      expect(text).not.toContain("event: server")
      const later = yield* Effect.promise(async () => {
        const r = await fetch(`${server.url}view/api/events?since=${EPOCH}-0`)
        const reader = r.body!.getReader()
        let text = ""
        void Effect.runPromise(bump(hub, "a", 1))
        while (!text.includes("event: server")) text += new TextDecoder().decode((await reader.read()).value)
        await reader.cancel()
        return text
      })
      expect(later).toMatch(new RegExp(`id: ${EPOCH}-1\nevent: server\ndata: \\{.*"id":"a".*\\}\n\n`))
    }).pipe(Effect.scoped, Effect.provide(Logger.remove(Logger.defaultLogger))))
})
