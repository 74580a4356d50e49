/**
 * One probe of a VIP, as a client makes it: an HTTP(S) GET of the URI, or a
 * TCP connect. Node's own HTTP client, with no agent (a new connection every
 * probe, `Connection: close`, so Maglev hashes every probe afresh) or, with
 * `--keepalive`, a one-socket keep-alive agent per VIP. A few requests a
 * second per VIP do not need the health checker's lean hand-written client;
 * this one hands us the response header that names the backend.
 *
 * The latency is from the start of the connection to the end of the response
 * body (HTTP) or to the connection's establishment (TCP). A probe never
 * fails: what went wrong is an `Outcome`.
 */
import { Duration, Effect, type Scope } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import { performance } from "node:perf_hooks"
import { dnsName } from "../health/probes/internal/Tls.js"
import { USER_AGENT } from "../health/probes/internal/UserAgent.js"
import * as O from "./Outcome.js"
import type { Target } from "./Targets.js"

export interface ProbeOptions {
  readonly timeout: Duration.Duration
  /** Path and query of the HTTP request. */
  readonly uri: string
  /** Host header (and TLS server name when it is a DNS name); default the VIP's address:port. */
  readonly host: string | undefined
  /** The response header that names the backend. */
  readonly header: string
  /** Skip certificate verification (HTTPS). */
  readonly insecure: boolean
  readonly keepalive: boolean
}

interface Attempt {
  readonly started: number
  connected: boolean
}

const elapsed = (a: Attempt) => performance.now() - a.started

const failure = (a: Attempt, e: unknown): O.Outcome => {
  const err = e as NodeJS.ErrnoException
  return O.network(elapsed(a), O.networkReason(err.code), err.message ?? String(e))
}

const headerValue = (v: string | Array<string> | undefined): string | undefined => (Array.isArray(v) ? v.join(", ") : v)

/** What the attempt found, or the timeout's outcome (the socket is destroyed by the interruption). */
const within = (timeout: Duration.Duration, attempt: (a: Attempt) => Effect.Effect<O.Outcome>): Effect.Effect<O.Outcome> =>
  Effect.suspend(() => {
    const a: Attempt = { started: performance.now(), connected: false }
    return attempt(a).pipe(
      Effect.timeoutTo({ duration: timeout, onSuccess: (o) => o, onTimeout: () => O.timeout(elapsed(a), a.connected ? "response" : "connect") })
    )
  })

const tcpProbe = (target: Target, o: ProbeOptions): Effect.Effect<O.Outcome> =>
  within(o.timeout, (a) =>
    Effect.async<O.Outcome>((resume) => {
      let done = false
      const finish = (outcome: O.Outcome) => {
        if (done) return
        done = true
        resume(Effect.succeed(outcome))
      }
      const socket = net.connect({ host: target.address, port: target.port })
      socket.once("connect", () => {
        a.connected = true
        finish(O.ok(elapsed(a)))
        socket.destroy()
      })
      socket.on("error", (e) => finish(failure(a, e)))
      return Effect.sync(() => {
        done = true
        socket.destroy()
      })
    }))

const httpProbe = (target: Target, o: ProbeOptions, agent: http.Agent | false): Effect.Effect<O.Outcome> => {
  const header = o.header.toLowerCase()
  const host = o.host ?? target.endpoint
  const servername = dnsName(host)
  const request = target.kind === "https" ? https.request : http.request
  return within(o.timeout, (a) =>
    Effect.async<O.Outcome>((resume) => {
      let done = false
      const finish = (outcome: O.Outcome) => {
        if (done) return
        done = true
        resume(Effect.succeed(outcome))
      }
      const req = request({
        host: target.address,
        port: target.port,
        path: o.uri,
        method: "GET",
        agent,
        headers: { Host: host, "User-Agent": USER_AGENT, Accept: "*/*", ...(o.keepalive ? {} : { Connection: "close" }) },
        ...(target.kind === "https" ? { rejectUnauthorized: !o.insecure, servername: servername ?? "" } : {})
      })
      req.once("socket", (socket) => {
        if (!socket.connecting) a.connected = true // a kept-alive connection
        else socket.once("connect", () => void (a.connected = true))
      })
      req.once("response", (res) => {
        const status = res.statusCode ?? 0
        const servedBy = headerValue(res.headers[header])
        res.once("end", () => finish(O.isGoodStatus(status) ? O.ok(elapsed(a), status, servedBy) : O.httpStatus(elapsed(a), status, servedBy)))
        res.on("error", (e) => finish(failure(a, e)))
        res.resume()
      })
      req.on("error", (e) => finish(failure(a, e)))
      req.end()
      return Effect.sync(() => {
        done = true
        req.destroy()
      })
    }))
}

/** Whatever Node threw (it should not: the options are checked) is a failed probe, not a dead prober. */
const neverDies = (probe: Effect.Effect<O.Outcome>): Effect.Effect<O.Outcome> =>
  Effect.catchAllDefect(probe, (d) => Effect.succeed(O.network(0, "other", d instanceof Error ? d.message : String(d))))

/** The probe of one target: HTTP(S) or TCP as its kind says; with keep-alive, its agent lives as long as the scope. */
export const make = (target: Target, o: ProbeOptions): Effect.Effect<Effect.Effect<O.Outcome>, never, Scope.Scope> => {
  if (target.kind === "tcp") return Effect.succeed(neverDies(tcpProbe(target, o)))
  if (!o.keepalive) return Effect.succeed(neverDies(httpProbe(target, o, false)))
  return Effect.acquireRelease(
    Effect.sync(() => (target.kind === "https" ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : new http.Agent({ keepAlive: true, maxSockets: 1 }))),
    (agent) => Effect.sync(() => agent.destroy())
  ).pipe(Effect.map((agent) => neverDies(httpProbe(target, o, agent))))
}
