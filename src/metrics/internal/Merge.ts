/**
 * The scrape worker's render: its own families (the metric store, its own
 * counts) written group by group, merged by name with the groups the main
 * thread wrote (`Exposition.Groups`, copied as they are), in slices of
 * `sliceMs` with the worker's event loop let run in between (to see clients
 * come and go). The body is what one `Exposition.renderBytes` of every family
 * would be: the groups in name order, each family once (the worker's, when
 * both have a name).
 */
import { collate, type Groups, type Source, writeGroup, writeHeader, Writer } from "../Exposition.js"

export interface Merged {
  readonly body: Buffer
  readonly longestSliceMs: number
}

export interface MergeOptions {
  readonly sliceMs: number
  readonly capacity?: number | undefined
  readonly reuse?: Buffer | undefined
  /** Asked after each yield: true stops the render (it resolves to undefined). */
  readonly stopped?: () => boolean
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

export const renderMerged = async (own: Iterable<Source>, part: Groups, options: MergeOptions): Promise<Merged | undefined> => {
  const groups = collate(own)
  const w = new Writer(options.capacity, options.reuse)
  let sliceStart = performance.now()
  let deadline = sliceStart + options.sliceMs
  let longest = 0
  const more = () => performance.now() < deadline
  /** Lets the loop run; false when the render is to stop. */
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
      // A name the worker writes too: its own wins.
      if (mine === undefined || theirs !== mine[0]!.name) w.raw(part.body.subarray(partStart, end))
      partStart = end
      p++
      continue
    }
    const group = mine!
    const mark = w.length
    writeHeader(w, group[0]!)
    const body = w.length
    const at = { source: 0, unit: 0 }
    while (!writeGroup(w, group, at, more)) if (!(await yieldNow())) return undefined
    if (w.length === body) w.truncate(mark)
    g++
    if (!more() && !(await yieldNow())) return undefined
  }
  longest = Math.max(longest, performance.now() - sliceStart)
  return { body: w.result(), longestSliceMs: longest }
}
