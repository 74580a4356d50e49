/**
 * The binary-API client against vppsim's API server over a real Unix socket.
 */
import { it } from "@effect/vitest"
import { Cause, Chunk, Effect, Either, Exit, FastCheck, Fiber, HashMap, Logger, LogLevel, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import * as ApiServer from "../../src/sim/ApiServer.js"
import { lb, memclnt, vpe } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import { rawExchange } from "../support/rawSocket.js"
import { waitFor } from "../support/wait.js"
import { FrameReader, FrameTooLarge } from "../../src/vpp/transport/FrameReader.js"
import { activity } from "../../src/vpp/transport/Activity.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"

/** `n` requests of `conn` are waiting for their reply (sent, not a time after sending). */
const inFlight = (conn: VppApi.VppConnection, n: number) => Effect.map(conn.inFlight, (k) => (k === n ? true : undefined))

/** A fresh directory for the socket, removed when the scope closes. */
const socketDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppsim-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const withServer = (options: Partial<ApiServer.ApiServerOptions> = {}) =>
  Effect.flatMap(socketDir, (dir) => ApiServer.make({ path: path.join(dir, "api.sock"), pid: 4242, ...options }))

describe("VppApi client against the simulator", () => {
  it.live("handshake: handle, table, and every bound message known with its CRC", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path })
      expect(conn.handle).toBe(0x80000001)
      expect(conn.table.get("sockclnt_create_455fb9c4")).toBe(15)
      expect(conn.table.get("control_ping_51077d14")).toBe(23)
      expect(conn.table.get(lb.LbAddDelAsV2.nameCrc)).toBeGreaterThan(28)
      const version = yield* conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {})
      expect(version).toMatchObject({ retval: 0, program: "vpe", version: "26.10-rc0~374-gb575ec2c5" })
      const ping = yield* conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {})
      expect(ping).toMatchObject({ retval: 0, client_index: 0x80000001, vpe_pid: 4242 })
      const first = yield* conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "lb_ac602d7b" })
      expect(first.first_msg_id).toBe(conn.table.get("lb_conf_56cd3261"))
      const unknown = yield* Effect.either(conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "nope_12345678" }))
      expect(Either.isLeft(unknown) && unknown.left).toMatchObject({ _tag: "VppApiError", retval: -7 })
      expect(Either.isLeft(unknown) && unknown.left.message).toBe("get_first_msg_id failed: VNET_API_ERROR_INVALID_VALUE (-7)")
    })))

  it.live("a second client gets the next registration, a reconnect reuses the freed one", () =>
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const server = yield* withServer().pipe(Effect.provideService(Scope.Scope, scope))
      const a = yield* Effect.scoped(VppApi.connect({ path: server.path }).pipe(Effect.map((c) => c.handle)))
      expect(a).toBe(0x80000001)
      // a's scope closed: it sent sockclnt_delete and the server freed index 1
      expect(yield* server.registrations).toEqual([])
      const b = yield* VppApi.connect({ path: server.path }).pipe(Effect.provideService(Scope.Scope, scope))
      const c = yield* VppApi.connect({ path: server.path }).pipe(Effect.provideService(Scope.Scope, scope))
      expect([b.handle, c.handle]).toEqual([0x80000001, 0x80000002])
    }).pipe(Effect.scoped))

  it.live("a doctored CRC or a missing message fails the connection with IncompatibleApi listing each", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer({
        doctorTable: (entries) =>
          entries
            .filter((e) => e.name !== lb.LbAsV2Dump.nameCrc)
            .map((e) => (e.name === lb.LbAddDelAsV2.nameCrc ? { ...e, name: "lb_add_del_as_v2_deadbeef" } : e))
      })
      const exit = yield* Effect.exit(Effect.scoped(VppApi.connect({ path: server.path })))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? Chunk.unsafeHead(Cause.failures(exit.cause)) : undefined
      expect(error).toMatchObject({
        _tag: "IncompatibleApi",
        missing: ["lb_as_v2_dump"],
        mismatched: [{ message: "lb_add_del_as_v2", expected: "0x2f1d3b0e", actual: "0xdeadbeef" }]
      })
    })))

  it.live("1,000 pipelined requests all complete, matched by context", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path })
      const replies = yield* Effect.all(
        Array.from({ length: 1000 }, (_, i) =>
          conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: i % 2 === 0 ? "lb_ac602d7b" : "x" })
            .pipe(Effect.either)),
        { concurrency: "unbounded" }
      )
      expect(replies.filter(Either.isRight).length).toBe(500)
      expect(replies.filter(Either.isLeft).length).toBe(500)
      expect(yield* conn.inFlight).toBe(0)
    })))

  it.live("a stalled VPP: the request times out, every waiting request fails, the connection closes", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path, timeout: "200 millis" })
      yield* server.stall
      const waiting = yield* Effect.all(
        [
          Effect.either(conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {})),
          Effect.either(conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {}))
        ],
        { concurrency: "unbounded" }
      )
      // the oldest times out; VPP answers in order, so the one behind it is failed with the connection
      expect(waiting.map((r) => (r._tag === "Left" ? r.left._tag : "ok"))).toEqual(["VppTimeout", "VppDisconnected"])
      expect((yield* conn.closed)._tag).toBe("VppDisconnected")
      const after = yield* Effect.either(conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {}))
      expect(Either.isLeft(after) && after.left._tag).toBe("VppDisconnected")
      expect(yield* conn.inFlight).toBe(0)
      yield* server.resume
    })))

  it.live("a VPP restart fails waiting requests with VppDisconnected, without reconnecting", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path, timeout: "60 seconds" })
      yield* server.stall
      const fiber = yield* Effect.fork(conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {}))
      yield* waitFor("the request in flight", inFlight(conn, 1))
      yield* server.restart(5151)
      yield* server.resume
      const result = yield* Fiber.join(fiber).pipe(Effect.either)
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "VppDisconnected", reason: "VPP closed the API socket" })
      // a new connection works and sees the new pid
      const again = yield* VppApi.connect({ path: server.path })
      expect(again.handle).toBe(0x80000001)
      expect((yield* again.request(memclnt.ControlPing, memclnt.ControlPingReply, {})).vpe_pid).toBe(5151)
    })))

  it.live("requests that do not encode fail typed, before anything is sent", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path })
      const r = yield* Effect.either(conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "x".repeat(80) }))
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "VppRequestInvalid", request: "get_first_msg_id" })
      expect(yield* conn.inFlight).toBe(0)
      // In one tick (the frames of a tick share one buffer): nothing of the bad one goes out before the good one.
      const replies = () => activity.messages.get("get_first_msg_id_reply") ?? 0
      const before = replies()
      const bad = yield* Effect.either(conn.send(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "y".repeat(80) }))
      const good = yield* conn.send(memclnt.ControlPing, memclnt.ControlPingReply, {})
      expect(Either.isLeft(bad)).toBe(true)
      expect(yield* good).toMatchObject({ retval: 0, vpe_pid: 4242 })
      // VPP answers in order: a reply to the bad one would have come before the ping's.
      expect(replies()).toBe(before)
    })))

  it.live("connecting to a missing socket is a typed error", () =>
    Effect.gen(function*() {
      const r = yield* Effect.either(Effect.scoped(VppApi.connect({ path: "/nonexistent/api.sock" })))
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "VppConnectError", path: "/nonexistent/api.sock", reason: "ENOENT" })
    }))
})

