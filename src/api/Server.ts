/**
 * maglevd's RPC server: `MaglevApi` over HTTP with @effect/rpc's NDJSON
 * serialization (one POST per request; a streaming RPC's answer is a chunked
 * NDJSON response), on @effect/platform-node's HTTP server.
 *
 *   POST /rpc (HttpRouter; other methods 405, other paths 404)
 *             ─▶ size cap (413) ─▶ Gate: framing, ids, RPC names, payload schemas (400, InvalidArgument)
 *             ─▶ @effect/rpc: Authorization middleware (Unauthorized) ─▶ Handlers.ts
 *
 * With a token, every mutating call (Api.ts `isMutating`) needs
 * `Authorization: Bearer <token>`; with `readonlyToo`, every call. Listening
 * beyond loopback without a token is logged as `rpc-insecure` (warning).
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { RpcSerialization, RpcServer } from "@effect/rpc"
import { Context, Effect, Layer, LogLevel, Option, type Scope } from "effect"
import * as crypto from "node:crypto"
import { Authorization, DEFAULT_PATH, isMutating, MaglevApi, Unauthorized } from "./Api.js"
import * as Handlers from "./Handlers.js"
import * as HttpListener from "../internal/HttpListener.js"
import * as LogLimit from "../internal/LogLimit.js"
import { check, defectBody } from "./internal/Gate.js"
import * as HttpProtocol from "./internal/HttpProtocol.js"

export interface ServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  readonly host?: string | undefined
  /** TCP port; default 9090; 0 picks a free one (see `ApiServer.port`). */
  readonly port?: number | undefined
  /** The RPC endpoint's path; default `/rpc`. */
  readonly path?: string | undefined
  /** Bearer token; none (undefined or "") = no authentication. */
  readonly token?: string | undefined
  /** With a token: read-only calls need it too. */
  readonly readonlyToo?: boolean | undefined
  /** Largest request body; default 1 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** Open `WatchEvents` streams at most (`--rpc-max-watchers`); default 64. */
  readonly maxWatchers?: number | undefined
  /** Of those, at debug level at most (`--rpc-max-debug-watchers`); default 4. */
  readonly maxDebugWatchers?: number | undefined
  /** Bytes of events a watcher may leave unread before it is dropped with `Overflow`; default 256 KiB. */
  readonly maxStreamBytes?: number | undefined
}

/** `url`: the endpoint, e.g. `http://127.0.0.1:9090/rpc`. */
export interface ApiServerShape extends HttpListener.Bound {}

export class ApiServer extends Context.Tag("vpp-maglev/ApiServer")<ApiServer, ApiServerShape>() {}

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 9090
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
export { DEFAULT_MAX_DEBUG_WATCHERS, DEFAULT_MAX_WATCHERS } from "./Handlers.js"
export { DEFAULT_MAX_QUEUED_BYTES as DEFAULT_MAX_STREAM_BYTES } from "./internal/HttpProtocol.js"

export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\./.test(host) || /^::ffff:127\./i.test(host)

/**
 * A listen address as `--rpc-addr` takes it: `host:port`, `[v6]:port`, or
 * `:port` (every interface); undefined when it is not one.
 */
export const parseListenAddress = (text: string): { readonly host: string; readonly port: number } | undefined => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? m[2] ?? ""
  return { host: host === "" ? "0.0.0.0" : host, port }
}

const digest = (s: string) => crypto.createHash("sha256").update(s).digest()

/** Constant time in the token's content (both sides hashed to one length first). */
export const sameSecret = (a: string, b: string): boolean => crypto.timingSafeEqual(digest(a), digest(b))

/** The `Authorization` middleware: the bearer token on the calls that need it; a no-op without a token. */
export const authorization = (options: Pick<ServerOptions, "token" | "readonlyToo">): Layer.Layer<Authorization> => {
  const token = options.token === "" ? undefined : options.token
  return Layer.succeed(
    Authorization,
    Authorization.of(({ headers, payload, rpc }) => {
      if (token === undefined || (options.readonlyToo !== true && !isMutating(rpc, payload))) return Effect.void
      const given = headers["authorization"]
      if (given === undefined) return Effect.fail(new Unauthorized({ reason: `${rpc._tag} needs Authorization: Bearer <token>` }))
      const match = /^Bearer\s+(.+)$/i.exec(given.trim())
      if (match === null || !sameSecret(match[1]!, token)) return Effect.fail(new Unauthorized({ reason: "wrong token" }))
      return Effect.void
    })
  )
}

