/**
 * A client of maglevd's RPC API over HTTP (NDJSON), for maglevc, the dashboard
 * and scripts: the typed `RpcClient` of `MaglevApi`, given the server's URL and,
 * when the server wants one, its bearer token.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const maglev = yield* Client.make({ url: "http://127.0.0.1:9090", token })
 *   const frontends = yield* maglev.ListFrontends()
 *   yield* maglev.PauseBackend({ name: "web1" })
 * })
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * Payloads are checked against their schemas before they are sent: a bad one
 * (weight 150) fails in the caller as a defect carrying the ParseError, and
 * never reaches the server. Transport failures are `RpcClientError`s.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { RpcClient, type RpcClientError, RpcSerialization } from "@effect/rpc"
import { Context, Effect, Layer, type Scope } from "effect"
import { DEFAULT_PATH, MaglevApi, type MaglevRpcs } from "./Api.js"

export type MaglevClientShape = RpcClient.RpcClient<MaglevRpcs, RpcClientError.RpcClientError>

export class MaglevClient extends Context.Tag("vpp-maglev/MaglevClient")<MaglevClient, MaglevClientShape>() {}

export interface ClientOptions {
  /** `http://host:port` (the default path `/rpc` is added) or the full endpoint URL. */
  readonly url: string
  /** Sent as `Authorization: Bearer <token>` with every call. */
  readonly token?: string | undefined
}

export const DEFAULT_URL = "http://127.0.0.1:9090"

/** The endpoint for a base URL: `/rpc` is added when the URL has no path. */
export const endpoint = (url: string): string => {
  const u = new URL(url)
  if (u.pathname === "/" || u.pathname === "") u.pathname = DEFAULT_PATH
  return u.toString()
}

/** The HTTP protocol for @effect/rpc's client (fetch, NDJSON, the token on every request). */
export const protocol = (options: ClientOptions): Layer.Layer<RpcClient.Protocol> => {
  const token = options.token
  return RpcClient.layerProtocolHttp({
    url: endpoint(options.url),
    transformClient: token === undefined || token === ""
      ? (client) => client
      : HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  }).pipe(Layer.provide([FetchHttpClient.layer, RpcSerialization.layerNdjson]))
}

/** A client for as long as the scope is open. */
export const make = (options: ClientOptions): Effect.Effect<MaglevClientShape, never, Scope.Scope> =>
  Effect.flatMap(Layer.build(protocol(options)), (context) => Effect.provide(RpcClient.make(MaglevApi), context))

export const layer = (options: ClientOptions): Layer.Layer<MaglevClient> => Layer.scoped(MaglevClient, make(options))
