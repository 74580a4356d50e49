/**
 * Inputs our client would never send but VPP accepts: vppsim reads them as
 * VPP's handlers do (src/sim/internal/VppView.ts) and answers what VPP
 * answers. The requests are encoded with the widened schemas, over a real
 * socket.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { tempDir } from "./tempDir.js"
import * as VppView from "../../src/sim/internal/VppView.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { lb } from "../../src/vpp/binapi/index.js"
import * as Ip from "../../src/vpp/codec/Ip.js"
import { decode, rawClient } from "./rawClient.js"


/** The wire form of an address: family byte and the 16-byte union. */
const address = (text: string, af?: number) => {
  const un = new Uint8Array(16)
  const v4 = Ip.parseIp4Into(text, un, 0)
  if (!v4) Ip.parseIp6Into(text, un, 0)
  return { af: af ?? (v4 ? 0 : 1), un }
}
const prefix = (text: string, len: number, af?: number) => ({ address: address(text, af), len })

const vipSchema = VppView.viewOf(lb.LbAddDelVipV2.schema)!.schema
const asSchema = VppView.viewOf(lb.LbAddDelAsV2.schema)!.schema
const ENCAP = { GRE4: 0, GRE6: 1, L3DSR: 2, NAT4: 3, NAT6: 4 } as const

const vip = (pfx: ReturnType<typeof prefix>, extra: Record<string, unknown> = {}) => ({
  pfx, protocol: 6, port: 80, encap: ENCAP.GRE4, dscp: 0, type: 0, target_port: 0, node_port: 0,
  new_flows_table_length: 1024, src_ip_sticky: false, is_del: false, ...extra
})

const setup = Effect.gen(function*() {
  const d = yield* tempDir("vppsim-inputs-")
  const s = yield* Simulator.make({ apiSocket: path.join(d, "api.sock") })
  const c = yield* rawClient(s.api.path)
  /** lb_add_del_vip_v2's retval */
  const addVip = (v: ReturnType<typeof vip>) => Effect.map(c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, v, vipSchema), (r) => r["retval"])
  /** every lb_vip_details: [vip, encap] */
  const vips = Effect.map(
    c.exchange(lb.LbVipDump, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 }),
    (bs) => bs.map((b) => decode(lb.LbVipDetails, b)).map((d) => [d["vip"] as { pfx: string; protocol: number; port: number }, d["encap"]] as const)
  )
  return { s, c, addVip, vips }
})

