/**
 * The lb plugin's per-thread sticky table, as read at VPP b575ec2c56d7
 * (`lb_hash_t`, `src/plugins/lb/lbhash.h`): `buckets` × 4 entries, bucket =
 * `hash & mask`; an entry is live while `timeout > now`; `lb_hash_get` finds
 * the live entry with the hash and VIP (and pushes its timeout to
 * `now + timeout`) and the first entry that is not live as the free one.
 * The flow hash itself is `lb_node_get_hash` (src/lb/FlowHash.ts).
 */
export { crc32c, type FlowKey, flowHash } from "../../lb/FlowHash.js"

const ENTRIES = 4

/** One thread's `lb_hash_t`. */
export class StickyTable {
  readonly hash: Uint32Array
  readonly timeouts: Uint32Array
  readonly vip: Uint32Array
  readonly value: Uint32Array
  private readonly mask: number

  /** `flow_timeout`: `lb_get_sticky_table` sets it on every call (a `lb_conf` changing it alone keeps the table). */
  timeout: number

  constructor(readonly buckets: number, timeout: number) {
    this.timeout = timeout
    this.mask = buckets - 1
    this.hash = new Uint32Array(buckets * ENTRIES)
    this.timeouts = new Uint32Array(buckets * ENTRIES)
    this.vip = new Uint32Array(buckets * ENTRIES)
    this.value = new Uint32Array(buckets * ENTRIES)
  }

  /**
   * `lb_hash_get`: the AS of the live entry for (hash, vip), 0 if none (its
   * timeout is pushed on); the entry slot a new flow may take, or undefined
   * when all four of the bucket are live. Comparisons are signed 32-bit, as
   * `_mm_cmpgt_epi32` does.
   */
  get(hash: number, vip: number, now: number): { readonly found: number; readonly available: number | undefined } {
    const base = (hash & this.mask) * ENTRIES
    let available: number | undefined
    let found = 0
    let foundAt: number | undefined
    for (let i = 0; i < ENTRIES; i++) {
      const live = (this.timeouts[base + i]! | 0) > (now | 0)
      if (!live && available === undefined) available = base + i
      if (live && foundAt === undefined && this.hash[base + i] === hash >>> 0 && this.vip[base + i] === vip >>> 0) foundAt = base + i
    }
    if (foundAt !== undefined) {
      found = this.value[foundAt]!
      this.timeouts[foundAt] = (now + this.timeout) >>> 0
    }
    return { found, available }
  }

  /** `lb_hash_put` */
  put(slot: number, hash: number, value: number, vip: number, now: number): void {
    this.hash[slot] = hash
    this.value[slot] = value
    this.vip[slot] = vip
    this.timeouts[slot] = (now + this.timeout) >>> 0
  }
}