const ndjson = (status: number, body: string) => HttpServerResponse.text(body, { status, contentType: "application/ndjson" })

/** The checks in front of @effect/rpc's HTTP app (see the module comment). */
const guarded = (rpcApp: HttpApp.Default<never, Scope.Scope>, maxBodyBytes: number): HttpApp.Default<never, Scope.Scope> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const tooLarge = ndjson(413, defectBody(`request body larger than ${maxBodyBytes} bytes`))
    const length = Number(request.headers["content-length"] ?? "0")
    if (length > maxBodyBytes) return tooLarge
    // The body is read once: @effect/rpc's app gets the same text from the request's cache.
    const text = yield* Effect.either(request.text)
    if (text._tag === "Left") return String(text.left.cause).includes("maxBytes") ? tooLarge : ndjson(400, defectBody("cannot read the request body"))
    const outcome = check(MaglevApi, text.right)
    if (outcome._tag === "Reject") return ndjson(outcome.status, outcome.body)
    return yield* rpcApp
  }).pipe(HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)))

/**
 * The RPC endpoint on a router: `POST path` (405 for other methods). The RPC
 * server runs in the scope: closing it ends every open stream.
 */
export const routes = Effect.fn("ApiServer.routes")(function*(options: ServerOptions) {
  const path = (options.path ?? DEFAULT_PATH) as HttpRouter.PathInput
  // Slow readers are a client's choice: their drops are logged rate-limited.
  const limit = yield* LogLimit.make()
  const { httpApp, overflowed, protocol } = yield* HttpProtocol.make({
    maxQueuedBytes: options.maxStreamBytes,
    onOverflow: ({ limitBytes, queuedBytes }) =>
      limit.log(LogLevel.Warning, "a WatchEvents reader fell too far behind: its events were dropped and its stream ended", {
        event: "rpc-watch-overflow",
        queued_bytes: queuedBytes,
        limit_bytes: limitBytes
      })
  })
  const handlers = yield* Layer.build(Handlers.layer({ maxWatchers: options.maxWatchers, maxDebugWatchers: options.maxDebugWatchers, overflowed }))
  yield* RpcServer.make(MaglevApi).pipe(
    Effect.provide(handlers),
    Effect.provideService(RpcServer.Protocol, protocol),
    Effect.interruptible,
    Effect.forkScoped
  )
  const app = guarded(httpApp, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)
  return <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
    router.pipe(
      // As the platform runs a bare app: the request's fiber is not interrupted half-way through an RPC exchange.
      HttpRouter.post(path, app, { uninterruptible: true }),
      HttpListener.methodNotAllowed(path, ["POST"])
    )
})

export const make = Effect.fn("ApiServer.make")(function*(options: ServerOptions) {
  const host = options.host ?? DEFAULT_HOST
  const path = options.path ?? DEFAULT_PATH
  const listener = yield* HttpListener.listen({ host, port: options.port ?? DEFAULT_PORT })
  // Started after the listener, so stopped before it closes (it ends open streams; then nothing is owed to any connection).
  const mount = yield* routes(options)
  yield* HttpListener.serveRouter(listener, mount(HttpRouter.empty))
  const url = `${listener.origin}${path}`
  const auth = options.token === undefined || options.token === "" ? "none" : options.readonlyToo === true ? "all" : "mutating"
  yield* Effect.logInfo("RPC server listening").pipe(Effect.annotateLogs({ event: "rpc-listen", url, auth }))
  if (auth === "none" && !isLoopback(host)) {
    yield* Effect.logWarning("RPC server listens beyond loopback without a token: anyone who can reach it can change the daemon").pipe(
      Effect.annotateLogs({ event: "rpc-insecure", url })
    )
  }
  return ApiServer.of({ host: listener.host, port: listener.port, url })
})

/**
 * The RPC server over the daemon's services, `Control` and the `LogHub`.
 * Closing its scope stops listening and ends every open `WatchEvents` stream.
 */
export const layer = (options: ServerOptions = {}) =>
  Layer.scoped(ApiServer, make(options)).pipe(
    Layer.provide(Layer.merge(authorization(options), RpcSerialization.layerNdjson))
  )
