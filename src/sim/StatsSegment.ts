/**
 * The simulator's stats segment: a memfd laid out exactly like VPP's
 * version-2 stats segment (vpp-wire.md §4.2), written through a writable
 * shared mapping, for clients that map it read-only.
 *
 * - Offset 0: the shared header. From `pageSize` on: the heap, holding the
 *   directory vector and every counter vector, allocated here as VPP's
 *   vectors are (u32 length at `ptr - 8`, data cache-line aligned).
 * - Pointers are written as VPP writes them, as addresses in the writer's
 *   mapping: `base + offset`, with `base` (a plausible VPP mapping address by
 *   default) published in the header. A client subtracts `base`.
 * - Directory changes follow the writer's protocol (§4.3): `in_progress = 1`,
 *   change, `epoch++`, `in_progress = 0`. Counter and scalar values are
 *   written in place without touching either, as VPP does. Growing a counter
 *   vector within its capacity changes its length in place; beyond it, the
 *   rows move (new allocation, copy, free) under the lock, like
 *   `vlib_stats_validate`.
 * - Removed entries become EMPTY and join the free list threaded through
 *   their `value` (`vlib_stats_remove_entry`), all under the lock.
 * - Freed heap memory is filled with 0xa5, so a reader following a stale
 *   pointer reads nonsense (which its epoch check must throw away) rather than
 *   plausible old data.
 */
import { Clock, Data, Effect, type Scope } from "effect"
import * as Native from "../native/Native.js"
import {
  DEFAULT_SEGMENT_SIZE,
  DirType,
  Entry,
  FIXED_SLOTS,
  FREE_LIST_END,
  Header,
  LB_VIP_COUNTERS,
  LbVipCounter,
  STAT_SEGMENT_VERSION,
  VEC_HEADER_SIZE,
  WellKnown,
  dirTypeName
} from "../vpp/stats/Layout.js"

/** Misuse of the writer (unknown or clashing name, index out of range) or a full heap. */
export class StatsSegmentError extends Data.TaggedError("StatsSegmentError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `stats segment: ${this.reason}`
  }
}

export interface StatsSegmentOptions {
  /** Bytes (default 32 MiB, VPP's default; the memfd is sparse). A multiple of `pageSize`, at least 4 pages. */
  readonly size?: number
  /** Worker threads; counter vectors get 1 + workers rows (default 0). */
  readonly workers?: number
  /** The "VPP mapping address" pointers are relative to (default 0x7f5a00000000; 0 stores plain offsets). */
  readonly base?: bigint
  /** `/sys/boottime`, Unix seconds (default: now). */
  readonly bootTime?: number
  /** The memfd's name, as seen in /proc/<pid>/maps (default "stat segment"). */
  readonly memfdName?: string
  readonly pageSize?: number
}

export const DEFAULT_BASE = 0x7f5a_0000_0000n

const CACHE_LINE = 64
const POISON = 0xa5
const INITIAL_DIRECTORY_CAPACITY = 32

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to

interface Block {
  readonly start: number
  readonly size: number
}

/**
 * First-fit allocator over the heap region, in cache lines. Each vector gets a
 * block whose first line holds the vector header (in its last 8 bytes) and
 * whose data starts at the next line.
 */
