/**
 * V8's `--optimize-for-size` lifted while LbSync runs a full sync, and set
 * again when the last one ends (docs/lbsync.md, fourteenth round).
 *
 * The daemon runs under that flag for its memory at 10,000 backends
 * (src/daemon/HeapTuning.ts): V8 then keeps the old generation near its live
 * size and makes every major collection one that reduces memory (compacting,
 * shrinking the young generation). A full sync of 1,000 VIPs × 32 ASes keeps
 * tens of MB alive (memory of VPP's 32,000 ASes, the desired state, the
 * window) while it makes garbage at ~33,000 requests a second, so under the
 * flag each sync brought mark-compacts that marked all of it again: V8's
 * helper threads used more CPU than the main thread over a reconcile run
 * (thirteenth round). V8 reads the flag as it goes (the heap's growing
 * factor, each collection's flags), so lifting it for the sync's duration
 * lets the heap grow while the sync runs; set again, the next major
 * collection gives the growth back.
 *
 * Only a process that set the flag (`optimizingForSize`, called by the
 * daemon's HeapTuning) lifts it: a test or an embedding program keeps its own
 * V8 settings. Nothing here imports more than `node:v8`, so HeapTuning can
 * call it before the rest of the program is loaded.
 */
import * as v8 from "node:v8"

export interface HeapMode {
  /** The process set `--optimize-for-size` (HeapTuning): `lift` may lift it. */
  readonly optimizingForSize: () => void
  /** Lifts the flag (the first of nested lifts does); each lift is ended by one `restore`. */
  readonly lift: () => void
  /** Ends a `lift`; the last one sets the flag again. */
  readonly restore: () => void
  /** Whether the flag is lifted now. */
  readonly lifted: () => boolean
  /** Whether a lift is in force (a full sync runs), the flag set or not. */
  readonly lifting: () => boolean
}

/** A heap mode setting V8's flags with `set` (`v8.setFlagsFromString` for the process's own). */
export const make = (set: (flag: string) => void): HeapMode => {
  let sized = false
  let depth = 0
  let isLifted = false
  return {
    optimizingForSize: () => {
      sized = true
    },
    lift: () => {
      if (depth++ === 0 && sized) {
        set("--no-optimize-for-size")
        isLifted = true
      }
    },
    restore: () => {
      if (depth === 0) return
      if (--depth === 0 && isLifted) {
        set("--optimize-for-size")
        isLifted = false
      }
    },
    lifted: () => isLifted,
    lifting: () => depth > 0
  }
}

/** The process's own. */
export const heapMode: HeapMode = make((flag) => v8.setFlagsFromString(flag))
