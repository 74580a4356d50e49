/**
 * The diff against the simulator's lb plugin model (src/sim/LbPlugin.ts): the
 * ops go in as the decoded requests the sync loop would send, the observed state
 * comes back through the dumps' generated values and `observedFromDumps`. So the
 * properties check VPP's rules too: every op succeeds (retval 0), the result is
 * the desired state, and a second diff is empty.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Backend, Config, Frontend, FrontendProtocol } from "../../src/config/Config.js"
import { type HealthStatus, STATUSES } from "../../src/health/HealthState.js"
import { type DesiredVip, desiredState, predictedBuckets } from "../../src/lb/Desired.js"
import { applyOp, describeOp, diff, flushKey, type LbOp, type ObservedVip, observedFromDumps } from "../../src/lb/Diff.js"
import { canonicalAddress, type VipKey, vipKey, vipKeyString } from "../../src/lb/VipKey.js"
import { requestOf } from "../../src/lb/Requests.js"
import { asV2DetailsValue, LbPlugin, type Request, vipDetailsValue } from "../../src/sim/LbPlugin.js"
import { ip_types, type lb, type lb_types } from "../../src/vpp/binapi/index.js"
import { config as supportConfig } from "../support/config.js"

// ---------------------------------------------------------------------------
// VPP: the simulator's plugin, driven with the requests the sync loop sends

const ALL = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const
const keyFields = (k: VipKey) => ({ pfx: k.prefix, protocol: k.protocol, port: k.port })
const protocolNumber = (p: ip_types.IpProto | number): number => (typeof p === "number" ? p : ip_types.IpProtoValues[p])

const vipRequest = (
  k: VipKey,
  o: { encap: lb_types.LbEncapType; sticky: boolean; length: number; del: boolean }
): Request<lb.LbAddDelVipV2> => ({
  ...keyFields(k),
  encap: o.encap,
  dscp: 0,
  type: "LB_API_SRV_TYPE_CLUSTERIP",
  target_port: 0,
  node_port: 0,
  new_flows_table_length: o.length,
  src_ip_sticky: o.sticky,
  is_del: o.del
})

const asRequest = (k: VipKey, address: string, weight: number, del: boolean, flush: boolean): Request<lb.LbAddDelAsV2> => ({
  ...keyFields(k),
  as_address: address,
  weight,
  is_del: del,
  is_flush: flush
})

interface VipState {
  readonly encap: string
  readonly srcIpSticky: boolean
  readonly length: number
  /** active ASes: address → weight */
  readonly ases: Readonly<Record<string, number>>
}

class Vpp {
  readonly plugin = new LbPlugin()
  now = 1

  /** The op as the very request the sync loop sends (src/lb/Requests.ts); its retval. */
  send(op: LbOp): number {
    const r = requestOf(op)
    return (this.plugin.handle(r.name, r.fields, this.now) as { readonly retval: number }).retval
  }

  /** Sends every op; returns the ones VPP refused, with their retval. */
  apply(ops: ReadonlyArray<LbOp>): Array<string> {
    const refused: Array<string> = []
    for (const op of ops) {
      const r = this.send(op)
      if (r !== 0) refused.push(`${describeOp(op).event} ${JSON.stringify(describeOp(op).fields)} → ${r}`)
    }
    return refused
  }

  private usedVips() {
    return this.plugin
      .vipIndices()
      .filter((e) => e.used)
      .map((e) => this.plugin.inspectVip(e.index)!)
  }

  /** What the sync loop sees; with `knowSticky` it also knows each VIP's src-ip-sticky (from elsewhere than the dumps). */
  observe(knowSticky = true): ReadonlyArray<ObservedVip> {
    const sticky = new Map(
      this.usedVips().map((v) => [vipKeyString(vipKey(v.key.pfx, protocolNumber(v.key.protocol), v.key.port)), v.srcIpSticky])
    )
    return observedFromDumps(
      this.plugin.vipDump(undefined, this.now).map((d) => vipDetailsValue(d, 0)),
      this.plugin.asV2Dump(ALL, this.now).map((d) => asV2DetailsValue(d, 0)),
      knowSticky ? (k) => sticky.get(vipKeyString(k)) : undefined
    )
  }

  /** The whole truth (not only what the dumps show): every used VIP and its active ASes. */
  state(): Record<string, VipState> {
    return Object.fromEntries(
      this.usedVips().map((v) => [
        vipKeyString(vipKey(v.key.pfx, protocolNumber(v.key.protocol), v.key.port)),
        {
          encap: v.encap,
          srcIpSticky: v.srcIpSticky,
          length: v.flowTableLength,
          ases: Object.fromEntries(v.ases.filter((a) => a.used).map((a) => [a.address, a.weight]))
        }
      ])
    )
  }

