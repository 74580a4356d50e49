/**
 * The desired LB state: the weight/flush table row by row, pool failover, a
 * backend in two pools, the one AS order, predicted buckets and the frontend's
 * aggregate state.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Backend, Config, Frontend } from "../../src/config/Config.js"
import type { HealthStatus } from "../../src/health/HealthState.js"
import {
  activePool,
  compareAddresses,
  type DesiredVip,
  desiredState,
  desiredVip,
  frontendState,
  predictedBuckets
} from "../../src/lb/Desired.js"
import { canonicalAddress, canonicalPrefix, vipKey, vipKeyString } from "../../src/lb/VipKey.js"
import * as Ip from "../../src/vpp/codec/Ip.js"
import { config as supportConfig } from "../support/config.js"

// ---------------------------------------------------------------------------
// Building configurations directly (the config tests cover the YAML)

const backend = (name: string, address: string): Backend => ({
  name,
  address,
  family: address.includes(":") ? 6 : 4,
  healthcheck: "hc",
  enabled: true
})

type PoolSpec = readonly [name: string, members: ReadonlyArray<readonly [backend: string, weight: number]>]

const frontend = (name: string, pools: ReadonlyArray<PoolSpec>, o: Partial<Frontend> = {}): Frontend => ({
  name,
  description: "",
  address: "192.0.2.10/32",
  family: 4,
  protocol: "tcp",
  port: 80,
  pools: pools.map(([poolName, members]) => ({
    name: poolName,
    backends: members.map(([b, weight]) => ({ backend: b, weight }))
  })),
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 1024,
  ...o
})

const config = (backends: ReadonlyArray<Backend>, frontends: ReadonlyArray<Frontend>): Config =>
  supportConfig({ backends, frontends, transitionHistory: 10 })

const statuses =
  (m: Readonly<Record<string, HealthStatus>>) =>
  (b: string): HealthStatus | undefined =>
    m[b]

const weights = (vip: DesiredVip) => Object.fromEntries(vip.ases.map((a) => [a.backend, a.weight]))
const flushes = (vip: DesiredVip) => Object.fromEntries(vip.ases.map((a) => [a.backend, a.flush]))

const B = [
  backend("a", "10.0.0.1"),
  backend("b", "10.0.0.2"),
  backend("c", "10.0.0.3"),
  backend("d", "10.0.0.4"),
  backend("x", "10.0.0.9"),
  backend("s", "10.0.0.10")
]

// ---------------------------------------------------------------------------

describe("weight and flush per backend state", () => {
  // `a` keeps the primary pool active; `x` is in it (weight 60), `s` in the standby pool (weight 40).
  const fe = (flushOnDown: boolean) =>
    frontend("web", [["primary", [["a", 100], ["x", 60]]], ["standby", [["s", 40]]]], { flushOnDown })
  const table: ReadonlyArray<
    readonly [status: HealthStatus | undefined, who: "x" | "s", flushOnDown: boolean, weight: number, flush: boolean]
  > = [
    ["up", "x", true, 60, false],
    ["up", "s", true, 0, false],
    ["unknown", "x", true, 0, false],
    ["unknown", "s", true, 0, false],
    [undefined, "x", true, 0, false],
    ["paused", "x", true, 0, false],
    ["paused", "s", true, 0, false],
    ["down", "x", true, 0, true],
    ["down", "x", false, 0, false],
    ["down", "s", true, 0, true],
    ["disabled", "x", false, 0, true],
    ["disabled", "s", true, 0, true]
  ]
  it.each(table)("%s backend in the %s pool (flush-on-down %s): weight %d, flush %s", (status, who, flushOnDown, w, f) => {
    const m: Record<string, HealthStatus> = { a: "up", x: "up", s: "up" }
    if (status === undefined) delete m[who]
    else m[who] = status
    const vip = desiredVip(fe(flushOnDown), config(B, [fe(flushOnDown)]), statuses(m))
    const as = vip.ases.find((a) => a.backend === who)!
    expect(as).toMatchObject({ weight: w, flush: f, status: status ?? "unknown" })
    expect(vip.activePool).toBe("primary")
  })

  it("a removed backend is not listed (the diff deletes its AS, with flush)", () => {
    const f = fe(true)
    const vip = desiredVip(f, config(B, [f]), statuses({ a: "up", x: "removed", s: "up" }))
    expect(vip.ases.map((a) => a.backend)).toEqual(["a", "s"])
  })
})

describe("active pool and failover", () => {
  const f = frontend("web", [["primary", [["a", 100], ["b", 100]]], ["secondary", [["c", 50], ["d", 25]]]])
  const cfg = config(B, [f])

  it("the primary is active while one of its backends is up with weight > 0", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "up", b: "down", c: "up", d: "up" }))
    expect(vip.activePool).toBe("primary")
    expect(weights(vip)).toEqual({ a: 100, b: 0, c: 0, d: 0 })
    expect(flushes(vip)).toEqual({ a: false, b: true, c: false, d: false })
  })

  it("primary all down → the secondary's weights", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "down", b: "down", c: "up", d: "up" }))
    expect(vip.activePool).toBe("secondary")
    expect(weights(vip)).toEqual({ a: 0, b: 0, c: 50, d: 25 })
  })

  it("a weight-0 up backend does not make its pool active", () => {
    const g = frontend("web", [["primary", [["a", 0], ["b", 100]]], ["secondary", [["c", 50]]]])
    const vip = desiredVip(g, config(B, [g]), statuses({ a: "up", b: "down", c: "up" }))
    expect(vip.activePool).toBe("secondary")
    expect(weights(vip)).toEqual({ a: 0, b: 0, c: 50 })
  })

  it("no pool active: every weight 0", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "down", b: "paused", c: "unknown", d: "disabled" }))
    expect(vip.activePool).toBeUndefined()
    expect(activePool(f, statuses({}))).toBeUndefined()
    expect(vip.ases.every((a) => a.weight === 0)).toBe(true)
  })

  it("paused or unknown backends do not activate a pool", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "paused", b: "unknown", c: "up", d: "down" }))
    expect(vip.activePool).toBe("secondary")
    expect(weights(vip)).toEqual({ a: 0, b: 0, c: 50, d: 0 })
  })
})

describe("a backend in two pools", () => {
  const f = frontend("web", [["primary", [["a", 100], ["b", 0]]], ["secondary", [["b", 50], ["c", 70]]]])
  const cfg = config(B, [f])

  it("appears once, with the weight of the active pool when it is in it", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "down", b: "up", c: "up" }))
    expect(vip.ases.map((a) => a.backend)).toEqual(["a", "b", "c"])
    expect(vip.activePool).toBe("secondary")
    expect(weights(vip)).toEqual({ a: 0, b: 50, c: 70 })
  })

  it("takes the active pool's weight even when that is 0", () => {
    const vip = desiredVip(f, cfg, statuses({ a: "up", b: "up", c: "up" }))
    expect(vip.activePool).toBe("primary")
    expect(weights(vip)).toEqual({ a: 100, b: 0, c: 0 })
  })
})

describe("computed again from the previous VIP", () => {
  const f = frontend("web", [["primary", [["a", 100], ["b", 0], ["s", 30]]], ["secondary", [["b", 50], ["c", 70], ["d", 10]]]])
  const cfg = config(B, [f])
  const status = fc.constantFrom<HealthStatus>("up", "down", "unknown", "paused", "disabled", "removed")
  const health = fc.record({ a: status, b: status, c: status, d: status, s: status })

  it.prop("is the same VIP, and its unchanged ASes are the previous objects", [health, health], ([before, after]) => {
    const previous = desiredVip(f, cfg, statuses(before))
    const again = desiredVip(f, cfg, statuses(after), undefined, previous)
    expect(again).toEqual(desiredVip(f, cfg, statuses(after)))
    for (const as of again.ases) {
      const old = previous.ases.find((p) => p.backend === as.backend)
      const same = old !== undefined && old.status === as.status && old.weight === as.weight && old.flush === as.flush
      expect(as === old).toBe(same)
    }
  })
})

describe("the VIP", () => {
  it("protocol numbers, port 0 = all-port (255), encap from the backends' family", () => {
    const v6 = [backend("p", "2001:db8::1"), backend("q", "2001:db8::2")]
    const fs = [
      frontend("tcp", [["p", [["a", 1]]]], { protocol: "tcp", port: 443 }),
      frontend("udp", [["p", [["a", 1]]]], { protocol: "udp", port: 53, address: "192.0.2.11/32" }),
      frontend("any", [["p", [["a", 1]]]], { protocol: "any", port: 0, address: "192.0.2.12/32" }),
      frontend("tcp0", [["p", [["a", 1]]]], { protocol: "tcp", port: 0, address: "192.0.2.13/32" }),
      frontend("v6v4", [["p", [["a", 1]]]], { address: "2001:db8:f::1/128", family: 6 }),
      frontend("v4v6", [["p", [["p", 1], ["q", 1]]]], { address: "198.51.100.0/24", newFlowsTableLength: 4096, srcIpSticky: true })
    ]
    const vips = desiredState(config([...B, ...v6], fs), () => "up")
    expect(vips.map((v) => [v.frontend, vipKeyString(v), v.encap])).toEqual([
      ["tcp", "192.0.2.10/32 6 443", "LB_API_ENCAP_TYPE_GRE4"],
      ["udp", "192.0.2.11/32 17 53", "LB_API_ENCAP_TYPE_GRE4"],
      ["any", "192.0.2.12/32 255 0", "LB_API_ENCAP_TYPE_GRE4"],
      ["tcp0", "192.0.2.13/32 255 0", "LB_API_ENCAP_TYPE_GRE4"],
      ["v6v4", "2001:db8:f::1/128 6 80", "LB_API_ENCAP_TYPE_GRE4"],
      ["v4v6", "198.51.100.0/24 6 80", "LB_API_ENCAP_TYPE_GRE6"]
    ])
    expect(vips[5]).toMatchObject({ newFlowsTableLength: 4096, srcIpSticky: true })
  })

  it("canonical text as VPP reports it", () => {
    expect(canonicalPrefix("2001:DB8:0::1/128")).toBe("2001:db8::1/128")
    expect(canonicalPrefix("10.0.0.7/24")).toBe("10.0.0.0/24")
    expect(canonicalPrefix("::a00:1/128")).toBe("10.0.0.1/32")
    expect(canonicalAddress("::a00:1")).toBe("10.0.0.1")
    expect(canonicalAddress("2001:db8:0:0::a")).toBe("2001:db8::a")
  })
})

// ---------------------------------------------------------------------------
// Order

/** The reference order: family, then the address as one big number. */
const numeric = (address: string): readonly [number, bigint] => {
  if (address.includes(":")) {
    const b = new Uint8Array(16)
    const groups = address.split("::")
    const head = groups[0] === "" ? [] : groups[0]!.split(":")
    const tail = groups.length > 1 && groups[1] !== "" ? groups[1]!.split(":") : []
    const all = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail]
    all.forEach((g, i) => {
      const v = parseInt(g, 16)
      b[2 * i] = v >> 8
      b[2 * i + 1] = v & 0xff
    })
    return [6, b.reduce((n, x) => n * 256n + BigInt(x), 0n)]
  }
  return [4, address.split(".").reduce((n, x) => n * 256n + BigInt(x), 0n)]
}
const byNumber = (a: string, b: string): number => {
  const [fa, na] = numeric(a)
  const [fb, nb] = numeric(b)
  return fa - fb || (na < nb ? -1 : na > nb ? 1 : 0)
}

