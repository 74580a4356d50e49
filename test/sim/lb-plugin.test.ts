/**
 * The lb plugin model against vpp-wire.md §3: every error number under its exact
 * condition, key normalisation, pool index allocation and reuse, lameduck and
 * garbage-collection timing, dump order, contents and filter, num_buckets
 * against ../shared/vpp-api/golden/lb_maglev.golden.json, the §3.8 quirks, the
 * mutation log, and the lookup indices against a walk of the pools.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ip_types, lb } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import {
  type AsV2Details,
  encodeAsDetails,
  encodeAsV2Details,
  encodeVipDetails,
  LbPlugin,
  type LbPluginOptions,
  type Request,
  Retval,
  vipDetailsValue
} from "../../src/sim/LbPlugin.js"
import * as Ip46 from "../../src/sim/internal/Ip46.js"
import { goldenDir } from "../support/paths.js"

// ---------------------------------------------------------------------------
// Request builders (decoded values, as the API server hands them over)

type VipReq = Request<lb.LbAddDelVipV2>
type AsReq = Request<lb.LbAddDelAsV2>

const vip = (pfx: string, o: Partial<VipReq> = {}): VipReq => ({
  pfx,
  protocol: 255,
  port: 0,
  encap: "LB_API_ENCAP_TYPE_GRE4",
  dscp: 0,
  type: "LB_API_SRV_TYPE_CLUSTERIP",
  target_port: 0,
  node_port: 0,
  new_flows_table_length: 1024,
  src_ip_sticky: false,
  is_del: false,
  ...o
})
const vipDel = (pfx: string, o: Partial<VipReq> = {}): VipReq => vip(pfx, { ...o, is_del: true })

const as = (pfx: string, address: string, o: Partial<AsReq> = {}): AsReq => ({
  pfx,
  protocol: 255,
  port: 0,
  as_address: address,
  weight: 100,
  is_del: false,
  is_flush: false,
  ...o
})
const asDel = (pfx: string, address: string, o: Partial<AsReq> = {}): AsReq => as(pfx, address, { ...o, is_del: true })

const weight = (pfx: string, address: string, w: number, o: Partial<Request<lb.LbAsSetWeight>> = {}) => ({
  pfx,
  protocol: 255,
  port: 0,
  as_address: address,
  weight: w,
  is_flush: false,
  ...o
})

const ALL = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const
const VIP_DUMP = { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 0, port: 0 } as const

/** A plugin whose collections happen only when a test asks (no lb-gc-process ticks). */
const manual = (o: LbPluginOptions = {}) => new LbPlugin({ gcInterval: 0, ...o })

const vipPfxs = (p: LbPlugin) => p.vipDump().map((d) => `${d.vip.pfx} ${d.vip.protocol} ${d.vip.port}`)
const asList = (p: LbPlugin, now?: number) =>
  p.asV2Dump(ALL, now).map((d) => `${d.vip.pfx}:${d.vip.port} ${d.app_srv} f${d.flags} t${d.in_use_since} w${d.weight}`)

// ---------------------------------------------------------------------------

describe("lb_conf / lb_conf_get (§3.1, §3.2)", () => {
  it("lb_conf_get returns VPP's four defaults", () => {
    expect(new LbPlugin().confGet()).toEqual({
      retval: 0,
      ip4_src_address: "255.255.255.255",
      ip6_src_address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      sticky_buckets_per_core: 1024,
      flow_timeout: 40
    })
  })

  const conf = (o: Partial<Request<lb.LbConf>>): Request<lb.LbConf> => ({
    ip4_src_address: "192.0.2.1",
    ip6_src_address: "2001:db8::1",
    sticky_buckets_per_core: 0xffffffff,
    flow_timeout: 0xffffffff,
    ...o
  })

  it("0xffffffff keeps, other values are stored, both addresses are always overwritten", () => {
    const p = new LbPlugin()
    expect(p.conf(conf({}), 1)).toBe(0)
    expect(p.confGet()).toMatchObject({
      ip4_src_address: "192.0.2.1",
      ip6_src_address: "2001:db8::1",
      sticky_buckets_per_core: 1024,
      flow_timeout: 40
    })
    expect(p.conf(conf({ ip4_src_address: "0.0.0.0", ip6_src_address: "::", sticky_buckets_per_core: 4096, flow_timeout: 7 }), 2)).toBe(0)
    expect(p.confGet()).toEqual({ retval: 0, ip4_src_address: "0.0.0.0", ip6_src_address: "::", sticky_buckets_per_core: 4096, flow_timeout: 7 })
  })

  it.each([
    [3, Retval.INVALID_MEMORY_SIZE],
    [1000, Retval.INVALID_MEMORY_SIZE],
    [0xfffffffe, Retval.INVALID_MEMORY_SIZE],
    [0, 0],
    [1, 0],
    [0x80000000, 0]
  ])("sticky_buckets_per_core %i → %i (is_pow2, 0 included); -70 writes nothing", (sticky, rv) => {
    const p = new LbPlugin()
    const seq = p.lastSeq()
    expect(p.conf(conf({ sticky_buckets_per_core: sticky, flow_timeout: 5 }), 1)).toBe(rv)
    if (rv === 0) {
      expect(p.confGet().sticky_buckets_per_core).toBe(sticky)
      expect(p.mutationsSince(seq).map((m) => m.op)).toEqual(["conf"])
    } else {
      expect(p.confGet()).toEqual(new LbPlugin().confGet())
      expect(p.lastSeq()).toBe(seq)
    }
  })
})