class Heap {
  private free: Array<Block>
  private readonly used = new Map<number, Block>()

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    end: number
  ) {
    this.free = [{ start, size: end - start }]
  }

  /** A zeroed vector of `length` elements with room for `capacity`; returns the data offset. */
  allocVector(elementSize: number, length: number, capacity: number): number {
    const size = CACHE_LINE + roundUp(Math.max(1, capacity) * elementSize, CACHE_LINE)
    const i = this.free.findIndex((b) => b.size >= size)
    const block = this.free[i]
    if (block === undefined) throw new StatsSegmentError({ reason: `heap exhausted allocating ${size} bytes` })
    if (block.size === size) this.free.splice(i, 1)
    else this.free[i] = { start: block.start + size, size: block.size - size }
    const data = block.start + CACHE_LINE
    this.bytes.fill(0, block.start, block.start + size)
    this.used.set(data, { start: block.start, size })
    const view = new DataView(this.bytes.buffer)
    view.setUint32(data - VEC_HEADER_SIZE, length, true)
    view.setUint8(data - VEC_HEADER_SIZE + 4, VEC_HEADER_SIZE / 8) // hdr_size, in VEC_MIN_ALIGN units
    view.setUint8(data - VEC_HEADER_SIZE + 5, Math.log2(CACHE_LINE)) // log2_align
    return data
  }

  /** How many `elementSize` elements fit in the vector at `data`. */
  capacity(data: number, elementSize: number): number {
    const block = this.used.get(data)
    if (block === undefined) throw new StatsSegmentError({ reason: `no vector at offset ${data}` })
    return Math.floor((block.size - CACHE_LINE) / elementSize)
  }

  freeVector(data: number): void {
    const block = this.used.get(data)
    if (block === undefined) throw new StatsSegmentError({ reason: `no vector at offset ${data}` })
    this.used.delete(data)
    this.bytes.fill(POISON, block.start, block.start + block.size)
    let i = this.free.findIndex((b) => b.start > block.start)
    if (i === -1) i = this.free.length
    this.free.splice(i, 0, block)
    // Coalesce with the following, then the preceding block.
    const next = this.free[i + 1]
    const cur = this.free[i]!
    if (next !== undefined && cur.start + cur.size === next.start) {
      this.free.splice(i, 2, { start: cur.start, size: cur.size + next.size })
    }
    const prev = this.free[i - 1]
    const merged = this.free[i]!
    if (prev !== undefined && prev.start + prev.size === merged.start) {
      this.free.splice(i - 1, 2, { start: prev.start, size: prev.size + merged.size })
    }
  }

  get freeBytes(): number {
    return this.free.reduce((n, b) => n + b.size, 0)
  }
}

/** Where a simple counter's vectors are, as offsets in the segment. */
export interface CounterLayout {
  /** The vector of per-thread row pointers (the entry's data pointer). */
  readonly threadVector: number
  /** Each thread's row of u64s. */
  readonly rows: ReadonlyArray<number>
}

export class StatsSegment {
  readonly fd: number
  readonly size: number
  readonly base: bigint
  readonly pageSize: number
  /** 1 + workers: the rows of every counter vector. */
  readonly threads: number
  /** The writable shared mapping (tests corrupt it on purpose through `view`). */
  readonly buffer: ArrayBuffer
  readonly view: DataView

  private readonly header: BigUint64Array
  private readonly heap: Heap
  private readonly byName = new Map<string, number>()
  private directory: number
  private firstFree = FREE_LIST_END
  private locks = 0
  private closed = false

  /** Creates the memfd and lays out an initial segment; throws on failure. */
  static create(options: StatsSegmentOptions = {}): StatsSegment {
    const size = options.size ?? DEFAULT_SEGMENT_SIZE
    const pageSize = options.pageSize ?? 4096
    if (!Number.isInteger(size) || size % pageSize !== 0 || size < 4 * pageSize) {
      throw new StatsSegmentError({ reason: `size ${size} is not a multiple of ${pageSize} of at least 4 pages` })
    }
    const fd = Native.memfdCreate(options.memfdName ?? "stat segment", size)
    let buffer: ArrayBuffer
    try {
      buffer = Native.mmap(fd, size, { writable: true })
    } catch (e) {
      Native.close(fd)
      throw e
    }
    return new StatsSegment(fd, buffer, pageSize, options)
  }

  /** `create` as a scoped resource: closing the scope unmaps and closes the memfd. */
  static scoped(options: StatsSegmentOptions = {}): Effect.Effect<StatsSegment, StatsSegmentError, Scope.Scope> {
    return Effect.gen(function* () {
      const bootTime = options.bootTime ?? Math.floor((yield* Clock.currentTimeMillis) / 1000)
      return yield* Effect.acquireRelease(
        Effect.try({
          try: () => StatsSegment.create({ ...options, bootTime }),
          catch: (cause) =>
            cause instanceof StatsSegmentError
              ? cause
              : new StatsSegmentError({ reason: `cannot create the segment: ${String(cause)}`, cause })
        }),
        (segment) => Effect.sync(() => segment.close())
      )
    })
  }

