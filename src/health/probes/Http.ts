/**
 * HTTP and HTTPS probes: one HTTP/1.1 request written by hand on a socket we
 * connected ourselves (so it can come from another network namespace and the
 * stage that failed is known), the response parsed incrementally as it comes
 * (internal/HttpResponse.ts). No keep-alive, `Connection: close`. Node's http
 * client is not used: its ClientRequest, parser and IncomingMessage streams
 * cost three times the CPU of the whole exchange, and 10,000 probes a second
 * cannot afford it.
 *
 * - L7OK: the status is one of the expected codes (and the body matches
 *   response-regex, if set);
 * - L7STS: any other status (decided as soon as the status line is in);
 * - L7RSP: the body does not match, headers over {@link HEADER_CAP}, a
 *   malformed response, the connection closed before the response was whole,
 *   a request that cannot be built (CR/LF in a header);
 * - L7TOUT: connected (and TLS done) but no whole response within the timeout;
 * - L4CON / L4TOUT, L6RSP / L6TOUT: see StreamProbe.
 *
 * At most {@link READ_CAP} bytes of body are read: then the socket is
 * destroyed and the probe decides on what it has (the status, and the regex
 * against those first 64 KiB). A gigabyte body costs 64 KiB.
 *
 * Once decided, a plain TCP connection is closed with a reset, as HAProxy does
 * for its checks: no FIN exchange and no TIME_WAIT left behind for a probe.
 */
import { StringDecoder } from "node:string_decoder"
import type { HttpParams } from "../../config/Config.js"
import { type ProbeCode, probeResult } from "../ProbeResult.js"
import type { Deliver } from "./internal/Scheduled.js"
import type { LoopLag } from "./internal/LoopLag.js"
import { HEADER_CAP, ResponseParser } from "./internal/HttpResponse.js"
import { compiled, READ_CAP } from "./internal/Regex.js"
import { type Conversation, type Endpoint, type Finish, hostPort, type ProbeStream, startStream } from "./internal/StreamProbe.js"
import { dnsName, secureContext, type TlsPlan } from "./internal/Tls.js"
import { USER_AGENT } from "./internal/UserAgent.js"

export { HEADER_CAP }

const expected = (params: HttpParams, status: number): boolean => {
  for (const range of params.expectedCodes) if (status >= range.from && status <= range.to) return true
  return false
}

// ---------------------------------------------------------------------------
// the request

/** RFC 9110 token: a header name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** What a header value may hold (as Node's http client checks): no CR, LF or other controls, latin1. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** A request target: no spaces or controls, latin1. */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/

/**
 * The request's bytes, or why it cannot be sent. Configured headers replace
 * ours of the same name (case-insensitively) and follow in file order.
 */
export const buildRequest = (params: HttpParams, host: string): Buffer | string => {
  if (!TARGET.test(params.path)) return `invalid character in the path ${JSON.stringify(params.path)}`
  let head = `${params.method} ${params.path} HTTP/1.1\r\n`
  const configured = (lower: string): boolean => params.headers.some(([n]) => n.toLowerCase() === lower)
  if (!configured("host")) {
    if (!FIELD_VALUE.test(host)) return `invalid character in header "Host"`
    head += `Host: ${host}\r\n`
  }
  if (!configured("user-agent")) head += `User-Agent: ${USER_AGENT}\r\n`
  if (!configured("accept")) head += "Accept: */*\r\n"
  if (!configured("connection")) head += "Connection: close\r\n"
  for (const [name, value] of params.headers) {
    if (!TOKEN.test(name)) return `invalid header name ${JSON.stringify(name)}`
    if (!FIELD_VALUE.test(value)) return `invalid character in header "${name}"`
    head += `${name}: ${value}\r\n`
  }
  return Buffer.from(`${head}\r\n`, "latin1")
}

/**
 * Requests by check (the same HttpParams object for every probe of every
 * backend using it) and Host: built once, not once a probe. Bounded: a check
 * shared by more backends than this rebuilds some requests, which is all.
 */
const requests = new WeakMap<HttpParams, Map<string, Buffer | string>>()
const REQUESTS_PER_CHECK = 16384

const request = (params: HttpParams, host: string): Buffer | string => {
  let byHost = requests.get(params)
  if (byHost === undefined) {
    byHost = new Map()
    requests.set(params, byHost)
  }
  let req = byHost.get(host)
  if (req === undefined) {
    if (byHost.size >= REQUESTS_PER_CHECK) byHost.clear()
    req = buildRequest(params, host)
    byHost.set(host, req)
  }
  return req
}

// ---------------------------------------------------------------------------
// the exchange

/** The HTTP exchange of one probe. */
class Exchange implements Conversation {
  private readonly parser: ResponseParser
  private stream: ProbeStream | undefined
  private finish: Finish | undefined
  private decided = false
  /** "HTTP 200 OK", once the response's head is in. */
  private status = ""
  private decoder: StringDecoder | undefined
  private text = ""