describe("VIP add/del errors (§3.3), each under its exact condition", () => {
  type Case = {
    readonly name: string
    readonly setup: ReadonlyArray<VipReq>
    readonly req: VipReq
    readonly retval: number
  }
  const v4 = "10.0.0.0/24"
  const cases: ReadonlyArray<Case> = [
    { name: "exact key exists", setup: [vip(v4)], req: vip(v4), retval: -81 },
    { name: "exact key exists after masking the request", setup: [vip(v4)], req: vip("10.0.0.77/24"), retval: -81 },
    { name: "exact key exists with another encap (encap is not in the key)", setup: [vip(v4)], req: vip(v4, { encap: "LB_API_ENCAP_TYPE_GRE6" }), retval: -81 },
    { name: "all-port with protocol 6: forced to 255, so it is the same key", setup: [vip(v4)], req: vip(v4, { protocol: 6 }), retval: -81 },
    { name: "per-port under an all-port VIP", setup: [vip(v4)], req: vip(v4, { protocol: 6, port: 80 }), retval: -81 },
    { name: "all-port beside a per-port VIP", setup: [vip(v4, { protocol: 6, port: 80 })], req: vip(v4), retval: -81 },
    { name: "all-port beside a per-port VIP with protocol 255", setup: [vip(v4, { protocol: 255, port: 80 })], req: vip(v4), retval: -81 },
    {
      name: "per-port with another type than the prefix's per-port VIPs",
      setup: [vip(v4, { protocol: 6, port: 80 })],
      req: vip(v4, { protocol: 6, port: 443, encap: "LB_API_ENCAP_TYPE_GRE6" }),
      retval: -73
    },
    {
      name: "-73 is checked before -97 (IPv4 + NAT6 gives type 0)",
      setup: [vip(v4, { protocol: 6, port: 80 })],
      req: vip(v4, { protocol: 6, port: 443, encap: "LB_API_ENCAP_TYPE_NAT6" }),
      retval: -73
    },
    {
      name: "-73 is checked before -70",
      setup: [vip(v4, { protocol: 6, port: 80 })],
      req: vip(v4, { protocol: 17, port: 80, encap: "LB_API_ENCAP_TYPE_L3DSR", new_flows_table_length: 3 }),
      retval: -73
    },
    {
      name: "same prefix other port, same type: fine",
      setup: [vip(v4, { protocol: 6, port: 80 })],
      req: vip(v4, { protocol: 17, port: 80 }),
      retval: 0
    },
    {
      name: "another plen is another prefix",
      setup: [vip(v4, { protocol: 6, port: 80 })],
      req: vip("10.0.0.0/25"),
      retval: 0
    },
    { name: "table length 0 (GoVPP's unset default)", setup: [], req: vip(v4, { new_flows_table_length: 0 }), retval: -70 },
    { name: "table length 3", setup: [], req: vip(v4, { new_flows_table_length: 3 }), retval: -70 },
    { name: "table length 1000", setup: [], req: vip(v4, { new_flows_table_length: 1000 }), retval: -70 },
    { name: "table length 1", setup: [], req: vip(v4, { new_flows_table_length: 1 }), retval: 0 },
    { name: "-81 is checked before -70", setup: [vip(v4)], req: vip(v4, { new_flows_table_length: 3 }), retval: -81 },
    { name: "-70 is checked before -97", setup: [], req: vip(v4, { encap: "LB_API_ENCAP_TYPE_NAT6", new_flows_table_length: 3 }), retval: -70 },
    { name: "IPv4 VIP with NAT6", setup: [], req: vip(v4, { encap: "LB_API_ENCAP_TYPE_NAT6" }), retval: -97 },
    { name: "IPv4 VIP with an out-of-range encap", setup: [], req: vip(v4, { encap: "LB_API_ENCAP_N_TYPES" }), retval: -97 },
    { name: "IPv4 VIP with L3DSR", setup: [], req: vip(v4, { encap: "LB_API_ENCAP_TYPE_L3DSR" }), retval: 0 },
    { name: "IPv4 VIP with NAT4", setup: [], req: vip(v4, { protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_NAT4" }), retval: 0 },
    { name: "IPv6 VIP with L3DSR silently becomes IP6_GRE6", setup: [], req: vip("2001:db8::/64", { encap: "LB_API_ENCAP_TYPE_L3DSR" }), retval: 0 },
    { name: "IPv6 VIP with NAT4 silently becomes IP6_GRE6", setup: [], req: vip("2001:db8::/64", { encap: "LB_API_ENCAP_TYPE_NAT4" }), retval: 0 },
    { name: "IPv6 VIP with an out-of-range encap silently becomes IP6_GRE6", setup: [], req: vip("2001:db8::/64", { encap: "LB_API_ENCAP_N_TYPES" }), retval: 0 },
    { name: "::a00:0/104 is an IPv4 prefix: NAT6 refused", setup: [], req: vip("::a00:0/104", { encap: "LB_API_ENCAP_TYPE_NAT6" }), retval: -97 },
    { name: "::a00:0/104 is the key of 10.0.0.0/8", setup: [vip("10.0.0.0/8")], req: vip("::a00:0/104"), retval: -81 },
    { name: "delete of a missing VIP", setup: [], req: vipDel(v4), retval: -6 },
    { name: "delete with the wrong port", setup: [vip(v4, { protocol: 6, port: 80 })], req: vipDel(v4, { protocol: 6, port: 81 }), retval: -6 },
    { name: "delete with the wrong protocol", setup: [vip(v4, { protocol: 6, port: 80 })], req: vipDel(v4, { protocol: 17, port: 80 }), retval: -6 },
    { name: "delete with the wrong plen", setup: [vip(v4)], req: vipDel("10.0.0.0/25"), retval: -6 },
    { name: "delete of an all-port VIP with any protocol (forced to 255)", setup: [vip(v4)], req: vipDel(v4, { protocol: 6 }), retval: 0 },
    { name: "delete with host bits set (masked)", setup: [vip(v4)], req: vipDel("10.0.0.9/24"), retval: 0 }
  ]

  it.each(cases)("$name → $retval", ({ setup, req, retval }) => {
    const p = manual()
    for (const s of setup) expect(p.addDelVipV2(s, 1)).toBe(0)
    const before = vipPfxs(p)
    const seq = p.lastSeq()
    expect(p.addDelVipV2(req, 2)).toBe(retval)
    if (retval !== 0) {
      // a refused request changes nothing
      expect(p.lastSeq()).toBe(seq)
      expect(vipPfxs(p)).toEqual(before)
    } else {
      expect(p.mutationsSince(seq).length).toBeGreaterThan(0)
    }
  })

  it("v1 takes the same path (and never sets src_ip_sticky)", () => {
    const p = manual()
    const { src_ip_sticky: _, ...v1 } = vip("10.0.0.0/24", { src_ip_sticky: true })
    expect(p.addDelVip(v1, 1)).toBe(0)
    expect(p.addDelVip(v1, 1)).toBe(-81)
    expect(p.addDelVip({ ...v1, pfx: "10.1.0.0/24", encap: "LB_API_ENCAP_TYPE_NAT6" }, 1)).toBe(-97)
    expect(p.inspectVip(1)?.srcIpSticky).toBe(false)
    expect(p.addDelVipV2(vip("10.2.0.0/24", { src_ip_sticky: true }), 1)).toBe(0)
    expect(p.inspectVip(2)?.srcIpSticky).toBe(true)
  })

  it("encap → type and the encap lb_vip_dump reports", () => {
    const p = manual()
    const add = (pfx: string, encap: VipReq["encap"], port = 0) =>
      expect(p.addDelVipV2(vip(pfx, { encap, protocol: 6, port }), 1)).toBe(0)
    add("10.0.1.0/24", "LB_API_ENCAP_TYPE_GRE4")
    add("10.0.2.0/24", "LB_API_ENCAP_TYPE_GRE6")
    add("10.0.3.0/24", "LB_API_ENCAP_TYPE_L3DSR")
    add("10.0.4.0/24", "LB_API_ENCAP_TYPE_NAT4", 80)
    add("2001:db8:1::/48", "LB_API_ENCAP_TYPE_GRE4")
    add("2001:db8:2::/48", "LB_API_ENCAP_TYPE_GRE6")
    add("2001:db8:3::/48", "LB_API_ENCAP_TYPE_NAT6", 80)
    add("2001:db8:4::/48", "LB_API_ENCAP_TYPE_L3DSR")
    expect(p.vipDump().map((d) => d.encap)).toEqual([
      "LB_API_ENCAP_TYPE_GRE4",
      "LB_API_ENCAP_TYPE_GRE6",
      "LB_API_ENCAP_TYPE_L3DSR",
      "LB_API_ENCAP_TYPE_NAT4",
      "LB_API_ENCAP_TYPE_GRE4",
      "LB_API_ENCAP_TYPE_GRE6",
      "LB_API_ENCAP_TYPE_NAT6",
      "LB_API_ENCAP_TYPE_GRE6"
    ])
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((i) => p.inspectVip(i)?.type)).toEqual([
      "LB_API_VIP_TYPE_IP4_GRE4",
      "LB_API_VIP_TYPE_IP4_GRE6",
      "LB_API_VIP_TYPE_IP4_L3DSR",
      "LB_API_VIP_TYPE_IP4_NAT4",
      "LB_API_VIP_TYPE_IP6_GRE4",
      "LB_API_VIP_TYPE_IP6_GRE6",
      "LB_API_VIP_TYPE_IP6_NAT6",
      "LB_API_VIP_TYPE_IP6_GRE6"
    ])
  })
})

describe("VIP key normalisation (§3.3)", () => {
  it.each([
    ["10.0.0.1/24", "10.0.0.0/24"],
    ["10.255.255.255/8", "10.0.0.0/8"],
    ["192.0.2.7/32", "192.0.2.7/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:db8::1/64", "2001:db8::/64"],
    ["2001:db8:ffff:ffff::/35", "2001:db8:e000::/35"],
    ["::a00:1/104", "10.0.0.0/8"],
    ["::/0", "0.0.0.0/0"],
    ["::/8", "0.0.0.0/8"]
  ])("%s is stored (and reported) as %s", (pfx, reported) => {
    const p = manual()
    expect(p.addDelVipV2(vip(pfx, { encap: "LB_API_ENCAP_TYPE_GRE6" }), 1)).toBe(0)
    expect(p.vipDump().map((d) => d.vip.pfx)).toEqual([reported])
    // and found again under the masked key
    expect(p.addDelVipV2(vipDel(reported.startsWith("0.0.0.0") ? pfx : reported), 2)).toBe(0)
  })

  it("an all-port VIP is stored with protocol 255 and port 0; a per-port one keeps both", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24", { protocol: 17, port: 0 }), 1)
    p.addDelVipV2(vip("10.0.1.0/24", { protocol: 6, port: 8080 }), 1)
    expect(p.vipDump().map((d) => d.vip)).toEqual([
      { pfx: "10.0.0.0/24", protocol: "IP_API_PROTO_RESERVED", port: 0 },
      { pfx: "10.0.1.0/24", protocol: "IP_API_PROTO_TCP", port: 8080 }
    ])
  })

  it("the stored plen is the ip46 one (IPv4 + 96)", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24"), 1)
    p.addDelVipV2(vip("2001:db8::/64", { encap: "LB_API_ENCAP_TYPE_GRE6" }), 1)
    expect(p.inspectVip(1)?.plen).toBe(120)
    expect(p.inspectVip(2)?.plen).toBe(64)
  })
})

