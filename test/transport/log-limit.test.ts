/**
 * A misbehaving VPP peer cannot flood the log (issue 15 item 3): a real Unix
 * socket peer completes the handshake, then sends 1,000 frames without a
 * message id and 1,000 that do not decode. Each kind gives one warning with
 * the frame's length, id and reason, then, when the window ends, one line
 * with the count it suppressed. Time is TestClock's: the lines are counted,
 * and the window's end is a `TestClock.adjust`.
 */
import { it } from "@effect/vitest"
import { Effect, HashMap, Logger, LogLevel, TestClock } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { memclnt } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import * as LogLimit from "../../src/internal/LogLimit.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const capture = (lines: Array<Line>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations))
      })
    })
  )

/** memclnt's messages, numbered from 1 as a VPP would: the table the peer announces. */
const table = Object.values(memclnt.messages).map((m, i) => ({ index: i + 1, name: m.nameCrc }))
const PING_REPLY_ID = table.find((e) => e.name === memclnt.ControlPingReply.nameCrc)!.index

const frame = (msgId: number | undefined, payload: Uint8Array = new Uint8Array(0)) => {
  const body = msgId === undefined ? payload : Uint8Array.from([msgId >> 8, msgId & 0xff, ...payload])
  const out = new Uint8Array(Frame.HEADER_SIZE + body.length)
  Frame.writeHeader(out, 0, body.length)
  out.set(body, Frame.HEADER_SIZE)
  return out
}

/**
 * A peer that answers the handshake, then sends `garbage` and closes: its
 * frames reach the client before the close does.
 */
const hostilePeer = (garbage: ReadonlyArray<Uint8Array>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly path: string; readonly server: net.Server; readonly dir: string }>((resume) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-peer-"))
      const socketPath = path.join(dir, "api.sock")
      const server = net.createServer((socket) => {
        socket.once("data", (hello) => {
          // sockclnt_create: 16-byte header, u16 id, then its context (u32).
          const context = Buffer.from(hello).readUInt32BE(Frame.HEADER_SIZE + 2)
          const reply = Frame.encodeFrame(16, Codec.of(memclnt.SockclntCreateReply.schema), {
            _vl_msg_id: 16,
            client_index: 0,
            context,
            response: 0,
            index: 0x80000001,
            count: table.length,
            message_table: table
          } as never)
          if (reply._tag === "Left") throw reply.left
          socket.write(reply.right)
          socket.end(Buffer.concat(garbage.map((g) => Buffer.from(g))))
        })
      })
      server.listen(socketPath, () => resume(Effect.succeed({ path: socketPath, server, dir })))
    }),
    ({ dir, server }) => Effect.sync(() => {
      server.close()
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )

describe("warnings a VPP peer can trigger are rate-limited", () => {
  it.scoped("1,000 frames without an id and 1,000 undecodable ones: one warning each with length, id and reason, then the count", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      const garbage = [
        ...Array.from({ length: 1000 }, () => frame(undefined)),
        // control_ping_reply with 3 payload bytes: its context alone needs 4.
        ...Array.from({ length: 1000 }, () => frame(PING_REPLY_ID, Uint8Array.of(1, 2, 3)))
      ]
      const peer = yield* hostilePeer(garbage)
      yield* Effect.gen(function*() {
        const conn = yield* VppApi.connect({ path: peer.path, modules: [memclnt.definition] })
        const closed = yield* conn.closed
        expect(closed.reason).toBe("VPP closed the API socket")
        const of = (event: string) => lines.filter((l) => l.annotations["event"] === event)
        expect(of("vpp-api-recv-bad")).toEqual([{
          level: "WARN",
          message: "dropped a frame from VPP that has no message id",
          annotations: { event: "vpp-api-recv-bad", length: 0, msgId: null, reason: expect.stringContaining("body of 0 bytes has no message id") }
        }])
        expect(of("vpp-api-recv-undecodable")).toMatchObject([{
          level: "WARN",
          annotations: { length: 5, msgId: PING_REPLY_ID, message: "control_ping_reply", reason: expect.any(String) }
        }])

        // The window ends: one line per event with what it suppressed.
        yield* TestClock.adjust("1 second")
        expect(of("vpp-api-recv-bad")).toHaveLength(2)
        expect(of("vpp-api-recv-bad")[1]).toMatchObject({
          level: "WARN",
          message: "vpp-api-recv-bad: 999 more in the last 1000 ms",
          annotations: { suppressed: 999, length: 0, msgId: null }
        })
        expect(of("vpp-api-recv-undecodable")[1]).toMatchObject({ annotations: { suppressed: 999, length: 5, msgId: PING_REPLY_ID } })
        yield* TestClock.adjust("10 seconds")
        expect(lines.filter((l) => l.level === "WARN")).toHaveLength(4)
      }).pipe(Effect.scoped, Effect.provide(capture(lines)))
    }))
})