const ip4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."))
// Not ::/96, which VPP counts as IPv4.
const ip6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .filter((g) => g.slice(0, 6).some((x) => x !== 0))
  .map((g) => canonicalAddress(g.map((x) => x.toString(16)).join(":")))

describe("the AS order", () => {
  it("is numeric, IPv4 first", () => {
    expect(compareAddresses("10.0.0.9", "10.0.0.10")).toBeLessThan(0)
    expect(compareAddresses("2001:db8::a", "2001:db8::10")).toBeLessThan(0)
    expect(compareAddresses("255.255.255.255", "::1:0:0:0")).toBeLessThan(0)
    // VPP's IPv4: anything in ::/96 (its ip46 has 12 zero bytes first).
    expect(compareAddresses("::a00:1", "10.0.0.1")).toBe(0)
    expect(compareAddresses("10.0.0.1", "10.0.0.1")).toBe(0)
    expect(["10.0.0.10", "2001:db8::1", "10.0.0.9", "9.255.0.1"].sort(compareAddresses)).toEqual([
      "9.255.0.1",
      "10.0.0.9",
      "10.0.0.10",
      "2001:db8::1"
    ])
  })

  it.prop("agrees with the numeric order", [fc.oneof(ip4, ip6), fc.oneof(ip4, ip6)], ([a, b]) => {
    expect(Math.sign(compareAddresses(a, b))).toBe(Math.sign(byNumber(a, b)))
  })

  // compareAddresses remembers each address's key; it must answer as the plain byte loop did, value and all.
  const byteLoop = (a: string, b: string): number => {
    const ip46 = (s: string) => {
      const out = new Uint8Array(16)
      if (Ip.parseIp4Into(s, out, 12) || Ip.parseIp6Into(s, out, 0)) return out
      throw new RangeError(s)
    }
    const x = ip46(a)
    const y = ip46(b)
    const family = (z: Uint8Array) => (z.subarray(0, 12).every((v) => v === 0) ? 4 : 6)
    if (family(x) !== family(y)) return family(x) - family(y)
    for (let i = 0; i < 16; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
    return 0
  }
  // Every spelling VPP reads: dotted quads, IPv6 (upper case too), ::a.b.c.d and ::/96 hex, which are IPv4 to VPP.
  const spelled = fc.oneof(
    ip4,
    ip6,
    ip6.map((s) => s.toUpperCase()),
    ip4.map((s) => `::${s}`),
    fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([h, l]) => `::${h.toString(16)}:${l.toString(16)}`)
  )
  it.prop("gives the byte loop's value, not only its sign", [spelled, spelled], ([a, b]) => {
    expect(compareAddresses(a, b)).toBe(byteLoop(a, b))
    expect(compareAddresses(b, a)).toBe(byteLoop(b, a))
  })

  it("answers the same once its memory is full, and throws RangeError for non-addresses every time", () => {
    // More distinct addresses than it keeps (16,384), so it forgets and re-reads some.
    const addresses = Array.from({ length: 40_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
    const wrong = addresses.slice(1).filter((a, i) => compareAddresses(addresses[i]!, a) !== -1)
    expect(wrong).toEqual([])
    // 10.0.0.0 and 10.0.156.63 first differ in the third byte.
    expect(compareAddresses(addresses[0]!, addresses[39_999]!)).toBe(-156)
    expect(compareAddresses("10.0.0.2", "::a00:1")).toBe(1)
    for (let round = 0; round < 2; round++) {
      expect(() => compareAddresses("10.0.0.1", "10.0.0.256")).toThrow(RangeError)
      expect(() => compareAddresses("backend-1", "10.0.0.1")).toThrow(RangeError)
      expect(() => canonicalPrefix("10.0.0.0/33")).toThrow(RangeError)
      expect(() => canonicalAddress("10.0.0.256")).toThrow(RangeError)
      expect(() => vipKey("10.0.0.0", 6, 80)).toThrow(RangeError)
    }
    // Equal text is equal without parsing, as before.
    expect(compareAddresses("backend-1", "backend-1")).toBe(0)
    expect(vipKey("10.0.0.7/24", 6, 0)).toEqual({ prefix: "10.0.0.0/24", protocol: 255, port: 0 })
    expect(vipKey("10.0.0.7/24", 6, 0)).not.toBe(vipKey("10.0.0.7/24", 6, 0))
  })

  // Backends and pools in any config order give the same AS list.
  const layout = fc
    .uniqueArray(fc.oneof(ip4, ip6), { minLength: 1, maxLength: 12 })
    .chain((addresses) =>
      fc.tuple(
        fc.constant(addresses),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: addresses.length, maxLength: addresses.length }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: addresses.length, maxLength: addresses.length }),
        fc.array(fc.constantFrom<HealthStatus>("up", "down", "unknown", "paused", "disabled"), {
          minLength: addresses.length,
          maxLength: addresses.length
        }),
        fc.array(fc.nat(), { minLength: addresses.length, maxLength: addresses.length }),
        fc.array(fc.nat(), { minLength: 3, maxLength: 3 })
      )
    )

  it.prop("does not depend on the order of backends and pools in the file", [layout], ([[addresses, pool, w, st, perm, poolPerm]]) => {
    const backends = addresses.map((a, i) => backend(`b${i}`, a))
    const status = (b: string): HealthStatus => st[Number(b.slice(1))]!
    const build = (memberOrder: ReadonlyArray<number>, poolOrder: ReadonlyArray<number>) => {
      const pools: Array<PoolSpec> = poolOrder.map((p) => [
        `pool${p}`,
        memberOrder.filter((i) => pool[i] === p).map((i) => [`b${i}`, w[i]!] as const)
      ])
      const f = frontend("web", pools.filter(([, m]) => m.length > 0))
      return desiredVip(f, config(backends, [f]), status).ases.map((a) => a.address)
    }
    const identity = addresses.map((_, i) => i)
    const shuffled = [...identity].sort((x, y) => perm[x]! - perm[y]! || x - y)
    const a = build(identity, [0, 1, 2])
    const b = build(shuffled, [0, 1, 2])
    expect(b).toEqual(a)
    expect(a).toEqual([...addresses].sort(byNumber))
    // The pool order changes the weights (which pool is active), never the order.
    const c = build(shuffled, [...[0, 1, 2]].sort((x, y) => poolPerm[x]! - poolPerm[y]! || x - y))
    expect(c).toEqual(a)
  })
})

