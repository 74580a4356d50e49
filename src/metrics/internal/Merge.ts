/**
 * The scrape worker's render, streamed: the body is handed out piece by
 * piece as it is written, in name order, so that sending it overlaps
 * writing it. Two phases:
 *
 * 1. `writeAhead`: while the worker waits for the main thread's part, the
 *    metric store's families (probes, durations, transitions: ~75 % of the
 *    bytes at 10,000 backends, needing nothing from the main thread) are
 *    written ahead into their own buffer, in name order, until they are done
 *    or the part is there (asked at each slice's end). Nothing is emitted
 *    yet: the body's first family may be one of the part's.
 * 2. `writeInOrder`: with the part, every family in name order: the part's
 *    groups (copied as the main thread wrote them), the worker's own (the
 *    part's columns, its counts), and the store's, of which what phase 1
 *    wrote is emitted as it is and the rest written on (the units phase 1
 *    did not reach, then the series the part's update told of since: the
 *    family's tail). Each piece is emitted once final: at each slice's end,
 *    and before a piece of the other buffer.
 *
 * The body is what one `Exposition.renderBytes` of every family would be:
 * families in name order, each once, its HELP and TYPE only when it has a
 * line. Emitted pieces are views of the writers' buffers, not copies.
 */
import { collate, type Groups, sameValues, type Source, writeGroup, writeHeader, Writer } from "../Exposition.js"

/**
 * A version to keep (`Families`): its typed arrays copied. A version's arrays
 * are a part's columns, which the scrape worker gives back to the main thread
 * (transferred: detached here, length 0) once no render reads them; a kept
 * version holding them would then compare and patch against empty arrays.
 * Copied only when a family is written (its values changed), not per render.
 */
export const ownVersion = (version: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
  version.map((v) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? (v as unknown as Uint8Array).slice() : v))

/** Buffers of replaced kept bytes `Families` keeps to write into again (the per-backend gauges': four at most change at once). */
export const FREE_BUFFERS = 6

/** Smaller ones are left to the collector (a page fault or two). */
const RECYCLE_MIN_BYTES = 64 * 1024

/** A kept family's first writer (`Families.writer`): this many bytes a unit (a backend's six state lines are ~330). */
export const FAMILY_UNIT_GUESS = 512

/**
 * The families written last time from a `Source.version`, and their bytes
 * (header and lines, in a buffer of their own: written there in phase 2,
 * `writer`, or copied from phase 1's): a render of a family whose
 * version is the same sends those bytes as they are instead of writing them
 * again (at 10,000 backends, the per-backend gauges and the transitions:
 * ~6 MB, which change only when a backend does). Never written over: a
 * family that changed gets new bytes, so that a body still being sent keeps
 * the old ones.
 */
export class Families {
  private readonly last = new Map<
    string,
    { readonly version: ReadonlyArray<unknown>; readonly units: number; readonly bytes: Uint8Array; readonly marks?: Int32Array | undefined }
  >()

  /**
   * The buffers of kept bytes replaced since the last `recycle` (a body
   * still being sent may read them), and those nobody reads any more, which
   * `writer` writes into again: at 10,000 backends a family that changed is
   * a new buffer of up to 3.3 MB (`maglev_backend_state`), whose pages,
   * fresh from malloc while the worker's collector has not freed the last
   * ones, were ~800 page faults a render.
   */
  private retired: Array<ArrayBuffer> = []
  private free: Array<ArrayBuffer> = []

  /**
   * No response reads a body rendered so far (the scrape worker's `take`
   * found its spare): the replaced kept bytes' buffers are free to write
   * into again. At most `FREE_BUFFERS` are kept, the largest.
   */
  recycle(): void {
    if (this.retired.length === 0) return
    const all = [...this.free, ...this.retired].sort((a, b) => b.byteLength - a.byteLength)
    this.free = all.slice(0, FREE_BUFFERS)
    this.retired = []
  }

  /** `bytes`' buffer, replaced: read by no render from now on, maybe by a response still being sent. */
  private retire(bytes: Uint8Array): void {
    const b = bytes.buffer
    if (b instanceof ArrayBuffer && b.byteLength >= RECYCLE_MIN_BYTES) this.retired.push(b)
  }

  /** The bytes of `group` (one source with a version) as last written, if its version and size are the same. */
  find(group: ReadonlyArray<Source>): Uint8Array | undefined {
    const s = group[0]!
    if (group.length !== 1 || s.version === undefined) return undefined
    const hit = this.last.get(s.name)
    return hit !== undefined && hit.units === s.size && sameValues(hit.version, s.version) ? hit.bytes : undefined
  }

  /** `group` was written whole, `bytes` (a view of the body: copied). */
  wrote(group: ReadonlyArray<Source>, bytes: Uint8Array): void {
    const s = group[0]!
    if (group.length !== 1 || s.version === undefined) return
    this.replace(s.name, { version: ownVersion(s.version), units: s.size, bytes: Uint8Array.from(bytes) })
  }

