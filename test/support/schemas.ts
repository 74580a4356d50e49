/** Every generated message and type schema, for tests that must cover them all. */
import { Schema } from "effect"
import * as binapi from "../../src/vpp/binapi/index.js"
import type { Layout } from "../../src/vpp/codec/Codec.js"
import { getWire } from "../../src/vpp/codec/Wire.js"

export interface Named {
  readonly name: string
  readonly schema: Schema.Schema<any>
}

export const allMessages: ReadonlyArray<Named> = binapi.modules.flatMap((m) =>
  Object.values(m.messages).map((msg) => ({ name: `${m.name}.${msg.name}`, schema: msg.schema as Schema.Schema<any> }))
)

export const allTypes: ReadonlyArray<Named> = binapi.modules.flatMap((m) => {
  const ns = (binapi as unknown as Record<string, Record<string, unknown>>)[m.name]!
  return Object.entries(ns)
    .filter(([, v]) => Schema.isSchema(v) && getWire(v.ast) !== undefined)
    .map(([k, v]) => ({ name: `${m.name}.${k}`, schema: v as Schema.Schema<any> }))
})

/**
 * Makes a schema-valid value consistent across fields, as a sender must: every
 * count field holds the length of the array it counts, and every
 * discriminator names the member its union holds. (These cross-field rules are
 * the encoder's to check; a field schema cannot see its siblings.) Returns
 * undefined when the value cannot be made consistent.
 */
export const fixCounts = (layout: Layout, value: unknown): unknown => {
  switch (layout._tag) {
    case "Struct": {
      const o = value as Record<string, unknown>
      for (const f of layout.fields) {
        fixCounts(f.layout, o[f.name])
        if ((f.layout._tag === "Array" || f.layout._tag === "Bytes") && f.layout.countField !== undefined) {
          o[f.layout.countField] = (o[f.name] as { length: number }).length
        }
      }
      const set = new Set<string>()
      for (const f of layout.fields) {
        if (f.layout._tag === "Union" && f.layout.discriminator !== undefined) {
          const member = Object.keys(o[f.name] as object)[0]!
          const kase = f.layout.members.find((m) => m.name === member)!.case
          // Two unions that share a discriminator (mprefix) must hold the same member.
          if (set.has(f.layout.discriminator) && o[f.layout.discriminator] !== kase) return undefined
          o[f.layout.discriminator] = kase
          set.add(f.layout.discriminator)
        }
      }
      return o
    }
    case "Array":
      for (const e of value as Array<unknown>) fixCounts(layout.element, e)
      return value
    case "Union": {
      const [member, v] = Object.entries(value as Record<string, unknown>)[0]!
      fixCounts(layout.members.find((m) => m.name === member)!.layout, v)
      return value
    }
    default:
      return value
  }
}

/** A union decoded on its own needs its member named: the one `value` holds, or else the first. */
export const memberFor = (layout: Layout, value?: unknown): string | undefined =>
  layout._tag !== "Union"
    ? undefined
    : value !== undefined
    ? Object.keys(value as object)[0]
    : layout.members[0]!.name
