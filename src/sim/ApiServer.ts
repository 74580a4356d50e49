/**
 * The binary-API side of vppsim: a Unix stream socket that behaves as VPP's
 * socket server does (vpp-wire.md §1): 16-byte framing, the `sockclnt_create`
 * handshake with the full name_crc -> id table, registrations addressed by
 * `client_index` (bit 31 + pool index, lowest free index first, freed ones
 * reused last-in first-out), each connection's messages handled strictly in
 * arrival order, unknown ids / bad handles / truncated bodies dropped without
 * a reply, replies copying the request's context.
 *
 * Message handlers are plugged in by name (`handlers`); memclnt and vpe are
 * built in, the lb plugin model is added by `Simulator`. Test hooks can stall
 * the server, delay replies, drop connections and restart it.
 */
import { Deferred, Duration, Effect, Either, FiberSet, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as binapi from "../vpp/binapi/index.js"
import { memclnt, vpe } from "../vpp/binapi/index.js"
import * as Codec from "../vpp/codec/Codec.js"
import * as Frame from "../vpp/codec/Frame.js"
import type { Message, Module } from "../vpp/codec/Wire.js"
import { ByteSink } from "../internal/ByteSink.js"
import { trace } from "../internal/Trace.js"
import { FrameReader } from "../vpp/transport/FrameReader.js"
import * as Core from "./Core.js"
import * as VppView from "./internal/VppView.js"

/** One table entry as `sockclnt_create_reply` carries it. */
export interface TableEntry {
  readonly index: number
  readonly name: string
}

/** A reply to send: the message and its fields (context is filled in from the request when absent). */
export interface Reply {
  readonly message: Message
  readonly fields: Record<string, unknown>
}

export interface Registration {
  readonly index: number
  readonly handle: number
  readonly name: string
}

/** What a handler sees: the decoded request, the registration it names, and a way to reply. */
export interface RequestContext {
  readonly registration: Registration
  /** the raw context bytes of the request, as a u32 */
  readonly context: number
}

/**
 * Replies directly, or an Effect for handlers that need one (time, state in Refs). The replies
 * may be a lazy iterable (a dump's details): each is encoded as it comes, so a dump of 32,000
 * details never holds 32,000 objects at once (they died young instead of surviving scavenges).
 */
export type Handler = (
  request: any,
  ctx: RequestContext
) => Iterable<Reply> | Effect.Effect<Iterable<Reply>>

export interface ApiServerOptions {
  readonly path: string
  /** modules whose messages get ids (memclnt first, fixed at 1..28); default every bound module */
  readonly modules?: ReadonlyArray<Module>
  /** message name -> handler, in addition to (or replacing) the built-in memclnt/vpe ones */
  readonly handlers?: Readonly<Record<string, Handler>>
  /** VPP's process id, reported by control_ping_reply */
  readonly pid?: number
  /** rewrite the table before it is sent, e.g. to doctor a CRC (for incompatibility tests) */
  readonly doctorTable?: (entries: ReadonlyArray<TableEntry>) => ReadonlyArray<TableEntry>
  readonly version?: { readonly program: string; readonly version: string; readonly build_date: string; readonly build_directory: string }
  /**
   * The bytes all connections together may hold (requests read but not yet
   * handled, replies not yet taken by the client). Past it the connection
   * holding the most is closed. Default `DEFAULT_MAX_BUFFERED_BYTES`.
   */
  readonly maxBufferedBytes?: number
}

/** What the connections may buffer together by default. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/**
 * A connection stops being read, or its next request waits, once it holds
 * this much input or output: an eighth of the cap, within 16 KiB..1 MiB.
 */
export const highWaterOf = (maxBufferedBytes: number): number =>
  Math.max(16 * 1024, Math.min(1024 * 1024, Math.floor(maxBufferedBytes / 8)))

const NO_OVER = {}
/** Every request is decoded as VPP reads it: the tail of an over-long body ignored. */
const TRAILING: Codec.DecodeOptions = { allowTrailing: true }

/** One connection's buffers, for tests and the overflow log. */
export interface ConnectionBuffers {
  readonly handle: number
  /** read from the socket, not yet handled */
  readonly input: number
  /** replies written, not yet taken by the kernel */
  readonly output: number
  /** reading stopped (input above the high-water mark) or requests waiting for output to drain */
  readonly backpressured: boolean
}

export interface ApiServer {
  readonly path: string
  /** name_crc -> id as served */
  readonly table: ReadonlyArray<TableEntry>
  /** `<module>_<crc hex>` -> first id, as get_first_msg_id answers */
  readonly firstMsgIds: ReadonlyMap<string, number>
  readonly registrations: Effect.Effect<ReadonlyArray<Registration>>
  /** Stop answering: requests queue up until `resume`. */
  readonly stall: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  /** Delay every reply by this much (0 to stop). */
  readonly delayReplies: (delay: Duration.DurationInput) => Effect.Effect<void>
  /** Close one registration's connection (or all), as VPP does when a client dies. */
  readonly dropConnections: (handle?: number) => Effect.Effect<void>
  /** Count of messages dropped (unknown id, bad handle, truncated), for tests. */
  readonly dropped: Effect.Effect<number>
  /** As a VPP restart looks from outside: every connection closed, registrations from 1 again, a new pid. */
  readonly restart: (pid: number) => Effect.Effect<void>
  /** The pid control_ping_reply reports now. */
  readonly pid: Effect.Effect<number>
  /** Every connection's buffered bytes. */
  readonly buffers: Effect.Effect<ReadonlyArray<ConnectionBuffers>>
  /** Connections closed for holding the most when all of them together passed the cap. */
  readonly overflows: Effect.Effect<number>
}

/** VPP's own ids: memclnt at 1..28, then each module's messages as one contiguous block. */
export const buildTable = (modules: ReadonlyArray<Module>): { entries: Array<TableEntry>; firstMsgIds: Map<string, number> } => {
  const memclntModule = modules.find((m) => m.name === "memclnt") ?? memclnt.definition
  const rest = modules.filter((m) => m.name !== "memclnt" && Object.keys(m.messages).length > 0)
  const entries: Array<TableEntry> = []
  const firstMsgIds = new Map<string, number>()
  let id = 1
  for (const m of [memclntModule, ...rest]) {
    firstMsgIds.set(`${m.name}_${m.crc.replace(/^0x/, "")}`, id)
    for (const msg of Object.values(m.messages)) entries.push({ index: id++, name: msg.nameCrc })
  }
  return { entries, firstMsgIds }
}

/** VPP sends the table in hash-table order; a fixed pseudo-random order stands in for it. */
const hashOrder = (entries: ReadonlyArray<TableEntry>): Array<TableEntry> => {
  const h = (s: string) => {
    let x = 2166136261
    for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 16777619) >>> 0
    return x
  }
  return [...entries].sort((a, b) => h(a.name) - h(b.name))
}

