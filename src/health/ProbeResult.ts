/**
 * What one probe found. Probe outcomes are values, never errors: a refused
 * connection is as ordinary a result as a 200.
 *
 * The codes follow HAProxy's check status codes: the layer that decided the
 * result (L3 ICMP, L4 TCP, L6 TLS, L7 application) and what happened there.
 */
export const PROBE_CODES = [
  "L3OK",
  "L3TOUT",
  "L3UNREACH",
  "L4OK",
  "L4TOUT",
  "L4CON",
  "L6OK",
  "L6TOUT",
  "L6RSP",
  "L7OK",
  "L7STS",
  "L7RSP",
  "L7TOUT"
] as const

export type ProbeCode = (typeof PROBE_CODES)[number]

const PASSING: ReadonlySet<ProbeCode> = new Set(["L3OK", "L4OK", "L6OK", "L7OK"])

/** Whether a code means the backend passed. */
export const isPass = (code: ProbeCode): boolean => PASSING.has(code)

export interface ProbeResult {
  readonly ok: boolean
  readonly code: ProbeCode
  /** Wall-clock duration of the probe, milliseconds. */
  readonly durationMs: number
  /** Human-readable detail, e.g. "HTTP 503", "connect ECONNREFUSED 10.0.0.2:80". */
  readonly detail: string
  /**
   * How late this daemon's own event loop was while the probe ran, ms (the
   * live prober measures it; absent = not measured). A timeout while we were
   * late is not the backend's fault: see SelfLate.ts.
   */
  readonly selfLateMs?: number | undefined
}

export const probeResult = (code: ProbeCode, durationMs: number, detail: string): ProbeResult => ({
  ok: isPass(code),
  code,
  durationMs,
  detail
})