describe("pool indices (§3.1): placeholder 0, lowest never-used first, LIFO reuse", () => {
  it("VIP indices through vipIndices, dump order and GC", () => {
    const p = manual()
    for (const n of [1, 2, 3, 4]) expect(p.addDelVipV2(vip(`10.0.${n}.0/24`), 0)).toBe(0)
    expect(p.vipIndices().map((v) => v.index)).toEqual([1, 2, 3, 4])
    expect(p.inspectVip(0)?.used).toBe(true) // the hidden placeholder
    expect(p.vipDump()).toHaveLength(4)
    p.addDelVipV2(vipDel("10.0.1.0/24"), 10)
    p.addDelVipV2(vipDel("10.0.3.0/24"), 10)
    // deleted but not collected: still in the pool, not in the dump
    expect(p.vipIndices().map((v) => [v.index, v.used])).toEqual([[1, false], [2, true], [3, false], [4, true]])
    expect(vipPfxs(p)).toEqual(["10.0.2.0/24 IP_API_PROTO_RESERVED 0", "10.0.4.0/24 IP_API_PROTO_RESERVED 0"])
    p.gc(10)
    expect(p.vipIndices().map((v) => v.index)).toEqual([2, 4])
    // freed 1 then 3: 3 comes back first, then 1, then the never-used 5
    p.addDelVipV2(vip("10.0.5.0/24"), 11)
    p.addDelVipV2(vip("10.0.6.0/24"), 11)
    p.addDelVipV2(vip("10.0.7.0/24"), 11)
    expect(p.vipIndices().map((v) => `${v.index} ${v.key.pfx}`)).toEqual([
      "1 10.0.6.0/24",
      "2 10.0.2.0/24",
      "3 10.0.5.0/24",
      "4 10.0.4.0/24",
      "5 10.0.7.0/24"
    ])
    // lb_vip_dump goes by pool index, not by age
    expect(p.vipDump().map((d) => d.vip.pfx)).toEqual(["10.0.6.0/24", "10.0.2.0/24", "10.0.5.0/24", "10.0.4.0/24", "10.0.7.0/24"])
  })

  it("the counters' length grows with the highest index and never shrinks", () => {
    const p = manual()
    expect(p.vipCounterLength()).toBe(0)
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    expect(p.vipCounterLength()).toBe(2)
    p.addDelVipV2(vip("10.0.2.0/24"), 0)
    p.addDelVipV2(vipDel("10.0.2.0/24"), 0)
    p.addDelVipV2(vipDel("10.0.1.0/24"), 0)
    p.gc(0)
    expect(p.vipCounterLength()).toBe(3)
    p.addDelVipV2(vip("10.0.3.0/24"), 0) // reuses index 2 (freed last)
    expect(p.vipIndices().map((v) => v.index)).toEqual([2])
    expect(p.vipCounterLength()).toBe(3)
    p.restart()
    expect(p.vipCounterLength()).toBe(0)
  })

  it("AS pool indices are global and reused LIFO; each VIP's AS-index pool gives the dump order", () => {
    const p = manual({ garbageRun: 0, concurrencyTimeout: 0 })
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    p.addDelVipV2(vip("10.0.2.0/24"), 0)
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.1"), 0) // AS 1
    p.addDelAsV2(as("10.0.2.0/24", "192.0.2.2"), 0) // AS 2
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.3"), 0) // AS 3
    expect(p.inspectVip(1)?.ases.map((a) => a.index)).toEqual([1, 3])
    p.addDelAsV2(asDel("10.0.1.0/24", "192.0.2.1"), 1)
    p.gc(1) // frees AS 1 and slot 0 of VIP 1's AS pool
    expect(p.inspectVip(1)?.ases.map((a) => a.index)).toEqual([3])
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.9"), 2)
    // it takes AS index 1 and VIP 1's first slot: listed before 192.0.2.3
    expect(p.inspectVip(1)?.ases.map((a) => `${a.index} ${a.address}`)).toEqual(["1 192.0.2.9", "3 192.0.2.3"])
    expect(p.asDump(ALL).map((d) => d.app_srv)).toEqual(["192.0.2.9", "192.0.2.3", "192.0.2.2"])
    p.addDelAsV2(as("10.0.2.0/24", "192.0.2.10"), 3)
    expect(p.inspectVip(2)?.ases.map((a) => a.index)).toEqual([2, 4])
  })
})

describe("ASes (§3.4)", () => {
  const V = "10.0.0.0/24"
  const setup = () => {
    const p = manual()
    expect(p.addDelVipV2(vip(V), 0)).toBe(0)
    return p
  }

  type Case = {
    readonly name: string
    readonly vipReq?: VipReq
    readonly setup: ReadonlyArray<AsReq>
    readonly req: AsReq
    readonly retval: number
  }
  const cases: ReadonlyArray<Case> = [
    { name: "add to a missing VIP", setup: [], req: as("10.9.0.0/24", "192.0.2.1"), retval: -6 },
    { name: "add with a wrong port (the key has port 0)", setup: [], req: as(V, "192.0.2.1", { protocol: 6, port: 80 }), retval: -6 },
    { name: "add to an all-port VIP with protocol 6 port 0 (forced 255)", setup: [], req: as(V, "192.0.2.1", { protocol: 6 }), retval: 0 },
    { name: "add to the VIP by a non-masked prefix", setup: [], req: as("10.0.0.200/24", "192.0.2.1"), retval: 0 },
    { name: "add an active AS again", setup: [as(V, "192.0.2.1")], req: as(V, "192.0.2.1", { weight: 7 }), retval: -81 },
    { name: "add an active AS again as ::c000:201 (same ip46)", setup: [as(V, "192.0.2.1")], req: as(V, "::c000:201"), retval: -81 },
    { name: "add a lameduck AS: re-activated", setup: [as(V, "192.0.2.1"), asDel(V, "192.0.2.1")], req: as(V, "192.0.2.1"), retval: 0 },
    { name: "IPv6 AS on a GRE4 VIP", setup: [], req: as(V, "2001:db8::1"), retval: -97 },
    { name: "::a.b.c.d counts as IPv4", setup: [], req: as(V, "::c000:201"), retval: 0 },
    {
      name: "IPv4 AS on a GRE6 IPv4 VIP",
      vipReq: vip(V, { encap: "LB_API_ENCAP_TYPE_GRE6" }),
      setup: [],
      req: as(V, "192.0.2.1"),
      retval: -97
    },
    {
      name: "IPv4 AS on a GRE4 IPv6 VIP",
      vipReq: vip("2001:db8::/64"),
      setup: [],
      req: as("2001:db8::/64", "192.0.2.1"),
      retval: 0
    },
    {
      name: "IPv6 AS on an NAT6 VIP",
      vipReq: vip("2001:db8::/64", { protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_NAT6" }),
      setup: [],
      req: as("2001:db8::/64", "2001:db8:1::1", { protocol: 6, port: 80 }),
      retval: 0
    },
    {
      name: "IPv4 AS on an IPv6 VIP that became IP6_GRE6 from L3DSR",
      vipReq: vip("2001:db8::/64", { encap: "LB_API_ENCAP_TYPE_L3DSR" }),
      setup: [],
      req: as("2001:db8::/64", "192.0.2.1"),
      retval: -97
    },
    { name: "delete from a missing VIP", setup: [], req: asDel("10.9.0.0/24", "192.0.2.1"), retval: -6 },
    { name: "delete a missing AS", setup: [as(V, "192.0.2.1")], req: asDel(V, "192.0.2.2"), retval: -6 },
    { name: "delete a missing AS of the other family", setup: [], req: asDel(V, "2001:db8::1"), retval: -6 },
    { name: "delete an active AS", setup: [as(V, "192.0.2.1")], req: asDel(V, "192.0.2.1"), retval: 0 },
    { name: "delete a lameduck AS again", setup: [as(V, "192.0.2.1"), asDel(V, "192.0.2.1")], req: asDel(V, "192.0.2.1"), retval: 0 },
    { name: "weight 255 is accepted literally", setup: [], req: as(V, "192.0.2.1", { weight: 255 }), retval: 0 },
    { name: "weight 0 is accepted (drain)", setup: [], req: as(V, "192.0.2.1", { weight: 0 }), retval: 0 }
  ]

  it.each(cases)("$name → $retval", ({ vipReq, setup: steps, req, retval }) => {
    const p = manual()
    expect(p.addDelVipV2(vipReq ?? vip(V), 0)).toBe(0)
    for (const s of steps) expect(p.addDelAsV2(s, 1)).toBe(0)
    const before = asList(p)
    const seq = p.lastSeq()
    expect(p.addDelAsV2(req, 2)).toBe(retval)
    if (retval !== 0) {
      expect(p.lastSeq()).toBe(seq)
      expect(asList(p)).toEqual(before)
    }
  })

  it("a second VIP can hold the same address as a separate AS", () => {
    const p = setup()
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    expect(p.addDelAsV2(as(V, "192.0.2.1"), 1)).toBe(0)
    expect(p.addDelAsV2(as("10.0.1.0/24", "192.0.2.1"), 1)).toBe(0)
    expect(p.asDump(ALL).map((d) => `${d.vip.pfx} ${d.app_srv}`)).toEqual(["10.0.0.0/24 192.0.2.1", "10.0.1.0/24 192.0.2.1"])
  })

  it("::a.b.c.d is reported as a.b.c.d", () => {
    const p = setup()
    p.addDelAsV2(as(V, "::c000:201"), 1)
    expect(p.asDump(ALL).map((d) => d.app_srv)).toEqual(["192.0.2.1"])
  })

  it("delete: lameduck with flags 0 and in_use_since = now; again: the timer restarts", () => {
    const p = setup()
    p.addDelAsV2(as(V, "192.0.2.1", { weight: 30 }), 1)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.1 f1 t0 w30"])
    p.addDelAsV2(asDel(V, "192.0.2.1"), 17)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.1 f0 t17 w30"])
    p.addDelAsV2(asDel(V, "192.0.2.1"), 25)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.1 f0 t25 w30"])
  })

  it("re-adding a lameduck AS re-activates it in place: same position, new weight, last_used kept", () => {
    const p = setup()
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelAsV2(as(V, "192.0.2.2"), 1)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 9)
    const seq = p.lastSeq()
    expect(p.addDelAsV2(as(V, "192.0.2.1", { weight: 5, is_flush: true }), 12)).toBe(0)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.1 f1 t9 w5", "10.0.0.0/24:0 192.0.2.2 f1 t0 w100"])
    expect(p.inspectVip(1)?.ases.map((a) => a.index)).toEqual([1, 2])
    expect(p.mutationsSince(seq).map((m) => [m.op, m.details])).toEqual([
      ["as-add", { vip: 1, as: 1, address: "192.0.2.1", weight: 5, reactivated: true }],
      ["as-flush", { vip: 1, as: 1, address: "192.0.2.1" }]
    ])
  })

  it("v1 add uses weight 100, also when it re-activates; v1 delete honours is_flush", () => {
    const p = setup()
    const v1 = (r: AsReq): Request<lb.LbAddDelAs> => {
      const { weight: _, ...rest } = r
      return rest
    }
    p.addDelAsV2(as(V, "192.0.2.1", { weight: 3 }), 1)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 2)
    expect(p.addDelAs(v1(as(V, "192.0.2.1", { is_flush: true })), 3)).toBe(0)
    expect(p.addDelAs(v1(as(V, "192.0.2.2")), 3)).toBe(0)
    expect(p.asV2Dump(ALL).map((d) => d.weight)).toEqual([100, 100])
    const seq = p.lastSeq()
    expect(p.addDelAs(v1(asDel(V, "192.0.2.2", { is_flush: true })), 4)).toBe(0)
    expect(p.mutationsSince(seq).map((m) => m.op)).toEqual(["as-del", "as-flush"])
    // an add's is_flush is ignored in v1 (no flush record for the re-activation above)
    expect(p.mutations().filter((m) => m.op === "as-flush")).toHaveLength(1)
    expect(p.addDelAs(v1(as(V, "192.0.2.1")), 5)).toBe(-81)
  })

  describe("lb_as_set_weight", () => {
    it.each([
      ["VIP missing", weight("10.9.0.0/24", "192.0.2.1", 5), -6],
      ["AS missing", weight(V, "192.0.2.9", 5), -6],
      ["AS lameduck", weight(V, "192.0.2.2", 5), -6],
      ["wrong port", weight(V, "192.0.2.1", 5, { protocol: 6, port: 80 }), -6],
      ["active AS", weight(V, "192.0.2.1", 5), 0],
      ["active AS, weight 0", weight(V, "192.0.2.1", 0), 0],
      ["active AS, weight 255", weight(V, "192.0.2.1", 255), 0]
    ] as const)("%s → %i", (_, req, retval) => {
      const p = setup()
      p.addDelAsV2(as(V, "192.0.2.1"), 1)
      p.addDelAsV2(as(V, "192.0.2.2"), 1)
      p.addDelAsV2(asDel(V, "192.0.2.2"), 2)
      const seq = p.lastSeq()
      expect(p.asSetWeight(req, 3)).toBe(retval)
      if (retval === 0) {
        expect(p.asV2Dump(ALL)[0]?.weight).toBe(req.weight)
        expect(p.mutationsSince(seq).map((m) => m.op)).toEqual(["as-weight"])
      } else {
        expect(p.lastSeq()).toBe(seq)
      }
    })

    it("rebuilds the table and logs a flush when asked", () => {
      const p = setup()
      for (const a of ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]) p.addDelAsV2(as(V, a), 1)
      expect(p.asV2Dump(ALL).map((d) => d.num_buckets)).toEqual([256, 256, 256, 256])
      const seq = p.lastSeq()
      expect(p.asSetWeight(weight(V, "10.0.0.1", 50, { is_flush: true }), 2)).toBe(0)
      expect(p.asV2Dump(ALL).map((d) => d.num_buckets)).toEqual([150, 292, 291, 291])
      expect(p.mutationsSince(seq).map((m) => [m.op, m.details])).toEqual([
        ["as-weight", { vip: 1, as: 1, address: "10.0.0.1", from: 100, to: 50 }],
        ["as-flush", { vip: 1, as: 1, address: "10.0.0.1" }]
      ])
    })
  })

  it("lb_flush_vip always replies 0 and logs only a found VIP", () => {
    const p = setup()
    const seq = p.lastSeq()
    expect(p.flushVip({ pfx: "10.9.0.0/24", protocol: 0, port: 0 }, 1)).toBe(0)
    expect(p.lastSeq()).toBe(seq)
    expect(p.flushVip({ pfx: "10.0.0.3/24", protocol: 6, port: 0 }, 1)).toBe(0)
    expect(p.mutationsSince(seq).map((m) => [m.op, m.details])).toEqual([["vip-flush", { vip: 1 }]])
  })
})

