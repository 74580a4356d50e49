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
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { RpcClient, type RpcClientError, RpcSerialization } from "@effect/rpc"
import { Context, Data, Duration, Effect, Layer, type Scope } from "effect"
import { DEFAULT_PATH, MaglevApi, type MaglevRpcs } from "./Api.js"

export type MaglevClientShape = RpcClient.RpcClient<MaglevRpcs, RpcClientError.RpcClientError>

export class MaglevClient extends Context.Tag("vpp-maglev/MaglevClient")<MaglevClient, MaglevClientShape>() {}

export interface ClientOptions {
  /** `http://host:port` (the default path `/rpc` is added) or the full endpoint URL. */
  readonly url: string
  /** Sent as `Authorization: Bearer <token>` with every call. */
  readonly token?: string | undefined
  /** How long the server has to start answering a call (its headers; a stream may then run on); none by default. */
  readonly timeout?: Duration.DurationInput | undefined
}

/** What answered is not maglevd's RPC API: a web server, another program on the port (the cause of the call's `RpcClientError`). */
export class NotMaglevd extends Data.TaggedError("NotMaglevd")<{ readonly url: string; readonly status: number; readonly contentType: string }> {
  override get message(): string {
    return `${this.url} is not maglevd's RPC API: it answered HTTP ${this.status} ${this.contentType === "" ? "without a content type" : this.contentType}`
  }
}

/** The server did not start answering within the client's `timeout` (the cause of the call's `RpcClientError`). */
export class NoAnswer extends Data.TaggedError("NoAnswer")<{ readonly url: string; readonly timeout: Duration.Duration }> {
  override get message(): string {
    return `no answer from ${this.url} within ${Duration.format(this.timeout)}`
  }
}

export const DEFAULT_URL = "http://127.0.0.1:9090"

/** The endpoint for a base URL: `/rpc` is added when the URL has no path. */
export const endpoint = (url: string): string => {
  const u = new URL(url)
  if (u.pathname === "/" || u.pathname === "") u.pathname = DEFAULT_PATH
  return u.toString()
}

const NDJSON = "application/ndjson"

/**
 * Every answer must be NDJSON: anything else is not maglevd (an HTML page
 * from a web server was taken for an empty stream, and the call waited
 * forever). With a timeout, the answer must start within it.
 */
const checked = (url: string, timeout: Duration.Duration | undefined) => (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transform(client, (response, request) => {
    const answered = Effect.flatMap(response, (r) => {
      const contentType = r.headers["content-type"] ?? ""
      return contentType.startsWith(NDJSON)
        ? Effect.succeed(r)
        : Effect.fail(
          new HttpClientError.ResponseError({ request, response: r, reason: "Decode", cause: new NotMaglevd({ url, status: r.status, contentType }) })
        )
    })
    return timeout === undefined ? answered : Effect.timeoutFail(answered, {
      duration: timeout,
      onTimeout: () => new HttpClientError.RequestError({ request, reason: "Transport", cause: new NoAnswer({ url, timeout }) })
    })
  })

/**
 * The HTTP protocol for @effect/rpc's client (node:http, NDJSON, the token on
 * every request). Not fetch: it refuses the ports the Fetch standard calls bad
 * (9, 25, 6000, ...) before connecting, with "bad port".
 */
export const protocol = (options: ClientOptions): Layer.Layer<RpcClient.Protocol> => {
  const token = options.token
  const url = endpoint(options.url)
  const check = checked(url, options.timeout === undefined ? undefined : Duration.decode(options.timeout))
  const transform = (client: HttpClient.HttpClient) =>
    check(token === undefined || token === "" ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token)))
  return RpcClient.layerProtocolHttp({
    url,
    // Typed for any client; the protocol's is the plain HttpClient, whose errors are HttpClientErrors as ours are.
    transformClient: transform as unknown as <E, R>(client: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E, R>
  }).pipe(Layer.provide([NodeHttpClient.layer, RpcSerialization.layerNdjson]))
}

/** A client for as long as the scope is open. */
export const make = (options: ClientOptions): Effect.Effect<MaglevClientShape, never, Scope.Scope> =>
  Effect.flatMap(Layer.build(protocol(options)), (context) => Effect.provide(RpcClient.make(MaglevApi), context))

export const layer = (options: ClientOptions): Layer.Layer<MaglevClient> => Layer.scoped(MaglevClient, make(options))
