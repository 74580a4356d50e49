/**
 * Turns parsed `.api.json` modules into TypeScript: one file per module under
 * `src/vpp/binapi/`, declaring a schema per type, union, alias, enum and
 * message (via `src/vpp/codec/Wire.ts`), plus an index. Pure: files in, text
 * out, so the staleness test can regenerate and compare.
 */
import type { AliasDef, ApiFile, EnumDef, FieldDef, MessageDef, StructDef } from "./ApiJson.js"
import { SCALARS, userTypeName } from "./ApiJson.js"
import { messageCrc } from "./Crc.js"

export class GenerateError extends Error {}

/** VPP types that users want as text; the codec handles them whole. */
const WELL_KNOWN: Readonly<Record<string, { readonly ctor: string; readonly size: number }>> = {
  ip4_address: { ctor: "ip4Address", size: 4 },
  ip6_address: { ctor: "ip6Address", size: 16 },
  address: { ctor: "address", size: 17 },
  prefix: { ctor: "prefix", size: 18 },
  ip4_prefix: { ctor: "ip4Prefix", size: 5 },
  ip6_prefix: { ctor: "ip6Prefix", size: 17 },
  mac_address: { ctor: "macAddress", size: 6 }
}

const SCALAR_SIZE: Readonly<Record<string, number>> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, f64: 8, bool: 1
}

export const pascal = (name: string): string =>
  name.split("_").filter((p) => p !== "").map((p) => p[0]!.toUpperCase() + p.slice(1)).join("")

type Def = StructDef | EnumDef | AliasDef

const isEnum = (d: Def | undefined): d is EnumDef => d?.kind === "enum" || d?.kind === "enumflag"
const isStruct = (d: Def | undefined): d is StructDef => d?.kind === "type" || d?.kind === "union"

/** Wire types a field may be widened to (api-defs/overrides.json), with their sizes. */
const OVERRIDE_TYPES: Readonly<Record<string, { readonly expr: string; readonly size: number }>> = {
  u8: { expr: "W.u8", size: 1 },
  u16: { expr: "W.u16", size: 2 },
  u32: { expr: "W.u32", size: 4 },
  loose_prefix: { expr: "W.loosePrefix", size: 18 }
}

/** `<type or message>.<field>` -> override type name */
export type Overrides = Readonly<Record<string, string>>

interface Context {
  readonly overrides: Overrides
  readonly usedOverrides: Set<string>
  readonly api: ApiFile
  readonly defs: ReadonlyMap<string, Def>
  /** module that owns each definition name seen in this file */
  readonly owner: (name: string) => string
  readonly usedImports: Set<string>
  readonly warnings: Array<string>
}

const defsOf = (api: ApiFile): Map<string, Def> => {
  const defs = new Map<string, Def>()
  for (const d of [...api.enums, ...api.aliases, ...api.structs]) defs.set(d.name, d)
  return defs
}

/** Wire size of a definition from the JSON alone (undefined when variable). */
const jsonSize = (type: string, defs: ReadonlyMap<string, Def>, length?: number): number | undefined => {
  const user = userTypeName(type)
  let one: number | undefined
  if (user === undefined) {
    if (type === "string") return length !== undefined && length > 0 ? length : undefined
    one = SCALAR_SIZE[type]
  } else {
    const d = defs.get(user)
    if (d === undefined) return undefined
    if (isEnum(d)) one = SCALAR_SIZE[d.type]
    else if (!isStruct(d)) one = jsonSize(d.type, defs, d.length)
    else {
      const sizes = d.fields.map((f) => (f.countField !== undefined ? undefined : jsonSize(f.type, defs, f.length)))
      if (sizes.some((s) => s === undefined)) return undefined
      one = d.kind === "union" ? Math.max(...(sizes as Array<number>)) : (sizes as Array<number>).reduce((a, b) => a + b, 0)
    }
  }
  if (one === undefined || length === 0) return undefined
  return length === undefined ? one : one * length
}

const ref = (ctx: Context, name: string): string => {
  const owner = ctx.owner(name)
  if (owner === ctx.api.module) return pascal(name)
  ctx.usedImports.add(owner)
  return `${owner}.${pascal(name)}`
}

const typeRef = (ctx: Context, f: FieldDef, where: string): string => {
  const user = userTypeName(f.type)
  if (user === undefined) {
    if (!SCALARS.includes(f.type)) throw new GenerateError(`${ctx.api.file}: ${where}.${f.name}: unknown type ${f.type}`)
    return `W.${f.type}`
  }
  if (!ctx.defs.has(user)) throw new GenerateError(`${ctx.api.file}: ${where}.${f.name}: undefined type ${f.type}`)
  return ref(ctx, user)
}