  constructor(
    private readonly params: HttpParams,
    private readonly request: Buffer
  ) {
    this.parser = new ResponseParser(params.method === "HEAD", READ_CAP)
  }

  readonly start = (stream: ProbeStream, finish: Finish): void => {
    this.stream = stream
    this.finish = finish
    stream.onData(this.onData)
    stream.onEnd(this.onEnd)
    stream.write(this.request)
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.decided) return
    this.parser.feed(chunk)
    this.drain()
  }

  private readonly onEnd = (): void => {
    if (this.decided) return
    this.parser.end()
    this.drain()
  }

  /** Acts on what the parser made of the bytes so far. */
  private drain(): void {
    const p = this.parser
    for (;;) {
      switch (p.next()) {
        case "more":
          return
        case "status":
          if (!expected(this.params, p.status)) return this.decide("L7STS", statusText(p))
          break
        case "head":
          this.status = statusText(p)
          if (this.params.responseRegex !== undefined) this.decoder = new StringDecoder("utf8")
          break
        case "body":
          if (this.decoder !== undefined) this.text += this.decoder.write(p.body)
          break
        case "done":
          return this.complete()
        case "error": {
          const failure = p.failure
          switch (failure?.kind) {
            case "malformed":
              return this.decide("L7RSP", `malformed HTTP response: ${failure.reason}`)
            case "closed-mid-body":
              return this.decide("L7RSP", `connection closed in the middle of the body (${this.status})`)
            default:
              return this.decide("L7RSP", failure?.reason ?? "malformed HTTP response")
          }
        }
      }
    }
  }

  /** The whole response (or its first READ_CAP bytes of body) is in. */
  private complete(): void {
    const regex = this.params.responseRegex
    if (regex === undefined || this.decoder === undefined) return this.decide("L7OK", this.status)
    this.text += this.decoder.end()
    if (compiled(regex).test(this.text)) this.decide("L7OK", this.status)
    else this.decide("L7RSP", `body does not match /${regex}/ (${this.status})`)
  }

  /** Reports once; a plain TCP socket is reset first (StreamProbe's finish destroys the rest). */
  private decide(code: ProbeCode, detail: string): void {
    if (this.decided) return
    this.decided = true
    this.stream?.reset()
    this.finish?.(code, detail)
  }

  readonly onError = (e: Error, finish: Finish): void => {
    if (this.decided) return
    this.decided = true
    if (this.status !== "") return finish("L7RSP", `connection closed in the middle of the body (${this.status})`)
    const code = (e as { code?: unknown }).code
    finish("L7RSP", typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message)
  }

  readonly onTimeout = (timeoutMs: number, finish: Finish): void => {
    if (this.status !== "") {
      return finish("L7TOUT", `${this.status}, body incomplete after ${timeoutMs} ms (${this.parser.bodyBytes} bytes)`)
    }
    const got = this.stream?.bytesRead ?? 0
    finish("L7TOUT", `no response within ${timeoutMs} ms${got > 0 ? ` (${got} bytes received)` : ""}`)
  }
}

const statusText = (p: ResponseParser): string => (p.reason !== "" ? `HTTP ${p.status} ${p.reason}` : `HTTP ${p.status}`)

/** The TLS side of an https probe: SNI and identity from server-name, else from the Host header if it names a host. */
export const httpsPlan = (
  endpoint: Endpoint,
  params: HttpParams
): TlsPlan | string => {
  const context = secureContext(params.caFile)
  if (typeof context === "string") return context
  const name = dnsName(params.serverName) ?? (params.serverName === undefined ? dnsName(params.host) : undefined)
  return {
    servername: name,
    identity: params.serverName ?? name ?? endpoint.address,
    insecure: params.insecure,
    context
  }
}

/** Starts one HTTP (or, with `https`, HTTPS) probe now (see Deadline.ts); returns its cancel function. */
export const startHttp = (
  endpoint: Endpoint,
  params: HttpParams,
  https: boolean,
  timeoutMs: number,
  deliver: Deliver,
  lag: LoopLag | undefined
): (() => void) => {
  const host = params.host ?? hostPort(endpoint.address, endpoint.port)
  // A request that cannot be written (the config checked, so never in practice) needs no connection.
  const req = request(params, host)
  if (typeof req === "string") {
    deliver(probeResult("L7RSP", 0, `cannot send the request: ${req}`))
    return () => {}
  }
  let plan: TlsPlan | undefined
  if (https) {
    const p = httpsPlan(endpoint, params)
    if (typeof p === "string") {
      deliver(probeResult("L6RSP", 0, p))
      return () => {}
    }
    plan = p
  }
  return startStream(endpoint, plan, timeoutMs, new Exchange(params, req), deliver, lag)
}
