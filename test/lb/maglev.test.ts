/**
 * The new-flow table model against the scenarios in
 * ../shared/vpp-api/golden/lb_maglev.golden.json (the first four are numbers
 * asserted by VPP's own test_lb.py) and against VPP's clib_xxhash output.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Maglev from "../../src/lb/Maglev.js"
import { clibXxhash, clibXxhashInto, lastHi } from "../../src/lb/internal/XxHash.js"
import * as Ip from "../../src/vpp/codec/Ip.js"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const goldenPath = path.resolve(repoRoot, "../shared/vpp-api/golden/lb_maglev.golden.json")

interface Scenario {
  readonly scenario: string
  readonly new_flows_table_length: number
  readonly ases: ReadonlyArray<{ readonly address: string; readonly weight: number; readonly used: boolean }>
  readonly num_buckets: Readonly<Record<string, number>>
  readonly verified_against_vpp_test: boolean
  readonly table?: ReadonlyArray<string | null>
}
interface XxhashChecks {
  readonly xxhash_checks: ReadonlyArray<{ readonly key: string; readonly clib_xxhash: string }>
}

const golden = JSON.parse(fs.readFileSync(goldenPath, "utf8")) as ReadonlyArray<Scenario | XxhashChecks>
const scenarios = golden.filter((g): g is Scenario => "scenario" in g)
const xxhashChecks = golden.flatMap((g) => ("xxhash_checks" in g ? g.xxhash_checks : []))

/** The table as addresses (null = drop), which is how the golden file and the order test compare it. */
const tableAddresses = (ases: ReadonlyArray<Maglev.MaglevAs>, length: number): Array<string | null> =>
  Maglev.newFlowTable(ases, length).map((i) => (i === Maglev.DROP ? null : ases[i]!.address))

const countTable = (ases: ReadonlyArray<Maglev.MaglevAs>, length: number): Array<number> => {
  const counts = ases.map(() => 0)
  for (const i of Maglev.newFlowTable(ases, length)) if (i !== Maglev.DROP) counts[i]!++
  return counts
}

/**
 * A deliberately literal transcription of lb_vip_update_new_flow_table (bigint
 * hash, byte-wise memcmp, no caching, every entry hashed) that shares nothing with
 * the model but the address parser. It pins the tables the golden file does not list.
 */
const referenceTable = (ases: ReadonlyArray<Maglev.MaglevAs>, length: number): Array<number> => {
  const ip46 = (s: string): Uint8Array => {
    const b = new Uint8Array(16)
    if (!Ip.parseIp4Into(s, b, 12) && !Ip.parseIp6Into(s, b, 0)) throw new Error(s)
    return b
  }
  const u64le = (b: Uint8Array, at: number): bigint => Buffer.from(b).readBigUInt64LE(at)
  const entries: Array<{ as: number; r: number; addr: Uint8Array; skip: number; last: number }> = []
  ases.forEach((a, i) => {
    if (a.used === false) return
    for (let r = 0; r < a.weight; r++) entries.push({ as: i, r, addr: ip46(a.address), skip: 0, last: 0 })
  })
  entries.sort((x, y) => x.r - y.r || Buffer.compare(x.addr, y.addr))
  const mask = BigInt(length - 1)
  for (const e of entries) {
    const seed = clibXxhash(u64le(e.addr, 0) ^ u64le(e.addr, 8) ^ BigInt(e.r))
    e.skip = Number(((seed & 0xffffffffn) | 1n) & mask)
    e.last = Number((seed >> 32n) & mask)
  }
  const table = new Array<number>(length).fill(-1)
  if (entries.length === 0) return table
  let done = 0
  for (;;) {
    for (const e of entries) {
      for (;;) {
        const last = e.last
        e.last = (e.last + e.skip) & (length - 1)
        if (table[last] === -1) {
          table[last] = e.as
          break
        }
      }
      if (++done === length) return table
    }
  }
}

