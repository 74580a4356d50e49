/**
 * GET /metrics at scale: the exposition of N backends (probe counters by
 * code, an 11-bucket duration histogram, state gauges, transitions, weights)
 * rendered again and again in process, as `Server.routes` does (in slices,
 * yielding to the event loop). Prints render time p50/p99, CPU per render,
 * the body's size, and the longest the event loop was blocked. Each N runs in
 * a fresh process: the metric store is global. Then the same renders with the
 * event loop busy (10 ms of other work per turn, as a daemon probing 10,000
 * backends), with the default slices and with 2 ms ones: each yield costs a
 * turn.
 *
 * Then whole scrapes over HTTP (curl, another process: time to the first
 * byte and to the last), of a daemon probing N backends every second (a
 * scripted prober: every probe on this thread), side by side: the scrape
 * worker (`MetricsServer.layer`, what maglevd serves) and the in-process
 * route (`Server.routes`, how maglevd served it before), alternately; with
 * the main thread only probing, and with it also blocked 150 ms every 500 ms
 * (as a major garbage collection of a daemon at 10,000 backends pauses it).
 * Then a real Prometheus (/usr/bin/prometheus, if installed) scraping the
 * worker every 2 s (5 scrapes, 60 s at most): its own `scrape_duration_seconds` but its
 * first, the operator's figure (its ingestion of the samples included).
 * Target at 10,000 backends: a scrape <= 50 ms, request to last byte.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import { Context, Effect, HashMap, Layer, Logger, Metric } from "effect"
import { execFile, fork, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as Daemon from "../src/daemon/Daemon.js"
import * as Prober from "../src/health/Prober.js"
import { probeResult } from "../src/health/ProbeResult.js"
import * as HttpListener from "../src/internal/HttpListener.js"
import * as Columns from "../src/metrics/Columns.js"
import * as Gauges from "../src/metrics/Gauges.js"
import { Slices, writeAhead, writeInOrder } from "../src/metrics/internal/Merge.js"
import * as Prometheus from "../src/metrics/Prometheus.js"
import * as Server from "../src/metrics/Server.js"
import * as Store from "../src/metrics/Store.js"
import { oneBlank } from "../test/metrics/exposition.js"
import { allUp, feed, scaleConfig } from "../test/metrics/scale.js"
import { freePort } from "./internal/net.js"

export interface MetricsFigures {
  readonly backends: number
  readonly renders: number
  readonly bytes: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly cpuMsPerRender: number
  /** Share of that CPU in the kernel (page faults of the output buffer, mostly). */
  readonly systemShare: number
  /** The event loop's longest wait during the renders (a 1 ms timer's delay): how long a slice blocked it. */
  readonly maxLoopDelayMs: number
  /** The longest slice of writing the renderer measured between two yields (wall time: GC and preemption by the OS count). */
  readonly longestSliceMs: number
  /** Render wall time p50 while the event loop is busy (BUSY_TURN_MS of other work per turn), with the default slices and with 2 ms ones. */
  readonly busyP50Ms: number
  readonly busyP50Ms2: number
  /** The first render of a configuration (its layout and names made as it writes): wall ms, and a 1 ms timer's worst delay meanwhile. */
  readonly firstMs: number
  readonly firstMaxLoopDelayMs: number
  /**
   * The same body as the scrape worker makes it, on this one thread (so its CPU is counted alone), alternating with
   * the in-process render: CPU per render of each, and of the main thread's part (what the worker asks of it per scrape).
   */
  readonly workerCpuMs: number
  readonly inProcessCpuMs: number
  readonly mainPartCpuMs: number
  /** Whole scrapes over HTTP, by server and condition (see `scrapes`). */
  readonly scrapes: ReadonlyArray<ScrapeFigures>
  /** A real Prometheus scraping the worker: its own `scrape_duration_seconds` (ms), or why there is none. */
  readonly prometheus: PrometheusFigures | string
}

export interface PrometheusFigures {
  readonly scrapes: number
  readonly p50Ms: number
  readonly maxMs: number
}

