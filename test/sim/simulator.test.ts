/**
 * The client against the whole simulator (API server + lb model + stats) over
 * real Unix sockets.
 */
import { it } from "@effect/vitest"
import { Chunk, Effect, Either, TestClock } from "effect"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { tempDir } from "./tempDir.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { lb, memclnt } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import { LB_VIP_COUNTERS } from "../../src/vpp/stats/Layout.js"
import * as StatsClient from "../../src/vpp/stats/StatsClient.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { findMessage, hexToBytes, loadGoldenFile, toGolden } from "../support/golden.js"
import { rawExchange } from "../support/rawSocket.js"

const sim = (extra: Partial<Simulator.SimulatorOptions> = {}) =>
  Effect.flatMap(tempDir("vppsim-"), (d) =>
    Simulator.make({ apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock"), pid: 4242, ...extra }))

const vip = (pfx: string, extra: Partial<lb.LbAddDelVipV2> = {}) => ({
  pfx, protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4" as const, dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP" as const,
  target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false, is_del: false, ...extra
})
const as = (pfx: string, address: string, weight = 100, extra: Partial<lb.LbAddDelAsV2> = {}) => ({
  pfx, protocol: 6, port: 80, as_address: address, weight, is_del: false, is_flush: false, ...extra
})
const retval = <A, E extends { _tag: string }>(e: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(e), (r) => (Either.isRight(r) ? 0 : (r.left as unknown as { retval?: number }).retval ?? r.left._tag))

describe("vppsim through the client", () => {
  it.live("lb requests and their error numbers over the socket", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      const addVip = (v: ReturnType<typeof vip>) => retval(c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, v))
      const addAs = (a: ReturnType<typeof as>) => retval(c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, a))
      expect(yield* addVip(vip("192.0.2.1/32"))).toBe(0)
      expect(yield* addVip(vip("192.0.2.1/32"))).toBe(-81)
      expect(yield* addVip(vip("192.0.2.2/32", { new_flows_table_length: 1000 }))).toBe(-70)
      expect(yield* addVip(vip("192.0.2.1/32", { port: 443, encap: "LB_API_ENCAP_TYPE_GRE6" }))).toBe(-73)
      expect(yield* addAs(as("192.0.2.1/32", "10.0.0.1"))).toBe(0)
      expect(yield* addAs(as("192.0.2.1/32", "10.0.0.1"))).toBe(-81)
      expect(yield* addAs(as("192.0.2.1/32", "2001:db8::1"))).toBe(-97)
      expect(yield* addAs(as("192.0.2.9/32", "10.0.0.1"))).toBe(-6)
      expect(yield* retval(c.request(lb.LbAsSetWeight, lb.LbAsSetWeightReply, {
        pfx: "192.0.2.1/32", protocol: 6, port: 80, as_address: "10.0.0.2", weight: 5, is_flush: false
      }))).toBe(-6)
      expect(yield* retval(c.request(lb.LbConf, lb.LbConfReply, {
        ip4_src_address: "10.255.0.1", ip6_src_address: "2001:db8::ff", sticky_buckets_per_core: 1000, flow_timeout: 40
      }))).toBe(-70)
      expect(yield* retval(c.request(lb.LbAddDelIntfNat4, lb.LbAddDelIntfNat4Reply, { is_add: true, sw_if_index: 7 }))).toBe(-2)
      const conf = yield* c.request(lb.LbConfGet, lb.LbConfGetReply, {})
      expect(conf).toMatchObject({ ip4_src_address: "255.255.255.255", sticky_buckets_per_core: 1024, flow_timeout: 40 })
      const error = yield* Effect.flip(c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.1/32")))
      expect(error.message).toBe("lb_add_del_vip_v2 failed: VNET_API_ERROR_VALUE_EXIST (-81)")
      const vips = yield* c.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 })
      expect(Chunk.toReadonlyArray(vips).map((v) => v.vip)).toEqual([{ pfx: "192.0.2.1/32", protocol: 6, port: 80 }])
    })))

  it.live("VIPs that VPP reports outside their enums (L3DSR, odd protocols, ::/N) still dump", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("10.0.0.0/24", {
        protocol: 7, port: 9, encap: "LB_API_ENCAP_TYPE_L3DSR", dscp: 5
      }))
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("::/64", { protocol: 255, port: 0, encap: "LB_API_ENCAP_TYPE_GRE6" }))
      const vips = Chunk.toReadonlyArray(
        yield* c.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 })
      )
      expect(vips.map((v) => [v.vip, v.encap, v.dscp, v.srv_type])).toEqual([
        [{ pfx: "10.0.0.0/24", protocol: 7, port: 9 }, "LB_API_ENCAP_TYPE_L3DSR", 5, 5 << 24],
        [{ pfx: "0.0.0.0/64", protocol: 255, port: 0 }, "LB_API_ENCAP_TYPE_GRE6", 0, 0]
      ])
    })))

  it.live("num_buckets for every lb_maglev.golden.json scenario, through lb_as_v2_dump", () =>
    Effect.scoped(Effect.gen(function*() {
      interface Scenario {
        readonly scenario?: string
        readonly new_flows_table_length: number
        readonly ases: ReadonlyArray<{ address: string; weight: number; used: boolean }>
        readonly num_buckets: Readonly<Record<string, number>>
      }
      const scenarios = loadGoldenFile<ReadonlyArray<Scenario>>("lb_maglev.golden.json").filter((s) => s.scenario !== undefined)
      expect(scenarios.length).toBe(11)
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      let n = 0
      for (const scenario of scenarios) {
        const v6 = scenario.ases[0]!.address.includes(":")
        const pfx = `198.51.100.${++n}/32`
        yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip(pfx, {
          encap: v6 ? "LB_API_ENCAP_TYPE_GRE6" : "LB_API_ENCAP_TYPE_GRE4",
          new_flows_table_length: scenario.new_flows_table_length
        }))
        for (const a of scenario.ases) yield* c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, as(pfx, a.address, a.weight))
        for (const a of scenario.ases.filter((a) => !a.used)) {
          yield* c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, as(pfx, a.address, a.weight, { is_del: true }))
        }
        const details = yield* c.dump(lb.LbAsV2Dump, lb.LbAsV2Details, { pfx: "0.0.0.0/0", protocol: 0, port: 0 })
        const mine = Chunk.toReadonlyArray(details).filter((d) => d.vip.pfx === pfx)
        expect(Object.fromEntries(mine.map((d) => [d.app_srv, d.num_buckets])), scenario.scenario).toEqual(scenario.num_buckets)
      }
    })))

  it.scoped("lameduck ASes are collected on the Effect clock (TestClock)", () =>
    Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.1/32"))
      yield* c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, as("192.0.2.1/32", "10.0.0.1"))
      yield* c.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, as("192.0.2.1/32", "10.0.0.1", 100, { is_del: true }))
      const dump = c.dump(lb.LbAsV2Dump, lb.LbAsV2Details, { pfx: "0.0.0.0/0", protocol: 0, port: 0 }).pipe(
        Effect.map((d) => Chunk.toReadonlyArray(d).map((x) => ({ as: x.app_srv, flags: x.flags })))
      )
      expect(yield* dump).toEqual([{ as: "10.0.0.1", flags: 0 }])
      yield* TestClock.adjust("5 seconds")
      expect(yield* dump).toEqual([{ as: "10.0.0.1", flags: 0 }])
      yield* TestClock.adjust("2 minutes")
      expect(yield* dump).toEqual([])
      expect((yield* s.mutations).map((m) => m.op)).toContain("gc-as")
    }))

  it.live("replaying session.golden.json in small random pieces: the replies equal the recorded ones, ids aside", () =>
    Effect.scoped(Effect.gen(function*() {
      interface SessionFrame {
        readonly dir: "c2s" | "s2c"
        readonly message: string
        readonly fields: Record<string, unknown>
        readonly body_hex: string
      }
      const frames = loadGoldenFile<{ frames: ReadonlyArray<SessionFrame> }>("session.golden.json").frames
      const s = yield* sim()
      const idOf = new Map(s.api.table.map((e) => [e.name.slice(0, e.name.lastIndexOf("_")), e.index]))
      const nameOf = new Map(s.api.table.map((e) => [e.index, e.name.slice(0, e.name.lastIndexOf("_"))]))
      const requests = frames.filter((f) => f.dir === "c2s").map((f) => {
        const body = hexToBytes(f.body_hex)
        const id = idOf.get(f.message)!
        body[0] = id >> 8
        body[1] = id & 0xff
        const out = new Uint8Array(16 + body.length)
        Frame.writeHeader(out, 0, body.length)
        out.set(body, 16)
        return out
      })
      const expected = frames.filter((f) => f.dir === "s2c")
      // the golden frames back to back, cut into random pieces of 1..9 bytes; VPP closes after sockclnt_delete
      const replies = yield* rawExchange(s.api.path, { frames: requests, maxPiece: 9 })
      expect(replies.map((r) => nameOf.get((r[0]! << 8) | r[1]!))).toEqual(expected.map((f) => f.message))
      replies.forEach((r, i) => {
        const f = expected[i]!
        const c = Codec.of(findMessage(f.message).schema)
        const value = toGolden(c.layout, Either.getOrThrow(c.decode(r.subarray(2))))
        if (f.message === "sockclnt_create_reply") {
          // the same messages, with this simulator's ids
          const v = value as { message_table: Array<{ name: string }>; count: number }
          const recorded = f.fields as { message_table: Array<{ name: string }>; count: number }
          expect(v.message_table.map((e) => e.name).sort()).toEqual(recorded.message_table.map((e) => e.name).sort())
          expect({ ...v, message_table: [], count: 0 }).toEqual({ ...recorded, message_table: [], count: 0 })
        } else {
          expect(value, f.message).toEqual(f.fields)
        }
      })
    })))

  it.live("stats: boottime, worker threads and the lb counters as traffic flows", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim({ workers: 2 })
      const c = yield* VppApi.connect({ path: s.api.path })
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.1/32"))
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.2/32"))
      const stats = yield* StatsClient.make({ socketPath: s.stats!.socketPath })
      expect(yield* stats.scalar("/sys/num_worker_threads")).toBe(2n)
      const boot = yield* stats.scalar("/sys/boottime")
      expect(Number(boot)).toBeGreaterThan(Date.now() / 1000 - 60)
      expect(stats.names).toBeDefined()
      yield* s.traffic(2, 5, 0)
      yield* s.traffic(2, 7, 2)
      const totals = yield* stats.simpleCounterTotals(LB_VIP_COUNTERS[0]!)
      expect(totals[2]).toBe(12n)
      expect(totals[1]).toBe(0n)
    })))

  it.live("restart: connections drop, state is gone, a new connection sees the new pid", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      yield* c.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.1/32"))
      yield* s.restart
      expect((yield* c.closed)._tag).toBe("VppDisconnected")
      const again = yield* VppApi.connect({ path: s.api.path })
      expect((yield* again.request(memclnt.ControlPing, memclnt.ControlPingReply, {})).vpe_pid).toBe(4243)
      const vips = yield* again.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 })
      expect(Chunk.size(vips)).toBe(0)
    })))
})