const fastXxhash = (key: bigint): bigint => {
  const lo = clibXxhashInto(Number(key >> 32n), Number(key & 0xffffffffn))
  return (BigInt(lastHi() >>> 0) << 32n) | BigInt(lo >>> 0)
}

describe("clib_xxhash", () => {
  it("golden file has checks", () => {
    expect(xxhashChecks.length).toBeGreaterThanOrEqual(5)
  })

  it.each(xxhashChecks.map((c) => [c.key, c.clib_xxhash] as const))("%s -> %s", (key, expected) => {
    expect(`0x${clibXxhash(BigInt(key)).toString(16).padStart(16, "0")}`).toBe(expected)
    expect(`0x${fastXxhash(BigInt(key)).toString(16).padStart(16, "0")}`).toBe(expected)
  })

  it.prop("32-bit-halves version equals the bigint reference", [fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })], ([key]) => {
    expect(fastXxhash(key)).toBe(clibXxhash(key))
  }, { fastCheck: { numRuns: 2000 } })
})

describe("golden scenarios", () => {
  it("are all there", () => {
    expect(scenarios.length).toBe(11)
    expect(scenarios.filter((s) => s.verified_against_vpp_test).length).toBe(4)
    expect(scenarios.filter((s) => s.table !== undefined).length).toBe(6)
  })

  describe.each(scenarios.map((s) => [s.scenario, s] as const))("%s", (_, s) => {
    const M = s.new_flows_table_length
    const expected = s.ases.map((a) => s.num_buckets[a.address])

    it("num_buckets (closed form)", () => {
      expect(Maglev.bucketCounts(s.ases, M)).toEqual(expected)
    })

    it("table equals the literal reference", () => {
      expect(Maglev.newFlowTable(s.ases, M)).toEqual(referenceTable(s.ases, M))
    })

    it("num_buckets (counted from the table)", () => {
      expect(countTable(s.ases, M)).toEqual(expected)
      expect(Maglev.bucketCountsFromTable(s.ases, M)).toEqual(expected)
    })
  })

  const withTable = scenarios.flatMap((s) => (s.table !== undefined ? [[s.scenario, s, s.table] as const] : []))
  it.each(withTable)("full table: %s", (_, s, table) => {
    expect(tableAddresses(s.ases, s.new_flows_table_length)).toEqual(table)
  })
})

describe("input order", () => {
  const shuffled = <A>(xs: ReadonlyArray<A>, seed: number): Array<A> => {
    // A fixed LCG keeps the test reproducible.
    const out = xs.slice()
    let state = seed >>> 0
    for (let i = out.length - 1; i > 0; i--) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      const j = state % (i + 1)
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }

  it.each(scenarios.map((s) => [s.scenario, s] as const))("shuffling does not change %s", (_, s) => {
    const M = s.new_flows_table_length
    const reference = tableAddresses(s.ases, M)
    const reversed = s.ases.slice().reverse()
    expect(tableAddresses(reversed, M)).toEqual(reference)
    for (let seed = 1; seed <= 5; seed++) expect(tableAddresses(shuffled(s.ases, seed), M)).toEqual(reference)
  })

  it("a larger mixed case is order independent", () => {
    const ases = Array.from({ length: 32 }, (_, i) => ({ address: `192.0.2.${i * 7}`, weight: (i * 37) % 101 }))
    const reference = tableAddresses(ases, 4096)
    expect(tableAddresses(shuffled(ases, 42), 4096)).toEqual(reference)
  })
})

describe("seed cache", () => {
  it("growing, shrinking and regrowing weights of the same addresses keep tables exact", () => {
    const addresses = ["198.51.100.1", "198.51.100.2", "2001:db8:77::1"]
    for (const weights of [[1, 2, 1], [3, 1, 2], [40, 2, 7], [255, 1, 200], [2, 2, 2], [255, 255, 255]]) {
      for (const M of [4, 64, 1024, 8192]) {
        const ases = addresses.map((address, i) => ({ address, weight: weights[i]! }))
        expect(Maglev.newFlowTable(ases, M)).toEqual(referenceTable(ases, M))
      }
    }
  })
})

