/**
 * The acceptance test of the codecs: every vector VPP's own Python serializer
 * produced must encode to exactly its bytes and decode back to exactly its
 * fields.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import { memclnt } from "../../src/vpp/binapi/index.js"
import {
  bytesToHex,
  findMessage,
  findType,
  fromGolden,
  GOLDEN_MODULES,
  hexToBytes,
  loadGolden,
  loadGoldenFile,
  toGolden
} from "../support/golden.js"

const vectors = GOLDEN_MODULES.flatMap((module) =>
  loadGolden(module).map((v) => ({ module, name: v.message ?? v.type!, vector: v }))
)

describe("golden vectors", () => {
  it("are all there (723, as the golden README says)", () => {
    expect(vectors.length).toBe(723)
  })

  describe.each(vectors.map((v) => [`${v.module} ${v.name} ${v.vector.sample}`, v] as const))("%s", (_, { vector }) => {
    const schema = vector.message !== undefined ? findMessage(vector.message).schema : findType(vector.type!)
    const codec = Codec.of(schema)
    const member = vector.kind === "union" ? Object.keys(vector.fields as object)[0] : undefined

    it("encodes to the golden bytes", () => {
      if (vector.message !== undefined) expect(findMessage(vector.message).crc).toBe(vector.crc)
      const encoded = codec.encode(fromGolden(codec.layout, vector.fields))
      expect(Either.isRight(encoded) ? bytesToHex(encoded.right) : encoded.left.message).toBe(vector.hex)
      expect(vector.hex.length / 2).toBe(vector.size)
    })

    it("decodes to the golden fields", () => {
      const decoded = codec.decode(hexToBytes(vector.hex), member !== undefined ? { member } : undefined)
      expect(Either.isRight(decoded) ? toGolden(codec.layout, decoded.right) : decoded.left.message).toEqual(vector.fields)
    })
  })
})

interface SessionFrame {
  readonly dir: "c2s" | "s2c"
  readonly message: string
  readonly crc: string
  readonly msg_id: number
  readonly fields: unknown
  readonly header_hex: string
  readonly body_hex: string
}

describe("session.golden.json", () => {
  const session = loadGoldenFile<{ frames: ReadonlyArray<SessionFrame> }>("session.golden.json")

  it.each(session.frames.map((f, i) => [`${i} ${f.dir} ${f.message}`, f] as const))("%s decodes and re-encodes", (_, f) => {
    const wire = hexToBytes(f.header_hex + f.body_hex)
    const frame = Either.getOrThrow(Frame.decodeFrame(wire))
    expect(frame.msgId).toBe(f.msg_id)
    const message = findMessage(f.message)
    expect(message.crc).toBe(f.crc)
    const codec = Codec.of(message.schema)
    const value = Either.getOrThrow(codec.decode(frame.payload))
    expect(toGolden(codec.layout, value)).toEqual(f.fields)
    expect(bytesToHex(Either.getOrThrow(Frame.encodeFrame(f.msg_id, codec, value)))).toBe(f.header_hex + f.body_hex)
  })

  it("ignores header bytes 0..7 and 12..15, which real VPP may fill with a stale pointer", () => {
    const f = session.frames.find((f) => f.message === "control_ping_reply")!
    const wire = hexToBytes(f.header_hex + f.body_hex)
    wire.fill(0xa5, 0, 8)
    wire.fill(0x5a, 12, 16)
    const frame = Either.getOrThrow(Frame.decodeFrame(wire))
    expect(frame.msgId).toBe(f.msg_id)
    expect(toGolden(Codec.of(memclnt.ControlPingReply.schema).layout, Either.getOrThrow(Codec.of(memclnt.ControlPingReply.schema).decode(frame.payload)))).toEqual(f.fields)
  })

  it("refuses a header whose length disagrees with the bytes", () => {
    const f = session.frames[0]!
    const wire = hexToBytes(f.header_hex + f.body_hex.slice(0, -2))
    const r = Frame.decodeFrame(wire)
    expect(Either.isLeft(r) && r.left.field).toBe("header.data_len")
  })
})
