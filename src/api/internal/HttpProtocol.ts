/**
 * @effect/rpc's HTTP server protocol (`RpcServer.makeProtocolWithHttpApp`,
 * NDJSON only), with a bound on what a response may queue for a slow reader.
 *
 * Why not the library's: over HTTP it has no acknowledgements, so a stream's
 * messages go into an unbounded mailbox per request, and the response writer
 * takes the whole mailbox at each pull and hands it to Node's `res.write`,
 * which buffers it too. A client that never reads made the daemon keep every
 * event for it (200 such `WatchEvents` at debug level: +488 MB, issue 15).
 *
 * Here the writer takes one message per pull and waits for `drain` (the
 * platform's writer does, when `res.write` returns false), so Node's buffer
 * holds at most about its high-water mark; what the client has not read
 * waits in the mailbox, whose bytes are counted. When a stream's next message
 * finds more than `maxQueuedBytes` waiting, the backlog is thrown away and
 * the request's `overflowed` completes: the handler (Watch.ts) ends its
 * stream with a last event saying so. A response that still has not been
 * read `grace` after that is closed. A single message larger than the budget
 * (a big `Hydrate`) is always queued: the bound is on the backlog behind it.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { RpcSerialization, RpcServer } from "@effect/rpc"
import { type FromClientEncoded, type FromServerEncoded, RequestId, ResponseDefectEncoded, constEof } from "@effect/rpc/RpcMessage"
import type * as HttpApp from "@effect/platform/HttpApp"
import { Chunk, Deferred, Duration, Effect, Mailbox, Option, Scope, Stream } from "effect"

export interface Overflowed {
  /** What the reader had not taken when it was dropped. */
  readonly queuedBytes: number
  readonly limitBytes: number
}

export interface HttpProtocolOptions {
  /** Bytes a response's streams may have waiting for the reader; default 256 KiB. */
  readonly maxQueuedBytes?: number | undefined
  /** How long a dropped reader has to take its last messages before its connection is closed; default 10 s. */
  readonly grace?: Duration.DurationInput | undefined
  /** Called once per dropped response (the server logs it). */
  readonly onOverflow?: ((info: Overflowed) => Effect.Effect<void>) | undefined
}

export const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024

export interface HttpProtocol {
  readonly protocol: RpcServer.Protocol["Type"]
  readonly httpApp: HttpApp.Default<never, Scope.Scope>
  /**
   * For a request handler, given its `clientId`: completes when the response
   * carrying its stream fell more than the budget behind (never for an
   * unknown client).
   */
  readonly overflowed: (clientId: number) => Effect.Effect<Overflowed>
}

