/**
 * The one HTTP stack of every program: a node `http.Server` under
 * @effect/platform's `HttpServer`, serving a program's `HttpRouter`. maglevd's
 * RPC and /metrics servers and maglevd-frontend each build a router and hand it
 * here; what they share (listen, the bound address, closing idle keep-alive
 * connections on shutdown) lives once, in this module.
 *
 * Deep imports only: the `@effect/platform` barrel loads the Swagger and
 * Scalar UI bundles (~24 MB of heap in a daemon that never serves them).
 */
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, type Scope } from "effect"
import * as http from "node:http"

/** What a started server tells its users: where it listens. */
export interface Bound {
  /** The address actually bound. */
  readonly host: string
  readonly port: number
  /** The endpoint, e.g. `http://127.0.0.1:9090/rpc`. */
  readonly url: string
}

export interface Listener {
  /** The address actually bound. */
  readonly host: string
  readonly port: number
  /** `http://host:port` (IPv6 in brackets), no trailing slash. */
  readonly origin: string
  readonly server: HttpServer.HttpServer
}

/**
 * Listens on `host:port` (0 picks a free port) for as long as the scope is
 * open. Closing the scope closes every connection, idle keep-alive ones
 * included (Prometheus and browsers keep theirs open: without this, closing
 * would wait for them to time out). Serve with `serveRouter`.
 */
export const listen = (options: { readonly host: string; readonly port: number }): Effect.Effect<Listener, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const node = http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { host: options.host, port: options.port })
    yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
    const address = server.address
    const bound = address._tag === "TcpAddress" ? address : { hostname: options.host, port: options.port }
    const origin = `http://${bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname}:${bound.port}`
    return { host: bound.hostname, port: bound.port, origin, server }
  })

/**
 * Serves the router on the listener until the scope closes. Paths no route
 * matches answer 404 (the router's `RouteNotFound`).
 */
export const serveRouter = <E, R>(listener: Listener, router: HttpRouter.HttpRouter<E, R>) => listener.server.serve(router)

/**
 * 405 with `Allow` for every method of `path` other than `allow` (HEAD is
 * GET's unless listed: the router answers HEAD with the GET route).
 */
export const methodNotAllowed = (path: HttpRouter.PathInput, allow: ReadonlyArray<HttpMethod.HttpMethod>) =>
  <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> => {
    const header = allow.join(", ")
    const refuse = Effect.succeed(HttpServerResponse.text(`${allow.join(" or ")} only\n`, { status: 405, headers: { allow: header } }))
    let out = router
    for (const method of HttpMethod.all) {
      if (allow.includes(method) || (method === "HEAD" && allow.includes("GET"))) continue
      out = HttpRouter.route(method)(path, refuse)(out)
    }
    return out
  }