export interface ScrapeFigures {
  readonly server: "worker" | "in-process"
  readonly condition: "probing" | "probing, 150 ms pauses"
  readonly scrapes: number
  readonly firstByteP50Ms: number
  readonly wholeP50Ms: number
  readonly wholeMaxMs: number
  readonly bytes: number
}

/** What other work costs each turn of the loop in the busy figure (a daemon busy with probes and their results). */
export const BUSY_TURN_MS = 10

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

export const run = async (backends: number, budgetMs = 5000): Promise<MetricsFigures> => {
  const config = scaleConfig(backends, "b")
  await Effect.runPromise(feed(config, 12))
  // The health as the checker hands it to a scrape (`healthList`).
  const snapshot: Gauges.Snapshot = { config, health: [...HashMap.values(allUp(config))], vppConnected: true, vipCounters: new Map() }
  // As Server does per scrape: the gauges of one snapshot, then the whole render, written into the last
  // render's buffer (sent by then, in the server).
  let bytes = 0
  let last: Buffer | undefined
  const render = async (sliceMs?: number) => {
    last = await Effect.runPromise(
      Server.renderWith(Gauges.all(snapshot), { capacity: Math.ceil(bytes * 1.1), reuse: last && Buffer.from(last.buffer as ArrayBuffer), sliceMs })
    )
    bytes = last.length
  }
  const firstLoop = monitorEventLoopDelay({ resolution: 1 })
  firstLoop.enable()
  const first0 = performance.now()
  await render()
  const firstMs = performance.now() - first0
  firstLoop.disable()
  for (let i = 0; i < 2; i++) await render()
  const times: Array<number> = []
  let longestSliceMs = 0
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  while (times.length < 10 || (performance.now() - start < budgetMs && times.length < 500)) {
    const t0 = performance.now()
    await render()
    times.push(performance.now() - t0)
    longestSliceMs = Math.max(longestSliceMs, (await Effect.runPromise(Metric.value(Server.renderLongestSlice))).value * 1000)
  }
  const cpu = process.cpuUsage(cpu0)
  loop.disable()
  const sorted = Float64Array.from(times).sort()
  // The loop busy: every turn, BUSY_TURN_MS of other work (an immediate that burns it and queues itself again).
  const busy = async (sliceMs: number | undefined) => {
    let on = true
    const burn = () => {
      if (!on) return
      const end = performance.now() + BUSY_TURN_MS
      while (performance.now() < end) { /* the other work */ }
      setImmediate(burn)
    }
    setImmediate(burn)
    const walls: Array<number> = []
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now()
      await render(sliceMs)
      walls.push(performance.now() - t0)
    }
    on = false
    return percentile(Float64Array.from(walls).sort(), 0.5)
  }
  const busyP50Ms = await busy(undefined)
  const busyP50Ms2 = await busy(2)
  const split = await splitCpu(snapshot)
  return {
    ...split,
    scrapes: [],
    prometheus: "",
    backends,
    renders: times.length,
    bytes,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    cpuMsPerRender: (cpu.user + cpu.system) / 1000 / times.length,
    systemShare: cpu.system / (cpu.user + cpu.system),
    maxLoopDelayMs: loop.max / 1e6,
    longestSliceMs,
    busyP50Ms,
    busyP50Ms2,
    firstMs,
    firstMaxLoopDelayMs: firstLoop.max / 1e6
  }
}