// ---------------------------------------------------------------------------

describe("predicted buckets", () => {
  const members = fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 6 })
  const length = fc.integer({ min: 0, max: 14 }).map((e) => 2 ** e)

  it.prop("sum to the table length when any weight is > 0, else all 0", [members, length], ([ws, len]) => {
    const backends = ws.map((_, i) => backend(`b${i}`, `10.0.${i}.1`))
    const f = frontend("web", [["p", ws.map((w, i) => [`b${i}`, w] as const)]], { newFlowsTableLength: len })
    const vip = desiredVip(f, config(backends, [f]), () => "up")
    const buckets = predictedBuckets(vip)
    const total = [...buckets.values()].reduce((s, n) => s + n, 0)
    expect(total).toBe(ws.some((w) => w > 0) ? len : 0)
    for (const a of vip.ases) if (a.weight === 0) expect(buckets.get(a.address)).toBe(0)
  })

  it("VPP's test_lb.py numbers: 1024 buckets over 50/100/100/100 → 150/292/291/291", () => {
    const backends = [1, 2, 3, 4].map((i) => backend(`b${i}`, `10.0.0.${i}`))
    const f = frontend("web", [["p", [["b1", 50], ["b2", 100], ["b3", 100], ["b4", 100]]]])
    const vip = desiredVip(f, config(backends, [f]), () => "up")
    expect([...predictedBuckets(vip).values()]).toEqual([150, 292, 291, 291])
  })
})

describe("frontend state", () => {
  const f = frontend("web", [["primary", [["a", 100], ["b", 0]]], ["secondary", [["c", 50]]]])
  const cfg = config(B, [f])
  const state = (m: Record<string, HealthStatus>) => frontendState(desiredVip(f, cfg, statuses(m)))

  it.each([
    [{ a: "up", b: "up", c: "up" }, "up"],
    [{ a: "down", b: "down", c: "up" }, "up"],
    [{ a: "unknown", b: "unknown", c: "unknown" }, "unknown"],
    [{}, "unknown"],
    [{ a: "unknown", b: "up", c: "unknown" }, "down"],
    [{ a: "down", b: "unknown", c: "unknown" }, "down"],
    [{ a: "paused", b: "paused", c: "paused" }, "down"],
    [{ a: "disabled", b: "down", c: "disabled" }, "down"],
    [{ a: "removed", b: "removed", c: "removed" }, "down"]
  ] as const)("%o → %s", (m, expected) => {
    expect(state(m)).toBe(expected)
  })
})
