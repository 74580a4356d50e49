/**
 * Schema constructors for VPP binary-API types. Each constructor returns an
 * ordinary Effect `Schema` of the TypeScript value (numbers, bigints, strings,
 * `Uint8Array`s, structs, literal unions for enums) and annotates it with how
 * the value is laid out on the wire. `Codec.of(schema)` reads those
 * annotations back from the schema's AST to build the encoder and decoder, so
 * the generated bindings in `src/vpp/binapi/` declare only schemas.
 */
import { Arbitrary, Schema, SchemaAST } from "effect"
import * as Ip from "./Ip.js"

export const WireId: unique symbol = Symbol.for("vpp-maglev/Wire")

export type IntType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32"

/** How one schema node is laid out on the wire. Structs, arrays and unions take their children from the AST. */
export type WireAnnotation =
  | { readonly _tag: "Int"; readonly type: IntType }
  | { readonly _tag: "BigInt"; readonly type: "u64" | "i64" }
  | { readonly _tag: "F64" }
  | { readonly _tag: "Bool" }
  | EnumAnnotation<"Enum">
  | EnumAnnotation<"Flags">
  /** `length` 0 is the variable `string x[]` (u32 length prefix). */
  | { readonly _tag: "String"; readonly length: number }
  | { readonly _tag: "Bytes"; readonly length: number; readonly countField?: string }
  | { readonly _tag: "Array"; readonly length: number; readonly countField?: string }
  | { readonly _tag: "Struct"; readonly name: string }
  | {
    readonly _tag: "Union"
    readonly name: string
    /** member name -> the discriminator's enum value that selects it */
    readonly cases: Readonly<Record<string, string>>
    /** sibling field whose value selects the member */
    readonly discriminator?: string
  }
  | { readonly _tag: "Ip4Address" }
  | { readonly _tag: "Ip6Address" }
  | { readonly _tag: "Address" }
  | { readonly _tag: "Prefix" }
  | { readonly _tag: "LoosePrefix" }
  | { readonly _tag: "Ip4Prefix" }
  | { readonly _tag: "Ip6Prefix" }
  | { readonly _tag: "MacAddress" }

export interface EnumAnnotation<Tag extends "Enum" | "Flags"> {
  readonly _tag: Tag
  readonly name: string
  readonly type: IntType
  readonly values: Readonly<Record<string, number>>
}

export const getWire = (ast: SchemaAST.AST): WireAnnotation | undefined =>
  ast.annotations[WireId] as WireAnnotation | undefined

const wire = (annotation: WireAnnotation, identifier: string) => ({ [WireId]: annotation, identifier })

// ---------------------------------------------------------------------------
// Scalars

export const INT_RANGE: Readonly<Record<IntType, readonly [number, number]>> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff]
}

const int = (type: IntType) =>
  Schema.Number.pipe(Schema.int(), Schema.between(INT_RANGE[type][0], INT_RANGE[type][1])).annotations(
    wire({ _tag: "Int", type }, type)
  )

export const u8 = int("u8")
export const i8 = int("i8")
export const u16 = int("u16")
export const i16 = int("i16")
export const u32 = int("u32")
export const i32 = int("i32")

export const U64_MAX = (1n << 64n) - 1n
export const I64_MIN = -(1n << 63n)
export const I64_MAX = (1n << 63n) - 1n

export const u64 = Schema.BigIntFromSelf.pipe(Schema.betweenBigInt(0n, U64_MAX)).annotations(
  wire({ _tag: "BigInt", type: "u64" }, "u64")
)
export const i64 = Schema.BigIntFromSelf.pipe(Schema.betweenBigInt(I64_MIN, I64_MAX)).annotations(
  wire({ _tag: "BigInt", type: "i64" }, "i64")
)
export const f64 = Schema.Number.annotations(wire({ _tag: "F64" }, "f64"))
export const bool = Schema.Boolean.annotations(wire({ _tag: "Bool" }, "bool"))

// ---------------------------------------------------------------------------
// Strings and byte arrays

const utf8 = new TextEncoder()

/** `string x[N]`: at most N-1 bytes (the last is the NUL), no NUL inside. */
export const fixedString = (length: number) =>
  Schema.String.pipe(
    Schema.filter((s) => !s.includes("\0") && utf8.encode(s).length < length, {
      message: () => `a string of at most ${length - 1} bytes without NUL`
    })
  ).annotations({
    ...wire({ _tag: "String", length }, `string[${length}]`),
    arbitrary: () => (fc) => fc.string({ maxLength: length - 1 }).filter((s) => !s.includes("\0"))
  })

/** `string x[]`: u32 length prefix, no terminator. */
export const varString = Schema.String.annotations(wire({ _tag: "String", length: 0 }, "string[]"))

