/**
 * A preload (`node --import tsx --import bench/reconcileTrace.ts`) for the
 * reconcile bench's processes: records every trace point (src/internal/Trace.ts)
 * and every garbage collection with `performance.timeOrigin + performance.now()`
 * (ms since the epoch, sub-millisecond, shared by the processes of one machine)
 * and writes them to RECONCILE_TRACE_OUT when the process exits, one per line:
 * `<time> <stage> <detail>` (`gc` points: `<start> gc <duration> <kind>`).
 * What is kept while the process runs is a few typed arrays: the recording
 * makes next to nothing for the collector it measures.
 */
import * as dc from "node:diagnostics_channel"
import * as fs from "node:fs"
import { performance, PerformanceObserver } from "node:perf_hooks"
import { CHANNEL, type Point } from "../src/internal/Trace.js"

const out = process.env["RECONCILE_TRACE_OUT"]
if (out !== undefined && out !== "") {
  const CAPACITY = 1 << 20
  const times = new Float64Array(CAPACITY)
  const stages = new Uint8Array(CAPACITY)
  const numbers = new Float64Array(CAPACITY)
  const strings = new Map<number, string>()
  const names: Array<string> = []
  const ids = new Map<string, number>()
  let n = 0
  const origin = performance.timeOrigin
  const record = (stage: string, detail: string | number | undefined, at: number) => {
    if (n >= CAPACITY) return
    let id = ids.get(stage)
    if (id === undefined) {
      id = names.length
      names.push(stage)
      ids.set(stage, id)
    }
    times[n] = at
    stages[n] = id
    if (typeof detail === "string") strings.set(n, detail)
    else numbers[n] = detail ?? NaN
    n++
  }
  dc.subscribe(CHANNEL, (m) => {
    const p = m as Point
    record(p.stage, p.detail, origin + performance.now())
  })
  // kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental marking, 8 weak callbacks.
  const gcs: Array<string> = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
      gcs.push(`${(origin + e.startTime).toFixed(3)} gc ${e.duration.toFixed(3)} ${kind}`)
    }
  }).observe({ entryTypes: ["gc"] })
  process.once("exit", () => {
    const lines: Array<string> = []
    for (let i = 0; i < n; i++) {
      const d = strings.get(i) ?? (Number.isNaN(numbers[i]!) ? "" : String(numbers[i]))
      lines.push(`${times[i]!.toFixed(3)} ${names[stages[i]!]!} ${d}`)
    }
    fs.writeFileSync(out, [...lines, ...gcs].join("\n") + "\n")
  })
}
