/**
 * How the controller names a VIP and an application server so that what it
 * wants and what VPP's dumps say can be matched: the VIP key as VPP keys it
 * (vpp-wire.md §3.3), addresses as VPP stores them (`ip46_address_t`), and the
 * one address order every AS list uses.
 *
 * Text goes through VPP's view on purpose. VPP stores an address in 16 bytes and
 * calls it IPv4 when the first 12 are zero, so the IPv6 text `::a00:1` *is*
 * `10.0.0.1` to it and comes back from a dump as `10.0.0.1`; a prefix is masked
 * and an IPv4 one is stored with its length + 96. Canonicalising both sides the
 * same way keeps a sync from chasing a difference only the text has.
 */
import type { Frontend, FrontendProtocol } from "../config/Config.js"
import { textMemo } from "../internal/TextMemo.js"
import * as Ip from "../vpp/codec/Ip.js"

/** A VIP as VPP keys it: prefix, protocol, port. */
export interface VipKey {
  /** Canonical prefix as `lb_vip_details` reports it, e.g. "192.0.2.1/32", "2001:db8::/64". */
  readonly prefix: string
  /** IP protocol number: 6 tcp, 17 udp, 255 for an all-port VIP. */
  readonly protocol: number
  /** 0 = all ports (then the protocol is always 255). */
  readonly port: number
}

/** VPP's protocol numbers for the config's names. */
export const PROTOCOL_NUMBER: Readonly<Record<FrontendProtocol, number>> = { tcp: 6, udp: 17, any: 255 }

/** The protocol of an all-port VIP: VPP forces it whenever the port is 0. */
export const ALL_PROTOCOLS = 255

// --- Addresses ---------------------------------------------------------------

/** VPP's `ip46_address_t` for the text: IPv4 behind 12 zero bytes, IPv6 as is. */
const ip46 = (address: string): Uint8Array => {
  const b = new Uint8Array(16)
  if (Ip.parseIp4Into(address, b, 12) || Ip.parseIp6Into(address, b, 0)) return b
  throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(address)}`)
}

/** `ip46_address_is_ip4`. */
const isIp4 = (b: Uint8Array): boolean => {
  for (let i = 0; i < 12; i++) if (b[i] !== 0) return false
  return true
}

const formatIp46 = (b: Uint8Array): string => (isIp4(b) ? Ip.formatIp4(b, 12) : Ip.formatIp6(b, 0))

/**
 * The address as VPP reports it back (`ip_address_encode` with `IP46_TYPE_ANY`):
 * dotted quad for anything in `::/96`, RFC 5952 text otherwise. Throws RangeError
 * for text that is not an address (a programming error: config and dumps are decoded).
 */
export const canonicalAddress: (address: string) => string = textMemo(16384, (address) => formatIp46(ip46(address)))

/** An address's place in the AS order: its family, then its ip46 bytes as four big-endian u32 words. */
interface AddressRank {
  /** 4 or 6 */
  readonly family: number
  readonly w0: number
  readonly w1: number
  readonly w2: number
  readonly w3: number
}

const be32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0

// Sorting a VIP's 32 ASes compares each address about ten times, and 1,000 VIPs
// share the same few thousand backends: parse each once.
const addressRank = textMemo(16384, (address): AddressRank => {
  const b = ip46(address)
  return { family: isIp4(b) ? 4 : 6, w0: be32(b, 0), w1: be32(b, 4), w2: be32(b, 8), w3: be32(b, 12) }
})

/** For two different u32 words: the difference of their first differing bytes (what a byte loop returns). */
const byteDifference = (x: number, y: number): number => {
  const d = (x ^ y) >>> 0
  const shift = d >= 0x1000000 ? 24 : d >= 0x10000 ? 16 : d >= 0x100 ? 8 : 0
  return ((x >>> shift) & 0xff) - ((y >>> shift) & 0xff)
}

/**
 * The one AS order: IPv4 before IPv6, then numerically by the address bytes
 * (so 10.0.0.9 < 10.0.0.10, which string order gets wrong). "IPv4" is VPP's
 * notion (`::a.b.c.d` included). Within a family this is the memcmp order VPP's
 * Maglev build sorts by. Returns the family difference (±2) or the difference of
 * the first differing bytes.
 */
export const compareAddresses = (a: string, b: string): number => {
  if (a === b) return 0
  const x = addressRank(a)
  const y = addressRank(b)
  if (x.family !== y.family) return x.family - y.family
  if (x.w0 !== y.w0) return byteDifference(x.w0, y.w0)
  if (x.w1 !== y.w1) return byteDifference(x.w1, y.w1)
  if (x.w2 !== y.w2) return byteDifference(x.w2, y.w2)
  if (x.w3 !== y.w3) return byteDifference(x.w3, y.w3)
  return 0
}

// --- Prefixes and keys -------------------------------------------------------

interface StoredPrefix {
  /** masked ip46 bytes */
  readonly bytes: Uint8Array
  /** ip46 length (IPv4 + 96) */
  readonly plen: number
}

const storedPrefix = (prefix: string): StoredPrefix => {
  const split = Ip.splitPrefix(prefix)
  if (split === undefined) throw new RangeError(`not a prefix: ${JSON.stringify(prefix)}`)
  const bytes = ip46(split.address)
  const plen = Ip.isIp4(split.address) ? split.length + 96 : split.length
  if (plen > 128) throw new RangeError(`prefix length out of range: ${JSON.stringify(prefix)}`)
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, plen - 8 * i))
    bytes[i] = bytes[i]! & (0xff << (8 - bits)) & 0xff
  }
  return { bytes, plen }
}

/**
 * The prefix as `lb_vip_details` reports it once VPP stored it: masked, the
 * address by "first 12 bytes zero", the length back per family. (`::/0` and
 * `0.0.0.0/0` both read "0.0.0.0/0" there; no real VIP is either.)
 */
export const canonicalPrefix: (prefix: string) => string = textMemo(4096, (prefix) => {
  const { bytes, plen } = storedPrefix(prefix)
  const v4 = isIp4(bytes) && plen >= 96
  return `${formatIp46(bytes)}/${v4 ? plen - 96 : plen}`
})

/** A normalised key: canonical prefix, protocol 255 whenever the port is 0 (VPP's handlers do the same). */
export const vipKey = (prefix: string, protocol: number, port: number): VipKey => ({
  prefix: canonicalPrefix(prefix),
  protocol: port === 0 ? ALL_PROTOCOLS : protocol,
  port
})

/** The key of a frontend's VIP. */
export const frontendVipKey = (frontend: Frontend): VipKey =>
  vipKey(frontend.address, PROTOCOL_NUMBER[frontend.protocol], frontend.port)

/** A stable map key and log value, e.g. "192.0.2.1/32 6 80" (the key must be normalised, as every `VipKey` here is). */
export const vipKeyString = (k: VipKey): string => `${k.prefix} ${k.protocol} ${k.port}`

/** Only the key fields of a larger record (a `DesiredVip`, an `ObservedVip`). */
export const keyOf = (k: VipKey): VipKey => ({ prefix: k.prefix, protocol: k.protocol, port: k.port })

/** Deterministic order of VIPs: by prefix address (as `compareAddresses`), length, protocol, port. */
export const compareVipKeys = (a: VipKey, b: VipKey): number => {
  const pa = Ip.splitPrefix(a.prefix)!
  const pb = Ip.splitPrefix(b.prefix)!
  return compareAddresses(pa.address, pb.address) || pa.length - pb.length || a.protocol - b.protocol || a.port - b.port
}
