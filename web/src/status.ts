/** What the page derives from the state document: icons, VPP's bucket counts, the probe heartbeat. */
import type { BackendInfo, FrontendInfo, HealthCheckInfo } from "../../src/api/Api.js"
import type { ServerState } from "../../src/frontend/Protocol.js"
import { parseDuration } from "./duration.js"

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
 * ❓ unknown (no backend has a state yet, or maglevd is unreachable).
 */
export const frontendIcon = (s: ServerState, f: FrontendInfo): Icon => {
  if (s.connection !== "up" || f.state === "unknown") return { glyph: "❓", label: "unknown", tone: "unknown" }
  const vip = vppVip(s, f)
  const vppBusy = vip !== undefined && vip.ases.some((a) => (a.numBuckets ?? 0) > 0)
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

/** The probe interval that applies to a backend now (HAProxy's inter / fastinter / downinter). */
const intervalOf = (b: BackendInfo, hc: HealthCheckInfo | undefined): number | undefined => {
  if (hc === undefined) return undefined
  const max = b.rise + b.fall - 1
  const text = b.state === "down" && b.counter === 0 ? hc.downInterval : b.counter >= max ? hc.interval : hc.fastInterval
  return parseDuration(text)
}

/**
 * Whether a probe of this backend is (by prediction) in flight now: the next
 * one starts an interval after the last result and takes about as long as
 * the last did (at least 300 ms, so the heart is seen).
 */
export const probeInFlight = (b: BackendInfo | undefined, hc: HealthCheckInfo | undefined, now: number): boolean => {
  if (b === undefined || b.lastProbeAt === undefined) return false
  if (b.state === "paused" || b.state === "disabled" || b.state === "removed") return false
  const interval = intervalOf(b, hc)
  if (interval === undefined || interval <= 0) return false
  const elapsed = now - b.lastProbeAt
  if (elapsed < interval) return false
  const window = Math.max(300, b.lastResult?.durationMs ?? 0)
  return (elapsed - interval) % interval < window
}
