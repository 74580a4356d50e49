/**
 * A request as VPP's handler reads it, rather than as our client's strict
 * codecs accept it. VPP checks nothing but the message's size
 * (`msg_handler_internal`, `src/vlibapi/api_shared.c`): an enum field is the
 * integer on the wire (`clib_net_to_host_u32 (mp->encap)`), a prefix length is
 * any u8, and `ip_address_decode` (`src/vnet/ip/ip_types_api.c`) leaves its
 * output untouched for an address family other than 0 and 1.
 *
 * `schemaOf` widens a request message's top-level fields accordingly: enums
 * to their integer type, `address` to `{ af, un }`, `prefix` to
 * `{ address, len }`. `toModel` turns the widened value back into the text
 * form the lb model takes:
 * - an enum value its type declares becomes its name; any other stays a number;
 * - an address of family 0 / 1 becomes its IPv4 / IPv6 text; any other family
 *   becomes `::`, the 16 zero bytes VPP's zero-initialised `args.prefix`
 *   keeps (the AS handlers' stack variables would hold garbage: zero here);
 * - a prefix becomes `addr/len` with `len` as sent (0..255), the unknown family
 *   as `::/len` (IPv6 rules: no +96).
 */
import { Schema, SchemaAST } from "effect"
import * as Codec from "../../vpp/codec/Codec.js"
import * as Ip from "../../vpp/codec/Ip.js"
import * as W from "../../vpp/codec/Wire.js"

const RawAddress = W.struct("vpp_view_address", { af: W.u8, un: W.fixedBytes(16) })
const RawPrefix = W.struct("vpp_view_prefix", { address: RawAddress, len: W.u8 })

type Conversion = (v: unknown) => unknown

const INT: Readonly<Record<W.IntType, Schema.Schema.Any>> = { u8: W.u8, i8: W.i8, u16: W.u16, i16: W.i16, u32: W.u32, i32: W.i32 }

const addressText = (a: { readonly af: number; readonly un: Uint8Array }): string =>
  a.af === 0 ? Ip.formatIp4(a.un, 0) : a.af === 1 ? Ip.formatIp6(a.un, 0) : "::"

/** A field's wider schema and the way back, or undefined to keep it. */
const widen = (layout: Codec.Layout): { schema: Schema.Schema.Any; back: Conversion } | undefined => {
  switch (layout._tag) {
    case "Enum": {
      const names = new Map<number, string>()
      for (const [name, value] of Object.entries(layout.values)) if (!names.has(value)) names.set(value, name)
      return { schema: INT[layout.type], back: (v) => names.get(v as number) ?? v }
    }
    case "Address":
      return { schema: RawAddress, back: (v) => addressText(v as typeof RawAddress.Type) }
    case "Prefix":
    case "LoosePrefix": {
      return {
        schema: RawPrefix,
        back: (v) => {
          const p = v as typeof RawPrefix.Type
          return `${addressText(p.address)}/${p.len}`
        }
      }
    }
    default:
      return undefined
  }
}

export interface VppView {
  readonly schema: Schema.Schema.Any
  readonly toModel: (raw: Record<string, unknown>) => Record<string, unknown>
}

const cache = new WeakMap<SchemaAST.AST, VppView | undefined>()

/** The widened view of a request message's schema; undefined when no field needs it. */
export const viewOf = (schema: Schema.Schema.Any): VppView | undefined => {
  if (cache.has(schema.ast)) return cache.get(schema.ast)
  const layout = Codec.layoutOf(schema.ast)
  let node = schema.ast
  while (SchemaAST.isRefinement(node)) node = node.from
  let view: VppView | undefined
  if (layout._tag === "Struct" && SchemaAST.isTypeLiteral(node)) {
    const fields: Record<string, Schema.Schema.Any> = {}
    const back = new Map<string, Conversion>()
    node.propertySignatures.forEach((p, i) => {
      const name = String(p.name)
      const w = widen(layout.fields[i]!.layout)
      fields[name] = w?.schema ?? Schema.make(p.type)
      if (w !== undefined) back.set(name, w.back)
    })
    if (back.size > 0) {
      view = {
        schema: W.struct(layout.name, fields),
        toModel: (raw) => {
          const out: Record<string, unknown> = { ...raw }
          for (const [name, f] of back) out[name] = f(raw[name])
          return out
        }
      }
    }
  }
  cache.set(schema.ast, view)
  return view
}
