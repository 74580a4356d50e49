/**
 * The `.api.json` format written by VPP's `vppapigen` JSON back end, decoded
 * at the edge with Effect Schema and turned into a small model. Every problem
 * names the file and the entry, so a bad or unexpected definition file is an
 * error an operator can act on, never a crash in the emitter.
 */
import { Either, ParseResult, Schema } from "effect"

export type IntType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32"
export const INT_TYPES: ReadonlyArray<string> = ["u8", "i8", "u16", "i16", "u32", "i32"]
export const SCALARS: ReadonlyArray<string> = [...INT_TYPES, "u64", "i64", "f64", "bool", "string"]

export interface FieldDef {
  readonly type: string
  readonly name: string
  /** fixed array / string size; 0 = variable */
  readonly length?: number
  readonly countField?: string
  readonly options: Readonly<Record<string, unknown>>
}

export interface StructDef {
  readonly kind: "type" | "union"
  readonly name: string
  readonly fields: ReadonlyArray<FieldDef>
}

export interface EnumDef {
  readonly kind: "enum" | "enumflag"
  readonly name: string
  readonly type: IntType
  readonly values: ReadonlyArray<readonly [string, number]>
}

export interface AliasDef {
  readonly kind: "alias"
  readonly name: string
  readonly type: string
  readonly length?: number
}

export interface MessageDef {
  readonly name: string
  readonly crc: string
  /** without `_vl_msg_id` */
  readonly fields: ReadonlyArray<FieldDef>
}

export interface ServiceDef {
  readonly request: string
  readonly reply: string | null
  readonly stream: boolean
  readonly streamMessage?: string
  readonly events?: ReadonlyArray<string>
}

export interface ApiFile {
  readonly file: string
  readonly module: string
  readonly version: string
  readonly crc: string
  /** module names (basenames of the imported `.api` paths) */
  readonly imports: ReadonlyArray<string>
  readonly structs: ReadonlyArray<StructDef>
  readonly enums: ReadonlyArray<EnumDef>
  readonly aliases: ReadonlyArray<AliasDef>
  readonly messages: ReadonlyArray<MessageDef>
  readonly services: ReadonlyArray<ServiceDef>
}

const Entry = Schema.Array(Schema.Unknown)

const ApiJsonSchema = Schema.Struct({
  module: Schema.optional(Schema.String),
  types: Schema.Array(Entry),
  messages: Schema.Array(Entry),
  unions: Schema.Array(Entry),
  enums: Schema.Array(Entry),
  enumflags: Schema.optionalWith(Schema.Array(Entry), { default: () => [] }),
  services: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({
      reply: Schema.String,
      stream: Schema.optional(Schema.Boolean),
      stream_msg: Schema.optional(Schema.String),
      events: Schema.optional(Schema.Array(Schema.String))
    })
  }),
  options: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  aliases: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ type: Schema.String, length: Schema.optional(Schema.Number) })
  }),
  vl_api_version: Schema.String,
  imports: Schema.Array(Schema.String)
})

