/**
 * A client of VPP's binary API over its Unix stream socket (vpp-wire.md §1).
 *
 * `connect` opens the socket, performs the `sockclnt_create` handshake, builds
 * the message-id table from the reply and checks every bound message against
 * it by `name_crc`. Requests are pipelined: each gets a fresh context, many can
 * be in flight, and replies are matched by context. A dump is the request
 * followed by `control_ping` with the same context; the details are collected
 * until the ping's reply (VPP answers strictly in order).
 *
 * The socket's input is read where it arrives: each read goes straight into
 * the frame reader's buffer (the socket's `onread`: no chunk allocated per
 * read, and a body is decoded from a view of that buffer, not copied out: a
 * 2 MB listing was 4 MB of garbage before its text), is split into frames,
 * and every reply is handed to its waiter in the read's callback, in VPP's
 * order (no queue and no fiber turn between the read and the waiter: a
 * reaction's answer read behind a busy runtime's other fibers waited
 * milliseconds for the reader's turn, issue 14). What that path logs (debug
 * records, warnings) goes to a fiber. When the socket closes, or a
 * request times out (VPP answers in order, so one missing reply means the
 * pipeline is stuck), every waiting request fails and the connection is
 * closed; the supervisor that owns the scope decides when to reconnect.
 * Closing the scope sends `sockclnt_delete` and closes the socket.
 */
import {
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FiberId,
  FiberRef,
  Layer,
  LogLevel,
  Queue,
  type Schema,
  type Scope,
  Tracer
} from "effect"
import * as net from "node:net"
import { LogDemand } from "../../internal/LogDemand.js"
import * as LogLimit from "../../internal/LogLimit.js"
import { trace } from "../../internal/Trace.js"
import { countVppRequest } from "../../metrics/Metrics.js"
import * as binapi from "../binapi/index.js"
import { memclnt } from "../binapi/index.js"
import * as Codec from "../codec/Codec.js"
import * as Frame from "../codec/Frame.js"
import type { Message, Module } from "../codec/Wire.js"
import {
  IncompatibleApi,
  VppApiError,
  VppConnectError,
  VppDisconnected,
  VppProtocolError,
  type VppRequestError,
  VppRequestInvalid,
  VppTimeout
} from "./Errors.js"
import { countReceived, countSent } from "./Activity.js"
import { type Batch, batchOf, flush as flushBatch } from "./Coalesce.js"
import { FrameReader } from "./FrameReader.js"

export const DEFAULT_API_SOCKET = "/run/vpp/api.sock"
export const CLIENT_NAME = "vpp-maglev"

/** memclnt ids are fixed (vpp-wire.md §1.3); the handshake needs them before there is a table. */
const SOCKCLNT_CREATE_ID = 15
const SOCKCLNT_CREATE_REPLY_ID = 16

export interface ConnectOptions {
  readonly path?: string
  readonly clientName?: string
  /** per request; default 5 s */
  readonly timeout?: Duration.DurationInput
  /** modules whose every message VPP must know with the same CRC; default all bound modules */
  readonly modules?: ReadonlyArray<Module>
}

/** The request's own fields: the client fills in `client_index` and `context`. */
export type RequestFields<S extends Schema.Schema.Any> = Omit<Schema.Schema.Type<S>, "client_index" | "context">

