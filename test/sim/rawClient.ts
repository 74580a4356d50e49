/**
 * A raw socket client for the vppsim tests: frames encoded with any schema
 * (the widened ones included, to send what our client refuses), and the
 * bodies received handed out in order.
 */
import { Effect, Either } from "effect"
import * as net from "node:net"
import { memclnt } from "../../src/vpp/binapi/index.js"
import * as binapi from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import type { Schema } from "effect"
import type { Message } from "../../src/vpp/codec/Wire.js"
import { FrameReader } from "../../src/vpp/transport/FrameReader.js"
import { buildTable } from "../../src/sim/ApiServer.js"

export const allMessages = new Map(binapi.modules.flatMap((m) => Object.values(m.messages).map((msg) => [msg.name, msg] as const)))
const byNameCrc = new Map([...allMessages.values()].map((msg) => [msg.nameCrc, msg] as const))

export const encode = (id: number, schema: Schema.Schema.Any, value: Record<string, unknown>): Uint8Array => {
  const frame = Frame.encodeFrame(id, Codec.of(schema) as Codec.Codec<unknown>, value)
  if (Either.isLeft(frame)) throw frame.left
  return frame.right
}

export const decode = (message: Message, body: Uint8Array): Record<string, unknown> => {
  const f = Frame.splitBody(body)
  if (Either.isLeft(f)) throw f.left
  const d = (Codec.of(message.schema) as Codec.Codec<Record<string, unknown>>).decode(f.right.payload, { allowTrailing: true })
  if (Either.isLeft(d)) throw d.left
  return d.right
}

export const idOf = (body: Uint8Array): number => (body[0]! << 8) | body[1]!

export interface RawClient {
  readonly socket: net.Socket
  /** message name → id, from the handshake's table */
  readonly ids: ReadonlyMap<string, number>
  /** the registration handle (client_index) */
  readonly handle: number
  /** the next body received */
  readonly next: Effect.Effect<Uint8Array>
  /** the next `n` bodies */
  readonly take: (n: number) => Effect.Effect<Array<Uint8Array>>
  /** sends a request of `message` encoded with `schema` (default: the message's own) */
  readonly send: (message: Message, value: Record<string, unknown>, schema?: Schema.Schema.Any) => void
  /** sends the request and a control_ping after it; the bodies before the ping's reply */
  readonly exchange: (message: Message, value: Record<string, unknown>, schema?: Schema.Schema.Any) => Effect.Effect<Array<Uint8Array>>
  /** exchange, expecting exactly one reply: decoded with `reply` */
  readonly request: (message: Message, reply: Message, value: Record<string, unknown>, schema?: Schema.Schema.Any) => Effect.Effect<Record<string, unknown>>
}

/** Connects, does the sockclnt_create handshake, and closes with the scope. */
export const rawClient = (socketPath: string, name = "raw-test") =>
  Effect.gen(function*() {
    const bodies: Array<Uint8Array> = []
    const waiting: Array<(b: Uint8Array) => void> = []
    const socket = yield* Effect.acquireRelease(
      Effect.async<net.Socket, Error>((resume) => {
        const s = net.createConnection({ path: socketPath })
        const reader = new FrameReader()
        s.on("data", (d) => {
          reader.push(d)
          let b: Uint8Array | undefined
          while ((b = reader.next()) !== undefined) {
            const w = waiting.shift()
            if (w !== undefined) w(b)
            else bodies.push(b)
          }
        })
        s.on("error", (e) => resume(Effect.fail(e)))
        s.on("connect", () => resume(Effect.succeed(s)))
      }),
      (s) => Effect.sync(() => s.destroy())
    )
    let head = 0
    const shift = (): Uint8Array | undefined => {
      if (head >= bodies.length) return undefined
      const b = bodies[head++]
      if (head > 4096 && head * 2 > bodies.length) {
        bodies.splice(0, head)
        head = 0
      }
      return b
    }
    const next = Effect.async<Uint8Array>((resume) => {
      const b = shift()
      if (b !== undefined) resume(Effect.succeed(b))
      else waiting.push((x) => resume(Effect.succeed(x)))
    })
    const take = (n: number) =>
      Effect.async<Array<Uint8Array>>((resume) => {
        const out: Array<Uint8Array> = []
        const pull = () => {
          let b: Uint8Array | undefined
          while (out.length < n && (b = shift()) !== undefined) out.push(b)
          if (out.length === n) resume(Effect.succeed(out))
          else waiting.push((x) => {
            out.push(x)
            pull()
          })
        }
        pull()
      })
    // memclnt's ids are fixed (vpp-wire.md §1): the handshake needs no table
    const createId = buildTable(binapi.modules).entries.find((e) => e.name === memclnt.SockclntCreate.nameCrc)!.index
    socket.write(encode(createId, memclnt.SockclntCreate.schema, { context: 1, name }))
    const reply = decode(memclnt.SockclntCreateReply, yield* next)
    const ids = new Map<string, number>()
    for (const e of reply["message_table"] as Array<{ index: number; name: string }>) ids.set(byNameCrc.get(e.name)!.name, e.index)
    const handle = reply["index"] as number
    let context = 1000
    const send = (message: Message, value: Record<string, unknown>, schema?: Schema.Schema.Any) =>
      void socket.write(encode(ids.get(message.name)!, schema ?? message.schema, { client_index: handle, ...value }))
    const exchange = (message: Message, value: Record<string, unknown>, schema?: Schema.Schema.Any) =>
      Effect.gen(function*() {
        const ctx = ++context
        send(message, { context: ctx, ...value }, schema)
        send(memclnt.ControlPing, { context: 0x7f000000 + ctx })
        const got: Array<Uint8Array> = []
        while (true) {
          const b = yield* next
          if (idOf(b) === ids.get("control_ping_reply") && decode(memclnt.ControlPingReply, b)["context"] === 0x7f000000 + ctx) return got
          got.push(b)
        }
      })
    const client: RawClient = {
      socket,
      ids,
      handle,
      next,
      take,
      send,
      exchange,
      request: (message, replyMessage, value, schema) =>
        Effect.map(exchange(message, value, schema), (got) => {
          if (got.length !== 1 || idOf(got[0]!) !== ids.get(replyMessage.name)) {
            throw new Error(`${message.name}: expected one ${replyMessage.name}, got ${got.length} bodies`)
          }
          return decode(replyMessage, got[0]!)
        })
    }
    return client
  })
