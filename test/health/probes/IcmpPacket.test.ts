import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as net from "node:net"
import {
  canonicalAddress,
  checksum,
  ECHO_LENGTH,
  parseIcmp,
  unreachableReason,
  writeEchoRequest
} from "../../../src/health/probes/internal/IcmpPacket.js"

const ipv4Header = (protocol: number, src: ReadonlyArray<number>, dst: ReadonlyArray<number>): Buffer => {
  const h = Buffer.alloc(20)
  h[0] = 0x45
  h[9] = protocol
  Buffer.from(src).copy(h, 12)
  Buffer.from(dst).copy(h, 16)
  return h
}

const ipv6Header = (dst: ReadonlyArray<number>): Buffer => {
  const h = Buffer.alloc(40)
  h[0] = 0x60
  h[6] = 58 // next header: ICMPv6
  Buffer.from(dst).copy(h, 24)
  return h
}

describe("ICMP packets", () => {
  it.prop("echo requests carry a valid ICMPv4 checksum, id and sequence", [fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })], ([id, seq]) => {
    const b = writeEchoRequest(Buffer.alloc(64), 4, id, seq)
    expect(b.length).toBe(ECHO_LENGTH)
    expect(b[0]).toBe(8)
    expect(checksum(b)).toBe(0) // a packet with its checksum sums to zero
    expect([b.readUInt16BE(4), b.readUInt16BE(6)]).toEqual([id, seq])
  })

  it("reads an echo reply behind an IPv4 header, and at the start of a ping socket's receive", () => {
    const icmp = writeEchoRequest(Buffer.alloc(16), 4, 0x1234, 7)
    icmp[0] = 0
    const raw = Buffer.concat([ipv4Header(1, [127, 0, 0, 1], [127, 0, 0, 1]), icmp])
    expect(parseIcmp(4, raw, true)).toEqual({ _tag: "EchoReply", id: 0x1234, seq: 7 })
    expect(parseIcmp(4, icmp, false)).toEqual({ _tag: "EchoReply", id: 0x1234, seq: 7 })
    expect(parseIcmp(4, raw.subarray(0, 10), true)).toBeUndefined()
    // Our own echo request looped back is not a reply.
    expect(parseIcmp(4, writeEchoRequest(Buffer.alloc(16), 4, 1, 1), false)).toBeUndefined()
  })

  it("reads an IPv4 destination unreachable that quotes our echo request", () => {
    const quoted = Buffer.concat([ipv4Header(1, [10, 0, 0, 1], [10, 252, 0, 9]), writeEchoRequest(Buffer.alloc(16), 4, 0xbeef, 42).subarray(0, 8)])
    const error = Buffer.concat([Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), quoted])
    const raw = Buffer.concat([ipv4Header(1, [10, 253, 0, 2], [10, 0, 0, 1]), error])
    expect(parseIcmp(4, raw, true)).toEqual({
      _tag: "Unreachable",
      id: 0xbeef,
      seq: 42,
      destination: "10.252.0.9",
      reason: "host unreachable"
    })
    // An error about a UDP packet is not about our echo.
    const udp = Buffer.concat([ipv4Header(1, [10, 253, 0, 2], [10, 0, 0, 1]), Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), ipv4Header(17, [10, 0, 0, 1], [10, 252, 0, 9]), Buffer.alloc(8)])
    expect(parseIcmp(4, udp, true)).toBeUndefined()
  })

  it("reads ICMPv6 echo replies and destination unreachables", () => {
    const reply = writeEchoRequest(Buffer.alloc(16), 6, 9, 10)
    reply[0] = 129
    expect(parseIcmp(6, reply, false)).toEqual({ _tag: "EchoReply", id: 9, seq: 10 })
    const dst = [0xfd, 0, 2, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]
    const error = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), ipv6Header(dst), writeEchoRequest(Buffer.alloc(16), 6, 9, 11)])
    expect(parseIcmp(6, error, false)).toEqual({
      _tag: "Unreachable",
      id: 9,
      seq: 11,
      destination: "fd00:252::9",
      reason: "no route to destination"
    })
  })

  it("names unreachable reasons", () => {
    expect(unreachableReason(4, 3, 13)).toBe("communication administratively prohibited")
    expect(unreachableReason(4, 11, 0)).toBe("time exceeded")
    expect(unreachableReason(4, 3, 99)).toBe("destination unreachable (code 99)")
    expect(unreachableReason(6, 1, 3)).toBe("address unreachable")
    expect(unreachableReason(4, 5, 0)).toBeUndefined() // a redirect
  })

  it.prop("canonical addresses: one text per IPv6 address, scope dropped", [fc.ipV6()], ([a]) => {
    const c = canonicalAddress(a)
    expect(net.isIPv6(c)).toBe(true)
    expect(canonicalAddress(c)).toBe(c)
    expect(canonicalAddress(`${c}%eth0`)).toBe(c)
    expect(canonicalAddress(a.toUpperCase())).toBe(c)
  })

  it("leaves IPv4 as it is", () => {
    expect(canonicalAddress("192.0.2.1")).toBe("192.0.2.1")
    expect(canonicalAddress("2001:DB8:0::1")).toBe("2001:db8::1")
  })
})
