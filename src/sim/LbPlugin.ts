/**
 * The VPP `lb` plugin's control plane as a pure, synchronous state machine: what
 * `src/plugins/lb/{api.c,lb.c}` do with each request, following vpp-wire.md §3.
 * The simulator's API server decodes a request, calls the matching method here
 * with the decoded value and the time, and sends back the retval or the details
 * (it owns `client_index`, `context` and the framing).
 *
 * Time is VPP's: whole seconds since VPP started (`(u32) vlib_time_now()`),
 * passed in by the caller. Nothing here reads a clock or schedules anything; the
 * `lb-gc-process` timer is modelled by running its ticks (every `gcInterval`
 * seconds since start) whenever a call brings a later `now` (see `advance`).
 *
 * What is modelled, and why it is observable, is commented where it happens;
 * the §3.8 byte-order quirks are marked "QUIRK".
 *
 * Where vpp-wire.md is silent and the model chose (the pinned api.c was read;
 * for lb.c only an older version was available):
 * - GC comparisons use >= for the AS timer (`now >= last_used + 10`) and for
 *   the 60 s per-VIP gate (the older source uses > for both).
 * - The lb-gc-process timer ticks at exact multiples of `gcInterval`; quiet
 *   stretches are skipped in one step (a property test checks this against a
 *   collection at every tick).
 * - A reused VIP slot keeps the old encap arguments, so a GRE VIP in a slot a
 *   NAT VIP freed reports the old byte-swapped target_port (§3.8's "GRE VIPs
 *   report 0" holds for never-used slots).
 * - new_flows_table_length 0, and anything above 2^30, gives -70 (VPP would
 *   try to allocate 2^31 entries for 2^31).
 * - Deleting a lameduck AS that is due for collection frees it first; the
 *   mark lands in the freed slot, and the reply is 0.
 * - A v2 add of a new AS with is_flush logs no flush (only re-activation
 *   flushes); lb_flush_vip of a missing VIP returns 0 and logs nothing.
 * - NODEPORT is stored only for a `type` whose first wire byte is 1 (a value
 *   outside the enum, QUIRK); such a VIP claims its port for good, and a second
 *   claim leaves the VIP allocated and answers -81 (lb_vip_add's order).
 * - `restart()` keeps the mutation log and appends a "restart" record.
 */
import { lb, lb_types } from "../vpp/binapi/index.js"
import { textMemo } from "../internal/TextMemo.js"
import * as Ip from "../vpp/codec/Ip.js"
import * as Maglev from "../lb/Maglev.js"
import * as Ip46 from "./internal/Ip46.js"
import * as LbShow from "./internal/LbShow.js"
import * as LbWire from "./internal/LbWire.js"
import { Pool } from "./internal/Pool.js"
import { ascii, TextOut } from "./internal/TextOut.js"

export type { AsDetails, AsV2Details, VipDetails, WireLbVip } from "./internal/LbWire.js"
export {
  asDetailsValue,
  asV2DetailsValue,
  encodeAsDetails,
  encodeAsV2Details,
  encodeVipDetails,
  vipDetailsValue
} from "./internal/LbWire.js"

// ---------------------------------------------------------------------------
// Constants

/** The retvals the lb handlers send (vpp-wire.md §1.9). */
export const Retval = {
  OK: 0,
  INVALID_SW_IF_INDEX: -2,
  NO_SUCH_ENTRY: -6,
  INVALID_MEMORY_SIZE: -70,
  INVALID_ARGUMENT: -73,
  VALUE_EXIST: -81,
  INVALID_ADDRESS_FAMILY: -97
} as const

/** VPP's values (`lb_init`, `lb.c`; `LB_GARBAGE_RUN`, `LB_CONCURRENCY_TIMEOUT`). */
export const Defaults = {
  ip4_src_address: "255.255.255.255",
  ip6_src_address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  sticky_buckets_per_core: 1024,
  flow_timeout: 40,
  /** period of `lb-gc-process` (s) */
  gcInterval: 60,
  /** a VIP's AS garbage collection runs at most once per this many seconds */
  garbageRun: 60,
  /** a deleted AS is freed no earlier than this many seconds after its deletion */
  concurrencyTimeout: 10
} as const

const KEEP = 0xffffffff
const NEWLINE = 10
const VIP_USED = 1
const VIP_SRC_IP_STICKY = 2
const AS_USED = 1
/** `LB_SRV_TYPE_NODEPORT` */
const SRV_TYPE_NODEPORT = 1

const VipType = lb_types.LbVipTypeValues
const Encap = lb_types.LbEncapTypeValues
type VipTypeName = keyof typeof VipType

const vipTypeNames = new Map<number, VipTypeName>(
  (Object.entries(VipType) as Array<[VipTypeName, number]>).map(([n, v]) => [v, n])
)

/** `lb_vip_is_ip4` */
const typeIsIp4 = (t: number): boolean =>
  t === VipType.LB_API_VIP_TYPE_IP4_GRE6 ||
  t === VipType.LB_API_VIP_TYPE_IP4_GRE4 ||
  t === VipType.LB_API_VIP_TYPE_IP4_L3DSR ||
  t === VipType.LB_API_VIP_TYPE_IP4_NAT4
/** `lb_vip_is_ip6` */
const typeIsIp6 = (t: number): boolean =>
  t === VipType.LB_API_VIP_TYPE_IP6_GRE6 ||
  t === VipType.LB_API_VIP_TYPE_IP6_GRE4 ||
  t === VipType.LB_API_VIP_TYPE_IP6_NAT6
/** `lb_encap_is_ip4`: the family of the ASes (the tunnel's outer header), not of the VIP. */
const encapIsIp4 = (t: number): boolean =>
  t === VipType.LB_API_VIP_TYPE_IP4_GRE4 ||
  t === VipType.LB_API_VIP_TYPE_IP6_GRE4 ||
  t === VipType.LB_API_VIP_TYPE_IP4_L3DSR ||
  t === VipType.LB_API_VIP_TYPE_IP4_NAT4
const isNat = (t: number): boolean => t === VipType.LB_API_VIP_TYPE_IP4_NAT4 || t === VipType.LB_API_VIP_TYPE_IP6_NAT6

/** The api.c handlers' encap → type mapping; anything else leaves `type = 0` (IP6_GRE6). */
const encapToType = (prefixIsIp4: boolean, encap: number): number => {
  if (prefixIsIp4) {
    if (encap === Encap.LB_API_ENCAP_TYPE_GRE4) return VipType.LB_API_VIP_TYPE_IP4_GRE4
    if (encap === Encap.LB_API_ENCAP_TYPE_GRE6) return VipType.LB_API_VIP_TYPE_IP4_GRE6
    if (encap === Encap.LB_API_ENCAP_TYPE_L3DSR) return VipType.LB_API_VIP_TYPE_IP4_L3DSR
    if (encap === Encap.LB_API_ENCAP_TYPE_NAT4) return VipType.LB_API_VIP_TYPE_IP4_NAT4
  } else {
    if (encap === Encap.LB_API_ENCAP_TYPE_GRE4) return VipType.LB_API_VIP_TYPE_IP6_GRE4
    if (encap === Encap.LB_API_ENCAP_TYPE_GRE6) return VipType.LB_API_VIP_TYPE_IP6_GRE6
    if (encap === Encap.LB_API_ENCAP_TYPE_NAT6) return VipType.LB_API_VIP_TYPE_IP6_NAT6
  }
  return 0
}

/** `lb_vip_type_to_api_encap` (what `lb_vip_details.encap` reports). */
const typeToEncap = (t: number): lb_types.LbEncapType => {
  switch (t) {
    case VipType.LB_API_VIP_TYPE_IP4_GRE6:
    case VipType.LB_API_VIP_TYPE_IP6_GRE6:
      return "LB_API_ENCAP_TYPE_GRE6"
    case VipType.LB_API_VIP_TYPE_IP4_L3DSR:
      return "LB_API_ENCAP_TYPE_L3DSR"
    case VipType.LB_API_VIP_TYPE_IP4_NAT4:
      return "LB_API_ENCAP_TYPE_NAT4"
    case VipType.LB_API_VIP_TYPE_IP6_NAT6:
      return "LB_API_ENCAP_TYPE_NAT6"
    default:
      return "LB_API_ENCAP_TYPE_GRE4"
  }
}

