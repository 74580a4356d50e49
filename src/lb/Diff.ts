/**
 * The operations that take VPP's lb plugin from what its dumps show to the
 * desired state (Desired.ts): pure, minimal, in a deterministic order. The sync
 * loop dumps, calls `observedFromDumps` and `diff`, sends each op and logs it
 * with `describeOp`.
 *
 * What the dumps show (vpp-wire.md §3.7):
 * - `lb_vip_details`: prefix, protocol, port, encap, and `flow_table_length`
 *   truncated to u16 (65536 and every larger power of two read 0). Not
 *   `src_ip_sticky`: the caller fills `ObservedVip.srcIpSticky` when it knows it
 *   (parsing `show lb vips verbose`, or remembering what it programmed), and
 *   leaves it undefined otherwise, in which case a sticky change is not seen.
 * - `lb_as_v2_details`: address, weight, `flags` (1 active, 0 lameduck) and
 *   `num_buckets`, for every VIP still in the pool, including VIPs deleted but
 *   not yet garbage-collected.
 *
 * VPP's rules the ops follow (§3.3, §3.4):
 * - A VIP is re-created (ASes deleted, VIP deleted, then added back) when its
 *   encap, its src-ip-sticky (if known) or its table length (as far as the u16
 *   shows it) differ: VPP cannot change them in place.
 * - Deleting a VIP with ASes is allowed, but marks them lameduck *without*
 *   flush, so each active AS is deleted with flush first, then the VIP.
 * - All VIP deletions come before any add: VPP refuses a per-port VIP next to an
 *   all-port one on the same prefix (and the reverse) with -81, and per-port VIPs
 *   of different types on one prefix with -73, so a replaced VIP must be gone first.
 * - A lameduck AS is re-activated by an AS add (v2 carries the new weight, so no
 *   weight set follows); `lb_as_set_weight` refuses a lameduck AS with -6.
 *   Lameduck ASes that are not wanted are left to VPP's garbage collection:
 *   deleting one again would only restart its timer.
 */
import type { lb, lb_types } from "../vpp/binapi/index.js"
import type { DesiredAs, DesiredVip } from "./Desired.js"
import { canonicalAddress, compareAddresses, compareVipKeys, keyOf, type VipKey, vipKey, vipKeyString } from "./VipKey.js"

export interface ObservedAs {
  /** Canonical (as `canonicalAddress`). */
  readonly address: string
  readonly weight: number
  /** Deleted, not yet garbage-collected (`flags & 1` clear): gets no buckets, still drains. */
  readonly lameduck: boolean
  /** `num_buckets` of `lb_as_v2_details`, when known. */
  readonly numBuckets?: number | undefined
}

export interface ObservedVip extends VipKey {
  readonly encap: lb_types.LbEncapType
  /** Not in `lb_vip_details`: undefined unless the caller knows it from elsewhere; then it is not compared. */
  readonly srcIpSticky: boolean | undefined
  /** As `lb_vip_details.flow_table_length` reports it (u16: 65536 reads 0); undefined = not compared. */
  readonly newFlowsTableLength: number | undefined
  /** One per address, in `compareAddresses` order. */
  readonly ases: ReadonlyArray<ObservedAs>
  /**
   * Only in the sync loop's memory (`applyOp`), never from a dump: the VIP was
   * deleted and VPP has not collected it yet. It is not in VPP's VIP dump, but
   * if the same key is added again before collection, the AS dump shows its
   * ASes (lameduck) under that key.
   */
  readonly deleted?: true | undefined
}

interface OpBase {
  readonly vip: VipKey
  /** The frontend the VIP belongs to, when it is still configured (for log annotations). */
  readonly frontend: string | undefined
}
interface AsOpBase extends OpBase {
  readonly address: string
  /** The backend, when the AS is still wanted. */
  readonly backend: string | undefined
}

