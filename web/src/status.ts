/** What the page derives from the state document: icons, VPP's bucket counts, the probe heartbeat. */
import type { FrontendInfo, HealthCheckInfo } from "../../src/api/Api.js"
import type { ServerState } from "../../src/frontend/Protocol.js"
import { parseDuration } from "./duration.js"
import type { Probe } from "./store.js"

type LbVip = NonNullable<ServerState["vpp"]["lb"]>["vips"][number]

/** VPP's VIP for a frontend (by its VIP key), when the lb state is known. */
export const vppVip = (s: ServerState, f: FrontendInfo): LbVip | undefined => s.vpp.lb?.vips.find((v) => v.vip === f.vip)

/** VPP's bucket count for an AS address of a VIP: undefined when VPP does not say (no lb state, or the AS is not there). */
export const vppBuckets = (vip: LbVip | undefined, address: string): number | undefined => {
  if (vip === undefined) return undefined
  const as = vip.ases.find((a) => a.address === address)
  return as === undefined ? 0 : as.numBuckets
}

export interface Icon {
  readonly glyph: string
  readonly label: string
  readonly tone: "ok" | "warn" | "bad" | "unknown"
}

/**
 * The frontend's health at a glance:
 * ✅ up, every backend of the active pool up and VPP's buckets as predicted;
 * ⚠️ up, but a backend of the active pool is not up, or VPP's buckets differ from the prediction;
 * ❗ down (no backend can take traffic); ‼️ down while VPP still sends new flows somewhere;
 * 🆘 panic (min-healthy: too few backends up, the last good weights serve);
 * ❓ unknown (no backend has a state yet, or maglevd is unreachable).
 */
export const frontendIcon = (s: ServerState, f: FrontendInfo): Icon => {
  if (s.connection !== "up" || f.state === "unknown") return { glyph: "❓", label: "unknown", tone: "unknown" }
  const vip = vppVip(s, f)
  const vppBusy = vip !== undefined && vip.ases.some((a) => (a.numBuckets ?? 0) > 0)
  if (f.state === "panic") return { glyph: "🆘", label: "panic: too few backends up, the last good weights serve", tone: "bad" }
  if (f.state === "down") {
    return vppBusy ? { glyph: "‼️", label: "down, but VPP still has buckets", tone: "bad" } : { glyph: "❗", label: "down", tone: "bad" }
  }
  const active = f.pools.find((p) => p.active)
  const degraded = active !== undefined && active.backends.some((b) => b.state !== "up")
  const drift = vip !== undefined && f.pools.some((p) => p.backends.some((b) => {
    const n = vppBuckets(vip, b.address)
    return n !== undefined && b.effectiveWeight > 0 && n !== b.buckets
  }))
  if (degraded) return { glyph: "⚠️", label: "up, degraded", tone: "warn" }
  if (drift) return { glyph: "⚠️", label: "up, VPP differs from the prediction", tone: "warn" }
  return { glyph: "✅", label: "up", tone: "ok" }
}

/** A probe ended this soon after it started still shows this long, so it can be seen. */
export const MIN_PULSE_MS = 300

/**
 * Whether the backend's probe is in flight now, from maglevd's probe news:
 * from its due time (the prober starts it then) until it ended, at least
 * `MIN_PULSE_MS`. A probe whose end never came (news are dropped for a
 * stalled page) stops showing after its health check's timeout and 2 s.
 */
export const probeInFlight = (p: Probe | undefined, hc: HealthCheckInfo | undefined, now: number): boolean => {
  if (p === undefined || now < p.due) return false
  const until = probeUntil(p, hc)
  return until === undefined || now < until
}

/** When the heart stops for this probe (undefined: when its end comes). */
const probeUntil = (p: Probe, hc: HealthCheckInfo | undefined): number | undefined => {
  if (p.ended !== undefined) return Math.max(p.ended, p.due + MIN_PULSE_MS)
  const timeout = hc === undefined ? undefined : parseDuration(hc.timeout)
  return timeout === undefined ? undefined : p.due + timeout + 2000
}

/** In how many ms `probeInFlight` changes by itself (the probe's due time comes, or its pulse is over); undefined: not by itself. */
export const probeChangeIn = (p: Probe | undefined, hc: HealthCheckInfo | undefined, now: number): number | undefined => {
  if (p === undefined) return undefined
  if (now < p.due) return p.due - now
  const until = probeUntil(p, hc)
  return until !== undefined && now < until ? until - now : undefined
}
