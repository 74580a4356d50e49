/**
 * Byte codecs derived from the wire annotations of a schema (see `Wire.ts`).
 *
 * `Codec.of(schema)` walks the schema's AST once into a `Layout` tree and
 * compiles that into closures that read and write a `DataView` directly. The
 * public functions never throw: problems come back as `VppDecodeError` /
 * `VppEncodeError` values naming the type, the field path and (for decoding)
 * the byte offset. Internally a `Fault` is thrown and caught at the top, which
 * costs nothing on the success path.
 */
import { Either, SchemaAST } from "effect"
import type { Schema } from "effect"
import { VppDecodeError, VppEncodeError } from "./Errors.js"
import * as Ip from "./Ip.js"
import { getWire, I64_MAX, I64_MIN, INT_RANGE, U64_MAX, type IntType, type WireAnnotation } from "./Wire.js"

// ---------------------------------------------------------------------------
// Layout: the wire shape of a schema, read from its annotations

type Leaf = Exclude<WireAnnotation, { readonly _tag: "Array" | "Struct" | "Union" }>

export interface StructField {
  readonly name: string
  readonly layout: Layout
}

export interface UnionMember {
  readonly name: string
  readonly case: string
  readonly layout: Layout
}

export type Layout =
  | Leaf
  | (Extract<WireAnnotation, { readonly _tag: "Array" }> & { readonly element: Layout })
  | (Extract<WireAnnotation, { readonly _tag: "Struct" }> & { readonly fields: ReadonlyArray<StructField> })
  | (Extract<WireAnnotation, { readonly _tag: "Union" }> & { readonly members: ReadonlyArray<UnionMember> })

const unwrapRefinements = (ast: SchemaAST.AST): SchemaAST.AST => {
  let node = ast
  while (SchemaAST.isRefinement(node)) node = node.from
  return node
}

const layoutCache = new WeakMap<SchemaAST.AST, Layout>()

/** The wire layout of a schema built with the `Wire` constructors. Throws on a schema without one (a programming error). */
export const layoutOf = (ast: SchemaAST.AST): Layout => {
  const cached = layoutCache.get(ast)
  if (cached !== undefined) return cached
  const annotation = getWire(ast)
  if (annotation === undefined) {
    throw new Error(`schema has no VPP wire layout: ${String(ast)}`)
  }
  let result: Layout
  switch (annotation._tag) {
    case "Struct": {
      const node = unwrapRefinements(ast)
      if (!SchemaAST.isTypeLiteral(node)) throw new Error(`struct ${annotation.name} is not a TypeLiteral`)
      result = {
        ...annotation,
        fields: node.propertySignatures.map((p) => ({ name: String(p.name), layout: layoutOf(p.type) }))
      }
      break
    }
    case "Array": {
      const node = unwrapRefinements(ast)
      if (!SchemaAST.isTupleType(node) || node.rest.length !== 1) throw new Error("array schema is not an Array")
      result = { ...annotation, element: layoutOf(node.rest[0]!.type) }
      break
    }
    case "Union": {
      const node = unwrapRefinements(ast)
      if (!SchemaAST.isUnion(node)) throw new Error(`union ${annotation.name} is not a Union`)
      result = {
        ...annotation,
        members: node.types.map((t) => {
          if (!SchemaAST.isTypeLiteral(t) || t.propertySignatures.length !== 1) {
            throw new Error(`union ${annotation.name} member is not a one-key struct`)
          }
          const p = t.propertySignatures[0]!
          const name = String(p.name)
          return { name, case: annotation.cases[name]!, layout: layoutOf(p.type) }
        })
      }
      break
    }
    default:
      result = annotation
  }
  layoutCache.set(ast, result)
  return result
}

const INT_SIZE: Readonly<Record<IntType, number>> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4 }

/** Encoded size when it does not depend on the value, else undefined. */
export const fixedSizeOf = (layout: Layout): number | undefined => {
  switch (layout._tag) {
    case "Int":
    case "Enum":
    case "Flags":
      return INT_SIZE[layout.type]
    case "BigInt":
    case "F64":
      return 8
    case "Bool":
      return 1
    case "String":
      return layout.length === 0 ? undefined : layout.length
    case "Bytes":
      return layout.countField !== undefined || layout.length === 0 ? undefined : layout.length
    case "Array": {
      if (layout.countField !== undefined || layout.length === 0) return undefined
      const e = fixedSizeOf(layout.element)
      return e === undefined ? undefined : e * layout.length
    }
    case "Struct": {
      let total = 0
      for (const f of layout.fields) {
        const s = fixedSizeOf(f.layout)
        if (s === undefined) return undefined
        total += s
      }
      return total
    }
    case "Union": {
      let max = 0
      for (const m of layout.members) {
        const s = fixedSizeOf(m.layout)
        if (s === undefined) return undefined
        if (s > max) max = s
      }
      return max
    }
    case "Ip4Address":
      return 4
    case "Ip6Address":
      return 16
    case "Address":
      return 17
    case "Prefix":
    case "LoosePrefix":
      return 18
    case "Ip4Prefix":
      return 5
    case "Ip6Prefix":
      return 17
    case "MacAddress":
      return 6
  }
}