const DEFAULT_VERSION = {
  program: "vpe",
  version: "26.10-rc0~374-gb575ec2c5",
  build_date: "2026-08-22T03:00:55",
  build_directory: "/w"
}

const isRequest = (layout: Codec.Layout): boolean =>
  layout._tag === "Struct" && layout.fields[0]?.name === "client_index" && layout.fields[1]?.name === "context"

/** What a message id leads to, worked out once per id rather than per message. */
interface Route {
  readonly message: Message
  readonly codec: Codec.Codec<Record<string, unknown>>
  /** starts with client_index and context: routed by client_index */
  readonly request: boolean
  readonly handler: Handler | undefined
}

/** A reply message's id and codec, by message. */
interface Encoder {
  readonly id: number
  readonly codec: Codec.Codec<unknown>
}

/** Bytes on their way out through a socket's write at once, rather than through a smaller one per reply. */
const SMALL_OUTPUT = 64 * 1024

/**
 * A connection's replies encoded back to back (the registration's
 * `output_vector`, `vl_socket_api_send`), handed to the socket in one write
 * once the messages of a read are handled (`flush`), or earlier when they pass
 * the high-water mark. Reused: what is written is copied out (or, when large,
 * handed over and the buffer started again), as the socket keeps a written
 * buffer until the kernel took it.
 */
