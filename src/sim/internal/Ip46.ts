/**
 * VPP's `ip46_address_t` (`src/vnet/ip/ip46_address.h`) as 16 bytes, and the
 * conversions the lb plugin does between it and the wire's `address` /
 * `address_with_prefix` (vpp-wire.md §3.1, §3.3, §3.7).
 *
 * The two representations disagree on where an IPv4 address lives: the wire's
 * `address_union` puts it in the *first* 4 bytes, `ip46_address_t` in the *last*
 * 4 (behind 12 zero bytes). VPP's `ip_address_decode` converts, but `lb_as_dump`
 * compares the raw union bytes with the stored ip46 prefix; that is its IPv4
 * filter bug, and `unionBytes` exists to reproduce it.
 */
import * as Ip from "../../vpp/codec/Ip.js"

/** 16 bytes; never mutated once stored in the model. */
export type Ip46 = Uint8Array

/** `ip_address_decode`: IPv4 text → 12 zero bytes + the 4 address bytes; IPv6 text → its 16 bytes. */
export const fromAddress = (s: string): Ip46 => {
  const b = new Uint8Array(16)
  if (Ip.parseIp4Into(s, b, 12)) return b
  if (Ip.parseIp6Into(s, b, 0)) return b
  throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(s)}`)
}

export interface DecodedPrefix {
  /** the address as `ip_address_decode` stores it (host bits still set) */
  readonly ip46: Ip46
  /** the per-family length from the wire */
  readonly len: number
  /** `af == ADDRESS_IP4` */
  readonly af4: boolean
  /** the raw 16 bytes of the wire's `address_union` (IPv4 in the first 4) */
  readonly union: Uint8Array
}

export const decodePrefix = (s: string): DecodedPrefix => {
  const p = Ip.splitPrefix(s)
  if (p === undefined) throw new RangeError(`not a prefix: ${JSON.stringify(s)}`)
  const af4 = Ip.isIp4(p.address)
  return { ip46: fromAddress(p.address), len: p.length, af4, union: unionBytes(p.address) }
}

/** The 16 bytes of the wire's `address_union` for this address text. */
export const unionBytes = (s: string): Uint8Array => {
  const b = new Uint8Array(16)
  if (Ip.parseIp4Into(s, b, 0)) return b
  if (Ip.parseIp6Into(s, b, 0)) return b
  throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(s)}`)
}

/** `ip46_address_is_ip4`: the first 12 bytes are zero (so `::a.b.c.d` counts as IPv4). */
export const isIp4 = (b: Ip46): boolean => {
  for (let i = 0; i < 12; i++) if (b[i] !== 0) return false
  return true
}

/** `ip46_prefix_is_ip4`: `plen >= 96` and the first 12 bytes are zero. */
export const prefixIsIp4 = (b: Ip46, plen: number): boolean => plen >= 96 && isIp4(b)

/** `ip_address_encode(..., IP46_TYPE_ANY)` as text: IPv4 when the first 12 bytes are zero. */
export const format = (b: Ip46): string => (isIp4(b) ? Ip.formatIp4(b, 12) : Ip.formatIp6(b, 0))

/** Keeps the top `bits` (0..64) bits of the 8 bytes at `at`, clearing the rest. */
const keepTop = (out: Uint8Array, at: number, bits: number): void => {
  for (let i = 0; i < 8; i++) {
    const b = bits - 8 * i
    out[at + i] = b >= 8 ? out[at + i]! : b <= 0 ? 0 : out[at + i]! & ((0xff << (8 - b)) & 0xff)
  }
}

/**
 * `ip46_prefix_normalize` (lb `util.c`) on a copy: plen 0 clears all; up to 64
 * masks the first half and clears the second; above 64 masks the second half
 * with `~0ULL << (128 - plen)`. For plen above 128 (an IPv4 length above 32
 * gives 129..255) that shift count is negative, which C leaves undefined; the
 * x86-64 and AArch64 shift instructions use the count mod 64, so the second
 * half keeps its top `64 - ((128 - plen) & 63)` bits: /33../96 (plen 129..192)
 * keep 1..64 of them, /97../127 keep 1..31 again, and so on.
 */
export const mask = (b: Ip46, plen: number): Ip46 => {
  const out = Uint8Array.from(b)
  if (plen === 0) {
    out.fill(0)
  } else if (plen <= 64) {
    keepTop(out, 0, plen)
    out.fill(0, 8)
  } else {
    keepTop(out, 8, 64 - ((128 - plen) & 63))
  }
  return out
}

export const equal = (a: Uint8Array, b: Uint8Array): boolean => {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false
  return true
}

export const isZero = (b: Uint8Array): boolean => {
  for (let i = 0; i < 16; i++) if (b[i] !== 0) return false
  return true
}

const HEX = "0123456789abcdef"
/** A map key for the 16 bytes. */
export const key = (b: Ip46): string => {
  let s = ""
  for (let i = 0; i < 16; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!
  return s
}
