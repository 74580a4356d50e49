/**
 * The lb plugin's flow hash, as read at VPP b575ec2c56d7: which bucket of a
 * VIP's new-flow table a new flow lands in is `hash & (length - 1)`
 * (`lb_node_fn`, `src/plugins/lb/node.c`). The controller uses it to say
 * where a flow would go (`maglevc show frontend NAME flow ...`), the simulator
 * to send its synthetic and proxied flows (src/sim/Traffic.ts); both must be
 * VPP's, bit for bit.
 *
 * - `lb_node_get_hash` (`node.c`): for IPv4,
 *   `lb_hash_hash (*(u64 *) &ip40->address_pair, ports, 0, 0, 0)`; for IPv6,
 *   `lb_hash_hash (src[0], src[1], dst[0], dst[1], ports)`; `ports` is
 *   `(src_port << 16) | dst_port` of the two u16s as loaded from the packet
 *   (network order) for TCP and UDP, 0 for other protocols
 *   (`lb_node_get_other_ports4/6`), and left out (0) for a `src_ip_sticky` VIP.
 * - `lb_hash_hash` (`src/vppinfra/lb_hash_hash.h`) with CRC32C intrinsics
 *   (x86-64 with SSE4.2, AArch64 with CRC): five `clib_crc32c_u64` steps from 0,
 *   no inversion. On a little-endian host each u64 is its 8 bytes in memory
 *   order, so the hash is the raw CRC32C of 40 bytes: the IPv4 address pair,
 *   destination port bytes, source port bytes, then zeros; for IPv6 the two
 *   addresses and the port bytes.
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
  /** IP protocol number; the ports count only for TCP (6) and UDP (17). Default TCP. */
  readonly protocol?: number
}

/** Whether `lb_node_get_hash` reads ports for this protocol (TCP, UDP). */
export const hasPorts = (protocol: number): boolean => protocol === 6 || protocol === 17

const KEY = new Uint8Array(40)

/** `lb_node_get_hash` for a packet of the flow. */
export const flowHash = (f: FlowKey, srcIpSticky: boolean): number => {
  // One scratch buffer: nothing here yields, and the spread of a flow over source ports hashes 64,512 keys.
  const key = KEY.fill(0)
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
  if (!srcIpSticky && hasPorts(f.protocol ?? 6)) {
    key[at] = f.dstPort >>> 8
    key[at + 1] = f.dstPort & 0xff
    key[at + 2] = f.srcPort >>> 8
    key[at + 3] = f.srcPort & 0xff
  }
  return crc32c(0, key)
}