export const print = (f: MetricsFigures): void => {
  console.log(`\nGET /metrics body, ${f.backends.toLocaleString("en-US")} backends (${f.renders} renders)`)
  console.log(`  render        p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms (wall, slices and yields included)`)
  console.log(`  CPU           ${f.cpuMsPerRender.toFixed(1)} ms per render (${(f.systemShare * 100).toFixed(0)}% in the kernel)`)
  console.log(`  body          ${(f.bytes / 2 ** 20).toFixed(2)} MiB`)
  console.log(`  busy loop     render p50 ${f.busyP50Ms.toFixed(0)} ms (wall) with ${Prometheus.DEFAULT_SLICE_MS} ms slices, ${f.busyP50Ms2.toFixed(0)} ms with 2 ms slices, the loop doing ${BUSY_TURN_MS} ms of other work per turn`)
  console.log(`  first render  ${f.firstMs.toFixed(0)} ms (wall) after a configuration is taken (its backends' names made as it writes); a 1 ms timer's worst delay meanwhile ${f.firstMaxLoopDelayMs.toFixed(1)} ms`)
  console.log(`  event loop    longest slice of writing ${f.longestSliceMs.toFixed(1)} ms (wall: GC and the OS preempting us count); a 1 ms timer's worst delay ${f.maxLoopDelayMs.toFixed(1)} ms (the unsliced start of a render too)`)
  console.log(`  CPU split     the scrape worker's render ${f.workerCpuMs.toFixed(1)} ms + the main thread's part ${f.mainPartCpuMs.toFixed(1)} ms, against ${f.inProcessCpuMs.toFixed(1)} ms in process (the same body, on one thread, alternately)`)
  for (const x of f.scrapes) {
    console.log(`  scrape        ${x.server.padEnd(10)} ${x.condition.padEnd(23)} whole body p50 ${x.wholeP50Ms.toFixed(0)} ms, max ${x.wholeMaxMs.toFixed(0)} ms; first byte p50 ${x.firstByteP50Ms.toFixed(0)} ms (${x.scrapes} scrapes over HTTP, ${(x.bytes / 2 ** 20).toFixed(1)} MiB)`)
  }
  const p = f.prometheus
  if (typeof p === "string") console.log(`  prometheus    ${p}`)
  else console.log(`  prometheus    worker     probing                 scrape_duration_seconds p50 ${p.p50Ms.toFixed(0)} ms, max ${p.maxMs.toFixed(0)} ms (${p.scrapes} scrapes by a real Prometheus, every 2 s, its first left out; it asks for gzip, it is answered identity)`)
}

/**
 * CPU per render of the scrape worker's way (the store's families ahead, the main thread's part, every family in name
 * order, the pieces emitted) and of the in-process render, alternately, 20 of each; the bodies compared once.
 */
const splitCpu = async (snapshot: Gauges.Snapshot) => {
  const except = new Set([...Store.FAMILIES, ...Columns.FAMILIES])
  // The worker's view of the store (its series told once: none is added meanwhile), which keeps each series' lines.
  const replica = new Store.Replica()
  replica.apply(Store.exportSince({ slabs: 0, entries: 0 }))
  let reuse: { store?: Buffer | undefined; part?: Buffer | undefined } = {}
  let partCpu = 0
  const worker = async () => {
    // As the worker does: the store's families ahead (here all of them: the part comes after), then every family in
    // name order, the pieces emitted.
    const slices = new Slices(50)
    const store = new Prometheus.Writer(25e6, reuse.store)
    const ahead = (await writeAhead(replica.sources(), store, slices, () => false))!
    const p0 = process.cpuUsage()
    const { columns, layout, rest } = Gauges.split(snapshot)
    const part = Prometheus.renderGroups([...Prometheus.registrySources(Effect.runSync(Metric.snapshot)), ...rest], except, 1e6, reuse.part)
    const p = process.cpuUsage(p0)
    partCpu += p.user + p.system
    const own = Columns.sources(layouts.get(layout.key) ?? layouts.set(layout.key, Columns.layout(layout, true)).get(layout.key)!, columns)
    const pieces: Array<Uint8Array> = []
    await writeInOrder(ahead, store, replica.sources(), own, part, slices, (piece) => pieces.push(piece))
    reuse = { store: Buffer.from(store.result().buffer as ArrayBuffer), part: Buffer.from(part.body.buffer as ArrayBuffer) }
    return pieces
  }
  const layouts = new Map<number, Columns.Layout>()
  let last: Buffer | undefined
  const inProcess = async () => {
    last = await Effect.runPromise(Server.renderWith(Gauges.all(snapshot), { capacity: 25e6, reuse: last && Buffer.from(last.buffer as ArrayBuffer) }))
    return last
  }
  // Twice each, to compare (but for the registry's own moving counts) and to warm up: the worker's first render makes
  // its blocks, the second writes from them.
  const moving = /^(# (HELP|TYPE) )?(effect_fiber_|process_|maglev_metrics_)/
  // One blank before each value: the worker writes its store series' values right-aligned in fields with room to grow.
  const still = (t: string) => oneBlank(t).split("\n").filter((l) => !moving.test(l)).join("\n")
  for (const render of ["first", "second"]) {
    if (still(Buffer.concat(await worker()).toString("utf8")) !== still((await inProcess()).toString("utf8"))) {
      throw new Error(`the scrape worker's body differs from the in-process render's (its ${render} render)`)
    }
  }
  let workerCpu = 0
  let inProcessCpu = 0
  partCpu = 0
  for (let i = 0; i < 20; i++) {
    const w0 = process.cpuUsage()
    await worker()
    const w = process.cpuUsage(w0)
    workerCpu += w.user + w.system
    const i0 = process.cpuUsage()
    await inProcess()
    const c = process.cpuUsage(i0)
    inProcessCpu += c.user + c.system
  }
  return { workerCpuMs: (workerCpu - partCpu) / 1000 / 20, inProcessCpuMs: inProcessCpu / 1000 / 20, mainPartCpuMs: partCpu / 1000 / 20 }
}

/** One curl: seconds to the first byte and to the last, and the size. */
const curl = (url: string) =>
  new Promise<{ readonly firstMs: number; readonly wholeMs: number; readonly bytes: number }>((resolve, reject) =>
    execFile("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url], (error, stdout) => {
      if (error !== null) return reject(new Error(`curl ${url}: ${error.message}`))
      const [code, first, whole, size] = stdout.split(" ")
      if (code !== "200") return reject(new Error(`curl ${url}: HTTP ${code}`))
      resolve({ firstMs: Number(first) * 1000, wholeMs: Number(whole) * 1000, bytes: Number(size) })
    }))

