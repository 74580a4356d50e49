/**
 * The /metrics endpoint's own metrics (`maglev_metrics_*`): their names and
 * help, shared by the in-process route (Server.ts, Effect metrics) and the
 * scrape worker (ScrapeWorker.ts, which keeps its counts itself and writes
 * them with `sources`). No Effect here: the worker loads this module.
 */
import { readFileSync } from "node:fs"
import { fromFamily, type Source } from "../Exposition.js"
import type { EndpointStats } from "./ScrapeWire.js"

export const RENDERS = "maglev_metrics_renders_total"
export const RENDERS_HELP = "Renders of /metrics by outcome: completed, or abandoned (every scrape waiting for it went away before the end)."
export const SHARED = "maglev_metrics_scrapes_shared_total"
export const SHARED_HELP = "Scrapes of /metrics answered by a render another scrape had started (never two renders at once)."
export const WAITING = "maglev_metrics_scrapes_waiting"
export const WAITING_HELP = "Scrapes of /metrics waiting for the render in flight."
export const SECONDS = "maglev_metrics_render_seconds"
export const SECONDS_HELP = "Wall-clock time of the last completed render of /metrics, in seconds, slices and the waits between them included."
export const LONGEST_SLICE = "maglev_metrics_render_longest_slice_seconds"
export const LONGEST_SLICE_HELP = "Longest stretch the last completed /metrics render held the event loop between two yields, in seconds."
export const SLICES = "maglev_metrics_render_slices"
export const SLICES_HELP = "Slices the last completed /metrics render was written in: one more each time it let the event loop run (and sent what it had written)."
export const CPU = "maglev_metrics_render_cpu_seconds"
export const CPU_HELP =
  "CPU time of the scrape worker's thread during the last completed /metrics render, in seconds, user and kernel (its writes to the sockets included); Linux only."
export const BYTES = "maglev_metrics_render_bytes"
export const BYTES_HELP = "Size of the last completed /metrics body, in bytes."
export const PART_AGE = "maglev_metrics_part_age_seconds"
export const PART_AGE_HELP =
  "Age of the main thread's part of this body (the gauges read at scrape time, Effect's registry, the process's), in seconds: how long before the render it was read."
export const STALE = "maglev_metrics_stale_renders_total"
export const STALE_HELP = "Renders of /metrics that used the main thread's last part because it did not answer in time (a blocked or busy event loop)."

/** Every name the worker writes itself (the main thread's part leaves them out). */
export const NAMES: ReadonlyArray<string> = [RENDERS, SHARED, WAITING, SECONDS, CPU, LONGEST_SLICE, SLICES, BYTES, PART_AGE, STALE]

export interface LastRender {
  readonly seconds: number
  readonly longestSliceSeconds: number
  /** How many slices it was written in (`Merge.Slices.count`). */
  readonly slices: number
  readonly bytes: number
  /** The thread's CPU time during the render (NaN where unknown). */
  readonly cpuSeconds: number
}

/**
 * The calling thread's CPU time so far, ns (user and kernel: the first field
 * of /proc/thread-self/schedstat); NaN where there is none (not Linux).
 */
export const threadCpuNs = (): number => {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "latin1").split(" ", 1)[0])
  } catch {
    return NaN
  }
}

const gauge = (name: string, help: string, value: number): Source => fromFamily({ name, help, type: "gauge", samples: [{ labels: [], value }] })
const counter = (name: string, help: string, value: number): Source => fromFamily({ name, help, type: "counter", samples: [{ labels: [], value }] })

/** The worker's families for one render: its counts as they are when it starts, the last completed render's figures. */
export const sources = (stats: EndpointStats, last: LastRender | undefined, partAgeSeconds: number): ReadonlyArray<Source> => [
  fromFamily({
    name: RENDERS,
    help: RENDERS_HELP,
    type: "counter",
    samples: [{ labels: [["outcome", "completed"]], value: stats.completed }, { labels: [["outcome", "abandoned"]], value: stats.abandoned }]
  }),
  counter(SHARED, SHARED_HELP, stats.shared),
  gauge(WAITING, WAITING_HELP, stats.waiting),
  counter(STALE, STALE_HELP, stats.stale),
  gauge(PART_AGE, PART_AGE_HELP, partAgeSeconds),
  ...(last === undefined ? [] : [
    gauge(SECONDS, SECONDS_HELP, last.seconds),
    ...(Number.isNaN(last.cpuSeconds) ? [] : [gauge(CPU, CPU_HELP, last.cpuSeconds)]),
    gauge(LONGEST_SLICE, LONGEST_SLICE_HELP, last.longestSliceSeconds),
    gauge(SLICES, SLICES_HELP, last.slices),
    gauge(BYTES, BYTES_HELP, last.bytes)
  ])
]