export type LbOp =
  /** `lb_add_del_vip_v2`: add with encap, src_ip_sticky and new_flows_table_length from the desired VIP. */
  | { readonly _tag: "VipAdd"; readonly vip: DesiredVip }
  /** `lb_add_del_vip_v2` with is_del (its active ASes were deleted by the ops before it). */
  | (OpBase & { readonly _tag: "VipDel" })
  /**
   * `lb_add_del_as_v2` with this weight. `flush` is only ever set when the AS is
   * lameduck (VPP re-activates it and evicts its sticky sessions); a new AS has none.
   */
  | (AsOpBase & { readonly _tag: "AsAdd"; readonly weight: number; readonly flush: boolean })
  /** `lb_add_del_as_v2` with is_del (always with flush: a removed backend's sessions go too). */
  | (AsOpBase & { readonly _tag: "AsDel"; readonly flush: boolean })
  /** `lb_as_set_weight`. */
  | (AsOpBase & { readonly _tag: "AsWeight"; readonly weight: number; readonly flush: boolean })

export interface DiffOptions {
  /**
   * `vipKeyString`s: only these VIPs are compared (a per-frontend sync). VIPs the
   * config no longer has are deleted only by a full sync (scope undefined); a
   * VIP in scope may still be re-created.
   */
  readonly scope?: ReadonlySet<string> | undefined
  /**
   * `flushKey`s of ASes whose state just changed to one that flushes: each gets
   * an `AsWeight` with flush even when its weight already matches (when the
   * desired AS asks for a flush).
   */
  readonly flush?: ReadonlySet<string> | undefined
}

/** The key of an AS in `DiffOptions.flush`: "vipkey|address". */
export const flushKey = (vip: VipKey, address: string): string => flushKeyOf(vipKeyString(vip), canonicalAddress(address))
/** `flushKey` from the VIP's key string and the canonical address. */
export const flushKeyOf = (vip: string, canonical: string): string => `${vip}|${canonical}`

// --- Observed state from the dumps ---------------------------------------------

/** The fields of `lb_vip_details` that are read. */
export type VipDetailsFields = Pick<lb.LbVipDetails, "vip" | "encap" | "flow_table_length">
/** The fields of `lb_as_v2_details` that are read (`num_buckets` optional, so v1 `lb_as_details` plus a weight fits too). */
export type AsDetailsFields = Pick<lb.LbAsV2Details, "vip" | "app_srv" | "flags" | "weight"> &
  Partial<Pick<lb.LbAsV2Details, "num_buckets">>

const AS_USED = 1

/**
 * The observed state from one `lb_vip_dump` and one unfiltered `lb_as_v2_dump`
 * (a filtered one returns nothing for IPv4 VIPs: VPP bug, §3.7). AS details of
 * VIPs the VIP dump does not list (deleted, not yet collected) are dropped.
 * A deleted VIP re-added before collection shows up twice in the AS dump under
 * one key: its old ASes are all lameduck, so an active entry wins over a
 * lameduck one for the same address.
 */
export const observedFromDumps = (
  vips: ReadonlyArray<VipDetailsFields>,
  ases: ReadonlyArray<AsDetailsFields>,
  srcIpSticky: (vip: VipKey) => boolean | undefined = () => undefined
): ReadonlyArray<ObservedVip> => {
  const byKey = new Map<string, { readonly vip: VipDetailsFields; readonly key: VipKey; readonly ases: Map<string, ObservedAs> }>()
  for (const d of vips) {
    const key = vipKey(d.vip.pfx, d.vip.protocol, d.vip.port)
    const s = vipKeyString(key)
    if (!byKey.has(s)) byKey.set(s, { vip: d, key, ases: new Map() })
  }
  for (const d of ases) {
    const entry = byKey.get(vipKeyString(vipKey(d.vip.pfx, d.vip.protocol, d.vip.port)))
    if (entry === undefined) continue
    const address = canonicalAddress(d.app_srv)
    const lameduck = (d.flags & AS_USED) === 0
    const prev = entry.ases.get(address)
    if (prev === undefined || (prev.lameduck && !lameduck)) {
      entry.ases.set(address, { address, weight: d.weight, lameduck, numBuckets: d.num_buckets })
    }
  }
  return [...byKey.values()].map(({ ases, key, vip }) => ({
    ...key,
    encap: vip.encap,
    srcIpSticky: srcIpSticky(key),
    newFlowsTableLength: vip.flow_table_length,
    ases: [...ases.values()].sort((a, b) => compareAddresses(a.address, b.address))
  }))
}

