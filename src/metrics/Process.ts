/**
 * The process and build metrics every Prometheus client library exports,
 * under the names the Prometheus documentation gives them
 * (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics),
 * so that dashboards and alerts written for any exporter work:
 *
 * - `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 *   `process_virtual_memory_bytes`, `process_heap_bytes` (V8's used heap),
 *   `process_open_fds`, `process_max_fds`, `process_start_time_seconds`;
 * - `maglev_build_info{version,revision,date,nodejs}` 1, the version and
 *   commit as labels, to join on.
 *
 * Read at scrape time (a `/proc/self/fd` listing and a small `/proc` read;
 * without `/proc`, the fd and virtual-memory families are left out).
 */
import * as fs from "node:fs"
import { buildSync } from "../Version.js"
import { fromFamily, type Source } from "./Prometheus.js"

/** When the process started, in Unix seconds. */
const START = performance.timeOrigin / 1000

const gauge = (name: string, help: string, value: number): Source =>
  fromFamily({ name, help, type: "gauge", samples: [{ labels: [], value }] })

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

const openFds = (): number | undefined => {
  try {
    return fs.readdirSync("/proc/self/fd").length
  } catch {
    return undefined
  }
}

/** The soft limit on open files (`ulimit -n`), from /proc/self/limits. */
export const maxFds = (limits: string | undefined): number | undefined => {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits ?? "")
  if (m === null) return undefined
  return m[1] === "unlimited" ? Infinity : Number(m[1])
}

/** The virtual memory size, from /proc/self/status (`VmSize: N kB`). */
export const virtualBytes = (status: string | undefined): number | undefined => {
  const m = /^VmSize:\s+(\d+) kB/m.exec(status ?? "")
  return m === null ? undefined : Number(m[1]) * 1024
}

const optional = (name: string, help: string, value: number | undefined): ReadonlyArray<Source> =>
  value === undefined ? [] : [gauge(name, help, value)]

/** The process and build families, read now. */
export const sources = (): ReadonlyArray<Source> => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const build = buildSync() // in maglevd, known since its start (no git here)
  return [
    fromFamily({
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      type: "counter",
      samples: [{ labels: [], value: (cpu.user + cpu.system) / 1e6 }]
    }),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
    ...optional("process_virtual_memory_bytes", "Virtual memory size in bytes.", virtualBytes(read("/proc/self/status"))),
    gauge("process_heap_bytes", "Process heap size in bytes (V8's heap in use).", memory.heapUsed),
    ...optional("process_open_fds", "Number of open file descriptors.", openFds()),
    ...optional("process_max_fds", "Maximum number of open file descriptors.", maxFds(read("/proc/self/limits"))),
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", START),
    fromFamily({
      name: "maglev_build_info",
      help: "Always 1; the build's version, commit (revision) and date, and the Node.js version, as labels.",
      type: "gauge",
      samples: [{ labels: [["version", build.version], ["revision", build.commit], ["date", build.date], ["nodejs", process.version]], value: 1 }]
    })
  ]
}