describe("the simulator's socket, raw", () => {
  it.live("frames sent a few bytes at a time; unknown ids, bad handles and truncated bodies are dropped", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const create = Either.getOrThrow(Frame.encodeFrame(15, Codec.of(memclnt.SockclntCreate.schema), { context: 124, name: "raw" }))
      const ping = (clientIndex: number, context: number) =>
        Either.getOrThrow(Frame.encodeFrame(23, Codec.of(memclnt.ControlPing.schema), { client_index: clientIndex, context }))
      const unknownId = Either.getOrThrow(Frame.encodeFrame(9999, Codec.of(memclnt.ControlPing.schema), { client_index: 0x80000001, context: 7 }))
      const truncated = (() => {
        const f = ping(0x80000001, 8).slice(0, 16 + 2 + 6)
        Frame.writeHeader(f, 0, 8)
        return f
      })()
      const replies = yield* rawExchange(server.path, {
        frames: [create, unknownId, ping(0x80000063, 9), truncated, ping(0x80000001, 10)],
        maxPiece: 7,
        expect: 2
      })
      const [createReply, pingReply] = replies.map((b) => Either.getOrThrow(Frame.splitBody(b)))
      expect(createReply!.msgId).toBe(16)
      expect(Either.getOrThrow(Codec.of(memclnt.SockclntCreateReply.schema).decode(createReply!.payload))).toMatchObject({
        context: 124, response: 0, index: 0x80000001
      })
      expect(pingReply!.msgId).toBe(24)
      expect(Either.getOrThrow(Codec.of(memclnt.ControlPingReply.schema).decode(pingReply!.payload))).toEqual({
        context: 10, retval: 0, client_index: 0x80000001, vpe_pid: 4242
      })
      expect(yield* server.dropped).toBe(3)
    })))
})