// --- The diff --------------------------------------------------------------------

const U16 = 0xffff

/** Why an existing VIP has to be re-created; undefined when it can stay. */
export const recreateReason = (desired: DesiredVip, observed: ObservedVip): string | undefined => {
  if (observed.encap !== desired.encap) return `encap ${observed.encap} → ${desired.encap}`
  if (observed.srcIpSticky !== undefined && observed.srcIpSticky !== desired.srcIpSticky) {
    return `src-ip-sticky ${observed.srcIpSticky} → ${desired.srcIpSticky}`
  }
  if (
    observed.newFlowsTableLength !== undefined &&
    (observed.newFlowsTableLength & U16) !== (desired.newFlowsTableLength & U16)
  ) {
    return `new-flows-table-length ${observed.newFlowsTableLength} → ${desired.newFlowsTableLength}`
  }
  return undefined
}

/** `key`: the VIP's key, one object for all of its ops (LbSync keys its memo of key strings on it). */
const asAdd = (vip: DesiredVip, key: VipKey, a: DesiredAs, flush: boolean): LbOp => ({
  _tag: "AsAdd",
  vip: key,
  frontend: vip.frontend,
  address: a.address,
  backend: a.backend,
  weight: a.weight,
  flush
})

/** Deletes every active AS (with flush), then the VIP. */
const teardown = (o: ObservedVip, frontend: string | undefined): Array<LbOp> => {
  const vip = keyOf(o)
  const ops: Array<LbOp> = o.ases
    .filter((a) => !a.lameduck)
    .map((a) => ({ _tag: "AsDel", vip, frontend, address: a.address, backend: undefined, flush: true }))
  ops.push({ _tag: "VipDel", vip, frontend })
  return ops
}

const reconcileAses = (d: DesiredVip, o: ObservedVip, flushSet: ReadonlySet<string> | undefined): Array<LbOp> =>
  reconcileMerged(d, o, flushSet) ?? reconcileByAddress(d, o, flushSet)

/** The op, if any, that makes the AS at `address` what `want` says, VPP having `got` there. */
const pushAsOp = (
  ops: Array<LbOp>,
  d: DesiredVip,
  vip: VipKey,
  address: string,
  want: DesiredAs | undefined,
  got: ObservedAs | undefined,
  flushSet: ReadonlySet<string> | undefined
): void => {
  if (want === undefined) {
    if (got !== undefined && !got.lameduck) {
      ops.push({ _tag: "AsDel", vip, frontend: d.frontend, address: got.address, backend: undefined, flush: true })
    }
  } else if (got === undefined || got.lameduck) {
    ops.push(asAdd(d, vip, want, got !== undefined && want.flush))
  } else if (got.weight !== want.weight || (want.flush && flushSet?.has(flushKey(vip, address)) === true)) {
    ops.push({
      _tag: "AsWeight",
      vip,
      frontend: d.frontend,
      address: want.address,
      backend: want.backend,
      weight: want.weight,
      flush: want.flush
    })
  }
}

/**
 * Both AS lists in the one AS order with one entry per address, as the
 * desired state and the sync's memory keep them: one merge walk, no map, no
 * sort, and an address that is the same text on both sides (the usual case)
 * is not parsed. A reaction of a backend in 1,000 VIPs diffs 1,000 of them.
 * Undefined when the lists are not so ordered: then by address, below.
 */