/** The in-process route on a listener of its own, as maglevd served /metrics before the scrape worker. */
const inProcessServer = Effect.gen(function*() {
  const mount = yield* Server.routes
  const listener = yield* HttpListener.listen({ host: "127.0.0.1", port: 0 })
  yield* HttpListener.serveRouter(listener, mount(HttpRouter.empty))
  return `${listener.origin}${Server.PATH}`
})

/** Blocks this thread `ms` every `everyMs` (a stand-in for the main heap's major collections). */
const pauses = (ms: number, everyMs: number) => {
  const timer = setInterval(() => {
    const end = performance.now() + ms
    while (performance.now() < end) { /* paused */ }
  }, everyMs)
  return () => clearInterval(timer)
}

/**
 * Whole scrapes of a daemon probing N backends, worker and in-process alternately, 8 of each per condition; at
 * 10,000 backends the worker only (the in-process route's scrapes there took 4-30 s each on this machine, a
 * minute of the bench's time and CPU, to show again what docs/metrics.md records: why the worker).
 */
const scrapes = (backends: number): Promise<{ readonly scrapes: ReadonlyArray<ScrapeFigures>; readonly prometheus: PrometheusFigures | string }> => {
  const config = scaleConfig(backends, "s")
  const prober = Prober.layerFrom(() => Effect.succeed(probeResult("L7OK", 1, "HTTP 200")))
  const daemon = Daemon.layer(config, { apiSocket: "", statsSocket: "" }).pipe(Layer.provide(prober))
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Server.layer({ port: 0 }).pipe(Layer.provideMerge(daemon)))
    const urls = { worker: Context.get(context, Server.MetricsServer).url, "in-process": yield* inProcessServer.pipe(Effect.provide(context)) }
    const servers = backends > 1_000 ? (["worker"] as const) : (["worker", "in-process"] as const)
    return yield* Effect.promise(async () => {
      // Every backend probed a few times.
      await new Promise((r) => setTimeout(r, 5000))
      for (const server of servers) for (let i = 0; i < 2; i++) await curl(urls[server])
      const out: Array<ScrapeFigures> = []
      for (const condition of ["probing", "probing, 150 ms pauses"] as const) {
        const stop = condition === "probing" ? () => {} : pauses(150, 500)
        const runs = { worker: [] as Array<Awaited<ReturnType<typeof curl>>>, "in-process": [] as Array<Awaited<ReturnType<typeof curl>>> }
        for (let i = 0; i < 8; i++) {
          for (const server of servers) {
            runs[server].push(await curl(urls[server]))
            await new Promise((r) => setTimeout(r, 300))
          }
        }
        stop()
        for (const server of servers) {
          const r = runs[server]
          const whole = Float64Array.from(r.map((x) => x.wholeMs)).sort()
          out.push({
            server,
            condition,
            scrapes: r.length,
            firstByteP50Ms: percentile(Float64Array.from(r.map((x) => x.firstMs)).sort(), 0.5),
            wholeP50Ms: percentile(whole, 0.5),
            wholeMaxMs: whole[whole.length - 1]!,
            bytes: r[r.length - 1]!.bytes
          })
        }
      }
      return { scrapes: out, prometheus: await prometheus(urls.worker) }
    })
  })).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))
}