  private constructor(fd: number, buffer: ArrayBuffer, pageSize: number, options: StatsSegmentOptions) {
    this.fd = fd
    this.buffer = buffer
    this.size = buffer.byteLength
    this.pageSize = pageSize
    this.base = options.base ?? DEFAULT_BASE
    this.threads = 1 + (options.workers ?? 0)
    this.view = new DataView(buffer)
    this.header = new BigUint64Array(buffer, 0, Header.size / 8)
    this.heap = new Heap(new Uint8Array(buffer), pageSize, this.size)

    // Nobody can see the segment yet: lay it out directly, then publish epoch 1.
    this.view.setBigUint64(Header.version, BigInt(STAT_SEGMENT_VERSION), true)
    this.view.setBigUint64(Header.base, this.base, true)
    this.view.setBigUint64(Header.errorVector, 0n, true)
    this.directory = this.heap.allocVector(Entry.size, 0, INITIAL_DIRECTORY_CAPACITY)
    this.view.setBigUint64(Header.directoryVector, this.pointer(this.directory), true)
    for (const name of FIXED_SLOTS) this.createEntry(DirType.SCALAR_INDEX, name, 0n)
    this.createEntry(DirType.GAUGE, WellKnown.numWorkerThreads, BigInt(this.threads - 1))
    this.setScalar(WellKnown.bootTime, options.bootTime ?? Date.now() / 1000)
    Atomics.store(this.header, Header.inProgress / 8, 0n)
    Atomics.store(this.header, Header.epoch / 8, 1n)
  }

  // -------------------------------------------------------------------------
  // The writer's lock (vlib_stats_segment_lock / unlock), re-entrant like VPP's.

  get epoch(): bigint {
    return Atomics.load(this.header, Header.epoch / 8)
  }

  get inProgress(): boolean {
    return Atomics.load(this.header, Header.inProgress / 8) !== 0n
  }

  /** Sets in_progress. Tests may hold it across awaits to make readers wait. */
  lock(): void {
    this.assertOpen()
    if (this.locks++ === 0) Atomics.store(this.header, Header.inProgress / 8, 1n)
  }

  /** Bumps epoch, then clears in_progress (Atomics: sequentially consistent, so also a release). */
  unlock(): void {
    if (this.locks === 0) throw new StatsSegmentError({ reason: "unlock without lock" })
    if (--this.locks > 0) return
    Atomics.add(this.header, Header.epoch / 8, 1n)
    Atomics.store(this.header, Header.inProgress / 8, 0n)
  }

  withLock<A>(f: () => A): A {
    this.lock()
    try {
      return f()
    } finally {
      this.unlock()
    }
  }

  // -------------------------------------------------------------------------
  // Directory

  /** Names of the non-empty entries, in directory order. */
  names(): Array<string> {
    return [...this.byName.entries()].sort((a, b) => a[1] - b[1]).map(([name]) => name)
  }

  entryIndex(name: string): number | undefined {
    return this.byName.get(name)
  }

  /** Byte offset of directory entry `index` (for tests that corrupt it). */
  entryOffset(index: number): number {
    return this.directory + index * Entry.size
  }

  /** Offset of the directory vector's element 0. */
  get directoryOffset(): number {
    return this.directory
  }

  get directoryLength(): number {
    return this.view.getUint32(this.directory - VEC_HEADER_SIZE, true)
  }

  get freeHeapBytes(): number {
    return this.heap.freeBytes
  }

  /** Removes an entry and frees its data; false if there is none of that name. */
  removeEntry(name: string): boolean {
    const index = this.byName.get(name)
    if (index === undefined) return false
    this.withLock(() => {
      const at = this.entryOffset(index)
      const type = this.view.getUint32(at + Entry.type, true)
      if (type === DirType.COUNTER_VECTOR_SIMPLE) {
        const layout = this.counterLayout(name)
        this.view.setBigUint64(at + Entry.value, 0n, true)
        if (layout !== undefined) {
          for (const row of layout.rows) this.heap.freeVector(row)
          this.heap.freeVector(layout.threadVector)
        }
      }
      new Uint8Array(this.buffer, at, Entry.size).fill(0)
      this.view.setUint32(at + Entry.type, DirType.EMPTY, true)
      this.view.setBigUint64(at + Entry.value, BigInt(this.firstFree), true)
      this.firstFree = index
      this.byName.delete(name)
    })
    return true
  }