const reconcileMerged = (d: DesiredVip, o: ObservedVip, flushSet: ReadonlySet<string> | undefined): Array<LbOp> | undefined => {
  const vip = keyOf(d)
  const ops: Array<LbOp> = []
  let last: string | undefined
  for (let i = 0, j = 0; i < d.ases.length || j < o.ases.length;) {
    const want = d.ases[i]
    const got = o.ases[j]
    let address: string
    let c: number
    if (want !== undefined && got !== undefined && want.address === got.address) {
      address = got.address
      c = 0
    } else {
      const wanted = want === undefined ? undefined : canonicalAddress(want.address)
      c = wanted === undefined ? 1 : got === undefined ? -1 : compareAddresses(wanted, got.address)
      address = c <= 0 ? wanted! : got!.address
    }
    if (last !== undefined && compareAddresses(last, address) >= 0) return undefined
    last = address
    pushAsOp(ops, d, vip, address, c <= 0 ? want : undefined, c >= 0 ? got : undefined, flushSet)
    if (c <= 0) i++
    if (c >= 0) j++
  }
  return ops
}

const reconcileByAddress = (d: DesiredVip, o: ObservedVip, flushSet: ReadonlySet<string> | undefined): Array<LbOp> => {
  const vip = keyOf(d)
  const wanted = new Map(d.ases.map((a) => [canonicalAddress(a.address), a]))
  const have = new Map<string, ObservedAs>()
  for (const a of o.ases) {
    const address = canonicalAddress(a.address)
    const prev = have.get(address)
    if (prev === undefined || (prev.lameduck && !a.lameduck)) have.set(address, a)
  }
  const addresses = [...new Set([...wanted.keys(), ...have.keys()])].sort(compareAddresses)
  const ops: Array<LbOp> = []
  for (const address of addresses) pushAsOp(ops, d, vip, address, wanted.get(address), have.get(address), flushSet)
  return ops
}

/**
 * Whether VPP's VIP already is what `desired` says (no op needed, no flush
 * asked for): the same VIP parameters, every desired AS active with its
 * weight, no other active AS. A linear walk over the two sorted lists, no
 * allocation: a no-change full sync of 1,000 VIPs × 32 ASes is mostly this.
 */
export const vipMatches = (d: DesiredVip, o: ObservedVip): boolean => {
  if (recreateReason(d, o) !== undefined) return false
  let j = 0
  for (const a of d.ases) {
    while (j < o.ases.length && o.ases[j]!.lameduck) j++
    const got = o.ases[j]
    // The config's text is usually VPP's already: the memo lookup only when they differ.
    if (got === undefined || got.weight !== a.weight || (got.address !== a.address && got.address !== canonicalAddress(a.address))) return false
    j++
  }
  for (; j < o.ases.length; j++) if (!o.ases[j]!.lameduck) return false
  return true
}

const flushAsked = (d: DesiredVip, flush: ReadonlySet<string> | undefined): boolean => {
  if (flush === undefined || flush.size === 0) return false
  for (const a of d.ases) if (a.flush && flush.has(flushKey(d, a.address))) return true
  return false
}

/**
 * The minimal operations that make `observed` what `desired` says, for the VIPs
 * in scope; [] when VPP already matches. Order: every VIP teardown (VIPs no
 * longer configured, full sync only, and VIPs to re-create), sorted by key; then
 * per desired VIP, in config order, either its add followed by its ASes, or its
 * AS changes. ASes always go in `compareAddresses` order.
 */