describe("lameduck and garbage collection timing (§3.5)", () => {
  const V = "10.0.0.0/24"

  it("lb-gc-process ticks every 60 s; a deleted AS goes once deleted ≥ 10 s and the VIP's last run ≥ 60 s ago", () => {
    const p = new LbPlugin() // VPP's timers
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelAsV2(as(V, "192.0.2.2"), 1)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 5)
    p.addDelAsV2(asDel(V, "192.0.2.2"), 55)
    expect(asList(p, 59)).toHaveLength(2)
    // tick at 60: VIP created at 0 → runs; .1 deleted at 5 goes, .2 (55 + 10 > 60) stays
    expect(asList(p, 60)).toEqual(["10.0.0.0/24:0 192.0.2.2 f0 t55 w100"])
    expect(asList(p, 119)).toHaveLength(1)
    expect(asList(p, 120)).toEqual([])
    expect(p.mutations().filter((m) => m.op === "gc-as").map((m) => m.now)).toEqual([60, 120])
  })

  it("the 60 s gate is measured from the VIP's creation and its last run", () => {
    const p = manual()
    p.addDelVipV2(vip(V), 100)
    p.addDelAsV2(as(V, "192.0.2.1"), 101)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 102)
    p.gc(159) // gate closed (created at 100)
    expect(asList(p)).toHaveLength(1)
    p.gc(160) // runs: 160 ≥ 102 + 10 → freed
    expect(asList(p)).toEqual([])

    p.addDelAsV2(as(V, "192.0.2.2"), 161)
    p.addDelAsV2(asDel(V, "192.0.2.2"), 165)
    p.gc(219) // last run at 160
    expect(asList(p)).toHaveLength(1)
    p.gc(220)
    expect(asList(p)).toEqual([])
  })

  it("a run that comes too early for an AS still closes the gate for 60 s", () => {
    const p = manual()
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 0)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 55) // the delete's own collection: gate still closed
    p.gc(60) // runs (created at 0), AS only 5 s old
    expect(asList(p)).toHaveLength(1)
    p.gc(119)
    expect(asList(p)).toHaveLength(1)
    p.gc(120)
    expect(asList(p)).toEqual([])
  })

  it("an AS add runs the VIP's collection after it", () => {
    const p = manual()
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 0)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 10)
    expect(p.addDelAsV2(as(V, "192.0.2.2"), 70)).toBe(0)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.2 f1 t0 w100"])
    expect(p.mutations().slice(-2).map((m) => m.op)).toEqual(["as-add", "gc-as"])
  })

  it("an AS delete runs the collection before marking: a due lameduck AS deleted again is freed, its slot keeps the time", () => {
    const p = manual()
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 0)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 10)
    const seq = p.lastSeq()
    expect(p.addDelAsV2(asDel(V, "192.0.2.1"), 70)).toBe(0)
    expect(p.mutationsSince(seq).map((m) => m.op)).toEqual(["gc-as"])
    expect(asList(p)).toEqual([])
    // the next AS reuses index 1 and finds the mark written into the freed slot
    p.addDelAsV2(as(V, "192.0.2.7"), 71)
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.7 f1 t70 w100"])
  })

  it("a reused AS slot keeps its last_used (stale in_use_since); a fresh one has 0", () => {
    const p = manual({ garbageRun: 0 })
    p.addDelVipV2(vip(V), 0)
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 33)
    p.gc(50)
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.8"), 51) // reuses AS index 1
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.9"), 51) // fresh index 2
    expect(asList(p)).toEqual(["10.0.1.0/24:0 192.0.2.8 f1 t33 w100", "10.0.1.0/24:0 192.0.2.9 f1 t0 w100"])
  })

  it("a deleted VIP: gone from lb_vip_dump at once, its ASes lameduck in lb_as_dump until collected, then the VIP too", () => {
    const p = new LbPlugin()
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelAsV2(as(V, "192.0.2.2"), 1)
    p.addDelAsV2(asDel(V, "192.0.2.2"), 2)
    const seq = p.lastSeq()
    expect(p.addDelVipV2(vipDel(V), 30)).toBe(0)
    expect(p.mutationsSince(seq).map((m) => m.op)).toEqual(["as-del", "as-del", "vip-del"])
    expect(p.vipDump()).toEqual([])
    expect(asList(p)).toEqual(["10.0.0.0/24:0 192.0.2.1 f0 t30 w100", "10.0.0.0/24:0 192.0.2.2 f0 t30 w100"])
    // no flush on a VIP delete
    expect(p.mutationsSince(seq).some((m) => m.op === "as-flush")).toBe(false)
    // its ASes can no longer be reached through the API
    expect(p.addDelAsV2(asDel(V, "192.0.2.1"), 31)).toBe(-6)
    // re-adding the key before GC makes a new VIP (new index, no ASes)
    expect(p.addDelVipV2(vip(V), 40)).toBe(0)
    expect(p.vipIndices().map((v) => [v.index, v.used])).toEqual([[1, false], [2, true]])
    expect(asList(p)).toHaveLength(2)
    expect(p.asDump(ALL, 59)).toHaveLength(2)
    expect(p.asDump(ALL, 60)).toEqual([])
    expect(p.vipIndices().map((v) => v.index)).toEqual([2])
    expect(p.mutations().slice(-3).map((m) => m.op)).toEqual(["gc-as", "gc-as", "gc-vip"])
  })

  it("a deleted VIP without ASes is freed by the next tick", () => {
    const p = new LbPlugin()
    p.addDelVipV2(vip(V), 0)
    p.addDelVipV2(vipDel(V), 59)
    expect(p.vipIndices()).toHaveLength(1)
    p.advance(60)
    expect(p.vipIndices()).toEqual([])
  })

  it("the timers are configurable", () => {
    const p = new LbPlugin({ gcInterval: 5, garbageRun: 5, concurrencyTimeout: 2 })
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelAsV2(asDel(V, "192.0.2.1"), 3)
    expect(asList(p, 4)).toHaveLength(1)
    expect(asList(p, 5)).toEqual([])
    const q = manual({ garbageRun: 0, concurrencyTimeout: 0 })
    q.addDelVipV2(vip(V), 0)
    q.addDelAsV2(as(V, "192.0.2.1"), 1)
    q.addDelAsV2(asDel(V, "192.0.2.1"), 1)
    q.gc(1)
    expect(asList(q)).toEqual([])
  })

  it("automatic ticks (idle stretches skipped in one step) give the state of a collection at every tick", () => {
    type Op = { readonly dt: number; readonly kind: number; readonly a: number; readonly v: number; readonly w: number }
    const op = fc.record({
      dt: fc.integer({ min: 0, max: 200 }),
      kind: fc.integer({ min: 0, max: 5 }),
      a: fc.integer({ min: 1, max: 4 }),
      v: fc.integer({ min: 1, max: 3 }),
      w: fc.integer({ min: 0, max: 5 })
    })
    // reference: no automatic ticks, an explicit lb_garbage_collection at every multiple of 60
    const run = (ops: ReadonlyArray<Op>, reference: boolean) => {
      const p = reference ? manual() : new LbPlugin()
      let now = 0
      const ticksUpTo = (until: number) => {
        if (reference) for (let t = Math.ceil((now + 1) / 60) * 60; t <= until; t += 60) p.gc(t)
      }
      for (const o of ops) {
        const next = now + o.dt
        ticksUpTo(next)
        now = next
        const pfx = `10.0.${o.v}.0/24`
        const addr = `192.0.2.${o.a}`
        if (o.kind === 0) p.addDelVipV2(vip(pfx), now)
        else if (o.kind === 1) p.addDelVipV2(vipDel(pfx), now)
        else if (o.kind === 2 || o.kind === 3) p.addDelAsV2(as(pfx, addr, { weight: o.w }), now)
        else if (o.kind === 4) p.addDelAsV2(asDel(pfx, addr), now)
        else p.asSetWeight(weight(pfx, addr, o.w), now)
      }
      const end = now + 300
      ticksUpTo(end)
      if (!reference) p.advance(end)
      return {
        ases: asList(p),
        vips: p.vipIndices(),
        snapshots: p.vipIndices().map((v) => p.inspectVip(v.index)),
        log: p.mutations().map((m) => [m.op, m.now, m.details])
      }
    }
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        expect(run(ops, false)).toEqual(run(ops, true))
      }),
      { numRuns: 300 }
    )
  })

  it("a deleted VIP stays while it has ASes, even when a collection runs", () => {
    const p = manual()
    p.addDelVipV2(vip(V), 0)
    p.addDelAsV2(as(V, "192.0.2.1"), 1)
    p.addDelVipV2(vipDel(V), 55)
    p.gc(60) // runs, but the AS was deleted only 5 s ago
    expect(p.vipIndices()).toEqual([{ index: 1, key: { pfx: V, protocol: "IP_API_PROTO_RESERVED", port: 0 }, used: false }])
    expect(asList(p)).toHaveLength(1)
    p.gc(120)
    expect(p.vipIndices()).toEqual([])
  })
})