export const make = (options: HttpProtocolOptions = {}): Effect.Effect<HttpProtocol, never, RpcSerialization.RpcSerialization> =>
  Effect.gen(function*() {
    const serialization = yield* RpcSerialization.RpcSerialization
    const limitBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    const grace = options.grace ?? "10 seconds"
    const disconnects = yield* Mailbox.make<number>()
    let writeRequest!: (clientId: number, message: FromClientEncoded) => Effect.Effect<void>
    let nextId = 0

    interface Client {
      readonly write: (response: FromServerEncoded) => Effect.Effect<void>
      readonly end: Effect.Effect<void>
      readonly overflowed: Deferred.Deferred<Overflowed>
    }
    const clients = new Map<number, Client>()
    const clientIds = new Set<number>()
    const encoder = new TextEncoder()

    const httpApp: HttpApp.Default<never, Scope.Scope> = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const scope = yield* Effect.scope
      const requestHeaders = Object.entries(request.headers)
      const data = yield* Effect.orDie(request.text)
      const id = nextId++
      const mailbox = yield* Mailbox.make<Uint8Array>()
      const parser = serialization.unsafeMake()
      const overflowed = yield* Deferred.make<Overflowed>()
      let queuedBytes = 0
      let dropped = false

      const offer = (bytes: Uint8Array) => {
        queuedBytes += bytes.length
        return mailbox.offer(bytes)
      }
      const encode = (response: FromServerEncoded): Uint8Array | undefined => {
        try {
          const encoded = parser.encode(response)
          return encoded === undefined ? undefined : typeof encoded === "string" ? encoder.encode(encoded) : encoded
        } catch (cause) {
          return encoder.encode(parser.encode(ResponseDefectEncoded(cause)) as string)
        }
      }
      const drop = (info: Overflowed) =>
        Effect.gen(function*() {
          yield* mailbox.clear
          queuedBytes = 0
          yield* Deferred.succeed(overflowed, info)
          if (options.onOverflow !== undefined) yield* options.onOverflow(info)
          const res = NodeHttpServerRequest.toServerResponse(request)
          yield* Effect.sleep(grace).pipe(
            Effect.zipRight(Effect.sync(() => res.destroy())),
            Effect.forkIn(scope)
          )
        })

      const client: Client = {
        write: (response) =>
          Effect.suspend(() => {
            const bytes = encode(response)
            if (bytes === undefined) return Effect.void
            // Once dropped, what the stream still sends is let through: the handler ends at once, and
            // its last word (the Overflow event) must not be lost behind records it had in flight.
            if (response._tag === "Chunk" && queuedBytes > limitBytes && !dropped) {
              dropped = true
              return drop({ queuedBytes: queuedBytes + bytes.length, limitBytes })
            }
            return offer(bytes)
          }),
        end: mailbox.end,
        overflowed
      }
      clientIds.add(id)
      clients.set(id, client)

      const requestIds: Array<RequestId> = []
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => {
          clientIds.delete(id)
          clients.delete(id)
          disconnects.unsafeOffer(id)
          if (mailbox.unsafeSize()._tag === "None") return Effect.void
          return Effect.forEach(requestIds, (requestId) => writeRequest(id, { _tag: "Interrupt", requestId: String(requestId) }), {
            discard: true
          })
        })
      )

      try {
        const decoded = parser.decode(data) as ReadonlyArray<FromClientEncoded>
        for (const message of decoded) {
          if (message._tag === "Request") {
            requestIds.push(RequestId(message.id))
            ;(message as { headers: ReadonlyArray<[string, string]> }).headers = requestHeaders.concat(message.headers)
          }
          yield* writeRequest(id, message)
        }
      } catch (cause) {
        yield* client.write(ResponseDefectEncoded(cause))
      }
      yield* writeRequest(id, constEof)

      const [initial, done] = yield* mailbox.takeAll
      for (const bytes of initial) queuedBytes -= bytes.length
      if (done) return HttpServerResponse.uint8Array(concat(initial), { contentType: serialization.contentType })
      // One message per pull: the platform's writer waits for `drain` before the next.
      const rest = Stream.repeatEffectOption(
        mailbox.take.pipe(
          Effect.map((bytes) => {
            queuedBytes -= bytes.length
            return bytes
          }),
          Effect.mapError(() => Option.none())
        )
      )
      return HttpServerResponse.stream(Stream.concat(Stream.fromChunk(initial), rest), { contentType: serialization.contentType })
    }).pipe(Effect.interruptible, Effect.withUnhandledErrorLogLevel(Option.none()))

    const protocol = yield* RpcServer.Protocol.make((writeRequest_) => {
      writeRequest = writeRequest_
      return Effect.succeed({
        disconnects,
        send: (clientId, response) => clients.get(clientId)?.write(response) ?? Effect.void,
        end: (clientId) => clients.get(clientId)?.end ?? Effect.void,
        clientIds: Effect.sync(() => clientIds),
        initialMessage: Effect.succeedNone,
        supportsAck: false,
        supportsTransferables: false,
        supportsSpanPropagation: false
      })
    })

    const overflowedOf = (clientId: number): Effect.Effect<Overflowed> => {
      const client = clients.get(clientId)
      return client === undefined ? Effect.never : Deferred.await(client.overflowed)
    }

    return { protocol, httpApp, overflowed: overflowedOf }
  })

const concat = (arrays: Chunk.Chunk<Uint8Array>): Uint8Array => {
  if (arrays.length === 1) return Chunk.unsafeHead(arrays)
  const out = new Uint8Array(Chunk.reduce(arrays, 0, (n, a) => n + a.length))
  let offset = 0
  for (const a of arrays) {
    out.set(a, offset)
    offset += a.length
  }
  return out
}
