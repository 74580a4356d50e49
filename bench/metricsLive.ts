/**
 * GET /metrics of a live maglevd at scale, the whole scrape as a client sees
 * it: `npm run bench -- metrics-live [--backends 10000] [--frontends 1000]
 * [--scrapes 10] [--every 10] [--warmup 60] [--pairs 1] [--maglevd CHECKOUT ...] [--worker-nice=N]
 * [--node-arg=OPTION ...]`.
 *
 * A real maglevd (a checkout's built `dist/daemon/main.js`: `npm run build &&
 * npm run build:native` there first; VPP and the RPC API off) probes N HTTP
 * backends every 1 s (the health benches' servers, internal/http-servers.c
 * compiled with `cc`, in a /16 of loopback of their own) with F frontends of
 * N/F backends each (8 in a primary pool, the rest in a backup pool), and
 * curl (another process) scrapes it every `every` s, `scrapes` times, from
 * `warmup` s after its metrics port listens. Per scrape: first byte and
 * whole (curl's), the render's wall and CPU as maglevd reports them
 * (`maglev_metrics_render_seconds`, `..._cpu_seconds`, and the slices it was
 * written in, `maglev_metrics_render_slices`, read from the next scrape's
 * body), the scrape worker thread's CPU and its time runnable but waiting for a core (its /proc/PID/task/TID/schedstat around the curl) and
 * its minor page faults (its `stat`: the pages of fresh buffers, first written), the
 * main thread's CPU (its part) and the whole process's. Then p50 / p90 of
 * each, the first scrape apart (the worker's first render makes its blocks),
 * and maglevd's RSS before the first scrape, 2 s after it and at the end
 * (with its peak).
 *
 * The scrape worker's thread is found, not told (every thread of a Node
 * process is named "node"): the thread other than the main one that was
 * idle over the 3 s before the first scrape (< 30 ms of CPU: the probe
 * threads and V8's helpers are not) and took the most CPU during it (its
 * first render, ~100-250 ms).
 *
 * curl writes the body to a file in /dev/shm (the render's figures are read
 * from it): a copy into tmpfs, a few ms of curl's CPU per 17 MB, in every
 * whole time here and not in the in-bench figures of `metrics`, which write
 * to /dev/null.
 *
 * `--worker-nice=N` (a diagnosis, as root; `=` for a negative N): the scrape worker thread is
 * reniced to N once found (`setpriority` on its tid), to see how much of a
 * scrape's wall time is its wait for a core; maglevd's unit has no
 * CAP_SYS_NICE, so maglevd cannot do it itself.
 *
 * `--node-arg=OPTION` (repeated; `=` for an option's leading dashes): node options
 * for maglevd, e.g. `--node-arg=--perf-basic-prof` so that `perf record` of
 * its process names the JavaScript frames (the worker's samples then taken by
 * its tid, printed with the run's figures).
 *
 * `--maglevd A --maglevd B`: each pair runs A then B (checkouts, built), so
 * a before/after comes from one run of the bench, at the same minutes' load.
 */
import { execFile, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type Bounded, cpuTimes, loadAverage, rssMiB, spawnBounded } from "./internal/proc.js"
import { freePort } from "./internal/net.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.dirname(here)
const PORTS = 100
const FIRST_PORT = 23000
const NOFILE = 65536

export interface Options {
  readonly backends: number
  readonly frontends: number
  readonly scrapes: number
  readonly everyS: number
  readonly warmupS: number
  readonly pairs: number
  readonly roots: ReadonlyArray<string>
  /** A diagnosis, not a setting maglevd has: the scrape worker thread reniced to this once found (needs root). */
  readonly workerNice: number | undefined
  /** Node options for maglevd (`--node-arg`, repeated; e.g. `--perf-basic-prof` to profile it with `perf`). */
  readonly nodeArgs: ReadonlyArray<string>
}