/** `u8 x[N]` */
export const fixedBytes = (length: number) =>
  Schema.Uint8ArrayFromSelf.pipe(
    Schema.filter((b) => b.length === length, { message: () => `exactly ${length} bytes` })
  ).annotations({
    ...wire({ _tag: "Bytes", length }, `u8[${length}]`),
    arbitrary: () => (fc) => fc.uint8Array({ minLength: length, maxLength: length })
  })

/**
 * `u8 x[count]` where `count` is an earlier field; without one (the legacy
 * `u8 x[0]`) the bytes run to the end of the message.
 */
export const varBytes = (countField?: string) =>
  Schema.Uint8ArrayFromSelf.annotations(
    wire({ _tag: "Bytes", length: 0, ...(countField !== undefined ? { countField } : {}) }, `u8[${countField ?? ""}]`)
  )

// ---------------------------------------------------------------------------
// Arrays

/** `T x[N]` */
export const fixedArray = <S extends Schema.Schema.Any>(element: S, length: number) =>
  Schema.Array(element).pipe(
    Schema.filter((a) => a.length === length, { message: () => `exactly ${length} elements` })
  ).annotations({
    ...wire({ _tag: "Array", length }, `array[${length}]`),
    arbitrary: () => (fc) => fc.array(Arbitrary.make(element), { minLength: length, maxLength: length })
  })

/** `T x[count]` where `count` is an earlier field; without one the elements run to the end of the message. */
export const varArray = <S extends Schema.Schema.Any>(element: S, countField?: string) =>
  Schema.Array(element).annotations(
    wire({ _tag: "Array", length: 0, ...(countField !== undefined ? { countField } : {}) }, `array[${countField ?? ""}]`)
  )

// ---------------------------------------------------------------------------
// Enums

/** An enum is the union of its names; the numbers live in the annotation. */
export const enumeration = <const V extends Readonly<Record<string, number>>>(
  name: string,
  type: IntType,
  values: V
): Schema.Schema<Extract<keyof V, string>> =>
  (Schema.Literal(...(Object.keys(values) as Array<Extract<keyof V, string>>)) as Schema.Schema<
    Extract<keyof V, string>
  >).annotations(wire({ _tag: "Enum", name, type, values }, name))

/** An enumflag is the set of its names that are on, in declaration order. */
export const enumFlags = <const V extends Readonly<Record<string, number>>>(
  name: string,
  type: IntType,
  values: V
): Schema.Schema<ReadonlyArray<Extract<keyof V, string>>> =>
  (Schema.Array(Schema.Literal(...(Object.keys(values) as Array<Extract<keyof V, string>>))) as Schema.Schema<
    ReadonlyArray<Extract<keyof V, string>>
  >).annotations({
    ...wire({ _tag: "Flags", name, type, values }, name),
    arbitrary: () => (fc) => fc.subarray(Object.keys(values) as Array<Extract<keyof V, string>>)
  })

// ---------------------------------------------------------------------------
// Structs and unions

export const struct = <Fields extends Schema.Struct.Fields>(name: string, fields: Fields) =>
  Schema.Struct(fields).annotations(wire({ _tag: "Struct", name }, name))

type UnionMembers = Readonly<Record<string, readonly [Schema.Schema.Any, string]>>

type UnionType<M extends UnionMembers> = {
  [K in keyof M]: { readonly [P in K]: Schema.Schema.Type<M[K][0]> }
}[keyof M]

/**
 * A union value is an object with exactly one key, the member it holds
 * (`{ ip4: "192.0.2.1" }`). Each member names the discriminator case that
 * selects it; the discriminator itself is a sibling field (see `discriminated`).
 */
export const union = <const M extends UnionMembers>(name: string, members: M): Schema.Schema<UnionType<M>> => {
  const cases: Record<string, string> = {}
  const structs = Object.entries(members).map(([member, [schema, kase]]) => {
    cases[member] = kase
    return Schema.Struct({ [member]: schema })
  })
  return (Schema.Union(...structs) as unknown as Schema.Schema<UnionType<M>>).annotations(
    wire({ _tag: "Union", name, cases }, name)
  )
}

/** The same union, with the sibling field that tells which member it holds. */
export const discriminated = <A>(self: Schema.Schema<A>, discriminator: string): Schema.Schema<A> => {
  const annotation = getWire(self.ast)
  if (annotation?._tag !== "Union") throw new Error("discriminated() takes a union schema")
  return self.annotations({ [WireId]: { ...annotation, discriminator } })
}

// ---------------------------------------------------------------------------
// The address types every VPP user wants as text

type FC = typeof import("effect").FastCheck

const text = (
  tag: WireAnnotation["_tag"],
  name: string,
  is: (s: string) => boolean,
  expected: string,
  arbitrary: (fc: FC) => import("effect").FastCheck.Arbitrary<string>
) =>
  Schema.String.pipe(Schema.filter(is, { message: () => `${expected}` })).annotations({
    ...wire({ _tag: tag } as WireAnnotation, name),
    arbitrary: () => arbitrary
  })