/** vppinfra `is_pow2` on a u32: true for 0. */
const isPow2 = (x: number): boolean => ((x & (x - 1)) >>> 0) === 0

/** `!clib_u32_loop_gt(b, a)`, i.e. a ≥ b on the u32 circle (VPP's times are u32 seconds). */
const loopGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0

const swap16 = (v: number): number => ((v & 0xff) << 8) | ((v >>> 8) & 0xff)

const toTime = (now: number): number => {
  if (!(now >= 0) || !Number.isFinite(now)) throw new RangeError(`LbPlugin: now must be seconds since VPP start, got ${now}`)
  return Math.floor(now) >>> 0
}

const canonicalIp4 = (s: string): string => {
  const b = new Uint8Array(4)
  if (!Ip.parseIp4Into(s, b, 0)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`)
  return Ip.formatIp4(b, 0)
}
const canonicalIp6 = (s: string): string => {
  const b = new Uint8Array(16)
  if (!Ip.parseIp6Into(s, b, 0)) throw new RangeError(`not an IPv6 address: ${JSON.stringify(s)}`)
  return Ip.formatIp6(b, 0)
}

// ---------------------------------------------------------------------------
// Public types

/** A decoded request without the fields the API server handles. */
export type Request<T> = Omit<T, "client_index" | "context">

/**
 * A VIP request as VPP's handler reads it: `encap` and `type` are whatever
 * u32 is on the wire, so a value outside the enum arrives as a number
 * (`internal/VppView.ts`); a declared one arrives as its name.
 */
export type VipRequest<T extends lb.LbAddDelVip | lb.LbAddDelVipV2> =
  & Omit<Request<T>, "encap" | "type">
  & { readonly encap: lb_types.LbEncapType | number; readonly type: lb_types.LbSrvType | number }

export interface RetvalReply {
  readonly retval: number
}
export type ConfGetReply = Omit<lb.LbConfGetReply, "context">

export interface LbPluginOptions {
  /** `lb-gc-process` period in seconds; its ticks run at every multiple of it. 0 = no automatic ticks. Default 60. */
  readonly gcInterval?: number
  /** `LB_GARBAGE_RUN`: per-VIP collection at most once per this many seconds. Default 60. */
  readonly garbageRun?: number
  /** `LB_CONCURRENCY_TIMEOUT`: a deleted AS is freed once `now ≥ last_used + this`. Default 10. */
  readonly concurrencyTimeout?: number
  /** The `sw_if_index`es that exist (for `lb_add_del_intf_nat4/6`). Default `[0]` (`local0`). */
  readonly interfaces?: Iterable<number>
  /**
   * The largest `new_flows_table_length` accepted; larger powers of two get -70.
   * Default (and maximum) `Maglev.MAX_TABLE_LENGTH` (2^30). Real VPP would try to
   * allocate 2^31 × 4 bytes for 2^31; the model refuses it like 0 (§3.3 step 5).
   */
  readonly maxTableLength?: number
  /**
   * How many mutation records to keep (oldest dropped first). Default 100 000;
   * 0 keeps none (subscribers still get every record): the standalone vppsim,
   * where nothing reads them, would otherwise carry 100,000-200,000 records
   * through every garbage collection.
   */
  readonly logLimit?: number
}

/** The fields of a VIP as `lb_vip_details.vip` reports them, plus the pool index. */
export interface VipIndexEntry {
  readonly index: number
  readonly key: LbWire.WireLbVip
  /** false once deleted (until garbage collection frees the index) */
  readonly used: boolean
}

export interface AsSnapshot {
  readonly index: number
  readonly address: string
  readonly used: boolean
  readonly weight: number
  readonly lastUsed: number
  readonly numBuckets: number
}

export interface VipSnapshot {
  readonly index: number
  readonly key: LbWire.WireLbVip
  /** the stored ip46 prefix length (IPv4 + 96) */
  readonly plen: number
  readonly type: VipTypeName
  readonly encap: lb_types.LbEncapType
  readonly used: boolean
  readonly srcIpSticky: boolean
  readonly flowTableLength: number
  readonly lastGarbageCollection: number
  /** in the VIP's AS-index pool order (the dump order) */
  readonly ases: ReadonlyArray<AsSnapshot>
}

interface VipRef {
  /** VIP pool index */
  readonly vip: number
}
interface AsRef extends VipRef {
  /** AS pool index */
  readonly as: number
  readonly address: string
}

/** The details of each kind of mutation record. */
export interface MutationDetails {
  readonly conf: {
    readonly ip4_src_address: string
    readonly ip6_src_address: string
    readonly sticky_buckets_per_core: number
    readonly flow_timeout: number
  }
  readonly "vip-add": VipRef & {
    readonly key: LbWire.WireLbVip
    readonly type: VipTypeName
    readonly new_flows_table_length: number
    readonly src_ip_sticky: boolean
    /** the index was freed before and is reused (LIFO) */
    readonly reused: boolean
  }
  readonly "vip-del": VipRef & { readonly key: LbWire.WireLbVip }
  readonly "as-add": AsRef & { readonly weight: number; readonly reactivated: boolean }
  readonly "as-del": AsRef & { readonly wasActive: boolean; readonly cause: "request" | "vip-del" }
  readonly "as-weight": AsRef & { readonly from: number; readonly to: number }
  /** sticky sessions of one AS evicted (`is_flush`) */
  readonly "as-flush": AsRef
  /** sticky sessions of one VIP evicted (`lb_flush_vip`, VIP found) */
  readonly "vip-flush": VipRef
  readonly "gc-as": AsRef
  readonly "gc-vip": VipRef
  readonly "intf-nat": { readonly family: 4 | 6; readonly sw_if_index: number; readonly enable: boolean }
  readonly restart: Record<string, never>
}
export type MutationOp = keyof MutationDetails

/** One state change. `now` is the (u32) VPP time it happened at. */
export type LbMutation = {
  readonly [K in MutationOp]: {
    readonly seq: number
    readonly now: number
    readonly op: K
    readonly details: MutationDetails[K]
  }
}[MutationOp]

/** Request name → [decoded request, what `handle` returns]. */
export interface LbRequestMap {
  readonly lb_conf: readonly [Request<lb.LbConf>, RetvalReply]
  readonly lb_conf_get: readonly [Request<lb.LbConfGet>, ConfGetReply]
  readonly lb_add_del_vip: readonly [VipRequest<lb.LbAddDelVip>, RetvalReply]
  readonly lb_add_del_vip_v2: readonly [VipRequest<lb.LbAddDelVipV2>, RetvalReply]
  readonly lb_add_del_as: readonly [Request<lb.LbAddDelAs>, RetvalReply]
  readonly lb_add_del_as_v2: readonly [Request<lb.LbAddDelAsV2>, RetvalReply]
  readonly lb_as_set_weight: readonly [Request<lb.LbAsSetWeight>, RetvalReply]
  readonly lb_flush_vip: readonly [Request<lb.LbFlushVip>, RetvalReply]
  readonly lb_vip_dump: readonly [Request<lb.LbVipDump>, ReadonlyArray<LbWire.VipDetails>]
  readonly lb_as_dump: readonly [Request<lb.LbAsDump>, ReadonlyArray<LbWire.AsDetails>]
  readonly lb_as_v2_dump: readonly [Request<lb.LbAsV2Dump>, ReadonlyArray<LbWire.AsV2Details>]
  readonly lb_add_del_intf_nat4: readonly [Request<lb.LbAddDelIntfNat4>, RetvalReply]
  readonly lb_add_del_intf_nat6: readonly [Request<lb.LbAddDelIntfNat6>, RetvalReply]
}
export type LbRequestName = keyof LbRequestMap
export const requestNames: ReadonlyArray<LbRequestName> = [
  "lb_conf",
  "lb_conf_get",
  "lb_add_del_vip",
  "lb_add_del_vip_v2",
  "lb_add_del_as",
  "lb_add_del_as_v2",
  "lb_as_set_weight",
  "lb_flush_vip",
  "lb_vip_dump",
  "lb_as_dump",
  "lb_as_v2_dump",
  "lb_add_del_intf_nat4",
  "lb_add_del_intf_nat6"
]

// ---------------------------------------------------------------------------
// Internal records (lb.h `lb_vip_t`, `lb_as_t`, as far as observable)

interface VipRecord {
  /** masked ip46 prefix */
  prefix: Ip46.Ip46
  plen: number
  /** 255 for an all-port VIP */
  protocol: number
  /** host order; 0 = all-port */
  port: number
  /** `lb_vip_type_t` */
  type: number
  /**
   * `encap_args` is a union in which `dscp` (L3DSR) and `srv_type` (NAT) are the
   * same byte; `lb_vip_add` writes it only for those types and never clears it,
   * so a GRE VIP in a reused pool slot still reports its predecessor's value.
   */
  encapByte: number
  /** `encap_args.target_port` as the request's value T (VPP stores `htons(T)`); kept like `encapByte`. */
  targetPort: number
  flags: number
  /** `new_flow_table_mask + 1` */
  tableLength: number
  lastGarbageCollection: number
  /** `as_indexes`: a pool of AS pool indices */
  ases: Pool<number>
  /**
   * `Ip46.key` of each address in `ases` → its AS pool index: what
   * `lb_as_find_index_vip` finds by walking `ases` (one AS per address and VIP,
   * lameduck ones included), kept in step with `ases`.
   */
  asByAddress: Map<string, number>
  /** num_buckets per entry of `ases` (pool order), cleared whenever the table would be rebuilt or the pool changes */
  buckets: ReadonlyArray<number> | undefined
  /**
   * The listing's AS lines as last printed, valid while `buckets` is the array
   * they were printed with (every change to an AS line's address, weight, used
   * flag or to the pool clears `buckets`) and the flows are the same.
   */
  asLines: AsLines | undefined
  /** `prefixGroupKey(prefix, plen)`: the VIP's entry in the lookup index */
  group: string
  /** a per-port VIP whose `vip_index_per_port` entry was added (false after a refused NODEPORT claim) */
  portFilter: boolean
  /** `lb_vip_details.vip`, which only `lb_vip_add` changes */
  wire: LbWire.WireLbVip
}

/** A VIP's AS lines in `show lb vips verbose`, kept for the next listing. */
interface AsLines {
  readonly buckets: ReadonlyArray<number>
  /** the flows printed, per AS in pool order */
  readonly flows: Float64Array
  readonly bytes: Uint8Array
}

interface AsRecord {
  address: Ip46.Ip46
  text: string
  /** `text` encoded, for the listing's AS lines */
  textBytes: Uint8Array
  vip: number
  flags: number
  weight: number
  /** not reset by `pool_get`: 0 in a never-used slot, the previous occupant's in a reused one */
  lastUsed: number
}

const ALL_ONES = new Uint8Array(16).fill(0xff)

/** The prefix half of a VIP lookup key, which depends on the request's `pfx` text alone. */
interface PrefixKey {
  /** the ip46 prefix masked to `plen` (shared between lookups and VIPs: never mutated) */
  readonly prefix: Ip46.Ip46
  readonly plen: number
  readonly prefixIsIp4: boolean
  /** `prefixGroupKey(prefix, plen)` */
  readonly group: string
}

interface VipLookupKey {
  readonly pfx: PrefixKey
  readonly protocol: number
  readonly port: number
}

const prefixGroupKey = (prefix: Ip46.Ip46, plen: number): string => `${Ip46.key(prefix)}/${plen}`

/** One number for the rest of a VIP's key (protocol is a u8, port a u16). */
const portKey = (protocol: number, port: number): number => protocol * 0x10000 + port
const ALL_PORT_KEY = portKey(255, 0)

/**
 * The handlers' key normalisation of a `pfx` (§3.3): `plen = len + 96` for IPv4
 * (u8), the ip46 prefix masked to `plen`. Every AS request repeats its VIP's prefix.
 */
const prefixKey = textMemo(4096, (pfx): PrefixKey => {
  const d = Ip46.decodePrefix(pfx)
  const plen = (d.len + (d.af4 ? 96 : 0)) & 0xff
  const prefix = Ip46.mask(d.ip46, plen)
  return { prefix, plen, prefixIsIp4: Ip46.prefixIsIp4(d.ip46, plen), group: prefixGroupKey(prefix, plen) }
})

/** An AS address as `ip_address_decode` stores it, with its `Ip46.key` and its text as dumps report it. */
interface AsAddress {
  /** shared between requests and ASes: never mutated */
  readonly bytes: Ip46.Ip46
  readonly key: string
  readonly text: string
  readonly textBytes: Uint8Array
}

/** Every AS request names an address, and the same backends recur across VIPs. */
const asAddress = textMemo(16384, (sent): AsAddress => {
  const bytes = Ip46.fromAddress(sent)
  const text = Ip46.format(bytes)
  return { bytes, key: Ip46.key(bytes), text, textBytes: ascii(text) }
})

/** The USED VIPs (the placeholder aside) on one masked prefix and plen: the VIPs a lookup with that prefix can find. */
interface VipGroup {
  /** ascending pool index, the order `lb_vip_port_find_index` walks the pool in */
  readonly indices: Array<number>
  /** `portKey(protocol, port)` → pool index (`lb_vip_add` refuses a second USED VIP with one key) */
  readonly byPort: Map<number, number>
}

/** The `lb_vip` of the details: stored (masked) prefix, reported per family. */
const wireVip = (prefix: Ip46.Ip46, plen: number, protocol: number, port: number): LbWire.WireLbVip => {
  // `ip_address_encode(IP46_TYPE_ANY)` picks IPv4 by "first 12 bytes zero", the length
  // goes by `ip46_prefix_is_ip4` (that plus plen >= 96): so `::/0` reads `0.0.0.0/0`.
  const len = Ip46.prefixIsIp4(prefix, plen) ? plen - 96 : plen
  return { pfx: `${Ip46.format(prefix)}/${len}`, protocol: LbWire.protocolValue(protocol), port }
}

/** A never-used VIP slot's record (`pool_get` zeroes nothing, but a fresh slot is zero). */
const newVipRecord = (prefix: Ip46.Ip46, plen: number, protocol: number, port: number, flags: number): VipRecord => ({
  prefix,
  plen,
  protocol,
  port,
  type: 0,
  encapByte: 0,
  targetPort: 0,
  flags,
  tableLength: 1,
  lastGarbageCollection: 0,
  ases: new Pool<number>(),
  asByAddress: new Map(),
  buckets: undefined,
  asLines: undefined,
  group: prefixGroupKey(prefix, plen),
  portFilter: false,
  wire: wireVip(prefix, plen, protocol, port)
})

// ---------------------------------------------------------------------------
// The model

export class LbPlugin {
  private readonly gcInterval: number
  private readonly garbageRun: number
  private readonly concurrencyTimeout: number
  private readonly maxTableLength: number
  private readonly logLimit: number
  private readonly initialInterfaces: ReadonlyArray<number>
  /** `vlib_refcount_get (&lbm->as_refcount, as)`: the traffic model's sticky-table references (0 without traffic). */
  private asRefcount: (asIndex: number) => number = () => 0

  private ip4Src: string = Defaults.ip4_src_address
  private ip6Src: string = Defaults.ip6_src_address
  private stickyBuckets: number = Defaults.sticky_buckets_per_core
  private flowTimeout: number = Defaults.flow_timeout
  private vips = new Pool<VipRecord>()
  private ass = new Pool<AsRecord>()
  /** `prefixGroupKey` → the USED VIPs there; what the lookups read instead of walking `vips` */
  private vipGroups = new Map<string, VipGroup>()
  private interfaces = new Set<number>()
  private nat4 = new Set<number>()
  private nat6 = new Set<number>()
  /** `vip_index_by_nodeport`: ports claimed by NODEPORT NAT VIPs (never released, as in VPP) */
  private nodeports = new Set<number>()
  private counterLength = 0
  private nextTick: number

  private log: Array<LbMutation> = []
  private seq = 0
  private readonly listeners = new Set<(m: LbMutation) => void>()

  constructor(options: LbPluginOptions = {}) {
    this.gcInterval = options.gcInterval ?? Defaults.gcInterval
    this.garbageRun = options.garbageRun ?? Defaults.garbageRun
    this.concurrencyTimeout = options.concurrencyTimeout ?? Defaults.concurrencyTimeout
    this.maxTableLength = Math.min(options.maxTableLength ?? Maglev.MAX_TABLE_LENGTH, Maglev.MAX_TABLE_LENGTH)
    this.logLimit = options.logLimit ?? 100_000
    this.initialInterfaces = [...(options.interfaces ?? [0])]
    if (!(this.gcInterval >= 0) || !(this.garbageRun >= 0) || !(this.concurrencyTimeout >= 0)) {
      throw new RangeError("LbPlugin: timer options must be >= 0")
    }
    this.nextTick = this.gcInterval
    this.init()
  }

  /** `lb_init`: the defaults and the two hidden placeholders at pool index 0. */
  private init(): void {
    this.ip4Src = Defaults.ip4_src_address
    this.ip6Src = Defaults.ip6_src_address
    this.stickyBuckets = Defaults.sticky_buckets_per_core
    this.flowTimeout = Defaults.flow_timeout
    this.vips = new Pool<VipRecord>()
    this.ass = new Pool<AsRecord>()
    this.vipGroups = new Map()
    // USED, but no lookup can match it (no masked prefix is all ones at plen 0), so it is not indexed.
    this.vips.get(() => newVipRecord(ALL_ONES, 0, 255, 0, VIP_USED))
    const text = Ip46.format(ALL_ONES)
    this.ass.get(() => ({ address: ALL_ONES, text, textBytes: ascii(text), vip: 0xffffffff, flags: 0, weight: 0, lastUsed: 0 }))
    this.interfaces = new Set(this.initialInterfaces)
    this.nat4 = new Set()
    this.nat6 = new Set()
    this.nodeports = new Set()
    this.counterLength = 0
    this.nextTick = this.gcInterval
  }

  /** VPP restarted: everything back to `lb_init`'s state, time starts again at 0. Logged as "restart". */
  restart(): void {
    this.init()
    this.record(0, "restart", {})
  }

  // -------------------------------------------------------------------------
  // Mutation log and hooks

  private record<K extends MutationOp>(now: number, op: K, details: MutationDetails[K]): void {
    const m = { seq: ++this.seq, now, op, details } as LbMutation
    if (this.logLimit > 0) {
      this.log.push(m)
      if (this.log.length > 2 * this.logLimit) this.log = this.log.slice(this.log.length - this.logLimit)
    }
    for (const f of this.listeners) f(m)
  }

  /** The kept mutation records, oldest first. */
  mutations(): ReadonlyArray<LbMutation> {
    if (this.logLimit === 0) return []
    const start = Math.max(0, this.log.length - this.logLimit)
    return this.log.slice(start)
  }

  /** Records with `seq > seq` (use `lastSeq()` before an action, this after it). */
  mutationsSince(seq: number): ReadonlyArray<LbMutation> {
    return this.mutations().filter((m) => m.seq > seq)
  }

  /** The `seq` of the latest record (0 before any). */
  lastSeq(): number {
    return this.seq
  }

  clearMutations(): void {
    this.log = []
  }

  /** Calls `f` synchronously for every new record (the stats segment listens for "vip-add"). Returns the unsubscribe. */
  subscribe(f: (m: LbMutation) => void): () => void {
    this.listeners.add(f)
    return () => {
      this.listeners.delete(f)
    }
  }

  // -------------------------------------------------------------------------
  // Hooks for the stats segment and the simulator

  /**
   * Every VIP in the pool except the placeholder (index 0), ascending, including
   * deleted ones not yet collected. These are the column indices of the
   * `vip_counters` simple counters.
   */
  vipIndices(): Array<VipIndexEntry> {
    const out: Array<VipIndexEntry> = []
    this.vips.forEach((v, index) => {
      if (index !== 0) out.push({ index, key: v.wire, used: (v.flags & VIP_USED) !== 0 })
    })
    return out
  }

  /**
   * Length of each thread's `vip_counters` vector: 0 until the first VIP add (the
   * counters and their stats entries do not exist before it), then the highest
   * VIP index ever allocated + 1 (`vlib_validate_simple_counter` only grows). A
   * "vip-add" record means that column was zeroed.
   */
  vipCounterLength(): number {
    return this.counterLength
  }

  /** A VIP's state by pool index (including the placeholder and deleted ones), for tests and `show`-like output. */
  inspectVip(index: number): VipSnapshot | undefined {
    const v = this.vips.at(index)
    if (v === undefined) return undefined
    const buckets = this.bucketsOf(v)
    const ases: Array<AsSnapshot> = []
    v.ases.forEach((asIndex) => {
      const a = this.ass.at(asIndex)!
      const numBuckets = buckets[ases.length] ?? 0
      ases.push({ index: asIndex, address: a.text, used: (a.flags & AS_USED) !== 0, weight: a.weight, lastUsed: a.lastUsed, numBuckets })
    })
    return {
      index,
      key: v.wire,
      plen: v.plen,
      type: vipTypeNames.get(v.type) ?? "LB_API_VIP_TYPE_IP6_GRE6",
      encap: typeToEncap(v.type),
      used: (v.flags & VIP_USED) !== 0,
      srcIpSticky: (v.flags & VIP_SRC_IP_STICKY) !== 0,
      flowTableLength: v.tableLength,
      lastGarbageCollection: v.lastGarbageCollection,
      ases
    }
  }

  /**
   * What `show lb vips verbose` prints (see `internal/LbShow.ts`): every pool
   * VIP but the placeholder, ascending, deleted-but-uncollected ones marked
   * " removed". `counters` gives a VIP's four counter values (summed over
   * threads, `LB_VIP_COUNTERS` order): they live in the stats segment, not here.
   * Like the dumps, it runs the collection ticks due by `now` first; the CLI
   * itself collects nothing.
   */
  showVipsVerbose(
    counters: (vipIndex: number) => ReadonlyArray<bigint>,
    now?: number,
    flows: (asIndex: number) => number = () => 0
  ): string {
    if (now !== undefined) this.advance(now)
    // Written straight from the pools, without an object per AS (32,000 at 1,000 x 32).
    const o = new TextOut()
    this.vips.forEach((v, index) => {
      if (index === 0) return
      LbShow.writeVipHead(o, this.showVipHead(v, index, counters), v.ases.size)
      const buckets = this.bucketsOf(v)
      const kept = v.asLines
      if (kept !== undefined && kept.buckets === buckets && this.sameFlows(v, kept.flows, flows)) {
        o.bytes(kept.bytes)
      } else {
        const start = o.length
        const printed = new Float64Array(v.ases.size)
        let k = 0
        v.ases.forEach((asIndex) => {
          const a = this.ass.at(asIndex)!
          const f = flows(asIndex)
          printed[k] = f
          LbShow.writeAsLine(o, a.textBytes, a.weight, buckets[k++] ?? 0, f, asIndex, (a.flags & AS_USED) !== 0)
        })
        v.asLines = { buckets, flows: printed, bytes: o.since(start) }
      }
      o.byte(NEWLINE)
    })
    return o.toString()
  }

  /** Whether each AS of `v` has the flows `printed` says (the traffic model moves them; without it they stay 0). */
  private sameFlows(v: VipRecord, printed: Float64Array, flows: (asIndex: number) => number): boolean {
    let k = 0
    return !v.ases.some((asIndex) => flows(asIndex) !== printed[k++])
  }

  private showVipHead(v: VipRecord, index: number, counters: (vipIndex: number) => ReadonlyArray<bigint>): LbShow.ShowVipHead {
    return {
      index,
      type: v.type,
      prefix: v.prefix,
      plen: v.plen,
      srcIpSticky: (v.flags & VIP_SRC_IP_STICKY) !== 0,
      used: (v.flags & VIP_USED) !== 0,
      flowTableLength: v.tableLength,
      protocol: v.protocol,
      port: v.port,
      encapByte: v.encapByte,
      targetPort: v.targetPort,
      counters: counters(index)
    }
  }

  /** What `show lb vips` prints without `verbose` (`format_lb_vip`, one line per VIP). */
  showVipsBrief(now?: number): string {
    return LbShow.formatShowVips(this.showVips(() => [], now, () => 0))
  }

  /** Each pool VIP but the placeholder as the CLI prints it; one object per AS, made here (32,000 at 1,000 × 32). */
  private showVips(
    counters: (vipIndex: number) => ReadonlyArray<bigint>,
    now: number | undefined,
    flows: (asIndex: number) => number
  ): Array<LbShow.ShowVip> {
    if (now !== undefined) this.advance(now)
    const vips: Array<LbShow.ShowVip> = []
    this.vips.forEach((v, index) => {
      if (index === 0) return
      const buckets = this.bucketsOf(v)
      const ases: Array<LbShow.ShowAs> = []
      v.ases.forEach((asIndex) => {
        const a = this.ass.at(asIndex)!
        const numBuckets = buckets[ases.length] ?? 0
        ases.push({ index: asIndex, address: a.text, used: (a.flags & AS_USED) !== 0, weight: a.weight, numBuckets, flows: flows(asIndex) })
      })
      vips.push({ ...this.showVipHead(v, index, counters), ases })
    })
    return vips
  }

  /**
   * The VIP's new-flow table: bucket → AS pool index (0 = the drop AS). Built on
   * demand with the Maglev model; VPP holds it from the last AS change, which
   * is the same table because it is a function of the current ASes.
   */
  newFlowTable(index: number): ReadonlyArray<number> | undefined {
    const v = this.vips.at(index)
    if (v === undefined) return undefined
    const ids: Array<number> = []
    v.ases.forEach((a) => ids.push(a))
    const table = Maglev.newFlowTable(this.maglevAses(v), v.tableLength)
    return table.map((k) => (k === Maglev.DROP ? 0 : ids[k]!))
  }

  /**
   * Where the AS references of the sticky tables come from (the traffic model,
   * src/sim/Traffic.ts): garbage collection keeps a lameduck AS while any entry
   * names it, as `lb_vip_garbage_collection` does.
   */
  setAsRefcount(refcount: (asIndex: number) => number): void {
    this.asRefcount = refcount
  }

  /** Makes an interface exist (for `lb_add_del_intf_nat4/6`'s `sw_if_index` check). */
  addInterface(swIfIndex: number): void {
    this.interfaces.add(swIfIndex)
  }

  removeInterface(swIfIndex: number): void {
    this.interfaces.delete(swIfIndex)
    this.nat4.delete(swIfIndex)
    this.nat6.delete(swIfIndex)
  }

  /** Interfaces with the `lb-nat4-in2out` / `lb-nat6-in2out` feature enabled, ascending. */
  natInterfaces(): { readonly nat4: ReadonlyArray<number>; readonly nat6: ReadonlyArray<number> } {
    return { nat4: [...this.nat4].sort((a, b) => a - b), nat6: [...this.nat6].sort((a, b) => a - b) }
  }

  // -------------------------------------------------------------------------
  // Time and garbage collection (§3.5)

  /**
   * Runs the `lb-gc-process` ticks (at every multiple of `gcInterval`) that fall
   * in (last tick, now]. Every request method calls this first, so the state a
   * request sees at `now` includes the collections VPP's timer would have done;
   * the simulator need not run a timer of its own. A stretch of ticks with
   * nothing to collect is skipped in O(VIPs), still advancing each VIP's
   * last-collection time as those ticks would have.
   */
  advance(now: number): void {
    if (this.gcInterval <= 0) return
    toTime(now)
    const interval = this.gcInterval
    while (this.nextTick <= now) {
      if (this.collectable()) {
        this.garbageCollection(toTime(this.nextTick))
        this.nextTick += interval
        continue
      }
      const last = Math.max(this.nextTick, Math.floor(now / interval) * interval)
      const step = Math.max(1, Math.ceil(this.garbageRun / interval)) * interval
      this.vips.forEach((v) => {
        const due = Math.ceil((v.lastGarbageCollection + this.garbageRun) / interval) * interval
        const first = Math.max(this.nextTick, due)
        if (first <= last) v.lastGarbageCollection = toTime(first + Math.floor((last - first) / step) * step)
      })
      this.nextTick = last + interval
    }
  }

  /**
   * One run of `lb_garbage_collection` at `now` (what each `lb-gc-process` tick,
   * and the `lb vip` / `lb conf` CLIs, do), after the scheduled ticks up to `now`.
   */
  gc(now: number): void {
    this.advance(now)
    this.garbageCollection(toTime(now))
  }

  /** Whether a collection could free anything (a deleted VIP or a lameduck AS exists). */
  private collectable(): boolean {
    return this.vips.some((v, i) =>
      i !== 0 && ((v.flags & VIP_USED) === 0 || v.ases.some((a) => (this.ass.at(a)!.flags & AS_USED) === 0))
    )
  }

  /** `lb_garbage_collection`: every VIP's AS collection, then free the deleted VIPs left without ASes. */
  private garbageCollection(now: number): void {
    const freed: Array<number> = []
    this.vips.forEach((v, i) => {
      this.vipGarbageCollection(i, now)
      if ((v.flags & VIP_USED) === 0 && v.ases.size === 0) freed.push(i)
    })
    for (const i of freed) {
      this.vips.put(i)
      this.record(now, "gc-vip", { vip: i })
    }
  }

  /**
   * `lb_vip_garbage_collection`: at most once per `garbageRun` seconds (counted
   * from the VIP's creation or its last run), free every AS that is not USED and
   * was deleted at least `concurrencyTimeout` seconds ago and that no sticky-table
   * entry references it (`vlib_refcount_get (&lbm->as_refcount, ...) == 0`; always
   * so without the traffic model, see `setAsRefcount`). Both indices go back to
   * their pools' free lists in the VIP's AS-pool order.
   */
  private vipGarbageCollection(vipIndex: number, now: number): void {
    const v = this.vips.at(vipIndex)!
    if (!loopGe(now, v.lastGarbageCollection + this.garbageRun)) return
    v.lastGarbageCollection = now
    v.ases.forEach((asIndex, slot) => {
      const a = this.ass.at(asIndex)!
      if ((a.flags & AS_USED) === 0 && loopGe(now, a.lastUsed + this.concurrencyTimeout) && this.asRefcount(asIndex) === 0) {
        v.ases.put(slot)
        v.asByAddress.delete(Ip46.key(a.address))
        this.ass.put(asIndex)
        v.buckets = undefined
        this.record(now, "gc-as", { vip: vipIndex, as: asIndex, address: a.text })
      }
    })
  }

  // -------------------------------------------------------------------------
  // Lookups

  /** The handlers' key normalisation (§3.3): `prefixKey`, and protocol 255 when `port == 0`. */
  private lookupKey(pfx: string, protocol: number, port: number): VipLookupKey {
    return { pfx: prefixKey(pfx), protocol: port === 0 ? 255 : protocol & 0xff, port: port & 0xffff }
  }

  /**
   * `lb_vip_port_find_index`: the first USED VIP in pool order with this
   * prefix/plen that matches `kind`. Read from `vipGroups`, which holds exactly
   * the VIPs the pool walk would consider: the USED ones (the placeholder is USED
   * too, but no masked prefix equals its all-ones one). An all-port VIP is stored
   * with protocol 255, so "port 0" is one full key.
   */
  private findVip(k: VipLookupKey, kind: "same" | "all-port" | "diff-port"): number | undefined {
    const g = this.vipGroups.get(k.pfx.group)
    if (g === undefined) return undefined
    if (kind === "same") return g.byPort.get(portKey(k.protocol, k.port))
    if (kind === "all-port") return g.byPort.get(ALL_PORT_KEY)
    for (const i of g.indices) {
      const v = this.vips.at(i)!
      if (v.protocol !== k.protocol || v.port !== k.port) return i
    }
    return undefined
  }

  /** A VIP became USED (`lb_vip_add`): the lookups find it from now on. */
  private indexVip(index: number, v: VipRecord): void {
    let g = this.vipGroups.get(v.group)
    if (g === undefined) {
      g = { indices: [], byPort: new Map() }
      this.vipGroups.set(v.group, g)
    }
    const key = portKey(v.protocol, v.port)
    if (g.byPort.has(key)) throw new Error(`LbPlugin: VIP ${index} duplicates the key of VIP ${g.byPort.get(key)}`)
    g.byPort.set(key, index)
    let at = g.indices.length
    while (at > 0 && g.indices[at - 1]! > index) at--
    g.indices.splice(at, 0, index)
  }

  /** A VIP stopped being USED (`lb_vip_del`; collection frees it later, unseen by the lookups). */
  private unindexVip(index: number, v: VipRecord): void {
    const g = this.vipGroups.get(v.group)!
    g.byPort.delete(portKey(v.protocol, v.port))
    g.indices.splice(g.indices.indexOf(index), 1)
    if (g.indices.length === 0) this.vipGroups.delete(v.group)
  }

  /** `lb_as_find_index_vip`: the VIP's AS with this ip46 address, lameduck or not. */
  private findAs(v: VipRecord, address: AsAddress): number | undefined {
    return v.asByAddress.get(address.key)
  }

  // -------------------------------------------------------------------------
  // lb_conf / lb_conf_get (§3.2)

  conf(req: Request<lb.LbConf>, now: number): number {
    this.advance(now)
    const t = toTime(now)
    const sticky = req.sticky_buckets_per_core === KEEP ? this.stickyBuckets : req.sticky_buckets_per_core
    const timeout = req.flow_timeout === KEEP ? this.flowTimeout : req.flow_timeout
    // is_pow2(0) is true, so 0 is accepted; nothing is written on -70.
    if (!isPow2(sticky)) return Retval.INVALID_MEMORY_SIZE
    // Both source addresses are always overwritten: there is no "keep" value for them.
    this.ip4Src = canonicalIp4(req.ip4_src_address)
    this.ip6Src = canonicalIp6(req.ip6_src_address)
    this.stickyBuckets = sticky
    this.flowTimeout = timeout
    this.record(t, "conf", {
      ip4_src_address: this.ip4Src,
      ip6_src_address: this.ip6Src,
      sticky_buckets_per_core: sticky,
      flow_timeout: timeout
    })
    return Retval.OK
  }

  confGet(_req?: Request<lb.LbConfGet>, now?: number): ConfGetReply {
    if (now !== undefined) this.advance(now)
    return {
      retval: 0,
      ip4_src_address: this.ip4Src,
      ip6_src_address: this.ip6Src,
      sticky_buckets_per_core: this.stickyBuckets,
      flow_timeout: this.flowTimeout
    }
  }

  // -------------------------------------------------------------------------
  // VIPs (§3.3)

  addDelVip(req: VipRequest<lb.LbAddDelVip>, now: number): number {
    return this.addDelVipAny(req, false, now)
  }

  addDelVipV2(req: VipRequest<lb.LbAddDelVipV2>, now: number): number {
    return this.addDelVipAny(req, req.src_ip_sticky, now)
  }

  private addDelVipAny(req: VipRequest<lb.LbAddDelVip>, srcIpSticky: boolean, now: number): number {
    this.advance(now)
    const t = toTime(now)
    const k = this.lookupKey(req.pfx, req.protocol, req.port)
    if (req.is_del) {
      const i = this.findVip(k, "same")
      if (i === undefined) return Retval.NO_SUCH_ENTRY
      return this.vipDel(i, t)
    }
    return this.vipAdd(k, req, srcIpSticky, t)
  }

  /** The handler's argument building, then `lb_vip_add`'s checks in their order. */
  private vipAdd(k: VipLookupKey, req: VipRequest<lb.LbAddDelVip>, srcIpSticky: boolean, now: number): number {
    // `clib_net_to_host_u32 (mp->encap)`: any u32; one outside the enum maps to no
    // type, leaving `type = 0` (IP6_GRE6), so an IPv4 VIP gets -97 and an IPv6 one
    // becomes ip6-gre6.
    const encap = typeof req.encap === "number" ? req.encap : Encap[req.encap]
    const type = encapToType(k.pfx.prefixIsIp4, encap)
    const newLength = req.new_flows_table_length >>> 0
    // 1. the exact key exists
    if (this.findVip(k, "same") !== undefined) return Retval.VALUE_EXIST
    // 2. a per-port VIP where an all-port VIP covers the prefix
    if (k.port !== 0 && this.findVip(k, "all-port") !== undefined) return Retval.VALUE_EXIST
    // 3. an all-port VIP where per-port VIPs exist
    if (k.port === 0 && this.findVip(k, "diff-port") !== undefined) return Retval.VALUE_EXIST
    // 4. per-port VIPs on one prefix share a type (compared with the first other one in pool order)
    if (k.port !== 0) {
      const other = this.findVip(k, "diff-port")
      if (other !== undefined && this.vips.at(other)!.type !== type) return Retval.INVALID_ARGUMENT
    }
    // 5. is_pow2; 0 passes in VPP, which then builds a 2^32-bucket table: refused here instead (§3.3).
    if (newLength === 0 || !isPow2(newLength) || newLength > this.maxTableLength) return Retval.INVALID_MEMORY_SIZE
    // 6. the prefix family must match the type's (only an IPv4 prefix can fail: IPv6 always maps to an IPv6 type)
    if (k.pfx.prefixIsIp4 && !typeIsIp4(type)) return Retval.INVALID_ADDRESS_FAMILY
    if (!k.pfx.prefixIsIp4 && !typeIsIp6(type)) return Retval.INVALID_ADDRESS_FAMILY
    // 7. (L3DSR with dscp >= 64 → -81) cannot happen: the handler masks dscp with 0x3f.

    // The handler fills encap_args from the *encap*, lb_vip_add copies them by *type*.
    const dscp = req.dscp & 0x3f
    // QUIRK (§3.8): `args.encap_args.srv_type = mp->type` assigns the u32 enum, still in
    // network order, to a u8. On a little-endian host that keeps the first wire byte,
    // (type >>> 24) & 0xff, which is 0 for every declared value: NODEPORT (1) stores 0.
    const srvType = typeof req.type === "number" ? req.type : lb_types.LbSrvTypeValues[req.type]
    const srvTypeByte = (srvType >>> 24) & 0xff
    let reused = true
    const protocol = k.port !== 0 ? k.protocol : 255
    const index = this.vips.get((stale) => {
      reused = stale !== undefined
      const v: VipRecord = stale ?? newVipRecord(k.pfx.prefix, 0, 0, 0, 0)
      v.prefix = k.pfx.prefix
      v.plen = k.pfx.plen
      v.protocol = protocol
      v.port = k.port
      v.type = type
      v.flags = VIP_USED | (srcIpSticky ? VIP_SRC_IP_STICKY : 0)
      v.tableLength = newLength
      v.lastGarbageCollection = now
      v.ases = new Pool<number>()
      v.asByAddress = new Map()
      v.buckets = undefined
      v.group = k.pfx.group
      v.wire = wireVip(v.prefix, v.plen, protocol, k.port)
      if (type === VipType.LB_API_VIP_TYPE_IP4_L3DSR) {
        v.encapByte = dscp
      } else if (isNat(type)) {
        v.encapByte = srvTypeByte
        v.targetPort = req.target_port & 0xffff
      }
      return v
    })
    // vlib_validate_simple_counter + vlib_zero_simple_counter for the new index
    this.counterLength = Math.max(this.counterLength, index + 1)
    const v = this.vips.at(index)!
    v.portFilter = false
    this.indexVip(index, v)
    this.record(now, "vip-add", {
      vip: index,
      key: v.wire,
      type: vipTypeNames.get(type) ?? "LB_API_VIP_TYPE_IP6_GRE6",
      new_flows_table_length: newLength,
      src_ip_sticky: srcIpSticky,
      reused
    })
    // A NODEPORT NAT VIP (only a `type` whose first wire byte is 1 stores one, see
    // above) claims its port in `vip_index_by_nodeport`, which nothing ever clears.
    // A second claim fails *after* the VIP was allocated and made USED: the VIP
    // stays, without its per-port filter, and the reply is -81.
    if (isNat(type) && k.port !== 0 && srvTypeByte === SRV_TYPE_NODEPORT) {
      if (this.nodeports.has(k.port)) return Retval.VALUE_EXIST
      this.nodeports.add(k.port)
    }
    // lb_vip_add_port_filter
    v.portFilter = k.port !== 0
    return Retval.OK
  }

  /**
   * `lb_vip_del`: all its ASes go lameduck through `lb_vip_del_ass_withlock`
   * (no flush; that runs the VIP's collection first), then USED is cleared. The
   * index stays allocated, and the ASes listed by `lb_as_dump`, until collection.
   */
  private vipDel(index: number, now: number): number {
    const v = this.vips.at(index)!
    // A copy: the collection `delAses` runs first may free some of them.
    const asIndices: Array<number> = []
    v.ases.forEach((a) => asIndices.push(a))
    if (asIndices.length > 0) this.delAses(index, asIndices, false, now, "vip-del")
    v.flags &= ~VIP_USED
    this.unindexVip(index, v)
    this.record(now, "vip-del", { vip: index, key: v.wire })
    // lb_vip_del_port_filter fails for a per-port VIP that never got its filter
    // (a refused NODEPORT claim): -6, the VIP deleted all the same.
    return v.port !== 0 && !v.portFilter ? Retval.NO_SUCH_ENTRY : Retval.OK
  }

  // -------------------------------------------------------------------------
  // ASes (§3.4)

  addDelAs(req: Request<lb.LbAddDelAs>, now: number): number {
    // v1: weight 100, never a flush on add; `is_flush` applies to delete.
    return this.addDelAsAny(req, 100, req.is_flush && req.is_del, now)
  }

  addDelAsV2(req: Request<lb.LbAddDelAsV2>, now: number): number {
    return this.addDelAsAny(req, req.weight, req.is_flush, now)
  }

  private addDelAsAny(req: Request<lb.LbAddDelAs>, weight: number, flush: boolean, now: number): number {
    this.advance(now)
    const t = toTime(now)
    const vipIndex = this.findVip(this.lookupKey(req.pfx, req.protocol, req.port), "same")
    if (vipIndex === undefined) return Retval.NO_SUCH_ENTRY
    const address = asAddress(req.as_address)
    if (req.is_del) {
      const asIndex = this.findAs(this.vips.at(vipIndex)!, address)
      if (asIndex === undefined) return Retval.NO_SUCH_ENTRY
      this.delAses(vipIndex, [asIndex], flush, t, "request")
      return Retval.OK
    }
    return this.addAs(vipIndex, address, weight & 0xff, flush, t)
  }

  /** `lb_vip_add_ass` for one address. */
  private addAs(vipIndex: number, address: AsAddress, weight: number, flush: boolean, now: number): number {
    const v = this.vips.at(vipIndex)!
    const existing = this.findAs(v, address)
    if (existing !== undefined) {
      const a = this.ass.at(existing)!
      if ((a.flags & AS_USED) !== 0) return Retval.VALUE_EXIST
      // Re-activated in place: same indices, new weight, last_used unchanged.
      a.flags = AS_USED
      a.weight = weight
      this.record(now, "as-add", { vip: vipIndex, as: existing, address: a.text, weight, reactivated: true })
      if (flush) this.record(now, "as-flush", { vip: vipIndex, as: existing, address: a.text })
    } else {
      // The family check runs only for a new AS ("exists" is checked first).
      if (Ip46.isIp4(address.bytes) !== encapIsIp4(v.type)) return Retval.INVALID_ADDRESS_FAMILY
      const text = address.text
      const asIndex = this.ass.get((stale) => {
        const a: AsRecord = stale ?? { address: address.bytes, text, textBytes: address.textBytes, vip: vipIndex, flags: 0, weight: 0, lastUsed: 0 }
        a.address = address.bytes
        a.text = text
        a.textBytes = address.textBytes
        a.vip = vipIndex
        a.flags = AS_USED
        a.weight = weight
        return a
      })
      v.ases.get(() => asIndex)
      v.asByAddress.set(address.key, asIndex)
      this.record(now, "as-add", { vip: vipIndex, as: asIndex, address: text, weight, reactivated: false })
    }
    v.buckets = undefined
    this.vipGarbageCollection(vipIndex, now)
    return Retval.OK
  }

  /**
   * `lb_vip_del_ass_withlock`: the VIP's collection runs *after* the ASes were
   * looked up and *before* they are marked, so an already-lameduck AS that is due
   * is freed right there (reply 0, gone from dumps) and the mark lands in its
   * freed slot, where the next AS to reuse the index finds it as `last_used`.
   */
  private delAses(
    vipIndex: number,
    asIndices: ReadonlyArray<number>,
    flush: boolean,
    now: number,
    cause: "request" | "vip-del"
  ): void {
    const v = this.vips.at(vipIndex)!
    this.vipGarbageCollection(vipIndex, now)
    for (const asIndex of asIndices) {
      const a = this.ass.raw(asIndex)!
      const wasActive = (a.flags & AS_USED) !== 0
      a.flags &= ~AS_USED
      a.lastUsed = now
      if (!this.ass.isLive(asIndex)) continue
      this.record(now, "as-del", { vip: vipIndex, as: asIndex, address: a.text, wasActive, cause })
      if (flush) this.record(now, "as-flush", { vip: vipIndex, as: asIndex, address: a.text })
    }
    v.buckets = undefined
  }

  asSetWeight(req: Request<lb.LbAsSetWeight>, now: number): number {
    this.advance(now)
    const t = toTime(now)
    const vipIndex = this.findVip(this.lookupKey(req.pfx, req.protocol, req.port), "same")
    if (vipIndex === undefined) return Retval.NO_SUCH_ENTRY
    const v = this.vips.at(vipIndex)!
    const asIndex = this.findAs(v, asAddress(req.as_address))
    const a = asIndex === undefined ? undefined : this.ass.at(asIndex)
    if (asIndex === undefined || a === undefined || (a.flags & AS_USED) === 0) return Retval.NO_SUCH_ENTRY
    const from = a.weight
    a.weight = req.weight & 0xff
    v.buckets = undefined
    this.record(t, "as-weight", { vip: vipIndex, as: asIndex, address: a.text, from, to: a.weight })
    if (req.is_flush) this.record(t, "as-flush", { vip: vipIndex, as: asIndex, address: a.text })
    return Retval.OK
  }

  /**
   * `lb_flush_vip`: the lookup's result is overwritten by the flush's, so the
   * reply is always 0, found or not. Only a found VIP is logged (a flush of an
   * unknown one evicts nothing observable).
   */
  flushVip(req: Request<lb.LbFlushVip>, now: number): number {
    this.advance(now)
    const vipIndex = this.findVip(this.lookupKey(req.pfx, req.protocol, req.port), "same")
    if (vipIndex !== undefined) this.record(toTime(now), "vip-flush", { vip: vipIndex })
    return Retval.OK
  }

  // -------------------------------------------------------------------------
  // NAT interfaces

  addDelIntfNat4(req: Request<lb.LbAddDelIntfNat4>, now: number): number {
    return this.intfNat(4, req, now)
  }

  addDelIntfNat6(req: Request<lb.LbAddDelIntfNat6>, now: number): number {
    return this.intfNat(6, req, now)
  }

  /** `VALIDATE_SW_IF_INDEX` (-2 for an index with no interface), then the feature is enabled or disabled: 0. */
  private intfNat(family: 4 | 6, req: Request<lb.LbAddDelIntfNat4>, now: number): number {
    this.advance(now)
    if (!this.interfaces.has(req.sw_if_index)) return Retval.INVALID_SW_IF_INDEX
    const set = family === 4 ? this.nat4 : this.nat6
    if (req.is_add) set.add(req.sw_if_index)
    else set.delete(req.sw_if_index)
    this.record(toTime(now), "intf-nat", { family, sw_if_index: req.sw_if_index, enable: req.is_add })
    return Retval.OK
  }

  // -------------------------------------------------------------------------
  // Dumps (§3.7)

  /**
   * `lb_vip_dump`: every USED VIP but the placeholder, ascending pool index.
   * The request's filter fields are ignored.
   */
  vipDump(_req?: Request<lb.LbVipDump>, now?: number): Array<LbWire.VipDetails> {
    if (now !== undefined) this.advance(now)
    const out: Array<LbWire.VipDetails> = []
    this.vips.forEach((v, i) => {
      if (i === 0 || (v.flags & VIP_USED) === 0) return
      out.push({
        vip: v.wire,
        encap: typeToEncap(v.type),
        // QUIRK (§3.8): `dscp` and `srv_type` are one byte of a union: a NAT VIP reports
        // its srv_type byte (0) as dscp, an L3DSR VIP its dscp as srv_type (below).
        dscp: LbWire.dscpValue(v.encapByte),
        // QUIRK (§3.8): the u8 is assigned to the u32 field without htonl, so a stored
        // value s goes on the wire as s << 24 (L3DSR with dscp 46 reports 0x2e000000).
        srv_type: LbWire.srvTypeValue((v.encapByte << 24) >>> 0),
        // QUIRK (§3.8): stored as htons(T), then htons'd again into the reply, so a
        // client reads T byte-swapped (8443 → 64288). 0 for a GRE VIP in a fresh slot.
        target_port: swap16(v.targetPort),
        // `htons(mask + 1)`: the u16 field truncates, 65536 reports 0.
        flow_table_length: v.tableLength & 0xffff
      })
    })
    return out
  }

  asDump(req: Request<lb.LbAsDump>, now?: number): Array<LbWire.AsDetails> {
    if (now !== undefined) this.advance(now)
    return this.asDumpAny(req, false)
  }

  asV2Dump(req: Request<lb.LbAsV2Dump>, now?: number): Array<LbWire.AsV2Details> {
    if (now !== undefined) this.advance(now)
    return this.asDumpAny(req, true) as Array<LbWire.AsV2Details>
  }

  /**
   * `lb_as_dump` / `lb_as_v2_dump`: every pool VIP (deleted-but-uncollected
   * ones too), each VIP's ASes in AS-pool order, lameduck ones included.
   *
   * The filter compares the *raw* 16 bytes of the request's `address_union`
   * with the stored ip46 prefix: all-zero bytes mean "dump all"; otherwise they
   * must equal it and `protocol`/`port` must equal the VIP's exactly (no
   * port-0 → 255 normalisation here, and `len` is ignored). VPP BUG: the union
   * carries IPv4 in its first 4 bytes, ip46 in its last 4, so a filter for an
   * IPv4 VIP matches nothing (it can match an IPv6 VIP whose prefix starts with
   * those 4 bytes and is zero after them).
   */
  private asDumpAny(req: Request<lb.LbAsDump>, v2: boolean): Array<LbWire.AsDetails | LbWire.AsV2Details> {
    return Array.from(this.asDetails(req, v2))
  }

  /**
   * `lb_as_dump` / `lb_as_v2_dump` after the collection ticks due by `now`, the details
   * made one at a time as they are read (the API server encodes each at once: at 32,000
   * ASes, an array of them and of their replies lived long enough to be copied by the
   * scavenges). The request is checked here, not when the first detail is read.
   */
  dumpAses(req: Request<lb.LbAsDump>, now: number | undefined, v2: boolean): Iterable<LbWire.AsDetails | LbWire.AsV2Details> {
    if (now !== undefined) this.advance(now)
    return this.asDetails(req, v2)
  }

  private asDetails(req: Request<lb.LbAsDump>, v2: boolean): Iterable<LbWire.AsDetails | LbWire.AsV2Details> {
    const p = Ip.splitPrefix(req.pfx)
    if (p === undefined) throw new RangeError(`not a prefix: ${JSON.stringify(req.pfx)}`)
    const union = Ip46.unionBytes(p.address)
    return this.asDetailsOf(union, Ip46.isZero(union), req.protocol, req.port, v2)
  }

  /** The pools walked as `pool_foreach` walks them, VIPs ascending, each VIP's ASes in its AS-pool order. */
  private *asDetailsOf(
    union: Ip46.Ip46,
    all: boolean,
    protocol: number,
    port: number,
    v2: boolean
  ): Generator<LbWire.AsDetails | LbWire.AsV2Details> {
    const vips = this.vips
    for (let i = 0; i < vips.length; i++) {
      const v = vips.at(i)
      if (v === undefined) continue
      if (!all && !(Ip46.equal(union, v.prefix) && protocol === v.protocol && port === v.port)) continue
      if (v.ases.size === 0) continue
      const vip = v.wire
      const buckets = v2 ? this.bucketsOf(v) : []
      const ases = v.ases
      let position = 0
      for (let slot = 0; slot < ases.length; slot++) {
        const asIndex = ases.at(slot)
        if (asIndex === undefined) continue
        const k = position++
        if (asIndex === 0) continue
        const a = this.ass.at(asIndex)!
        yield v2
          ? { vip, app_srv: a.text, flags: a.flags & 0xff, in_use_since: a.lastUsed, weight: a.weight, num_buckets: buckets[k] ?? 0 }
          : { vip, app_srv: a.text, flags: a.flags & 0xff, in_use_since: a.lastUsed }
      }
    }
  }

  private maglevAses(v: VipRecord): Array<Maglev.MaglevAs> {
    const out: Array<Maglev.MaglevAs> = []
    v.ases.forEach((asIndex) => {
      const a = this.ass.at(asIndex)!
      out.push({ address: a.text, weight: a.weight, used: (a.flags & AS_USED) !== 0 })
    })
    return out
  }

  /** num_buckets per AS of the VIP (AS-pool order): what counting the current new-flow table gives. */
  private bucketsOf(v: VipRecord): ReadonlyArray<number> {
    if (v.buckets === undefined) {
      v.buckets = v.ases.size === 0 ? [] : Maglev.bucketCounts(this.maglevAses(v), v.tableLength)
    }
    return v.buckets
  }

  // -------------------------------------------------------------------------
  // Dispatch by message name

  /**
   * The reply body (without `context`) for a decoded request: `{ retval }`, the
   * `lb_conf_get_reply` fields, or the list of details for a dump.
   */
  handle<K extends LbRequestName>(name: K, req: LbRequestMap[K][0], now: number): LbRequestMap[K][1] {
    return this.dispatch(name, req as never, now) as LbRequestMap[K][1]
  }

  // One switch, no closure per call: every request of a 33,000-message burst passes here.
  private dispatch(name: LbRequestName, r: never, now: number): unknown {
    switch (name) {
      case "lb_conf":
        return { retval: this.conf(r, now) }
      case "lb_conf_get":
        return this.confGet(r, now)
      case "lb_add_del_vip":
        return { retval: this.addDelVip(r, now) }
      case "lb_add_del_vip_v2":
        return { retval: this.addDelVipV2(r, now) }
      case "lb_add_del_as":
        return { retval: this.addDelAs(r, now) }
      case "lb_add_del_as_v2":
        return { retval: this.addDelAsV2(r, now) }
      case "lb_as_set_weight":
        return { retval: this.asSetWeight(r, now) }
      case "lb_flush_vip":
        return { retval: this.flushVip(r, now) }
      case "lb_vip_dump":
        return this.vipDump(r, now)
      case "lb_as_dump":
        return this.asDump(r, now)
      case "lb_as_v2_dump":
        return this.asV2Dump(r, now)
      case "lb_add_del_intf_nat4":
        return { retval: this.addDelIntfNat4(r, now) }
      case "lb_add_del_intf_nat6":
        return { retval: this.addDelIntfNat6(r, now) }
    }
  }
}