  private replace(name: string, kept: { readonly version: ReadonlyArray<unknown>; readonly units: number; readonly bytes: Uint8Array; readonly marks?: Int32Array | undefined }): void {
    const old = this.last.get(name)
    if (old !== undefined && old.bytes.buffer !== kept.bytes.buffer) this.retire(old.bytes)
    this.last.set(name, kept)
  }

  /** `group` is kept once written whole (one source with a version). */
  keeps(group: ReadonlyArray<Source>): boolean {
    return group.length === 1 && group[0]!.version !== undefined
  }

  /**
   * A writer of `group`'s own (a family it `keeps`), to write it whole into
   * instead of the body: its bytes are then the kept ones as they are
   * (`keep`), not a copy of the body's, and the body's buffer does not hold
   * them too. A new one each time (kept bytes are never written over), sized
   * from the family's last bytes (or `FAMILY_UNIT_GUESS` a unit) so that it
   * does not grow.
   */
  writer(group: ReadonlyArray<Source>): Writer {
    const s = group[0]!
    const last = this.last.get(s.name)
    const capacity = last === undefined ? 1024 + FAMILY_UNIT_GUESS * s.size : Math.ceil(last.bytes.length * 1.05) + 1024
    // A free buffer large enough (the smallest such), else a new one.
    let best = -1
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i]!.byteLength
      if (n >= capacity && (best < 0 || n < this.free[best]!.byteLength)) best = i
    }
    if (best < 0) return new Writer(capacity)
    const reuse = this.free[best]!
    this.free.splice(best, 1)
    return new Writer(capacity, Buffer.from(reuse))
  }

  /**
   * `group` written into `w` (its own, from `writer`) from its last bytes,
   * the values that changed written over (`Source.patch`): true if done
   * (then `keep` them), else `w` is left empty, to write it whole.
   */
  patch(group: ReadonlyArray<Source>, w: Writer): boolean {
    const s = group[0]!
    const last = this.last.get(s.name)
    if (s.patch === undefined || last?.marks === undefined || last.units !== s.size || s.version === undefined) return false
    if (s.patch(w, last.bytes, last.version, last.marks)) return true
    w.truncate(0)
    return false
  }

  /**
   * `group` was written into its own writer (`writer`), whole (its units'
   * `marks` kept with it) or `patched` from its last bytes (the same marks):
   * `bytes` kept as they are.
   */
  keep(group: ReadonlyArray<Source>, bytes: Uint8Array, patched = false): void {
    const s = group[0]!
    if (group.length !== 1 || s.version === undefined) return
    const marks = patched ? this.last.get(s.name)?.marks : s.marks?.()
    this.replace(s.name, { version: ownVersion(s.version), units: s.size, bytes, marks })
  }

  /** Bytes kept. */
  get bytes(): number {
    let n = 0
    for (const f of this.last.values()) n += f.bytes.length
    return n
  }
}

/** One turn of the event loop. */
export const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

/** Writing in slices of `sliceMs`, the event loop let run in between; `stopped` asked after each yield. */
export class Slices {
  private start = performance.now()
  private deadline: number
  /** The longest slice so far, ms. */
  longest = 0
  /** Slices so far: 1, and one more at each `next`. */
  count = 1

  constructor(
    private readonly sliceMs: number,
    private readonly stopped: () => boolean = () => false,
    private readonly yieldTo: () => Promise<void> = turn
  ) {
    this.deadline = this.start + sliceMs
  }

  readonly more = (): boolean => performance.now() < this.deadline

  /** Lets the loop run; false when the writing is to stop. */
  async next(): Promise<boolean> {
    this.close()
    this.count++
    await this.yieldTo()
    this.start = performance.now()
    this.deadline = this.start + this.sliceMs
    return !this.stopped()
  }

  /** The current slice is over (counted in `longest`). */
  close(): void {
    this.longest = Math.max(this.longest, performance.now() - this.start)
  }
}

/** What phase 1 wrote of one of the store's families. */
export interface Ahead {
  /** Where its header starts and ends, and where its lines end, in the store's writer. */
  readonly start: number
  readonly body: number
  end: number
  /** Units written (each store family is one source). */
  units: number
  /** Its header and lines as an earlier render wrote them (`Families`), instead of bytes in the store's writer. */
  readonly kept?: Uint8Array
}

/**
 * Phase 1: the store's families (`before`, one source each) written into
 * `store` in name order, until done or, at a slice's end, `until()`; what
 * each got (undefined: stopped). A family that wrote no line keeps no header.
 */