describe("dumps (§3.7)", () => {
  it("lb_vip_dump ignores its filter fields", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24"), 0)
    p.addDelVipV2(vip("2001:db8::/64"), 0)
    const all = p.vipDump(VIP_DUMP)
    expect(all).toHaveLength(2)
    expect(p.vipDump({ pfx: "2001:db8::/64", pfx_matcher: { le: 64, ge: 64 }, protocol: 6, port: 80 })).toEqual(all)
  })

  it("lb_vip_details fields", () => {
    const p = manual()
    p.addDelVipV2(vip("192.0.2.9/24", { protocol: 6, port: 80, new_flows_table_length: 16 }), 0)
    expect(p.vipDump()).toEqual([
      {
        vip: { pfx: "192.0.2.0/24", protocol: "IP_API_PROTO_TCP", port: 80 },
        encap: "LB_API_ENCAP_TYPE_GRE4",
        dscp: "IP_API_DSCP_CS0",
        srv_type: "LB_API_SRV_TYPE_CLUSTERIP",
        target_port: 0,
        flow_table_length: 16
      }
    ])
  })

  it.each([
    [1024, 1024],
    [32768, 32768],
    [65536, 0],
    [131072, 0],
    [262144 * 4, 0]
  ])("flow_table_length %i is reported as the u16 %i", (length, reported) => {
    const p = manual()
    expect(p.addDelVipV2(vip("10.0.0.0/24", { new_flows_table_length: length }), 0)).toBe(0)
    expect(p.vipDump()[0]?.flow_table_length).toBe(reported)
    expect(p.inspectVip(1)?.flowTableLength).toBe(length)
  })

  it("a 2^30 table is modelled (num_buckets add up to it); 2^31 is refused with -70", () => {
    const p = manual()
    expect(p.addDelVipV2(vip("10.0.0.0/24", { new_flows_table_length: 2 ** 30 }), 0)).toBe(0)
    p.addDelAsV2(as("10.0.0.0/24", "192.0.2.1", { weight: 3 }), 0)
    p.addDelAsV2(as("10.0.0.0/24", "192.0.2.2", { weight: 7 }), 0)
    expect(p.asV2Dump(ALL).reduce((s, d) => s + d.num_buckets, 0)).toBe(2 ** 30)
    expect(p.vipDump()[0]?.flow_table_length).toBe(0)
    expect(p.addDelVipV2(vip("10.0.1.0/24", { new_flows_table_length: 2 ** 31 }), 0)).toBe(-70)
  })

  it("lb_as_dump walks VIPs in pool order (deleted ones too) and each VIP's ASes in AS-pool order", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    p.addDelVipV2(vip("10.0.2.0/24", { protocol: 6, port: 443 }), 0)
    p.addDelAsV2(as("10.0.2.0/24", "192.0.2.20", { protocol: 6, port: 443 }), 1)
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.12"), 1)
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.11"), 1)
    p.addDelAsV2(asDel("10.0.1.0/24", "192.0.2.12"), 2)
    expect(p.asDump(ALL)).toEqual([
      { vip: { pfx: "10.0.1.0/24", protocol: "IP_API_PROTO_RESERVED", port: 0 }, app_srv: "192.0.2.12", flags: 0, in_use_since: 2 },
      { vip: { pfx: "10.0.1.0/24", protocol: "IP_API_PROTO_RESERVED", port: 0 }, app_srv: "192.0.2.11", flags: 1, in_use_since: 0 },
      { vip: { pfx: "10.0.2.0/24", protocol: "IP_API_PROTO_TCP", port: 443 }, app_srv: "192.0.2.20", flags: 1, in_use_since: 0 }
    ])
    const v2 = p.asV2Dump(ALL)
    expect(v2.map((d) => [d.app_srv, d.weight, d.num_buckets])).toEqual([
      ["192.0.2.12", 100, 0],
      ["192.0.2.11", 100, 1024],
      ["192.0.2.20", 100, 1024]
    ])
    // v1 details have no weight/num_buckets
    expect(Object.keys(p.asDump(ALL)[0]!).sort()).toEqual(["app_srv", "flags", "in_use_since", "vip"])
  })

  describe("the lb_as_dump filter (raw union bytes, exact protocol and port; IPv4 bug)", () => {
    const setup = () => {
      const p = manual()
      p.addDelVipV2(vip("10.0.0.0/24"), 0)
      p.addDelVipV2(vip("2001:db8::/64", { encap: "LB_API_ENCAP_TYPE_GRE6" }), 0)
      p.addDelVipV2(vip("2001:db8:1::/64", { protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE6" }), 0)
      p.addDelVipV2(vip("2001:db8::/32", { encap: "LB_API_ENCAP_TYPE_GRE6" }), 0)
      p.addDelAsV2(as("10.0.0.0/24", "192.0.2.1"), 1)
      p.addDelAsV2(as("2001:db8::/64", "2001:db8:ff::1"), 1)
      p.addDelAsV2(as("2001:db8:1::/64", "2001:db8:ff::2", { protocol: 6, port: 80 }), 1)
      p.addDelAsV2(as("2001:db8::/32", "2001:db8:ff::3"), 1)
      return p
    }
    it.each([
      ["0.0.0.0/0 (all-zero: dump all)", { pfx: "0.0.0.0/0", protocol: 0, port: 0 }, ["192.0.2.1", "2001:db8:ff::1", "2001:db8:ff::2", "2001:db8:ff::3"]],
      ["::/0 with protocol and port set (ignored)", { pfx: "::/64", protocol: 17, port: 53 }, ["192.0.2.1", "2001:db8:ff::1", "2001:db8:ff::2", "2001:db8:ff::3"]],
      ["the IPv4 VIP: nothing (VPP bug)", { pfx: "10.0.0.0/24", protocol: 255, port: 0 }, []],
      ["the IPv4 VIP as ::a00:0: matches the ip46 bytes", { pfx: "::a00:0/120", protocol: 255, port: 0 }, ["192.0.2.1"]],
      ["IPv6 all-port VIPs with protocol 255: /64 and /32 have the same bytes (len ignored)", { pfx: "2001:db8::/64", protocol: 255, port: 0 }, ["2001:db8:ff::1", "2001:db8:ff::3"]],
      ["…whatever the len", { pfx: "2001:db8::/17", protocol: 255, port: 0 }, ["2001:db8:ff::1", "2001:db8:ff::3"]],
      ["…with protocol 0: nothing (no 255 forcing here)", { pfx: "2001:db8::/64", protocol: 0, port: 0 }, []],
      ["a per-port IPv6 VIP", { pfx: "2001:db8:1::/64", protocol: 6, port: 80 }, ["2001:db8:ff::2"]],
      ["…wrong port", { pfx: "2001:db8:1::/64", protocol: 6, port: 81 }, []],
      ["…wrong protocol", { pfx: "2001:db8:1::/64", protocol: 17, port: 80 }, []],
      ["host bits are not masked", { pfx: "2001:db8::1/64", protocol: 255, port: 0 }, []],
      ["IPv4 32.1.13.184 is the union bytes of 2001:db8::", { pfx: "32.1.13.184/32", protocol: 255, port: 0 }, ["2001:db8:ff::1", "2001:db8:ff::3"]]
    ] as const)("%s", (_, filter, expected) => {
      const p = setup()
      expect(p.asDump(filter).map((d) => d.app_srv)).toEqual(expected)
      expect(p.asV2Dump(filter).map((d) => d.app_srv)).toEqual(expected)
    })
  })

  describe("num_buckets against lb_maglev.golden.json", () => {
    interface Scenario {
      readonly scenario: string
      readonly new_flows_table_length: number
      readonly ases: ReadonlyArray<{ readonly address: string; readonly weight: number; readonly used: boolean }>
      readonly num_buckets: Readonly<Record<string, number>>
    }
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, "lb_maglev.golden.json"), "utf8")) as ReadonlyArray<
      Scenario | object
    >
    const scenarios = golden.filter((g): g is Scenario => "scenario" in g)

    it("has the scenarios", () => {
      expect(scenarios.length).toBeGreaterThanOrEqual(4)
    })

    it.each(scenarios.map((s) => [s.scenario, s] as const))("%s", (_, s) => {
      const ip6 = s.ases[0]!.address.includes(":")
      const pfx = ip6 ? "2001:db8:ffff::/48" : "198.51.100.0/24"
      const p = manual()
      expect(
        p.addDelVipV2(
          vip(pfx, { new_flows_table_length: s.new_flows_table_length, encap: ip6 ? "LB_API_ENCAP_TYPE_GRE6" : "LB_API_ENCAP_TYPE_GRE4" }),
          0
        )
      ).toBe(0)
      for (const a of s.ases) expect(p.addDelAsV2(as(pfx, a.address, { weight: a.weight }), 1)).toBe(0)
      for (const a of s.ases) if (!a.used) expect(p.addDelAsV2(asDel(pfx, a.address), 2)).toBe(0)
      const got = Object.fromEntries(p.asV2Dump(ALL).map((d: AsV2Details) => [d.app_srv, d.num_buckets]))
      expect(got).toEqual(s.num_buckets)
      // the same through set_weight from a different start
      const q = manual()
      q.addDelVipV2(vip(pfx, { new_flows_table_length: s.new_flows_table_length, encap: ip6 ? "LB_API_ENCAP_TYPE_GRE6" : "LB_API_ENCAP_TYPE_GRE4" }), 0)
      for (const a of [...s.ases].reverse()) q.addDelAsV2(as(pfx, a.address, { weight: 1 }), 1)
      for (const a of s.ases) q.asSetWeight(weight(pfx, a.address, a.weight), 2)
      for (const a of s.ases) if (!a.used) q.addDelAsV2(asDel(pfx, a.address), 3)
      expect(Object.fromEntries(q.asV2Dump(ALL).map((d) => [d.app_srv, d.num_buckets]))).toEqual(s.num_buckets)
    })
  })

  it("the new-flow table points at AS pool indices (0 = drop)", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24", { new_flows_table_length: 8 }), 0)
    expect(p.newFlowTable(1)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    p.addDelAsV2(as("10.0.0.0/24", "10.0.0.1"), 1)
    expect(p.newFlowTable(1)).toEqual([1, 1, 1, 1, 1, 1, 1, 1])
    p.addDelAsV2(as("10.0.0.0/24", "10.0.0.1", { weight: 1, is_del: true }), 2)
    expect(p.newFlowTable(1)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
  })
})

