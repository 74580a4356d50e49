/**
 * VPP's `clib_xxhash` (`src/vppinfra/xxhash.h`): xxHash64 reduced to a single
 * 8-byte lane. It is not the reference XXH64 of an 8-byte input: the initial
 * accumulator is `0x9e3779b97f4a7c13 + PRIME64_5 + 8`, i.e. xxHash64 with that
 * constant as the seed rather than 0, and the result must match VPP bit for bit
 * because it decides where every AS lands in the new-flow table.
 *
 * Two implementations: `clibXxhash` on `bigint` is the readable reference, and
 * `clibXxhashInto` works on two unsigned 32-bit halves so that building tables
 * for thousands of VIPs does not allocate a bigint per multiplication. The tests
 * hold them against each other and against values from VPP's own C code.
 */

const MASK64 = (1n << 64n) - 1n

const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n
const H0 = (0x9e3779b97f4a7c13n + P5 + 8n) & MASK64

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK64

/** Reference implementation: `key` and the result are u64 values (0 ≤ x < 2^64). */
export const clibXxhash = (key: bigint): bigint => {
  let k1 = (key * P2) & MASK64
  k1 = rotl(k1, 31n)
  k1 = (k1 * P1) & MASK64
  let h = H0 ^ k1
  h = (rotl(h, 27n) * P1 + P4) & MASK64
  h ^= h >> 33n
  h = (h * P2) & MASK64
  h ^= h >> 29n
  h = (h * P3) & MASK64
  h ^= h >> 32n
  return h
}

// As int32 bit patterns, for the same unboxing reason as hiOut below.
const hiOf = (x: bigint): number => Number(x >> 32n) | 0
const loOf = (x: bigint): number => Number(x & 0xffffffffn) | 0

const P1_HI = hiOf(P1)
const P1_LO = loOf(P1)
const P2_HI = hiOf(P2)
const P2_LO = loOf(P2)
const P3_HI = hiOf(P3)
const P3_LO = loOf(P3)
const P4_HI = hiOf(P4)
const P4_LO = loOf(P4)
const H0_HI = hiOf(H0)
const H0_LO = loOf(H0)

// The high half of a result travels through a module variable rather than a
// returned tuple: the caller runs this in a tight loop and a fresh array per call
// would dominate. Everything is kept as int32 bit patterns (`| 0`), which V8 stores
// unboxed; u32 values above 2^31 (`>>> 0`) would be boxed into a heap number on
// every store to a module variable.
let hiOut = 0

/**
 * (aHi:aLo) * (bHi:bLo) mod 2^64: returns the low half, leaves the high half in
 * hiOut. Only aLo*bLo needs its full 64-bit product (done in 16-bit pieces so
 * every intermediate stays an exact double); the cross terms only reach the high
 * half, where Math.imul's wrap-around is exactly the mod 2^32 we want.
 */
const mul = (aHi: number, aLo: number, bHi: number, bLo: number): number => {
  const a0 = aLo & 0xffff
  const a1 = aLo >>> 16
  const b0 = bLo & 0xffff
  const b1 = bLo >>> 16
  const mid = a1 * b0 + a0 * b1 // < 2^33, exact
  const low = a0 * b0 + (mid & 0xffff) * 0x10000 // < 2^33, exact
  hiOut = (a1 * b1 + Math.floor(mid / 0x10000) + (low >= 0x100000000 ? 1 : 0) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0
  return low | 0
}

/**
 * `clib_xxhash((keyHi << 32) | keyLo)`. Halves go in and come out as 32-bit
 * patterns (signed or unsigned alike; apply `>>> 0` for the unsigned value). Returns
 * the low half; the high half is then in `lastHi()`.
 */
export const clibXxhashInto = (keyHi: number, keyLo: number): number => {
  // k1 = rotl(key * P2, 31) * P1
  let lo = mul(keyHi, keyLo, P2_HI, P2_LO)
  let hi = hiOut
  lo = mul((hi << 31) | (lo >>> 1), (lo << 31) | (hi >>> 1), P1_HI, P1_LO)
  // h = rotl(H0 ^ k1, 27) * P1 + P4
  hi = H0_HI ^ hiOut
  lo = H0_LO ^ lo
  lo = mul((hi << 27) | (lo >>> 5), (lo << 27) | (hi >>> 5), P1_HI, P1_LO)
  const sum = (lo >>> 0) + (P4_LO >>> 0)
  hi = (hiOut + P4_HI + (sum >= 0x100000000 ? 1 : 0)) | 0
  lo = sum | 0
  // Avalanche.
  lo = mul(hi, lo ^ (hi >>> 1), P2_HI, P2_LO) // h ^= h >> 33
  hi = hiOut
  lo = mul(hi ^ (hi >>> 29), lo ^ ((lo >>> 29) | (hi << 3)), P3_HI, P3_LO) // h ^= h >> 29
  return lo ^ hiOut // h ^= h >> 32
}

/** High half of the last `clibXxhashInto` result, as a 32-bit pattern. */
export const lastHi = (): number => hiOut