const PROMETHEUS = "/usr/bin/prometheus"

/**
 * A real Prometheus (Debian's package) scraping `url` every 2 s until 5 scrapes after its first (60 s at most), in a temp dir removed after: its own
 * `scrape_duration_seconds`, what an operator sees (request to the last byte read, the body decompressed if it
 * was compressed, the samples appended: Prometheus' own ingestion of ~330,000 samples is in it too). Its first
 * scrape is left out: it creates every series in Prometheus' head (6.5 s at 10,000 backends on this machine).
 */
const prometheus = async (url: string): Promise<PrometheusFigures | string> => {
  if (!fs.existsSync(PROMETHEUS)) return `skipped: no ${PROMETHEUS} (apt-get install prometheus)`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-metrics-prom-"))
  const target = new URL(url)
  const web = await freePort()
  fs.writeFileSync(path.join(dir, "p.yml"), `global: {scrape_interval: 2s, scrape_timeout: 2s}
scrape_configs:
  - {job_name: maglevd, metrics_path: ${target.pathname}, static_configs: [{targets: ["${target.host}"]}]}
`)
  const p = spawn(PROMETHEUS, [`--config.file=${path.join(dir, "p.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${web}`], { stdio: "ignore" })
  try {
    // Its durations so far, asked every 5 s until 5 scrapes after the first, or 60 s.
    const durations = async () => {
      const answer = await (await fetch(`http://127.0.0.1:${web}/api/v1/query?query=${encodeURIComponent("scrape_duration_seconds[2m]")}`)).json() as {
        readonly data: { readonly result: ReadonlyArray<{ readonly values: ReadonlyArray<readonly [number, string]> }> }
      }
      return (answer.data.result[0]?.values ?? []).map(([, v]) => Number(v) * 1000)
    }
    let all: Array<number> = []
    for (const end = performance.now() + 60_000; performance.now() < end && all.length < 6;) {
      await new Promise((r) => setTimeout(r, 5_000))
      all = await durations().catch(() => [])
    }
    const values = Float64Array.from(all.slice(1)).sort()
    if (values.length === 0) return all.length === 0 ? "no scrape_duration_seconds from Prometheus in 60 s (did it start?)" : `only its first scrape in 60 s: ${all[0]!.toFixed(0)} ms`
    return { scrapes: values.length, p50Ms: percentile(values, 0.5), maxMs: values[values.length - 1]! }
  } finally {
    p.kill()
    await new Promise((r) => p.once("exit", r))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}


/** Runs one figure in a fresh process (the metric store is the process's): the renders, then the scrapes in another. */
export const runIsolated = async (backends: number): Promise<MetricsFigures> => {
  const renders = await inChild<MetricsFigures>(backends, "render")
  return { ...renders, ...await inChild<Pick<MetricsFigures, "scrapes" | "prometheus">>(backends, "scrape") }
}

const inChild = <A>(backends: number, what: "render" | "scrape"): Promise<A> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--child", String(backends), what], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("message", (figures) => resolve(figures as A))
    child.once("exit", (code) => code !== 0 && reject(new Error(`metrics benchmark (${what}) exited with ${code}`)))
  })

if (process.argv[2] === "--child" && process.send !== undefined) {
  const backends = Number(process.argv[3])
  const figures = process.argv[4] === "scrape" ? await scrapes(backends) : await run(backends)
  process.send(figures, () => process.exit(0))
}