describe("byte-order quirks (§3.8) and their exact encoding", () => {
  const nat4 = (o: Partial<VipReq> = {}) =>
    vip("10.0.0.0/24", { protocol: 6, port: 443, encap: "LB_API_ENCAP_TYPE_NAT4", target_port: 8443, ...o })

  it("a NAT VIP reports target_port byte-swapped; NODEPORT is stored as 0; dscp reads the srv_type byte", () => {
    const p = manual()
    p.addDelVipV2(nat4({ type: "LB_API_SRV_TYPE_NODEPORT", dscp: 46 }), 0)
    const [d] = p.vipDump()
    expect(d).toMatchObject({ encap: "LB_API_ENCAP_TYPE_NAT4", target_port: 64288, srv_type: "LB_API_SRV_TYPE_CLUSTERIP", dscp: "IP_API_DSCP_CS0" })
  })

  it("an L3DSR VIP reports dscp << 24 as srv_type; dscp is masked with 0x3f", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24", { encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 46, target_port: 8443 }), 0)
    p.addDelVipV2(vip("10.0.1.0/24", { encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 0xc5 }), 0)
    const [a, b] = p.vipDump()
    expect(a).toMatchObject({ dscp: "IP_API_DSCP_EF", srv_type: 0x2e000000, target_port: 0 })
    expect(b).toMatchObject({ dscp: 5, srv_type: 0x05000000 })
  })

  it("a GRE VIP ignores dscp/type/target_port in the request", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24", { dscp: 46, type: "LB_API_SRV_TYPE_NODEPORT", target_port: 8443 }), 0)
    expect(p.vipDump()[0]).toMatchObject({ dscp: "IP_API_DSCP_CS0", srv_type: "LB_API_SRV_TYPE_CLUSTERIP", target_port: 0 })
  })

  it("a reused VIP slot keeps encap_args the new VIP's type does not write", () => {
    const p = manual()
    p.addDelVipV2(nat4(), 0)
    p.addDelVipV2(vip("10.0.0.0/24", { protocol: 6, port: 443, is_del: true }), 1)
    p.gc(1)
    p.addDelVipV2(vip("10.0.1.0/24"), 2) // GRE4 in slot 1
    expect(p.vipIndices().map((v) => v.index)).toEqual([1])
    expect(p.vipDump()[0]).toMatchObject({ encap: "LB_API_ENCAP_TYPE_GRE4", target_port: 64288 })
    // an L3DSR VIP in that slot overwrites the shared byte, not the port
    p.addDelVipV2(vipDel("10.0.1.0/24"), 3)
    p.gc(3)
    p.addDelVipV2(vip("10.0.2.0/24", { encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 10 }), 4)
    expect(p.vipDump()[0]).toMatchObject({ dscp: "IP_API_DSCP_AF11", srv_type: 0x0a000000, target_port: 64288 })
  })

  it("an undeclared protocol is reported as its number", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24", { protocol: 7, port: 9 }), 0)
    expect(p.vipDump()[0]?.vip).toEqual({ pfx: "10.0.0.0/24", protocol: 7, port: 9 })
  })

  const vipCodec = Codec.of(lb.LbVipDetails.schema)
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

  it("encodeVipDetails gives the golden bytes, and VPP's out-of-enum values exactly", () => {
    const p = manual()
    p.addDelVipV2(vip("192.0.2.0/24", { protocol: 6, port: 80 }), 0)
    p.addDelVipV2(vip("10.0.0.0/24", { protocol: 7, port: 9, encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 5 }), 0)
    p.addDelVipV2(vip("::/64", { encap: "LB_API_ENCAP_TYPE_GRE6", new_flows_table_length: 65536 }), 0)
    const [plain, quirky, zero] = p.vipDump()
    // the golden vector's bytes (lb.golden.json, curated lb_vip_details)
    expect(hex(encodeVipDetails(plain!, 1024))).toBe("0000040000c00002000000000000000000000000001806005000000000000000000000000400")
    const value = vipDetailsValue(plain!, 1024)
    expect(hex(encodeVipDetails(plain!, 1024))).toBe(hex(Either.getOrThrow(vipCodec.encode(value))))
    expect(vipDetailsValue(quirky!, 1)).toMatchObject({ vip: { protocol: 7 }, dscp: 5, srv_type: 5 << 24 })
    const q = encodeVipDetails(quirky!, 1)
    expect(q.length).toBe(38)
    expect(q[22]).toBe(7) // protocol
    expect(q[29]).toBe(5) // dscp
    expect(hex(q.subarray(30, 34))).toBe("05000000") // srv_type = 5 << 24
    expect(hex(q.subarray(25, 29))).toBe("00000002") // encap L3DSR
    // ::/64 is reported as IPv4 0.0.0.0 with len 64
    expect(zero!.vip.pfx).toBe("0.0.0.0/64")
    const z = encodeVipDetails(zero!, 1)
    expect(z[4]).toBe(0) // af IPv4
    expect(z[21]).toBe(64)
    expect(hex(z.subarray(36, 38))).toBe("0000") // 65536 as u16
  })

  it("encodeAsDetails / encodeAsV2Details match the golden lb_as_v2_details layout", () => {
    const p = manual()
    p.addDelVipV2(vip("192.0.2.0/24", { new_flows_table_length: 1024 }), 0)
    for (const [a, w] of [["10.0.0.1", 50], ["10.0.0.2", 100], ["10.0.0.3", 100], ["10.0.0.4", 100]] as const) {
      p.addDelAsV2(as("192.0.2.0/24", a, { weight: w }), 0)
    }
    const [first] = p.asV2Dump(ALL)
    // lb.golden.json curated lb_as_v2_details: 10.0.0.1 weight 50 → 150 buckets
    expect(hex(encodeAsV2Details(first!, 1280))).toBe(
      "0000050000c000020000000000000000000000000018ff0000000a00000100000000000000000000000001000000003200000096"
    )
    expect(encodeAsDetails(p.asDump(ALL)[0]!, 1280).length).toBe(47)
  })
})

