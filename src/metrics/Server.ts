/**
 * maglevd's Prometheus endpoint: `GET /metrics` (HEAD too) answers the text
 * exposition format (Prometheus.ts) of Effect's metric registry (the counters
 * of Metrics.ts, and any other metric of the process) and of the gauges read
 * from the services at that moment (Gauges.ts). Any other path is 404, any
 * other method on /metrics 405. Read-only, no authentication, as Prometheus
 * scrapes it.
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Metric } from "effect"
import * as http from "node:http"
import type * as HealthChecker from "../health/HealthChecker.js"
import type * as LbSync from "../lb/LbSync.js"
import type * as Supervisor from "../vpp/Supervisor.js"
import * as Gauges from "./Gauges.js"
import * as Prometheus from "./Prometheus.js"

export interface MetricsServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  readonly host?: string | undefined
  /** TCP port; default 9091; 0 picks a free one (see `MetricsServer.port`). */
  readonly port?: number | undefined
}

export interface MetricsServerShape {
  /** The address actually bound. */
  readonly host: string
  readonly port: number
  /** The endpoint, e.g. `http://127.0.0.1:9091/metrics`. */
  readonly url: string
}

export class MetricsServer extends Context.Tag("vpp-maglev/MetricsServer")<MetricsServer, MetricsServerShape>() {}

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 9091
export const PATH = "/metrics"

type Services = HealthChecker.HealthChecker | Supervisor.VppSupervisor | LbSync.LbSync

/** The exposition text right now: the registry's metrics and the services' gauges. */
export const scrape: Effect.Effect<string, never, Services> = Effect.gen(function*() {
  const gauges = yield* Gauges.collect
  const registry = Prometheus.fromSnapshot(yield* Metric.snapshot)
  return Prometheus.render([...registry, ...gauges])
})

export const make = Effect.fn("MetricsServer.make")(function*(options: MetricsServerOptions) {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const listener = http.createServer()
  const server = yield* NodeHttpServer.make(() => listener, { host, port })
  // Prometheus keeps its connection open between scrapes: without this, closing waits for it to time out.
  yield* Effect.addFinalizer(() => Effect.sync(() => listener.closeAllConnections()))
  const app = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.url.split("?")[0] !== PATH) return HttpServerResponse.text("not found\n", { status: 404 })
    if (request.method !== "GET" && request.method !== "HEAD") {
      return HttpServerResponse.text("GET only\n", { status: 405, headers: { allow: "GET, HEAD" } })
    }
    const body = yield* scrape
    return HttpServerResponse.text(body, { contentType: Prometheus.CONTENT_TYPE })
  })
  yield* server.serve(app)
  const address = server.address
  const bound = address._tag === "TcpAddress" ? address : { hostname: host, port }
  const url = `http://${bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname}:${bound.port}${PATH}`
  yield* Effect.logInfo("metrics server listening").pipe(Effect.annotateLogs({ event: "metrics-listen", url }))
  return MetricsServer.of({ host: bound.hostname, port: bound.port, url })
})

/** The metrics endpoint over the daemon's services; closing its scope stops listening. */
export const layer = (options: MetricsServerOptions = {}) => Layer.scoped(MetricsServer, make(options))
