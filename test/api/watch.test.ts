/**
 * WatchEvents over HTTP: the hydrating first message, backend transitions,
 * frontend state and active-pool changes (after health changes and after a
 * weight override, which changes no backend), log records at the asked level
 * whatever the daemon's own level, the filters, and the server letting go of
 * a watcher's subscriptions when the client stops. Asked for: every change of
 * a frontend, the probes starting and ending, the binary-API message counts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import type { WatchEvent } from "../../src/api/Api.js"
import * as ProbeActivity from "../../src/health/ProbeActivity.js"
import { FAIL, type Fixture, settled, waitFor, withApi } from "./support.js"

type Of<T extends WatchEvent["_tag"]> = Extract<WatchEvent, { readonly _tag: T }>

/** Collects a watcher's events in the background. */
const watch = (f: Fixture, request: Parameters<Awaited<Effect.Effect.Success<ReturnType<Fixture["client"]>>>["WatchEvents"]>[0]) =>
  Effect.gen(function*() {
    const api = yield* f.client()
    const events: Array<WatchEvent> = []
    const fiber = yield* Effect.forkScoped(Stream.runForEach(api.WatchEvents(request), (e) => Effect.sync(() => events.push(e))))
    yield* waitFor("the hydrating message", Effect.sync(() => (events.length > 0 ? true : undefined)))
    const of = <T extends WatchEvent["_tag"]>(tag: T) => events.filter((e): e is Of<T> => e._tag === tag)
    return { events, fiber, of }
  })

