/**
 * One probe over one TCP connection, as a small state machine driven by the
 * socket's events: connect (L4), then the TLS handshake (L6) if asked, then
 * the conversation of the probe kind (L7: an HTTP exchange, send/expect).
 * The stage reached decides what an error or the deadline means.
 */
import type * as net from "node:net"
import * as tls from "node:tls"
import { type ProbeCode, probeResult } from "../../ProbeResult.js"
import { isSocketFailure, netnsPath, socketFailure, tcpSocket } from "../Netns.js"
import { trace, tracing } from "../../../internal/Trace.js"
import { type Deliver, finishedAt, timedOutAt } from "./Scheduled.js"
import type { LoopLag } from "./LoopLag.js"
import { NativeSocket, nativeProbes, nodeStream, type ProbeStream } from "./NativeSocket.js"
import { type TlsPlan, tlsErrorDetail } from "./Tls.js"

export type { ProbeStream } from "./NativeSocket.js"

export interface Endpoint {
  readonly address: string
  readonly family: 4 | 6
  readonly port: number
  /** Source address to bind, if configured for this family. */
  readonly localAddress: string | undefined
  /** "" = our own namespace. */
  readonly netns: string
}

export type Stage = "connect" | "tls" | "app"

export type Finish = (code: ProbeCode, detail: string) => void

export interface Conversation {
  /** Starts talking on the ready stream (plain or TLS); reports through `finish`, once. */
  readonly start: (stream: ProbeStream, finish: Finish) => void
  /** An error of the stream while talking. */
  readonly onError: (e: Error, finish: Finish) => void
  /** The deadline passed while talking. */
  readonly onTimeout: (timeoutMs: number, finish: Finish) => void
}

/**
 * A plain connection is the native engine's (NativeSocket.ts) when it is
 * available; TLS runs over a Node socket, as tls.connect needs one.
 */
class Session {
  stage: Stage = "connect"
  /** When (performance.now()) the conversation started: the connection seen (and TLS done); -1 before. */
  talkAt = -1
  private done = false
  private code: ProbeCode = "L4CON"
  private detail = ""
  private tcp: net.Socket | undefined
  private secure: tls.TLSSocket | undefined
  private native: NativeSocket | undefined

  constructor(
    private readonly endpoint: Endpoint,
    private readonly tlsPlan: TlsPlan | undefined,
    private readonly conversation: Conversation,
    private readonly report: Finish
  ) {}

  readonly finish: Finish = (code, detail) => {
    if (this.done) return
    this.done = true
    this.code = code
    this.detail = detail
    this.destroy()
    this.report(code, detail)
  }

  private readonly onError = (e: Error): void => {
    if (this.done) return
    switch (this.stage) {
      case "connect":
        return this.finish("L4CON", e.message)
      case "tls":
        return this.finish("L6RSP", tlsErrorDetail(e))
      case "app":
        return this.conversation.onError(e, this.finish)
    }
  }

  private readonly onConnect = (): void => {
    if (this.done || this.tcp === undefined) return
    const plan = this.tlsPlan
    if (plan === undefined) return this.talk(nodeStream(this.tcp))
    this.stage = "tls"
    const options: tls.ConnectionOptions = {
      socket: this.tcp,
      host: plan.identity,
      rejectUnauthorized: !plan.insecure,
      secureContext: plan.context
    }
    if (plan.servername !== undefined) options.servername = plan.servername
    // Event handlers must not throw: an exception here would be the process's, not the probe's.
    try {
      const secure = tls.connect(options)
      this.secure = secure
      secure.on("error", this.onError)
      secure.once("secureConnect", this.onSecure)
    } catch (e) {
      this.finish("L6RSP", `cannot start TLS: ${message(e)}`)
    }
  }

  private readonly onSecure = (): void => {
    if (this.done || this.secure === undefined) return
    this.talk(nodeStream(this.secure))
  }

  private readonly onNativeConnect = (): void => {
    if (this.done || this.native === undefined) return
    this.talk(this.native)
  }

  private talk(stream: ProbeStream): void {
    this.stage = "app"
    this.talkAt = performance.now()
    try {
      this.conversation.start(stream, this.finish)
    } catch (e) {
      // E.g. a header value Node refuses to send: the request cannot be made at all.
      this.finish("L7RSP", `cannot send the request: ${message(e)}`)
    }
  }