export const writeAhead = async (
  before: ReadonlyArray<Source>,
  store: Writer,
  slices: Slices,
  until: () => boolean,
  families?: Families
): Promise<Map<string, Ahead> | undefined> => {
  const ahead = new Map<string, Ahead>()
  for (const group of collate(before)) {
    const kept = families?.find(group)
    if (kept !== undefined) {
      ahead.set(group[0]!.name, { start: store.length, body: store.length, end: store.length, units: group[0]!.size, kept })
      continue
    }
    const start = store.length
    writeHeader(store, group[0]!)
    const a: Ahead = { start, body: store.length, end: store.length, units: 0 }
    ahead.set(group[0]!.name, a)
    const at = { source: 0, unit: 0 }
    let done = false
    for (;;) {
      done = writeGroup(store, group, at, slices.more)
      a.units = done ? group[0]!.size : at.unit
      a.end = store.length
      if (done || !(await slices.next())) break
      if (until()) return ahead
    }
    if (!done) return undefined
    if (a.end === a.body) {
      // No line: no header either, and nothing to emit.
      store.truncate(start)
      a.end = start
    }
    families?.wrote(group, store.view(start, a.end))
    if (!slices.more()) {
      if (!(await slices.next())) return undefined
      if (until()) return ahead
    }
  }
  return ahead
}

/**
 * Phase 2: every family in name order, emitted as written: the store's
 * (`after`: the same families read now, each one source whose first units
 * are `before`'s) from what phase 1 wrote on, `own` (the worker's: a part's
 * group of a name it has too is left out), the part's groups copied. All of
 * it is written on in `out`, after phase 1's bytes (one buffer, sized once
 * from the last body); phase 1's ranges are emitted in their turn. False
 * when stopped.
 */
export const writeInOrder = async (
  ahead: ReadonlyMap<string, Ahead>,
  out: Writer,
  after: ReadonlyArray<Source>,
  own: Iterable<Source>,
  part: Groups,
  slices: Slices,
  emit: (piece: Uint8Array) => void,
  families?: Families
): Promise<boolean> => {
  const storeGroups = new Map(collate(after).map((g) => [g[0]!.name, g]))
  const ownGroups = new Map(collate(own).map((g) => [g[0]!.name, g]))
  const partIndex = new Map(part.names.map((n, i) => [n, i]))
  const names = [...new Set([...storeGroups.keys(), ...ownGroups.keys(), ...part.names])].sort()
  /**
   * Where phase 2 writes: the body (after phase 1's bytes), or while a kept
   * family is written, that family's own writer (`Families.writer`); what of
   * it is emitted so far, and while a family has no line yet, where its
   * header starts (not emitted: it may have none).
   */
  const body = { w: out, flushed: out.length, hold: -1 }
  let to = body
  const flush = () => {
    const end = to.hold >= 0 ? to.hold : to.w.length
    if (end > to.flushed) emit(to.w.view(to.flushed, end))
    to.flushed = Math.max(to.flushed, end)
  }
  const pause = () => {
    flush()
    return slices.next()
  }
  /** A family into `to` from `at`, with its header if `headed` (dropped if no line follows). */
  const write = async (group: ReadonlyArray<Source>, at: { source: number; unit: number }, headed: boolean) => {
    const w = to.w
    const mark = w.length
    if (headed) {
      writeHeader(w, group[0]!)
      to.hold = mark
    }
    const start = w.length
    while (!writeGroup(w, group, at, slices.more)) {
      if (w.length > start) to.hold = -1
      if (!(await pause())) return false
    }
    if (headed && w.length === start) w.truncate(mark)
    to.hold = -1
    return true
  }
  /** A family written whole: kept for the next render if it has a version (`Families`), written into its own writer. */
  const whole = async (group: ReadonlyArray<Source>) => {
    const kept = families?.find(group)
    if (kept !== undefined) {
      flush()
      if (kept.length > 0) emit(kept)
      return true
    }
    if (families === undefined || !families.keeps(group)) return write(group, { source: 0, unit: 0 }, true)
    flush()
    const own = { w: families.writer(group), flushed: 0, hold: -1 }
    // From its last bytes, the values that changed written over (one move and a few digits), else whole.
    const patched = families.patch(group, own.w)
    to = own
    try {
      if (!patched && !(await write(group, { source: 0, unit: 0 }, true))) return false
      flush()
    } finally {
      to = body
    }
    families.keep(group, own.w.result(), patched)
    return true
  }
  for (const name of names) {
    const mine = ownGroups.get(name)
    const stored = storeGroups.get(name)
    if (mine !== undefined) {
      if (!(await whole(mine))) return false
    } else if (stored !== undefined) {
      const a = ahead.get(name)
      if (a?.kept !== undefined) {
        // As an earlier render wrote it, then the series told since, if any (a new series is a new version: none).
        flush()
        if (a.kept.length > 0) emit(a.kept)
        if (!(await write(stored, { source: 0, unit: a.units }, a.kept.length === 0))) return false
      } else if (a !== undefined && a.end > a.body) {
        // Phase 1's lines as they are, then the units it did not reach and the new series, without a header.
        flush()
        emit(out.view(a.start, a.end))
        if (!(await write(stored, { source: 0, unit: a.units }, false))) return false
      } else if (!(await whole(stored))) return false
    } else {
      const i = partIndex.get(name)!
      out.raw(part.body.subarray(i === 0 ? 0 : part.ends[i - 1]!, part.ends[i]!))
    }
    if (!slices.more() && !(await pause())) return false
  }
  flush()
  slices.close()
  return true
}
