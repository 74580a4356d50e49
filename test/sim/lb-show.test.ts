/**
 * `show lb vips verbose` as `LbPlugin.showVipsVerbose` writes it straight from
 * its pools (src/sim/LbPlugin.ts, internal/LbShow.ts: a TextOut of bytes, the
 * AS lines of a VIP kept from one listing to the next while nothing in them
 * changed), byte for byte against a plain string rendering of
 * `format_lb_vip_detailed`'s format strings from the model's own snapshots,
 * through a seeded random run of VIP and AS adds, deletes (with and without
 * flush), weight changes, flows that move and time that passes (lameduck ASes
 * and deleted VIPs collected): every listing, and the one right after it.
 */
import { describe, expect, it } from "@effect/vitest"
import { LbPlugin, type Request } from "../../src/sim/LbPlugin.js"
import { formatIp46Prefix, vipTypeString } from "../../src/sim/internal/LbShow.js"
import type { lb } from "../../src/vpp/binapi/index.js"
import { ip_types, lb_types } from "../../src/vpp/binapi/index.js"
import { LB_VIP_COUNTERS } from "../../src/vpp/stats/Layout.js"
import * as Ip46 from "../../src/sim/internal/Ip46.js"

/** A small seeded generator (the run is the same every time). */
const lcg = (seed: number) => {
  let x = seed >>> 0
  return (n: number): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return Math.floor((x / 2 ** 32) * n)
  }
}

interface VipSpec {
  readonly pfx: string
  readonly protocol: number
  readonly port: number
  readonly ip4: boolean
}

const VIPS: ReadonlyArray<VipSpec> = [
  ...Array.from({ length: 6 }, (_, i) => ({ pfx: `192.0.2.${i + 1}/32`, protocol: 6, port: 80 + i, ip4: true })),
  { pfx: "192.0.2.100/32", protocol: 255, port: 0, ip4: true },
  { pfx: "198.51.100.0/24", protocol: 17, port: 53, ip4: true },
  ...Array.from({ length: 3 }, (_, i) => ({ pfx: `2001:db8:${i + 1}::/64`, protocol: 6, port: 443, ip4: false }))
]
const AS4 = Array.from({ length: 12 }, (_, i) => `10.0.${i >> 2}.${i + 1}`)
const AS6 = Array.from({ length: 12 }, (_, i) => `2001:db8:ffff::${(i + 1).toString(16)}`)

const vipReq = (v: VipSpec, isDel: boolean, sticky: boolean, length: number): Request<lb.LbAddDelVipV2> => ({
  pfx: v.pfx,
  protocol: v.protocol,
  port: v.port,
  encap: v.ip4 ? "LB_API_ENCAP_TYPE_GRE4" : "LB_API_ENCAP_TYPE_GRE6",
  dscp: 0,
  type: "LB_API_SRV_TYPE_CLUSTERIP",
  target_port: 0,
  node_port: 0,
  new_flows_table_length: length,
  src_ip_sticky: sticky,
  is_del: isDel
})

const asReq = (v: VipSpec, address: string, o: { weight?: number; isDel?: boolean; flush?: boolean }): Request<lb.LbAddDelAsV2> => ({
  pfx: v.pfx,
  protocol: v.protocol,
  port: v.port,
  as_address: address,
  weight: o.weight ?? 100,
  is_del: o.isDel ?? false,
  is_flush: o.flush ?? false
})

const typeNumber = (name: keyof typeof lb_types.LbVipTypeValues): number => lb_types.LbVipTypeValues[name]
const protocolNumber = (p: ip_types.IpProto | number): number => (typeof p === "number" ? p : ip_types.IpProtoValues[p])

/**
 * `lb_show_vips_command_fn` with verbose, as plain strings from `inspectVip` (GRE VIPs only: no dscp or NAT lines).
 * The prefix goes through the ip46 the model stores (`Ip46.decodePrefix` of the wire text, plus 96 for IPv4).
 */
const reference = (model: LbPlugin, counters: (vip: number) => ReadonlyArray<bigint>, flows: (as: number) => number): string => {
  let text = ""
  for (const { index } of model.vipIndices()) {
    const v = model.inspectVip(index)!
    const d = Ip46.decodePrefix(v.key.pfx)
    const c = counters(index)
    text += ` ${vipTypeString(typeNumber(v.type))} [${index}] ${formatIp46Prefix(Ip46.mask(d.ip46, v.plen), v.plen)}` +
      `${v.srcIpSticky ? " src_ip_sticky" : ""}${v.used ? "" : " removed"}\n`
    text += `  new_size:${v.flowTableLength}\n`
    if (v.key.port !== 0) text += `  protocol:${protocolNumber(v.key.protocol)} port:${v.key.port}\n`
    text += "  counters:\n"
    LB_VIP_COUNTERS.forEach((name, i) => (text += `    ${name}: ${c[i] ?? 0n}\n`))
    text += `  #as:${v.ases.length}\n`
    for (const a of v.ases) {
      text += `    ${a.address} weight:${a.weight} buckets:${a.numBuckets} flows:${flows(a.index)} dpo:${a.index} ${a.used ? "used" : " removed"}\n`
    }
    text += "\n"
  }
  return text
}

describe("show lb vips verbose, written from the pools", () => {
  it("is byte for byte the format strings' text through a random run of changes, each listing and the one after it", () => {
    const rand = lcg(20261205)
    const model = new LbPlugin()
    let now = 1
    const flowCounts = new Map<number, number>()
    const flows = (a: number) => flowCounts.get(a) ?? 0
    let tick = 0n
    const counters = (vip: number): ReadonlyArray<bigint> => [BigInt(vip) * 7n + tick, tick, 0n, BigInt(vip)]
    let listings = 0
    let removedSeen = 0
    for (let step = 0; step < 600; step++) {
      const v = VIPS[rand(VIPS.length)]!
      const pool = v.ip4 ? AS4 : AS6
      const address = pool[rand(pool.length)]!
      switch (rand(8)) {
        case 0:
          model.handle("lb_add_del_vip_v2", vipReq(v, false, rand(4) === 0, [64, 256, 1024][rand(3)]!), now)
          break
        case 1:
          if (rand(3) === 0) model.handle("lb_add_del_vip_v2", vipReq(v, true, false, 1024), now)
          break
        case 2:
        case 3:
          model.handle("lb_add_del_as_v2", asReq(v, address, { weight: rand(4) === 0 ? rand(256) : 100 }), now)
          break
        case 4:
          model.handle("lb_add_del_as_v2", asReq(v, address, { isDel: true, flush: rand(2) === 0 }), now)
          break
        case 5:
          model.handle("lb_as_set_weight", { ...asReq(v, address, { weight: rand(256) }), is_flush: false }, now)
          break
        case 6:
          flowCounts.set(1 + rand(40), rand(5))
          tick++
          break
        case 7:
          now += rand(40)
          break
      }
      if (step % 5 === 4) {
        const text = model.showVipsVerbose(counters, now, flows)
        expect(text).toBe(reference(model, counters, flows))
        // the same again: the kept AS lines
        expect(model.showVipsVerbose(counters, now, flows)).toBe(text)
        listings++
        if (text.includes(" removed\n")) removedSeen++
      }
    }
    // the run went through what it is meant to: listings with lameduck ASes or deleted VIPs among them
    expect(listings).toBe(120)
    expect(removedSeen).toBeGreaterThan(10)
    expect(model.mutations().some((m) => m.op === "gc-as")).toBe(true)
    expect(model.mutations().some((m) => m.op === "gc-vip")).toBe(true)
  })
})