  /** num_buckets per active AS, per VIP key. */
  buckets(): Record<string, Record<string, number>> {
    return Object.fromEntries(
      this.usedVips().map((v) => [
        vipKeyString(vipKey(v.key.pfx, protocolNumber(v.key.protocol), v.key.port)),
        Object.fromEntries(v.ases.filter((a) => a.used).map((a) => [a.address, a.numBuckets]))
      ])
    )
  }
}

const expectedState = (desired: ReadonlyArray<DesiredVip>): Record<string, VipState> =>
  Object.fromEntries(
    desired.map((d) => [
      vipKeyString(d),
      {
        encap: d.encap,
        srcIpSticky: d.srcIpSticky,
        length: d.newFlowsTableLength,
        ases: Object.fromEntries(d.ases.map((a) => [canonicalAddress(a.address), a.weight]))
      }
    ])
  )

const sync = (vpp: Vpp, desired: ReadonlyArray<DesiredVip>): ReadonlyArray<LbOp> => {
  const ops = diff(desired, vpp.observe())
  expect(vpp.apply(ops)).toEqual([])
  return ops
}

// ---------------------------------------------------------------------------
// Configurations

const backend = (name: string, address: string): Backend => ({
  name,
  address,
  family: address.includes(":") ? 6 : 4,
  healthcheck: "hc",
  enabled: true
})

const V4 = ["10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.1.1", "192.168.0.1"]
const V6 = ["2001:db8::1", "2001:db8::9", "2001:db8::a", "2001:db8::10", "2001:db8:1::1"]
const BACKENDS = [...V4.map((a, i) => backend(`v4-${i}`, a)), ...V6.map((a, i) => backend(`v6-${i}`, a))]
const PREFIXES = ["192.0.2.1/32", "192.0.2.2/32", "198.51.100.0/24", "2001:db8:f::1/128", "2001:db8:e::/64"]

interface FrontendSpec {
  readonly name?: string
  readonly address?: string
  readonly protocol?: FrontendProtocol
  readonly port?: number
  readonly pools: ReadonlyArray<ReadonlyArray<readonly [backend: string, weight: number]>>
  readonly srcIpSticky?: boolean
  readonly flushOnDown?: boolean
  readonly newFlowsTableLength?: number
}

const frontend = (s: FrontendSpec, i = 0): Frontend => {
  const address = s.address ?? "192.0.2.1/32"
  return {
    name: s.name ?? `fe${i}`,
    description: "",
    address,
    family: address.includes(":") ? 6 : 4,
    protocol: s.protocol ?? "tcp",
    port: s.port ?? 80,
    pools: s.pools.map((members, p) => ({ name: `pool${p}`, backends: members.map(([backend, weight]) => ({ backend, weight })) })),
    srcIpSticky: s.srcIpSticky ?? false,
    flushOnDown: s.flushOnDown ?? true,
    newFlowsTableLength: s.newFlowsTableLength ?? 1024
  }
}

const config = (frontends: ReadonlyArray<Frontend>, backends: ReadonlyArray<Backend> = BACKENDS): Config =>
  supportConfig({ backends, frontends, transitionHistory: 10 })

const desiredOf = (specs: ReadonlyArray<FrontendSpec>, status: (b: string) => HealthStatus | undefined = () => "up") =>
  desiredState(config(specs.map(frontend)), status)

const tags = (ops: ReadonlyArray<LbOp>) =>
  ops.map((op) => {
    const d = describeOp(op)
    const f = d.fields
    return [d.event.replace("vpp-lbsync-", ""), f["vip"], f["as"], f["weight"], f["flush"]].filter((x) => x !== undefined).join(" ")
  })

// ---------------------------------------------------------------------------
// Random configurations (valid the way Validate.ts makes them) and VPP histories

const rawFrontend = fc.record({
  prefix: fc.integer({ min: 0, max: PREFIXES.length - 1 }),
  protocol: fc.constantFrom<FrontendProtocol>("tcp", "udp", "any"),
  port: fc.constantFrom(0, 80, 443),
  family: fc.constantFrom(4, 6),
  pools: fc.array(
    fc.array(fc.record({ backend: fc.nat(), weight: fc.constantFrom(0, 1, 50, 100) }), { minLength: 1, maxLength: 4 }),
    { minLength: 1, maxLength: 3 }
  ),
  srcIpSticky: fc.boolean(),
  flushOnDown: fc.boolean(),
  newFlowsTableLength: fc.constantFrom(64, 1024, 65536)
})

