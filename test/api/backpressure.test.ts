/**
 * WatchEvents against clients that do not play along (issue 15 item 1): a
 * cap on open watches, debug records only for the token's holder, a reader
 * that stops reading dropped with a last `Overflow` event rather than
 * buffered without bound, and debug records built only while a watcher
 * wants them. Real HTTP on 127.0.0.1; progress is waited for as events.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, HashMap, Logger, LogLevel, Option, Stream } from "effect"
import * as net from "node:net"
import { settled, waitFor, withApi } from "./support.js"

const TOKEN = "s3cret"

describe("RPC API: WatchEvents limits", () => {
  it.scopedLive("at most maxWatchers watches at once: the next is Busy (logged rate-limited) until one ends", () =>
    withApi({ server: { maxWatchers: 2 } }, (f) =>
      Effect.gen(function*() {
        const api = yield* f.client()
        const first = yield* Effect.forkScoped(Stream.runDrain(api.WatchEvents({ logLevel: "warn" })))
        yield* Effect.forkScoped(Stream.runDrain(api.WatchEvents({ logLevel: "warn" })))
        yield* waitFor("two watchers", Effect.map(f.hub.subscribers, (n) => (n === 2 ? true : undefined)))
        const warnings = yield* f.hub.subscribe(LogLevel.Warning)
        for (let i = 0; i < 3; i++) {
          const refused = yield* Effect.flip(Stream.runDrain(api.WatchEvents({})))
          expect(refused).toMatchObject({ _tag: "Busy", reason: expect.stringContaining("2 watches open already") })
        }
        const logged = yield* Stream.runHead(warnings)
        expect(logged._tag === "Some" && logged.value.annotations).toMatchObject({ event: "rpc-watch-refused", max_watchers: 2 })
        yield* Fiber.interrupt(first)
        // The place is free once the server has seen the client go.
        const third = yield* waitFor("a place free", Effect.map(Effect.option(Stream.runHead(api.WatchEvents({}))), (o) => Option.getOrUndefined(o)))
        expect(Option.map(third, (e) => e._tag)).toEqual(Option.some("Hydrate"))
      })))

  it.scopedLive("with a token, debug records are the token holder's: info is anyone's", () =>
    withApi({ server: { token: TOKEN } }, (f) =>
      Effect.gen(function*() {
        const anonymous = yield* f.client()
        expect(yield* Effect.flip(Stream.runDrain(anonymous.WatchEvents({ logLevel: "debug" })))).toMatchObject({ _tag: "Unauthorized" })
        const info = yield* Stream.runHead(anonymous.WatchEvents({ logLevel: "info" }))
        expect(info._tag === "Some" && info.value._tag).toBe("Hydrate")
        const operator = yield* f.client(TOKEN)
        const debug = yield* Stream.runHead(operator.WatchEvents({ logLevel: "debug" }))
        expect(debug._tag === "Some" && debug.value._tag).toBe("Hydrate")
      })))

  it.scopedLive("a reader that stops reading is dropped: its backlog thrown away, its stream ended by Overflow, its subscription released", () =>
    withApi({ server: { maxStreamBytes: 64 * 1024 } }, (f) =>
      Effect.gen(function*() {
        const warnings = yield* f.hub.subscribe(LogLevel.Warning)
        const overflowLine = yield* Effect.forkScoped(
          Stream.runHead(Stream.filter(warnings, (r) => r.annotations["event"] === "rpc-watch-overflow"))
        )
        // A raw client: it sends its request and then does not read.
        const socket = net.createConnection({ host: "127.0.0.1", port: f.server.port })
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        const body = JSON.stringify({ _tag: "Request", id: "7", tag: "WatchEvents", payload: { logLevel: "info", backend: false }, headers: [] }) + "\n"
        const received: Array<Buffer> = []
        socket.on("data", (d: Buffer) => received.push(d))
        socket.pause()
        socket.write(`POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/ndjson\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
        yield* waitFor("the watcher", Effect.map(f.hub.subscribers, (n) => (n === 2 ? true : undefined)))
        // Big records until the server gives up on it (the kernel takes megabytes before Node sees back-pressure).
        const big = "x".repeat(64 * 1024)
        yield* waitFor(
          "the overflow",
          Effect.gen(function*() {
            for (let i = 0; i < 32; i++) yield* Effect.logInfo(big).pipe(Effect.annotateLogs({ event: "test-filler" }))
            return (yield* Fiber.poll(overflowLine))._tag === "Some" ? true : undefined
          }),
          120_000
        )
        const logged = yield* Fiber.join(overflowLine)
        expect(logged._tag === "Some" && logged.value.annotations).toMatchObject({ limit_bytes: 64 * 1024 })
        yield* waitFor("the subscription released", Effect.map(f.hub.subscribers, (n) => (n === 1 ? true : undefined)))

        // Now it reads: what was queued before the drop, then the Overflow event and the end of the stream.
        socket.resume()
        const text = yield* waitFor(
          "the end of the response",
          Effect.sync(() => {
            const t = Buffer.concat(received).toString()
            return t.includes("\r\n0\r\n\r\n") ? t : undefined
          }),
          60_000
        )
        const messages = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, any>)
        const chunks = messages.filter((m) => m["_tag"] === "Chunk").flatMap((m) => m["values"] as Array<Record<string, unknown>>)
        expect(chunks[0]).toMatchObject({ _tag: "Hydrate" })
        expect(chunks.at(-1)).toMatchObject({ _tag: "Overflow", limitBytes: 64 * 1024, queuedBytes: expect.any(Number) })
        expect((chunks.at(-1)!["queuedBytes"] as number)).toBeGreaterThan(64 * 1024)
        expect(messages.at(-1)).toMatchObject({ _tag: "Exit", requestId: "7", exit: { _tag: "Success" } })
      })))

  it.scopedLive("debug records of the binary-API transport are built only while someone watches at debug", () =>
    Effect.gen(function*() {
      let vppRecords = 0
      const counter = Logger.make(({ annotations }) => {
        const event = HashMap.get(annotations, "event")
        if (event._tag === "Some" && String(event.value).startsWith("vpp-api-")) vppRecords++
      })
      yield* withApi({ printed: LogLevel.Info }, (f) =>
        Effect.gen(function*() {
          yield* settled(f)
          const api = yield* f.client()
          yield* api.GetVPPLBState()
          expect(vppRecords).toBe(0)
          const watcher = yield* Effect.forkScoped(Stream.runDrain(api.WatchEvents({ logLevel: "debug" })))
          yield* waitFor("the debug watcher", Effect.map(f.hub.subscribers, (n) => (n === 1 ? true : undefined)))
          yield* api.GetVPPLBState()
          expect(vppRecords).toBeGreaterThan(4)
          yield* Fiber.interrupt(watcher)
          yield* waitFor("the watcher gone", Effect.map(f.hub.subscribers, (n) => (n === 0 ? true : undefined)))
          const before = vppRecords
          yield* api.GetVPPLBState()
          expect(vppRecords).toBe(before)
          // An info watcher does not make them either.
          yield* Effect.forkScoped(Stream.runDrain(api.WatchEvents({ logLevel: "info" })))
          yield* waitFor("the info watcher", Effect.map(f.hub.subscribers, (n) => (n === 1 ? true : undefined)))
          yield* api.GetVPPLBState()
          expect(vppRecords).toBe(before)
        })).pipe(Effect.provide(Logger.add(counter)))
    }))
})
