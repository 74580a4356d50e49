/**
 * ICMP / ICMPv6 echo packets: building requests and reading what comes back
 * on an ICMP socket. Pure functions over bytes.
 *
 * What a receive holds depends on the socket: a raw IPv4 socket gives the IP
 * header first (IHL words), a raw ICMPv6 socket and every ping (SOCK_DGRAM)
 * socket start at the ICMP header.
 */
import { formatIp4, formatIp6, parseIp6Into } from "../../../vpp/codec/Ip.js"

export const ICMP4_ECHO_REPLY = 0
export const ICMP4_UNREACH = 3
export const ICMP4_ECHO_REQUEST = 8
export const ICMP4_TIME_EXCEEDED = 11
export const ICMP6_UNREACH = 1
export const ICMP6_TIME_EXCEEDED = 3
export const ICMP6_ECHO_REQUEST = 128
export const ICMP6_ECHO_REPLY = 129

/** Bytes of an echo request we send: the 8-byte header and an 8-byte tag. */
export const ECHO_LENGTH = 16
const TAG = Buffer.from("vppmglv!", "latin1")

/** The Internet checksum (RFC 1071) of `b`. */
export const checksum = (b: Uint8Array, from = 0, to = b.length): number => {
  let sum = 0
  let i = from
  for (; i + 1 < to; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)
  if (i < to) sum += (b[i] ?? 0) << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/**
 * Writes an echo request into `out` (at least {@link ECHO_LENGTH} bytes) and
 * returns the part to send. The ICMPv4 checksum is ours to fill (a ping socket
 * refills it anyway); for ICMPv6 the kernel always computes it.
 */
export const writeEchoRequest = (out: Buffer, family: 4 | 6, id: number, seq: number): Buffer => {
  const b = out.subarray(0, ECHO_LENGTH)
  b[0] = family === 4 ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST
  b[1] = 0
  b.writeUInt16BE(0, 2)
  b.writeUInt16BE(id & 0xffff, 4)
  b.writeUInt16BE(seq & 0xffff, 6)
  TAG.copy(b, 8)
  if (family === 4) b.writeUInt16BE(checksum(b), 2)
  return b
}

/** What a received packet says about one of our echo requests. */
export type IcmpMessage =
  | { readonly _tag: "EchoReply"; readonly id: number; readonly seq: number }
  | {
      readonly _tag: "Unreachable"
      /** Identifier and sequence of the echo request the error quotes. */
      readonly id: number
      readonly seq: number
      /** Where the quoted echo request was going. */
      readonly destination: string
      /** e.g. "host unreachable", "time exceeded". */
      readonly reason: string
    }

const UNREACH4_REASONS: ReadonlyArray<string> = [
  "network unreachable",
  "host unreachable",
  "protocol unreachable",
  "port unreachable",
  "fragmentation needed",
  "source route failed",
  "destination network unknown",
  "destination host unknown",
  "source host isolated",
  "network administratively prohibited",
  "host administratively prohibited",
  "network unreachable for TOS",
  "host unreachable for TOS",
  "communication administratively prohibited",
  "host precedence violation",
  "precedence cutoff"
]

const UNREACH6_REASONS: ReadonlyArray<string> = [
  "no route to destination",
  "communication administratively prohibited",
  "beyond scope of source address",
  "address unreachable",
  "port unreachable",
  "source address failed ingress/egress policy",
  "reject route to destination"
]

/** Why a destination is unreachable, from an ICMP error's type and code. */
export const unreachableReason = (family: 4 | 6, type: number, code: number): string | undefined => {
  if (family === 4) {
    if (type === ICMP4_UNREACH) return UNREACH4_REASONS[code] ?? `destination unreachable (code ${code})`
    if (type === ICMP4_TIME_EXCEEDED) return "time exceeded"
    return undefined
  }
  if (type === ICMP6_UNREACH) return UNREACH6_REASONS[code] ?? `destination unreachable (code ${code})`
  if (type === ICMP6_TIME_EXCEEDED) return "time exceeded"
  return undefined
}

/**
 * Reads one received packet. `withIpHeader`: a raw IPv4 socket's receive,
 * which starts with the IP header. Anything that is not an echo reply or an
 * error quoting an echo request is `undefined`.
 */
export const parseIcmp = (family: 4 | 6, data: Buffer, withIpHeader: boolean): IcmpMessage | undefined => {
  let at = 0
  if (withIpHeader) {
    if (data.length < 20 || (data[0] ?? 0) >> 4 !== 4) return undefined
    at = ((data[0] ?? 0) & 0x0f) * 4
  }
  if (data.length < at + 8) return undefined
  const type = data[at] ?? 0
  const code = data[at + 1] ?? 0
  if (type === (family === 4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY)) {
    return { _tag: "EchoReply", id: data.readUInt16BE(at + 4), seq: data.readUInt16BE(at + 6) }
  }
  const reason = unreachableReason(family, type, code)
  if (reason === undefined) return undefined
  // The error quotes our packet: its IP header, then (at least) our 8-byte echo header.
  const inner = at + 8
  if (family === 4) {
    if (data.length < inner + 20 || (data[inner] ?? 0) >> 4 !== 4 || data[inner + 9] !== 1) return undefined
    const echo = inner + ((data[inner] ?? 0) & 0x0f) * 4
    if (data.length < echo + 8 || data[echo] !== ICMP4_ECHO_REQUEST) return undefined
    return {
      _tag: "Unreachable",
      id: data.readUInt16BE(echo + 4),
      seq: data.readUInt16BE(echo + 6),
      destination: formatIp4(data, inner + 16),
      reason
    }
  }
  // IPv6 header of 40 bytes; our echo follows directly (we send no extension headers).
  const echo = inner + 40
  if (data.length < echo + 8 || (data[inner] ?? 0) >> 4 !== 6 || data[inner + 6] !== 58) return undefined
  if (data[echo] !== ICMP6_ECHO_REQUEST) return undefined
  return {
    _tag: "Unreachable",
    id: data.readUInt16BE(echo + 4),
    seq: data.readUInt16BE(echo + 6),
    destination: formatIp6(data, inner + 24),
    reason
  }
}

const scratch = new Uint8Array(16)

/**
 * One text per address, to compare what the kernel reports (inet_ntop, maybe
 * with a "%scope") with the configured address and with addresses read from
 * packets: IPv6 in our RFC 5952 form, without scope.
 */
export const canonicalAddress = (address: string): string => {
  const pct = address.indexOf("%")
  const bare = pct < 0 ? address : address.slice(0, pct)
  return bare.includes(":") && parseIp6Into(bare, scratch, 0) ? formatIp6(scratch, 0) : bare
}