class Output extends ByteSink implements Frame.Sink {
  constructor() {
    super(SMALL_OUTPUT)
  }

  /** Writes what is held to `socket` (nothing when nothing is). */
  flush(socket: net.Socket): void {
    const n = this.used
    if (n === 0) return
    this.used = 0
    if (socket.destroyed) return
    trace("written", n)
    if (n <= SMALL_OUTPUT / 4) {
      const chunk = Buffer.allocUnsafe(n)
      this.bytes.copy(chunk, 0, 0, n)
      socket.write(chunk)
    } else {
      socket.write(this.bytes.subarray(0, n))
      this.bytes = Buffer.allocUnsafe(SMALL_OUTPUT)
    }
  }
}

interface Connection {
  readonly socket: net.Socket
  registration: Registration | undefined
  /** sent sockclnt_create (the registration exists from accept on) */
  named: boolean
  /** what was read and not yet handled */
  readonly reader: FrameReader
  /** a message taken from `reader`, to be handled once the wait for the stall or the drain is over */
  postponed: Uint8Array | undefined
  /** a fiber is waiting for something asynchronous before it handles the rest (`pump`'s answer) */
  waiting: boolean
  /** reading paused: the input passed the high-water mark */
  paused: boolean
  /** the next request waits for the replies to drain */
  draining: boolean
  /** replies encoded, not yet handed to the socket */
  readonly output: Output
}