export interface VppConnection {
  readonly path: string
  /** `sockclnt_create_reply.index`: 0x80000000 | registration index */
  readonly handle: number
  /** name_crc -> message id, as VPP sent it */
  readonly table: ReadonlyMap<string, number>
  /** Sends `request` and waits for its single `reply`; a non-zero `retval` fails with VppApiError. */
  readonly request: <Req extends Schema.Schema.Any, Rep extends Schema.Schema.Any>(
    request: Message<Req>,
    reply: Message<Rep>,
    fields: RequestFields<Req>
  ) => Effect.Effect<Schema.Schema.Type<Rep>, VppRequestError>
  /**
   * Puts the request on the wire now and returns the wait for its reply.
   * Pipelining without a fiber per request: send many, then await them (in
   * order, since VPP answers in order).
   */
  readonly send: <Req extends Schema.Schema.Any, Rep extends Schema.Schema.Any>(
    request: Message<Req>,
    reply: Message<Rep>,
    fields: RequestFields<Req>
  ) => Effect.Effect<Effect.Effect<Schema.Schema.Type<Rep>, VppRequestError>, VppRequestError>
  /**
   * Puts the request on the wire now and calls `done` with VPP's answer (or
   * the error that ended the connection), from the connection's reader: no
   * Deferred and no fiber per request, for a long pipeline (LbSync's window).
   * The deadline counts from now. The effect fails when it cannot be sent
   * (then `done` is never called); it is `Effect.void` unless a debug record
   * is wanted.
   */
  readonly sendWith: <Req extends Schema.Schema.Any, Rep extends Schema.Schema.Any>(
    request: Message<Req>,
    reply: Message<Rep>,
    fields: RequestFields<Req>,
    done: (exit: Exit.Exit<Schema.Schema.Type<Rep>, VppRequestError>) => void
  ) => Effect.Effect<void, VppRequestError>
  /**
   * Writes the requests put on the wire in this tick to the socket now rather
   * than on the next tick (they are written together, in one system call,
   * either way): for a caller that has sent a burst and will now wait.
   */
  readonly flush: () => void
  /** Sends a dump request and `control_ping`, and collects the details until the ping's reply. */
  readonly dump: <Req extends Schema.Schema.Any, Det extends Schema.Schema.Any>(
    request: Message<Req>,
    details: Message<Det>,
    fields: RequestFields<Req>
  ) => Effect.Effect<Chunk.Chunk<Schema.Schema.Type<Det>>, VppRequestError>
  /** Requests waiting for replies (for tests and metrics). */
  readonly inFlight: Effect.Effect<number>
  /** Completes when the connection is gone, with the reason. */
  readonly closed: Effect.Effect<VppDisconnected>
}

/** Encodes a request's frames (the request, and a dump's `control_ping`) for `context` into `batch`; the failure, if any. */
type Frames = (context: number, batch: Batch) => VppRequestInvalid | undefined

type Pending =
  | {
    readonly kind: "single"
    readonly request: string
    readonly deadline: number
    readonly replyId: number
    readonly done: (exit: Exit.Exit<any, VppRequestError>) => void
  }
  | {
    readonly kind: "dump"
    readonly request: string
    readonly deadline: number
    readonly detailsId: number
    readonly items: Array<unknown>
    readonly done: (exit: Exit.Exit<Chunk.Chunk<any>, VppRequestError>) => void
  }

/** Free bytes offered to each read of the socket (more when the reader's buffer has them: a 2 MB listing). */
const READ_SIZE = 64 * 1024

/**
 * Opens the socket with its reads going straight into `reader`'s buffer
 * (`onread`: no chunk allocated per read, nothing copied before the frames are
 * split); `read` is called with the number of bytes each read brought.
 */
const openSocket = (path: string, reader: FrameReader, read: (n: number) => void) =>
  Effect.async<net.Socket, VppConnectError>((resume) => {
    const socket = net.createConnection({
      path,
      onread: {
        buffer: () => reader.space(READ_SIZE),
        callback: (n: number) => {
          read(n)
          return true
        }
      }
    })
    const onError = (e: NodeJS.ErrnoException) => {
      socket.destroy()
      resume(Effect.fail(new VppConnectError({ path, reason: e.code ?? e.message })))
    }
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  })

/** Which bound messages VPP's table lacks or has with another CRC. */
export const checkCompatibility = (
  table: ReadonlyMap<string, number>,
  modules: ReadonlyArray<Module>
): IncompatibleApi | undefined => {
  const byName = new Map<string, string>()
  for (const nameCrc of table.keys()) {
    const i = nameCrc.lastIndexOf("_")
    byName.set(nameCrc.slice(0, i), `0x${nameCrc.slice(i + 1)}`)
  }
  const missing: Array<string> = []
  const mismatched: Array<{ message: string; expected: string; actual: string }> = []
  for (const m of modules) {
    for (const msg of Object.values(m.messages)) {
      if (table.has(msg.nameCrc)) continue
      const actual = byName.get(msg.name)
      if (actual !== undefined) mismatched.push({ message: msg.name, expected: msg.crc, actual })
      else missing.push(msg.name)
    }
  }
  return missing.length + mismatched.length === 0 ? undefined : new IncompatibleApi({ missing, mismatched })
}

/**
 * The connection's own fibers (reader, sweeper) outlive the `connect` call. Forked
 * inside its span they would keep it, and Effect's tracer logger appends every record
 * they log to that span's events: one per binary-API message, for as long as the
 * connection lives (issue 15: ~30 KB per GetVPPLBState). They run without a span.
 */