/** Drops what Validate.ts would refuse: duplicate keys, all-port next to per-port, two backend families on one VIP address. */
const buildConfig = (raws: ReadonlyArray<typeof rawFrontend extends fc.Arbitrary<infer T> ? T : never>): Config => {
  const frontends: Array<Frontend> = []
  const keys = new Set<string>()
  const allPort = new Map<string, boolean>()
  const family = new Map<string, number>()
  raws.forEach((r, i) => {
    const port = r.protocol === "any" ? 0 : r.port
    const address = PREFIXES[r.prefix]!
    const key = port === 0 ? `${address} all` : `${address} ${r.protocol} ${port}`
    if (keys.has(key) || (allPort.get(address) ?? port === 0) !== (port === 0) || (family.get(address) ?? r.family) !== r.family) return
    keys.add(key)
    allPort.set(address, port === 0)
    family.set(address, r.family)
    const list = r.family === 4 ? V4 : V6
    const pools = r.pools.map((members) => {
      const seen = new Set<string>()
      return members.flatMap(({ backend: b, weight }) => {
        const name = `v${r.family}-${b % list.length}`
        if (seen.has(name)) return []
        seen.add(name)
        return [[name, weight] as const]
      })
    })
    frontends.push(frontend({ ...r, address, port, pools }, i))
  })
  return config(frontends)
}

const status = fc.array(fc.constantFrom<HealthStatus | undefined>(...STATUSES, "up", "up", "down", undefined), {
  minLength: BACKENDS.length,
  maxLength: BACKENDS.length
})
const statusFn = (s: ReadonlyArray<HealthStatus | undefined>) => (b: string) => s[BACKENDS.findIndex((x) => x.name === b)]

const randomDesired = fc
  .tuple(fc.array(rawFrontend, { maxLength: 6 }), status)
  .map(([raws, st]) => ({ config: buildConfig(raws), status: st }))