describe("LogLimit", () => {
  it.scoped("at most one line per event and window; a steady flood gives one summary per window; events are counted apart", () =>
    Effect.gen(function*() {
      const lines: Array<Line> = []
      yield* Effect.gen(function*() {
        const limit = yield* LogLimit.make({ window: "1 second" })
        const warn = (event: string, n: number) => limit.log(LogLevel.Warning, `${event} ${n}`, { event, n })
        for (let n = 1; n <= 5; n++) yield* warn("a", n)
        yield* warn("b", 1)
        expect(lines.map((l) => l.message)).toEqual(["a 1", "b 1"])
        // Half a window later the flood goes on; the summary comes when the window ends.
        yield* TestClock.adjust("500 millis")
        for (let n = 6; n <= 8; n++) yield* warn("a", n)
        expect(lines).toHaveLength(2)
        yield* TestClock.adjust("500 millis")
        expect(lines.map((l) => [l.message, l.annotations["suppressed"], l.annotations["n"]])).toEqual([
          ["a 1", undefined, 1],
          ["b 1", undefined, 1],
          ["a: 7 more in the last 1000 ms", 7, 8]
        ])
        // Still flooding: the next summary a window after the last line, not before.
        yield* warn("a", 9)
        yield* TestClock.adjust("999 millis")
        expect(lines).toHaveLength(3)
        yield* TestClock.adjust("1 millis")
        expect(lines.at(-1)).toMatchObject({ message: "a: 1 more in the last 1000 ms", annotations: { suppressed: 1, n: 9 } })
        // Quiet for a window: the next one goes out at once, in full.
        yield* TestClock.adjust("1 second")
        yield* warn("a", 10)
        expect(lines.at(-1)).toMatchObject({ message: "a 10", annotations: { event: "a", n: 10 } })
        expect(lines).toHaveLength(5)
      }).pipe(Effect.provide(capture(lines)))
    }))

  it.scoped("unsafeSuppressed counts only what the window would suppress anyway, into the same summary", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const limit = yield* LogLimit.make({ window: "1 second" })
      const ann = (n: number) => ({ event: "a", n })
      // No line yet, then a line out but no summary due: both must go through log.
      expect(limit.unsafeSuppressed(LogLevel.Warning, ann(0))).toBe(false)
      yield* limit.log(LogLevel.Warning, "a 1", ann(1))
      expect(limit.unsafeSuppressed(LogLevel.Warning, ann(2))).toBe(false)
      yield* limit.log(LogLevel.Warning, "a 2", ann(2)) // suppressed: starts the summary
      // Now the summary is due: counted without an Effect.
      for (let n = 3; n <= 10; n++) expect(limit.unsafeSuppressed(LogLevel.Warning, ann(n))).toBe(true)
      expect(lines.map((l) => l.message)).toEqual(["a 1"])
      yield* TestClock.adjust("1 second")
      expect(lines.at(-1)).toMatchObject({ message: "a: 9 more in the last 1000 ms", annotations: { suppressed: 9, n: 10 } })
      // The summary went out: the window starts again, and log decides once more.
      expect(limit.unsafeSuppressed(LogLevel.Warning, ann(11))).toBe(false)
    }).pipe(Effect.provide(capture(lines)))
  })
})
