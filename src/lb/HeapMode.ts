/**
 * V8's `--optimize-for-size` lifted while LbSync works, and set again a hold
 * time after its last request (docs/lbsync.md, fourteenth and fifteenth
 * rounds).
 *
 * The daemon runs under that flag for its memory at 10,000 backends
 * (src/daemon/HeapTuning.ts): V8 then keeps the old generation near its live
 * size and makes every major collection one that reduces memory (compacting,
 * shrinking the young generation to 1 MB). A full sync of 1,000 VIPs × 32
 * ASes keeps tens of MB alive (memory of VPP's 32,000 ASes, the desired
 * state, the window) while it makes garbage at ~33,000 requests a second, so
 * under the flag each sync brought mark-compacts that marked all of it again:
 * V8's helper threads used more CPU than the main thread over a reconcile run
 * (thirteenth round), and they had the cores when reactions waited for one.
 * V8 reads the flag as it goes (the heap's growing factor, each collection's
 * flags), so lifting it lets the heap grow while the reconciler works; set
 * again, the next major collection gives the growth back.
 *
 * LbSync's drains are its way in: each drain of its requests is `working`
 * at its start and `idle(holdMs)` at its end, and the lift ends `holdMs`
 * after the last drain unless another begins meanwhile (LbSync holds it
 * only after a drain that wrote lb mutations), so that reactions in a
 * burst, and the syncs among them, all run without the flag (fifteenth
 * round: lifting it for full syncs only left the reactions beside them
 * under it).
 *
 * Only a process that set the flag (`optimizingForSize`, called by the
 * daemon's HeapTuning) lifts it: a test or an embedding program keeps its own
 * V8 settings. Nothing here imports more than `node:v8`, so HeapTuning can
 * call it before the rest of the program is loaded.
 */
import * as v8 from "node:v8"

export interface HeapMode {
  /** The process set `--optimize-for-size` (HeapTuning): `working` may lift it. */
  readonly optimizingForSize: () => void
  /** Whether the flag is lifted now. */
  readonly lifted: () => boolean
  /** Whether a lift is in force (the reconciler works or its hold runs), the flag set or not. */
  readonly lifting: () => boolean
  /** The reconciler works (LbSync drains its requests): the flag lifted, until an `idle`'s hold has passed. */
  readonly working: () => void
  /** The reconciler's drain ended: its lift ends `holdMs` from now (0: now), unless it works again meanwhile. */
  readonly idle: (holdMs: number) => void
}

/** Calls `f` in `ms`; returns its cancel (a timer that keeps no process alive, or a test's). */
export type Schedule = (f: () => void, ms: number) => () => void

const timer: Schedule = (f, ms) => {
  const t = setTimeout(f, ms)
  t.unref()
  return () => clearTimeout(t)
}

/** A heap mode setting V8's flags with `set` (`v8.setFlagsFromString` for the process's own). */
export const make = (set: (flag: string) => void, schedule: Schedule = timer): HeapMode => {
  let sized = false
  /** A lift in force: working, or its hold running. */
  let held = false
  /** The flag lifted by this lift (only where the process had set it when the lift began). */
  let isLifted = false
  let cancel: (() => void) | undefined
  const end = () => {
    cancel = undefined
    held = false
    if (isLifted) {
      set("--optimize-for-size")
      isLifted = false
    }
  }
  return {
    optimizingForSize: () => {
      sized = true
    },
    lifted: () => isLifted,
    lifting: () => held,
    working: () => {
      cancel?.()
      cancel = undefined
      if (held) return
      held = true
      if (sized) {
        set("--no-optimize-for-size")
        isLifted = true
      }
    },
    idle: (holdMs) => {
      if (!held) return
      cancel?.()
      cancel = undefined
      if (holdMs > 0) cancel = schedule(end, holdMs)
      else end()
    }
  }
}

/** The process's own. */
export const heapMode: HeapMode = make((flag) => v8.setFlagsFromString(flag))
