/**
 * A pure model of the VPP lb plugin's new-flow table (`lb_vip_update_new_flow_table`
 * in `src/plugins/lb/lb.c`; see `vpp-wire.md` §3.6). Given a VIP's ASes and its
 * `new_flows_table_length` it says which AS every bucket points at, and how many
 * buckets each AS owns, which is the `num_buckets` that `lb_as_v2_details` reports.
 *
 * The controller needs this to predict, without asking VPP, what a weight change
 * will do to the traffic split, and to check what VPP reports back. So every
 * detail that changes a bucket has to be VPP's, not merely "Maglev-like":
 *
 * - Addresses are VPP's `ip46_address_t`: IPv6 as its 16 bytes, IPv4 in the
 *   *last* 4 bytes behind 12 zero bytes (not the wire's `address_union`, which puts
 *   IPv4 first). Consequently the IPv6 text `::a.b.c.d` is the same AS as `a.b.c.d`.
 * - Entries are sorted by (replica, memcmp of those 16 bytes), which is what makes
 *   the table independent of the order in which ASes were added.
 * - The hash key is `as_u64[0] ^ as_u64[1] ^ replica`, the two halves loaded as
 *   little-endian u64 (VPP only runs on little-endian hosts), so for IPv4 the
 *   address bytes end up in the key's *high* 32 bits and the replica in its low byte.
 */
import * as Ip from "../vpp/codec/Ip.js"
import { clibXxhashInto, lastHi } from "./internal/XxHash.js"

export interface MaglevAs {
  /** `"10.0.0.1"` or IPv6 text. */
  readonly address: string
  /** 0..255. VPP takes the API's u8 literally as a replica count; 0 means drain. */
  readonly weight: number
  /** false for a lameduck (deleted but not yet garbage-collected) AS. Default true. */
  readonly used?: boolean
}

/**
 * VPP allows any u32 power of two; we stop at 2^30 so that every bucket index and
 * mask stays a non-negative int32 for the bitwise operators (and no real VIP
 * comes close: each bucket costs VPP 4 bytes per VIP).
 */
export const MAX_TABLE_LENGTH = 2 ** 30

/** Table value of a bucket that points at VPP's placeholder "drop" AS (pool index 0). */
export const DROP = -1

// --- Addresses -------------------------------------------------------------

interface Ip46 {
  /** The 16 bytes as four big-endian u32 words: comparing them in order is memcmp. */
  readonly be0: number
  readonly be1: number
  readonly be2: number
  readonly be3: number
  /** as_u64[0] ^ as_u64[1] (little-endian loads), split into u32 halves. */
  readonly keyHi: number
  readonly keyLo: number
  /**
   * clib_xxhash(key ^ r) for r = 0..seeded-1 as [lo, hi] int32 pairs, filled on
   * demand: the seeds do not depend on the table length or on the other ASes, so a
   * backend shared by many VIPs is hashed once.
   */
  seeds: Int32Array | undefined
  seeded: number
}

// Controllers see the same few hundred backend addresses over and over (every VIP,
// every rebuild); parsing and hashing them once matters when computing tables for
// 1000 VIPs. The bound (at most 2 KiB of seeds per address) only protects against
// unbounded growth from churning addresses.
const CACHE_LIMIT = 8192
const ip46Cache = new Map<string, Ip46>()
const scratch = new Uint8Array(16)

const le32 = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
const be32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0

const ip46 = (address: string): Ip46 => {
  const cached = ip46Cache.get(address)
  if (cached !== undefined) return cached
  if (Ip.parseIp4Into(address, scratch, 12)) {
    scratch.fill(0, 0, 12)
  } else if (!Ip.parseIp6Into(address, scratch, 0)) {
    throw new RangeError(`Maglev: not an IPv4 or IPv6 address: ${JSON.stringify(address)}`)
  }
  const value: Ip46 = {
    be0: be32(scratch, 0),
    be1: be32(scratch, 4),
    be2: be32(scratch, 8),
    be3: be32(scratch, 12),
    keyHi: (le32(scratch, 4) ^ le32(scratch, 12)) >>> 0,
    keyLo: (le32(scratch, 0) ^ le32(scratch, 8)) >>> 0,
    seeds: undefined,
    seeded: 0
  }
  if (ip46Cache.size >= CACHE_LIMIT) ip46Cache.clear()
  ip46Cache.set(address, value)
  return value
}

