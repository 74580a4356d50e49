/**
 * The lb dump details as VPP puts them on the wire, including values the
 * generated TypeScript types cannot hold, and their exact encoding.
 *
 * VPP writes some details fields that are not declared values of their enum,
 * and our codec (strict on enums both ways) cannot encode those:
 * - `lb_vip_details.srv_type` (enum `lb_srv_type`) is `dscp << 24` for an L3DSR
 *   VIP (vpp-wire.md §3.8), e.g. 0x2e000000;
 * - `lb_vip_details.dscp` (enum `ip_dscp`) is any 0..63 for L3DSR, e.g. 5;
 * - `lb_vip.protocol` (enum `ip_proto`) is whatever u8 the VIP was added with:
 *   the requests carry it as a plain u8 and VPP does not check it, e.g. 7;
 * - `lb_vip.pfx` of the all-zero IPv6 VIP `::/N` is sent as IPv4 `0.0.0.0/N`
 *   (`ip_address_encode` goes by "first 12 bytes zero", the length by
 *   `ip46_prefix_is_ip4`), which for 32 < N < 96 is not a valid IPv4 prefix.
 * Those fields therefore hold the enum name when there is one and the plain
 * number otherwise, and the pfx text may carry an out-of-family length. The
 * `encode*` functions below produce the exact payload for any of them (the
 * bytes after the u16 message id, like `Codec.encode`): they encode a codec-valid
 * stand-in and patch the raw bytes, at offsets pinned by vpp-wire.md §2.3 and
 * checked in test/sim/lb-plugin.test.ts.
 */
import { Either } from "effect"
import { ip_types, lb, lb_types } from "../../vpp/binapi/index.js"
import * as Codec from "../../vpp/codec/Codec.js"
import * as Ip from "../../vpp/codec/Ip.js"

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

// Offsets in the payload (after the u16 id), vpp-wire.md §2.2/§2.3:
// context 0..3 | lb_vip: af 4, union 5..20, len 21, protocol 22, port 23..24 | ...
const VIP_PFX_LEN = 21
const VIP_PROTOCOL = 22
// lb_vip_details: encap 25..28, dscp 29, srv_type 30..33, target_port 34..35, flow_table_length 36..37
const VIP_DETAILS_DSCP = 29
const VIP_DETAILS_SRV_TYPE = 30

/** A codec-valid stand-in for a `lb_vip` and the raw bytes to patch over it. */
const vipForCodec = (v: WireLbVip): { readonly value: lb_types.LbVip; readonly len: number | undefined } => {
  const protocol: ip_types.IpProto = typeof v.protocol === "number" ? "IP_API_PROTO_HOPOPT" : v.protocol
  if (Ip.isPrefix(v.pfx)) return { value: { pfx: v.pfx, protocol, port: v.port }, len: undefined }
  const p = Ip.splitPrefix(v.pfx)
  if (p === undefined || !Ip.isIp(p.address) || p.length > 255) throw new RangeError(`bad lb_vip pfx ${v.pfx}`)
  return { value: { pfx: `${p.address}/0`, protocol, port: v.port }, len: p.length }
}

const patchVip = (out: Uint8Array, v: WireLbVip, len: number | undefined): void => {
  out[VIP_PROTOCOL] = protocolNumber(v.protocol)
  if (len !== undefined) out[VIP_PFX_LEN] = len
}

const encodeOrThrow = <A>(codec: Codec.Codec<A>, value: A): Uint8Array =>
  Either.getOrThrowWith(codec.encode(value), (e) => new RangeError(`lb details encode: ${e.reason} at ${e.field}`))

const writeU32 = (out: Uint8Array, at: number, v: number): void => {
  out[at] = (v >>> 24) & 0xff
  out[at + 1] = (v >>> 16) & 0xff
  out[at + 2] = (v >>> 8) & 0xff
  out[at + 3] = v & 0xff
}

/** The exact `lb_vip_details` payload (after the message id) VPP sends for `d`. */
export const encodeVipDetails = (d: VipDetails, context: number): Uint8Array => {
  const vip = vipForCodec(d.vip)
  const out = encodeOrThrow(Codec.of(lb.LbVipDetails.schema), {
    context,
    vip: vip.value,
    encap: d.encap,
    dscp: typeof d.dscp === "number" ? "IP_API_DSCP_CS0" : d.dscp,
    srv_type: typeof d.srv_type === "number" ? "LB_API_SRV_TYPE_CLUSTERIP" : d.srv_type,
    target_port: d.target_port,
    flow_table_length: d.flow_table_length
  })
  patchVip(out, d.vip, vip.len)
  if (typeof d.dscp === "number") out[VIP_DETAILS_DSCP] = d.dscp
  if (typeof d.srv_type === "number") writeU32(out, VIP_DETAILS_SRV_TYPE, d.srv_type)
  return out
}

/** The exact `lb_as_details` payload (after the message id) VPP sends for `d`. */
export const encodeAsDetails = (d: AsDetails, context: number): Uint8Array => {
  const vip = vipForCodec(d.vip)
  const out = encodeOrThrow(Codec.of(lb.LbAsDetails.schema), {
    context,
    vip: vip.value,
    app_srv: d.app_srv,
    flags: d.flags,
    in_use_since: d.in_use_since
  })
  patchVip(out, d.vip, vip.len)
  return out
}

/** The exact `lb_as_v2_details` payload (after the message id) VPP sends for `d`. */
export const encodeAsV2Details = (d: AsV2Details, context: number): Uint8Array => {
  const vip = vipForCodec(d.vip)
  const out = encodeOrThrow(Codec.of(lb.LbAsV2Details.schema), {
    context,
    vip: vip.value,
    app_srv: d.app_srv,
    flags: d.flags,
    in_use_since: d.in_use_since,
    weight: d.weight,
    num_buckets: d.num_buckets
  })
  patchVip(out, d.vip, vip.len)
  return out
}

/**
 * The value as the generated type, when every field is representable (what a
 * client decoding the bytes with our codec would get); undefined otherwise.
 */
export const vipDetailsValue = (d: VipDetails, context: number): lb.LbVipDetails | undefined =>
  typeof d.dscp === "number" ||
    typeof d.srv_type === "number" ||
    typeof d.vip.protocol === "number" ||
    !Ip.isPrefix(d.vip.pfx)
    ? undefined
    : { ...d, context, vip: { ...d.vip, protocol: d.vip.protocol }, dscp: d.dscp, srv_type: d.srv_type }