/** The smallest encoding, used to refuse element counts the remaining bytes cannot hold. */
const minSizeOf = (layout: Layout): number => {
  const fixed = fixedSizeOf(layout)
  if (fixed !== undefined) return fixed
  switch (layout._tag) {
    case "String":
      return 4
    case "Struct":
      return layout.fields.reduce((n, f) => n + minSizeOf(f.layout), 0)
    default:
      return 0
  }
}

/** A short type name for error messages. */
export const layoutName = (layout: Layout): string => {
  switch (layout._tag) {
    case "Int":
    case "BigInt":
      return layout.type
    case "Enum":
    case "Flags":
    case "Struct":
    case "Union":
      return layout.name
    case "String":
      return layout.length === 0 ? "string[]" : `string[${layout.length}]`
    case "Bytes":
      return `u8[${layout.countField ?? layout.length}]`
    case "Array":
      return `${layoutName(layout.element)}[${layout.countField ?? layout.length}]`
    default:
      return layout._tag.replace(/([a-z])([A-Z0-9])/g, "$1_$2").toLowerCase()
  }
}

// ---------------------------------------------------------------------------
// Compiled nodes

class Fault {
  readonly segments: Array<string> = []
  constructor(readonly offset: number, readonly reason: string, readonly value?: unknown) {}
}

interface Cursor {
  /** created on first use: only f64 and 64-bit integers need one */
  view: DataView | undefined
  bytes: Uint8Array
  off: number
  end: number
  /** member of a standalone union being decoded */
  member: string | undefined
}

type Parent = Record<string, unknown> | undefined

interface Node {
  readonly fixed: number | undefined
  readonly size: (value: any, parent: Parent) => number
  readonly write: (c: Cursor, value: any, parent: Parent) => void
  readonly read: (c: Cursor, parent: Parent) => unknown
  /** Structs: writes `value` with the fields `over` has taken from `over` instead. */
  readonly writeOver?: (c: Cursor, value: any, over: Readonly<Record<string, unknown>>) => void
}

const viewOf = (c: Cursor): DataView =>
  c.view ?? (c.view = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength))

const need = (c: Cursor, n: number): number => {
  const at = c.off
  if (at + n > c.end) {
    throw new Fault(at, `truncated: needs ${n} byte${n === 1 ? "" : "s"}, ${c.end - at} left`)
  }
  c.off = at + n
  return at
}