describe("lb_add_del_intf_nat4/6", () => {
  it.each([
    ["nat4", 0, true, 0],
    ["nat4", 1, true, -2],
    ["nat6", 0, false, 0],
    ["nat6", 7, true, -2]
  ] as const)("%s sw_if_index %i is_add %s → %i", (family, sw, isAdd, rv) => {
    const p = new LbPlugin()
    const req = { is_add: isAdd, sw_if_index: sw }
    const seq = p.lastSeq()
    expect(family === "nat4" ? p.addDelIntfNat4(req, 0) : p.addDelIntfNat6(req, 0)).toBe(rv)
    expect(p.lastSeq() - seq).toBe(rv === 0 ? 1 : 0)
  })

  it("existing interfaces are configurable", () => {
    const p = new LbPlugin({ interfaces: [0, 3] })
    expect(p.addDelIntfNat4({ is_add: true, sw_if_index: 3 }, 0)).toBe(0)
    expect(p.addDelIntfNat6({ is_add: true, sw_if_index: 5 }, 0)).toBe(-2)
    p.addInterface(5)
    expect(p.addDelIntfNat6({ is_add: true, sw_if_index: 5 }, 0)).toBe(0)
    expect(p.natInterfaces()).toEqual({ nat4: [3], nat6: [5] })
    p.removeInterface(5)
    expect(p.addDelIntfNat6({ is_add: false, sw_if_index: 5 }, 0)).toBe(-2)
  })
})

describe("mutation log", () => {
  it("an idempotent re-add that fails with -81 logs nothing", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24"), 0)
    p.addDelAsV2(as("10.0.0.0/24", "192.0.2.1"), 0)
    const seq = p.lastSeq()
    expect(p.addDelVipV2(vip("10.0.0.0/24"), 1)).toBe(-81)
    expect(p.addDelAsV2(as("10.0.0.0/24", "192.0.2.1"), 1)).toBe(-81)
    expect(p.mutationsSince(seq)).toEqual([])
  })

  it("dumps and lb_conf_get log nothing", () => {
    const p = manual()
    p.addDelVipV2(vip("10.0.0.0/24"), 0)
    const seq = p.lastSeq()
    p.vipDump()
    p.asDump(ALL)
    p.asV2Dump(ALL)
    p.confGet()
    expect(p.lastSeq()).toBe(seq)
  })

  it("records every change in order, with its time, and calls subscribers", () => {
    const p = manual({ garbageRun: 0, concurrencyTimeout: 0 })
    const seen: Array<string> = []
    const unsubscribe = p.subscribe((m) => seen.push(m.op))
    p.addDelVipV2(vip("10.0.0.0/24", { new_flows_table_length: 16, src_ip_sticky: true }), 3)
    p.addDelAsV2(as("10.0.0.0/24", "192.0.2.1", { weight: 9 }), 4)
    p.asSetWeight(weight("10.0.0.0/24", "192.0.2.1", 8), 5)
    p.addDelAsV2(asDel("10.0.0.0/24", "192.0.2.1", { is_flush: true }), 6)
    p.addDelVipV2(vipDel("10.0.0.0/24"), 7)
    p.gc(8)
    unsubscribe()
    p.addDelIntfNat4({ is_add: true, sw_if_index: 0 }, 9)
    expect(p.mutations().map((m) => [m.seq, m.now, m.op])).toEqual([
      [1, 3, "vip-add"],
      [2, 4, "as-add"],
      [3, 5, "as-weight"],
      [4, 6, "as-del"],
      [5, 6, "as-flush"],
      [6, 7, "gc-as"], // the VIP delete's collection runs first and frees the lameduck AS
      [7, 7, "vip-del"],
      [8, 8, "gc-vip"],
      [9, 9, "intf-nat"]
    ])
    expect(seen).toEqual(["vip-add", "as-add", "as-weight", "as-del", "as-flush", "gc-as", "vip-del", "gc-vip"])
    expect(p.mutations()[0]?.details).toEqual({
      vip: 1,
      key: { pfx: "10.0.0.0/24", protocol: "IP_API_PROTO_RESERVED", port: 0 },
      type: "LB_API_VIP_TYPE_IP4_GRE4",
      new_flows_table_length: 16,
      src_ip_sticky: true,
      reused: false
    })
  })

  it("keeps at most logLimit records", () => {
    const p = manual({ logLimit: 3 })
    for (let i = 1; i <= 10; i++) p.addDelVipV2(vip(`10.0.${i}.0/24`), 0)
    expect(p.mutations().map((m) => m.seq)).toEqual([8, 9, 10])
    p.clearMutations()
    expect(p.mutations()).toEqual([])
    expect(p.lastSeq()).toBe(10)
  })
})

// ---------------------------------------------------------------------------
// Lookups: the model keeps indices (VIPs by key, ASes by address) instead of
// walking its pools; here every request's outcome is predicted from a walk of
// what the public snapshots show, over random add/del/collect/restart sequences.