export interface Scrape {
  readonly firstMs: number
  readonly wholeMs: number
  readonly bytes: number
  /** maglevd's own figures for this scrape's render (read from the next body; NaN if none). */
  readonly renderMs: number
  readonly renderCpuMs: number
  /** The slices it was written in (`maglev_metrics_render_slices`, from the next body; NaN if none, as before that metric). */
  readonly slices: number
  /** The scrape worker thread's CPU and its wait for a core over the curl (schedstat), ms. */
  readonly workerCpuMs: number
  readonly workerWaitMs: number
  /** The scrape worker thread's minor page faults over the curl (a fresh buffer's pages, first written). */
  readonly workerFaults: number
  /** The main thread's CPU over the curl (its part, and its own work meanwhile), ms. */
  readonly mainCpuMs: number
  /** Every thread of maglevd, ms (clock ticks: 10 ms granularity). */
  readonly processCpuMs: number
  readonly partAgeMs: number
}

export interface LiveFigures {
  readonly root: string
  readonly load: { readonly start: string; readonly end: string }
  readonly scrapes: ReadonlyArray<Scrape>
  readonly rssBeforeMiB: number
  readonly rssAfterFirstMiB: number
  readonly rssEndMiB: number
  readonly rssPeakMiB: number
  /** The scrape worker thread found (or why not). */
  readonly worker: number | string
  readonly workerNice: number | undefined
  readonly stale: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))


const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = net.createConnection({ host: "127.0.0.1", port }, () => {
      c.destroy()
      resolve(true)
    })
    c.on("error", () => resolve(false))
  })

const address = (net16: number, i: number) => {
  const h = Math.floor(i / PORTS)
  return { host: `127.${net16}.${h >> 8}.${(h & 255) + 1}`, port: FIRST_PORT + (i % PORTS) }
}

/** N backends on the servers' addresses, 100 http checks (one per port, every 1 s), F frontends of N/F backends each. */
export const config = (net16: number, n: number, f: number): string => {
  const lines = ["maglev:", "  vpp:", "    lb:", "      ipv4-src-address: 192.0.2.254", "  healthchecks:"]
  for (let p = 0; p < Math.min(n, PORTS); p++) {
    lines.push(`    http-${FIRST_PORT + p}: {type: http, port: ${FIRST_PORT + p}, interval: 1s, fast-interval: 1s, down-interval: 1s, timeout: 900ms, rise: 2, fall: 3}`)
  }
  lines.push("  backends:")
  for (let i = 0; i < n; i++) {
    const a = address(net16, i)
    lines.push(`    b${i}: {address: ${a.host}, healthcheck: http-${a.port}}`)
  }
  lines.push("  frontends:")
  // A frontend's backends on distinct addresses (VPP knows an AS by address; backends i..i+99 share one).
  const per = Math.max(1, Math.floor(n / f))
  for (let k = 0; k < f; k++) {
    const members = Array.from({ length: per }, (_, j) => (k % PORTS) + PORTS * (Math.floor(k / PORTS) * per + j)).filter((i) => i < n).map((i) => `b${i}`)
    if (members.length === 0) break
    lines.push(`    fe${k}:`, `      address: 192.${(k >> 8) & 255}.${k & 255}.1/32`, "      protocol: tcp", "      port: 80", "      pools:")
    lines.push("        - name: primary", "          backends:")
    for (const m of members.slice(0, 8)) lines.push(`            ${m}: { weight: 100 }`)
    if (members.length > 8) {
      lines.push("        - name: backup", "          backends:")
      for (const m of members.slice(8)) lines.push(`            ${m}: { weight: 100 }`)
    }
  }
  return lines.join("\n") + "\n"
}

interface ThreadStat {
  readonly cpu: number
  readonly wait: number
  /** Minor page faults so far (`stat`'s minflt). */
  readonly faults: number
}

/** schedstat of every thread of `pid`: CPU ns and run-queue wait ns, and its minor page faults, by tid. */
const threads = (pid: number): Map<number, ThreadStat> => {
  const out = new Map<number, ThreadStat>()
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const [cpu, wait] = fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, "latin1").split(" ").map(Number)
      // stat: "pid (comm) state ppid ..." where minflt is the 10th field: the 8th after the comm's ")".
      const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, "latin1")
      const faults = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7])
      out.set(Number(t), { cpu: cpu!, wait: wait!, faults })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const curl = (url: string, file: string) =>
  new Promise<{ readonly firstMs: number; readonly wholeMs: number; readonly bytes: number }>((resolve, reject) =>
    execFile("curl", ["-s", "-o", file, "-w", "%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url], { timeout: 60_000 }, (error, stdout) => {
      if (error !== null) return reject(new Error(`curl ${url}: ${error.message}`))
      const [code, first, whole, size] = stdout.split(" ")
      if (code !== "200") return reject(new Error(`curl ${url}: HTTP ${code}`))
      resolve({ firstMs: Number(first) * 1000, wholeMs: Number(whole) * 1000, bytes: Number(size) })
    }))