const describe = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? value.slice(0, 80) + "…" : value)
  if (typeof value === "bigint") return `${value}n`
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`
  if (Array.isArray(value)) return `array(${value.length})`
  if (value === null || typeof value !== "object") return String(value)
  return "object"
}

const bad = (value: unknown, expected: string): Fault => new Fault(-1, `expected ${expected}, got ${describe(value)}`, value)

const fixedNode = (
  size: number,
  write: (c: Cursor, at: number, value: any, parent: Parent) => void,
  read: (c: Cursor, at: number, parent: Parent) => unknown
): Node => ({
  fixed: size,
  size: () => size,
  write: (c, value, parent) => write(c, need(c, size), value, parent),
  read: (c, parent) => read(c, need(c, size), parent)
})

const intNode = (type: IntType): Node => {
  const [min, max] = INT_RANGE[type]
  const expected = `an integer ${type} (${min}..${max})`
  return fixedNode(
    INT_SIZE[type],
    (c, at, v) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw bad(v, expected)
      writeInt(c, type, at, v)
    },
    (c, at) => readInt(c, type, at)
  )
}

// Integers go through shifts on the byte array rather than a DataView: creating
// a view per message costs more than the reads and writes themselves.

/** Reads a big-endian integer of `type` at `at` (the caller has claimed the bytes). */
const readInt = (c: Cursor, type: IntType, at: number): number => {
  const b = c.bytes
  switch (type) {
    case "u8":
      return b[at]!
    case "i8":
      return (b[at]! << 24) >> 24
    case "u16":
      return (b[at]! << 8) | b[at + 1]!
    case "i16":
      return (((b[at]! << 8) | b[at + 1]!) << 16) >> 16
    case "u32":
      return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
    case "i32":
      return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!
  }
}

/** Writes `v` big-endian in `type`'s size (Uint8Array stores each byte modulo 256). */
const writeInt = (c: Cursor, type: IntType, at: number, v: number): void => {
  const b = c.bytes
  switch (type) {
    case "u8":
    case "i8":
      b[at] = v
      return
    case "u16":
    case "i16":
      b[at] = v >> 8
      b[at + 1] = v
      return
    case "u32":
    case "i32":
      b[at] = v >>> 24
      b[at + 1] = v >>> 16
      b[at + 2] = v >>> 8
      b[at + 3] = v
      return
  }
}

const enumNode = (layout: Extract<Layout, { readonly _tag: "Enum" }>): Node => {
  const size = INT_SIZE[layout.type]
  const byName = new Map<string, number>(Object.entries(layout.values))
  const byValue = new Map<number, string>()
  for (const [name, value] of Object.entries(layout.values)) {
    // Values are declared in the type's own range; a value seen twice keeps its first name.
    const v = readBack(layout.type, value)
    if (!byValue.has(v)) byValue.set(v, name)
  }
  return fixedNode(
    size,
    (c, at, v) => {
      const n = typeof v === "string" ? byName.get(v) : undefined
      if (n === undefined) throw bad(v, `one of the ${layout.name} names`)
      writeInt(c, layout.type, at, n)
    },
    (c, at) => {
      const n = readInt(c, layout.type, at)
      const name = byValue.get(n)
      if (name === undefined) throw new Fault(at, `invalid ${layout.name} value ${n}`)
      return name
    }
  )
}

/** The value an enum constant reads back as from its declared integer type (for example -1 as u32). */
const readBack = (type: IntType, value: number): number => {
  switch (type) {
    case "u8":
      return value & 0xff
    case "i8":
      return (value << 24) >> 24
    case "u16":
      return value & 0xffff
    case "i16":
      return (value << 16) >> 16
    case "u32":
      return value >>> 0
    case "i32":
      return value | 0
  }
}

const flagsNode = (layout: Extract<Layout, { readonly _tag: "Flags" }>): Node => {
  const size = INT_SIZE[layout.type]
  const flags = Object.entries(layout.values).map(([name, value]) => [name, readBack("u32", value)] as const)
  const byName = new Map(flags)
  const declared = flags.reduce((m, [, v]) => (m | v) >>> 0, 0)
  return fixedNode(
    size,
    (c, at, v) => {
      if (!Array.isArray(v)) throw bad(v, `an array of ${layout.name} names`)
      let n = 0
      for (const name of v) {
        const bit = typeof name === "string" ? byName.get(name) : undefined
        if (bit === undefined) throw bad(name, `one of the ${layout.name} names`)
        n = (n | bit) >>> 0
      }
      writeInt(c, layout.type, at, n)
    },
    (c, at) => {
      const n = readInt(c, layout.type, at) >>> 0
      if ((n & ~declared) >>> 0 !== 0) {
        throw new Fault(at, `invalid ${layout.name} value ${n}: bits 0x${((n & ~declared) >>> 0).toString(16)} are not declared`)
      }
      const names: Array<string> = []
      for (const [name, bit] of flags) if (bit !== 0 && (n & bit) >>> 0 === bit) names.push(name)
      return names
    }
  )
}

const utf8Encoder = new TextEncoder()

const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/** Above this many bytes a string is decoded whole (TextDecoder), not a character at a time. */
const SHORT_TEXT = 64

/**
 * ASCII fast path for short strings (names, addresses); anything else must be
 * valid UTF-8. A string that does not decode is refused rather than patched
 * with U+FFFD, so that every decoded value encodes back to the bytes it came
 * from. A long one (a `cli_inband_reply` of megabytes) goes to the decoder at
 * once: built a character at a time it would be a rope of millions of pieces.
 */
const readText = (bytes: Uint8Array, from: number, to: number): string => {
  if (to - from > SHORT_TEXT) {
    try {
      return utf8Decoder.decode(bytes.subarray(from, to))
    } catch {
      throw new Fault(from, "string is not valid UTF-8")
    }
  }
  let s = ""
  for (let i = from; i < to; i++) {
    const b = bytes[i]!
    if (b >= 0x80) {
      try {
        return utf8Decoder.decode(bytes.subarray(from, to))
      } catch {
        throw new Fault(from, "string is not valid UTF-8")
      }
    }
    s += String.fromCharCode(b)
  }
  return s
}

/** Writes `s` as UTF-8 at `at`, at most `max` bytes; returns the byte count or -1 when it does not fit. */
const writeText = (bytes: Uint8Array, at: number, s: string, max: number): number => {
  if (s.length > SHORT_TEXT) {
    // A long one (a cli_inband reply of megabytes) in one native call, not a character at a time.
    const { read, written } = utf8Encoder.encodeInto(s, bytes.subarray(at, at + Math.max(0, max)))
    return read < s.length ? -1 : written
  }
  let ascii = true
  if (s.length <= max) {
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i)
      if (ch >= 0x80) {
        ascii = false
        break
      }
      bytes[at + i] = ch
    }
    if (ascii) return s.length
  }
  const encoded = utf8Encoder.encode(s)
  if (encoded.length > max) return -1
  bytes.set(encoded, at)
  return encoded.length
}

const utf8Length = (s: string): number => {
  if (s.length > SHORT_TEXT) return Buffer.byteLength(s, "utf8")
  const n = s.length
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return utf8Encoder.encode(s).length
  return n
}

const stringNode = (length: number): Node => {
  if (length > 0) {
    return fixedNode(
      length,
      (c, at, v) => {
        if (typeof v !== "string") throw bad(v, `a string of at most ${length - 1} bytes`)
        if (v.includes("\0")) throw bad(v, "a string without NUL")
        const n = writeText(c.bytes, at, v, length - 1)
        if (n < 0) throw bad(v, `a string of at most ${length - 1} bytes (it is ${utf8Length(v)})`)
        c.bytes.fill(0, at + n, at + length)
      },
      (c, at) => {
        // VPP always terminates these (strncpy of N-1 bytes into a zeroed message);
        // N bytes without a NUL would be read past by VPP's own C code.
        let end = at
        const limit = at + length
        while (end < limit && c.bytes[end] !== 0) end++
        if (end === limit) throw new Fault(at, `string[${length}] has no NUL terminator`)
        return readText(c.bytes, at, end)
      }
    )
  }
  return {
    fixed: undefined,
    size: (v) => {
      if (typeof v !== "string") throw bad(v, "a string")
      return 4 + utf8Length(v)
    },
    write: (c, v) => {
      if (typeof v !== "string") throw bad(v, "a string")
      const at = need(c, 4)
      const n = writeText(c.bytes, at + 4, v, c.end - at - 4)
      if (n < 0) throw bad(v, "a string that fits the buffer")
      writeInt(c, "u32", at, n)
      c.off = at + 4 + n
    },
    read: (c) => {
      const at = need(c, 4)
      const n = readInt(c, "u32", at)
      if (n > c.end - c.off) throw new Fault(at, `string length ${n} exceeds the ${c.end - c.off} bytes left`)
      const from = need(c, n)
      return readText(c.bytes, from, from + n)
    }
  }
}

/** The count a variable-length field must have: from its count field, or (legacy `x[0]`) the rest of the message. */
const countOf = (c: Cursor, parent: Parent, countField: string | undefined, at: number): number => {
  if (countField === undefined) return -1
  const n = parent?.[countField]
  if (typeof n !== "number") throw new Fault(at, `count field ${countField} was not decoded before this field`)
  if (n < 0) throw new Fault(at, `negative count ${n} in ${countField}`)
  return n
}

const checkCount = (value: { length: number }, parent: Parent, countField: string | undefined): void => {
  if (countField === undefined) return
  const n = parent?.[countField]
  if (n !== value.length) {
    throw bad(value, `${countField} (${describe(n)}) elements, as its count field says`)
  }
}

const bytesNode = (layout: Extract<Layout, { readonly _tag: "Bytes" }>): Node => {
  const { length, countField } = layout
  if (countField === undefined && length > 0) {
    return fixedNode(
      length,
      (c, at, v) => {
        if (!(v instanceof Uint8Array) || v.length !== length) throw bad(v, `a Uint8Array of exactly ${length} bytes`)
        c.bytes.set(v, at)
      },
      (c, at) => c.bytes.slice(at, at + length)
    )
  }
  return {
    fixed: undefined,
    size: (v) => {
      if (!(v instanceof Uint8Array)) throw bad(v, "a Uint8Array")
      return v.length
    },
    write: (c, v, parent) => {
      if (!(v instanceof Uint8Array)) throw bad(v, "a Uint8Array")
      checkCount(v, parent, countField)
      c.bytes.set(v, need(c, v.length))
    },
    read: (c, parent) => {
      let n = countOf(c, parent, countField, c.off)
      if (n < 0) n = c.end - c.off
      if (n > c.end - c.off) throw new Fault(c.off, `count ${n} exceeds the ${c.end - c.off} bytes left`)
      const at = need(c, n)
      return c.bytes.slice(at, at + n)
    }
  }
}

const pushIndex = (e: unknown, i: number): never => {
  if (e instanceof Fault) e.segments.unshift(`[${i}]`)
  throw e
}

const arrayNode = (layout: Extract<Layout, { readonly _tag: "Array" }>): Node => {
  const element = compile(layout.element)
  const { length, countField } = layout
  const fixed = fixedSizeOf(layout)
  const minElement = Math.max(1, minSizeOf(layout.element))
  const size = (v: any): number => {
    if (!Array.isArray(v)) throw bad(v, "an array")
    if (element.fixed !== undefined) return element.fixed * v.length
    let total = 0
    for (let i = 0; i < v.length; i++) {
      try {
        total += element.size(v[i], undefined)
      } catch (e) {
        pushIndex(e, i)
      }
    }
    return total
  }
  return {
    fixed,
    size: fixed !== undefined ? () => fixed : size,
    write: (c, v, parent) => {
      if (!Array.isArray(v)) throw bad(v, "an array")
      if (countField === undefined && length > 0 && v.length !== length) {
        throw bad(v, `an array of exactly ${length} elements`)
      }
      checkCount(v, parent, countField)
      for (let i = 0; i < v.length; i++) {
        try {
          element.write(c, v[i], undefined)
        } catch (e) {
          pushIndex(e, i)
        }
      }
    },
    read: (c, parent) => {
      let n = countOf(c, parent, countField, c.off)
      if (countField === undefined) n = length > 0 ? length : Math.floor((c.end - c.off) / minElement)
      if (n * minElement > c.end - c.off) {
        throw new Fault(c.off, `count ${n} needs at least ${n * minElement} bytes, ${c.end - c.off} left`)
      }
      const out = new Array(n)
      for (let i = 0; i < n; i++) {
        try {
          out[i] = element.read(c, undefined)
        } catch (e) {
          pushIndex(e, i)
        }
      }
      return out
    }
  }
}

const structNode = (layout: Extract<Layout, { readonly _tag: "Struct" }>): Node => {
  const fields = layout.fields.map((f) => ({ name: f.name, node: compile(f.layout) }))
  const fixed = fixedSizeOf(layout)
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null
  return {
    fixed,
    size:
      fixed !== undefined
        ? () => fixed
        : (v) => {
          if (!isObject(v)) throw bad(v, `a ${layout.name} object`)
          let total = 0
          for (const f of fields) {
            try {
              total += f.node.fixed ?? f.node.size(v[f.name], v)
            } catch (e) {
              if (e instanceof Fault) e.segments.unshift(f.name)
              throw e
            }
          }
          return total
        },
    write: (c, v) => {
      if (!isObject(v)) throw bad(v, `a ${layout.name} object`)
      for (const f of fields) {
        try {
          f.node.write(c, v[f.name], v)
        } catch (e) {
          if (e instanceof Fault) e.segments.unshift(f.name)
          throw e
        }
      }
    },
    writeOver: (c, v, over) => {
      if (!isObject(v)) throw bad(v, `a ${layout.name} object`)
      for (const f of fields) {
        try {
          f.node.write(c, f.name in over ? over[f.name] : v[f.name], v)
        } catch (e) {
          if (e instanceof Fault) e.segments.unshift(f.name)
          throw e
        }
      }
    },
    read: (c) => {
      const out: Record<string, unknown> = {}
      for (const f of fields) {
        try {
          out[f.name] = f.node.read(c, out)
        } catch (e) {
          if (e instanceof Fault) e.segments.unshift(f.name)
          throw e
        }
      }
      return out
    }
  }
}

const unionNode = (layout: Extract<Layout, { readonly _tag: "Union" }>): Node => {
  const members = layout.members.map((m) => ({ name: m.name, case: m.case, node: compile(m.layout) }))
  const size = fixedSizeOf(layout)
  if (size === undefined) throw new Error(`union ${layout.name} has a variable-size member`)
  const byName = new Map(members.map((m) => [m.name, m]))
  const names = members.map((m) => m.name).join(" | ")
  const selected = (c: Cursor, parent: Parent, at: number) => {
    if (layout.discriminator !== undefined && parent !== undefined) {
      const kase = parent[layout.discriminator]
      const m = members.find((m) => m.case === kase)
      if (m === undefined) throw new Fault(at, `no ${layout.name} member for ${layout.discriminator} = ${describe(kase)}`)
      return m
    }
    const m = c.member === undefined ? undefined : byName.get(c.member)
    if (m === undefined) throw new Fault(at, `${layout.name} does not say which member it holds; name one (${names})`)
    return m
  }
  return {
    fixed: size,
    size: () => size,
    write: (c, v, parent) => {
      const keys = typeof v === "object" && v !== null ? Object.keys(v) : []
      const m = keys.length === 1 ? byName.get(keys[0]!) : undefined
      if (m === undefined) throw bad(v, `an object with one of ${names}`)
      if (layout.discriminator !== undefined && parent !== undefined && parent[layout.discriminator] !== m.case) {
        throw bad(v, `member ${m.name} to match ${layout.discriminator} = ${describe(parent[layout.discriminator])}`)
      }
      const at = need(c, size)
      c.off = at
      try {
        m.node.write(c, v[m.name], undefined)
      } catch (e) {
        if (e instanceof Fault) e.segments.unshift(m.name)
        throw e
      }
      c.bytes.fill(0, c.off, at + size)
      c.off = at + size
    },
    read: (c, parent) => {
      const at = need(c, size)
      const m = selected(c, parent, at)
      const saved = c.end
      c.off = at
      c.end = at + size
      try {
        return { [m.name]: m.node.read(c, undefined) }
      } catch (e) {
        if (e instanceof Fault) e.segments.unshift(m.name)
        throw e
      } finally {
        c.end = saved
        c.off = at + size
      }
    }
  }
}

const ip4Into = (c: Cursor, at: number, v: unknown): void => {
  if (typeof v !== "string" || !Ip.parseIp4Into(v, c.bytes, at)) throw bad(v, "an IPv4 address")
}
const ip6Into = (c: Cursor, at: number, v: unknown): void => {
  if (typeof v !== "string" || !Ip.parseIp6Into(v, c.bytes, at)) throw bad(v, "an IPv6 address")
}

/** Writes `af` + 16-byte union at `at`; returns the family's maximum prefix length. */
const addressInto = (c: Cursor, at: number, v: string, expected: string): number => {
  if (Ip.parseIp4Into(v, c.bytes, at + 1)) {
    c.bytes[at] = 0
    c.bytes.fill(0, at + 5, at + 17)
    return 32
  }
  if (Ip.parseIp6Into(v, c.bytes, at + 1)) {
    c.bytes[at] = 1
    return 128
  }
  throw bad(v, expected)
}

const readAddress = (c: Cursor, at: number): { text: string; max: number } => {
  const af = c.bytes[at]
  if (af === 0) return { text: Ip.formatIp4(c.bytes, at + 1), max: 32 }
  if (af === 1) return { text: Ip.formatIp6(c.bytes, at + 1), max: 128 }
  throw new Fault(at, `invalid address family ${af} (0 = IPv4, 1 = IPv6)`)
}

const prefixParts = (v: unknown, expected: string) => {
  const p = typeof v === "string" ? Ip.splitPrefix(v) : undefined
  if (p === undefined) throw bad(v, expected)
  return p
}

const checkLength = (v: unknown, length: number, max: number, family: string): void => {
  if (length > max) throw bad(v, `a prefix length of at most ${max} for ${family}`)
}

const wellKnownNode = (layout: Leaf): Node | undefined => {
  switch (layout._tag) {
    case "Ip4Address":
      return fixedNode(4, (c, at, v) => ip4Into(c, at, v), (c, at) => Ip.formatIp4(c.bytes, at))
    case "Ip6Address":
      return fixedNode(16, (c, at, v) => ip6Into(c, at, v), (c, at) => Ip.formatIp6(c.bytes, at))
    case "MacAddress":
      return fixedNode(
        6,
        (c, at, v) => {
          if (typeof v !== "string" || !Ip.parseMacInto(v, c.bytes, at)) throw bad(v, "a MAC address aa:bb:cc:dd:ee:ff")
        },
        (c, at) => Ip.formatMac(c.bytes, at)
      )
    case "Address":
      return fixedNode(
        17,
        (c, at, v) => {
          if (typeof v !== "string") throw bad(v, "an IPv4 or IPv6 address")
          addressInto(c, at, v, "an IPv4 or IPv6 address")
        },
        (c, at) => readAddress(c, at).text
      )
    case "Prefix":
      return fixedNode(
        18,
        (c, at, v) => {
          const p = prefixParts(v, "a prefix addr/len")
          const max = addressInto(c, at, p.address, "a prefix whose address is IPv4 or IPv6")
          checkLength(v, p.length, max, max === 32 ? "IPv4" : "IPv6")
          c.bytes[at + 17] = p.length
        },
        (c, at) => {
          const a = readAddress(c, at)
          const len = c.bytes[at + 17]!
          if (len > a.max) throw new Fault(at + 17, `prefix length ${len} exceeds ${a.max} for ${a.max === 32 ? "IPv4" : "IPv6"}`)
          return `${a.text}/${len}`
        }
      )
    case "LoosePrefix":
      return fixedNode(
        18,
        (c, at, v) => {
          const p = prefixParts(v, "a prefix addr/len")
          addressInto(c, at, p.address, "a prefix whose address is IPv4 or IPv6")
          if (p.length > 255) throw bad(v, "a prefix length of at most 255")
          c.bytes[at + 17] = p.length
        },
        (c, at) => `${readAddress(c, at).text}/${c.bytes[at + 17]!}`
      )
    case "Ip4Prefix":
      return fixedNode(
        5,
        (c, at, v) => {
          const p = prefixParts(v, "an IPv4 prefix addr/len")
          ip4Into(c, at, p.address)
          checkLength(v, p.length, 32, "IPv4")
          c.bytes[at + 4] = p.length
        },
        (c, at) => {
          const len = c.bytes[at + 4]!
          if (len > 32) throw new Fault(at + 4, `prefix length ${len} exceeds 32 for IPv4`)
          return `${Ip.formatIp4(c.bytes, at)}/${len}`
        }
      )
    case "Ip6Prefix":
      return fixedNode(
        17,
        (c, at, v) => {
          const p = prefixParts(v, "an IPv6 prefix addr/len")
          ip6Into(c, at, p.address)
          checkLength(v, p.length, 128, "IPv6")
          c.bytes[at + 16] = p.length
        },
        (c, at) => {
          const len = c.bytes[at + 16]!
          if (len > 128) throw new Fault(at + 16, `prefix length ${len} exceeds 128 for IPv6`)
          return `${Ip.formatIp6(c.bytes, at)}/${len}`
        }
      )
    default:
      return undefined
  }
}

const compile = (layout: Layout): Node => {
  switch (layout._tag) {
    case "Int":
      return intNode(layout.type)
    case "BigInt": {
      const signed = layout.type === "i64"
      const [min, max] = signed ? [I64_MIN, I64_MAX] : [0n, U64_MAX]
      return fixedNode(
        8,
        (c, at, v) => {
          if (typeof v !== "bigint" || v < min || v > max) throw bad(v, `a bigint ${layout.type} (${min}..${max})`)
          if (signed) viewOf(c).setBigInt64(at, v)
          else viewOf(c).setBigUint64(at, v)
        },
        (c, at) => (signed ? viewOf(c).getBigInt64(at) : viewOf(c).getBigUint64(at))
      )
    }
    case "F64":
      // f64 travels in host order, little-endian on every platform VPP runs on.
      return fixedNode(
        8,
        (c, at, v) => {
          if (typeof v !== "number") throw bad(v, "a number")
          viewOf(c).setFloat64(at, v, true)
        },
        (c, at) => viewOf(c).getFloat64(at, true)
      )
    case "Bool":
      return fixedNode(
        1,
        (c, at, v) => {
          if (typeof v !== "boolean") throw bad(v, "a boolean")
          c.bytes[at] = v ? 1 : 0
        },
        (c, at) => c.bytes[at] !== 0
      )
    case "Enum":
      return enumNode(layout)
    case "Flags":
      return flagsNode(layout)
    case "String":
      return stringNode(layout.length)
    case "Bytes":
      return bytesNode(layout)
    case "Array":
      return arrayNode(layout)
    case "Struct":
      return structNode(layout)
    case "Union":
      return unionNode(layout)
    default: {
      const node = wellKnownNode(layout)
      if (node === undefined) throw new Error(`no codec for ${layout._tag}`)
      return node
    }
  }
}

// ---------------------------------------------------------------------------
// The public codec

export interface DecodeOptions {
  /**
   * Accept bytes after a complete value. VPP itself ignores the tail of an
   * over-long request, so the simulator and the socket client pass true; by
   * default a tail is an error.
   */
  readonly allowTrailing?: boolean
  /** For a union decoded on its own (no discriminator around it): the member it holds. */
  readonly member?: string
}

export interface Codec<A> {
  /** the VPP name of the type (`lb_add_del_as_v2`, `address`, `u32`) */
  readonly type: string
  readonly layout: Layout
  /** encoded size when every value has the same size */
  readonly fixedSize: number | undefined
  readonly sizeOf: (value: A) => Either.Either<number, VppEncodeError>
  readonly encode: (value: A) => Either.Either<Uint8Array, VppEncodeError>
  /** Encodes at `offset` of `target` (which must have `sizeOf(value)` bytes free there); returns the end offset. */
  readonly encodeInto: (value: A, target: Uint8Array, offset: number) => Either.Either<number, VppEncodeError>
  /**
   * A struct's `encodeInto` with the fields `over` has (fixed-size ones, e.g. a request's
   * `client_index` and `context`) taken from `over`: what `{ ...value, ...over }` would encode,
   * without that copy (a spread of a request's fields cost microseconds per message).
   */
  readonly encodeIntoOver: (
    value: object,
    over: Readonly<Record<string, unknown>>,
    target: Uint8Array,
    offset: number
  ) => Either.Either<number, VppEncodeError>
  readonly decode: (bytes: Uint8Array, options?: DecodeOptions) => Either.Either<A, VppDecodeError>
}

const joinPath = (segments: ReadonlyArray<string>): string =>
  segments.reduce((path, s) => (path === "" || s.startsWith("[") ? path + s : `${path}.${s}`), "")

const internal = (e: unknown): Fault => new Fault(-1, `internal codec error: ${e instanceof Error ? e.message : String(e)}`)

const codecCache = new WeakMap<SchemaAST.AST, Codec<any>>()

/** The codec of a schema built with the `Wire` constructors (generated bindings are). Cached per schema. */
export const of = <A, I, R>(schema: Schema.Schema<A, I, R>): Codec<A> => {
  const cached = codecCache.get(schema.ast)
  if (cached !== undefined) return cached
  const layout = layoutOf(schema.ast)
  const node = compile(layout)
  const type = layoutName(layout)
  const encodeError = (f: Fault) =>
    new VppEncodeError({ type, field: joinPath(f.segments), value: f.value, reason: f.reason })
  const cursor = (bytes: Uint8Array, off: number, end: number): Cursor => ({
    view: undefined,
    bytes,
    off,
    end,
    member: undefined
  })
  const sizeOf = (value: A): Either.Either<number, VppEncodeError> => {
    try {
      return Either.right(node.fixed ?? node.size(value, undefined))
    } catch (e) {
      return Either.left(encodeError(e instanceof Fault ? e : internal(e)))
    }
  }
  const encodeInto = (value: A, target: Uint8Array, offset: number): Either.Either<number, VppEncodeError> => {
    const c = cursor(target, offset, target.length)
    try {
      node.write(c, value, undefined)
      return Either.right(c.off)
    } catch (e) {
      return Either.left(encodeError(e instanceof Fault ? e : internal(e)))
    }
  }
  const encodeIntoOver = (value: unknown, over: Readonly<Record<string, unknown>>, target: Uint8Array, offset: number) => {
    const c = cursor(target, offset, target.length)
    try {
      if (node.writeOver === undefined) throw new Fault(-1, `${type} is not a struct`)
      node.writeOver(c, value, over)
      return Either.right(c.off)
    } catch (e) {
      return Either.left(encodeError(e instanceof Fault ? e : internal(e)))
    }
  }
  const codec: Codec<A> = {
    type,
    layout,
    fixedSize: node.fixed,
    sizeOf,
    encodeInto,
    encodeIntoOver,
    encode: (value) => {
      try {
        const out = new Uint8Array(node.fixed ?? node.size(value, undefined))
        node.write(cursor(out, 0, out.length), value, undefined)
        return Either.right(out)
      } catch (e) {
        return Either.left(encodeError(e instanceof Fault ? e : internal(e)))
      }
    },
    decode: (bytes, options) => {
      const c = cursor(bytes, 0, bytes.length)
      c.member = options?.member
      try {
        const value = node.read(c, undefined) as A
        if (c.off !== c.end && options?.allowTrailing !== true) {
          return Either.left(
            new VppDecodeError({
              type,
              field: "",
              offset: c.off,
              reason: `${c.end - c.off} byte${c.end - c.off === 1 ? "" : "s"} after the end of ${type}`
            })
          )
        }
        return Either.right(value)
      } catch (e) {
        const f = e instanceof Fault ? e : internal(e)
        return Either.left(new VppDecodeError({ type, field: joinPath(f.segments), offset: f.offset, reason: f.reason }))
      }
    }
  }
  codecCache.set(schema.ast, codec)
  return codec
}