export const diff = (
  desired: ReadonlyArray<DesiredVip>,
  observed: ReadonlyArray<ObservedVip>,
  options: DiffOptions = {}
): ReadonlyArray<LbOp> => {
  const { flush, scope } = options
  const inScope = (k: VipKey): boolean => scope === undefined || scope.has(vipKeyString(k))
  const desiredByKey = new Map<string, DesiredVip>()
  for (const d of desired) {
    const k = vipKeyString(d)
    // A validated config has one frontend per VIP key.
    if (desiredByKey.has(k)) throw new Error(`two desired VIPs with key ${k}`)
    desiredByKey.set(k, d)
  }
  const observedByKey = new Map<string, ObservedVip>()
  for (const o of observed) if (!observedByKey.has(vipKeyString(o))) observedByKey.set(vipKeyString(o), o)

  const gone: Array<ObservedVip> = []
  const recreated = new Set<string>()
  for (const [k, o] of observedByKey) {
    if (!inScope(o)) continue
    const d = desiredByKey.get(k)
    if (d === undefined) {
      if (scope === undefined) gone.push(o)
    } else if (recreateReason(d, o) !== undefined) {
      gone.push(o)
      recreated.add(k)
    }
  }
  gone.sort(compareVipKeys)

  const ops: Array<LbOp> = gone.flatMap((o) => teardown(o, desiredByKey.get(vipKeyString(o))?.frontend))
  for (const d of desired) {
    if (!inScope(d)) continue
    const k = vipKeyString(d)
    const o = observedByKey.get(k)
    if (o === undefined || recreated.has(k)) {
      ops.push({ _tag: "VipAdd", vip: d })
      const key = keyOf(d)
      for (const a of d.ases) ops.push(asAdd(d, key, a, false))
    } else if (flushAsked(d, flush) || !vipMatches(d, o)) {
      ops.push(...reconcileAses(d, o, flush))
    }
  }
  return ops
}

// --- What an applied op leaves in VPP --------------------------------------------

/**
 * The observed state of one VIP after VPP accepted `op` (for that VIP's key;
 * undefined = VPP holds no such VIP), as a fresh dump would show it for the
 * purposes of `diff`: a deleted AS turns lameduck, a deleted VIP disappears
 * (kept as `deleted`: the dumps drop the ASes of VIPs no longer listed,
 * until the key is added again before collection), and bucket counts become
 * unknown. Callers leave `deleted` entries out of what they diff. Lets the sync loop keep VPP's state in
 * memory between dumps.
 */
export const applyOp = (vip: ObservedVip | undefined, op: LbOp): ObservedVip | undefined => {
  switch (op._tag) {
    case "VipAdd":
      return {
        ...keyOf(op.vip),
        encap: op.vip.encap,
        srcIpSticky: op.vip.srcIpSticky,
        newFlowsTableLength: op.vip.newFlowsTableLength & U16,
        // A key added again before VPP collected its deleted VIP shows the old ASes, lameduck.
        ases: vip?.deleted === true ? vip.ases : []
      }
    case "VipDel":
      return vip === undefined
        ? undefined
        : { ...vip, deleted: true, ases: vip.ases.map((a) => ({ ...a, lameduck: true, numBuckets: 0 })) }
    case "AsAdd":
    case "AsDel":
    case "AsWeight": {
      if (vip === undefined) return undefined
      const address = canonicalAddress(op.address)
      const at = vip.ases.findIndex((a) => a.address === address)
      const prev = at < 0 ? undefined : vip.ases[at]
      const next: ObservedAs = op._tag === "AsAdd"
        ? { address, weight: op.weight, lameduck: false, numBuckets: undefined }
        : op._tag === "AsDel"
        ? { address, weight: prev?.weight ?? 0, lameduck: true, numBuckets: 0 }
        : { address, weight: op.weight, lameduck: prev?.lameduck ?? false, numBuckets: undefined }
      // One new list, in order: `next` in its place (one entry per address), or inserted where it
      // sorts (adds come in address order: usually last). Every other AS's share of the table may
      // change too: its bucket count becomes unknown.
      const src = vip.ases
      let to = at
      if (at < 0) {
        to = src.length > 0 && compareAddresses(src[src.length - 1]!.address, address) > 0
          ? src.findIndex((a) => compareAddresses(a.address, address) > 0)
          : src.length
      }
      const ases: Array<ObservedAs> = []
      for (let i = 0; i < src.length; i++) {
        if (i === to) ases.push(next)
        if (i !== at) ases.push(bucketsUnknown(src[i]!))
      }
      if (to === src.length) ases.push(next)
      return withAses(vip, ases)
    }
  }
}

