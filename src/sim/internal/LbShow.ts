/**
 * The text of VPP's `show lb vips verbose`: `lb_show_vips_command_fn`
 * (`src/plugins/lb/cli.c`) printing each VIP with `format_lb_vip_detailed`
 * (`src/plugins/lb/lb.c`). The format strings, with `indent` = 0 (every VIP
 * is formatted into a fresh vector, so `format_white_space` prints nothing):
 *
 * ```
 * "%U %U [%lu] %U%s%s\n"            type, pool index, prefix, " src_ip_sticky", " removed"
 * "%U  new_size:%u\n"
 * "%U  protocol:%u port:%u\n"       only when port != 0
 * "%U  dscp:%u\n"                   IP4_L3DSR only
 * "%U  type:%s port:%u target_port:%u"   NAT4/NAT6 only, no "\n" (upstream as read)
 * "%U  counters:\n"
 * "%U    %s: %Lu\n"                 × LB_N_VIP_COUNTERS, vlib_get_simple_counter (summed over threads)
 * "%U  #as:%u\n"                    pool_elts (vip->as_indexes): lameduck ASes too
 * "%U    %U weight:%u buckets:%u flows:%Lu dpo:%u %s\n"   per AS, pool order; "used" or " removed"
 * ```
 *
 * and the command adds one "\n" per VIP (`vlib_cli_output (vm, "%U\n", ...)`),
 * so VIP blocks are separated by an empty line. The `src_ip_sticky` flag came
 * with lb 1.1.0 (v23.02); a fork's `Vrf (...)` lines are not reproduced.
 *
 * Without `verbose` the command prints each VIP on one line with
 * `format_lb_vip`:
 *
 * ```
 * "%U %U new_size:%u #as:%u%s"      type, prefix, new_size, pool_elts (as_indexes), " removed"
 * "  protocol:%u port:%u "          only when port != 0 (a trailing space)
 * "  dscp:%u"                       IP4_L3DSR only
 * " type:%s port:%u target_port:%u" NAT4/NAT6 only
 * ```
 *
 * and the command's "\n" ends the line. (Both as read at VPP b575ec2c56d7.)
 */
import * as Ip from "../../vpp/codec/Ip.js"
import { LB_VIP_COUNTERS } from "../../vpp/stats/Layout.js"
import * as Ip46 from "./Ip46.js"
import { ascii, type TextOut } from "./TextOut.js"

/** `lb_vip_type_strings`, indexed by `lb_vip_type_t` (the same order as the API's `lb_vip_type`). */
const VIP_TYPE_STRINGS = ["ip6-gre6", "ip6-gre4", "ip4-gre6", "ip4-gre4", "ip4-l3dsr", "ip4-nat4", "ip6-nat6"] as const
const L3DSR = 4
const NAT4 = 5
const NAT6 = 6
/** `LB_SRV_TYPE_CLUSTERIP` */
const CLUSTERIP = 0

/** `format_lb_vip_type` */
export const vipTypeString = (type: number): string => VIP_TYPE_STRINGS[type] ?? "_WRONG_TYPE_"

/**
 * `format_ip46_prefix (prefix, plen, IP46_TYPE_ANY)` (lb `util.c`): IPv4 when
 * `plen >= 96` and the first 12 bytes are zero, with the length back to IPv4's;
 * otherwise `format_ip6_address` and the stored length. So `::/64` prints as
 * `::/64` here, while `lb_vip_details` reports `0.0.0.0/64`.
 */
export const formatIp46Prefix = (prefix: Ip46.Ip46, plen: number): string =>
  plen >= 96 && Ip46.isIp4(prefix) ? `${Ip.formatIp4(prefix, 12)}/${plen - 96}` : `${Ip.formatIp6(prefix, 0)}/${plen}`

const swap16 = (v: number): number => ((v & 0xff) << 8) | ((v >>> 8) & 0xff)

export interface ShowAs {
  /** AS pool index */
  readonly index: number
  /** `format_ip46_address (IP46_TYPE_ANY)` of the address */
  readonly address: string
  readonly weight: number
  /** entries of the VIP's new-flow table pointing at this AS */
  readonly numBuckets: number
  /** `vlib_refcount_get (&lbm->as_refcount, as)`: sticky entries naming the AS (0 without a traffic model) */
  readonly flows?: number
  readonly used: boolean
}

/** A VIP as the listing prints it, but its ASes. */
export interface ShowVipHead {
  readonly index: number
  /** `lb_vip_type_t` */
  readonly type: number
  /** the stored (masked) ip46 prefix and its ip46 length */
  readonly prefix: Ip46.Ip46
  readonly plen: number
  readonly srcIpSticky: boolean
  readonly used: boolean
  /** `new_flow_table_mask + 1` */
  readonly flowTableLength: number
  readonly protocol: number
  /** host order, as the API handlers store it */
  readonly port: number
  /** the `encap_args` byte shared by `dscp` and `srv_type` */
  readonly encapByte: number
  /** the request's target_port T (VPP stores `htons (T)`) */
  readonly targetPort: number
  /** `vlib_get_simple_counter` of each counter, in `LB_VIP_COUNTERS` order */
  readonly counters: ReadonlyArray<bigint>
}

