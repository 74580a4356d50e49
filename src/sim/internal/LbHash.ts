/**
 * The lb plugin's flow hash and per-thread sticky table, as read at VPP
 * b575ec2c56d7:
 *
 * - `lb_node_get_hash` (`src/plugins/lb/node.c`): for IPv4,
 *   `lb_hash_hash (*(u64 *) &ip40->address_pair, ports, 0, 0, 0)`; for IPv6,
 *   `lb_hash_hash (src[0], src[1], dst[0], dst[1], ports)`; `ports` is
 *   `(src_port << 16) | dst_port` of the two u16s as loaded from the packet
 *   (network order), and 0 for a `src_ip_sticky` VIP.
 * - `lb_hash_hash` (`src/vppinfra/lb_hash_hash.h`) with CRC32C intrinsics
 *   (x86-64 with SSE4.2, AArch64 with CRC): five `clib_crc32c_u64` steps from 0,
 *   no inversion. On a little-endian host each u64 is its 8 bytes in memory
 *   order, so the hash is the raw CRC32C of 40 bytes: the IPv4 address pair,
 *   destination port bytes, source port bytes, then zeros; for IPv6 the two
 *   addresses and the port bytes.
 * - `lb_hash_t` (`src/plugins/lb/lbhash.h`): `buckets` × 4 entries, bucket =
 *   `hash & mask`; an entry is live while `timeout > now`; `lb_hash_get` finds
 *   the live entry with the hash and VIP (and pushes its timeout to
 *   `now + timeout`) and the first entry that is not live as the free one.
 */

const CRC32C = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** CRC32C (Castagnoli, reflected) of `bytes` from `crc`, without the usual pre/post inversion (`_mm_crc32_u64`). */
export const crc32c = (crc: number, bytes: Uint8Array): number => {
  let c = crc >>> 0
  for (let i = 0; i < bytes.length; i++) c = CRC32C[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return c >>> 0
}

/** One flow's header fields. Addresses are 4 (IPv4) or 16 (IPv6) bytes, ports host order. */
export interface FlowKey {
  readonly src: Uint8Array
  readonly dst: Uint8Array
  readonly srcPort: number
  readonly dstPort: number
}

/** `lb_node_get_hash` for a TCP or UDP packet of the flow. */
export const flowHash = (f: FlowKey, srcIpSticky: boolean): number => {
  const key = new Uint8Array(40)
  let at: number
  if (f.src.length === 4) {
    key.set(f.src, 0)
    key.set(f.dst, 4)
    at = 8
  } else {
    key.set(f.src, 0)
    key.set(f.dst, 16)
    at = 32
  }
  if (!srcIpSticky) {
    key[at] = f.dstPort >>> 8
    key[at + 1] = f.dstPort & 0xff
    key[at + 2] = f.srcPort >>> 8
    key[at + 3] = f.srcPort & 0xff
  }
  return crc32c(0, key)
}

const ENTRIES = 4

/** One thread's `lb_hash_t`. */
export class StickyTable {
  readonly hash: Uint32Array
  readonly timeouts: Uint32Array
  readonly vip: Uint32Array
  readonly value: Uint32Array
  private readonly mask: number

  constructor(readonly buckets: number, readonly timeout: number) {
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