/**
 * `{ ...vip, ases }` field by field: that spread is V8's slow path (microseconds), and the
 * sync's memory takes one of these per op it sends.
 */
const withAses = (vip: ObservedVip, ases: ReadonlyArray<ObservedAs>): ObservedVip => {
  const out: Mutable<ObservedVip> = {
    prefix: vip.prefix,
    protocol: vip.protocol,
    port: vip.port,
    encap: vip.encap,
    srcIpSticky: vip.srcIpSticky,
    newFlowsTableLength: vip.newFlowsTableLength,
    ases
  }
  if (vip.deleted === true) out.deleted = true
  return out
}
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const bucketsUnknown = (a: ObservedAs): ObservedAs =>
  a.numBuckets === undefined ? a : { address: a.address, weight: a.weight, lameduck: a.lameduck, numBuckets: undefined }

// --- Logging -------------------------------------------------------------------

/** The event of each op's mutation line. */
const OP_EVENT: { readonly [T in LbOp["_tag"]]: { readonly event: string } } = {
  VipAdd: { event: "vpp-lbsync-vip-add" },
  VipDel: { event: "vpp-lbsync-vip-del" },
  AsAdd: { event: "vpp-lbsync-as-add" },
  AsDel: { event: "vpp-lbsync-as-del" },
  AsWeight: { event: "vpp-lbsync-as-weight" }
}

/**
 * An op's log event, its fields given one by one to `set` (no object in
 * between: the sync loop logs 33,000 of them in a first programming). `vip`:
 * the op's `vipKeyString`, when the caller has it.
 */
export const opFields = (op: LbOp, set: (field: string, value: unknown) => void, vip = vipKeyString(op.vip)): string => {
  set("vip", vip)
  if (op._tag === "VipAdd") {
    set("frontend", op.vip.frontend)
    set("encap", op.vip.encap)
    set("srcIpSticky", op.vip.srcIpSticky)
    set("newFlowsTableLength", op.vip.newFlowsTableLength)
    return OP_EVENT.VipAdd.event
  }
  if (op.frontend !== undefined) set("frontend", op.frontend)
  if (op._tag === "VipDel") return OP_EVENT.VipDel.event
  if (op.backend !== undefined) set("backend", op.backend)
  set("as", op.address)
  if (op._tag !== "AsDel") set("weight", op.weight)
  set("flush", op.flush)
  return OP_EVENT[op._tag].event
}

/** The log event and fields of an op (the sync loop logs every mutation it sends with these). */
export const describeOp = (op: LbOp): { readonly event: string; readonly fields: Record<string, unknown> } => {
  const fields: Record<string, unknown> = {}
  const event = opFields(op, (k, v) => (fields[k] = v))
  return { event, fields }
}

/**
 * An operator's flush of `backend`'s AS in `vip` (a set-weight with flush):
 * its weight 0 again, with flush, when 0 is what it should be and no op in
 * `planned` flushes it already; `serving` (with its weight, -1 when it has
 * no AS there) when the AS still takes traffic through another pool.
 */
export const eviction = (
  vip: DesiredVip | undefined,
  backend: string,
  planned: ReadonlyArray<LbOp>
): { readonly _tag: "Evict"; readonly op: LbOp } | { readonly _tag: "Serving"; readonly weight: number } | { readonly _tag: "Already" } => {
  const as = vip?.ases.find((a) => a.backend === backend)
  if (vip === undefined || as === undefined || as.weight !== 0) return { _tag: "Serving", weight: as?.weight ?? -1 }
  const key = vipKeyString(vip)
  const already = planned.some((op) =>
    (op._tag === "AsWeight" || op._tag === "AsAdd") && op.flush && op.backend === backend && vipKeyString(op.vip) === key
  )
  return already
    ? { _tag: "Already" }
    : { _tag: "Evict", op: { _tag: "AsWeight", vip: keyOf(vip), frontend: vip.frontend, address: as.address, backend, weight: 0, flush: true } }
}