/** The discriminator of a union-typed field: declared, or the one earlier enum field whose values name every case. */
const discriminatorOf = (
  ctx: Context,
  union: StructDef,
  f: FieldDef,
  siblings: ReadonlyArray<FieldDef>,
  where: string
): string | undefined => {
  const declared = f.options["discriminator"]
  if (typeof declared === "string") return declared
  const cases = union.fields.map((m) => m.options["case"])
  if (cases.some((c) => typeof c !== "string")) return undefined
  const candidates = siblings.slice(0, siblings.indexOf(f)).filter((s) => {
    const d = ctx.defs.get(userTypeName(s.type) ?? "")
    return isEnum(d) && cases.every((c) => d.values.some(([n]) => n === c))
  })
  if (candidates.length === 1) return candidates[0]!.name
  ctx.warnings.push(
    `${ctx.api.file}: ${where}.${f.name}: union ${union.name} has no discriminator; decoding it needs the member named`
  )
  return undefined
}

const fieldExpr = (ctx: Context, f: FieldDef, siblings: ReadonlyArray<FieldDef>, where: string): string => {
  const at = `${ctx.api.file}: ${where}.${f.name}`
  const key = `${where.replace(/^[a-z]+\./, "")}.${f.name}`
  const override = ctx.overrides[key]
  if (override !== undefined) {
    const o = OVERRIDE_TYPES[override]
    if (o === undefined) throw new GenerateError(`api-defs/overrides.json: ${key}: unknown type ${override}`)
    const size = f.length === undefined ? jsonSize(f.type, ctx.defs) : undefined
    if (size !== o.size) {
      throw new GenerateError(`api-defs/overrides.json: ${key} is ${size ?? "variable"} bytes, ${override} is ${o.size}`)
    }
    ctx.usedOverrides.add(key)
    return o.expr
  }
  if (f.countField !== undefined && !siblings.slice(0, siblings.indexOf(f)).some((s) => s.name === f.countField)) {
    throw new GenerateError(`${at}: count field ${f.countField} is not an earlier field`)
  }
  if (f.type === "string") {
    if (f.countField !== undefined) throw new GenerateError(`${at}: a string cannot take a count field`)
    return f.length !== undefined && f.length > 0 ? `W.fixedString(${f.length})` : "W.varString"
  }
  if (f.length === undefined) {
    const base = typeRef(ctx, f, where)
    const user = userTypeName(f.type)
    const d = user === undefined ? undefined : ctx.defs.get(user)
    if (d?.kind === "union") {
      const disc = discriminatorOf(ctx, d, f, siblings, where)
      if (disc !== undefined) return `W.discriminated(${base}, ${JSON.stringify(disc)})`
    }
    return base
  }
  const count = f.countField !== undefined ? JSON.stringify(f.countField) : undefined
  if (f.type === "u8") {
    if (count !== undefined) return `W.varBytes(${count})`
    return f.length > 0 ? `W.fixedBytes(${f.length})` : "W.varBytes()"
  }
  const base = typeRef(ctx, f, where)
  if (count !== undefined) return `W.varArray(${base}, ${count})`
  return f.length > 0 ? `W.fixedArray(${base}, ${f.length})` : `W.varArray(${base})`
}

const fieldsBlock = (ctx: Context, fields: ReadonlyArray<FieldDef>, where: string, indent: string): string =>
  fields.length === 0
    ? "{}"
    : `{\n${fields.map((f) => `${indent}  ${f.name}: ${fieldExpr(ctx, f, fields, where)}`).join(",\n")}\n${indent}}`

const emitEnum = (e: EnumDef): string => {
  const name = pascal(e.name)
  const values = e.values.map(([n, v]) => `  ${n}: ${v}`).join(",\n")
  const ctor = e.kind === "enum" ? "enumeration" : "enumFlags"
  return [
    `export const ${name}Values = {\n${values}\n} as const`,
    `export const ${name} = W.${ctor}(${JSON.stringify(e.name)}, ${JSON.stringify(e.type)}, ${name}Values)`,
    `export type ${name} = typeof ${name}.Type`
  ].join("\n")
}

