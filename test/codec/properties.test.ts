/**
 * Properties of every generated codec: schema-valid values always encode and
 * decode back to themselves; arbitrary or damaged bytes never throw, and a
 * failure is a typed error that names the type, a field and an offset inside
 * the input.
 */
import { it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { describe, expect } from "vitest"
import * as Codec from "../../src/vpp/codec/Codec.js"
import { VppDecodeError } from "../../src/vpp/codec/Errors.js"
import { GOLDEN_MODULES, hexToBytes, loadGolden, findMessage } from "../support/golden.js"
import { allMessages, allTypes, fixCounts, memberFor } from "../support/schemas.js"

const everything = [...allMessages, ...allTypes]

it("covers every generated message and type", () => {
  expect(allMessages.length).toBe(78)
  expect(allTypes.length).toBeGreaterThan(40)
})

/** A decode result is either a value that re-encodes, or a well-formed typed error. */
const checkDecode = (codec: Codec.Codec<any>, bytes: Uint8Array, member: string | undefined) => {
  const result = codec.decode(bytes, member !== undefined ? { member } : undefined)
  if (Either.isLeft(result)) {
    const e = result.left
    expect(e).toBeInstanceOf(VppDecodeError)
    expect(e.type).toBe(codec.type)
    expect(e.offset).toBeGreaterThanOrEqual(0)
    expect(e.offset).toBeLessThanOrEqual(bytes.length)
    expect(e.reason).not.toMatch(/internal/)
    return e
  }
  // Decoding normalises (any non-zero bool is true, a fixed string ends at its first NUL),
  // so what holds is: the value re-encodes, and that encoding decodes to the same value.
  const reencoded = codec.encode(result.right)
  expect(Either.isRight(reencoded)).toBe(true)
  const again = codec.decode(Either.getOrThrow(reencoded), member !== undefined ? { member } : undefined)
  expect(Either.getOrThrow(again)).toEqual(result.right)
  return undefined
}

describe("schema-valid values round-trip", () => {
  for (const { name, schema } of everything) {
    const codec = Codec.of(schema)
    it.prop(name, [Arbitrary.make(schema)], ([value]) => {
      const v = fixCounts(codec.layout, structuredClone(value))
      fc.pre(v !== undefined)
      const encoded = Either.getOrThrow(codec.encode(v))
      if (codec.fixedSize !== undefined) expect(encoded.length).toBe(codec.fixedSize)
      const member = memberFor(codec.layout, v)
      const decoded = Either.getOrThrow(codec.decode(encoded, member !== undefined ? { member } : undefined))
      expect(decoded).toEqual(v)
      expect(Schema.is(schema)(decoded)).toBe(true)
    }, { fastCheck: { numRuns: 50 } })
  }
})

describe("random bytes never throw", () => {
  for (const { name, schema } of everything) {
    const codec = Codec.of(schema)
    const max = (codec.fixedSize ?? 150) * 2 + 8
    it.prop(name, [fc.uint8Array({ maxLength: max })], ([bytes]) => {
      checkDecode(codec, bytes, memberFor(codec.layout))
    }, { fastCheck: { numRuns: 100 } })
  }
})

const golden = GOLDEN_MODULES.flatMap((m) => loadGolden(m)).filter((v) => v.message !== undefined)

describe("damaged golden messages never throw", () => {
  const mutation = fc.record({
    vector: fc.constantFrom(...golden),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    cut: fc.option(fc.nat()),
    tail: fc.uint8Array({ maxLength: 4 })
  })
  it.prop("mutated, cut and extended", [mutation], ([{ vector, edits, cut, tail }]) => {
    const codec = Codec.of(findMessage(vector.message!).schema)
    let bytes = hexToBytes(vector.hex)
    for (const [at, b] of edits) if (bytes.length > 0) bytes[at % bytes.length] = b
    if (cut !== null) bytes = bytes.slice(0, cut % (bytes.length + 1))
    bytes = Uint8Array.from([...bytes, ...tail])
    checkDecode(codec, bytes, undefined)
  }, { fastCheck: { numRuns: 2000 } })

  it("every truncation of every golden message is an error", () => {
    let checked = 0
    for (const vector of golden) {
      const codec = Codec.of(findMessage(vector.message!).schema)
      const bytes = hexToBytes(vector.hex)
      for (let n = 0; n < bytes.length; n++) {
        const e = checkDecode(codec, bytes.slice(0, n), undefined)
        expect(e, `${vector.message} ${vector.sample} cut to ${n}`).toBeDefined()
        checked++
      }
    }
    expect(checked).toBeGreaterThan(10_000)
  })
})