// Arbitraries produce the canonical text (what decoding prints), so round trips compare equal.
const bytes = (fc: FC, n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const ip4Text = (fc: FC) => bytes(fc, 4).map((b) => Ip.formatIp4(b, 0))
const ip6Text = (fc: FC) => bytes(fc, 16).map((b) => Ip.formatIp6(b, 0))
const prefixText = (address: (fc: FC) => import("effect").FastCheck.Arbitrary<string>, max: number) => (fc: FC) =>
  fc.tuple(address(fc), fc.integer({ min: 0, max })).map(([a, l]) => `${a}/${l}`)

/** `ip4_address` (u8[4]) as `"192.0.2.1"` */
export const ip4Address = text("Ip4Address", "ip4_address", Ip.isIp4, "an IPv4 address", ip4Text)
/** `ip6_address` (u8[16]) as `"2001:db8::1"` */
export const ip6Address = text("Ip6Address", "ip6_address", Ip.isIp6, "an IPv6 address", ip6Text)
/** `address` (af + 16-byte union) as an IPv4 or IPv6 string; the string decides `af`. */
export const address = text(
  "Address",
  "address",
  Ip.isIp,
  "an IPv4 or IPv6 address",
  (fc) => fc.oneof(ip4Text(fc), ip6Text(fc))
)
/** `prefix` (address + u8 len) as `"addr/len"`; host bits are kept as given. */
export const prefix = text(
  "Prefix",
  "prefix",
  Ip.isPrefix,
  "an IPv4 or IPv6 prefix addr/len",
  (fc) => fc.oneof(prefixText(ip4Text, 32)(fc), prefixText(ip6Text, 128)(fc))
)
/**
 * A `prefix` as VPP may report it: `"addr/len"` with any length 0..255, the
 * family's limit not enforced. Only for fields VPP writes and gets wrong
 * (api-defs/overrides.json); what we send uses `prefix`.
 */
export const loosePrefix = text(
  "LoosePrefix",
  "prefix",
  (s) => {
    const p = Ip.splitPrefix(s)
    return p !== undefined && p.length <= 255 && Ip.isIp(p.address)
  },
  "an IPv4 or IPv6 address with a length 0..255",
  (fc) => fc.oneof(prefixText(ip4Text, 255)(fc), prefixText(ip6Text, 255)(fc))
)
/** `ip4_prefix` as `"addr/len"` */
export const ip4Prefix = text(
  "Ip4Prefix",
  "ip4_prefix",
  Ip.isIp4Prefix,
  "an IPv4 prefix addr/len (len 0..32)",
  prefixText(ip4Text, 32)
)
/** `ip6_prefix` as `"addr/len"` */
export const ip6Prefix = text(
  "Ip6Prefix",
  "ip6_prefix",
  Ip.isIp6Prefix,
  "an IPv6 prefix addr/len (len 0..128)",
  prefixText(ip6Text, 128)
)
/** `mac_address` (u8[6]) as `"aa:bb:cc:dd:ee:ff"` */
export const macAddress = text(
  "MacAddress",
  "mac_address",
  Ip.isMac,
  "a MAC address aa:bb:cc:dd:ee:ff",
  (fc) => bytes(fc, 6).map((b) => Ip.formatMac(b, 0))
)

/** Wire sizes of the text-form types, for the generator's check against the `.api.json` definitions. */
export const WELL_KNOWN_SIZES: Readonly<Record<string, number>> = {
  Ip4Address: 4,
  Ip6Address: 16,
  Address: 17,
  Prefix: 18,
  LoosePrefix: 18,
  Ip4Prefix: 5,
  Ip6Prefix: 17,
  MacAddress: 6
}

// ---------------------------------------------------------------------------
// Messages

/** One VPP message: its name, CRC, the schema of its fields (without `_vl_msg_id`). */
export interface Message<S extends Schema.Schema.Any = Schema.Schema.Any> {
  readonly name: string
  /** `0x` and 8 lowercase hex digits, as in the `.api.json` */
  readonly crc: string
  /** `<name>_<crc without 0x>`: the key of VPP's message table */
  readonly nameCrc: string
  readonly schema: S
}

export const message = <S extends Schema.Schema.Any>(name: string, crc: string, schema: S): Message<S> => ({
  name,
  crc,
  nameCrc: `${name}_${crc.replace(/^0x/, "")}`,
  schema
})

/** A request/reply pairing from the module's `services`. */
export interface Service {
  readonly request: string
  /** `null` for one-way messages */
  readonly reply: string | null
  /** old-style dump: details until the client's `control_ping` reply */
  readonly stream: boolean
  /** new-style stream: `stream_msg` details, ended by `reply` */
  readonly streamMessage?: string
  readonly events?: ReadonlyArray<string>
}

/** What the generator knows of one bound `.api` module. */
export interface Module {
  readonly name: string
  readonly version: string
  /** file CRC (`vl_api_version`) */
  readonly crc: string
  readonly messages: Readonly<Record<string, Message>>
  readonly services: ReadonlyArray<Service>
}
