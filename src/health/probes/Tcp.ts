/**
 * TCP probes: connect (L4OK), optionally a TLS handshake (L6OK), optionally
 * send a string and expect a pattern in what comes back (L7OK).
 *
 * - without `expect`: L4OK once connected (L6OK once the handshake is done),
 *   after `send` was written if set;
 * - with `expect`: L7OK as soon as the data received so far matches; L7RSP if
 *   the peer closes, or {@link READ_CAP} bytes came, without a match; L7TOUT if
 *   the timeout passes first (what came by then is matched one last time).
 */
import { StringDecoder } from "node:string_decoder"
import type { TcpParams } from "../../config/Config.js"
import { probeResult } from "../ProbeResult.js"
import type { Deliver } from "./internal/Scheduled.js"
import type { LoopLag } from "./internal/LoopLag.js"
import { compiled, READ_CAP } from "./internal/Regex.js"
import { type Conversation, type Endpoint, type Finish, type ProbeStream, startStream } from "./internal/StreamProbe.js"
import { dnsName, secureContext, type TlsPlan } from "./internal/Tls.js"

/**
 * Matching again after every packet of a peer that trickles one byte at a
 * time would cost O(n^2): past this many bytes, match at once only when this
 * many more came, else a little later ({@link REMATCH_DELAY_MS}, one timer at
 * a time), and at the end and at the deadline.
 */
const REMATCH_STEP = 4096
const REMATCH_DELAY_MS = 10

class Dialogue implements Conversation {
  private received = 0
  private matchedAt = 0
  private text = ""
  private decoder: StringDecoder | undefined
  private recheck: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly params: TcpParams,
    private readonly secure: boolean
  ) {}

  readonly start = (stream: ProbeStream, finish: Finish): void => {
    const okCode = this.secure ? "L6OK" : "L4OK"
    const ready = this.secure ? `TLS handshake done (${stream.tlsProtocol ?? "TLS"})` : "connected"
    const { expect, send } = this.params
    if (expect === undefined) {
      if (send === undefined) return finish(okCode, ready)
      const data = Buffer.from(send, "utf8")
      stream.write(data, () => finish(okCode, `${ready}, sent ${data.length} bytes`))
      return
    }
    this.decoder = new StringDecoder("utf8")
    if (send !== undefined) stream.write(Buffer.from(send, "utf8"))
    stream.onData((chunk: Buffer) => this.onData(chunk, expect, finish))
    stream.onClose(() => clearTimeout(this.recheck))
    stream.onEnd(() => {
      this.text += this.decoder?.end() ?? ""
      if (this.match(expect, finish)) return
      finish(
        "L7RSP",
        this.received === 0
          ? "connection closed without data"
          : `response does not match /${expect}/ (${this.received} bytes)`
      )
    })
  }

  private onData(chunk: Buffer, expect: string, finish: Finish): void {
    const room = READ_CAP - this.received
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk
    this.received += part.length
    this.text += this.decoder?.write(part) ?? ""
    const due = this.received < REMATCH_STEP || this.received - this.matchedAt >= REMATCH_STEP
    if ((due || this.received >= READ_CAP) && this.match(expect, finish)) return
    if (this.received >= READ_CAP) {
      return finish("L7RSP", `no match for /${expect}/ in the first ${READ_CAP / 1024} KiB`)
    }
    if (!due && this.recheck === undefined) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined
        if (this.matchedAt < this.received) this.match(expect, finish)
      }, REMATCH_DELAY_MS)
    }
  }

  private match(expect: string, finish: Finish): boolean {
    this.matchedAt = this.received
    if (!compiled(expect).test(this.text)) return false
    finish("L7OK", `response matches /${expect}/`)
    return true
  }

  readonly onError = (e: Error, finish: Finish): void => finish("L7RSP", e.message)

  readonly onTimeout = (timeoutMs: number, finish: Finish): void => {
    const { expect } = this.params
    if (expect !== undefined && this.received > 0 && this.match(expect, finish)) return
    finish(
      "L7TOUT",
      this.received === 0
        ? `no data within ${timeoutMs} ms`
        : `${this.received} bytes received, no match for /${expect}/ within ${timeoutMs} ms`
    )
  }
}

/** The TLS side of a tcp+tls probe: SNI from server-name when it is a name; the certificate must name server-name, else the address. */
export const tcpTlsPlan = (endpoint: Endpoint, params: TcpParams): TlsPlan | string => {
  const context = secureContext(undefined)
  if (typeof context === "string") return context
  return {
    servername: dnsName(params.serverName),
    identity: params.serverName ?? endpoint.address,
    insecure: params.insecure,
    context
  }
}

/** Starts one TCP probe now (see Deadline.ts); returns its cancel function. */
export const startTcp = (
  endpoint: Endpoint,
  params: TcpParams,
  timeoutMs: number,
  deliver: Deliver,
  lag: LoopLag | undefined
): (() => void) => {
  let plan: TlsPlan | undefined
  if (params.tls) {
    const p = tcpTlsPlan(endpoint, params)
    if (typeof p === "string") {
      deliver(probeResult("L6RSP", 0, p))
      return () => {}
    }
    plan = p
  }
  return startStream(endpoint, plan, timeoutMs, new Dialogue(params, params.tls), deliver, lag)
}
