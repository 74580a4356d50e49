import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ip_types, lb, memclnt } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as W from "../../src/vpp/codec/Wire.js"
import { bytesToHex, hexToBytes } from "../support/golden.js"

const asV2 = Codec.of(lb.LbAddDelAsV2.schema)
const good: lb.LbAddDelAsV2 = {
  client_index: 0x80000001,
  context: 7,
  pfx: "192.0.2.0/24",
  protocol: 6,
  port: 80,
  as_address: "10.0.0.1",
  weight: 100,
  is_del: false,
  is_flush: false
}
const goodBytes = Either.getOrThrow(asV2.encode(good))

const decodeError = <A>(codec: Codec.Codec<A>, bytes: Uint8Array) => {
  const r = codec.decode(bytes)
  if (Either.isRight(r)) throw new Error(`decoded: ${JSON.stringify(r.right)}`)
  return r.left
}

const encodeError = <A>(codec: Codec.Codec<A>, value: unknown) => {
  const r = codec.encode(value as A)
  if (Either.isRight(r)) throw new Error(`encoded: ${bytesToHex(r.right)}`)
  return r.left
}

describe("decoding bad bytes", () => {
  // lb_add_del_as_v2: client_index@0 context@4 pfx@8 (af@8, addr@9, len@25) protocol@26 port@27
  // as_address@29 (af@29) weight@46 is_del@47 is_flush@48; 49 bytes.
  it("a truncated message names the field and offset where the bytes ran out", () => {
    const e = decodeError(asV2, goodBytes.slice(0, 30))
    expect(e).toMatchObject({ _tag: "VppDecodeError", type: "lb_add_del_as_v2", field: "as_address", offset: 29 })
    expect(e.reason).toMatch(/truncated: needs 17 bytes, 1 left/)
    expect(e.message).toBe("cannot decode lb_add_del_as_v2.as_address at byte 29: truncated: needs 17 bytes, 1 left")
  })

  it("trailing bytes are an error unless the caller accepts them as VPP does", () => {
    const long = Uint8Array.from([...goodBytes, 0, 0])
    expect(decodeError(asV2, long)).toMatchObject({ field: "", offset: 49, reason: "2 bytes after the end of lb_add_del_as_v2" })
    expect(Either.getOrThrow(asV2.decode(long, { allowTrailing: true }))).toEqual(good)
  })

  it("an address family other than IPv4/IPv6", () => {
    const b = goodBytes.slice()
    b[29] = 2
    expect(decodeError(asV2, b)).toMatchObject({
      field: "as_address",
      offset: 29,
      reason: "invalid address family 2 (0 = IPv4, 1 = IPv6)"
    })
  })

  it("a prefix length beyond its family", () => {
    const b = goodBytes.slice()
    b[25] = 33
    expect(decodeError(asV2, b)).toMatchObject({ field: "pfx", offset: 25, reason: "prefix length 33 exceeds 32 for IPv4" })
  })

  it("an enum value the definition does not declare", () => {
    const vipV2 = Codec.of(lb.LbAddDelVipV2.schema)
    const bytes = Either.getOrThrow(
      vipV2.encode({
        client_index: 1, context: 1, pfx: "192.0.2.0/24", protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", dscp: 0,
        type: "LB_API_SRV_TYPE_CLUSTERIP", target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false,
        is_del: false
      })
    )
    // client_index@0 context@4 pfx@8 protocol@26 port@27 encap@29 (u32) dscp@33 type@34 (u32)
    const badEncap = bytes.slice()
    badEncap[32] = 9
    expect(decodeError(vipV2, badEncap)).toMatchObject({ field: "encap", offset: 29, reason: "invalid lb_encap_type value 9" })
    const badType = bytes.slice()
    badType[37] = 7
    expect(decodeError(vipV2, badType)).toMatchObject({ field: "type", offset: 34, reason: "invalid lb_srv_type value 7" })
    const alone = Codec.of(ip_types.IpProto).decode(Uint8Array.of(16))
    expect(Either.isLeft(alone) && alone.left).toMatchObject({ type: "ip_proto", offset: 0, reason: "invalid ip_proto value 16" })
  })

  it("the fields VPP reports outside their enums (api-defs/overrides.json) decode as VPP sends them", () => {
    const details = Codec.of(lb.LbVipDetails.schema)
    // an L3DSR VIP with dscp 5 and protocol 7, and an IPv6 ::/64 VIP reported as 0.0.0.0/64 (vpp-wire.md §3.7, §3.8)
    const l3dsr = { context: 1, vip: { pfx: "192.0.2.0/24", protocol: 7, port: 80 }, encap: "LB_API_ENCAP_TYPE_L3DSR" as const,
      dscp: 5, srv_type: 5 << 24, target_port: 0, flow_table_length: 1024 }
    expect(Either.getOrThrow(details.decode(Either.getOrThrow(details.encode(l3dsr))))).toEqual(l3dsr)
    const v6 = { ...l3dsr, vip: { pfx: "0.0.0.0/64", protocol: 255, port: 0 }, encap: "LB_API_ENCAP_TYPE_GRE6" as const, dscp: 0, srv_type: 0 }
    expect(Either.getOrThrow(details.decode(Either.getOrThrow(details.encode(v6))))).toEqual(v6)
    // what we send stays strict
    expect(Either.isLeft(asV2.encode({ ...good, pfx: "0.0.0.0/64" }))).toBe(true)
  })

  it("an element count the remaining bytes cannot hold fails at once, without looping", () => {
    const reply = Codec.of(memclnt.SockclntCreateReply.schema)
    // client_index, context, response, index, count = 0xffff, then a single table entry
    const bytes = hexToBytes("00000000" + "0000007b" + "00000000" + "80000001" + "ffff" + "00".repeat(66))
    expect(decodeError(reply, bytes)).toMatchObject({
      field: "message_table",
      offset: 18,
      reason: "count 65535 needs at least 4325310 bytes, 66 left"
    })
  })

  it("errors inside arrays name the element", () => {
    const reply = Codec.of(memclnt.SockclntCreateReply.schema)
    const entry = (name: string) => Buffer.concat([Buffer.from([0, 1]), Buffer.from(name.padEnd(64, "\0"))]).toString("hex")
    const bytes = hexToBytes("00000000" + "0000007b" + "00000000" + "80000001" + "0002" + entry("ok_1") + entry("x".repeat(64)))
    expect(decodeError(reply, bytes)).toMatchObject({
      field: "message_table[1].name",
      offset: 18 + 66 + 2,
      reason: "string[64] has no NUL terminator"
    })
  })

  it("a variable string longer than the bytes left", () => {
    const reply = Codec.of(memclnt.GetApiJsonReply.schema)
    const e = decodeError(reply, hexToBytes("00000001" + "00000000" + "00001000" + "7b7d"))
    expect(e).toMatchObject({ field: "json", offset: 8, reason: "string length 4096 exceeds the 2 bytes left" })
  })

  it("a string that is not UTF-8", () => {
    const reply = Codec.of(memclnt.GetApiJsonReply.schema)
    const e = decodeError(reply, hexToBytes("00000001" + "00000000" + "00000002" + "c328"))
    expect(e).toMatchObject({ field: "json", offset: 12, reason: "string is not valid UTF-8" })
  })

  it("a standalone union must be told which member it holds", () => {
    const union = Codec.of(ip_types.AddressUnion)
    const bytes = hexToBytes("c0000201000000000000000000000000")
    expect(decodeError(union, bytes).reason).toMatch(/does not say which member it holds; name one \(ip4 \| ip6\)/)
    expect(Either.getOrThrow(union.decode(bytes, { member: "ip4" }))).toEqual({ ip4: "192.0.2.1" })
  })
})

