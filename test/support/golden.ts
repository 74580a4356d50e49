/**
 * The golden files' JSON representation (README in ../shared/vpp-api/golden)
 * differs from ours where JSON cannot hold the value: u64 as decimal strings,
 * byte arrays as hex, enums as numbers. These two functions convert between
 * the two, driven by the same `Layout` the codec uses.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Layout } from "../../src/vpp/codec/Codec.js"
import * as binapi from "../../src/vpp/binapi/index.js"
import type { Message } from "../../src/vpp/codec/Wire.js"
import type { Schema } from "effect"
import { goldenDir } from "./paths.js"

export const hexToBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"))
export const bytesToHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

type Json = unknown

const enumName = (layout: Extract<Layout, { _tag: "Enum" }>, n: number): string => {
  const entry = Object.entries(layout.values).find(([, v]) => v === n)
  if (entry === undefined) throw new Error(`golden value ${n} is not a ${layout.name}`)
  return entry[0]
}

export const fromGolden = (layout: Layout, json: Json): unknown => {
  switch (layout._tag) {
    case "BigInt":
      return BigInt(json as string)
    case "Enum":
      return enumName(layout, json as number)
    case "Flags":
      return Object.entries(layout.values).filter(([, v]) => v !== 0 && ((json as number) & v) === v).map(([n]) => n)
    case "Bytes":
      return hexToBytes(json as string)
    case "Array":
      return (json as Array<Json>).map((e) => fromGolden(layout.element, e))
    case "Struct":
      return Object.fromEntries(layout.fields.map((f) => [f.name, fromGolden(f.layout, (json as Record<string, Json>)[f.name])]))
    case "Union": {
      const [member, value] = Object.entries(json as Record<string, Json>)[0]!
      const m = layout.members.find((m) => m.name === member)!
      return { [member]: fromGolden(m.layout, value) }
    }
    default:
      return json
  }
}

export const toGolden = (layout: Layout, value: unknown): Json => {
  switch (layout._tag) {
    case "BigInt":
      return (value as bigint).toString()
    case "Enum":
      return layout.values[value as string]
    case "Flags":
      return (value as Array<string>).reduce((n, name) => n | layout.values[name]!, 0)
    case "Bytes":
      return bytesToHex(value as Uint8Array)
    case "Array":
      return (value as Array<unknown>).map((e) => toGolden(layout.element, e))
    case "Struct":
      return Object.fromEntries(layout.fields.map((f) => [f.name, toGolden(f.layout, (value as Record<string, unknown>)[f.name])]))
    case "Union": {
      const [member, v] = Object.entries(value as Record<string, unknown>)[0]!
      const m = layout.members.find((m) => m.name === member)!
      return { [member]: toGolden(m.layout, v) }
    }
    default:
      return value
  }
}

export interface GoldenVector {
  readonly message?: string
  readonly crc?: string
  readonly type?: string
  readonly kind?: "type" | "union" | "alias" | "enum"
  readonly sample: string
  readonly fields: Json
  readonly size: number
  readonly hex: string
}

export const GOLDEN_MODULES = ["lb", "memclnt", "vpe", "vlib"] as const

export const loadGolden = (module: string): ReadonlyArray<GoldenVector> =>
  JSON.parse(fs.readFileSync(path.join(goldenDir, `${module}.golden.json`), "utf8"))

export const loadGoldenFile = <A>(name: string): A => JSON.parse(fs.readFileSync(path.join(goldenDir, name), "utf8"))

const namespaces = (Object.values(binapi) as Array<unknown>).filter(
  (v): v is Record<string, unknown> => typeof v === "object" && v !== null && "definition" in v
)

/** The generated message of that VPP name, from whichever module defines it. */
export const findMessage = (name: string): Message => {
  for (const m of binapi.modules) {
    const msg = m.messages[name]
    if (msg !== undefined) return msg
  }
  throw new Error(`no generated message ${name}`)
}

const pascal = (name: string) => name.split("_").map((p) => p[0]!.toUpperCase() + p.slice(1)).join("")

/** The generated schema of a type, union, alias or enum by its VPP name. */
export const findType = (name: string): Schema.Schema<any> => {
  for (const ns of namespaces) {
    const s = ns[pascal(name)]
    if (s !== undefined) return s as Schema.Schema<any>
  }
  throw new Error(`no generated type ${name}`)
}
