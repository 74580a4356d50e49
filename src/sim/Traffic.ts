/**
 * vppsim's traffic model (`--traffic RATE`): synthetic TCP/UDP flows to every
 * VIP, each packet taken through what `lb_node_fn` (`src/plugins/lb/node.c`)
 * does with it, so the stats segment's per-VIP counters and the per-AS flow
 * counts of `show lb vips verbose` move as they would in VPP:
 *
 * - the flow hash is `lb_node_get_hash` (internal/LbHash.ts);
 * - each thread has its sticky table (`lb_get_sticky_table`: sized by
 *   `sticky_buckets_per_core`, rebuilt when that changes, entries living
 *   `flow_timeout` seconds from their last packet);
 * - a packet of a live entry counts "packet from existing sessions" and goes to
 *   the AS the entry names, whatever the new-flow table says now (sticky);
 * - otherwise, with a free entry, the AS is `new_flow_table[hash & mask]` (the
 *   Maglev model, `LbPlugin.newFlowTable`), counted as "first session packet"
 *   or, for AS 0, "no server configured", and the entry is stored; without a
 *   free entry the packet is "untracked";
 * - the per-AS flow count is `as_refcount`: +1 when an entry is stored for an
 *   AS, -1 for the AS an entry held before (an expired entry still counts
 *   until its slot is reused), moved to AS 0 by a flush (`lb_flush_vip_as`).
 *
 * Flows: each VIP keeps up to `flowsPerVip` live flows; a packet starts a new
 * flow with probability `newFlowShare` (or when there is none), otherwise it
 * belongs to a random live flow; a new flow past the limit replaces a random
 * one (that flow ended). Sources are random in 198.18.0.0/15 (IPv4) or
 * 2001:db8:ffff::/48 (IPv6), source ports 1024..65535; the destination is the
 * VIP's address and port (80 or 443 for an all-port VIP), protocol TCP (UDP
 * for a UDP VIP). With workers, a flow's packets go to worker
 * `1 + hash % workers` (standing in for the NIC's RSS); without, to thread 0.
 *
 * Pure apart from the random source, which is injected (seeded in tests).
 */
import type { LbVipCounter } from "../vpp/stats/Layout.js"
import { LbVipCounter as Counter } from "../vpp/stats/Layout.js"
import { type FlowKey, flowHash, StickyTable } from "./internal/LbHash.js"
import * as Ip from "../vpp/codec/Ip.js"
import type { LbMutation, LbPlugin } from "./LbPlugin.js"

export interface TrafficOptions {
  /** worker threads (the sticky tables are per thread) */
  readonly workers: number
  /** share of packets that start a new flow; default 0.1 */
  readonly newFlowShare?: number
  /** live flows kept per VIP; default 256 */
  readonly flowsPerVip?: number
  /** uniform in [0, 1); default Math.random */
  readonly random?: () => number
}

export interface Flow extends FlowKey {
  readonly vip: number
  readonly hash: number
  readonly thread: number
}

/** What one packet did. */
export interface PacketResult {
  readonly as: number
  readonly counter: LbVipCounter
}

/** Adds `n` to one counter of one VIP on one thread (the stats segment). */
export type CountPackets = (vip: number, counter: LbVipCounter, thread: number, n: number) => void

export class Traffic {
  private readonly random: () => number
  private readonly newFlowShare: number
  private readonly flowsPerVip: number
  private tables: Array<StickyTable | undefined> = []
  private refcount = new Map<number, number>()
  private flowsOf = new Map<number, Array<Flow>>()
  private tableCache = new Map<number, { readonly seq: number; readonly table: ReadonlyArray<number> }>()
  private readonly unsubscribe: () => void

  constructor(private readonly lb: LbPlugin, private readonly count: CountPackets, private readonly options: TrafficOptions) {
    this.random = options.random ?? Math.random
    this.newFlowShare = options.newFlowShare ?? 0.1
    this.flowsPerVip = options.flowsPerVip ?? 256
    this.unsubscribe = lb.subscribe((m) => this.onMutation(m))
  }

  close(): void {
    this.unsubscribe()
  }

  /** VPP restarted: no tables, no flows, no references. */
  reset(): void {
    this.tables = []
    this.refcount = new Map()
    this.flowsOf = new Map()
    this.tableCache = new Map()
  }

  /** `vlib_refcount_get (&lbm->as_refcount, as)`: sticky entries naming the AS, summed over threads. */
  flows(asIndex: number): number {
    return this.refcount.get(asIndex) ?? 0
  }

  /** The live synthetic flows of a VIP (for tests). */
  liveFlows(vip: number): ReadonlyArray<Flow> {
    return this.flowsOf.get(vip) ?? []
  }

  /** `packets` packets spread evenly over the USED VIPs (the remainder to the first ones), at `now` (seconds since start). */
  send(packets: number, now: number): void {
    const vips = this.lb.vipIndices().filter((v) => v.used)
    if (vips.length === 0 || packets <= 0) return
    const batch = new Map<string, { vip: number; counter: LbVipCounter; thread: number; n: number }>()
    vips.forEach((v, i) => {
      const n = Math.floor(packets / vips.length) + (i < packets % vips.length ? 1 : 0)
      for (let k = 0; k < n; k++) {
        const r = this.packet(this.pickFlow(v.index), now)
        const key = `${v.index}/${r.counter}/${this.lastThread}`
        const b = batch.get(key)
        if (b !== undefined) b.n++
        else batch.set(key, { vip: v.index, counter: r.counter, thread: this.lastThread, n: 1 })
      }
    })
    for (const b of batch.values()) this.count(b.vip, b.counter, b.thread, b.n)
  }