const emitAlias = (ctx: Context, a: AliasDef): string => {
  const name = pascal(a.name)
  const known = WELL_KNOWN[a.name]
  let expr: string
  if (known !== undefined) {
    expr = `W.${known.ctor}`
  } else {
    const f: FieldDef = { type: a.type, name: a.name, options: {}, ...(a.length !== undefined ? { length: a.length } : {}) }
    expr = fieldExpr(ctx, f, [f], "aliases")
  }
  return `export const ${name} = ${expr}\nexport type ${name} = typeof ${name}.Type`
}

const emitStruct = (ctx: Context, s: StructDef): string => {
  const name = pascal(s.name)
  const known = WELL_KNOWN[s.name]
  let expr: string
  if (known !== undefined) {
    expr = `W.${known.ctor}`
  } else if (s.kind === "union") {
    const members = s.fields.map((m) => {
      if (m.length !== undefined) throw new GenerateError(`${ctx.api.file}: unions.${s.name}.${m.name}: array members are not supported`)
      const kase = m.options["case"]
      return `  ${m.name}: [${typeRef(ctx, m, `unions.${s.name}`)}, ${JSON.stringify(typeof kase === "string" ? kase : "")}]`
    })
    expr = `W.union(${JSON.stringify(s.name)}, {\n${members.join(",\n")}\n})`
  } else {
    expr = `W.struct(${JSON.stringify(s.name)}, ${fieldsBlock(ctx, s.fields, `types.${s.name}`, "")})`
  }
  return `export const ${name} = ${expr}\nexport type ${name} = typeof ${name}.Type`
}

const emitMessage = (ctx: Context, m: MessageDef): string => {
  const name = pascal(m.name)
  const fields = fieldsBlock(ctx, m.fields, `messages.${m.name}`, "")
  return [
    `export const ${name} = W.message(${JSON.stringify(m.name)}, ${JSON.stringify(m.crc)}, W.struct(${JSON.stringify(m.name)}, ${fields}))`,
    `export type ${name} = typeof ${name}.schema.Type`
  ].join("\n")
}

/** Local definitions in an order where each comes after what it refers to (file order otherwise). */
const ordered = (ctx: Context): Array<Def> => {
  const local = [...ctx.defs.values()].filter((d) => ctx.owner(d.name) === ctx.api.module)
  const out: Array<Def> = []
  const state = new Map<string, "visiting" | "done">()
  const visit = (d: Def): void => {
    if (state.get(d.name) === "done") return
    if (state.get(d.name) === "visiting") throw new GenerateError(`${ctx.api.file}: type ${d.name} refers to itself`)
    state.set(d.name, "visiting")
    const refs = isStruct(d) ? d.fields.map((f) => f.type) : isEnum(d) ? [] : [d.type]
    if (WELL_KNOWN[d.name] === undefined) {
      for (const r of refs) {
        const dep = ctx.defs.get(userTypeName(r) ?? "")
        if (dep !== undefined && ctx.owner(dep.name) === ctx.api.module) visit(dep)
      }
    }
    state.set(d.name, "done")
    out.push(d)
  }
  local.forEach(visit)
  return out
}

const checkWellKnown = (api: ApiFile, defs: ReadonlyMap<string, Def>): void => {
  for (const [name, known] of Object.entries(WELL_KNOWN)) {
    const d = defs.get(name)
    if (d === undefined || isEnum(d)) continue
    const size = d.kind === "alias" ? jsonSize(d.type, defs, d.length) : jsonSize(`vl_api_${name}_t`, defs)
    if (size !== known.size) {
      throw new GenerateError(
        `${api.file}: ${name} is ${size ?? "variable"} bytes here, but the codec knows it as ${known.size}; this VPP's definition changed`
      )
    }
  }
}

const checkCrcs = (api: ApiFile, defs: ReadonlyMap<string, Def>): void => {
  const by = <K extends Def["kind"]>(kinds: ReadonlyArray<K>) =>
    new Map([...defs].filter(([, d]) => (kinds as ReadonlyArray<string>).includes(d.kind))) as Map<string, Extract<Def, { kind: K }>>
  const tables = { structs: by(["type", "union"]), enums: by(["enum", "enumflag"]), aliases: by(["alias"]) }
  for (const m of api.messages) {
    const crc = messageCrc(m, tables)
    if (crc !== m.crc) {
      throw new GenerateError(`${api.file}: message ${m.name} declares crc ${m.crc} but its fields give ${crc}`)
    }
  }
}