const vipTarget = fc.record({
  prefix: fc.integer({ min: 0, max: PREFIXES.length - 1 }),
  protocol: fc.constantFrom(6, 17, 255),
  port: fc.constantFrom(0, 80, 443)
})
/** One thing that happened to VPP: anyone's request (retvals ignored), or time passing. */
const action = fc.oneof(
  fc.record({
    kind: fc.constant("vip" as const),
    at: vipTarget,
    encap: fc.constantFrom<lb_types.LbEncapType>("LB_API_ENCAP_TYPE_GRE4", "LB_API_ENCAP_TYPE_GRE6", "LB_API_ENCAP_TYPE_L3DSR"),
    sticky: fc.boolean(),
    length: fc.constantFrom(4, 64, 1024, 65536)
  }),
  fc.record({ kind: fc.constant("vip-del" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("as" as const), pick: fc.nat(), address: fc.constantFrom(...V4, ...V6), weight: fc.nat(100) }),
  fc.record({ kind: fc.constant("as" as const), pick: fc.nat(), address: fc.constantFrom(...V4, ...V6), weight: fc.nat(100) }),
  fc.record({ kind: fc.constant("as-del" as const), pick: fc.nat(), address: fc.constantFrom(...V4, ...V6), flush: fc.boolean() }),
  fc.record({ kind: fc.constant("weight" as const), pick: fc.nat(), address: fc.constantFrom(...V4, ...V6), weight: fc.nat(100) }),
  fc.record({ kind: fc.constant("time" as const), dt: fc.nat(90) })
)
type Action = typeof action extends fc.Arbitrary<infer T> ? T : never

const perturb = (vpp: Vpp, actions: ReadonlyArray<Action>): void => {
  const p = vpp.plugin
  for (const a of actions) {
    const live = p.vipDump(undefined, vpp.now).map((d) => vipKey(d.vip.pfx, protocolNumber(d.vip.protocol), d.vip.port))
    const pick = (n: number): VipKey | undefined => live[n % Math.max(1, live.length)]
    switch (a.kind) {
      case "vip":
        p.addDelVipV2(
          vipRequest(vipKey(PREFIXES[a.at.prefix]!, a.at.protocol, a.at.port), { encap: a.encap, sticky: a.sticky, length: a.length, del: false }),
          vpp.now
        )
        break
      case "vip-del": {
        const k = pick(a.pick)
        if (k !== undefined) p.addDelVipV2(vipRequest(k, { encap: "LB_API_ENCAP_TYPE_GRE4", sticky: false, length: 0, del: true }), vpp.now)
        break
      }
      case "as":
      case "as-del": {
        const k = pick(a.pick)
        if (k !== undefined) p.addDelAsV2(asRequest(k, a.address, a.kind === "as" ? a.weight : 0, a.kind === "as-del", a.kind === "as-del" && a.flush), vpp.now)
        break
      }
      case "weight": {
        const k = pick(a.pick)
        if (k !== undefined) p.asSetWeight({ ...keyFields(k), as_address: a.address, weight: a.weight, is_flush: false }, vpp.now)
        break
      }
      case "time":
        vpp.now += a.dt
        break
    }
  }
}

const PROPS = { fastCheck: { numRuns: 300 } }

// ---------------------------------------------------------------------------

describe("diff: properties against the lb plugin model", () => {
  it.prop("from nothing: every op succeeds, VPP ends up as desired, and the next diff is []", [randomDesired], ([r]) => {
    const desired = desiredState(r.config, statusFn(r.status))
    const vpp = new Vpp()
    const ops = diff(desired, [])
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.state()).toEqual(expectedState(desired))
    expect(diff(desired, vpp.observe())).toEqual([])
    expect(diff(desired, vpp.observe(false))).toEqual([])
  }, PROPS)

  it.prop(
    "the order of VPP's AS lists does not change the ops (in AS order they are merged, in any other by address)",
    [randomDesired, fc.array(action, { maxLength: 40 }), randomDesired, fc.boolean(), fc.nat()],
    ([before, actions, after, sameConfig, seed]) => {
      const vpp = new Vpp()
      sync(vpp, desiredState(before.config, statusFn(before.status)))
      perturb(vpp, actions)
      const desired = desiredState(sameConfig ? before.config : after.config, statusFn(after.status))
      const observed = vpp.observe()
      const flush = new Set(desired.flatMap((d) => d.ases.filter((a, i) => (i + seed) % 3 === 0).map((a) => flushKey(d, a.address))))
      // Rotated by the seed: in no order but by chance the AS order.
      const shuffled = observed.map((o) => ({ ...o, ases: o.ases.map((_, i) => o.ases[(i + seed) % o.ases.length]!).reverse() }))
      // Per VIP: its AS changes in the same order; a teardown (in the dump's order, documented as the AS order) as a set.
      const perVip = (ops: ReadonlyArray<LbOp>) => {
        const m = new Map<string, Array<string>>()
        for (const op of ops) m.set(vipKeyString(op.vip), [...(m.get(vipKeyString(op.vip)) ?? []), JSON.stringify(op)])
        return [...m].map(([k, list]) => [k, list.some((o) => o.includes("VipDel")) ? [...list].sort() : list])
      }
      expect(perVip(diff(desired, shuffled, { flush }))).toEqual(perVip(diff(desired, observed, { flush })))
    },
    PROPS
  )

  it.prop(
    "from any VPP state: every op succeeds, the result is the desired state, and the diff is idempotent",
    [randomDesired, fc.array(action, { maxLength: 40 }), randomDesired, fc.boolean()],
    ([before, actions, after, sameConfig]) => {
      const vpp = new Vpp()
      sync(vpp, desiredState(before.config, statusFn(before.status)))
      perturb(vpp, actions)
      const desired = desiredState(sameConfig ? before.config : after.config, statusFn(after.status))
      const ops = diff(desired, vpp.observe())
      expect(vpp.apply(ops)).toEqual([])
      expect(vpp.state()).toEqual(expectedState(desired))
      expect(diff(desired, vpp.observe())).toEqual([])
      // Time passing (garbage collection of lameduck ASes and deleted VIPs) changes nothing wanted.
      vpp.now += 200
      expect(diff(desired, vpp.observe())).toEqual([])
    },
    PROPS
  )

  it.prop(
    "applyOp: the state kept in memory from the applied ops diffs like a fresh dump, for every later desired state",
    [randomDesired, fc.array(action, { maxLength: 30 }), randomDesired, randomDesired],
    ([before, actions, after, later]) => {
      const vpp = new Vpp()
      sync(vpp, desiredState(before.config, statusFn(before.status)))
      perturb(vpp, actions)
      const observed = vpp.observe()
      const desired = desiredState(after.config, statusFn(after.status))
      const ops = diff(desired, observed)
      expect(vpp.apply(ops)).toEqual([])
      const kept = new Map(observed.map((o) => [vipKeyString(o), o] as const))
      for (const op of ops) {
        const k = vipKeyString(op.vip)
        const next = applyOp(kept.get(k), op)
        if (next === undefined) kept.delete(k)
        else kept.set(k, next)
      }
      const memory = [...kept.values()].filter((o) => o.deleted !== true)
      expect(diff(desired, memory)).toEqual([])
      // Not only equal now: any later desired state plans the same ops from memory as from a dump,
      // but for one bit. VPP honours an AS add's is_flush only for an AS lameduck in that very VIP
      // (vpp-wire.md §3.4: lb_vip_add_ass re-activates it; a new AS has no sessions). Whether one
      // still is, neither memory nor a dump can tell: VPP's collection may have freed it meanwhile
      // (lb_vip_del_ass_withlock runs it), and the AS dump lists a deleted VIP's lameduck ASes under
      // the key of the VIP re-added there, where an add creates a new AS. So the ops are compared
      // without an AsAdd's flush.
      const next = desiredState(later.config, statusFn(later.status))
      const noAddFlush = (ops: ReadonlyArray<LbOp>) => ops.map((op) => (op._tag === "AsAdd" ? { ...op, flush: false } : op))
      expect(noAddFlush(diff(next, memory))).toEqual(noAddFlush(diff(next, vpp.observe())))
    },
    PROPS
  )

  it.prop("predicted buckets are what VPP reports", [randomDesired], ([r]) => {
    const desired = desiredState(r.config, statusFn(r.status))
    const vpp = new Vpp()
    sync(vpp, desired)
    const reported = vpp.buckets()
    for (const d of desired) {
      expect(Object.fromEntries([...predictedBuckets(d)].map(([a, n]) => [canonicalAddress(a), n]))).toEqual(reported[vipKeyString(d)])
    }
  }, PROPS)

  it.prop(
    "a scoped diff touches only VIPs in scope and deletes none but to re-create it",
    [randomDesired, fc.array(action, { maxLength: 30 }), randomDesired, fc.array(fc.boolean(), { minLength: 12, maxLength: 12 })],
    ([before, actions, after, pick]) => {
      const vpp = new Vpp()
      sync(vpp, desiredState(before.config, statusFn(before.status)))
      perturb(vpp, actions)
      const desired = desiredState(after.config, statusFn(after.status))
      const observed = vpp.observe()
      const keys = [...new Set([...desired, ...observed].map((v) => vipKeyString(v)))]
      const scope = new Set(keys.filter((_, i) => pick[i % pick.length]))
      const ops = diff(desired, observed, { scope })
      for (const op of ops) expect(scope.has(vipKeyString(op.vip))).toBe(true)
      const added = new Set(ops.flatMap((op) => (op._tag === "VipAdd" ? [vipKeyString(op.vip)] : [])))
      for (const op of ops) if (op._tag === "VipDel") expect(added.has(vipKeyString(op.vip))).toBe(true)
      // Exactly the full diff's ops for the VIPs in scope, minus deletions of VIPs no longer configured.
      const full = diff(desired, observed)
      const wanted = new Set(desired.map((d) => vipKeyString(d)))
      expect(ops).toEqual(full.filter((op) => scope.has(vipKeyString(op.vip)) && wanted.has(vipKeyString(op.vip))))
    },
    PROPS
  )

  it.prop(
    "the flush set forces an AsWeight with flush for exactly the flushing ASes in it",
    [randomDesired, fc.array(fc.boolean(), { minLength: 64, maxLength: 64 })],
    ([r, pick]) => {
      const desired = desiredState(r.config, statusFn(r.status))
      const vpp = new Vpp()
      sync(vpp, desired)
      const all = desired.flatMap((d) => d.ases.map((a) => ({ d, a })))
      const chosen = all.filter((_, i) => pick[i % pick.length])
      const flush = new Set(chosen.map(({ a, d }) => flushKey(d, a.address)))
      const ops = diff(desired, vpp.observe(), { flush })
      expect(ops).toEqual(
        chosen
          .filter(({ a }) => a.flush)
          .map(({ a, d }) => ({
            _tag: "AsWeight",
            vip: { prefix: d.prefix, protocol: d.protocol, port: d.port },
            frontend: d.frontend,
            address: a.address,
            backend: a.backend,
            weight: a.weight,
            flush: true
          }))
      )
      const seq = vpp.plugin.lastSeq()
      expect(vpp.apply(ops)).toEqual([])
      expect(vpp.plugin.mutationsSince(seq).filter((m) => m.op === "as-flush")).toHaveLength(ops.length)
      expect(vpp.state()).toEqual(expectedState(desired))
    },
    PROPS
  )
})