describe("RPC API: WatchEvents", () => {
  it.scopedLive("hydrates, then streams what each watcher asked for", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const all = yield* watch(f, {})
        const frontendsOnly = yield* watch(f, { backend: false })
        const backendsAndInfo = yield* watch(f, { frontend: false, logLevel: "info" })
        const debugLogs = yield* watch(f, { backend: false, frontend: false, logLevel: "debug" })
        expect(yield* f.hub.subscribers).toBe(2)

        const [hydrate] = all.events
        expect(hydrate?._tag).toBe("Hydrate")
        if (hydrate?._tag === "Hydrate") {
          expect(hydrate.backends.map((b) => [b.name, b.state])).toEqual([["a", "up"], ["b", "up"], ["c", "up"]])
          expect(hydrate.frontends.map((x) => [x.name, x.state, x.activePool])).toEqual([["web", "up", "primary"]])
        }
        expect(frontendsOnly.events[0]).toMatchObject({ _tag: "Hydrate", backends: [] })
        expect(backendsAndInfo.events[0]).toMatchObject({ _tag: "Hydrate", frontends: [] })
        expect(debugLogs.events[0]).toEqual({ _tag: "Hydrate", backends: [], frontends: [] })

        // a down: a transition, the frontend stays up on the primary pool.
        f.answers.set("a", FAIL)
        yield* waitFor("a down", Effect.sync(() => (all.of("BackendEvent").length >= 1 ? true : undefined)))
        expect(all.of("BackendEvent")[0]).toMatchObject({
          transition: { from: "up", to: "down", cause: "probe", result: { code: "L4CON" } },
          backend: { name: "a", state: "down", memberships: [{ pool: "primary", effectiveWeight: 0 }] }
        })
        // b down: the backup pool takes over; c down: the frontend is down.
        f.answers.set("b", FAIL)
        yield* waitFor("failover", Effect.sync(() => (all.of("FrontendEvent").length >= 1 ? true : undefined)))
        f.answers.set("c", FAIL)
        yield* waitFor("frontend down", Effect.sync(() => (all.of("FrontendEvent").length >= 2 ? true : undefined)))
        expect(all.of("FrontendEvent").map((e) => [e.from, e.to, e.activePoolFrom, e.activePool])).toEqual([
          ["up", "up", "primary", "backup"],
          ["up", "down", "backup", undefined]
        ])
        expect(all.of("FrontendEvent")[1]!.info.pools.flatMap((p) => p.backends.map((b) => b.state))).toEqual(["down", "down", "down"])
        expect(all.of("BackendEvent").map((e) => [e.backend.name, e.transition.to])).toEqual([["a", "down"], ["b", "down"], ["c", "down"]])

        // Everything back; then a weight override alone (no transition) moves the active pool.
        f.answers.clear()
        yield* waitFor("all up", Effect.sync(() => (all.of("FrontendEvent").length >= 3 && all.of("BackendEvent").length >= 6 ? true : undefined)))
        const api = yield* f.client()
        yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "b", weight: 0 })
        yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 0 })
        yield* waitFor("override failover", Effect.sync(() => (all.of("FrontendEvent").at(-1)?.activePool === "backup" ? true : undefined)))
        expect(all.of("FrontendEvent").at(-1)).toMatchObject({ from: "up", to: "up", activePoolFrom: "primary", activePool: "backup" })
        yield* waitFor("the frontend-only watcher too", Effect.sync(() => (frontendsOnly.of("FrontendEvent").at(-1)?.activePool === "backup" ? true : undefined)))

        // The filters.
        expect(frontendsOnly.of("BackendEvent")).toEqual([])
        expect(frontendsOnly.of("LogEvent")).toEqual([])
        expect(all.of("LogEvent")).toEqual([])
        expect(backendsAndInfo.of("FrontendEvent")).toEqual([])
        expect(backendsAndInfo.of("BackendEvent").length).toBeGreaterThanOrEqual(6)
        const infoLogs = backendsAndInfo.of("LogEvent")
        expect(infoLogs.every((l) => l.level !== "debug")).toBe(true)
        expect(infoLogs.find((l) => l.annotations["event"] === "backend-transition" && l.annotations["backend"] === "a"))
          .toMatchObject({ level: "info", message: "backend transition", annotations: { from: "up", to: "down", code: "L4CON" } })
        expect(infoLogs.some((l) => l.annotations["event"] === "frontend-weight-set")).toBe(true)
        expect(debugLogs.of("BackendEvent").length + debugLogs.of("FrontendEvent").length).toBe(0)
        // Debug records reach the debug watcher (the daemon's minimum is Debug: support.ts).
        expect(debugLogs.of("LogEvent").some((l) => l.level === "debug" && l.annotations["event"] === "vpp-lbsync-start")).toBe(true)

        // A client that stops watching releases the server's subscriptions.
        for (const w of [all, frontendsOnly, backendsAndInfo, debugLogs]) yield* Fiber.interrupt(w.fiber)
        yield* waitFor("the log subscriptions released", Effect.map(f.hub.subscribers, (n) => (n === 0 ? true : undefined)))
      })), 60_000)

  it.scopedLive("asked for: every frontend change, probes in batches, the binary-API counts", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const news = yield* watch(f, { backend: false, frontendDetail: true, probes: true, vppApi: true })
        const plain = yield* watch(f, { backend: false })
        // The first VppApiEvent at once: the baseline, every message name so far.
        const first = yield* waitFor("the first API counts", Effect.sync(() => news.of("VppApiEvent")[0]))
        expect(first.sent).toBeGreaterThan(0)
        expect(first.received).toBeGreaterThan(0)
        expect(first.messages["lb_add_del_vip_v2"]).toBeGreaterThanOrEqual(1)
        // Each VppApiEvent has the names whose count moved: folded, they are the counts now.
        const counts = (): Record<string, number> => Object.assign({}, ...news.of("VppApiEvent").map((e) => e.messages))
        const setWeights = first.messages["lb_as_set_weight"] ?? 0

        // The probes as the rounds report them (the scripted prober has no rounds: the hook is called as Rounds.ts does).
        const batches = news.of("ProbeEvent").length
        expect(ProbeActivity.listeners).not.toBeNull()
        ProbeActivity.started("a", 1234)
        ProbeActivity.started("b", 1235)
        ProbeActivity.ended("b")
        const batch = yield* waitFor("a probe batch", Effect.sync(() => news.of("ProbeEvent")[batches]))
        expect(batch.probes).toEqual([{ backend: "a", due: 1234 }, { backend: "b", due: 1235, ended: expect.any(Number) }])
        ProbeActivity.ended("a")
        const end = yield* waitFor("the end", Effect.sync(() => news.of("ProbeEvent")[batches + 1]))
        expect(end.probes).toEqual([{ backend: "a", ended: expect.any(Number) }])

        // A weight override that changes neither the state nor the active pool: only the detail watcher hears of it,
        // and maglevd tells VPP (lb_as_set_weight and its reply), which the counts show.
        const api = yield* f.client()
        yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 30 })
        const changed = yield* waitFor("the override", Effect.sync(() => news.of("FrontendEvent").at(-1)))
        expect(changed).toMatchObject({ from: "up", to: "up", activePool: "primary" })
        expect(changed.info.pools[0]!.backends.find((b) => b.backend === "a")).toMatchObject({ weight: 30, fileWeight: 50 })
        const moved = yield* waitFor("the API counts moving", Effect.sync(() => ((counts()["lb_as_set_weight_reply"] ?? 0) > setWeights ? counts() : undefined)))
        expect(moved["lb_as_set_weight"]).toBeGreaterThan(setWeights)
        expect(news.of("VppApiEvent").at(-1)!.sent).toBeGreaterThan(first.sent)
        expect(plain.of("FrontendEvent")).toEqual([])
        expect(plain.of("ProbeEvent").length + plain.of("VppApiEvent").length).toBe(0)

        yield* Fiber.interrupt(news.fiber)
        yield* waitFor("the probe listener gone", Effect.sync(() => (ProbeActivity.listeners === null ? true : undefined)))
      })), 60_000)

  it.scopedLive("a watcher that only takes a few events lets go too", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        const api = yield* f.client()
        const firstTwo = yield* api.WatchEvents({ logLevel: "debug" }).pipe(Stream.take(2), Stream.runCollect)
        expect([...firstTwo].map((e) => e._tag)).toEqual(["Hydrate", "LogEvent"])
        yield* waitFor("the log subscription released", Effect.map(f.hub.subscribers, (n) => (n === 0 ? true : undefined)))
      })), 30_000)

  it.scopedLive("stopping the server ends an open stream instead of hanging on it", () =>
    Effect.gen(function*() {
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
      yield* withApi({}, (f) =>
        Effect.gen(function*() {
          const body = JSON.stringify({ _tag: "Request", id: "1", tag: "WatchEvents", payload: {}, headers: [] }) + "\n"
          const response = yield* Effect.promise(() => fetch(f.server.url, { method: "POST", body }))
          reader = response.body!.getReader()
          const first = yield* Effect.promise(() => reader!.read())
          expect(new TextDecoder().decode(first.value)).toContain("Hydrate")
        }))
      // The server is gone: the response ends (possibly with a last message), it does not hang.
      const end = yield* Effect.promise(async () => {
        for (;;) {
          const r = await reader!.read().catch(() => ({ done: true as const, value: undefined }))
          if (r.done) return "ended"
        }
      }).pipe(Effect.timeout("60 seconds"))
      expect(end).toBe("ended")
    }), 120_000)
})