describe("encoding values that do not fit", () => {
  it.each([
    ["weight", { weight: 256 }, "expected an integer u8 (0..255), got 256"],
    ["weight", { weight: 1.5 }, "expected an integer u8 (0..255), got 1.5"],
    ["port", { port: -1 }, "expected an integer u16 (0..65535), got -1"],
    ["context", { context: 2 ** 32 }, "expected an integer u32 (0..4294967295), got 4294967296"],
    ["is_del", { is_del: 1 }, "expected a boolean, got 1"],
    ["pfx", { pfx: "10.0.0.0/33" }, 'expected a prefix length of at most 32 for IPv4, got "10.0.0.0/33"'],
    ["pfx", { pfx: "2001:db8::/129" }, 'expected a prefix length of at most 128 for IPv6, got "2001:db8::/129"'],
    ["pfx", { pfx: "10.0.0.0" }, 'expected a prefix addr/len, got "10.0.0.0"'],
    ["pfx", { pfx: "10.0.0.256/8" }, 'expected a prefix whose address is IPv4 or IPv6, got "10.0.0.256"'],
    ["as_address", { as_address: "010.0.0.1" }, 'expected an IPv4 or IPv6 address, got "010.0.0.1"'],
    ["as_address", { as_address: "fe80::1%eth0" }, 'expected an IPv4 or IPv6 address, got "fe80::1%eth0"']
  ])("%s %j", (field, patch, reason) => {
    const e = encodeError(asV2, { ...good, ...patch })
    expect(e).toMatchObject({ _tag: "VppEncodeError", type: "lb_add_del_as_v2", field, reason })
    expect(e.message).toBe(`cannot encode lb_add_del_as_v2.${field}: ${reason}`)
  })

  it("a string longer than its fixed size is refused, never truncated", () => {
    const create = Codec.of(memclnt.SockclntCreate.schema)
    expect(Either.isRight(create.encode({ context: 1, name: "x".repeat(63) }))).toBe(true)
    expect(encodeError(create, { context: 1, name: "x".repeat(64) })).toMatchObject({
      field: "name",
      reason: "expected a string of at most 63 bytes (it is 64), got " + JSON.stringify("x".repeat(64))
    })
    // multi-byte characters count as their UTF-8 bytes
    expect(encodeError(create, { context: 1, name: "é".repeat(32) }).reason).toMatch(/it is 64/)
    expect(encodeError(create, { context: 1, name: "a\0b" }).reason).toMatch(/without NUL/)
  })

  it("an enum name the definition does not declare", () => {
    const conf = Codec.of(lb.LbAddDelVipV2.schema)
    const e = encodeError(conf, {
      client_index: 1, context: 1, pfx: "192.0.2.0/24", protocol: 6, port: 80, encap: "GRE4", dscp: 0,
      type: "LB_API_SRV_TYPE_CLUSTERIP", target_port: 0, node_port: 0, new_flows_table_length: 1024,
      src_ip_sticky: false, is_del: false
    })
    expect(e).toMatchObject({ field: "encap", reason: 'expected one of the lb_encap_type names, got "GRE4"' })
  })

  it("a count field that disagrees with its array, and errors deep inside arrays", () => {
    const reply = Codec.of(memclnt.SockclntCreateReply.schema)
    const base = { client_index: 0, context: 1, response: 0, index: 0x80000001 }
    const table = [{ index: 15, name: "sockclnt_create_455fb9c4" }, { index: 16, name: "y".repeat(70) }]
    expect(encodeError(reply, { ...base, count: 2, message_table: table })).toMatchObject({ field: "message_table[1].name" })
    expect(encodeError(reply, { ...base, count: 3, message_table: table.slice(0, 1) })).toMatchObject({
      field: "message_table",
      reason: "expected count (3) elements, as its count field says, got array(1)"
    })
  })

  it("64-bit integers take bigints in range", () => {
    const shm = Codec.of(memclnt.SockInitShm.schema)
    const base = { client_index: 1, context: 1, requested_size: 0, nitems: 1 }
    expect(Either.isRight(shm.encode({ ...base, configs: [2n ** 64n - 1n] }))).toBe(true)
    expect(encodeError(shm, { ...base, configs: [2n ** 64n] })).toMatchObject({ field: "configs[0]" })
    expect(encodeError(shm, { ...base, configs: [1] })).toMatchObject({ field: "configs[0]" })
  })

  it("a union member that contradicts its discriminator", () => {
    const mprefix = Codec.of(ip_types.Mprefix)
    const e = encodeError(mprefix, { af: "ADDRESS_IP4", grp_address_length: 0, grp_address: { ip6: "::1" }, src_address: { ip4: "0.0.0.0" } })
    expect(e).toMatchObject({ field: "grp_address", reason: 'expected member ip6 to match af = "ADDRESS_IP4", got object' })
  })

  it("encodeInto writes at an offset and reports the end", () => {
    const target = new Uint8Array(60).fill(0xee)
    expect(Either.getOrThrow(asV2.encodeInto(good, target, 5))).toBe(54)
    expect(bytesToHex(target.subarray(5, 54))).toBe(bytesToHex(goodBytes))
    expect(target[4]).toBe(0xee)
    expect(target[54]).toBe(0xee)
  })
})