/** A gauge or counter without labels from a body (NaN if absent). */
const valueOf = (body: string, name: string): number => {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(body)
  return m === null ? NaN : Number(m[1])
}

/** The servers' program, compiled once into `dir`. */
const serversBinary = (dir: string): string => {
  const binary = path.join(dir, "http-servers")
  const cc = spawnSync("cc", ["-O2", "-o", binary, path.join(here, "internal", "http-servers.c")], { encoding: "utf8", timeout: 60_000 })
  if (cc.status !== 0) throw new Error(`metrics-live needs a C compiler for its backends (internal/http-servers.c): ${cc.error?.message ?? cc.stderr.trim()}`)
  return binary
}

const runOne = async (binary: string, dir: string, root: string, o: Options): Promise<LiveFigures> => {
  const main = path.join(root, "dist", "daemon", "main.js")
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: npm run build && npm run build:native in ${root}`)
  const bound = o.warmupS + o.scrapes * o.everyS + 300
  const started: Array<Bounded> = []
  const body = path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : dir, `metrics-live-${process.pid}.txt`)
  try {
    const net16 = 16 + Math.floor(Math.random() * 224)
    const servers = await spawnBounded(binary, [String(FIRST_PORT), String(PORTS), String(o.backends), `127.${net16}`], { seconds: bound, nofile: NOFILE, channel: "lines" })
    started.push(servers)
    await Promise.race([servers.next(), sleep(60_000).then(() => Promise.reject(new Error("backends: not listening within 60 s")))])
    const file = path.join(dir, "maglev.yaml")
    fs.writeFileSync(file, config(net16, o.backends, o.frontends))
    const port = await freePort()
    const url = `http://127.0.0.1:${port}/metrics`
    const maglevd = await spawnBounded(
      process.execPath,
      [...o.nodeArgs, main, "--config", file, "--vpp-api-addr", "", "--rpc-addr", "", "--metrics-addr", `127.0.0.1:${port}`, "--log-level", "warn"],
      { seconds: bound, nofile: NOFILE, cwd: root }
    )
    started.push(maglevd)
    const pid = maglevd.pid
    for (const end = performance.now() + 120_000; !(await listening(port));) {
      if (maglevd.child.exitCode !== null || performance.now() > end) throw new Error(`maglevd: no metrics port within 120 s:\n${maglevd.tail().slice(-2000)}`)
      await sleep(200)
    }
    const load0 = loadAverage()
    await sleep(Math.max(0, o.warmupS * 1000 - 3000))
    const idle0 = threads(pid)
    await sleep(3000)
    const idle1 = threads(pid)
    const rssBefore = rssMiB(pid).rss
    const scrapes: Array<Omit<Scrape, "renderMs" | "renderCpuMs" | "slices">> = []
    /** Each scrape's render figures, from the next scrape's body. */
    const renders: Array<{ readonly renderMs: number; readonly renderCpuMs: number; readonly slices: number }> = []
    let worker: number | string = "not found"
    let rssAfterFirst = NaN
    let stale = NaN
    // One more scrape at the end: its body holds the figures of the last one's render.
    for (let k = 0; k <= o.scrapes; k++) {
      const next = performance.now() + o.everyS * 1000
      const t0 = threads(pid)
      const c0 = cpuTimes(pid)
      const r = await curl(url, body)
      const t1 = threads(pid)
      const c1 = cpuTimes(pid)
      if (k === 0) {
        // The worker: idle before (< 30 ms over 3 s), busiest during its first render.
        let best = 0
        for (const [tid, s] of t1) {
          const before = idle0.get(tid)
          const after = idle1.get(tid)
          if (tid === pid || before === undefined || after === undefined || after.cpu - before.cpu > 30e6) continue
          const d = s.cpu - (t0.get(tid)?.cpu ?? s.cpu)
          if (d > best) [best, worker] = [d, tid]
        }
        if (best < 50e6) worker = `not found (no idle thread took 50 ms of CPU during the first scrape; the most ${(best / 1e6).toFixed(0)} ms)`
        else if (o.workerNice !== undefined && typeof worker === "number") os.setPriority(worker, o.workerNice)
      }
      const text = fs.readFileSync(body, "latin1")
      if (k > 0) {
        renders.push({
          renderMs: valueOf(text, "maglev_metrics_render_seconds") * 1000,
          renderCpuMs: valueOf(text, "maglev_metrics_render_cpu_seconds") * 1000,
          slices: valueOf(text, "maglev_metrics_render_slices")
        })
      }
      const partAgeMs = valueOf(text, "maglev_metrics_part_age_seconds") * 1000
      stale = valueOf(text, "maglev_metrics_stale_renders_total")
      if (k < o.scrapes) {
        const w = typeof worker === "number" ? worker : -1
        const d = (m: Map<number, ThreadStat>, n: Map<number, ThreadStat>, tid: number, f: "cpu" | "wait") =>
          ((n.get(tid)?.[f] ?? NaN) - (m.get(tid)?.[f] ?? NaN)) / 1e6
        scrapes.push({
          ...r,
          workerCpuMs: d(t0, t1, w, "cpu"),
          workerWaitMs: d(t0, t1, w, "wait"),
          workerFaults: (t1.get(w)?.faults ?? NaN) - (t0.get(w)?.faults ?? NaN),
          mainCpuMs: d(t0, t1, pid, "cpu"),
          processCpuMs: (c1.user + c1.system - c0.user - c0.system) * 1000,
          partAgeMs
        })
      }
      if (k === 0) {
        await sleep(2000)
        rssAfterFirst = rssMiB(pid).rss
      }
      if (k < o.scrapes) await sleep(Math.max(0, next - performance.now()))
    }
    const rss = rssMiB(pid)
    return {
      root,
      load: { start: load0, end: loadAverage() },
      scrapes: scrapes.map((s, i) => ({ ...s, renderMs: renders[i]?.renderMs ?? NaN, renderCpuMs: renders[i]?.renderCpuMs ?? NaN, slices: renders[i]?.slices ?? NaN })),
      rssBeforeMiB: rssBefore,
      rssAfterFirstMiB: rssAfterFirst,
      rssEndMiB: rss.rss,
      rssPeakMiB: rss.peak,
      worker,
      workerNice: typeof worker === "number" ? o.workerNice : undefined,
      stale
    }
  } finally {
    for (const p of started.reverse()) p.kill()
    fs.rmSync(body, { force: true })
  }
}

