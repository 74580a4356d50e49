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

/** `ip46_prefix_normalize`: a copy with every bit beyond `plen` cleared. */
export const mask = (b: Ip46, plen: number): Ip46 => {
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) {
    const bits = plen - 8 * i
    out[i] = bits >= 8 ? b[i]! : bits <= 0 ? 0 : b[i]! & ((0xff << (8 - bits)) & 0xff)
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