// ---------------------------------------------------------------------------

const web: FrontendSpec = { name: "web", pools: [[["v4-0", 100], ["v4-3", 100], ["v4-2", 50]]] }

describe("diff: cases", () => {

  it("nothing in VPP: VIP add with its table length, then every AS in address order", () => {
    const desired = desiredOf([{ ...web, newFlowsTableLength: 4096 }])
    const ops = diff(desired, [])
    expect(tags(ops)).toEqual([
      "vip-add 192.0.2.1/32 6 80",
      "as-add 192.0.2.1/32 6 80 10.0.0.1 100 false",
      "as-add 192.0.2.1/32 6 80 10.0.0.9 50 false",
      "as-add 192.0.2.1/32 6 80 10.0.0.10 100 false"
    ])
    expect(ops[0]).toMatchObject({ _tag: "VipAdd", vip: { newFlowsTableLength: 4096, encap: "LB_API_ENCAP_TYPE_GRE4" } })
  })

  it("VPP already matches: []", () => {
    const vpp = new Vpp()
    const desired = desiredOf([web])
    sync(vpp, desired)
    expect(diff(desired, vpp.observe())).toEqual([])
    expect(diff(desired, vpp.observe(false))).toEqual([])
  })

  it("weights change with set-weight; flush as the desired AS says", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    const st: Record<string, HealthStatus> = { "v4-0": "down", "v4-3": "disabled", "v4-2": "up" }
    const ops = diff(desiredOf([{ ...web, flushOnDown: false }], (b) => st[b]), vpp.observe())
    expect(tags(ops)).toEqual([
      "as-weight 192.0.2.1/32 6 80 10.0.0.1 0 false",
      "as-weight 192.0.2.1/32 6 80 10.0.0.10 0 true"
    ])
  })

  it("the flush set forces set-weight only for ASes whose state flushes", () => {
    const vpp = new Vpp()
    const st: Record<string, HealthStatus> = { "v4-0": "down", "v4-3": "disabled", "v4-2": "unknown" }
    const desired = desiredOf([web], (b) => st[b])
    sync(vpp, desired)
    const k = desired[0]!
    const flush = new Set(["10.0.0.1", "10.0.0.10", "10.0.0.9"].map((a) => flushKey(k, a)))
    expect(tags(diff(desired, vpp.observe(), { flush }))).toEqual([
      "as-weight 192.0.2.1/32 6 80 10.0.0.1 0 true",
      "as-weight 192.0.2.1/32 6 80 10.0.0.10 0 true"
    ])
  })

  it("a backend gone from the config: AS deleted with flush; lameduck ASes are left to VPP's GC", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    const fewer = desiredOf([{ ...web, pools: [[["v4-0", 100]]] }])
    const ops = diff(fewer, vpp.observe())
    expect(tags(ops)).toEqual(["as-del 192.0.2.1/32 6 80 10.0.0.9 true", "as-del 192.0.2.1/32 6 80 10.0.0.10 true"])
    expect(vpp.apply(ops)).toEqual([])
    const observed = vpp.observe()
    expect(observed[0]!.ases.map((a) => `${a.address} ${a.lameduck}`)).toEqual([
      "10.0.0.1 false",
      "10.0.0.9 true",
      "10.0.0.10 true"
    ])
    expect(diff(fewer, observed)).toEqual([])
  })

  it("a lameduck AS is re-activated by an add with its weight (no set-weight after it)", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    sync(vpp, desiredOf([{ ...web, pools: [[["v4-0", 100]]] }]))
    const back = desiredOf([{ ...web, pools: [[["v4-0", 100], ["v4-3", 30]]] }])
    const ops = diff(back, vpp.observe())
    expect(tags(ops)).toEqual(["as-add 192.0.2.1/32 6 80 10.0.0.10 30 false"])
    const seq = vpp.plugin.lastSeq()
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.plugin.mutationsSince(seq)).toMatchObject([{ op: "as-add", details: { reactivated: true, weight: 30 } }])
    expect(vpp.state()["192.0.2.1/32 6 80"]!.ases).toEqual({ "10.0.0.1": 100, "10.0.0.10": 30 })
    expect(diff(back, vpp.observe())).toEqual([])
  })

  it("re-activating a lameduck AS whose state flushes evicts its sessions", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    sync(vpp, desiredOf([{ ...web, pools: [[["v4-0", 100]]] }]))
    const back = desiredOf([{ ...web, pools: [[["v4-0", 100], ["v4-3", 30]]] }], (b) => (b === "v4-3" ? "disabled" : "up"))
    const ops = diff(back, vpp.observe())
    expect(tags(ops)).toEqual(["as-add 192.0.2.1/32 6 80 10.0.0.10 0 true"])
    const seq = vpp.plugin.lastSeq()
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.plugin.mutationsSince(seq).map((m) => m.op)).toEqual(["as-add", "as-flush"])
  })

  it("a VIP gone from the config: its active ASes deleted with flush, then the VIP (full sync only)", () => {
    const vpp = new Vpp()
    const two: ReadonlyArray<FrontendSpec> = [web, { name: "dns", protocol: "udp", port: 53, pools: [[["v4-4", 100], ["v4-5", 100]]] }]
    sync(vpp, desiredOf(two))
    sync(vpp, desiredOf([web, { ...two[1]!, pools: [[["v4-4", 100]]] }])) // 192.168.0.1 lameduck
    const ops = diff(desiredOf([web]), vpp.observe())
    expect(tags(ops)).toEqual(["as-del 192.0.2.1/32 17 53 10.0.1.1 true", "vip-del 192.0.2.1/32 17 53"])
    expect(diff(desiredOf([web]), vpp.observe(), { scope: new Set(["192.0.2.1/32 17 53", "192.0.2.1/32 6 80"]) })).toEqual([])
    const seq = vpp.plugin.lastSeq()
    expect(vpp.apply(ops)).toEqual([])
    // (VPP itself then marks every AS of the VIP lameduck once more: "as-del" records with cause "vip-del".)
    expect(
      vpp.plugin
        .mutationsSince(seq)
        .filter((m) => m.op !== "as-del" || m.details.cause === "request")
        .map((m) => m.op)
    ).toEqual(["as-del", "as-flush", "vip-del"])
    expect(Object.keys(vpp.state())).toEqual(["192.0.2.1/32 6 80"])
    // The deleted VIP's lameduck ASes are still in the AS dump until GC; they are not the VIP's any more.
    expect(vpp.plugin.asV2Dump(ALL).some((d) => d.vip.port === 53)).toBe(true)
    expect(diff(desiredOf([web]), vpp.observe())).toEqual([])
  })

  it("encap change (backends change family): the VIP is re-created", () => {
    const vpp = new Vpp()
    const v6 = { name: "web", address: "2001:db8:f::1/128", pools: [[["v6-0", 100] as const]] }
    sync(vpp, desiredOf([v6]))
    const v4 = desiredOf([{ ...v6, pools: [[["v4-0", 100] as const]] }])
    const ops = diff(v4, vpp.observe())
    expect(tags(ops)).toEqual([
      "as-del 2001:db8:f::1/128 6 80 2001:db8::1 true",
      "vip-del 2001:db8:f::1/128 6 80",
      "vip-add 2001:db8:f::1/128 6 80",
      "as-add 2001:db8:f::1/128 6 80 10.0.0.1 100 false"
    ])
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.state()).toEqual(expectedState(v4))
  })

  it("two per-port VIPs on one prefix change encap together: both are torn down before either is added (VPP: -73)", () => {
    const vpp = new Vpp()
    const a = { name: "a", port: 80, pools: [[["v6-0", 100] as const]] }
    const b = { name: "b", port: 443, pools: [[["v6-1", 100] as const]] }
    sync(vpp, desiredOf([a, b]))
    const flipped = desiredOf([
      { ...a, pools: [[["v4-0", 100] as const]] },
      { ...b, pools: [[["v4-1", 100] as const]] }
    ])
    const ops = diff(flipped, vpp.observe())
    expect(tags(ops).filter((t) => t.startsWith("vip"))).toEqual([
      "vip-del 192.0.2.1/32 6 80",
      "vip-del 192.0.2.1/32 6 443",
      "vip-add 192.0.2.1/32 6 80",
      "vip-add 192.0.2.1/32 6 443"
    ])
    expect(vpp.apply(ops)).toEqual([])
  })

  it("per-port VIP replaced by an all-port one on the same prefix: deletion first (VPP: -81)", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    const all = desiredOf([{ ...web, name: "all", protocol: "any", port: 0 }])
    const ops = diff(all, vpp.observe())
    expect(tags(ops).filter((t) => t.startsWith("vip"))).toEqual(["vip-del 192.0.2.1/32 6 80", "vip-add 192.0.2.1/32 255 0"])
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.state()).toEqual(expectedState(all))
  })

  it("src-ip-sticky change: re-created when the loop knows the old value, invisible in the dumps alone", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([web]))
    const sticky = desiredOf([{ ...web, srcIpSticky: true }])
    expect(tags(diff(sticky, vpp.observe(false)))).toEqual([])
    const ops = diff(sticky, vpp.observe(true))
    expect(tags(ops).slice(0, 5)).toEqual([
      "as-del 192.0.2.1/32 6 80 10.0.0.1 true",
      "as-del 192.0.2.1/32 6 80 10.0.0.9 true",
      "as-del 192.0.2.1/32 6 80 10.0.0.10 true",
      "vip-del 192.0.2.1/32 6 80",
      "vip-add 192.0.2.1/32 6 80"
    ])
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.state()).toEqual(expectedState(sticky))
  })

  it("table length change: re-created; 65536 is seen as the u16 dump shows it (0) and matches", () => {
    const vpp = new Vpp()
    sync(vpp, desiredOf([{ ...web, newFlowsTableLength: 65536 }]))
    expect(vpp.observe()[0]!.newFlowsTableLength).toBe(0)
    expect(diff(desiredOf([{ ...web, newFlowsTableLength: 65536 }]), vpp.observe())).toEqual([])
    // A change between lengths >= 65536 is invisible (both read 0).
    expect(diff(desiredOf([{ ...web, newFlowsTableLength: 131072 }]), vpp.observe())).toEqual([])
    const small = desiredOf([{ ...web, newFlowsTableLength: 2048 }])
    const ops = diff(small, vpp.observe())
    expect(ops.filter((op) => op._tag === "VipDel" || op._tag === "VipAdd")).toHaveLength(2)
    expect(vpp.apply(ops)).toEqual([])
    expect(vpp.state()).toEqual(expectedState(small))
  })

  it("a scoped diff never adds or changes a VIP outside its scope", () => {
    const two: ReadonlyArray<FrontendSpec> = [web, { name: "dns", protocol: "udp", port: 53, pools: [[["v4-4", 100]]] }]
    const ops = diff(desiredOf(two), [], { scope: new Set(["192.0.2.1/32 17 53"]) })
    expect(tags(ops)).toEqual(["vip-add 192.0.2.1/32 17 53", "as-add 192.0.2.1/32 17 53 10.0.1.1 100 false"])
  })
})

