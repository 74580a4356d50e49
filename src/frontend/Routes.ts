/**
 * maglevd-frontend's HTTP routes (Protocol.ts has the wire shapes):
 *
 *   GET  /healthz                  200 ok
 *   GET  /                         302 → /view/
 *   GET  /view/api/state           the state document
 *   GET  /view/api/events          SSE: replay after Last-Event-ID (or ?since=), then live; keep-alive comments
 *   GET  /view/*                   the browser app (a file of the assets directory, else its index.html)
 *   /admin/…                       the same with `log` events and POST /admin/api/action, behind Auth.ts
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Cause, Duration, Effect, Option, Schedule, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Api from "../api/Api.js"
import * as Auth from "./Auth.js"
import { type Delivery, Hub } from "./Hub.js"
import * as Plan from "./Plan.js"
import { ActionRequest, type ActionResponse, ActionResponse as ActionResponseSchema, type ErrorBody, KEEP_ALIVE_MS, StateDocument } from "./Protocol.js"
import { CALL_TIMEOUT, errorText, Upstreams } from "./Upstream.js"

export interface RoutesOptions extends Auth.AuthOptions {
  /** The built browser app (index.html and its assets). */
  readonly assets: string
  /** Keep-alive comment interval on event streams; default 15 s (Protocol.KEEP_ALIVE_MS). */
  readonly keepAliveMs?: number | undefined
}

const errorJson = (status: number, error: string, tag?: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ error, ...(tag !== undefined ? { tag } : {}) } satisfies ErrorBody, { status, headers })

const encodeState = Schema.encodeSync(StateDocument)
const encodeAction = Schema.encodeSync(ActionResponseSchema)

// --- The event stream --------------------------------------------------------------

const frame = (d: Delivery, eventId: (seq: number) => string): string =>
  `${d.seq === undefined ? "" : `id: ${eventId(d.seq)}\n`}event: ${d.event.event}\ndata: ${d.json}\n\n`

const events = (admin: boolean, keepAliveMs: number) =>
  Effect.gen(function*() {
    const hub = yield* Hub
    const request = yield* HttpServerRequest.HttpServerRequest
    // The header (EventSource's own reconnect) wins; a page reopening its stream can only use the query.
    const params = new URL(request.url, "http://x").searchParams
    const since = request.headers["last-event-id"] ?? params.get("lastEventId") ?? params.get("since") ?? undefined
    const deliveries = Stream.unwrapScoped(hub.subscribe(since)).pipe(
      Stream.filter((d) => admin || d.event.event !== "log"),
      Stream.map((d) => frame(d, hub.eventId))
    )
    const keepAlive = Stream.fromSchedule(Schedule.spaced(keepAliveMs)).pipe(Stream.as(": keep-alive\n\n"))
    // The first bytes at once: headers and this comment reach the browser (and any proxy) before the first event.
    const body = Stream.concat(
      Stream.make(`retry: 2000\n: ${admin ? "admin" : "view"} events\n\n`),
      Stream.merge(deliveries, keepAlive, { haltStrategy: "left" })
    ).pipe(Stream.encodeText)
    return HttpServerResponse.stream(body, {
      contentType: "text/event-stream; charset=utf-8",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    })
  })

const state = (admin: boolean) =>
  Effect.gen(function*() {
    const hub = yield* Hub
    const doc = yield* hub.snapshot(admin)
    return HttpServerResponse.unsafeJson(encodeState(doc), { headers: { "cache-control": "no-cache" } })
  })

// --- Admin actions ------------------------------------------------------------------

const rpcFailure = (cause: unknown): HttpServerResponse.HttpServerResponse => {
  const tag = typeof cause === "object" && cause !== null && "_tag" in cause ? String((cause as { _tag: unknown })._tag) : undefined
  const message = cause instanceof Error ? cause.message : String(cause)
  switch (tag) {
    case "NotFound":
    case "InvalidArgument":
      return errorJson(400, message, tag)
    case "Conflict":
      return errorJson(409, message, tag)
    default:
      // Unauthorized (maglevd refused our token), Busy, a transport failure: the upstream failed.
      return errorJson(502, `maglevd: ${message}`, tag)
  }
}