  // -------------------------------------------------------------------------
  // Scalars and gauges: values in the entry, written in place.

  /** Adds a SCALAR_INDEX entry (or returns the existing one's index). */
  addScalar(name: string, value: number | bigint = 0): number {
    return this.ensureEntry(DirType.SCALAR_INDEX, name, toU64(value))
  }

  /** Adds a GAUGE entry (or returns the existing one's index). */
  addGauge(name: string, value: number | bigint = 0): number {
    return this.ensureEntry(DirType.GAUGE, name, toU64(value))
  }

  /** Sets a scalar or gauge in place (no epoch change). A number is truncated, as VPP's f64 → u64. */
  setScalar(name: string, value: number | bigint): void {
    const at = this.entryOffset(this.indexOf(name, [DirType.SCALAR_INDEX, DirType.GAUGE]))
    this.view.setBigUint64(at + Entry.value, toU64(value), true)
  }

  getScalar(name: string): bigint {
    const at = this.entryOffset(this.indexOf(name, [DirType.SCALAR_INDEX, DirType.GAUGE]))
    return this.view.getBigUint64(at + Entry.value, true)
  }

  /** One collector run: `/sys/heartbeat` + 1. */
  heartbeat(): void {
    this.setScalar(WellKnown.heartbeat, this.getScalar(WellKnown.heartbeat) + 1n)
  }

  // -------------------------------------------------------------------------
  // Simple counter vectors, [thread][index] of u64.

  /**
   * Adds a simple counter entry (or returns the existing one's index). Like
   * `vlib_stats_add_counter_vector`, its data pointer stays null until
   * {@link validateSimpleCounter}; `columns` > 0 validates at once.
   */
  addSimpleCounter(name: string, columns = 0): number {
    const index = this.ensureEntry(DirType.COUNTER_VECTOR_SIMPLE, name, 0n)
    if (columns > 0) this.validateSimpleCounter(name, columns - 1)
    return index
  }

  /**
   * Makes column `index` exist in every thread's row (`vlib_stats_validate`).
   * Only if some row must be reallocated does this take the lock and move
   * the rows; otherwise lengths grow in place, new elements zeroed.
   */
  validateSimpleCounter(name: string, index: number): void {
    const at = this.entryOffset(this.indexOf(name, [DirType.COUNTER_VECTOR_SIMPLE]))
    if (!Number.isInteger(index) || index < 0 || index >= 0xffffffff) {
      throw new StatsSegmentError({ reason: `bad counter index ${index}` })
    }
    const layout = this.counterLayout(name)
    const willExpand = layout === undefined || layout.rows.some((row) => this.heap.capacity(row, 8) <= index)
    if (willExpand) this.lock()
    try {
      let threadVector = layout?.threadVector
      if (threadVector === undefined) {
        threadVector = this.heap.allocVector(8, this.threads, this.threads)
        this.view.setBigUint64(at + Entry.value, this.pointer(threadVector), true)
      }
      for (let t = 0; t < this.threads; t++) {
        const slot = threadVector + t * 8
        const row = this.offsetOf(this.view.getBigUint64(slot, true))
        if (row === 0) {
          const fresh = this.heap.allocVector(8, index + 1, index + 1)
          this.view.setBigUint64(slot, this.pointer(fresh), true)
          continue
        }
        const length = this.view.getUint32(row - VEC_HEADER_SIZE, true)
        if (length > index) continue
        const capacity = this.heap.capacity(row, 8)
        if (capacity > index) {
          new Uint8Array(this.buffer, row + length * 8, (index + 1 - length) * 8).fill(0)
          this.view.setUint32(row - VEC_HEADER_SIZE, index + 1, true)
        } else {
          const moved = this.heap.allocVector(8, index + 1, Math.max(index + 1, Math.ceil(capacity * 1.5)))
          new Uint8Array(this.buffer).copyWithin(moved, row, row + length * 8)
          this.view.setBigUint64(slot, this.pointer(moved), true)
          this.heap.freeVector(row)
        }
      }
    } finally {
      if (willExpand) this.unlock()
    }
  }