describe("observedFromDumps", () => {
  it("drops the ASes of deleted VIPs and prefers an active AS over a lameduck one of a re-added VIP", () => {
    const vpp = new Vpp()
    vpp.plugin.gc(0)
    const desired = desiredOf([web])
    sync(vpp, desired)
    sync(vpp, []) // VIP deleted; its ASes lameduck, still dumped
    expect(vpp.observe()).toEqual([])
    const fewer = desiredOf([{ ...web, pools: [[["v4-0", 70]]] }])
    sync(vpp, fewer) // same key added again before GC
    const o = vpp.observe()
    expect(o).toHaveLength(1)
    expect(o[0]!.ases.map((a) => `${a.address} ${a.weight} ${a.lameduck}`)).toEqual([
      "10.0.0.1 70 false",
      "10.0.0.9 50 true",
      "10.0.0.10 100 true"
    ])
    expect(diff(fewer, o)).toEqual([])
    expect(vpp.apply(diff(desired, o))).toEqual([])
    expect(vpp.state()).toEqual(expectedState(desired))
  })

  it("reads the key as VPP reports it (all-port protocol 255) and keeps num_buckets", () => {
    const vpp = new Vpp()
    const desired = desiredOf([{ ...web, protocol: "any", port: 0 }])
    sync(vpp, desired)
    const [o] = vpp.observe()
    expect(o).toMatchObject({ prefix: "192.0.2.1/32", protocol: 255, port: 0, encap: "LB_API_ENCAP_TYPE_GRE4", newFlowsTableLength: 1024 })
    expect(o!.ases.map((a) => a.numBuckets)).toEqual([...predictedBuckets(desired[0]!).values()])
  })
})