const pct = (xs: ReadonlyArray<number>, p: number) => {
  const s = Float64Array.from(xs.filter((x) => !Number.isNaN(x))).sort()
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

const fmt = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(x < 10 ? 1 : 0))

export const print = (f: LiveFigures, label: string): void => {
  console.log(`\n${label}: ${f.root} (load ${f.load.start} -> ${f.load.end}; worker thread ${f.worker}${f.workerNice === undefined ? "" : `, reniced to ${f.workerNice}`})`)
  console.log("  scrape  first  whole  render  render-cpu  slices  worker-cpu  worker-wait  worker-faults  main-cpu  process-cpu  part-age  MiB")
  f.scrapes.forEach((s, i) => {
    console.log(`  ${String(i).padStart(6)}  ${fmt(s.firstMs).padStart(5)}  ${fmt(s.wholeMs).padStart(5)}  ${fmt(s.renderMs).padStart(6)}  ${fmt(s.renderCpuMs).padStart(10)}  ${fmt(s.slices).padStart(6)}  ${fmt(s.workerCpuMs).padStart(10)}  ${fmt(s.workerWaitMs).padStart(11)}  ${fmt(s.workerFaults).padStart(13)}  ${fmt(s.mainCpuMs).padStart(8)}  ${fmt(s.processCpuMs).padStart(11)}  ${fmt(s.partAgeMs).padStart(8)}  ${(s.bytes / 2 ** 20).toFixed(1)}`)
  })
  const steady = f.scrapes.slice(1)
  const row = (name: string, key: keyof Scrape) => `${name} ${fmt(pct(steady.map((s) => s[key]), 0.5))} / ${fmt(pct(steady.map((s) => s[key]), 0.9))}`
  console.log(`  steady (first left out), p50 / p90 ms: ${row("whole", "wholeMs")}, ${row("first byte", "firstMs")}, ${row("render", "renderMs")}, ${row("render CPU", "renderCpuMs")}, ${row("slices", "slices")}, ${row("worker CPU", "workerCpuMs")}, ${row("worker waiting for a core", "workerWaitMs")}, ${row("worker page faults", "workerFaults")}, ${row("main thread CPU", "mainCpuMs")}; min whole ${fmt(Math.min(...steady.map((s) => s.wholeMs)))}`)
  console.log(`  RSS before the first scrape ${f.rssBeforeMiB.toFixed(0)} MiB, 2 s after it ${f.rssAfterFirstMiB.toFixed(0)} (+${(f.rssAfterFirstMiB - f.rssBeforeMiB).toFixed(0)}), at the end ${f.rssEndMiB.toFixed(0)}, peak ${f.rssPeakMiB.toFixed(0)}; stale renders ${f.stale}`)
}

