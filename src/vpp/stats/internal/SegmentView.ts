/**
 * Synchronous, bounds-checked reads of a mapped stats segment. Nothing here
 * follows the consistency protocol by itself: `StatsClient` brackets these
 * reads with the epoch checks. Every pointer and length is validated against
 * the mapping before it is followed, so a torn or corrupt segment throws a
 * {@link StatsCorrupt} (or, seen at a stable epoch, an entry error) instead of
 * reading out of range; the caller decides whether to retry or to fail.
 */
import { DirType, Entry, Header, VEC_HEADER_SIZE, dirTypeName } from "../Layout.js"
import { StatsCorrupt, StatsEntryNotFound, StatsEntryTypeError } from "../Errors.js"

/** Points in a read where `StatsClient`'s test seam is called (see `StatsClientOptions.onReadStep`). */
export type ReadStep =
  /** Epoch read with in_progress == 0; the read proper starts. */
  | "quiescent"
  /** One directory entry decoded while (re)building the name map; `n` = its index. */
  | "directory-entry"
  /** A name resolved to its entry; `n` = the entry index. */
  | "resolved"
  /** One thread's row of a counter vector read; `n` = the thread. */
  | "row"
  /** Everything read; the epoch is about to be checked again. */
  | "verify"

export type StepHook = (step: ReadStep, n: number) => void

export interface DirectoryEntry {
  readonly index: number
  readonly name: string
  readonly type: number
}

/** The name → index map, valid for one epoch. */
export interface Directory {
  readonly epoch: bigint
  readonly entries: ReadonlyArray<DirectoryEntry>
  readonly byName: ReadonlyMap<string, DirectoryEntry>
}

/** A VPP vector located in the mapping: element 0 at `offset`, `length` elements. */
interface Vec {
  readonly offset: number
  readonly length: number
}

const u64Max = (1n << 64n) - 1n

export class SegmentView {
  readonly size: number
  private readonly view: DataView
  /** The header's u64 fields, for single-copy-atomic loads of epoch and in_progress. */
  private readonly header: BigUint64Array

  constructor(
    buffer: ArrayBuffer,
    private readonly step: StepHook = () => {}
  ) {
    if (buffer.byteLength < Header.size) {
      throw new StatsCorrupt({ reason: `segment of ${buffer.byteLength} bytes is smaller than its header`, offset: 0 })
    }
    this.size = buffer.byteLength
    this.view = new DataView(buffer)
    this.header = new BigUint64Array(buffer, 0, Header.size / 8)
  }

  version(): bigint {
    return this.view.getBigUint64(Header.version, true)
  }

  epoch(): bigint {
    return Atomics.load(this.header, Header.epoch / 8)
  }

  inProgress(): bigint {
    return Atomics.load(this.header, Header.inProgress / 8)
  }

  base(): bigint {
    return this.view.getBigUint64(Header.base, true)
  }

  /** Calls the test seam. */
  at(step: ReadStep, n = 0): void {
    this.step(step, n)
  }

  /** The directory's name map, as it is now (the caller checks the epoch afterwards). */
  readDirectory(epoch: bigint): Directory {
    const dir = this.directoryVector()
    const entries: Array<DirectoryEntry> = []
    const byName = new Map<string, DirectoryEntry>()
    for (let index = 0; index < dir.length; index++) {
      const at = dir.offset + index * Entry.size
      const type = this.view.getUint32(at + Entry.type, true)
      if (type !== DirType.EMPTY && type !== DirType.ILLEGAL) {
        const entry: DirectoryEntry = { index, name: this.name(at), type }
        entries.push(entry)
        if (!byName.has(entry.name)) byName.set(entry.name, entry)
      }
      this.step("directory-entry", index)
    }
    return { epoch, entries, byName }
  }

  /** The entry named `name` in `directory`, checked to be one of `types`; returns its byte offset. */
  resolve(directory: Directory, name: string, types: ReadonlyArray<number>, expected: string): number {
    const found = directory.byName.get(name)
    if (found === undefined) throw new StatsEntryNotFound({ name })
    const dir = this.directoryVector()
    if (found.index >= dir.length) {
      throw new StatsCorrupt({
        reason: `entry ${found.index} is beyond the directory's ${dir.length} entries`,
        offset: dir.offset - VEC_HEADER_SIZE
      })
    }
    const at = dir.offset + found.index * Entry.size
    const type = this.view.getUint32(at + Entry.type, true)
    this.step("resolved", found.index)
    if (!types.includes(type)) throw new StatsEntryTypeError({ name, expected, actual: dirTypeName(type) })
    return at
  }

  /** The u64 union of the entry at byte offset `at` (a scalar's or gauge's value). */
  value(at: number): bigint {
    return this.view.getBigUint64(at + Entry.value, true)
  }

  /** A simple counter vector, `[thread][index]`, of the entry at byte offset `at`. */
  simpleCounter(at: number): Array<Array<bigint>> {
    const threads = this.vector(this.view.getBigUint64(at + Entry.value, true), 8, at + Entry.value)
    const rows: Array<Array<bigint>> = []
    if (threads === null) return rows
    for (let t = 0; t < threads.length; t++) {
      const slot = threads.offset + t * 8
      const row = this.vector(this.view.getBigUint64(slot, true), 8, slot)
      const values: Array<bigint> = []
      if (row !== null) {
        for (let i = 0; i < row.length; i++) values.push(this.view.getBigUint64(row.offset + i * 8, true))
      }
      rows.push(values)
      this.step("row", t)
    }
    return rows
  }

  private directoryVector(): Vec {
    const dir = this.vector(this.view.getBigUint64(Header.directoryVector, true), Entry.size, Header.directoryVector)
    if (dir === null) throw new StatsCorrupt({ reason: "the directory vector pointer is null", offset: Header.directoryVector })
    return dir
  }

  /**
   * Follows a pointer read at byte `from` to a vector of `elementSize`-byte
   * elements; null for a null pointer. The vector header and every element
   * must lie inside the mapping and after the shared header.
   */
  private vector(pointer: bigint, elementSize: number, from: number): Vec | null {
    if (pointer === 0n) return null
    const offset = (pointer - this.base()) & u64Max
    if (offset < BigInt(Header.size + VEC_HEADER_SIZE) || offset >= BigInt(this.size)) {
      throw new StatsCorrupt({
        reason: `pointer 0x${pointer.toString(16)} is outside the segment (offset 0x${offset.toString(16)}, size ${this.size})`,
        offset: from
      })
    }
    const start = Number(offset)
    const length = this.view.getUint32(start - VEC_HEADER_SIZE, true)
    if (length * elementSize > this.size - start) {
      throw new StatsCorrupt({
        reason: `vector of ${length} × ${elementSize} bytes at offset ${start} runs past the segment's ${this.size} bytes`,
        offset: start - VEC_HEADER_SIZE
      })
    }
    return { offset: start, length }
  }

  private name(at: number): string {
    const start = at + Entry.name
    for (let i = 0; i < Entry.nameSize; i++) {
      if (this.view.getUint8(start + i) === 0) {
        return Buffer.from(this.view.buffer, start, i).toString("utf8")
      }
    }
    throw new StatsCorrupt({ reason: `entry name is not NUL-terminated within ${Entry.nameSize} bytes`, offset: start })
  }
}
