/**
 * maglevd's threads and the kernel's time slices (`--sched-slice`).
 *
 * Linux's fair scheduler (EEVDF, 6.6 on) runs each thread in turns of a
 * slice (0.7 ms × (1 + log2 CPUs): 1.4 ms on two cores); from 6.12 a thread
 * may ask for its own, 0.1-100 ms, without privileges (sched_setattr(2)'s
 * sched_runtime; kernel/sched/syscalls.c, __setscheduler_params). A shorter
 * slice is not a larger share of the CPU: the thread's virtual deadline comes
 * sooner, so when it wakes it gets a core ahead of threads with longer slices
 * (the PREEMPT_SHORT feature preempts them), and it then runs in shorter
 * turns. That is what maglevd's event loop wants: its work comes in short
 * bursts that something waits for (a verdict to turn into VPP's weight
 * message, a probe's timer, a scrape), while on a busy host the cores are
 * held by V8's collector helper threads, the probe threads, the backends,
 * VPP itself.
 *
 * maglevd asks for it on its main thread as it starts, before it starts any
 * other thread: the threads the main thread starts afterwards inherit it
 * (the probe threads and the scrape worker, whose work is alike), V8's
 * helper threads, started with the process, keep the kernel's base slice.
 * docs/health.md "The kernel's time slices" has the figures.
 */
import * as Native from "../native/Native.js"

/** The kernel's bounds for a thread's own slice (kernel/sched/syscalls.c clamps to these). */
const MIN_NS = 100_000
const MAX_NS = 100_000_000

/** maglevd's default `--sched-slice`. */
export const DEFAULT = "off"

const UNITS: Record<string, number> = { ns: 1, us: 1_000, "µs": 1_000, ms: 1_000_000 }

/**
 * `--sched-slice`: "off" (0: the kernel's base slice, nothing asked), or a
 * duration from 100us to 100ms ("100us", "0.5ms", "2ms"): the slice in ns;
 * a string saying what is wrong otherwise.
 */
export const parse = (text: string): number | string => {
  const t = text.trim()
  if (t === "off") return 0
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms)$/.exec(t)
  if (m === null) return `expected off, or a duration such as 100us or 0.5ms`
  const ns = Math.round(Number(m[1]) * UNITS[m[2]!]!)
  if (ns < MIN_NS || ns > MAX_NS) return `must be from 100us to 100ms (the kernel's bounds), or off`
  return ns
}

/** What asking for a slice came to. */
export type Outcome =
  | { readonly _tag: "Off" }
  /** The thread has the slice asked for. */
  | { readonly _tag: "Applied"; readonly sliceNs: number }
  /** The kernel took the call but has no slices of a thread's own (before 6.12), or refused it, or the addon is missing. */
  | { readonly _tag: "Unsupported"; readonly reason: string }

/**
 * Asks the kernel for a slice of `ns` for the calling thread (the threads it
 * starts afterwards inherit it); `0` asks for nothing. Never throws.
 */
export const apply = (ns: number): Outcome => {
  if (ns === 0) return { _tag: "Off" }
  try {
    const now = Native.setSchedSlice(0, ns)
    if (now === ns) return { _tag: "Applied", sliceNs: now }
    // Kernels before 6.12 accept sched_runtime for a fair thread and ignore it.
    return { _tag: "Unsupported", reason: `the kernel keeps its own slice (${now} ns): custom slices need Linux 6.12 or later` }
  } catch (e) {
    return { _tag: "Unsupported", reason: Native.isNativeError(e) ? `${e.syscall} ${e.code}` : String(e) }
  }
}
