/**
 * maglevd-frontend as a layer: the Hub (state and events), the Upstreams
 * (one set of fibers per maglevd) and the HTTP server with the dashboard's
 * router (Routes.ts). Closing its scope stops listening, ends every event
 * stream and every watch.
 */
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as HttpListener from "../internal/HttpListener.js"
import * as Auth from "./Auth.js"
import * as Hub from "./Hub.js"
import * as Routes from "./Routes.js"
import * as Upstream from "./Upstream.js"

export interface FrontendOptions extends Upstream.UpstreamOptions, Auth.AuthOptions, Hub.HubOptions {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** Default 9092; 0 picks a free one. */
  readonly port?: number | undefined
  /** The built browser app; default env MAGLEV_FRONTEND_ASSETS, else `defaultAssets()`. */
  readonly assets?: string | undefined
  readonly keepAliveMs?: number | undefined
}

/** `url`: `http://host:port/`. */
export interface FrontendServerShape extends HttpListener.Bound {}

export class FrontendServer extends Context.Tag("vpp-maglev/frontend/FrontendServer")<FrontendServer, FrontendServerShape>() {}

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 9092

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * Where the built browser app is: `web/` beside this module (the Debian
 * package's bundle layout), else `web/dist` in the nearest directory above
 * it that has one (the sources run through tsx, the npm package's
 * `dist/bundle/`, the test bundles under node_modules/.cache). The last
 * candidate when none has an index.html (the 503 page names it).
 */
export const defaultAssets = (from: string = here): string => {
  const beside = path.join(from, "web")
  if (fs.existsSync(path.join(beside, "index.html"))) return beside
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "web", "dist")
    if (fs.existsSync(path.join(candidate, "index.html"))) return candidate
    if (path.dirname(dir) === dir) return path.resolve(from, "..", "..", "web", "dist")
  }
}

export const make = Effect.fn("FrontendServer.make")(function*(options: FrontendOptions) {
  const host = options.host ?? DEFAULT_HOST
  const fromEnv = process.env["MAGLEV_FRONTEND_ASSETS"]
  const assets = options.assets ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : defaultAssets())
  const listener = yield* HttpListener.listen({ host, port: options.port ?? DEFAULT_PORT })
  yield* HttpListener.serveRouter(listener, Routes.router({ ...options, assets }))
  const url = `${listener.origin}/`
  const admin = Auth.enabled(options) ? (options.adminUser !== undefined && options.adminUser !== "" ? "basic" : "token") : "off"
  yield* Effect.logInfo("dashboard listening").pipe(
    Effect.annotateLogs({ event: "frontend-listen", url, admin, assets, servers: options.servers.join(",") })
  )
  return FrontendServer.of({ host: listener.host, port: listener.port, url })
})

export const layer = (options: FrontendOptions): Layer.Layer<FrontendServer | Hub.Hub | Upstream.Upstreams, unknown> =>
  Layer.scoped(FrontendServer, make(options)).pipe(
    Layer.provideMerge(Upstream.layer(options)),
    Layer.provideMerge(Hub.layer(options))
  )