describe("lookups agree with a walk of the pools", () => {
  // Prefixes that alias after normalisation: host bits, ::a00:0/120 = 10.0.0.0/24,
  // 0.0.0.0/0 (plen 96) vs ::/0 (plen 0).
  const PREFIXES = ["10.0.0.0/24", "10.0.0.1/24", "::a00:0/120", "10.0.0.0/25", "2001:db8::/64", "2001:db8::1/64", "0.0.0.0/0", "::/0"]
  // [protocol, port]; tcp with port 0 is an all-port key.
  const PORTS = [[6, 80], [17, 80], [6, 443], [255, 0], [6, 0]] as const
  // ::ac10:1 is 172.16.0.1 to VPP.
  const ADDRESSES = ["172.16.0.1", "172.16.0.2", "172.16.0.3", "::ac10:1", "2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"]
  const ENCAPS = ["LB_API_ENCAP_TYPE_GRE4", "LB_API_ENCAP_TYPE_GRE6"] as const

  const op = fc.record({
    kind: fc.oneof(
      { arbitrary: fc.constantFrom("vip-add" as const), weight: 8 },
      { arbitrary: fc.constantFrom("vip-del" as const), weight: 2 },
      { arbitrary: fc.constantFrom("as-add" as const), weight: 10 },
      { arbitrary: fc.constantFrom("as-del" as const), weight: 8 },
      { arbitrary: fc.constantFrom("weight" as const, "flush" as const), weight: 3 },
      { arbitrary: fc.constantFrom("gc" as const), weight: 2 },
      { arbitrary: fc.constantFrom("restart" as const), weight: 1 }
    ),
    prefix: fc.nat(PREFIXES.length - 1),
    port: fc.nat(PORTS.length - 1),
    address: fc.nat(ADDRESSES.length - 1),
    encap: fc.constantFrom(...ENCAPS),
    weight: fc.nat(255),
    flush: fc.boolean(),
    dt: fc.nat(20),
    // name an existing VIP (3 in 4) and one of its ASes (1 in 2)
    aim: fc.nat(3).map((n) => n > 0),
    aimAs: fc.boolean()
  })
  const KEYS = PREFIXES.flatMap((_, i) => PORTS.map((_, j) => [i, j] as const))

  /** The request's key as the handlers normalise it. */
  const requestKey = (pfx: string, protocol: number, port: number) => {
    const d = Ip46.decodePrefix(pfx)
    const plen = (d.len + (d.af4 ? 96 : 0)) & 0xff
    return {
      group: `${Ip46.key(Ip46.mask(d.ip46, plen))}/${plen}`,
      ip4: Ip46.prefixIsIp4(d.ip46, plen),
      protocol: port === 0 ? 255 : protocol,
      port
    }
  }
  type Key = ReturnType<typeof requestKey>

  /** Every pool VIP as the snapshots show it, ascending pool index. */
  const pool = (p: LbPlugin) =>
    p.vipIndices().map((e) => {
      const s = p.inspectVip(e.index)!
      const address = e.key.pfx.slice(0, e.key.pfx.indexOf("/"))
      const protocol = typeof e.key.protocol === "number" ? e.key.protocol : ip_types.IpProtoValues[e.key.protocol]
      return { ...s, group: `${Ip46.key(Ip46.fromAddress(address))}/${s.plen}`, protocol, port: e.key.port }
    })
  type Seen = ReturnType<typeof pool>[number]

  /** `lb_vip_port_find_index` as a walk: the first USED VIP in pool order on the prefix that matches. */
  const walk = (vips: ReadonlyArray<Seen>, k: Key, match: (v: Seen) => boolean) =>
    vips.find((v) => v.used && v.group === k.group && match(v))
  const same = (k: Key) => (v: Seen) => v.protocol === k.protocol && v.port === k.port

  it.prop("VIP and AS lookups, over random add/del/collect/restart sequences", [fc.array(op, { minLength: 20, maxLength: 150 })], ([ops]) => {
    const p = manual({ garbageRun: 15, concurrencyTimeout: 5 })
    let now = 0
    for (const o of ops) {
      now += o.dt
      const vips = pool(p)
      // Most requests but adds name a key of some USED VIP (in any of its spellings); the rest any key.
      const used = vips.filter((v) => v.used)
      const target = o.aim && o.kind !== "vip-add" && used.length > 0 ? used[o.prefix % used.length] : undefined
      const spellings = target === undefined
        ? [[o.prefix, o.port]]
        : KEYS.filter(([i, j]) => {
          const k = requestKey(PREFIXES[i]!, PORTS[j]![0], PORTS[j]![1])
          return k.group === target.group && same(k)(target)
        })
      const [i, j] = spellings[o.port % spellings.length]!
      const pfx = PREFIXES[i]!
      const [protocol, port] = PORTS[j]!
      const k = requestKey(pfx, protocol, port)
      const found = walk(vips, k, same(k))
      const address = o.aimAs && found !== undefined && found.ases.length > 0
        ? found.ases[o.address % found.ases.length]!.address
        : ADDRESSES[o.address]!
      const asKey = Ip46.key(Ip46.fromAddress(address))
      const existing = found?.ases.find((a) => Ip46.key(Ip46.fromAddress(a.address)) === asKey)
      const seq = p.lastSeq()
      const records = () => p.mutationsSince(seq)
      switch (o.kind) {
        case "vip-add": {
          const type = `LB_API_VIP_TYPE_${k.ip4 ? "IP4" : "IP6"}_${o.encap === "LB_API_ENCAP_TYPE_GRE4" ? "GRE4" : "GRE6"}`
          const other = walk(vips, k, (v) => !same(k)(v))
          const expected = found !== undefined ||
              (k.port !== 0 && walk(vips, k, (v) => v.port === 0) !== undefined) ||
              (k.port === 0 && other !== undefined)
            ? Retval.VALUE_EXIST
            : other !== undefined && other.type !== type
            ? Retval.INVALID_ARGUMENT
            : Retval.OK
          expect(p.addDelVipV2(vip(pfx, { protocol, port, encap: o.encap }), now)).toBe(expected)
          const added = records().find((m) => m.op === "vip-add")
          if (added?.op === "vip-add") expect(p.inspectVip(added.details.vip)?.type).toBe(type)
          expect(added !== undefined).toBe(expected === Retval.OK)
          break
        }
        case "vip-del":
          expect(p.addDelVipV2(vipDel(pfx, { protocol, port }), now)).toBe(found === undefined ? Retval.NO_SUCH_ENTRY : Retval.OK)
          if (found !== undefined) expect(records().at(-1)).toMatchObject({ op: "vip-del", details: { vip: found.index } })
          break
        case "as-add": {
          const v4 = found?.type.endsWith("GRE4")
          const expected = found === undefined
            ? Retval.NO_SUCH_ENTRY
            : existing?.used === true
            ? Retval.VALUE_EXIST
            : existing === undefined && Ip46.isIp4(Ip46.fromAddress(address)) !== v4
            ? Retval.INVALID_ADDRESS_FAMILY
            : Retval.OK
          expect(p.addDelAsV2(as(pfx, address, { protocol, port, weight: o.weight }), now)).toBe(expected)
          if (expected === Retval.OK) {
            const add = records().find((m) => m.op === "as-add")
            expect(add?.details).toMatchObject({ vip: found!.index, reactivated: existing !== undefined })
            if (existing !== undefined) expect(add?.details).toMatchObject({ as: existing.index })
          }
          break
        }
        case "as-del":
          expect(p.addDelAsV2(asDel(pfx, address, { protocol, port, is_flush: o.flush }), now)).toBe(
            existing === undefined ? Retval.NO_SUCH_ENTRY : Retval.OK
          )
          for (const m of records()) if (m.op === "as-del") expect(m.details).toMatchObject({ vip: found!.index, as: existing!.index })
          break
        case "weight":
          expect(p.asSetWeight(weight(pfx, address, o.weight, { protocol, port }), now)).toBe(
            existing?.used === true ? Retval.OK : Retval.NO_SUCH_ENTRY
          )
          if (existing?.used === true) {
            expect(records()[0]).toMatchObject({ op: "as-weight", details: { vip: found!.index, as: existing.index } })
          }
          break
        case "flush":
          p.flushVip({ pfx, protocol, port }, now)
          expect(records().map((m) => m.details)).toEqual(found === undefined ? [] : [{ vip: found.index }])
          break
        case "gc":
          p.gc(now)
          break
        case "restart":
          p.restart()
          now = 0
          break
      }
    }
  }, { fastCheck: { numRuns: 200 } })
})

describe("restart and dispatch", () => {
  it("restart forgets everything and starts the pools and timers again", () => {
    const p = new LbPlugin()
    p.conf({ ip4_src_address: "192.0.2.1", ip6_src_address: "::1", sticky_buckets_per_core: 2048, flow_timeout: 9 }, 0)
    p.addDelVipV2(vip("10.0.0.0/24"), 0)
    p.addDelVipV2(vip("10.0.1.0/24"), 0)
    p.addDelAsV2(as("10.0.1.0/24", "192.0.2.1"), 1000)
    p.restart()
    expect(p.confGet()).toEqual(new LbPlugin().confGet())
    expect(p.vipDump()).toEqual([])
    expect(p.asDump(ALL)).toEqual([])
    expect(p.mutations().at(-1)?.op).toBe("restart")
    p.addDelVipV2(vip("10.0.5.0/24"), 0)
    expect(p.vipIndices().map((v) => v.index)).toEqual([1])
    p.addDelAsV2(as("10.0.5.0/24", "192.0.2.1"), 1)
    p.addDelAsV2(asDel("10.0.5.0/24", "192.0.2.1"), 2)
    expect(asList(p, 60)).toEqual([])
  })

  it("handle dispatches by message name and returns reply bodies", () => {
    const p = manual()
    expect(p.handle("lb_add_del_vip_v2", vip("10.0.0.0/24"), 0)).toEqual({ retval: 0 })
    expect(p.handle("lb_add_del_vip_v2", vip("10.0.0.0/24"), 0)).toEqual({ retval: -81 })
    expect(p.handle("lb_add_del_as_v2", as("10.0.0.0/24", "192.0.2.1"), 0)).toEqual({ retval: 0 })
    expect(p.handle("lb_as_set_weight", weight("10.0.0.0/24", "192.0.2.9", 1), 0)).toEqual({ retval: -6 })
    expect(p.handle("lb_flush_vip", { pfx: "10.9.0.0/24", protocol: 0, port: 0 }, 0)).toEqual({ retval: 0 })
    expect(p.handle("lb_add_del_intf_nat4", { is_add: true, sw_if_index: 4 }, 0)).toEqual({ retval: -2 })
    expect(p.handle("lb_conf_get", {}, 0)).toEqual(p.confGet())
    expect(p.handle("lb_vip_dump", VIP_DUMP, 0)).toEqual(p.vipDump())
    expect(p.handle("lb_as_v2_dump", ALL, 0)).toEqual(p.asV2Dump(ALL))
    expect(p.handle("lb_as_dump", ALL, 0)).toEqual(p.asDump(ALL))
  })

  it("refuses a time that is not seconds since start", () => {
    expect(() => new LbPlugin().addDelVipV2(vip("10.0.0.0/24"), -1)).toThrow(RangeError)
    expect(() => new LbPlugin().addDelVipV2(vip("10.0.0.0/24"), Number.NaN)).toThrow(RangeError)
  })
})
