/**
 * The scrape worker's render, in two halves written into two buffers:
 *
 * - the metric store's families (probes, durations, transitions: ~75 % of
 *   the bytes at 10,000 backends), which need nothing from the main thread:
 *   written while the worker waits for the main thread's part;
 * - the rest: the per-backend gauges from the part's columns and the
 *   worker's own families, merged by name with the groups the main thread
 *   wrote (copied as they are).
 *
 * Each half is a list of groups in name order (`Groups`), written in slices
 * of `sliceMs` with the worker's event loop let run in between (to see
 * clients come and go); `interleave` gives the body as the two halves'
 * pieces in name order, sent one after the other without copying them into
 * one buffer. The body is what one `Exposition.renderBytes` of every family
 * would be: the groups in name order, each family once.
 */
import { collate, type Groups, type Source, writeGroup, writeHeader, Writer } from "../Exposition.js"

export interface Written {
  readonly groups: Groups
  readonly longestSliceMs: number
}

export interface WriteOptions {
  readonly sliceMs: number
  readonly capacity?: number | undefined
  readonly reuse?: Buffer | undefined
  /** Asked after each yield: true stops the writing (it resolves to undefined). */
  readonly stopped?: () => boolean
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

const NONE: Groups = { body: new Uint8Array(0), names: [], ends: [] }

/**
 * `own` written group by group, merged by name with `part`'s groups (its
 * group of a name `own` has too is left out), in slices; `headed` says which
 * of `own`'s groups get their HELP and TYPE (all by default).
 */
export const writeGroups = async (
  own: Iterable<Source>,
  part: Groups = NONE,
  options: WriteOptions,
  headed: (name: string) => boolean = () => true
): Promise<Written | undefined> => {
  const groups = collate(own)
  const w = new Writer(options.capacity, options.reuse)
  const names: Array<string> = []
  const ends: Array<number> = []
  let sliceStart = performance.now()
  let deadline = sliceStart + options.sliceMs
  let longest = 0
  const more = () => performance.now() < deadline
  /** Lets the loop run; false when the writing is to stop. */
  const yieldNow = async (): Promise<boolean> => {
    longest = Math.max(longest, performance.now() - sliceStart)
    await turn()
    sliceStart = performance.now()
    deadline = sliceStart + options.sliceMs
    return options.stopped?.() !== true
  }
  let g = 0
  let p = 0
  let partStart = 0
  while (g < groups.length || p < part.names.length) {
    const mine = groups[g]
    const theirs = part.names[p]
    if (theirs !== undefined && (mine === undefined || theirs <= mine[0]!.name)) {
      const end = part.ends[p]!
      if (mine === undefined || theirs !== mine[0]!.name) {
        w.raw(part.body.subarray(partStart, end))
        names.push(theirs)
        ends.push(w.length)
      }
      partStart = end
      p++
      continue
    }
    const group = mine!
    const mark = w.length
    if (headed(group[0]!.name)) writeHeader(w, group[0]!)
    const body = w.length
    const at = { source: 0, unit: 0 }
    while (!writeGroup(w, group, at, more)) if (!(await yieldNow())) return undefined
    if (w.length === body) w.truncate(mark)
    else {
      names.push(group[0]!.name)
      ends.push(w.length)
    }
    g++
    if (!more() && !(await yieldNow())) return undefined
  }
  longest = Math.max(longest, performance.now() - sliceStart)
  return { groups: { body: w.result(), names, ends }, longestSliceMs: longest }
}

/**
 * What `before` (sources of the metric store read earlier, each a family of
 * one source) did not cover of `after` (the same, read now: the store's
 * series lists only grow, so the new series are the last units of each
 * family): their lines, a family's header only where `written` (what was
 * written from `before`) has no group of that name. For the series the main
 * thread told of while the store's half was being written.
 */
export const writeTails = async (
  before: ReadonlyArray<Source>,
  after: ReadonlyArray<Source>,
  written: Groups,
  options: WriteOptions
): Promise<Written | undefined> => {
  const sizes = new Map(before.map((s) => [s.name, s.size]))
  const tails: Array<Source> = []
  for (const s of after) {
    const from = sizes.get(s.name) ?? 0
    if (s.size > from) tails.push({ ...s, size: s.size - from, write: (w, i) => s.write(w, from + i) })
  }
  if (tails.length === 0) return { groups: NONE, longestSliceMs: 0 }
  const headed = new Set(written.names)
  // A family already headed in `written`: its tail is lines only.
  return writeGroups(tails, NONE, options, (name) => !headed.has(name))
}

/**
 * Lists of groups as one body: their pieces in name order, a name's groups
 * in the order of the lists (the store's half, then its tail), consecutive
 * groups of one list as one piece.
 */
export const interleave = (lists: ReadonlyArray<Groups>): ReadonlyArray<Uint8Array> => {
  const entries: Array<{ readonly name: string; readonly list: number; readonly start: number; readonly end: number }> = []
  lists.forEach((g, list) => {
    let start = 0
    g.names.forEach((name, i) => {
      entries.push({ name, list, start, end: g.ends[i]! })
      start = g.ends[i]!
    })
  })
  entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : x.list - y.list))
  const pieces: Array<Uint8Array> = []
  let current: { list: number; start: number; end: number } | undefined
  for (const e of entries) {
    if (current !== undefined && current.list === e.list && current.end === e.start) {
      current.end = e.end
      continue
    }
    if (current !== undefined) pieces.push(lists[current.list]!.body.subarray(current.start, current.end))
    current = { list: e.list, start: e.start, end: e.end }
  }
  if (current !== undefined) pieces.push(lists[current.list]!.body.subarray(current.start, current.end))
  return pieces
}