const HEADER = (api: ApiFile) =>
  `// Code generated by vpp-maglev codegen from ${api.module}.api.json ` +
  `(module ${api.module} ${api.version}, crc ${api.crc}). DO NOT EDIT.\n`

export interface Generated {
  /** file name (relative to the output directory) -> contents */
  readonly files: ReadonlyMap<string, string>
  readonly warnings: ReadonlyArray<string>
}

/** Generates the bindings for `apis` (every module to bind, imports included). */
export const generate = (apis: ReadonlyArray<ApiFile>, overrides: Overrides = {}): Generated => {
  const usedOverrides = new Set<string>()
  const byModule = new Map(apis.map((a) => [a.module, a]))
  const ownDefs = new Map(apis.map((a) => [a.module, defsOf(a)]))
  const ownerIn = (module: string, name: string): string => {
    const api = byModule.get(module)!
    for (const imp of api.imports) {
      if (byModule.has(imp) && ownDefs.get(imp)!.has(name)) return ownerIn(imp, name)
    }
    return module
  }
  const files = new Map<string, string>()
  const warnings: Array<string> = []
  for (const api of apis) {
    const defs = ownDefs.get(api.module)!
    checkWellKnown(api, defs)
    checkCrcs(api, defs)
    const ctx: Context = {
      overrides,
      usedOverrides,
      api,
      defs,
      owner: (name) => ownerIn(api.module, name),
      usedImports: new Set(),
      warnings
    }
    const blocks: Array<string> = []
    for (const d of ordered(ctx)) {
      if (isEnum(d)) blocks.push(emitEnum(d))
      else if (isStruct(d)) blocks.push(emitStruct(ctx, d))
      else blocks.push(emitAlias(ctx, d))
    }
    for (const m of api.messages) blocks.push(emitMessage(ctx, m))
    const exported = new Set<string>()
    for (const name of [
      ...[...defs.values()].filter((d) => ctx.owner(d.name) === api.module).flatMap((d) =>
        isEnum(d) ? [pascal(d.name), `${pascal(d.name)}Values`] : [pascal(d.name)]
      ),
      ...api.messages.map((m) => pascal(m.name)),
      "messages",
      "services",
      "definition"
    ]) {
      if (exported.has(name)) throw new GenerateError(`${api.file}: two definitions are both named ${name} in TypeScript`)
      exported.add(name)
    }
    const messages = api.messages.map((m) => `  ${m.name}: ${pascal(m.name)}`).join(",\n")
    const services = api.services.map((s) => {
      const parts = [
        `request: ${JSON.stringify(s.request)}`,
        `reply: ${JSON.stringify(s.reply)}`,
        `stream: ${s.stream}`,
        ...(s.streamMessage !== undefined ? [`streamMessage: ${JSON.stringify(s.streamMessage)}`] : []),
        ...(s.events !== undefined ? [`events: ${JSON.stringify(s.events)}`] : [])
      ]
      return `  { ${parts.join(", ")} }`
    })
    blocks.push(
      `export const messages = {\n${messages}\n} as const`,
      `export const services: ReadonlyArray<W.Service> = [\n${services.join(",\n")}\n]`,
      `export const definition: W.Module = {\n  name: ${JSON.stringify(api.module)},\n  version: ${JSON.stringify(api.version)},\n  crc: ${JSON.stringify(api.crc)},\n  messages,\n  services\n}`
    )
    const imports = [
      `import * as W from "../codec/Wire.js"`,
      ...[...ctx.usedImports].sort().map((m) => `import * as ${m} from "./${m}.js"`)
    ]
    files.set(`${api.module}.ts`, `${HEADER(api)}${imports.join("\n")}\n\n${blocks.join("\n\n")}\n`)
  }
  const unused = Object.keys(overrides).filter((k) => !usedOverrides.has(k))
  if (unused.length > 0) throw new GenerateError(`api-defs/overrides.json: no such field: ${unused.join(", ")}`)
  const names = apis.map((a) => a.module)
  const index = [
    `// Code generated by vpp-maglev codegen. DO NOT EDIT.`,
    `import type * as W from "../codec/Wire.js"`,
    ...names.map((m) => `import * as ${m} from "./${m}.js"`),
    ``,
    `export { ${names.join(", ")} }`,
    ``,
    `/** Every bound module, in manifest order. */`,
    `export const modules: ReadonlyArray<W.Module> = [\n${names.map((m) => `  ${m}.definition`).join(",\n")}\n]`,
    ``
  ].join("\n")
  files.set("index.ts", index)
  return { files, warnings }
}