  /** Creates the socket and starts connecting; a socket that cannot be made finishes at once. */
  open(): void {
    if (this.tlsPlan === undefined && nativeProbes) return this.openNative()
    const { endpoint } = this
    const socket = tcpSocket(endpoint.family, endpoint.netns)
    if (isSocketFailure(socket)) return this.finish("L4CON", socket.detail)
    this.tcp = socket
    socket.on("error", this.onError)
    socket.once("connect", this.onConnect)
    const options: net.TcpSocketConnectOpts = { port: endpoint.port, host: endpoint.address }
    if (endpoint.localAddress !== undefined) options.localAddress = endpoint.localAddress
    try {
      socket.connect(options)
    } catch (e) {
      this.finish("L4CON", message(e))
    }
  }

  private openNative(): void {
    const { endpoint } = this
    const socket = new NativeSocket(endpoint.address, endpoint.port, this.onNativeConnect, this.onError)
    try {
      socket.open(endpoint.family, endpoint.localAddress, endpoint.netns === "" ? undefined : netnsPath(endpoint.netns))
      this.native = socket
    } catch (e) {
      this.finish("L4CON", socketFailure(endpoint.netns, e).detail)
    }
  }

  /**
   * The deadline passed: the timeout of the stage reached (unless the
   * conversation decides on what it has). The caller has stopped listening
   * to `report`; the outcome is returned.
   */
  /**
   * Whether the backend had already done its part when the deadline fired,
   * unseen by us (native sockets only; Node's do not tell): the connect
   * completed while we still wait for it, or answer bytes wait unread. Then
   * the timeout is our lateness, not the backend's.
   */
  answeredUnread(): string | undefined {
    if (this.done || this.native === undefined) return undefined
    const pending = this.native.pending()
    if (this.stage === "connect" && pending >= 0) return "the connection was made in time but not seen (maglevd was late)"
    if (this.stage === "app" && pending > 0) return `${pending} bytes of answer came in time but were not read (maglevd was late)`
    return undefined
  }

  timedOut(timeoutMs: number): [ProbeCode, string] {
    if (!this.done) switch (this.stage) {
      case "connect":
        this.finish(
          "L4TOUT",
          `connect to ${hostPort(this.endpoint.address, this.endpoint.port)} timed out after ${timeoutMs} ms`
        )
        break
      case "tls":
        this.finish("L6TOUT", `TLS handshake timed out after ${timeoutMs} ms`)
        break
      case "app":
        this.conversation.onTimeout(timeoutMs, this.finish)
        this.finish("L7TOUT", `no answer within ${timeoutMs} ms`)
        break
    }
    return [this.code, this.detail]
  }

  destroy(): void {
    this.secure?.destroy()
    this.tcp?.destroy()
    this.native?.destroy()
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** "192.0.2.1:80", "[2001:db8::1]:80". */
export const hostPort = (address: string, port: number): string =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`

/**
 * Starts one connection probe now and returns its cancel function; `deliver`
 * gets the outcome once (possibly before this returns, when the socket cannot
 * even be made), within `timeoutMs` (and the loop's own lateness) of the
 * start, and the socket is always closed. Cancelling (a pause, a reload, the
 * scope closing) clears the timer and destroys the socket.
 *
 * A reply read after the deadline is a timeout, never a success; timeouts
 * carry how late the loop was (Deadline.ts), for the self-lateness rule.
 */
export const startStream = (
  endpoint: Endpoint,
  tlsPlan: TlsPlan | undefined,
  timeoutMs: number,
  conversation: Conversation,
  deliver: Deliver,
  lag: LoopLag | undefined
): (() => void) => {
  const started = performance.now()
  let settled = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const session = new Session(endpoint, tlsPlan, conversation, (code, detail) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    deliver(finishedAt(probeResult(code, performance.now() - started, detail), started, timeoutMs, lag))
  })
  timer = setTimeout(() => {
    if (settled) return
    settled = true
    const unread = session.answeredUnread()
    const [code, detail] = session.timedOut(timeoutMs)
    const result = timedOutAt(code, detail, started, timeoutMs, lag)
    if (tracing()) {
      const ms = (x: number) => Math.round(x * 10) / 10
      const talk = session.talkAt < 0 ? "-" : ms(session.talkAt - started)
      const held = lag === undefined ? "-" : ms(lag.heldSince(started))
      trace("probe-timeout", `${endpoint.address} ${code} after=${ms(result.durationMs)} talk=${talk} late=${ms(result.selfLateMs ?? 0)} held=${held} unread=${unread !== undefined}`)
    }
    // The backend was in time and we were not: never the backend's failure (SelfLate.ts).
    deliver(unread === undefined ? result : { ...result, detail: `${detail}; ${unread}`, selfLateMs: Math.max(result.selfLateMs ?? 0, timeoutMs) })
  }, timeoutMs)
  session.open()
  return () => {
    settled = true
    clearTimeout(timer)
    session.destroy()
  }
}