describe("wire kinds the bound modules do not use", () => {
  const Flags = W.enumFlags("if_status_flags", "u32", { ADMIN_UP: 1, LINK_UP: 2 })
  const Legacy = W.struct("legacy", { n: W.u8, tail: W.varArray(W.u16) })
  const Rest = W.struct("rest", { n: W.u8, data: W.varBytes() })

  it("enumflags are the set of names that are on", () => {
    const c = Codec.of(Flags)
    expect(bytesToHex(Either.getOrThrow(c.encode(["LINK_UP", "ADMIN_UP"])))).toBe("00000003")
    expect(Either.getOrThrow(c.decode(hexToBytes("00000003")))).toEqual(["ADMIN_UP", "LINK_UP"])
    expect(Either.getOrThrow(c.decode(hexToBytes("00000000")))).toEqual([])
    const e = c.decode(hexToBytes("00000005"))
    expect(Either.isLeft(e) && e.left.reason).toBe("invalid if_status_flags value 5: bits 0x4 are not declared")
  })

  it("legacy arrays without a count field run to the end of the message", () => {
    expect(Either.getOrThrow(Codec.of(Legacy).decode(hexToBytes("0100010002")))).toEqual({ n: 1, tail: [1, 2] })
    expect(Either.getOrThrow(Codec.of(Rest).decode(hexToBytes("01abcd")))).toEqual({ n: 1, data: hexToBytes("abcd") })
    expect(bytesToHex(Either.getOrThrow(Codec.of(Legacy).encode({ n: 1, tail: [1, 2] })))).toBe("0100010002")
  })

  it("a schema without a wire layout is a programming error, reported at once", () => {
    expect(() => Codec.of(Schema.Struct({ a: W.u8 }))).toThrow(/no VPP wire layout/)
    expect(() => Codec.of(W.struct("x", { a: Schema.Number }))).toThrow(/no VPP wire layout/)
  })
})
