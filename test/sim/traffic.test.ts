/**
 * vppsim's traffic model (src/sim/Traffic.ts): packets through lb_node_fn
 * (src/plugins/lb/node.c) — the flow hash of lb_node_get_hash, the per-thread
 * sticky table of lbhash.h, new flows by the Maglev new-flow table, the four
 * per-VIP counters and as_refcount.
 */
import { it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { tempDir } from "./tempDir.js"
import { crc32c, flowHash, StickyTable } from "../../src/sim/internal/LbHash.js"
import { LbPlugin } from "../../src/sim/LbPlugin.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { Traffic } from "../../src/sim/Traffic.js"
import { lb, vlib } from "../../src/vpp/binapi/index.js"
import { LbVipCounter } from "../../src/vpp/stats/Layout.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"

/** A small deterministic PRNG (mulberry32) for the flows. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const vipReq = (pfx: string, extra: Record<string, unknown> = {}) => ({
  pfx, protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4" as const, dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP" as const,
  target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false, is_del: false, ...extra
})
const asReq = (address: string, extra: Record<string, unknown> = {}) => ({
  pfx: "192.0.2.1/32", protocol: 6, port: 80, as_address: address, weight: 100, is_del: false, is_flush: false, ...extra
})

describe("lb flow hash and sticky table (lb_node_get_hash, lb_hash_hash, lbhash.h)", () => {
  it("crc32c is CRC-32C: the standard check value with the usual inversions", () => {
    const check = new TextEncoder().encode("123456789")
    expect((crc32c(0xffffffff, check) ^ 0xffffffff) >>> 0).toBe(0xe3069283)
  })

  it("the hash covers addresses and ports; src_ip_sticky leaves the ports out", () => {
    const f = { src: Uint8Array.of(198, 18, 0, 1), dst: Uint8Array.of(192, 0, 2, 1), srcPort: 40000, dstPort: 80 }
    const g = { ...f, srcPort: 40001 }
    expect(flowHash(f, false)).not.toBe(flowHash(g, false))
    expect(flowHash(f, true)).toBe(flowHash(g, true))
    // five crc32c_u64 steps from 0 over the u64s as stored: address pair, ports, three zero words
    const bytes = new Uint8Array(40)
    bytes.set([198, 18, 0, 1, 192, 0, 2, 1, 0, 80, 40000 >>> 8, 40000 & 0xff])
    expect(flowHash(f, false)).toBe(crc32c(0, bytes))
  })

  it("lb_hash_get: a live entry is found and its timeout pushed; a full bucket has no free slot", () => {
    const ht = new StickyTable(1, 40)
    for (let i = 0; i < 4; i++) {
      const { found, available } = ht.get(100 + i, 1, 10000)
      expect(found).toBe(0)
      ht.put(available!, 100 + i, 7 + i, 1, 10000)
    }
    expect(ht.get(101, 1, 10030)).toEqual({ found: 8, available: undefined })
    expect(ht.get(999, 1, 10030).available).toBeUndefined()
    // at 10041 every entry but 101's (pushed to 10070) has expired
    expect(ht.get(101, 1, 10041)).toEqual({ found: 8, available: 0 })
  })
})

describe("the traffic model (Traffic.ts, after lb_node_fn)", () => {
  const setup = () => {
    const model = new LbPlugin()
    expect(model.handle("lb_add_del_vip_v2", vipReq("192.0.2.1/32"), 0)).toEqual({ retval: 0 })
    for (const a of ["10.0.0.1", "10.0.0.2"]) expect(model.handle("lb_add_del_as_v2", asReq(a), 0)).toEqual({ retval: 0 })
    const counts = new Map<string, number>()
    const traffic = new Traffic(model, (vip, counter, _thread, n) => counts.set(`${vip}/${counter}`, (counts.get(`${vip}/${counter}`) ?? 0) + n), {
      workers: 0,
      random: seeded(7)
    })
    return { model, traffic, counts }
  }

  it("a new flow goes to new_flow_table[hash & mask]; its next packets stay with that AS", () => {
    const { model, traffic } = setup()
    const table = model.newFlowTable(1)!
    for (let i = 0; i < 200; i++) {
      const flow = traffic.newFlow(1)!
      const first = traffic.packet(flow, 1)
      expect(first).toEqual({ as: table[flow.hash & 1023], counter: LbVipCounter.firstPacket })
      expect(traffic.packet(flow, 2)).toEqual({ as: first.as, counter: LbVipCounter.nextPacket })
    }
  })

  it("sticky: weight 0 sends new flows elsewhere, old flows stay; a flush moves their references to AS 0 and rehashes them", () => {
    const { model, traffic } = setup()
    const flows = Array.from({ length: 400 }, () => traffic.newFlow(1)!)
    const first = flows.map((f) => traffic.packet(f, 1))
    const firstAs = first.map((r) => r.as)
    expect(new Set(firstAs)).toEqual(new Set([1, 2]))
    // one reference per stored entry (two random flows may share a hash: one entry)
    expect(traffic.flows(1) + traffic.flows(2)).toBe(first.filter((r) => r.counter === LbVipCounter.firstPacket).length)
    expect(model.handle("lb_as_set_weight", { ...asReq("10.0.0.1"), weight: 0 }, 3)).toEqual({ retval: 0 })
    // (a flow whose bucket was full at its first packet is untracked: left out)
    const tracked = flows.filter((_, i) => first[i]!.counter === LbVipCounter.firstPacket)
    expect(tracked.length).toBeGreaterThan(390)
    flows.forEach((f, i) => {
      if (tracked.includes(f)) expect(traffic.packet(f, 4)).toEqual({ as: firstAs[i], counter: LbVipCounter.nextPacket })
    })
    for (let i = 0; i < 50; i++) expect(traffic.packet(traffic.newFlow(1)!, 4).as).toBe(2)
    const onAs1 = traffic.flows(1)
    const onAs0 = traffic.flows(0) // AS 0's count is never shown (a fresh slot's "previous AS" is 0, so it goes negative)
    expect(onAs1).toBeGreaterThan(0)
    // lb_vip_set_as_weight with flush: lb_flush_vip_as (vip, as)
    expect(model.handle("lb_as_set_weight", { ...asReq("10.0.0.1"), weight: 0, is_flush: true }, 5)).toEqual({ retval: 0 })
    expect(traffic.flows(1)).toBe(0)
    expect(traffic.flows(0)).toBe(onAs0 + onAs1)
    // the flushed entries stay in their slots (vip ~0, AS 0) until they time out,
    // so a flow in a bucket they fill is "untracked"; either way it goes to AS 2 now
    flows.forEach((f, i) => {
      if (!tracked.includes(f)) return
      const r = traffic.packet(f, 6)
      expect(r.as).toBe(2)
      if (firstAs[i] === 1) expect([LbVipCounter.firstPacket, LbVipCounter.untrackedPacket]).toContain(r.counter)
      else expect(r.counter).toBe(LbVipCounter.nextPacket)
    })
  })

  it("lb_conf changing only flow_timeout keeps the sticky table; its entries then live the new timeout (lb_get_sticky_table)", () => {
    const { model, traffic } = setup()
    const f = traffic.newFlow(1)!
    expect(traffic.packet(f, 1).counter).toBe(LbVipCounter.firstPacket)
    const conf = { ip4_src_address: "192.0.2.254", ip6_src_address: "2001:db8::1", sticky_buckets_per_core: 1024, flow_timeout: 10 }
    expect(model.handle("lb_conf", conf, 2)).toEqual({ retval: 0 })
    // the entry is still there (the table was not rebuilt), and its timeout is pushed by 10 s, not 40
    expect(traffic.packet(f, 2).counter).toBe(LbVipCounter.nextPacket)
    expect(traffic.packet(f, 2 + 11).counter).toBe(LbVipCounter.firstPacket)
  })

  it("garbage collection keeps a lameduck AS while sticky entries reference it; a flush lets it go (lb_vip_garbage_collection)", () => {
    const { model, traffic } = setup()
    model.setAsRefcount((a) => traffic.flows(a))
    for (let i = 0; i < 50; i++) traffic.packet(traffic.newFlow(1)!, 1)
    expect(traffic.flows(1)).toBeGreaterThan(0)
    // deleted without flush: lameduck, its flows stay
    expect(model.handle("lb_add_del_as_v2", asReq("10.0.0.1", { is_del: true }), 2)).toEqual({ retval: 0 })
    model.gc(100) // past the 10 s concurrency timeout and the VIP's 60 s gate
    expect(model.inspectVip(1)!.ases.map((a) => [a.address, a.used])).toEqual([["10.0.0.1", false], ["10.0.0.2", true]])
    // lb_flush_vip moves every reference to AS 0; the next run frees it
    expect(model.handle("lb_flush_vip", { pfx: "192.0.2.1/32", protocol: 6, port: 80 }, 101)).toEqual({ retval: 0 })
    expect(traffic.flows(1)).toBe(0)
    model.gc(200)
    expect(model.inspectVip(1)!.ases.map((a) => a.address)).toEqual(["10.0.0.2"])
  })

  it("no AS: 'no server configured'; entries expire after flow_timeout and their slots are reused", () => {
    const model = new LbPlugin()
    model.handle("lb_add_del_vip_v2", vipReq("192.0.2.1/32"), 0)
    const traffic = new Traffic(model, () => {}, { workers: 0, random: seeded(1) })
    const f = traffic.newFlow(1)!
    expect(traffic.packet(f, 1)).toEqual({ as: 0, counter: LbVipCounter.noServer })
    // an entry naming AS 0 is not "found": the next packet is a new flow again
    expect(traffic.packet(f, 2)).toEqual({ as: 0, counter: LbVipCounter.noServer })
    model.handle("lb_add_del_as_v2", asReq("10.0.0.1"), 3)
    expect(traffic.packet(f, 3)).toEqual({ as: 1, counter: LbVipCounter.firstPacket })
    // (f's own AS 0 entries stay live in its bucket while it sends, and lb_hash_get
    // returns the first live match: f keeps being a "new" flow, as in VPP)
    const g = traffic.newFlow(1)!
    expect(traffic.packet(g, 10)).toEqual({ as: 1, counter: LbVipCounter.firstPacket })
    expect(traffic.packet(g, 10 + 39)).toEqual({ as: 1, counter: LbVipCounter.nextPacket })
    // 40 s after its last packet the entry is gone: a first packet again
    expect(traffic.packet(g, 10 + 39 + 40)).toEqual({ as: 1, counter: LbVipCounter.firstPacket })
  })
})

describe("vppsim --traffic", () => {
  it.effect("packets at the rate land in the stats counters and show lb vips verbose counts the flows", () =>
    Effect.scoped(Effect.gen(function*() {
      const d = yield* tempDir("vppsim-traffic-")
      const s = yield* Simulator.make({
        apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock"), workers: 2, traffic: 1000, trafficRandom: seeded(3)
      })
      const c = yield* VppApi.connect({ path: s.api.path })
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vipReq("192.0.2.1/32"))
      for (const a of ["10.0.0.1", "10.0.0.2"]) yield* c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, asReq(a))
      yield* TestClock.adjust("1 second")
      const [next, first, untracked, noServer] = s.stats!.segment.lbVipCounterValues(1)
      expect(next! + first! + untracked! + noServer!).toBe(1000n)
      expect(first!).toBeGreaterThan(0n)
      expect(next!).toBeGreaterThan(0n)
      const text = (yield* c.request(vlib.CliInband, vlib.CliInbandReply, { cmd: "show lb vips verbose" })).reply
      const flows = [...text.matchAll(/flows:(\d+)/g)].map((m) => Number(m[1]))
      expect(flows).toHaveLength(2)
      expect(flows[0]! + flows[1]!).toBe(s.flows!.flows(1) + s.flows!.flows(2))
      expect(flows[0]! + flows[1]!).toBe(Number(first!))
    })))
})
