/**
 * What one probe of a VIP found: a value, never an error. The I/O shell
 * (Probe.ts) makes these; the model (Monitor.ts) only reads them.
 */

/** Why a connection failed, as an operator reads it. */
export type NetworkReason = "refused" | "reset" | "unreachable" | "tls" | "other"

export type Outcome =
  /** An answer: a TCP connect, or an HTTP response with a 2xx or 3xx status. */
  | { readonly _tag: "Ok"; readonly latencyMs: number; readonly status: number | undefined; readonly servedBy: string | undefined }
  /** An HTTP response with any other status; still served by someone. */
  | { readonly _tag: "HttpStatus"; readonly latencyMs: number; readonly status: number; readonly servedBy: string | undefined }
  /** Nothing within the timeout: no connection, or no whole response. */
  | { readonly _tag: "Timeout"; readonly latencyMs: number; readonly stage: "connect" | "response" }
  | { readonly _tag: "Network"; readonly latencyMs: number; readonly reason: NetworkReason; readonly detail: string }

export const ok = (latencyMs: number, status?: number, servedBy?: string): Outcome => ({ _tag: "Ok", latencyMs, status, servedBy })
export const httpStatus = (latencyMs: number, status: number, servedBy?: string): Outcome => ({ _tag: "HttpStatus", latencyMs, status, servedBy })
export const timeout = (latencyMs: number, stage: "connect" | "response"): Outcome => ({ _tag: "Timeout", latencyMs, stage })
export const network = (latencyMs: number, reason: NetworkReason, detail: string): Outcome => ({ _tag: "Network", latencyMs, reason, detail })

/** An HTTP status that counts as success, as health checks default to. */
export const isGoodStatus = (status: number): boolean => status >= 200 && status <= 399

/** A system error code as a reason. */
export const networkReason = (code: string | undefined): NetworkReason => {
  switch (code) {
    case "ECONNREFUSED":
      return "refused"
    case "ECONNRESET":
    case "EPIPE":
    case "ECONNABORTED":
      return "reset"
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
    case "ENETDOWN":
    case "EADDRNOTAVAIL":
      return "unreachable"
    default:
      return code !== undefined && (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || /CERT|SELF_SIGNED|UNABLE_TO/.test(code))
        ? "tls"
        : "other"
  }
}

/** The last status, short: `200`, `503`, `timeout`, `refused`, `connected`. */
export const statusText = (o: Outcome): string => {
  switch (o._tag) {
    case "Ok":
      return o.status === undefined ? "connected" : String(o.status)
    case "HttpStatus":
      return String(o.status)
    case "Timeout":
      return "timeout"
    case "Network":
      return o.reason
  }
}

export const isFailure = (o: Outcome): boolean => o._tag !== "Ok"