/** Makes `a.seeds` hold replicas 0..replicas-1 (at most 256); `weight` sizes a new cache. */
const ensureSeeds = (a: Ip46, replicas: number, weight: number): Int32Array => {
  let seeds = a.seeds
  if (seeds === undefined || seeds.length < 2 * replicas) {
    // Most addresses keep one weight for life, so size for that and only grow
    // (to the u8 maximum) when a weight goes up.
    const grown = new Int32Array(seeds === undefined ? 2 * Math.max(weight, replicas) : 2 * 256)
    if (seeds !== undefined) grown.set(seeds)
    a.seeds = seeds = grown
  }
  for (let r = a.seeded; r < replicas; r++) {
    seeds[2 * r] = clibXxhashInto(a.keyHi, a.keyLo ^ r)
    seeds[2 * r + 1] = lastHi()
  }
  if (replicas > a.seeded) a.seeded = replicas
  return seeds
}

const compareIp46 = (a: Ip46, b: Ip46): number =>
  a.be0 !== b.be0 ? a.be0 - b.be0 : a.be1 !== b.be1 ? a.be1 - b.be1 : a.be2 !== b.be2 ? a.be2 - b.be2 : a.be3 - b.be3

// --- Input checks and the shared sort ----------------------------------------

const checkLength = (length: number): void => {
  if (!Number.isInteger(length) || length < 1 || length > MAX_TABLE_LENGTH || (length & (length - 1)) !== 0) {
    throw new RangeError(`Maglev: table length must be a power of two in 1..2^30, got ${length}`)
  }
}

interface Prepared {
  /** Indices into `ases` of the ASes that take part (used, weight > 0), sorted by ip46. */
  readonly order: Int32Array
  readonly ip46: ReadonlyArray<Ip46>
  /** Σ weights of the participants: the number of (AS, replica) entries. */
  readonly totalWeight: number
}

const prepare = (ases: ReadonlyArray<MaglevAs>): Prepared => {
  const n = ases.length
  const parsed: Array<Ip46> = new Array(n)
  const all: Array<number> = new Array(n)
  for (let i = 0; i < n; i++) {
    const as = ases[i]!
    const w = as.weight
    if (!Number.isInteger(w) || w < 0 || w > 255) {
      throw new RangeError(`Maglev: weight of ${as.address} must be an integer in 0..255, got ${w}`)
    }
    parsed[i] = ip46(as.address)
    all[i] = i
  }
  all.sort((a, b) => compareIp46(parsed[a]!, parsed[b]!))
  // VPP keys an AS by (VIP, ip46 address), so two entries with one address
  // (including "10.0.0.1" and "::a00:1") cannot describe a real VIP, and memcmp
  // could not order them.
  for (let k = 1; k < n; k++) {
    if (compareIp46(parsed[all[k - 1]!]!, parsed[all[k]!]!) === 0) {
      throw new RangeError(
        `Maglev: duplicate AS address ${ases[all[k - 1]!]!.address} / ${ases[all[k]!]!.address}`
      )
    }
  }
  let count = 0
  let totalWeight = 0
  const order = new Int32Array(n)
  for (const i of all) {
    const as = ases[i]!
    if (as.used !== false && as.weight > 0) {
      order[count++] = i
      totalWeight += as.weight
    }
  }
  return { order: order.subarray(0, count), ip46: parsed, totalWeight }
}

// --- The table ---------------------------------------------------------------