describe("ip46 layout", () => {
  it("IPv4 sits in the last 4 bytes, so ::a.b.c.d hashes and sorts exactly like a.b.c.d", () => {
    const v4 = [{ address: "10.0.0.1", weight: 3 }, { address: "10.0.0.2", weight: 5 }]
    const v6 = [{ address: "::10.0.0.1", weight: 3 }, { address: "::a00:2", weight: 5 }]
    expect(Maglev.newFlowTable(v6, 64)).toEqual(Maglev.newFlowTable(v4, 64))
  })

  it("IPv4 sorts before IPv6 outside ::/96 (memcmp of the ip46 bytes)", () => {
    // 255.255.255.255 is 00..00ffffffff and 1:: is 0001 00..00: first byte decides.
    const ases = [{ address: "1::", weight: 1 }, { address: "255.255.255.255", weight: 1 }]
    expect(Maglev.bucketCounts(ases, 1)).toEqual([0, 1])
    expect(countTable(ases, 1)).toEqual([0, 1])
  })
})

describe("bad input", () => {
  const ases = [{ address: "10.0.0.1", weight: 1 }]
  it.each([0, 3, 12, -4, 1.5, Number.NaN, 2 ** 31])("length %s is a RangeError", (length) => {
    expect(() => Maglev.newFlowTable(ases, length)).toThrow(RangeError)
    expect(() => Maglev.bucketCounts(ases, length)).toThrow(RangeError)
  })
  it("bad weights, addresses and duplicates are RangeErrors", () => {
    expect(() => Maglev.bucketCounts([{ address: "10.0.0.1", weight: 256 }], 4)).toThrow(RangeError)
    expect(() => Maglev.bucketCounts([{ address: "10.0.0.1", weight: -1 }], 4)).toThrow(RangeError)
    expect(() => Maglev.bucketCounts([{ address: "10.0.0.01", weight: 1 }], 4)).toThrow(RangeError)
    expect(() => Maglev.newFlowTable([{ address: "10.0.0.1", weight: 1 }, { address: "::a00:1", weight: 0, used: false }], 4)).toThrow(RangeError)
  })
  it("no usable AS: every bucket drops", () => {
    expect(Maglev.newFlowTable([], 8)).toEqual(Array(8).fill(Maglev.DROP))
    expect(Maglev.newFlowTable([{ address: "10.0.0.1", weight: 9, used: false }], 2)).toEqual([-1, -1])
  })
})

describe("closed form equals the real table", () => {
  const ip4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."))
  const ip6 = fc.ipV6()
  const as = fc.record(
    { address: fc.oneof(ip4, ip6), weight: fc.nat(255), used: fc.boolean() },
    { requiredKeys: ["address", "weight"] }
  )
  // ip46 identity, not text, decides uniqueness ("::a00:1" is 10.0.0.1), so
  // dedupe on the parsed bytes by asking the model itself.
  const ases = fc
    .uniqueArray(as, { maxLength: 40, size: "max", selector: (a) => a.address.toLowerCase() })
    .filter((xs) => {
      try {
        Maglev.bucketCounts(xs, 1)
        return true
      } catch {
        return false
      }
    })

  it.prop(
    "for random ASes and lengths 2^0..2^14",
    { ases, k: fc.integer({ min: 0, max: 14 }) },
    ({ ases, k }) => {
      const M = 2 ** k
      const closed = Maglev.bucketCounts(ases, M)
      expect(countTable(ases, M)).toEqual(closed)
      if (k <= 10) expect(Maglev.newFlowTable(ases, M)).toEqual(referenceTable(ases, M))
      const participants = ases.filter((a) => a.used !== false && a.weight > 0)
      expect(closed.reduce((x, y) => x + y, 0)).toBe(participants.length > 0 ? M : 0)
    },
    { fastCheck: { numRuns: 300 } }
  )
})
