import { it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as net from "node:net"
import { describe, expect } from "vitest"
import * as Ip from "../../src/vpp/codec/Ip.js"

const parse6 = (s: string) => {
  const out = new Uint8Array(16)
  return Ip.parseIp6Into(s, out, 0) ? out : undefined
}
const parse4 = (s: string) => {
  const out = new Uint8Array(4)
  return Ip.parseIp4Into(s, out, 0) ? out : undefined
}

describe("IPv6 text", () => {
  // WHATWG URL serialises IPv6 hosts with RFC 5952 compression: an independent oracle.
  const oracle = (b: Uint8Array) => new URL(`http://[${[...Array(8)].map((_, k) => ((b[2 * k]! << 8) | b[2 * k + 1]!).toString(16)).join(":")}]/`).hostname.slice(1, -1)

  it.prop("formats like RFC 5952 and parses back", [fc.uint8Array({ minLength: 16, maxLength: 16 })], ([b]) => {
    const text = Ip.formatIp6(b, 0)
    expect(text).toBe(oracle(b))
    expect(parse6(text)).toEqual(b)
  })

  it.prop("zero-heavy addresses (runs, ties)", [fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 })], ([groups]) => {
    const b = new Uint8Array(16)
    groups.forEach((g, k) => { b[2 * k] = g >> 8; b[2 * k + 1] = g & 0xff })
    expect(Ip.formatIp6(b, 0)).toBe(oracle(b))
  })

  it.each([
    ["::", "::"], ["::1", "::1"], ["1::", "1::"], ["2001:DB8::1", "2001:db8::1"], ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"], ["::ffff:192.0.2.1", "::ffff:c000:201"], ["0:0:0:0:0:0:0:0", "::"]
  ])("%s -> %s", (input, canonical) => {
    expect(Ip.formatIp6(parse6(input)!, 0)).toBe(canonical)
  })

  it.each([":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", "1:", ":1", "fe80::1%eth0", "1::2:3:4:5:6:7:8", "::1.2.3", ""])(
    "refuses %j", (s) => {
      expect(parse6(s)).toBeUndefined()
      expect(Ip.isIp6(s)).toBe(false)
    }
  )

  it.prop("accepts what node:net accepts (without zones)", [fc.ipV6()], ([s]) => {
    expect(Ip.isIp6(s)).toBe(net.isIPv6(s))
  })
})

describe("IPv4 text", () => {
  it.prop("formats and parses back", [fc.uint8Array({ minLength: 4, maxLength: 4 })], ([b]) => {
    expect(parse4(Ip.formatIp4(b, 0))).toEqual(b)
  })
  it.each(["1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1..3.4", "1.2.3.4/8", "a.b.c.d"])("refuses %j", (s) => {
    expect(parse4(s)).toBeUndefined()
  })
  it.each(["0.0.0.0", "255.255.255.255", "10.0.0.1"])("accepts %j", (s) => expect(Ip.formatIp4(parse4(s)!, 0)).toBe(s))
})

describe("prefixes and MACs", () => {
  it.each([
    ["10.0.0.0/8", true], ["10.0.0.1/32", true], ["10.0.0.0/33", false], ["2001:db8::/128", true], ["2001:db8::/129", false],
    ["10.0.0.0/08", false], ["10.0.0.0/", false], ["/8", false], ["10.0.0.0", false], ["10.0.0.0/1a", false]
  ])("%s is a prefix: %s", (s, ok) => expect(Ip.isPrefix(s)).toBe(ok))

  it("MAC addresses", () => {
    const b = new Uint8Array(6)
    expect(Ip.parseMacInto("AA:bb:0c:00:ff:10", b, 0)).toBe(true)
    expect(Ip.formatMac(b, 0)).toBe("aa:bb:0c:00:ff:10")
    expect(Ip.isMac("aa:bb:cc:dd:ee")).toBe(false)
    expect(Ip.isMac("aa-bb-cc-dd-ee-ff")).toBe(false)
  })
})