export interface ShowVip extends ShowVipHead {
  /** `vip->as_indexes` in pool order, lameduck ones included */
  readonly ases: ReadonlyArray<ShowAs>
}

/**
 * `format_lb_vip_detailed` (indent 0) is `writeVipHead` and a `writeAsLine`
 * per AS; `lb_show_vips_command_fn` with `verbose` adds a "\n" after each VIP
 * (`LbPlugin.showVipsVerbose` writes them straight from its pools).
 *
 * `format_lb_vip_detailed` up to and with `#as:`, for a VIP with `asCount` entries in `as_indexes`. */
export const writeVipHead = (o: TextOut, v: ShowVipHead, asCount: number): TextOut => {
  o.str(" ").str(vipTypeString(v.type)).str(" [").num(v.index).str("] ").str(formatIp46Prefix(v.prefix, v.plen))
  o.str(v.srcIpSticky ? " src_ip_sticky" : "").str(v.used ? "" : " removed").str("\n")
  o.str("  new_size:").num(v.flowTableLength).str("\n")
  if (v.port !== 0) o.str("  protocol:").num(v.protocol).str(" port:").num(v.port).str("\n")
  if (v.type === L3DSR) {
    o.str("  dscp:").num(v.encapByte).str("\n")
  } else if (v.type === NAT4 || v.type === NAT6) {
    // `ntohs (vip->port)` of a host-order port prints it byte-swapped; `ntohs`
    // of the stored `htons (T)` prints T. The format string has no "\n" in the
    // upstream source read, so "  counters:" follows on the same line.
    o.str("  type:").str(v.encapByte === CLUSTERIP ? "clusterip" : "nodeport").str(" port:").num(swap16(v.port))
      .str(" target_port:").num(v.targetPort)
  }
  o.str("  counters:\n")
  for (let i = 0; i < LB_VIP_COUNTERS.length; i++) o.str("    ").str(LB_VIP_COUNTERS[i]!).str(": ").num(v.counters[i] ?? 0n).str("\n")
  return o.str("  #as:").num(asCount).str("\n")
}

// The AS line's constant pieces, encoded once: 32,000 lines per listing at 1,000 x 32.
const AS_INDENT = ascii("    ")
const AS_WEIGHT = ascii(" weight:")
const AS_BUCKETS = ascii(" buckets:")
const AS_FLOWS = ascii(" flows:")
const AS_DPO = ascii(" dpo:")
const AS_USED = ascii(" used\n")
const AS_REMOVED = ascii("  removed\n")

/**
 * One AS line, `address` the text of `format_ip46_address (IP46_TYPE_ANY)` encoded.
 * Flows are the AS's references from the sticky tables (the traffic model's, 0 without it).
 * `as->dpo.dpoi_index` is the index of the load-balance DPO VPP stacked the AS
 * on (its next hop's FIB entry); the simulator has no FIB and prints the AS
 * pool index instead, which is at least stable and distinct per AS.
 */
export const writeAsLine = (
  o: TextOut,
  address: Uint8Array,
  weight: number,
  numBuckets: number,
  flows: number,
  index: number,
  used: boolean
): TextOut =>
  o.bytes(AS_INDENT).bytes(address).bytes(AS_WEIGHT).num(weight).bytes(AS_BUCKETS).num(numBuckets).bytes(AS_FLOWS).num(flows)
    .bytes(AS_DPO).num(index).bytes(used ? AS_USED : AS_REMOVED)

/** `format_lb_vip`: one line, no newline of its own. */
export const formatVip = (v: ShowVip): string => {
  let s = `${vipTypeString(v.type)} ${formatIp46Prefix(v.prefix, v.plen)} new_size:${v.flowTableLength} #as:${v.ases.length}` +
    (v.used ? "" : " removed")
  if (v.port !== 0) s += `  protocol:${v.protocol} port:${v.port} `
  if (v.type === L3DSR) {
    s += `  dscp:${v.encapByte}`
  } else if (v.type === NAT4 || v.type === NAT6) {
    s += ` type:${v.encapByte === CLUSTERIP ? "clusterip" : "nodeport"} port:${swap16(v.port)} target_port:${v.targetPort}`
  }
  return s
}

/** `lb_show_vips_command_fn` without `verbose`: one line per VIP but the placeholder. */
export const formatShowVips = (vips: ReadonlyArray<ShowVip>): string => vips.map((v) => `${formatVip(v)}\n`).join("")