const outsideSpan = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(self, (context: Context.Context<R>) => Context.omit(Tracer.ParentSpan)(context) as Context.Context<R>)

const contextOf = (value: unknown): number | undefined => {
  const c = (value as { context?: unknown }).context
  return typeof c === "number" ? c : undefined
}

/** Opens a connection owned by the current scope. */
export const connect = (
  options: ConnectOptions = {}
): Effect.Effect<VppConnection, VppConnectError | IncompatibleApi | VppRequestError, Scope.Scope> =>
  Effect.gen(function*() {
    const path = options.path ?? DEFAULT_API_SOCKET
    const timeoutMs = Duration.toMillis(options.timeout ?? "5 seconds")
    const reader = new FrameReader()
    // Set below, once everything it calls exists (nothing is read before the handshake is sent).
    let onRead = (n: number) => reader.wrote(n)
    const socket = yield* Effect.acquireRelease(openSocket(path, reader, (n) => onRead(n)), (s) => Effect.sync(() => s.destroy()))
    const pending = new Map<number, Pending>()
    const gone = yield* Deferred.make<VppDisconnected>()
    let closedReason: VppDisconnected | undefined
    let nextContext = 1
    let idToMessage = new Map<number, Message>([[SOCKCLNT_CREATE_REPLY_ID, memclnt.SockclntCreateReply]])
    let table: ReadonlyMap<string, number> = new Map()
    let handle = 0
    const pingReplyId = () => table.get(memclnt.ControlPingReply.nameCrc)
    const clock = yield* Effect.clock
    // Debug records are built only when someone would read them: at tens of
    // thousands of messages a second, building and discarding them dominates.
    // The fiber's minimum level is fixed; who wants debug (a watcher) is asked each time.
    const debugAllowed = LogLevel.lessThanEqual(yield* FiberRef.get(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
    const demand = yield* LogDemand
    const debug = () => debugAllowed && demand.wants(LogLevel.Debug)
    const logDebug = (event: string, annotations: Record<string, unknown>): Effect.Effect<void> =>
      debug() ? Effect.logDebug(event).pipe(Effect.annotateLogs({ event, ...annotations })) : Effect.void
    // What VPP (or whatever answers on the socket) sends is the peer's choice: its warnings are rate-limited.
    const limit = yield* LogLimit.make()

    const shutdown = (reason: VppDisconnected, error: VppRequestError = reason) => {
      if (closedReason !== undefined) return
      closedReason = reason
      for (const p of pending.values()) {
        countVppRequest(p.request, "disconnected")
        p.done(Exit.fail(error))
      }
      pending.clear()
      Deferred.unsafeDone(gone, Exit.succeed(reason))
      socket.destroy()
    }

    const deliver = (body: Uint8Array): Effect.Effect<void> => {
      const frame = Frame.splitBody(body)
      if (Either.isLeft(frame)) {
        return limit.log(LogLevel.Warning, "dropped a frame from VPP that has no message id", {
          event: "vpp-api-recv-bad",
          length: body.length,
          msgId: null,
          reason: frame.left.message
        })
      }
      const { msgId, payload } = frame.right
      const message = idToMessage.get(msgId)
      countReceived(message?.name ?? "unknown")
      if (message === undefined) {
        // A message we do not bind (an event, or a newer VPP's extra): GoVPP drops these too.
        return logDebug("vpp-api-recv-unknown", { msgId })
      }
      const decoded = Codec.of(message.schema).decode(payload, { allowTrailing: true })
      if (Either.isLeft(decoded)) {
        // Without the fields we cannot know whose reply this was; the context is
        // where most replies keep it, which is the best guess for failing a waiter.
        const guess = payload.length >= 4 ? ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0 : 0
        const p = pending.get(guess)
        if (p !== undefined) {
          pending.delete(guess)
          countVppRequest(p.request, "error")
          p.done(Exit.fail(new VppProtocolError({ request: p.request, reason: decoded.left.message })))
        }
        return limit.log(LogLevel.Warning, `dropped a ${message.name} from VPP that does not decode`, {
          event: "vpp-api-recv-undecodable",
          length: body.length,
          msgId,
          message: message.name,
          context: p === undefined ? null : guess,
          reason: decoded.left.message
        })
      }
      const value = decoded.right as Record<string, unknown>
      const context = contextOf(value) ?? 0
      const log = logDebug("vpp-api-recv", { message: message.name, context, fields: value })
      const p = pending.get(context)
      if (p === undefined) return log // context 0 is an event; anything else arrived after its waiter gave up
      if (p.kind === "dump" && msgId === p.detailsId) {
        p.items.push(value)
        return log
      }
      pending.delete(context)
      if (p.kind === "dump") {
        const complete = msgId === pingReplyId()
        countVppRequest(p.request, complete ? "ok" : "error")
        if (complete) p.done(Exit.succeed(Chunk.unsafeFromArray(p.items)))
        else p.done(Exit.fail(new VppProtocolError({ request: p.request, reason: `unexpected ${message.name} in a dump` })))
        return log
      }
      if (msgId !== p.replyId) {
        countVppRequest(p.request, "error")
        p.done(Exit.fail(new VppProtocolError({ request: p.request, reason: `unexpected ${message.name} for its context` })))
        return log
      }
      const retval = value["retval"]
      if (typeof retval === "number" && retval !== 0) {
        countVppRequest(p.request, "error")
        p.done(Exit.fail(new VppApiError({ request: p.request, retval })))
      } else {
        countVppRequest(p.request, "ok")
        p.done(Exit.succeed(value))
      }
      return log
    }

    // What the input path logs (debug records, the peer's bad frames), run in order by one fiber.
    const logs = yield* Queue.unbounded<Effect.Effect<void>>()
    let logsPending = 0
    const toLog = (log: Effect.Effect<void>) => {
      logsPending++
      Queue.unsafeOffer(logs, Effect.ensuring(log, Effect.sync(() => logsPending--)))
    }
    yield* Queue.take(logs).pipe(Effect.flatten, Effect.forever, outsideSpan, Effect.forkScoped)
    onRead = (n: number) => {
      trace("read", n)
      reader.wrote(n)
      if (closedReason !== undefined) return
      try {
        let body: Uint8Array | undefined
        // A view of the reader's buffer, decoded at once (`deliver` keeps nothing of it).
        while ((body = reader.nextView()) !== undefined && closedReason === undefined) {
          const log = deliver(body)
          if (log !== Effect.void) toLog(log)
        }
      } catch (defect) {
        // A frame beyond the size cap, or a waiter's callback that threw: the stream cannot be trusted.
        shutdown(new VppDisconnected({ reason: `unreadable stream: ${String(defect)}` }))
      }
    }
    // The end of the stream comes after what it brought was logged (a peer's last bad frames).
    const closedByPeer = () => shutdown(new VppDisconnected({ reason: "VPP closed the API socket" }))
    socket.on("close", () => (logsPending === 0 ? closedByPeer() : toLog(Effect.sync(closedByPeer))))
    socket.on("error", () => {}) // 'close' follows and carries the news
    if (socket.destroyed) closedByPeer()

    const allocateContext = (): number => {
      const c = nextContext
      nextContext = nextContext === 0xffffffff ? 1 : nextContext + 1
      return c
    }

    /**
     * Registers `entry` under a fresh context and sends the frames; the result
     * is the wait for the reply. No timer per request: VPP answers in order, so
     * only the oldest waiter can be overdue, and one sweeper watches it.
     */
    const post = <A>(
      requestName: string,
      entry: (deadline: number, done: (exit: Exit.Exit<A, VppRequestError>) => void) => Pending,
      frames: Frames,
      logFields: unknown
    ): Effect.Effect<Effect.Effect<A, VppRequestError>, VppRequestError> =>
      Effect.suspend((): Effect.Effect<Effect.Effect<A, VppRequestError>, VppRequestError> => {
        const deferred = Deferred.unsafeMake<A, VppRequestError>(FiberId.none)
        const sent = write(requestName, entry, frames, logFields, (exit) => Deferred.unsafeDone(deferred, exit))
        if (typeof sent !== "number") return sent
        const wait = Deferred.await(deferred).pipe(Effect.onInterrupt(() => Effect.sync(() => pending.delete(sent))))
        return debug()
          ? Effect.as(logDebug("vpp-api-send", { message: requestName, context: sent, fields: logFields }), wait)
          : Effect.succeed(wait)
      })

    /**
     * Registers the request under a fresh context, with its deadline counted
     * from now (it is written now), and writes its frames; `done` gets the
     * answer. The context, or the failure to send.
     */
    const write = <A>(
      requestName: string,
      entry: (deadline: number, done: (exit: Exit.Exit<A, VppRequestError>) => void) => Pending,
      frames: Frames,
      logFields: unknown,
      done: (exit: Exit.Exit<A, VppRequestError>) => void
    ): number | Effect.Effect<never, VppRequestError> => {
      if (closedReason !== undefined) {
        countVppRequest(requestName, "disconnected")
        return Effect.fail(closedReason)
      }
      const context = allocateContext()
      // Encoded straight into the tick's buffer for the socket (written on the next tick).
      const batch = batchOf(socket)
      const mark = batch.used
      const failed = frames(context, batch)
      if (failed !== undefined) {
        batch.used = mark
        return Effect.fail(failed)
      }
      pending.set(context, entry(clock.unsafeCurrentTimeMillis() + timeoutMs, done))
      if (idle !== undefined) {
        Deferred.unsafeDone(idle, Exit.void)
        idle = undefined
      }
      return context
    }

    const send = <A>(...args: Parameters<typeof post<A>>): Effect.Effect<A, VppRequestError> =>
      Effect.flatten(post<A>(...args))

    // The sweeper sleeps until the oldest waiter's deadline, or until something
    // is sent when nothing is waiting: no wakeups on an idle connection.
    let idle: Deferred.Deferred<void> | undefined
    /** The request the sweeper last let the reader catch up for, past its deadline. */
    let graced: number | undefined
    yield* Effect.gen(function*() {
      while (closedReason === undefined) {
        const oldest = pending.entries().next()
        if (oldest.done === true) {
          idle = Deferred.unsafeMake<void>(FiberId.none)
          yield* Deferred.await(idle)
          continue
        }
        const [context, p] = oldest.value
        const wait = p.deadline - clock.unsafeCurrentTimeMillis()
        if (wait > 0) {
          yield* Effect.sleep(Duration.millis(wait))
          continue
        }
        if (graced !== context) {
          // Past its deadline, but this process may have stalled (GC, a starved CPU) with the reply
          // already in the socket: timers run before the socket is read. Once per request, let the
          // event loop read what is there (and the reader handle it) before calling it a timeout.
          graced = context
          yield* Effect.async<void>((resume) => {
            const t = setImmediate(() => resume(Effect.void))
            return Effect.sync(() => clearImmediate(t))
          })
          yield* Effect.yieldNow()
          continue
        }
        const error = new VppTimeout({ request: p.request, context, millis: timeoutMs })
        pending.delete(context)
        countVppRequest(p.request, "timeout")
        p.done(Exit.fail(error))
        shutdown(new VppDisconnected({ reason: `VPP stopped answering: ${error.message}` }))
      }
    }).pipe(outsideSpan, Effect.forkScoped)

    /**
     * Encodes the frame of `value`, the request header's fields (`client_index`, `context`)
     * taken from `header`, into `batch`; the failure, if any.
     */
    const frameOf = <S extends Schema.Schema.Any>(
      message: Message<S>,
      value: object,
      header: { readonly client_index?: number; readonly context: number },
      batch: Batch
    ): VppRequestInvalid | undefined => {
      const id = message.name === memclnt.SockclntCreate.name ? SOCKCLNT_CREATE_ID : table.get(message.nameCrc)
      if (id === undefined) return new VppRequestInvalid({ request: message.name, reason: `${message.nameCrc} is not in VPP's message table` })
      const frame = Frame.encodeFrameOverInto(id, Codec.of(message.schema) as Codec.Codec<unknown>, value, header, batch)
      if (Either.isLeft(frame)) return new VppRequestInvalid({ request: message.name, reason: frame.left.message })
      countSent(message.name) // every frame encoded is written (post)
      return undefined
    }

    const idOf = (message: Message): number | undefined =>
      message.name === memclnt.SockclntCreateReply.name ? SOCKCLNT_CREATE_REPLY_ID : table.get(message.nameCrc)

    const sendRequest: VppConnection["send"] = (req, rep, fields) =>
      Effect.suspend(() => {
        const replyId = idOf(rep)
        if (replyId === undefined) {
          return Effect.fail(new VppRequestInvalid({ request: req.name, reason: `${rep.nameCrc} is not in VPP's message table` }))
        }
        return post(
          req.name,
          (deadline, done) => ({ kind: "single", request: req.name, deadline, replyId, done }),
          (context, batch) => frameOf(req, fields, { client_index: handle, context }, batch),
          fields
        )
      })

    const request: VppConnection["request"] = (req, rep, fields) => Effect.flatten(sendRequest(req, rep, fields))

    const sendWith: VppConnection["sendWith"] = (req, rep, fields, done) => {
      const replyId = idOf(rep)
      if (replyId === undefined) {
        return Effect.fail(new VppRequestInvalid({ request: req.name, reason: `${rep.nameCrc} is not in VPP's message table` }))
      }
      const sent = write(
        req.name,
        (deadline, d) => ({ kind: "single", request: req.name, deadline, replyId, done: d }),
        (context, batch) => frameOf(req, fields, { client_index: handle, context }, batch),
        fields,
        done
      )
      if (typeof sent !== "number") return sent
      return debug() ? logDebug("vpp-api-send", { message: req.name, context: sent, fields }) : Effect.void
    }

    const dump: VppConnection["dump"] = (req, det, fields) =>
      Effect.suspend(() => {
        const detailsId = idOf(det)
        if (detailsId === undefined) {
          return Effect.fail(new VppRequestInvalid({ request: req.name, reason: `${det.nameCrc} is not in VPP's message table` }))
        }
        return send(
          req.name,
          (deadline, done) => ({ kind: "dump", request: req.name, deadline, detailsId, items: [], done }),
          (context, batch) =>
            frameOf(req, fields, { client_index: handle, context }, batch) ??
              frameOf(memclnt.ControlPing, {}, { client_index: handle, context }, batch),
          fields
        )
      })

    // Handshake: sockclnt_create has no client_index; its reply carries the handle and the table.
    // The table is installed as the reply is read, before the frames behind it in the same read.
    const modules = options.modules ?? binapi.modules
    const install = (created: memclnt.SockclntCreateReply) => {
      if (created.response !== 0) return
      handle = created.index
      table = new Map(created.message_table.map((e) => [e.name, e.index]))
      const bound = new Map<string, Message>()
      for (const m of modules) for (const msg of Object.values(m.messages)) bound.set(msg.nameCrc, msg)
      idToMessage = new Map(created.message_table.flatMap((e) => {
        const msg = bound.get(e.name)
        return msg === undefined ? [] : [[e.index, msg] as const]
      }))
    }
    const created = yield* send<memclnt.SockclntCreateReply>(
      memclnt.SockclntCreate.name,
      (deadline, done) => ({
        kind: "single",
        request: memclnt.SockclntCreate.name,
        deadline,
        replyId: SOCKCLNT_CREATE_REPLY_ID,
        done: (exit) => {
          if (Exit.isSuccess(exit)) install(exit.value)
          done(exit)
        }
      }),
      (context, batch) => frameOf(memclnt.SockclntCreate, { name: options.clientName ?? CLIENT_NAME }, { context }, batch),
      { name: options.clientName ?? CLIENT_NAME }
    )
    if (created.response !== 0) {
      return yield* new VppProtocolError({ request: "sockclnt_create", reason: `response ${created.response}` })
    }
    const incompatible = checkCompatibility(table, modules)
    if (incompatible !== undefined) return yield* incompatible

    // Say goodbye while the reader is still running (finalizers run in reverse order).
    yield* Effect.addFinalizer(() =>
      closedReason !== undefined
        ? Effect.void
        : request(memclnt.SockclntDelete, memclnt.SockclntDeleteReply, { index: handle }).pipe(
          Effect.timeout("1 second"),
          Effect.ignore,
          Effect.zipRight(Effect.sync(() => shutdown(new VppDisconnected({ reason: "closed by the client" }))))
        )
    )

    return {
      path,
      handle,
      table,
      request,
      send: sendRequest,
      sendWith,
      flush: () => flushBatch(socket),
      dump,
      inFlight: Effect.sync(() => pending.size),
      closed: Deferred.await(gone)
    } satisfies VppConnection
  })

/** The binary-API connection as a service, for programs that hold one connection for their lifetime. */
export class VppApi extends Context.Tag("vpp-maglev/VppApi")<VppApi, VppConnection>() {
  static readonly layer = (options: ConnectOptions = {}) => Layer.scoped(VppApi, connect(options))
}
