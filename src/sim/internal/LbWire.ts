/**
 * The lb dump details as VPP puts them on the wire, including values the
 * generated TypeScript types cannot hold, and their exact encoding.
 *
 * VPP writes some details fields that are not declared values of their enum
 * (which is why api-defs/overrides.json widens them in the generated types):
 * - `lb_vip_details.srv_type` (enum `lb_srv_type`) is `dscp << 24` for an L3DSR
 *   VIP (vpp-wire.md §3.8), e.g. 0x2e000000;
 * - `lb_vip_details.dscp` (enum `ip_dscp`) is any 0..63 for L3DSR, e.g. 5;
 * - `lb_vip.protocol` (enum `ip_proto`) is whatever u8 the VIP was added with:
 *   the requests carry it as a plain u8 and VPP does not check it, e.g. 7;
 * - `lb_vip.pfx` of the all-zero IPv6 VIP `::/N` is sent as IPv4 `0.0.0.0/N`
 *   (`ip_address_encode` goes by "first 12 bytes zero", the length by
 *   `ip46_prefix_is_ip4`), which for 32 < N < 96 is not a valid IPv4 prefix.
 * The model keeps those fields as the enum name when there is one and the
 * plain number otherwise, and the pfx text may carry an out-of-family length.
 * The `encode*` functions below produce the exact payload (the bytes after the
 * u16 message id, like `Codec.encode`) through the generated codecs.
 */
import { Either } from "effect"
import { ip_types, lb, lb_types } from "../../vpp/binapi/index.js"
import * as Codec from "../../vpp/codec/Codec.js"

/** `lb_vip` (lb_types.api) with the fields VPP may fill outside the declared enum. */
export interface WireLbVip {
  readonly pfx: string
  /** the `ip_proto` name, or the number when VPP sends an undeclared one */
  readonly protocol: ip_types.IpProto | number
  readonly port: number
}

/** `lb_vip_details` without `context`. */
export interface VipDetails {
  readonly vip: WireLbVip
  readonly encap: lb_types.LbEncapType
  /** the `ip_dscp` name, or the number (0..63) when it is not a declared one */
  readonly dscp: ip_types.IpDscp | number
  /** the `lb_srv_type` name, or the number: `stored byte << 24` (§3.8) */
  readonly srv_type: lb_types.LbSrvType | number
  readonly target_port: number
  readonly flow_table_length: number
}

/** `lb_as_details` without `context`. */
export interface AsDetails {
  readonly vip: WireLbVip
  readonly app_srv: string
  readonly flags: number
  readonly in_use_since: number
}

/** `lb_as_v2_details` without `context`. */
export interface AsV2Details extends AsDetails {
  readonly weight: number
  readonly num_buckets: number
}

const reverse = <K extends string>(values: Readonly<Record<K, number>>): ReadonlyMap<number, K> => {
  const m = new Map<number, K>()
  for (const [name, v] of Object.entries(values) as Array<[K, number]>) if (!m.has(v)) m.set(v, name)
  return m
}
const protoNames = reverse(ip_types.IpProtoValues)
const dscpNames = reverse(ip_types.IpDscpValues)
const srvTypeNames = reverse(lb_types.LbSrvTypeValues)

export const protocolValue = (n: number): ip_types.IpProto | number => protoNames.get(n) ?? n
export const dscpValue = (n: number): ip_types.IpDscp | number => dscpNames.get(n) ?? n
export const srvTypeValue = (n: number): lb_types.LbSrvType | number => srvTypeNames.get(n) ?? n

const protocolNumber = (p: ip_types.IpProto | number): number =>
  typeof p === "number" ? p : ip_types.IpProtoValues[p]
const dscpNumber = (d: ip_types.IpDscp | number): number => (typeof d === "number" ? d : ip_types.IpDscpValues[d])
const srvTypeNumber = (t: lb_types.LbSrvType | number): number =>
  typeof t === "number" ? t : lb_types.LbSrvTypeValues[t]

/**
 * The generated `lb_vip` value: the fields VPP gets wrong are plain numbers / a loose prefix there
 * (api-defs/overrides.json). One per VIP (the model keeps one `WireLbVip` per VIP until it changes),
 * not one per AS of a dump.
 */
const vipValues = new WeakMap<WireLbVip, lb_types.LbVip>()
const vipValue = (v: WireLbVip): lb_types.LbVip => {
  let value = vipValues.get(v)
  if (value === undefined) {
    value = { pfx: v.pfx, protocol: protocolNumber(v.protocol), port: v.port }
    vipValues.set(v, value)
  }
  return value
}

const encodeOrThrow = <A>(codec: Codec.Codec<A>, value: A): Uint8Array =>
  Either.getOrThrowWith(codec.encode(value), (e) => new RangeError(`lb details encode: ${e.reason} at ${e.field}`))

/**
 * The value as the generated type: what a client decoding VPP's bytes with our
 * codec gets.
 */
export const vipDetailsValue = (d: VipDetails, context: number): lb.LbVipDetails => ({
  context,
  vip: vipValue(d.vip),
  encap: d.encap,
  dscp: dscpNumber(d.dscp),
  srv_type: srvTypeNumber(d.srv_type),
  target_port: d.target_port,
  flow_table_length: d.flow_table_length
})

/** The generated `lb_as_details` value for `d`. */
export const asDetailsValue = (d: AsDetails, context: number): lb.LbAsDetails => ({
  context,
  vip: vipValue(d.vip),
  app_srv: d.app_srv,
  flags: d.flags,
  in_use_since: d.in_use_since
})

/** The generated `lb_as_v2_details` value for `d`. */
export const asV2DetailsValue = (d: AsV2Details, context: number): lb.LbAsV2Details => ({
  context,
  vip: vipValue(d.vip),
  app_srv: d.app_srv,
  flags: d.flags,
  in_use_since: d.in_use_since,
  weight: d.weight,
  num_buckets: d.num_buckets
})

/** The exact `lb_vip_details` payload (after the message id) VPP sends for `d`. */
export const encodeVipDetails = (d: VipDetails, context: number): Uint8Array =>
  encodeOrThrow(Codec.of(lb.LbVipDetails.schema), vipDetailsValue(d, context))

/** The exact `lb_as_details` payload (after the message id) VPP sends for `d`. */
export const encodeAsDetails = (d: AsDetails, context: number): Uint8Array =>
  encodeOrThrow(Codec.of(lb.LbAsDetails.schema), asDetailsValue(d, context))

/** The exact `lb_as_v2_details` payload (after the message id) VPP sends for `d`. */
export const encodeAsV2Details = (d: AsV2Details, context: number): Uint8Array =>
  encodeOrThrow(Codec.of(lb.LbAsV2Details.schema), asV2DetailsValue(d, context))
