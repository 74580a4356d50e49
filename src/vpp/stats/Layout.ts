/**
 * The VPP stats segment, version 2, as clients see it (vpp-wire.md §4; VPP
 * `src/vlib/stats/shared.h`, `src/vppinfra/vec_bootstrap.h`). Shared by the
 * reader (`StatsClient`) and the simulator's writer (`src/sim/StatsSegment.ts`)
 * so both sides agree on every offset.
 *
 * Everything is little-endian. Pointers are the writer's virtual addresses:
 * a client turns a pointer `p` into an offset in its own mapping as
 * `p - header.base`; a pointer of 0 is null.
 */

/** `STAT_SEGMENT_VERSION`. */
export const STAT_SEGMENT_VERSION = 2

/** `STAT_SEGMENT_SOCKET_FILE`, VPP's default `statseg { socket-name }`. */
export const DEFAULT_SOCKET_PATH = "/run/vpp/stats.sock"

/** VPP's default `statseg { size }`. */
export const DEFAULT_SEGMENT_SIZE = 32 * 1024 * 1024

/** Byte offsets of the u64 fields of `vlib_stats_shared_header_t`. */
export const Header = {
  version: 0,
  base: 8,
  epoch: 16,
  inProgress: 24,
  directoryVector: 32,
  /** Legacy v1 `error_vector`; VPP v2 leaves it 0 (GoVPP switches to v1 numbering otherwise). */
  errorVector: 40,
  size: 48
} as const

/** A VPP vector's header sits right before element 0; clients read only the u32 length at `ptr - 8`. */
export const VEC_HEADER_SIZE = 8

/** `vlib_stats_entry_t`: type u32 @0, pad, union u64 @8, name char[128] @16. */
export const Entry = {
  type: 0,
  value: 8,
  index1: 8,
  index2: 12,
  name: 16,
  nameSize: 128,
  size: 144
} as const

/** `stat_directory_type_t`. */
export const DirType = {
  ILLEGAL: 0,
  SCALAR_INDEX: 1,
  COUNTER_VECTOR_SIMPLE: 2,
  COUNTER_VECTOR_COMBINED: 3,
  NAME_VECTOR: 4,
  EMPTY: 5,
  SYMLINK: 6,
  HISTOGRAM_LOG2: 7,
  RING_BUFFER: 8,
  GAUGE: 9
} as const
export type DirType = (typeof DirType)[keyof typeof DirType]

const typeNames: ReadonlyArray<string> = [
  "illegal",
  "scalar-index",
  "counter-vector-simple",
  "counter-vector-combined",
  "name-vector",
  "empty",
  "symlink",
  "histogram-log2",
  "ring-buffer",
  "gauge"
]

/** A readable name for a directory type number, for messages. */
export const dirTypeName = (type: number): string => typeNames[type] ?? `unknown(${type})`

/** End of the free list threaded through EMPTY entries' `value` (`CLIB_U32_MAX`). */
export const FREE_LIST_END = 0xffffffff

/** The fixed directory slots (vpp-wire.md §4.4). */
export const WellKnown = {
  heartbeat: "/sys/heartbeat",
  lastStatsClear: "/sys/last_stats_clear",
  bootTime: "/sys/boottime",
  numWorkerThreads: "/sys/num_worker_threads"
} as const

/** Directory indexes of the fixed scalar slots. */
export const FIXED_SLOTS: ReadonlyArray<string> = [WellKnown.heartbeat, WellKnown.lastStatsClear, WellKnown.bootTime]

/**
 * The lb plugin's per-VIP simple counters (`lb_foreach_vip_counter`),
 * registered under their plain names, with no leading slash; `[thread][vip pool index]`.
 */
export const LbVipCounter = {
  nextPacket: "packet from existing sessions",
  firstPacket: "first session packet",
  untrackedPacket: "untracked packet",
  noServer: "no server configured"
} as const
export type LbVipCounter = (typeof LbVipCounter)[keyof typeof LbVipCounter]

export const LB_VIP_COUNTERS: ReadonlyArray<LbVipCounter> = [
  LbVipCounter.nextPacket,
  LbVipCounter.firstPacket,
  LbVipCounter.untrackedPacket,
  LbVipCounter.noServer
]