export class ApiJsonError extends Error {
  constructor(readonly file: string, readonly where: string, readonly problem: string) {
    super(`${file}: ${where}: ${problem}`)
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseField = (file: string, where: string, raw: unknown): FieldDef => {
  if (!Array.isArray(raw) || raw.length < 2 || typeof raw[0] !== "string" || typeof raw[1] !== "string") {
    throw new ApiJsonError(file, where, `a field must be [type, name, ...], got ${JSON.stringify(raw)}`)
  }
  const [type, name, ...rest] = raw as [string, string, ...Array<unknown>]
  let options: Record<string, unknown> = {}
  const positional: Array<unknown> = []
  for (const r of rest) {
    if (isRecord(r)) options = r
    else positional.push(r)
  }
  const field: { -readonly [K in keyof FieldDef]: FieldDef[K] } = { type, name, options }
  if (positional.length >= 1) {
    const length = positional[0]
    if (typeof length !== "number" || !Number.isInteger(length) || length < 0) {
      throw new ApiJsonError(file, `${where}.${name}`, `array length must be a whole number, got ${JSON.stringify(length)}`)
    }
    field.length = length
  }
  if (positional.length >= 2) {
    const count = positional[1]
    if (typeof count !== "string") {
      throw new ApiJsonError(file, `${where}.${name}`, `count field must be a name, got ${JSON.stringify(count)}`)
    }
    field.countField = count
  }
  if (positional.length > 2) {
    throw new ApiJsonError(file, `${where}.${name}`, `unexpected field form ${JSON.stringify(raw)}`)
  }
  return field
}

const entryName = (file: string, section: string, raw: ReadonlyArray<unknown>, i: number): string => {
  if (typeof raw[0] !== "string") throw new ApiJsonError(file, `${section}[${i}]`, "the first element must be the name")
  return raw[0]
}

const parseStruct = (file: string, kind: "type" | "union", raw: ReadonlyArray<unknown>, i: number): StructDef => {
  const section = kind === "type" ? "types" : "unions"
  const name = entryName(file, section, raw, i)
  const fields = raw.slice(1).filter((r) => !isRecord(r)).map((r) => parseField(file, `${section}.${name}`, r))
  return { kind, name, fields }
}

const parseEnum = (file: string, kind: "enum" | "enumflag", raw: ReadonlyArray<unknown>, i: number): EnumDef => {
  const section = kind === "enum" ? "enums" : "enumflags"
  const name = entryName(file, section, raw, i)
  let type: IntType = "u32"
  const values: Array<readonly [string, number]> = []
  for (const r of raw.slice(1)) {
    if (isRecord(r)) {
      const t = r["enumtype"]
      if (t !== undefined) {
        if (typeof t !== "string" || !INT_TYPES.includes(t)) {
          throw new ApiJsonError(file, `${section}.${name}`, `enumtype must be an integer type, got ${JSON.stringify(t)}`)
        }
        type = t as IntType
      }
      continue
    }
    if (!Array.isArray(r) || typeof r[0] !== "string" || typeof r[1] !== "number" || !Number.isInteger(r[1])) {
      throw new ApiJsonError(file, `${section}.${name}`, `a value must be [NAME, integer], got ${JSON.stringify(r)}`)
    }
    values.push([r[0], r[1]])
  }
  if (values.length === 0) throw new ApiJsonError(file, `${section}.${name}`, "declares no values")
  return { kind, name, type, values }
}

const parseMessage = (file: string, raw: ReadonlyArray<unknown>, i: number): MessageDef => {
  const name = entryName(file, "messages", raw, i)
  const meta = raw.find(isRecord)
  const crc = meta?.["crc"]
  if (typeof crc !== "string" || !/^0x[0-9a-f]{8}$/.test(crc)) {
    throw new ApiJsonError(file, `messages.${name}`, `missing or malformed crc ${JSON.stringify(crc)}`)
  }
  const fields = raw.slice(1).filter((r) => !isRecord(r)).map((r) => parseField(file, `messages.${name}`, r))
  if (fields[0]?.name !== "_vl_msg_id") {
    throw new ApiJsonError(file, `messages.${name}`, "the first field must be _vl_msg_id")
  }
  return { name, crc, fields: fields.slice(1) }
}

const moduleOfImport = (path: string): string => path.replace(/^.*\//, "").replace(/\.api$/, "")

/** Parses the text of one `.api.json` file. */
export const parseApiJson = (file: string, text: string): ApiFile => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new ApiJsonError(file, "(file)", `not JSON: ${(e as Error).message}`)
  }
  const decoded = Schema.decodeUnknownEither(ApiJsonSchema)(json, { onExcessProperty: "ignore" })
  if (Either.isLeft(decoded)) {
    throw new ApiJsonError(file, "(structure)", ParseResult.TreeFormatter.formatErrorSync(decoded.left))
  }
  const d = decoded.right
  const module = d.module ?? file.replace(/^.*\//, "").replace(/\.api\.json$/, "")
  const version = d.options["version"]
  const services: Array<ServiceDef> = Object.entries(d.services).map(([request, s]) => ({
    request,
    reply: s.reply === "null" ? null : s.reply,
    stream: s.stream === true,
    ...(s.stream_msg !== undefined ? { streamMessage: s.stream_msg } : {}),
    ...(s.events !== undefined ? { events: s.events } : {})
  }))
  return {
    file,
    module,
    version: typeof version === "string" ? version : "0.0.0",
    crc: d.vl_api_version,
    imports: d.imports.map(moduleOfImport),
    structs: [
      ...d.types.map((r, i) => parseStruct(file, "type", r, i)),
      ...d.unions.map((r, i) => parseStruct(file, "union", r, i))
    ],
    enums: [
      ...d.enums.map((r, i) => parseEnum(file, "enum", r, i)),
      ...d.enumflags.map((r, i) => parseEnum(file, "enumflag", r, i))
    ],
    aliases: Object.entries(d.aliases).map(([name, a]) => ({
      kind: "alias" as const,
      name,
      type: a.type,
      ...(a.length !== undefined ? { length: a.length } : {})
    })),
    messages: d.messages.map((r, i) => parseMessage(file, r, i)),
    services
  }
}

/** `vl_api_foo_t` -> `foo`; undefined for built-in scalars. */
export const userTypeName = (type: string): string | undefined =>
  type.startsWith("vl_api_") && type.endsWith("_t") ? type.slice(7, -2) : undefined