  /** Zeroes column `index` on every thread, in place (`vlib_zero_simple_counter`). */
  zeroSimpleCounter(name: string, index: number): void {
    for (const row of this.rowsOf(name, index)) this.view.setBigUint64(row + index * 8, 0n, true)
  }

  /** Adds `n` to `[thread][index]`, in place (`vlib_increment_simple_counter`). */
  incrementSimpleCounter(name: string, thread: number, index: number, n: number | bigint = 1): void {
    const row = this.rowsOf(name, index)[thread]
    if (row === undefined) throw new StatsSegmentError({ reason: `no thread ${thread} (threads: ${this.threads})` })
    const at = row + index * 8
    this.view.setBigUint64(at, BigInt.asUintN(64, this.view.getBigUint64(at, true) + BigInt(n)), true)
  }

  /** The counter as the writer sees it, `[thread][index]`; [] before the first validate. */
  readSimpleCounter(name: string): Array<Array<bigint>> {
    this.indexOf(name, [DirType.COUNTER_VECTOR_SIMPLE])
    const layout = this.counterLayout(name)
    if (layout === undefined) return []
    return layout.rows.map((row) => {
      const length = this.view.getUint32(row - VEC_HEADER_SIZE, true)
      return Array.from({ length }, (_, i) => this.view.getBigUint64(row + i * 8, true))
    })
  }

  /** The offsets of a simple counter's vectors, or undefined while its data pointer is null. */
  counterLayout(name: string): CounterLayout | undefined {
    const at = this.entryOffset(this.indexOf(name, [DirType.COUNTER_VECTOR_SIMPLE]))
    const threadVector = this.offsetOf(this.view.getBigUint64(at + Entry.value, true))
    if (threadVector === 0) return undefined
    const length = this.view.getUint32(threadVector - VEC_HEADER_SIZE, true)
    const rows = Array.from({ length }, (_, t) => this.offsetOf(this.view.getBigUint64(threadVector + t * 8, true)))
    return { threadVector, rows: rows.filter((row) => row !== 0) }
  }

  // -------------------------------------------------------------------------
  // The lb plugin's per-VIP counters.

  /**
   * What `lb_vip_add` does to the stats segment for a new VIP at pool index
   * `vipIndex`: the four counters exist (created on the first VIP), have that
   * column, and it is zero.
   */
  lbVipAdded(vipIndex: number): void {
    for (const name of LB_VIP_COUNTERS) {
      this.addSimpleCounter(name)
      this.validateSimpleCounter(name, vipIndex)
      this.zeroSimpleCounter(name, vipIndex)
    }
  }

  /** Traffic model: `packets` more on `counter` (default: packets of existing sessions) of one VIP, on one thread. */
  addLbTraffic(
    vipIndex: number,
    packets: number | bigint,
    options: { readonly thread?: number; readonly counter?: LbVipCounter } = {}
  ): void {
    this.incrementSimpleCounter(options.counter ?? LbVipCounter.nextPacket, options.thread ?? 0, vipIndex, packets)
  }

  /**
   * `vlib_get_simple_counter` of each of the four counters (`LB_VIP_COUNTERS`
   * order) for one VIP: its column summed over threads, wrapping at 2^64; 0
   * before the counters exist or beyond their length.
   */
  lbVipCounterValues(vipIndex: number): Array<bigint> {
    // `show lb vips verbose` asks for every VIP in turn: read one column, not whole rows.
    const column = Number.isInteger(vipIndex) && vipIndex >= 0
    return LB_VIP_COUNTERS.map((name) => {
      if (this.entryIndex(name) === undefined) return 0n
      const layout = this.counterLayout(name)
      if (layout === undefined || !column) return 0n
      let sum = 0n
      for (const row of layout.rows) {
        if (vipIndex < this.view.getUint32(row - VEC_HEADER_SIZE, true)) sum += this.view.getBigUint64(row + vipIndex * 8, true)
      }
      return BigInt.asUintN(64, sum)
    })
  }

