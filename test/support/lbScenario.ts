/**
 * A set of VIPs that `show lb vips verbose` prints in every way it can, for
 * the cli_inband tests: IPv4 and IPv6, per-port and all-port, sticky, L3DSR,
 * NAT4, a lameduck AS and a deleted VIP that garbage collection has not freed.
 */
import { Effect } from "effect"
import { lb } from "../../src/vpp/binapi/index.js"
import type { VppConnection } from "../../src/vpp/transport/VppApi.js"

export const vipRequest = (pfx: string, extra: Partial<lb.LbAddDelVipV2> = {}) => ({
  pfx,
  protocol: 6,
  port: 80,
  encap: "LB_API_ENCAP_TYPE_GRE4" as const,
  dscp: 0,
  type: "LB_API_SRV_TYPE_CLUSTERIP" as const,
  target_port: 0,
  node_port: 0,
  new_flows_table_length: 1024,
  src_ip_sticky: false,
  is_del: false,
  ...extra
})

export const asRequest = (vip: ReturnType<typeof vipRequest>, address: string, extra: Partial<lb.LbAddDelAsV2> = {}) => ({
  pfx: vip.pfx,
  protocol: vip.protocol,
  port: vip.port,
  as_address: address,
  weight: 100,
  is_del: false,
  is_flush: false,
  ...extra
})

/** What is programmed, in VIP pool order (indices 1..5; the AS pool gets 1..4 in AS order). */
export const scenario = {
  sticky: vipRequest("192.0.2.10/32", { src_ip_sticky: true }),
  allPort6: vipRequest("2001:db8::1/64", { protocol: 255, port: 0, encap: "LB_API_ENCAP_TYPE_GRE6", new_flows_table_length: 256 }),
  deleted: vipRequest("192.0.2.20/32", { protocol: 17, port: 53 }),
  l3dsr: vipRequest("192.0.2.30/32", { protocol: 255, port: 0, encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 46 }),
  nat4: vipRequest("192.0.2.40/32", { port: 8080, encap: "LB_API_ENCAP_TYPE_NAT4", target_port: 8443 })
} as const

/**
 * Adds the scenario's VIPs and ASes: three ASes on `sticky`, the third deleted
 * again (lameduck); one AS on `allPort6`; `deleted` added and deleted.
 */
export const programScenario = (c: VppConnection) =>
  Effect.gen(function*() {
    const addVip = (v: ReturnType<typeof vipRequest>) => c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, v)
    const addAs = (a: ReturnType<typeof asRequest>) => c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, a)
    for (const v of Object.values(scenario)) yield* addVip(v)
    yield* addAs(asRequest(scenario.sticky, "10.0.0.1"))
    yield* addAs(asRequest(scenario.sticky, "10.0.0.2"))
    yield* addAs(asRequest(scenario.sticky, "10.0.0.3"))
    yield* addAs(asRequest(scenario.sticky, "10.0.0.3", { is_del: true }))
    yield* addAs(asRequest(scenario.allPort6, "2001:db8:1::1"))
    yield* addVip({ ...scenario.deleted, is_del: true })
  })