const action = (options: RoutesOptions) =>
  Effect.gen(function*() {
    const hub = yield* Hub
    const upstreams = yield* Upstreams
    const request = yield* HttpServerRequest.HttpServerRequest
    // A browser holding basic-auth credentials sends them to any page's form post too: only JSON (which a
    // cross-site page cannot send without a CORS preflight this server never grants) from this origin.
    if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) return errorJson(415, "an action is a JSON body (Content-Type: application/json)")
    const origin = request.headers["origin"]
    if (origin !== undefined && origin !== "null" && new URL(origin).host !== request.headers["host"]) {
      return errorJson(403, `cross-origin action refused (Origin ${origin})`)
    }
    const decoded = yield* Effect.either(HttpServerRequest.schemaBodyJson(ActionRequest))
    if (decoded._tag === "Left") return errorJson(400, `bad action request: ${String(decoded.left.message ?? decoded.left)}`)
    const req = decoded.right
    const server = yield* hub.server(req.server)
    const client = upstreams.client(req.server)
    if (server === undefined || Option.isNone(client)) return errorJson(400, `unknown server "${req.server}"`)
    if (server.connection !== "up") return errorJson(502, `maglevd ${req.server} is ${server.connection}${server.error !== undefined ? `: ${server.error}` : ""}`)
    if (!server.backends.some((b) => b.name === req.backend)) return errorJson(400, `backend "${req.backend}" is not defined on ${req.server}`, "NotFound")
    if (req.action === "set-weight") {
      if (req.frontend === undefined || req.pool === undefined || req.weight === undefined) {
        return errorJson(400, "set-weight needs frontend, pool and weight")
      }
      const f = server.frontends.find((x) => x.name === req.frontend)
      if (f === undefined || !f.pools.some((p) => p.name === req.pool && p.backends.some((b) => b.backend === req.backend))) {
        return errorJson(400, `${req.frontend}/${req.pool} has no backend "${req.backend}" on ${req.server}`, "NotFound")
      }
    }
    const plan = Plan.plan(req, server, Date.now())
    const summary = Plan.summary(req, req.server, plan)
    const base: ActionResponse = { server: req.server, action: req.action, backend: req.backend, applied: false, ops: plan.ops, vips: plan.vips, summary }
    if (req.dryRun) return HttpServerResponse.unsafeJson(encodeAction(base))

    const api = client.value
    const name = { name: req.backend }
    const call: Effect.Effect<{ backendAfter?: Api.BackendInfo; frontendAfter?: Api.FrontendInfo }, unknown> = (() => {
      switch (req.action) {
        case "pause":
          return Effect.map(api.PauseBackend(name), (b) => ({ backendAfter: b }))
        case "resume":
          return Effect.map(api.ResumeBackend(name), (b) => ({ backendAfter: b }))
        case "enable":
          return Effect.map(api.EnableBackend(name), (b) => ({ backendAfter: b }))
        case "disable":
          return Effect.map(api.DisableBackend(name), (b) => ({ backendAfter: b }))
        case "set-weight":
          return Effect.map(
            api.SetFrontendPoolBackendWeight({
              frontend: req.frontend!,
              pool: req.pool!,
              backend: req.backend,
              weight: req.weight!,
              ...(req.flush !== undefined ? { flush: req.flush } : {})
            }),
            (f) => ({ frontendAfter: f })
          )
      }
    })()
    const result = yield* Effect.either(Effect.timeoutFail(call, { duration: CALL_TIMEOUT, onTimeout: () => new Error(`no answer within ${Duration.format(CALL_TIMEOUT)}`) }))
    const annotations = { event: "admin-action", server: req.server, action: req.action, backend: req.backend, summary }
    if (result._tag === "Left") {
      yield* Effect.logWarning("admin action refused").pipe(Effect.annotateLogs({ ...annotations, error: errorText(Cause.fail(result.left)) }))
      return rpcFailure(result.left)
    }
    yield* Effect.logInfo("admin action applied").pipe(Effect.annotateLogs(annotations))
    yield* upstreams.refresh(req.server)
    return HttpServerResponse.unsafeJson(encodeAction({ ...base, applied: true, ...result.right }))
  })

