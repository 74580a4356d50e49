/**
 * A frontend in panic (min-healthy) end to end: the daemon's services over the
 * simulator, the RPC API, a watcher. The LB sync's panic start and end reach
 * the watcher as `FrontendPanicEvent`s; the frontend's state is `panic` in its
 * FrontendEvents, in GetFrontend and in the frontend-transition log line (the
 * kept weights serve whatever health says), and back to `up` after.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import type { WatchEvent } from "../../src/api/Api.js"
import { FAIL, settled, waitFor, weights, withApi, yaml } from "./support.js"

type Of<T extends WatchEvent["_tag"]> = Extract<WatchEvent, { readonly _tag: T }>

describe("RPC API: a frontend in panic", () => {
  it.scopedLive("FrontendPanicEvent at its start and end, state panic in the API and the log while the kept weights serve", () =>
    withApi({ frontendState: true }, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        // min-healthy 2: the primary pool (a, b) needs both up.
        fs.writeFileSync(f.file, yaml({}, "      min-healthy: 2\n"))
        const reload = yield* api.ReloadConfig()
        expect(reload.result._tag).toBe("Valid")
        yield* waitFor("the reload applied", Effect.map(api.GetFrontend({ name: "web" }), (w) => (w.minHealthy === "2" ? w : undefined)))

        const events: Array<WatchEvent> = []
        yield* Effect.forkScoped(Stream.runForEach(api.WatchEvents({ backend: false, logLevel: "info" }), (e) => Effect.sync(() => events.push(e))))
        yield* waitFor("the hydrating message", Effect.sync(() => (events.length > 0 ? true : undefined)))
        const of = <T extends WatchEvent["_tag"]>(tag: T) => events.filter((e): e is Of<T> => e._tag === tag)
        const logged = (event: string) => of("LogEvent").filter((l) => l.annotations["event"] === event)

        // a down: one up of two in the primary pool, so the last good weights stay (a keeps 50).
        f.answers.set("a", FAIL)
        const start = yield* waitFor("the panic event", Effect.sync(() => of("FrontendPanicEvent")[0]))
        expect(start).toMatchObject({ frontend: "web", panic: true, pool: "primary", up: 1, threshold: 2, minHealthy: "2", keptPool: "primary" })
        const toPanic = yield* waitFor("the state panic", Effect.sync(() => of("FrontendEvent").find((e) => e.to === "panic")))
        expect(toPanic).toMatchObject({ from: "up", to: "panic", activePool: "primary" })
        expect(toPanic.info.panic).toMatchObject({ pool: "primary", up: 1, threshold: 2, keptPool: "primary", kept: ["b", "a"] })
        expect(of("FrontendEvent").some((e) => e.to === "down")).toBe(false)
        yield* waitFor("VPP keeps the weights", Effect.sync(() => {
          const w = weights(f.sim)
          return w["10.0.0.1"] === 50 && w["10.0.0.2"] === 100 && w["10.0.0.3"] === 0 ? true : undefined
        }))
        const web = yield* api.GetFrontend({ name: "web" })
        expect(web.state).toBe("panic")
        expect(web.pools[0]!.backends.map((b) => [b.backend, b.state, b.effectiveWeight])).toEqual([["b", "up", 100], ["a", "down", 50]])
        const transition = yield* waitFor("the frontend-transition line", Effect.sync(() => logged("frontend-transition")[0]))
        expect(transition).toMatchObject({ level: "warn", annotations: { frontend: "web", from: "up", to: "panic", active_pool: "primary", serving: 2 } })
        expect(logged("frontend-panic")[0]).toMatchObject({ level: "warn", annotations: { frontend: "web", up: 1, threshold: 2 } })

        // a up again: the panic ends, the frontend is up.
        f.answers.clear()
        const end = yield* waitFor("the panic's end", Effect.sync(() => of("FrontendPanicEvent")[1]))
        expect(end).toMatchObject({ frontend: "web", panic: false, reason: "healthy", pool: "primary", up: 2, threshold: 2, since: start.since })
        expect(end.durationMs).toBeGreaterThanOrEqual(0)
        yield* waitFor("the state up", Effect.sync(() => of("FrontendEvent").find((e) => e.from === "panic" && e.to === "up")))
        yield* waitFor("the transition back", Effect.sync(() => logged("frontend-transition").find((l) => l.annotations["to"] === "up")))
        expect((yield* api.GetFrontend({ name: "web" })).state).toBe("up")
        expect(of("FrontendPanicEvent")).toHaveLength(2)
      })), 60_000)
})
