/**
 * `Codec.encodeIntoOver` (the client's requests and vppsim's replies are
 * encoded with their header fields given apart, without a copy of the
 * fields): for every generated message, the bytes are exactly those of
 * `encode({ ...value, ...over })`, and a bad value fails the same way.
 */
import { it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc } from "effect"
import { describe, expect } from "vitest"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import { allMessages, fixCounts } from "../support/schemas.js"

describe("encodeIntoOver equals encode of the merged value", () => {
  for (const { name, schema } of allMessages) {
    const codec = Codec.of(schema) as Codec.Codec<Record<string, unknown>>
    const header = codec.layout._tag === "Struct" ? codec.layout.fields.map((f) => f.name).filter((n) => n === "client_index" || n === "context") : []
    it.prop(name, [Arbitrary.make(schema), fc.nat(), fc.nat()], ([value, clientIndex, context]) => {
      const v = fixCounts(codec.layout, structuredClone(value)) as Record<string, unknown> | undefined
      fc.pre(v !== undefined)
      const over: Record<string, unknown> = {}
      if (header.includes("client_index")) over["client_index"] = clientIndex
      if (header.includes("context")) over["context"] = context
      const fields = { ...v }
      for (const k of header) delete fields[k]
      const expected = Either.getOrThrow(Frame.encodeFrame(7, codec, { ...v, ...over }))
      expect(Either.getOrThrow(Frame.encodeFrameOver(7, codec, fields, over))).toEqual(expected)
    }, { fastCheck: { numRuns: 20 } })
  }

  it("a bad field fails with the same error as encode", () => {
    const { schema } = allMessages.find((m) => m.name === "lb.lb_as_set_weight")!
    const codec = Codec.of(schema) as Codec.Codec<Record<string, unknown>>
    const fields = { pfx: { address: { af: "ADDRESS_IP4", un: { ip4: "192.0.2.1" } }, len: 32 }, protocol: 6, port: 80, as_address: "bad", weight: 300, is_flush: false }
    const viaOver = Frame.encodeFrameOver(7, codec, fields, { client_index: 1, context: 2 })
    const viaCopy = Frame.encodeFrame(7, codec, { ...fields, client_index: 1, context: 2 })
    expect(Either.isLeft(viaOver)).toBe(true)
    expect(Either.flip(viaOver)).toEqual(Either.flip(viaCopy))
  })
})