describe("vppsim accepts what VPP accepts", () => {
  it.live("an encap outside the enum leaves type 0 (ip6-gre6): -97 for an IPv4 VIP, an ip6-gre6 VIP for IPv6 (vl_api_lb_add_del_vip_v2_t_handler, lb_vip_add)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { addVip, vips } = yield* setup
      expect(yield* addVip(vip(prefix("192.0.2.1", 32), { encap: 99 }))).toBe(-97)
      expect(yield* addVip(vip(prefix("2001:db8::", 64), { encap: 0xdeadbeef }))).toBe(0)
      expect(yield* vips).toEqual([
        [{ pfx: "2001:db8::/64", protocol: 6, port: 80 }, "LB_API_ENCAP_TYPE_GRE6"]
      ])
    })))

  it.live("an IPv4 prefix length above 32: plen = len + 96 as a u8, masked as ip46_prefix_normalize does on x86-64 (lb_vip_add, util.c)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { addVip, vips } = yield* setup
      const add = (len: number, pfx = "10.1.2.3") => addVip(vip(prefix(pfx, len)))
      // plen 129: the second half keeps its top bit only, so the address is gone
      expect(yield* add(33)).toBe(0)
      // a second /33 of another address is the same VIP
      expect(yield* add(33, "10.9.9.9")).toBe(-81)
      // plen 192: a shift by 0 keeps everything
      expect(yield* add(96)).toBe(0)
      // plen 160+96 = 256 wraps to 0: an IPv6 rule (plen < 96), GRE4 encap gives ip6-gre4 at ::/0
      expect(yield* add(160)).toBe(0)
      expect((yield* vips).map(([v, encap]) => [v.pfx, encap])).toEqual([
        ["0.0.0.0/33", "LB_API_ENCAP_TYPE_GRE4"],
        ["10.1.2.3/96", "LB_API_ENCAP_TYPE_GRE4"],
        ["0.0.0.0/0", "LB_API_ENCAP_TYPE_GRE4"]
      ])
    })))

  it.live("an address family other than 0/1 leaves ip46 zero and plen = len (ip_address_decode)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { addVip, vips } = yield* setup
      expect(yield* addVip(vip(prefix("192.0.2.1", 0, 7), { encap: ENCAP.GRE6, port: 0 }))).toBe(0)
      expect(yield* vips).toEqual([
        [{ pfx: "0.0.0.0/0", protocol: 255, port: 0 }, "LB_API_ENCAP_TYPE_GRE6"]
      ])
    })))

  it.live("a per-port VIP with protocol 255, any protocol number, weights up to 255, an AS for a missing VIP (lb_vip_add, lb_vip_add_ass)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { addVip, c } = yield* setup
      const addAs = (pfx: ReturnType<typeof prefix>, port: number, protocol: number, as: string, weight: number) =>
        Effect.map(
          c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, { pfx, protocol, port, as_address: address(as), weight, is_del: false, is_flush: false }, asSchema),
          (r) => r["retval"]
        )
      expect(yield* addVip(vip(prefix("192.0.2.1", 32), { protocol: 255, port: 80 }))).toBe(0)
      expect(yield* addVip(vip(prefix("192.0.2.1", 32), { protocol: 200, port: 81 }))).toBe(0)
      // an all-port VIP where per-port ones exist
      expect(yield* addVip(vip(prefix("192.0.2.1", 32), { port: 0 }))).toBe(-81)
      expect(yield* addAs(prefix("192.0.2.1", 32), 80, 255, "10.0.0.1", 255)).toBe(0)
      expect(yield* addAs(prefix("192.0.2.9", 32), 80, 6, "10.0.0.1", 100)).toBe(-6)
      const ases = yield* c.exchange(lb.LbAsV2Dump, { pfx: "0.0.0.0/0", protocol: 255, port: 0 })
      expect(ases.map((b) => decode(lb.LbAsV2Details, b)).map((d) => [d["vip"], d["weight"], d["num_buckets"]])).toEqual([
        [{ pfx: "192.0.2.1/32", protocol: 255, port: 80 }, 255, 1024]
      ])
    })))

  it.live("NODEPORT (a type whose first wire byte is 1): a second claim of the port leaves the VIP and answers -81; deleting it answers -6 (lb_vip_add, lb_vip_del)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { addVip, vips } = yield* setup
      const nodeport = (pfx: string, extra: Record<string, unknown> = {}) =>
        vip(prefix(pfx, 32), { encap: ENCAP.NAT4, type: 0x01000000, port: 30000, target_port: 8080, ...extra })
      const listed = Effect.map(vips, (vs) => vs.map(([v]) => v.pfx))
      expect(yield* addVip(nodeport("192.0.2.1"))).toBe(0)
      expect(yield* addVip(nodeport("192.0.2.2"))).toBe(-81)
      expect(yield* listed).toEqual(["192.0.2.1/32", "192.0.2.2/32"])
      expect(yield* addVip(nodeport("192.0.2.2", { is_del: true }))).toBe(-6)
      expect(yield* listed).toEqual(["192.0.2.1/32"])
      // the port stays claimed after the first VIP's deletion too (nothing unsets vip_index_by_nodeport)
      expect(yield* addVip(nodeport("192.0.2.1", { is_del: true }))).toBe(0)
      expect(yield* addVip(nodeport("192.0.2.3"))).toBe(-81)
    })))
})
