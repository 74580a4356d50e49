/**
 * Recomputes message CRCs the way vppapigen does (see vpp-wire.md §2.4), so
 * the generator can refuse definition files whose CRCs do not match their
 * contents: a hand-edited or half-merged `.api.json` would otherwise produce
 * bindings that a real VPP rejects at connect time.
 */
import * as zlib from "node:zlib"
import type { AliasDef, EnumDef, FieldDef, MessageDef, StructDef } from "./ApiJson.js"
import { userTypeName } from "./ApiJson.js"

const pyRepr = (v: string | number | null): string => {
  if (v === null) return "None"
  if (typeof v === "number") return String(v)
  return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
}

const fieldRepr = (f: FieldDef): string => {
  const parts: Array<string | number | null> = [f.type, f.name]
  if (f.length !== undefined) parts.push(f.length, f.countField ?? null)
  return `[${parts.map(pyRepr).join(", ")}]`
}

const fieldsRepr = (fields: ReadonlyArray<FieldDef>): string => `[${fields.map(fieldRepr).join(", ")}]`

export interface Definitions {
  readonly structs: ReadonlyMap<string, StructDef>
  readonly enums: ReadonlyMap<string, EnumDef>
  readonly aliases: ReadonlyMap<string, AliasDef>
}

const crc32 = (text: string, seed: number): number => zlib.crc32(Buffer.from(text, "utf8"), seed)

const fold = (fields: ReadonlyArray<FieldDef>, crc: number, defs: Definitions): number => {
  for (const f of fields) {
    const name = userTypeName(f.type)
    if (name === undefined) continue
    if (defs.aliases.has(name)) {
      crc = crc32("[]", crc)
      continue
    }
    const e = defs.enums.get(name)
    if (e !== undefined) {
      crc = crc32(`[${e.values.map(([n, v]) => `[${pyRepr(n)}, ${v}]`).join(", ")}]`, crc)
      continue
    }
    const s = defs.structs.get(name)
    if (s === undefined) throw new Error(`unknown type ${f.type} in field ${f.name}`)
    crc = crc32(fieldsRepr(s.fields), crc)
    crc = fold(s.fields, crc, defs)
  }
  return crc
}

/** The CRC vppapigen gives a message, as `0x` + 8 lowercase hex digits. */
export const messageCrc = (message: MessageDef, defs: Definitions): string => {
  const crc = fold(message.fields, crc32(fieldsRepr(message.fields), 0), defs)
  return `0x${(crc >>> 0).toString(16).padStart(8, "0")}`
}