  // -------------------------------------------------------------------------

  /** Unmaps and closes the memfd (clients keep their own mappings). Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    Native.munmap(this.buffer)
    Native.close(this.fd)
  }

  private assertOpen(): void {
    if (this.closed) throw new StatsSegmentError({ reason: "segment closed" })
  }

  private pointer(offset: number): bigint {
    return this.base + BigInt(offset)
  }

  /** Inverse of `pointer`; 0 for a null pointer. */
  private offsetOf(pointer: bigint): number {
    return pointer === 0n ? 0 : Number(pointer - this.base)
  }

  private indexOf(name: string, types: ReadonlyArray<number>): number {
    const index = this.byName.get(name)
    if (index === undefined) throw new StatsSegmentError({ reason: `no entry ${JSON.stringify(name)}` })
    const type = this.view.getUint32(this.entryOffset(index) + Entry.type, true)
    if (!types.includes(type)) {
      throw new StatsSegmentError({ reason: `entry ${JSON.stringify(name)} is ${dirTypeName(type)}` })
    }
    return index
  }

  private rowsOf(name: string, index: number): ReadonlyArray<number> {
    const layout = this.counterLayout(name)
    const rows = layout?.rows ?? []
    if (rows.length === 0 || rows.some((row) => this.view.getUint32(row - VEC_HEADER_SIZE, true) <= index)) {
      throw new StatsSegmentError({ reason: `counter ${JSON.stringify(name)} has no column ${index}; validate it first` })
    }
    return rows
  }

  private ensureEntry(type: DirType, name: string, value: bigint): number {
    const existing = this.byName.get(name)
    if (existing === undefined) return this.withLock(() => this.createEntry(type, name, value))
    this.indexOf(name, [type])
    return existing
  }

  /** `vlib_stats_create_counter`: the first free slot, else a new one at the end. Caller holds the lock. */
  private createEntry(type: DirType, name: string, value: bigint): number {
    const nameBytes = Buffer.from(name, "ascii")
    if (name.length === 0 || name.length >= Entry.nameSize || !/^[\x20-\x7e]+$/.test(name)) {
      throw new StatsSegmentError({ reason: `bad entry name ${JSON.stringify(name)} (printable ASCII, 1..127 chars)` })
    }
    if (this.byName.has(name)) throw new StatsSegmentError({ reason: `entry ${JSON.stringify(name)} exists` })
    let index: number
    if (this.firstFree !== FREE_LIST_END) {
      index = this.firstFree
      this.firstFree = Number(this.view.getBigUint64(this.entryOffset(index) + Entry.value, true))
    } else {
      index = this.directoryLength
      if (index >= this.heap.capacity(this.directory, Entry.size)) this.growDirectory(index + 1)
      this.view.setUint32(this.directory - VEC_HEADER_SIZE, index + 1, true)
    }
    const at = this.entryOffset(index)
    new Uint8Array(this.buffer, at, Entry.size).fill(0)
    this.view.setUint32(at + Entry.type, type, true)
    this.view.setBigUint64(at + Entry.value, value, true)
    new Uint8Array(this.buffer, at + Entry.name, nameBytes.length).set(nameBytes)
    this.byName.set(name, index)
    return index
  }

  /** The directory vector moves to a bigger allocation; the header points at the new one. */
  private growDirectory(needed: number): void {
    const length = this.directoryLength
    const old = this.directory
    const moved = this.heap.allocVector(Entry.size, length, Math.max(needed, length * 2))
    new Uint8Array(this.buffer).copyWithin(moved, old, old + length * Entry.size)
    this.directory = moved
    this.view.setBigUint64(Header.directoryVector, this.pointer(moved), true)
    this.heap.freeVector(old)
  }
}

const toU64 = (value: number | bigint): bigint =>
  BigInt.asUintN(64, typeof value === "bigint" ? value : BigInt(Math.max(0, Math.trunc(value))))