const fillTable = (ases: ReadonlyArray<MaglevAs>, length: number): Int32Array => {
  checkLength(length)
  const { ip46: parsed, order, totalWeight } = prepare(ases)
  const table = new Int32Array(length).fill(DROP)
  if (totalWeight === 0) return table

  // Entries in VPP's sort order: replica-major, then by address. The fill stops
  // after `length` claims and the first round already gives every entry one claim,
  // so entries past the first `length` never touch the table and are not hashed.
  const entries = Math.min(totalWeight, length)
  const entryAs = new Int32Array(entries)
  const entryNext = new Int32Array(entries)
  const entrySkip = new Int32Array(entries)
  const mask = length - 1
  const active = Int32Array.from(order)
  let activeCount = active.length
  let e = 0
  for (let r = 0; e < entries; r++) {
    let kept = 0
    for (let k = 0; k < activeCount && e < entries; k++) {
      const i = active[k]!
      const a = parsed[i]!
      // Only the replicas that claim a bucket are hashed: with W > M that is far
      // fewer than the weight.
      const seeds = a.seeded > r ? a.seeds! : ensureSeeds(a, r + 1, ases[i]!.weight)
      entryAs[e] = i
      // skip is odd (coprime with 2^n) so each walk visits every bucket; for a
      // one-bucket table the mask zeroes it, which is harmless there.
      entrySkip[e] = (seeds[2 * r]! | 1) & mask
      entryNext[e] = seeds[2 * r + 1]! & mask
      e++
      if (ases[i]!.weight > r + 1) active[kept++] = i
    }
    activeCount = kept
  }

  let done = 0
  for (;;) {
    for (let k = 0; k < entries; k++) {
      const skip = entrySkip[k]!
      let b = entryNext[k]!
      while (table[b] !== DROP) b = (b + skip) & mask
      table[b] = entryAs[k]!
      entryNext[k] = (b + skip) & mask
      if (++done === length) return table
    }
  }
}

/**
 * The new-flow table as VPP builds it: bucket → index into `ases` of the AS it
 * points at, or `DROP` (-1) for VPP's drop AS (only when no AS is used with a
 * weight above 0). Independent of the order of `ases`.
 *
 * Throws RangeError (programming errors, not runtime conditions) when `length` is
 * not a power of two in 1..2^30, an address does not parse, a weight is not an
 * integer in 0..255, or two ASes share an ip46 address.
 */
export const newFlowTable = (ases: ReadonlyArray<MaglevAs>, length: number): ReadonlyArray<number> => {
  const table = fillTable(ases, length)
  // A plain loop: Array.from on a typed array goes through the iterator protocol
  // and costs more than building the table.
  const out: Array<number> = new Array<number>(length)
  for (let b = 0; b < length; b++) out[b] = table[b]!
  return out
}

/**
 * Buckets per AS, counted from the real table (same order as `ases`). `bucketCounts`
 * gives the same numbers without hashing; this one exists to prove that.
 */
export const bucketCountsFromTable = (ases: ReadonlyArray<MaglevAs>, length: number): ReadonlyArray<number> => {
  const table = fillTable(ases, length)
  const counts: Array<number> = new Array<number>(ases.length).fill(0)
  for (let b = 0; b < table.length; b++) {
    const i = table[b]!
    if (i !== DROP) counts[i]!++
  }
  return counts
}

/**
 * `num_buckets` per AS (same order as `ases`), as `lb_as_v2_details` reports it,
 * without building the table. The fill hands out buckets round-robin over the
 * sorted entries and each walk always finds a free bucket, so with W entries
 * (Σ weights) the entry at sorted position p gets `floor(M/W) + (p < M mod W)`
 * buckets whatever the hashes are. An AS with weight w therefore gets
 * `w * floor(M/W)` plus one per replica among the first `M mod W` entries; those
 * come replica-major, so whole replica layers are counted at once. W > M is the
 * same formula with floor(M/W) = 0.
 *
 * Throws RangeError for the same inputs as `newFlowTable`.
 */
export const bucketCounts = (ases: ReadonlyArray<MaglevAs>, length: number): ReadonlyArray<number> => {
  checkLength(length)
  const { order, totalWeight } = prepare(ases)
  const counts: Array<number> = new Array<number>(ases.length).fill(0)
  if (totalWeight === 0) return counts
  const base = Math.floor(length / totalWeight)
  let extra = length % totalWeight
  for (const i of order) counts[i] = ases[i]!.weight * base
  const active = Int32Array.from(order)
  let activeCount = active.length
  for (let r = 0; extra > 0; r++) {
    let kept = 0
    for (let k = 0; k < activeCount && extra > 0; k++) {
      const i = active[k]!
      counts[i]!++
      extra--
      if (ases[i]!.weight > r + 1) active[kept++] = i
    }
    activeCount = kept
  }
  return counts
}