// --- The browser app ----------------------------------------------------------------

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8"
}

/** A file of the app under `dir` for a request path (`/assets/x.js`), or its index.html; never outside `dir`. */
const asset = (dir: string) =>
  Effect.gen(function*() {
    // The path under /view/ or /admin/ (the route's wildcard).
    const params = yield* HttpRouter.params
    const rel = (params["*"] ?? "").replace(/^\/+/, "")
    const root = path.resolve(dir)
    const wanted = path.resolve(root, rel)
    const inside = wanted === root || wanted.startsWith(root + path.sep)
    const read = (file: string) => Effect.promise(() => fs.promises.readFile(file).then((b) => b as Buffer | undefined, () => undefined))
    const file = inside && rel !== "" && !rel.endsWith("/") ? yield* read(wanted) : undefined
    if (file !== undefined) {
      // The app's files keep their names from build to build: revalidated every time.
      return HttpServerResponse.uint8Array(file, {
        contentType: TYPES[path.extname(wanted)] ?? "application/octet-stream",
        headers: { "cache-control": "no-cache" }
      })
    }
    const index = yield* read(path.join(root, "index.html"))
    if (index === undefined) {
      return HttpServerResponse.text(`the dashboard's browser app is not built: ${path.join(root, "index.html")} is missing\n`, { status: 503 })
    }
    return HttpServerResponse.uint8Array(index, { contentType: TYPES[".html"]!, headers: { "cache-control": "no-cache" } })
  })

// --- The router ---------------------------------------------------------------------

/**
 * `/view` → `/view/` (the app's relative URLs need the slash); the router
 * ignores a trailing slash when it matches, so this looks at the request's own path.
 */
const bare = <E, R>(prefix: string, handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const q = request.url.indexOf("?")
    return (q < 0 ? request.url : request.url.slice(0, q)) === prefix
      ? Effect.succeed(HttpServerResponse.redirect(`${prefix}/${q < 0 ? "" : request.url.slice(q)}`, { status: 301 }))
      : handler
  })

/** Runs `handler` for an authorized request; 401 (with the Basic challenge) or 403 otherwise. */
const guarded = <E, R>(options: Auth.AuthOptions, handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const verdict = Auth.check(options, request.headers["authorization"])
    switch (verdict) {
      case "ok":
        return yield* handler
      case "disabled":
        return errorJson(403, "the admin pages are off: start maglevd-frontend with --admin-user and --admin-password-file, or --token-file")
      case "missing":
      case "wrong":
        return errorJson(401, verdict === "missing" ? "credentials needed" : "wrong credentials", undefined, {
          "www-authenticate": `Basic realm="${Auth.REALM}", charset="UTF-8"`
        })
    }
  })

export const router = (options: RoutesOptions) => {
  const keepAlive = options.keepAliveMs ?? KEEP_ALIVE_MS
  const app = asset(options.assets)
  return HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.text("ok\n"))),
    HttpRouter.get("/", Effect.succeed(HttpServerResponse.redirect("/view/", { status: 302 }))),
    HttpRouter.get("/view/api/state", state(false)),
    HttpRouter.get("/view/api/events", events(false, keepAlive)),
    HttpRouter.get("/admin/api/state", guarded(options, state(true))),
    HttpRouter.get("/admin/api/events", guarded(options, events(true, keepAlive))),
    HttpRouter.post("/admin/api/action", guarded(options, action(options))),
    HttpRouter.get("/view/*", bare("/view", app)),
    HttpRouter.get("/view", bare("/view", app)),
    HttpRouter.get("/admin/*", bare("/admin", guarded(options, app))),
    HttpRouter.get("/admin", bare("/admin", guarded(options, app)))
  )
}
