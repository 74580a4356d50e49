/**
 * Heartbeats on WatchEvents, under TestClock: one every 15 seconds whatever
 * else happens (an idle watch stays alive through HTTP body timeouts and
 * proxies), and maglevc ending a watch whose daemon went silent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, HashMap, Schedule, Stream, TestClock } from "effect"
import { HEARTBEAT_INTERVAL_MS, type WatchEvent } from "../../src/api/Api.js"
import type { MaglevClientShape } from "../../src/api/Client.js"
import type { ControlShape } from "../../src/api/Control.js"
import { watchEvents, type WatchServices } from "../../src/api/Watch.js"
import * as Commands from "../../src/cli/Commands.js"
import { execute } from "../../src/cli/Run.js"
import { checkConfigText } from "../../src/config/Check.js"

describe("WatchEvents heartbeats", () => {
  it.scoped("a watch that sees nothing else gets a heartbeat every 15 s, stamped with the clock", () =>
    Effect.gen(function*() {
      const checked = checkConfigText(`maglev:
  healthchecks:
    hc: {type: tcp, port: 80}
  backends:
    a: {address: 10.0.0.1, healthcheck: hc}
`)
      if (checked._tag !== "Valid") throw new Error("the test's configuration is invalid")
      const config = checked.config
      // Neither backend nor frontend events: the watch needs only the snapshot that hydrates.
      const control = { snapshot: Effect.succeed({ config, health: HashMap.empty(), fileWeights: new Map() }) } as unknown as ControlShape
      const services = { checker: {}, control, hub: {} } as unknown as WatchServices
      const events: Array<WatchEvent> = []
      yield* Effect.forkScoped(
        Stream.runForEach(watchEvents(services, { backend: false, frontend: false }), (e) => Effect.sync(() => events.push(e)))
      )
      yield* TestClock.adjust(HEARTBEAT_INTERVAL_MS - 1)
      expect(events.map((e) => e._tag)).toEqual(["Hydrate"])
      yield* TestClock.adjust(1)
      expect(events.slice(1)).toEqual([{ _tag: "Heartbeat", at: HEARTBEAT_INTERVAL_MS }])
      yield* TestClock.adjust(2 * HEARTBEAT_INTERVAL_MS)
      expect(events.slice(1).map((e) => (e._tag === "Heartbeat" ? e.at : -1))).toEqual([1, 2, 3].map((n) => n * HEARTBEAT_INTERVAL_MS))
    }))
})

describe("maglevc watch events", () => {
  const watchWith = (events: Stream.Stream<WatchEvent>) =>
    Effect.gen(function*() {
      const client = { WatchEvents: () => events } as unknown as MaglevClientShape
      const session = yield* Commands.makeSession({ client, url: "http://maglevd.test:9090", color: false, json: false })
      const outcome = yield* Effect.provideService(execute("watch events"), Commands.Session, session)
      if (outcome._tag !== "Watch") throw new Error(`expected a watch, got ${outcome._tag}`)
      return outcome.events
    })

  it.scoped("ends with an error when the daemon sends nothing, not even a heartbeat, for 45 s", () =>
    Effect.gen(function*() {
      const events = yield* watchWith(Stream.never)
      const fiber = yield* Effect.fork(Stream.runCollect(events))
      yield* TestClock.adjust(3 * HEARTBEAT_INTERVAL_MS - 1)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.await(fiber)
      expect(exit).toMatchObject({
        _tag: "Failure",
        cause: { error: { _tag: "ServerError", message: "maglevd at http://maglevd.test:9090 went silent: no heartbeat for 45s" } }
      })
    }))

  it.scoped("heartbeats keep it going and are not shown", () =>
    Effect.gen(function*() {
      const beats = Stream.fromSchedule(Schedule.spaced(HEARTBEAT_INTERVAL_MS)).pipe(
        Stream.map((n): WatchEvent => ({ _tag: "Heartbeat", at: n }))
      )
      const events = yield* watchWith(beats)
      const seen: Array<WatchEvent> = []
      const fiber = yield* Effect.fork(Stream.runForEach(events, (e) => Effect.sync(() => seen.push(e))))
      yield* TestClock.adjust(10 * HEARTBEAT_INTERVAL_MS)
      expect(fiber.unsafePoll()).toBeNull()
      expect(seen).toEqual([])
    }))
})