describe("logging", () => {
  it.live("every send and receive is logged at debug as vpp-api-send / vpp-api-recv with the decoded fields", () =>
    Effect.gen(function*() {
      const records: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ logLevel, message, annotations }) => {
        records.push({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* withServer()
        const conn = yield* VppApi.connect({ path: server.path })
        yield* conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "lb_ac602d7b" })
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)), Logger.withMinimumLogLevel(LogLevel.Debug))
      const sent = records.find((r) => r.annotations["event"] === "vpp-api-send" && r.annotations["message"] === "get_first_msg_id")
      expect(sent).toMatchObject({ level: "DEBUG", annotations: { fields: { name: "lb_ac602d7b" } } })
      const got = records.find((r) => r.annotations["event"] === "vpp-api-recv" && r.annotations["message"] === "get_first_msg_id_reply")
      expect(got).toMatchObject({ level: "DEBUG", annotations: { context: sent!.annotations["context"], fields: { retval: 0 } } })
      expect(records.some((r) => r.annotations["message"] === "sockclnt_delete")).toBe(true)
    }))

  it.live("at info level no per-message records are built", () =>
    Effect.gen(function*() {
      let count = 0
      const capture = Logger.make(({ annotations }) => {
        if (String(HashMap.get(annotations, "event").pipe((o) => (o._tag === "Some" ? o.value : ""))).startsWith("vpp-api")) count++
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* withServer()
        const conn = yield* VppApi.connect({ path: server.path })
        yield* conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {})
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)), Logger.withMinimumLogLevel(LogLevel.Info))
      expect(count).toBe(0)
    }))
})

describe("simulator test hooks", () => {
  it.live("delayed replies arrive late but intact; a dropped connection fails its waiters", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* withServer()
      const conn = yield* VppApi.connect({ path: server.path, timeout: "60 seconds" })
      yield* server.delayReplies("150 millis")
      const start = Date.now()
      expect((yield* conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {})).retval).toBe(0)
      expect(Date.now() - start).toBeGreaterThanOrEqual(140)
      yield* server.delayReplies(0)
      const other = yield* VppApi.connect({ path: server.path })
      yield* server.stall
      const waiting = yield* Effect.fork(conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {}))
      yield* waitFor("the request in flight", inFlight(conn, 1))
      yield* server.dropConnections(conn.handle)
      expect(yield* Fiber.join(waiting).pipe(Effect.flip, Effect.map((e) => e._tag))).toBe("VppDisconnected")
      yield* server.resume
      // the other client is untouched
      expect((yield* other.request(memclnt.ControlPing, memclnt.ControlPingReply, {})).retval).toBe(0)
    })))
})

describe("FrameReader", () => {
  /** The frames of `bodies`, one after the other. */
  const streamOf = (bodies: ReadonlyArray<Uint8Array>) =>
    Buffer.concat(bodies.map((b) => {
      const f = new Uint8Array(16 + b.length)
      Frame.writeHeader(f, 0, b.length)
      f.set(b, 16)
      return f
    }))

  it.prop("reassembles any split of a stream of frames", [
    FastCheck.array(FastCheck.uint8Array({ minLength: 2, maxLength: 5000 }), { minLength: 1, maxLength: 20 }),
    FastCheck.array(FastCheck.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 })
  ], ([bodies, cuts]) => {
    const stream = streamOf(bodies)
    const reader = new FrameReader()
    const out: Array<Uint8Array> = []
    for (let i = 0, k = 0; i < stream.length; k++) {
      const n = cuts[k % cuts.length]!
      reader.push(stream.subarray(i, i + n))
      i += n
      let b: Uint8Array | undefined
      while ((b = reader.next()) !== undefined) out.push(b)
    }
    expect(out).toEqual(bodies)
    expect(reader.buffered).toBe(0)
  })

  it.prop("reads straight into its buffer (space, wrote: the client's onread), bodies as views: the same bodies, any split", [
    FastCheck.array(FastCheck.uint8Array({ minLength: 2, maxLength: 5000 }), { minLength: 1, maxLength: 20 }),
    FastCheck.array(FastCheck.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 50 }),
    FastCheck.integer({ min: 1, max: 4096 })
  ], ([bodies, cuts, min]) => {
    const stream = streamOf(bodies)
    const reader = new FrameReader()
    const out: Array<Uint8Array> = []
    for (let i = 0, k = 0; i < stream.length; k++) {
      // A read fills at most what was offered (the space) or what the socket holds (the cut).
      const space = reader.space(min)
      expect(space.length).toBeGreaterThanOrEqual(min)
      const n = Math.min(cuts[k % cuts.length]!, space.length, stream.length - i)
      space.set(stream.subarray(i, i + n))
      reader.wrote(n)
      i += n
      // A view is read before the next read, as the client decodes it at once (copied here to keep it).
      let b: Uint8Array | undefined
      while ((b = reader.nextView()) !== undefined) out.push(Uint8Array.from(b))
    }
    expect(out).toEqual(bodies)
    expect(reader.buffered).toBe(0)
  })

  it("refuses a frame announcing more than the limit instead of allocating it", () => {
    const reader = new FrameReader(1024)
    const header = new Uint8Array(16)
    Frame.writeHeader(header, 0, 4096)
    reader.push(header)
    expect(() => reader.next()).toThrow(FrameTooLarge)
  })
})