export const run = async (argv: ReadonlyArray<string>): Promise<void> => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backends: { type: "string", default: "10000" },
      frontends: { type: "string", default: "1000" },
      scrapes: { type: "string", default: "10" },
      every: { type: "string", default: "10" },
      warmup: { type: "string", default: "60" },
      pairs: { type: "string", default: "1" },
      maglevd: { type: "string", multiple: true },
      "worker-nice": { type: "string" },
      "node-arg": { type: "string", multiple: true }
    },
    strict: true
  })
  const o: Options = {
    backends: Number(values.backends),
    frontends: Number(values.frontends),
    scrapes: Number(values.scrapes),
    everyS: Number(values.every),
    warmupS: Number(values.warmup),
    pairs: Number(values.pairs),
    roots: (values.maglevd ?? [repoRoot]).map((r) => path.resolve(r)),
    workerNice: values["worker-nice"] === undefined ? undefined : Number(values["worker-nice"]),
    nodeArgs: values["node-arg"] ?? []
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-bench-metrics-live-"))
  try {
    const binary = serversBinary(dir)
    console.log(`\nGET /metrics of a live maglevd: ${o.backends.toLocaleString("en-US")} HTTP backends probed every 1 s, ${o.frontends.toLocaleString("en-US")} frontends, ${o.scrapes} curl scrapes ${o.everyS} s apart from ${o.warmupS} s after start; ${o.pairs} pair(s) of ${o.roots.length} checkout(s) in turn`)
    const all: Array<Array<LiveFigures>> = o.roots.map(() => [])
    for (let p = 0; p < o.pairs; p++) {
      for (const [i, root] of o.roots.entries()) {
        const f = await runOne(binary, dir, root, o)
        all[i]!.push(f)
        print(f, `run ${p + 1}, checkout ${String.fromCharCode(65 + i)}`)
      }
    }
    if (o.roots.length > 1 || o.pairs > 1) {
      console.log("\n  side by side (steady scrapes of every run pooled; p50 ms):")
      console.log("  checkout  whole  first  render  render-cpu  slices  worker-cpu  worker-wait  worker-faults  main-cpu  RSS+first  RSS-end  peak")
      all.forEach((runs, i) => {
        const s = runs.flatMap((f) => f.scrapes.slice(1))
        const m = (k: keyof Scrape) => fmt(pct(s.map((x) => x[k]), 0.5))
        const avg = (g: (f: LiveFigures) => number) => runs.reduce((a, f) => a + g(f), 0) / runs.length
        console.log(`  ${String.fromCharCode(65 + i).padEnd(8)}  ${m("wholeMs").padStart(5)}  ${m("firstMs").padStart(5)}  ${m("renderMs").padStart(6)}  ${m("renderCpuMs").padStart(10)}  ${m("slices").padStart(6)}  ${m("workerCpuMs").padStart(10)}  ${m("workerWaitMs").padStart(11)}  ${m("workerFaults").padStart(13)}  ${m("mainCpuMs").padStart(8)}  ${avg((f) => f.rssAfterFirstMiB - f.rssBeforeMiB).toFixed(0).padStart(9)}  ${avg((f) => f.rssEndMiB).toFixed(0).padStart(7)}  ${avg((f) => f.rssPeakMiB).toFixed(0).padStart(4)}`)
      })
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
