/**
 * Where each frontend's established traffic is pinned in VPP now: the ASes of
 * its VIP as `show lb vips verbose` lists them (the supervisor reads it every
 * counters interval), each with `flows:`, the lb plugin's `as_refcount`
 * (sticky-table entries naming the AS, summed over threads). A backend taken
 * down with flush drops to 0 at once (`lb_flush_vip_as` moves its entries to
 * AS 0); a drained one keeps its flows until they time out. Pure.
 */
import type { Config } from "../config/Config.js"
import type { LbVipRecord } from "../vpp/LbVips.js"
import { canonicalAddress, frontendVipKey, vipKeyString } from "./VipKey.js"

export interface AsFlows {
  /** canonical */
  readonly address: string
  /** the configured backend with this address, if any */
  readonly backend: string | undefined
  readonly flows: number
  /** false: lameduck (deleted, draining until garbage collection) */
  readonly active: boolean
}

/** By frontend name, for the frontends whose VIP the listing has (not marked removed); ASes in VPP's order. */
export const asFlowsByFrontend = (config: Config, listed: ReadonlyArray<LbVipRecord>): ReadonlyMap<string, ReadonlyArray<AsFlows>> => {
  const out = new Map<string, ReadonlyArray<AsFlows>>()
  if (listed.length === 0) return out
  const byKey = new Map(listed.filter((v) => !v.removed).map((v) => [vipKeyString(v.key), v.ases]))
  const backends = new Map<string, string>()
  for (const b of config.backends.values()) {
    const a = canonicalAddress(b.address)
    if (!backends.has(a)) backends.set(a, b.name)
  }
  for (const f of config.frontends.values()) {
    const ases = byKey.get(vipKeyString(frontendVipKey(f)))
    if (ases === undefined) continue
    out.set(f.name, ases.map((a) => {
      const address = canonicalAddress(a.address)
      return { address, backend: backends.get(address), flows: a.flows ?? 0, active: a.used }
    }))
  }
  return out
}
