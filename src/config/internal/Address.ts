/**
 * Addresses and prefixes as the configuration writes them, on top of the
 * codec's strict parsers (`src/vpp/codec/Ip.ts`), so that an address means the
 * same thing here as on the wire to VPP. Canonical text is dotted quad for IPv4
 * and RFC 5952 for IPv6.
 */
import * as Ip from "../../vpp/codec/Ip.js"
import type { AddressFamily } from "../Config.js"

export interface Address {
  readonly family: AddressFamily
  /** Canonical text. */
  readonly text: string
}

/** An address with its bytes (network order), for the prefix rules. */
interface AddressBytes extends Address {
  readonly bytes: Uint8Array
}

/** Where an address is parsed: most callers want its text only (10,000 backends made 10,000 byte arrays). */
const scratch = new Uint8Array(16)

/** The canonical text, or `s` itself when it is canonical already (most addresses of a file: one string kept, not two). */
const canonical = (s: string, text: string): string => (text === s ? s : text)

export const parseAddress = (s: string): Address | undefined => {
  if (Ip.parseIp4Into(s, scratch, 0)) return { family: 4, text: canonical(s, Ip.formatIp4(scratch, 0)) }
  if (Ip.parseIp6Into(s, scratch, 0)) return { family: 6, text: canonical(s, Ip.formatIp6(scratch, 0)) }
  return undefined
}

const parseAddressBytes = (s: string): AddressBytes | undefined => {
  const address = parseAddress(s)
  return address === undefined ? undefined : { ...address, bytes: scratch.slice(0, address.family === 4 ? 4 : 16) }
}

export const familyName = (family: AddressFamily): string => (family === 4 ? "IPv4" : "IPv6")

export interface Prefix {
  readonly address: Address
  readonly length: number
  /** Canonical `address/length`. */
  readonly text: string
}

const formatBytes = (family: AddressFamily, bytes: Uint8Array): string =>
  family === 4 ? Ip.formatIp4(bytes, 0) : Ip.formatIp6(bytes, 0)

/**
 * An address or `address/length`; a bare address is a host prefix (/32 or
 * /128). The left side says what is wrong. A prefix with host bits set is
 * refused rather than masked: `192.0.2.10/24` is more likely a typo for /32
 * than a request for 192.0.2.0/24.
 */
export const parsePrefix = (s: string): { readonly prefix: Prefix } | { readonly error: string } => {
  if (!s.includes("/")) {
    const address = parseAddress(s)
    if (address === undefined) return { error: "expected an IPv4 or IPv6 address or prefix" }
    const length = address.family === 4 ? 32 : 128
    return { prefix: { address, length, text: `${address.text}/${length}` } }
  }
  const split = Ip.splitPrefix(s)
  const address = split === undefined ? undefined : parseAddressBytes(split.address)
  if (split === undefined || address === undefined) return { error: "expected an IPv4 or IPv6 address or prefix" }
  const max = address.family === 4 ? 32 : 128
  if (split.length > max) return { error: `the prefix length of an ${familyName(address.family)} prefix is 0..${max}` }
  const network = address.bytes.map((byte, i) => {
    const bits = Math.min(8, Math.max(0, split.length - 8 * i))
    return byte & ((0xff << (8 - bits)) & 0xff)
  })
  if (network.some((byte, i) => byte !== address.bytes[i])) {
    return {
      error:
        `has host bits set; the network is ${formatBytes(address.family, network)}/${split.length}, ` +
        `a single address is ${address.text}/${max}`
    }
  }
  return { prefix: { address, length: split.length, text: `${address.text}/${split.length}` } }
}

/**
 * `name`, `name:port`, `a.b.c.d[:port]` or `[v6][:port]`, as in a Host header.
 * Returns the host part without brackets, or undefined when malformed.
 */
export const splitHost = (s: string): { readonly host: string; readonly isName: boolean } | undefined => {
  let host = s
  let port: string | undefined
  if (s.startsWith("[")) {
    const close = s.indexOf("]")
    if (close < 0) return undefined
    host = s.slice(1, close)
    const rest = s.slice(close + 1)
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined
      port = rest.slice(1)
    }
    if (!Ip.isIp6(host)) return undefined
  } else {
    const colon = s.lastIndexOf(":")
    if (colon >= 0) {
      host = s.slice(0, colon)
      port = s.slice(colon + 1)
    }
  }
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return undefined
  if (s.startsWith("[")) return { host, isName: false }
  if (Ip.isIp4(host)) return { host, isName: false }
  return isDnsName(host) ? { host, isName: true } : undefined
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/** A DNS name (an optional final dot allowed), not an address. */
export const isDnsName = (s: string): boolean => {
  const name = s.endsWith(".") ? s.slice(0, -1) : s
  if (name === "" || name.length > 253 || Ip.isIp4(name)) return false
  return name.split(".").every((label) => LABEL.test(label))
}