describe("describeOp", () => {
  it("names every mutation with a stable event and the vip, as, weight and flush fields", () => {
    const [vip] = desiredOf([web])
    const k = { prefix: vip!.prefix, protocol: vip!.protocol, port: vip!.port }
    const base = { vip: k, frontend: "web", address: "10.0.0.1", backend: "v4-0" }
    const ops: ReadonlyArray<LbOp> = [
      { _tag: "VipAdd", vip: vip! },
      { _tag: "VipDel", vip: k, frontend: undefined },
      { _tag: "AsAdd", ...base, weight: 100, flush: false },
      { _tag: "AsDel", ...base, backend: undefined, flush: true },
      { _tag: "AsWeight", ...base, weight: 0, flush: true }
    ]
    expect(ops.map(describeOp)).toEqual([
      {
        event: "vpp-lbsync-vip-add",
        fields: {
          vip: "192.0.2.1/32 6 80",
          frontend: "web",
          encap: "LB_API_ENCAP_TYPE_GRE4",
          srcIpSticky: false,
          newFlowsTableLength: 1024
        }
      },
      { event: "vpp-lbsync-vip-del", fields: { vip: "192.0.2.1/32 6 80" } },
      { event: "vpp-lbsync-as-add", fields: { vip: "192.0.2.1/32 6 80", as: "10.0.0.1", weight: 100, flush: false, frontend: "web", backend: "v4-0" } },
      { event: "vpp-lbsync-as-del", fields: { vip: "192.0.2.1/32 6 80", as: "10.0.0.1", flush: true, frontend: "web" } },
      { event: "vpp-lbsync-as-weight", fields: { vip: "192.0.2.1/32 6 80", as: "10.0.0.1", weight: 0, flush: true, frontend: "web", backend: "v4-0" } }
    ])
  })
})