export const make = (options: ApiServerOptions): Effect.Effect<ApiServer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const modules = options.modules ?? binapi.modules
    const built = buildTable(modules)
    const served = options.doctorTable ? [...options.doctorTable(built.entries)] : built.entries
    const table = hashOrder(served)
    const byId = new Map<number, Message>()
    const allMessages = new Map<string, Message>()
    for (const m of modules) for (const msg of Object.values(m.messages)) allMessages.set(msg.nameCrc, msg)
    for (const e of built.entries) byId.set(e.index, allMessages.get(e.name)!)
    const idOf = new Map<string, number>(built.entries.map((e) => [allMessages.get(e.name)!.name, e.index]))
    let pid = options.pid ?? process.pid
    const version = options.version ?? DEFAULT_VERSION

    // Registration pool: index 0 is the listener's own (vpp-wire.md §1.1).
    const live = new Map<number, Connection>()
    const connections = new Set<Connection>()
    const freeList: Array<number> = []
    let nextIndex = 1
    // Server state lives in plain variables owned by this server: every message
    // passes through here, and the common case (not stalled, no delay, a handler
    // that answers at once) is handled without building an Effect.
    let stalled: Deferred.Deferred<void> | undefined
    let delayMs = 0
    let dropped = 0
    let overflows = 0
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    const highWater = highWaterOf(maxBuffered)

    const held = (c: Connection): number => c.reader.buffered + (c.postponed?.length ?? 0) + c.socket.writableLength + c.output.used

    /**
     * The cap on what all connections hold together. VPP has none (its
     * `output_vector` and `unprocessed_input` grow without bound) and closes a
     * client only on a read error or a failed send; closing the connection that
     * holds the most is the simulator's own protection, done as VPP closes one.
     */
    const enforceCap = (): Effect.Effect<void> | undefined => {
      let total = 0
      let biggest: Connection | undefined
      for (const c of connections) {
        // One closed already (for the cap, say) holds nothing any more, whatever its counts say until 'close'.
        if (c.socket.destroyed) continue
        const h = held(c)
        total += h
        if (biggest === undefined || h > held(biggest)) biggest = c
      }
      if (total <= maxBuffered || biggest === undefined) return undefined
      const bytes = held(biggest)
      overflows++
      biggest.socket.destroy()
      return Effect.logWarning("vppsim-client-overflow").pipe(
        Effect.annotateLogs({
          event: "vppsim-client-overflow",
          handle: biggest.registration?.handle ?? 0,
          client: biggest.registration?.name ?? "",
          buffered: bytes,
          total,
          max_buffered_bytes: maxBuffered
        })
      )
    }

    /** Waits until the socket has taken the replies below the high-water mark (or closed). */
    const drained = (conn: Connection): Effect.Effect<void> =>
      Effect.async<void>((resume) => {
        const done = () => {
          conn.socket.off("drain", done)
          conn.socket.off("close", done)
          resume(Effect.void)
        }
        conn.socket.on("drain", done)
        conn.socket.on("close", done)
        return Effect.sync(() => {
          conn.socket.off("drain", done)
          conn.socket.off("close", done)
        })
      }).pipe(
        Effect.ensuring(Effect.sync(() => {
          conn.draining = false
        }))
      )

    const drop = (reason: string, detail: Record<string, unknown>): Effect.Effect<void> | undefined => {
      dropped++
      return Effect.logDebug("vppsim-drop").pipe(Effect.annotateLogs({ event: "vppsim-drop", reason, ...detail }))
    }

    /** `socksvr_file_add`: every accepted connection takes a pool index at once, named by its sockclnt_create. */
    const register = (conn: Connection): Registration => {
      const index = freeList.pop() ?? nextIndex++
      const registration = { index, handle: (0x80000000 | index) >>> 0, name: "" }
      conn.registration = registration
      live.set(index, conn)
      return registration
    }

    const name = (conn: Connection, clientName: string): Registration | undefined => {
      const r = conn.registration
      if (r === undefined) return undefined
      conn.named = true
      conn.registration = { ...r, name: clientName }
      return conn.registration
    }

    const unregister = (conn: Connection) => {
      const r = conn.registration
      if (r !== undefined && live.get(r.index) === conn) {
        live.delete(r.index)
        freeList.push(r.index)
      }
      conn.registration = undefined
    }

    const lookup = (clientIndex: number): Connection | undefined =>
      (clientIndex & 0x80000000) !== 0 ? live.get(clientIndex & 0x7fffffff) : undefined

    const encoders = new Map<Message, Encoder | null>()
    const encoderOf = (message: Message): Encoder | null => {
      let e = encoders.get(message)
      if (e === undefined) {
        const id = idOf.get(message.name)
        e = id === undefined ? null : { id, codec: Codec.of(message.schema) as Codec.Codec<unknown> }
        encoders.set(message, e)
      }
      return e
    }
    // The request's context for a reply that does not set its own; encoding is synchronous, so one object serves.
    const overContext = { context: 0 }

    /**
     * Encodes the replies into the connection's output now (written once the read's messages are
     * handled); an Effect only to log a reply that does not encode (a simulator bug).
     */
    const sendReplies = (conn: Connection, replies: Iterable<Reply>, context: number): Effect.Effect<void> | undefined => {
      let failure: Effect.Effect<void> | undefined
      if (conn.socket.destroyed) return undefined
      const out = conn.output
      for (const r of replies) {
        const e = encoderOf(r.message)
        if (e === null) continue
        overContext.context = context
        // The request's context unless the handler set one (without a copy of the fields: Codec.encodeIntoOver).
        const mark = out.used
        const frame = Frame.encodeFrameOverInto(e.id, e.codec, r.fields, "context" in r.fields ? NO_OVER : overContext, out)
        if (Either.isLeft(frame)) {
          out.used = mark
          failure = Effect.logError("vppsim-reply-encode").pipe(
            Effect.annotateLogs({ event: "vppsim-reply-encode", message: r.message.name, error: frame.left.message })
          )
        }
      }
      return failure
    }

    const reply = (conn: Connection, replies: Iterable<Reply>, context: number): Effect.Effect<void> | undefined => {
      if (delayMs <= 0) return sendReplies(conn, replies, context)
      // What the state is now, not after the delay (a lazy dump would read it late).
      const now = Array.isArray(replies) ? replies : Array.from(replies)
      return Effect.sleep(Duration.millis(delayMs)).pipe(Effect.zipRight(Effect.sync(() => {
          // A delayed reply goes out when its delay is over, not with the next read's.
          const failure = sendReplies(conn, now, context)
          conn.output.flush(conn.socket)
          return failure
        })), Effect.flatMap((failure) => failure ?? Effect.void))
    }

    const builtin: Record<string, Handler> = {
      ...Core.memclntHandlers(modules),
      ...Core.vpeHandlers(),
      [memclnt.ControlPing.name]: (req: memclnt.ControlPing) => [
        { message: memclnt.ControlPingReply, fields: { retval: 0, client_index: req.client_index, vpe_pid: pid } }
      ],
      [memclnt.GetFirstMsgId.name]: (req: memclnt.GetFirstMsgId) => {
        const first = built.firstMsgIds.get(req.name)
        return [{ message: memclnt.GetFirstMsgIdReply, fields: { retval: first === undefined ? -7 : 0, first_msg_id: first ?? 0xffff } }]
      },
      [vpe.ShowVersion.name]: () => [{ message: vpe.ShowVersionReply, fields: { retval: 0, ...version } }]
    }
    const handlers: Record<string, Handler> = { ...builtin, ...options.handlers }

    const sockclntCreate = Codec.of(memclnt.SockclntCreate.schema)
    const createId = idOf.get(memclnt.SockclntCreate.name)
    const sockclntDelete = memclnt.SockclntDelete.name
    const routes: Array<Route | undefined> = []
    for (const [id, message] of byId) {
      const codec = Codec.of(message.schema) as Codec.Codec<Record<string, unknown>>
      routes[id] = { message, codec, request: isRequest(codec.layout), handler: handlers[message.name] }
    }

    /** One message from `conn`. Returns an Effect only when there is something asynchronous to do. */
    const handle = (conn: Connection, body: Uint8Array): Effect.Effect<void> | undefined => {
      if (body.length < Frame.MSG_ID_SIZE) return drop("no message id", {})
      const msgId = (body[0]! << 8) | body[1]!
      const payload = body.subarray(Frame.MSG_ID_SIZE)
      const route = routes[msgId]
      if (route === undefined) return drop("no handler", { msgId })
      const { message, codec } = route
      if (msgId === createId) {
        const req = sockclntCreate.decode(payload, TRAILING)
        if (Either.isLeft(req)) return drop("truncated", { message: message.name })
        // vl_api_sockclnt_create_t_handler names the registration socksvr_file_add
        // made at accept; a second create on one connection renames it, same handle.
        const registration = name(conn, req.right.name)
        if (registration === undefined) return drop("bad client_index", { message: message.name })
        const sent = reply(conn, [{
          message: memclnt.SockclntCreateReply,
          fields: { client_index: 0, response: 0, index: registration.handle, count: table.length, message_table: table }
        }], req.right.context)
        return Effect.logInfo("vppsim-client-connect").pipe(
          Effect.annotateLogs({ event: "vppsim-client-connect", client: req.right.name, handle: registration.handle }),
          Effect.zipRight(sent ?? Effect.void)
        )
      }
      let decoded = codec.decode(payload, TRAILING)
      if (Either.isLeft(decoded)) {
        // A value our strict codec refuses, which VPP's handler reads as it is
        // (internal/VppView.ts); within the declared ranges both read the same.
        const view = VppView.viewOf(message.schema)
        const wide = view === undefined ? decoded : (Codec.of(view.schema) as Codec.Codec<Record<string, unknown>>).decode(payload, TRAILING)
        decoded = view === undefined || Either.isLeft(wide) ? decoded : Either.right(view.toModel(wide.right))
      }
      if (Either.isLeft(decoded)) return drop("truncated", { message: message.name, reason: decoded.left.message })
      const req = decoded.right
      let target = conn
      if (route.request) {
        const named = lookup(req["client_index"] as number)
        if (named === undefined || named.registration === undefined) {
          return drop("bad client_index", { message: message.name, client_index: req["client_index"] })
        }
        target = named
      }
      const context = (req["context"] as number | undefined) ?? 0
      if (message.name === sockclntDelete) {
        const victim = lookup(req["index"] as number)
        if (victim === undefined || victim.registration === undefined) {
          return reply(target, [{ message: memclnt.SockclntDeleteReply, fields: { response: -1 } }], context)
        }
        const sent = reply(target, [{ message: memclnt.SockclntDeleteReply, fields: { response: 1 } }], context)
        const close = () => {
          unregister(victim)
          // Its replies so far (this one, when it deletes itself) go out before the end.
          victim.output.flush(victim.socket)
          victim.socket.end()
        }
        if (sent === undefined) {
          close()
          return undefined
        }
        return sent.pipe(Effect.ensuring(Effect.sync(close)))
      }
      const handler = route.handler
      if (handler === undefined) return drop("no handler", { message: message.name })
      const result = handler(req, { registration: target.registration!, context })
      return Effect.isEffect(result)
        ? Effect.flatMap(result, (replies) => reply(target, replies, context) ?? Effect.void)
        : reply(target, result, context)
    }

    /**
     * Handles the messages `conn` holds, in arrival order, until none is complete or one needs
     * something asynchronous: a stall, replies to drain, a delay, a log line, a handler's Effect.
     * Returns that, to be waited for before the next call, or undefined when all is done. A
     * request that arrives while nothing is pending is handled in the read's own callback, so
     * it is answered at once, with no fiber to wake (as VPP's API process reads and answers).
     */
    const pump = (conn: Connection): Effect.Effect<void> | undefined => {
      const socket = conn.socket
      const out = conn.output
      while (!socket.destroyed) {
        // A view into the reader's buffer: handled before the next read is pushed, or copied to wait.
        const body = conn.postponed ?? conn.reader.nextView()
        conn.postponed = undefined
        if (body === undefined) break
        if (stalled !== undefined) {
          conn.postponed = body.slice()
          // What was answered before the stall goes out now, as it would with VPP.
          out.flush(socket)
          return Deferred.await(stalled)
        }
        // Backpressure: a client that does not take its replies gets no more.
        if (socket.writableLength + out.used > highWater) {
          out.flush(socket)
          if (socket.writableLength > highWater) {
            conn.postponed = body.slice()
            conn.draining = true
            return drained(conn)
          }
        }
        const pendingWork = handle(conn, body)
        if (pendingWork !== undefined) {
          // What is answered goes out before the wait.
          out.flush(socket)
          return pendingWork
        }
        if (out.used > 0 || socket.writableLength > 0) {
          const over = enforceCap()
          if (over !== undefined) return over
        }
      }
      // The replies to what one read brought go out together, in one write, as soon as those messages
      // are handled, as VPP's API process handles the messages of a read in turn (vl_api_clnt_process ->
      // vl_socket_process_api_msg) and sends their replies from the registration's output vector
      // (vl_socket_api_send).
      out.flush(socket)
      if (conn.paused && conn.reader.buffered <= highWater / 2) {
        conn.paused = false
        socket.resume()
      }
      return undefined
    }

    /** A connection whose handling failed (a simulator bug): logged, and closed. */
    const broken = (conn: Connection, defect: unknown): Effect.Effect<void> =>
      Effect.logError("vppsim-connection-defect").pipe(
        Effect.annotateLogs({ event: "vppsim-connection-defect", defect: String(defect) }),
        Effect.ensuring(Effect.sync(() => conn.socket.destroy()))
      )

    /** Waits for what `pump` returned, then goes on pumping, until it is done: one fiber at a time per connection. */
    const resumeLater = (conn: Connection, first: Effect.Effect<void>): Effect.Effect<void> =>
      Effect.gen(function*() {
        let work: Effect.Effect<void> | undefined = first
        while (work !== undefined) {
          yield* work
          work = pump(conn)
          // In the same step as the last pump: a read from now on is handled in its own callback.
          if (work === undefined) conn.waiting = false
        }
      }).pipe(
        Effect.catchAllDefect((d) => broken(conn, d)),
        Effect.ensuring(Effect.sync(() => {
          conn.waiting = false
        }))
      )

    const fibers = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(fibers)<never>()
    const server = net.createServer((socket) => {
      const conn: Connection = {
        socket,
        registration: undefined,
        named: false,
        reader: new FrameReader(),
        postponed: undefined,
        waiting: false,
        paused: false,
        draining: false,
        output: new Output()
      }
      connections.add(conn)
      register(conn)
      socket.on("data", (chunk: Buffer) => {
        trace("read", chunk.length)
        try {
          conn.reader.push(chunk)
          if (!conn.waiting) {
            const work = pump(conn)
            if (work !== undefined) {
              conn.waiting = true
              runFork(resumeLater(conn, work))
            }
          }
        } catch (defect) {
          runFork(broken(conn, defect))
          return
        }
        if (conn.reader.buffered > highWater && !conn.paused) {
          conn.paused = true
          socket.pause()
        }
        const over = enforceCap()
        if (over !== undefined) runFork(over)
      })
      socket.on("close", () => {
        connections.delete(conn)
        unregister(conn)
      })
      socket.on("error", () => {})
    })
    yield* Effect.acquireRelease(
      Effect.async<void, Error>((resume) => {
        try {
          if (fs.existsSync(options.path) && fs.statSync(options.path).isSocket()) fs.unlinkSync(options.path)
        } catch (e) {
          resume(Effect.fail(e as Error))
          return
        }
        server.once("error", (e) => resume(Effect.fail(e)))
        server.listen(options.path, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const c of connections) c.socket.destroy()
          server.close(() => resume(Effect.void))
        }).pipe(Effect.zipRight(Effect.sync(() => fs.rmSync(options.path, { force: true }))))
    )

    const resumeGate = Effect.suspend(() => {
      const gate = stalled
      stalled = undefined
      return gate === undefined ? Effect.void : Deferred.succeed(gate, undefined)
    }).pipe(Effect.asVoid)
    return {
      path: options.path,
      table,
      firstMsgIds: built.firstMsgIds,
      registrations: Effect.sync(() => [...live.values()].flatMap((c) => (c.registration && c.named ? [c.registration] : []))),
      stall: Deferred.make<void>().pipe(Effect.map((gate) => {
        stalled ??= gate
      })),
      resume: resumeGate,
      delayReplies: (d) => Effect.sync(() => {
        delayMs = Duration.toMillis(Duration.decode(d))
      }),
      dropConnections: (h) =>
        Effect.sync(() => {
          for (const c of [...live.values()]) if (h === undefined || c.registration?.handle === h) c.socket.destroy()
        }),
      dropped: Effect.sync(() => dropped),
      restart: (newPid) =>
        Effect.sync(() => {
          for (const c of connections) c.socket.destroy()
          live.clear()
          freeList.length = 0
          nextIndex = 1
          pid = newPid
        }),
      pid: Effect.sync(() => pid),
      buffers: Effect.sync(() =>
        [...connections].map((c) => ({
          handle: c.registration?.handle ?? 0,
          input: c.reader.buffered + (c.postponed?.length ?? 0),
          output: c.socket.writableLength,
          backpressured: c.paused || c.draining
        }))
      ),
      overflows: Effect.sync(() => overflows)
    } satisfies ApiServer
  })

