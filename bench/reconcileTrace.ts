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
import { createRequire, syncBuiltinESMExports } from "node:module"
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
  // Each write to stdout, timed (`stdout <duration> <bytes>` at its start; `stdout-eagain` when the
  // reader had no room): the log writer's `fs.writeSync(1, ...)` (src/internal/Log.ts), and
  // `process.stdout.write` (an older tree's writer, and anything else).
  const timed = (t0: number, bytes: number) => record("stdout", `${(performance.now() - t0).toFixed(3)} ${bytes}`, origin + t0)
  const stdout = process.stdout
  const write = stdout.write
  stdout.write = function(this: typeof stdout, ...args: Parameters<typeof write>) {
    const t0 = performance.now()
    const ok = write.apply(this, args)
    const chunk = args[0]
    timed(t0, typeof chunk === "string" ? chunk.length : (chunk as Uint8Array).byteLength)
    return ok
  } as typeof write
  const fsModule = createRequire(import.meta.url)("node:fs") as typeof fs
  const writeSync = fsModule.writeSync
  fsModule.writeSync = function(fd: number, ...rest: Array<unknown>) {
    if (fd !== 1) return (writeSync as (...a: Array<unknown>) => number)(fd, ...rest)
    const t0 = performance.now()
    try {
      const n = (writeSync as (...a: Array<unknown>) => number)(fd, ...rest)
      timed(t0, n)
      return n
    } catch (e) {
      record("stdout-eagain", (e as { code?: string }).code ?? "", origin + t0)
      throw e
    }
  } as typeof fs.writeSync
  syncBuiltinESMExports()
  /**
   * The process's CPU time (getrusage: exact at any instant, every thread) and the main thread's
   * run-queue wait (/proc/thread-self/schedstat's second field, the time runnable without a core:
   * accounted as each wait ends, so exact while the thread runs; its first field, the time run,
   * is not, being updated only at scheduler ticks and switches) at the points of a reaction's way, as
   * `<time> sched <cpu ms> <wait ms> <stage>` lines: between two of them, what the process did with
   * the time (ran, waited for a core, or slept in the event loop's poll). A sample costs a few µs.
   */
  const SCHED = new Set(["verdict", "lb-seen", "lb-taken", "lb-queued", "written", "read", "lb-answered", "lb-logged", "frontends-judged"])
  const schedFd = fs.openSync("/proc/thread-self/schedstat", "r")
  const schedBuf = Buffer.alloc(96)
  const schedLines: Array<string> = []
  const sched = (stage: string, at: number) => {
    const n = fs.readSync(schedFd, schedBuf, 0, schedBuf.length, 0)
    const wait = schedBuf.toString("latin1", 0, n).split(" ")[1]
    const cpu = process.cpuUsage()
    if (schedLines.length < CAPACITY) schedLines.push(`${at.toFixed(3)} sched ${((cpu.user + cpu.system) / 1e3).toFixed(3)} ${(Number(wait) / 1e6).toFixed(3)} ${stage}`)
  }
  /**
   * The socket's `written` and `read` are sampled in maglevd only within 500 ms of a verdict: the
   * samples are read around reactions (reconcileStages.ts), and a full sync's ~2,000 writes and reads
   * each sampled cost maglevd ~0.15 s of CPU in its first programming (two system calls a sample,
   * getrusage over all its threads among them), which the daemon never spends. vppsim, which sees
   * no verdict, samples every one.
   */
  const SOCKET = new Set(["written", "read"])
  let reactionUntil = Number.NEGATIVE_INFINITY
  let verdicts = false
  dc.subscribe(CHANNEL, (m) => {
    const p = m as Point
    const at = origin + performance.now()
    record(p.stage, p.detail, at)
    if (p.stage === "verdict") {
      verdicts = true
      reactionUntil = at + 500
    }
    if (SCHED.has(p.stage) && (!verdicts || !SOCKET.has(p.stage) || at <= reactionUntil)) sched(p.stage, at)
  })
  // kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental marking, 8 weak callbacks.
  const gcs: Array<string> = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
      gcs.push(`${(origin + e.startTime).toFixed(3)} gc ${e.duration.toFixed(3)} ${kind}`)
    }
  }).observe({ entryTypes: ["gc"] })
  // The monotonic clock of `--cpu-prof` profiles (µs) against these stamps: wall ms = origin + profile µs / 1000 - clock.
  record("clock", Number(process.hrtime.bigint()) / 1e6 - performance.now(), origin)
  // Whether stdout is non-blocking (O_NONBLOCK, 04000 in fdinfo's octal flags): Node's own stream over a pipe or socket.
  setImmediate(() => {
    process.stdout.write("")
    const flags = /flags:\s*(\d+)/.exec(fs.readFileSync("/proc/self/fdinfo/1", "utf8"))?.[1]
    record("stdout-flags", flags === undefined ? "?" : (parseInt(flags, 8) & 0o4000) !== 0 ? "nonblocking" : "blocking", origin + performance.now())
  })
  process.once("exit", () => {
    const lines: Array<string> = []
    for (let i = 0; i < n; i++) {
      const d = strings.get(i) ?? (Number.isNaN(numbers[i]!) ? "" : String(numbers[i]))
      lines.push(`${times[i]!.toFixed(3)} ${names[stages[i]!]!} ${d}`)
    }
    fs.writeFileSync(out, [...lines, ...gcs, ...schedLines].join("\n") + "\n")
  })
}