  private lastThread = 0

  /** One packet of `flow` through `lb_node_fn` at `now` (seconds since start). */
  packet(flow: Flow, now: number): PacketResult {
    this.lastThread = flow.thread
    const lbTime = (Math.floor(now) + 10000) >>> 0 // lb_hash_time_now
    const ht = this.stickyTable(flow.thread)
    const { found, available } = ht.get(flow.hash, flow.vip, lbTime)
    if (found !== 0) return { as: found, counter: Counter.nextPacket }
    const table = this.newFlowTable(flow.vip)
    const as = table.length === 0 ? 0 : table[flow.hash & (table.length - 1)]!
    if (available === undefined) return { as, counter: Counter.untrackedPacket }
    this.ref(ht.value[available]!, -1)
    this.ref(as, 1)
    ht.put(available, flow.hash, as, flow.vip, lbTime)
    return { as, counter: as === 0 ? Counter.noServer : Counter.firstPacket }
  }

  /** One packet of `flow` through `lb_node_fn`, counted in the stats segment (a real connection's packet, DataPlane.ts). */
  receive(flow: Flow, now: number): PacketResult {
    const r = this.packet(flow, now)
    this.count(flow.vip, r.counter, flow.thread, 1)
    return r
  }

  /** The flow of VIP `vip` with these header fields (its hash and, with workers, its thread). */
  flowOf(vip: number, key: FlowKey): Flow | undefined {
    const v = this.lb.inspectVip(vip)
    if (v === undefined) return undefined
    const hash = flowHash(key, v.srcIpSticky)
    const workers = this.options.workers
    return { ...key, vip, hash, thread: workers > 0 ? 1 + (hash % workers) : 0 }
  }

  /** A new flow to VIP `vip` with a random source (not yet sent). */
  newFlow(vip: number): Flow | undefined {
    const v = this.lb.inspectVip(vip)
    if (v === undefined) return undefined
    const ip4 = v.type.includes("IP4")
    const [address] = v.key.pfx.split("/")
    const dst = new Uint8Array(ip4 ? 4 : 16)
    if (ip4) Ip.parseIp4Into(address!, dst, 0)
    else Ip.parseIp6Into(address!, dst, 0)
    const src = new Uint8Array(ip4 ? 4 : 16)
    if (ip4) {
      src.set([198, 18 + Math.floor(this.random() * 2), Math.floor(this.random() * 256), 1 + Math.floor(this.random() * 254)])
    } else {
      src.set([0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff])
      for (let i = 6; i < 16; i++) src[i] = Math.floor(this.random() * 256)
    }
    const dstPort = v.key.port !== 0 ? v.key.port : this.random() < 0.5 ? 80 : 443
    return this.flowOf(vip, { src, dst, srcPort: 1024 + Math.floor(this.random() * (65536 - 1024)), dstPort })
  }

  private pickFlow(vip: number): Flow {
    const live = this.flowsOf.get(vip) ?? []
    this.flowsOf.set(vip, live)
    if (live.length === 0 || this.random() < this.newFlowShare) {
      const flow = this.newFlow(vip)!
      if (live.length < this.flowsPerVip) live.push(flow)
      else live[Math.floor(this.random() * live.length)] = flow
      return flow
    }
    return live[Math.floor(this.random() * live.length)]!
  }

  private ref(as: number, delta: number): void {
    this.refcount.set(as, (this.refcount.get(as) ?? 0) + delta)
  }

  /** `lb_get_sticky_table`: rebuilt (references moved to AS 0) when `sticky_buckets_per_core` changed; the timeout always follows `flow_timeout`. */
  private stickyTable(thread: number): StickyTable {
    const conf = this.lb.confGet()
    let ht = this.tables[thread]
    if (ht !== undefined && ht.buckets !== conf.sticky_buckets_per_core) {
      for (let i = 0; i < ht.value.length; i++) {
        this.ref(ht.value[i]!, -1)
        this.ref(0, 1)
      }
      ht = undefined
    }
    if (ht === undefined) {
      ht = new StickyTable(conf.sticky_buckets_per_core, conf.flow_timeout)
      this.tables[thread] = ht
    }
    ht.timeout = conf.flow_timeout
    return ht
  }

  /** The VIP's new-flow table as of the latest lb change. */
  private newFlowTable(vip: number): ReadonlyArray<number> {
    const seq = this.lb.lastSeq()
    const cached = this.tableCache.get(vip)
    if (cached !== undefined && cached.seq === seq) return cached.table
    const table = this.lb.newFlowTable(vip) ?? []
    this.tableCache.set(vip, { seq, table })
    return table
  }

  /** `lb_flush_vip_as` on every thread's table, for the flushes the model records; a deleted VIP's flows end. */
  private onMutation(m: LbMutation): void {
    if (m.op === "as-flush" || m.op === "vip-flush") {
      const as = m.op === "as-flush" ? m.details.as : undefined
      for (const ht of this.tables) {
        if (ht === undefined) continue
        for (let i = 0; i < ht.vip.length; i++) {
          if (ht.vip[i] === m.details.vip && (as === undefined || ht.value[i] === as)) {
            this.ref(ht.value[i]!, -1)
            this.ref(0, 1)
            ht.vip[i] = 0xffffffff
            ht.value[i] = 0
          }
        }
      }
    } else if (m.op === "vip-del" || m.op === "gc-vip") {
      this.flowsOf.delete(m.details.vip)
    }
  }
}
