/**
 * maglevd against HAProxy, side by side: both check the same N HTTP backends
 * at once (`GET /` every 1 s, rise 2, fall 3, timeout 900 ms), each as its
 * own process. The backends are one separate server process
 * (internal/http-servers.c compiled with `cc`, or internal/http-servers.mjs
 * without a compiler or with `--node-servers`; loopback addresses 127.N.x.y
 * only, N random per run) that counts the requests of each checker and the
 * gaps between one checker's requests to one backend, so probes/s and
 * lateness are measured the same way for both. CPU is each process's utime + stime (all threads) over the measured
 * window, RSS its VmRSS at the end and VmHWM (peak, start-up included).
 *
 * `npm run bench -- health-vs-haproxy [--backends 1000,10000] [--seconds 30] [--warmup 10] [--node-servers] [--maglevd CHECKOUT] [--dist | --tsx] [--probe-threads N|auto[,N...]] [--scrape-every S] [--vppsim] [--keep-log DIR]`
 *
 * `--scrape-every S` (default 0: off) also GETs maglevd's /metrics every S
 * seconds over the window, as an operator's Prometheus does (every 15 s or
 * so), so that its RSS shows what the scrapes keep. Off by default: HAProxy
 * renders no exposition, and maglevd's CPU per probe then includes the
 * renders (the run prints how many, and how long they took).
 *
 * `--vppsim` gives maglevd VPP: a vppsim (this checkout's, through tsx) on a
 * Unix socket in the run's temp dir, and every backend in one frontend (one
 * VIP each, a pool of up to 32 backends of one port, `sync-interval: 30s`,
 * the default; 400 VIPs at 10,000 backends): maglevd programs it once
 * every backend is known and then runs a (no-change) full sync every 30 s,
 * as deployed, so that its RSS includes the reconciler's state and what its
 * syncs make. Off by default (VPP off, as HAProxy has none).
 *
 * `--keep-log DIR` runs maglevd at log level info and keeps its log in DIR
 * (`maglevd-<backends>-<run>.log`); each of its false downs is then printed
 * with its code, detail and `late_ms` (how late maglevd itself was while that
 * probe ran), to tell the backend's timeout from maglevd's.
 *
 * `--maglevd CHECKOUT` runs the maglevd of another checkout (with its own
 * node_modules), to compare a change with what came before; given more than
 * once, each size runs each checkout in turn and a table compares them.
 * `--probe-threads` likewise: `--probe-threads 0,1,2` runs each count in turn
 * (with each checkout), and the table compares them.
 *
 * maglevd is the real daemon as it ships: each checkout's programs are
 * bundled first (its packaging/bundle.mjs, into a temp dir, with its native
 * addon, a package.json and V8's code cache beside them, as in the Debian
 * package) and its launcher `maglevd.js` is run as the kernel runs it (its
 * `#!` line names this node and the flags maglevd is started with), VPP and
 * the RPC API off, metrics on a free loopback port. `--dist` runs the
 * unbundled build instead (`tsc -p tsconfig.build.json`, then `node
 * dist/daemon/main.js`: 1,200 modules, ~25 MiB more RSS at 1,000 backends,
 * and no launch flags), `--tsx` `src/daemon/main.ts` through tsx (~100 MiB
 * more). HAProxy runs in the
 * foreground (`-db`) with one thread, one backend of N servers, no frontend
 * and a stats socket in the temp dir; a check's whole time (connect and
 * answer) is bounded by its `inter`, 1 s (no `timeout check`), against
 * maglevd's 900 ms. Both jitter their intervals by ±10 %
 * (maglevd always, HAProxy with `spread-checks 10`). Skipped when `haproxy`
 * is not installed.
 */
import { Cause, Duration, Effect, Either, Exit, Fiber, Schedule } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type Bounded, cpuTimes, loadAverage, machineTicks, rssMiB, spawnBounded } from "./internal/proc.js"
import { freePort } from "./internal/net.js"

const PORTS = 100
const FIRST_PORT = 21000
const INTERVAL_MS = 1000
/** Both checkers jitter their intervals by up to this share either way. */
const JITTER = 0.1
/** Open files for every process: 10,000 listeners plus the probes in flight. */
const NOFILE = 65536

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.dirname(here)

/** Backend i of a run whose servers are in 127.`net`.0.0/16 (as internal/http-servers.mjs lays them out). */
const address = (net: number, i: number): { readonly host: string; readonly port: number } => {
  const h = Math.floor(i / PORTS)
  return { host: `127.${net}.${h >> 8}.${(h & 255) + 1}`, port: FIRST_PORT + (i % PORTS) }
}

/** Backends per frontend with --vppsim: one pool of this many, one VIP each. */
const VPP_POOL = 32

const maglevConfig = (net: number, n: number, vpp: boolean): string => {
  const lines = ["maglev:"]
  if (vpp) lines.push("  vpp:", "    lb: {ipv4-src-address: 192.0.2.1, sync-interval: 30s}")
  lines.push("  healthchecks:")
  for (let p = 0; p < Math.min(n, PORTS); p++) {
    lines.push(
      `    http-${FIRST_PORT + p}: {type: http, port: ${FIRST_PORT + p}, interval: 1s, fast-interval: 1s, down-interval: 1s, timeout: 900ms, rise: 2, fall: 3}`
    )
  }
  lines.push("  backends:")
  for (let i = 0; i < n; i++) {
    const a = address(net, i)
    lines.push(`    b${i}: {address: ${a.host}, healthcheck: http-${a.port}}`)
  }
  if (vpp) {
    // A VIP's servers need addresses of their own: each pool is backends of one port on up to 32 addresses.
    lines.push("  frontends:")
    let f = 0
    for (let p = 0; p < Math.min(n, PORTS); p++) {
      const atPort = Array.from({ length: Math.ceil((n - p) / PORTS) }, (_, h) => h * PORTS + p)
      for (let at = 0; at < atPort.length; at += VPP_POOL, f++) {
        const members = atPort.slice(at, at + VPP_POOL).map((i) => `b${i}: {weight: 100}`).join(", ")
        lines.push(`    f${f}:`, `      address: 198.18.${Math.floor(f / 250)}.${(f % 250) + 1}`, "      protocol: tcp", "      port: 80")
        lines.push("      new-flows-table-length: 4096", `      pools: [{name: main, backends: {${members}}}]`)
      }
    }
  }
  return lines.join("\n") + "\n"
}

const haproxyConfig = (net: number, n: number, statsSocket: string): string => {
  const lines = [
    "global",
    // No maxconn: HAProxy sizes it from the open-file limit it is given.
    "  nbthread 1",
    `  spread-checks ${JITTER * 100}`,
    `  stats socket ${statsSocket} mode 600 level admin`,
    "defaults",
    "  mode http",
    // No `timeout check`: HAProxy then bounds a whole check, connect and
    // answer, by `inter` (1 s), the nearest it has to maglevd's 900 ms for
    // the whole probe. With `timeout check 900ms` a check could take 900 ms
    // to connect and 900 ms more to answer: 1.8 s, twice maglevd's bound,
    // which made HAProxy look more tolerant of starved servers than it is.
    "  timeout connect 900ms",
    "  timeout client 5s",
    "  timeout server 5s",
    "backend checked",
    "  option httpchk",
    // The same request as maglevd's, but for the User-Agent the servers count by.
    "  http-check send meth GET uri / ver HTTP/1.1 hdr Host bench hdr User-Agent haproxy-bench hdr Accept */* hdr Connection close"
  ]
  for (let i = 0; i < n; i++) {
    const a = address(net, i)
    lines.push(`  server b${i} ${a.host}:${a.port} check inter 1s rise 2 fall 3`)
  }
  return lines.join("\n") + "\n"
}

// ---------------------------------------------------------------------------
// processes

/** A process started with spawnBounded, killed when the scope closes. */
const bounded = (name: string, command: string, args: ReadonlyArray<string>, seconds: number, channel?: "ipc" | "lines", cwd = repoRoot) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => spawnBounded(command, args, { seconds, nofile: NOFILE, cwd, ...(channel !== undefined ? { channel } : {}) }),
      catch: (e) => new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`)
    }),
    (p) => Effect.sync(p.kill)
  ).pipe(Effect.map((p) => ({ ...p, name })))

type Proc = Bounded & { readonly name: string }

/** Fails when the process has exited, with what it last wrote. */
const alive = (p: Proc) =>
  p.child.exitCode === null && p.child.signalCode === null
    ? Effect.void
    : Effect.fail(new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.tail()}`))

/** The process's CPU seconds and RSS, or an error saying it is gone and what it last wrote. */
const fromProc = <A>(read: (pid: number) => A) => (p: Proc) =>
  Effect.try({ try: () => read(p.pid), catch: () => new Error(`${p.name} (pid ${p.pid}) is gone:\n${p.tail()}`) })
const cpuOf = fromProc(cpuTimes)
const rssOf = fromProc(rssMiB)

/**
 * Seconds the process's threads have spent runnable but waiting for a core
 * (the second field of each /proc/PID/task/TID/schedstat, ns): how starved it
 * was. A backend that answers late because its own server waited for a core
 * is not a checker's lateness.
 */
const runQueueSeconds = (pid: number): number => {
  let ns = 0
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1])
    } catch {
      // the thread ended
    }
  }
  return ns / 1e9
}
const waitOf = fromProc(runQueueSeconds)

/** Waits for `ready` to succeed, polling, while the process lives; at most `seconds`. */
const waitFor = <A>(p: Proc, what: string, ready: () => Promise<A>, seconds: number) =>
  alive(p).pipe(
    Effect.zipRight(Effect.tryPromise(ready)),
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(200)), while: () => p.child.exitCode === null }),
    Effect.timeoutFail({ duration: Duration.seconds(seconds), onTimeout: () => new Error(`${p.name}: ${what} not ready within ${seconds} s:\n${p.tail()}`) }),
    Effect.tapError(() => alive(p))
  )


/** Resolves once something listens on 127.0.0.1:port (a connection, closed at once). */
const listening = (port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const c = net.createConnection({ host: "127.0.0.1", port }, () => {
      c.destroy()
      resolve()
    })
    c.on("error", reject)
  })

const httpGet = (url: string, seconds: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: seconds * 1000 }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (body += d))
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))))
    })
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in ${seconds} s`)))
    req.on("error", reject)
  })

/** One GET whose body is read and dropped (a periodic scrape: its time, not its text); ms until the end of the body. */
const httpTime = (url: string, seconds: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.get(url, { timeout: seconds * 1000 }, (res) => {
      res.resume()
      res.on("end", () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${url}: HTTP ${res.statusCode}`))))
    })
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in ${seconds} s`)))
    req.on("error", reject)
  })

/** One command on HAProxy's stats socket; the answer. */
const haproxyCommand = (socket: string, command: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const c = net.createConnection(socket)
    let answer = ""
    c.setEncoding("utf8")
    c.setTimeout(10_000, () => c.destroy(new Error(`${socket}: no answer in 10 s`)))
    c.on("connect", () => c.write(`${command}\n`))
    c.on("data", (d: string) => (answer += d))
    c.on("end", () => resolve(answer))
    c.on("error", reject)
  })

/**
 * HAProxy servers whose status is not UP (DOWN, DOWN 1/2 while rising, NOLB,
 * MAINT, ...; `UP 1/3` is up), and how many times its servers went from UP to
 * DOWN since it started (`chkdown`): with every backend healthy, false downs.
 */
const haproxyView = async (socket: string): Promise<{ readonly notUp: number; readonly wentDown: number }> => {
  const [header, ...rows] = (await haproxyCommand(socket, "show stat")).trim().split("\n")
  const columns = header!.replace(/^# /, "").split(",")
  const svname = columns.indexOf("svname")
  const status = columns.indexOf("status")
  const chkdown = columns.indexOf("chkdown")
  let notUp = 0
  let wentDown = 0
  for (const row of rows) {
    const f = row.split(",")
    if (f[svname] === "BACKEND" || f[svname] === "FRONTEND") continue
    if (!(f[status] ?? "").startsWith("UP")) notUp++
    wentDown += Number(f[chkdown] ?? 0) || 0
  }
  return { notUp, wentDown }
}

/**
 * From maglevd's /metrics: its backends whose `maglev_backend_state{state="up"}`
 * is not 1, and its own account of its lateness where it has one
 * (`maglev_event_loop_delay_seconds`, `maglev_probe_self_late_total` summed).
 */
interface MaglevdView {
  readonly notUp: number
  /** Transitions to down since start (`maglev_backend_transitions_total{to="down"}`): with every backend healthy, false downs. */
  readonly wentDown: number
  /** How long the GET /metrics at the end took, ms (10,000 backends: the issue's target is 50 ms). */
  readonly scrapeMs: number
  /**
   * How late rounds started against their due time (`maglev_probe_start_lateness_seconds`), p50 and p99
   * as the bucket bound they fall under, ms; over the measured window, or since start when the reading at
   * its start failed.
   */
  readonly startLateness?: { readonly p50: number; readonly p99: number; readonly window: boolean }
  readonly loopDelayMs?: number
  readonly selfLate?: number
}

/** With --vppsim, from maglevd's /metrics: connected to VPP, and the lb changes VPP accepted from it (all operations). */
interface VppView {
  readonly connected: boolean
  readonly operations: number
}

const vppViewOf = (text: string): VppView => {
  let connected = false
  let operations = 0
  for (const line of text.split("\n")) {
    if (line.startsWith("maglev_vpp_connected ")) connected = Number(line.slice(line.lastIndexOf(" ") + 1)) === 1
    else if (line.startsWith("maglev_lb_sync_operations_total")) operations += Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return { connected, operations }
}

/** maglevd's `maglev_probe_start_lateness_seconds` buckets: cumulative count by upper bound (seconds; +Inf last). */
type Lateness = ReadonlyArray<readonly [le: number, count: number]>

const latenessOf = (text: string): Lateness => {
  const out: Array<readonly [number, number]> = []
  const prefix = "maglev_probe_start_lateness_seconds_bucket{le=\""
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue
    const le = line.slice(prefix.length, line.indexOf("\"", prefix.length))
    out.push([le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(line.slice(line.lastIndexOf(" ") + 1))])
  }
  return out.sort((a, b) => a[0] - b[0])
}

/** The q-quantile of the rounds between two readings, as the bucket bound it falls under (ms), or undefined. */
const latenessQuantile = (before: Lateness | undefined, after: Lateness, q: number): number | undefined => {
  const counts = after.map(([le, c]) => [le, c - (before?.find(([b]) => b === le)?.[1] ?? 0)] as const)
  const total = counts.at(-1)?.[1] ?? 0
  if (total <= 0) return undefined
  const hit = counts.find(([, c]) => c >= q * total)
  return hit === undefined ? undefined : 1000 * hit[0]
}

const maglevdView = async (metricsUrl: string, n: number, lateness0?: Lateness): Promise<MaglevdView> => {
  // At 10,000 backends /metrics is large and maglevd may be overloaded: be patient.
  const t0 = performance.now()
  const text = await httpGet(metricsUrl, 60)
  const scrapeMs = performance.now() - t0
  let up = 0
  let wentDown = 0
  let selfLate: number | undefined
  let loopDelayMs: number | undefined
  for (const line of text.split("\n")) {
    if (line.startsWith("maglev_backend_state{") && line.includes(`state="up"}`) && line.endsWith(" 1")) up++
    else if (line.startsWith("maglev_backend_transitions_total{") && line.includes(`to="down"}`)) {
      wentDown += Number(line.slice(line.lastIndexOf(" ") + 1))
    }
    else if (line.startsWith("maglev_probe_self_late_total{")) selfLate = (selfLate ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1))
    else if (line.startsWith("maglev_event_loop_delay_seconds ")) loopDelayMs = 1000 * Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  const lateness = latenessOf(text)
  const p50 = latenessQuantile(lateness0, lateness, 0.5)
  const p99 = latenessQuantile(lateness0, lateness, 0.99)
  return {
    notUp: n - up,
    wentDown,
    scrapeMs,
    ...(p50 !== undefined && p99 !== undefined ? { startLateness: { p50, p99, window: lateness0 !== undefined } } : {}),
    ...(loopDelayMs !== undefined ? { loopDelayMs } : {}), ...(selfLate !== undefined ? { selfLate } : {}) }
}

interface GapSummary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly over1100: number
}
interface ServerCounts {
  readonly probes: Readonly<Record<"maglevd" | "haproxy" | "other", number>>
  readonly gaps: Readonly<Record<"maglevd" | "haproxy" | "other", GapSummary>>
}

/** One command to the benchmark servers, and its answer. */
const ask = <A>(p: Proc, command: "seen" | "start" | "stop"): Effect.Effect<A, Error> =>
  Effect.tryPromise({
    try: () => {
      p.send(command)
      return p.next() as Promise<A>
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })

/**
 * The servers' program: http-servers.c compiled into `dir` when a C compiler
 * is there (far cheaper per request), else http-servers.mjs.
 */
const serversProgram = (dir: string, node: boolean): { readonly kind: string; readonly command: string; readonly args: ReadonlyArray<string>; readonly channel: "ipc" | "lines" } => {
  const mjs = { kind: "Node", command: process.execPath, args: [path.join(here, "internal", "http-servers.mjs")], channel: "ipc" as const }
  if (node) return mjs
  const binary = path.join(dir, "http-servers")
  const cc = spawnSync("cc", ["-O2", "-o", binary, path.join(here, "internal", "http-servers.c")], { encoding: "utf8", timeout: 60_000 })
  if (cc.status !== 0) {
    console.log(`  (no C servers: ${cc.error?.message ?? cc.stderr.trim()}; using the Node ones, which cost far more CPU)`)
    return mjs
  }
  return { kind: "C", command: binary, args: [], channel: "lines" }
}

// ---------------------------------------------------------------------------
// one run

export interface CheckerFigures {
  readonly probesPerSecond: number
  readonly cpuSecondsPer1000: number
  readonly cores: number
  /** Share of the CPU time spent in the kernel (connect, close, loopback TCP). */
  readonly systemShare: number
  readonly rssEndMiB: number
  readonly rssPeakMiB: number
  readonly gap: GapSummary
  /** Backends the checker does not have up at the end, or why it could not be asked. */
  readonly notUp: number | string
  /** Backends that went down since the checker started (all are healthy: false downs), or why it could not be asked. */
  readonly wentDown: number | string
}

export interface Figures {
  readonly backends: number
  readonly seconds: number
  readonly warmup: number
  readonly loadAverage: string
  readonly maglevd: CheckerFigures
  readonly haproxy: CheckerFigures
  readonly otherProbes: number
  readonly serverCores: number
  /** Seconds per second each process spent runnable and waiting for a core over the window (its threads added up). */
  readonly waited: Readonly<Record<"maglevd" | "haproxy" | "servers", number>>
  readonly serverKind: string
  readonly maglevdRoot: string
  /** maglevd's --probe-threads (undefined: its default, auto). */
  readonly probeThreads: string | undefined
  /** With --keep-log: maglevd's transitions down from up, one line each (backend, code, late_ms, detail), and its log file. */
  readonly falseDowns: { readonly file: string; readonly lines: ReadonlyArray<string> } | undefined
  /** How maglevd ran: bundled as it ships, the unbundled dist/, or src/ through tsx. */
  readonly build: Build
  /** Share of the machine's CPU time (all cores) busy over the window, whoever's work it was. */
  readonly machineBusy: number
  /** maglevd's own lateness figures from its /metrics at the end, if it answered. */
  readonly maglevdSelf: MaglevdView | undefined
  /** Seconds from starting the checkers until each had probed every backend once, or how many it had reached. */
  readonly firstRound: FirstRound
  /** maglevd's RSS (MiB) at the end of each tenth of the window. */
  readonly rssSeries: ReadonlyArray<number>
  /** --scrape-every: the periodic GETs of /metrics over the window (undefined: off). */
  readonly scrapes: Scrapes | undefined
  /** --vppsim: maglevd's view of VPP at the end (its /metrics), or why it is missing; undefined without. */
  readonly vppsim: VppView | string | undefined
  readonly notes: ReadonlyArray<string>
}

/** The periodic scrapes of a run (--scrape-every). */
interface Scrapes {
  readonly everySeconds: number
  /** How long each answered one took, ms, in order. */
  readonly ms: ReadonlyArray<number>
  readonly failed: number
}

type FirstRound = Readonly<Record<"maglevd" | "haproxy", { readonly seconds: number } | { readonly reached: number }>>

const FIRST_ROUND_TIMEOUT_S = 120

/**
 * Waits until the servers have seen a request from each checker to every
 * backend, at most FIRST_ROUND_TIMEOUT_S; says when each got there, or how far.
 */
const firstRound = (servers: Proc, n: number, started: number) =>
  Effect.gen(function*() {
    type Seen = Record<"maglevd" | "haproxy", number> & { readonly agoMs: Record<"maglevd" | "haproxy", number | null> }
    const done: Partial<Record<"maglevd" | "haproxy", { seconds: number }>> = {}
    let seen: Seen = { maglevd: 0, haproxy: 0, agoMs: { maglevd: null, haproxy: null } }
    const deadline = started + FIRST_ROUND_TIMEOUT_S * 1000
    while (performance.now() < deadline) {
      seen = yield* ask<Seen>(servers, "seen")
      for (const c of ["maglevd", "haproxy"] as const) {
        const ago = seen.agoMs[c]
        if (done[c] === undefined && seen[c] >= n && ago !== null) done[c] = { seconds: (performance.now() - ago - started) / 1000 }
      }
      if (done.maglevd !== undefined && done.haproxy !== undefined) break
      yield* Effect.sleep(Duration.millis(250))
    }
    return {
      maglevd: done.maglevd ?? { reached: seen.maglevd },
      haproxy: done.haproxy ?? { reached: seen.haproxy }
    } satisfies FirstRound
  })

interface Options {
  readonly seconds: number
  readonly warmup: number
  readonly nodeServers: boolean
  /** The checkout whose src/daemon/main.ts runs as maglevd (default this one). */
  readonly maglevdRoot: string
  /** How that checkout's maglevd is started. */
  readonly launch: Launch
  /** maglevd's --probe-threads (undefined: its default, auto). */
  readonly probeThreads: string | undefined
  /** --keep-log: maglevd's log goes to this file, at level info. */
  readonly keepLog: string | undefined
  /** --scrape-every: seconds between periodic GETs of /metrics over the window, 0 for none. */
  readonly scrapeEvery: number
  /** --vppsim: maglevd programs a vppsim (frontends of 32 backends, a full sync every 30 s). */
  readonly vppsim: boolean
}

type Build = "bundle" | "dist" | "tsx"

/** How a checkout's maglevd is started: the command, and the arguments before maglevd's own. */
interface Launch {
  readonly build: Build
  readonly command: string
  readonly args: ReadonlyArray<string>
}

const spawnOrThrow = (what: string, command: string, args: ReadonlyArray<string>, options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 300_000, ...options })
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr || r.stdout || r.error?.message}`)
}

/**
 * A checkout's maglevd as the packages ship it, once per run of the bench:
 * its packaging/bundle.mjs into `outdir` with this node as the interpreter,
 * then beside the bundle what the Debian package puts there (package.json,
 * the native addon) and the code cache, made as `npm run deb` makes it.
 */
const bundleCheckout = (root: string, outdir: string): Launch => {
  spawnOrThrow(`bundling ${root}`, process.execPath, [path.join(root, "packaging", "bundle.mjs"), "--outdir", outdir, "--node", process.execPath], { cwd: root })
  const { version } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { readonly version: string }
  fs.writeFileSync(path.join(outdir, "package.json"), JSON.stringify({ name: "vpp-maglev", version, type: "module", private: true }))
  const addon = path.join(root, "native", "build", "Release", "vppmaglev_native.node")
  if (!fs.existsSync(addon)) throw new Error(`${addon} is missing: npm run build:native in ${root}`)
  fs.copyFileSync(addon, path.join(outdir, "vppmaglev_native.node"))
  const launcher = path.join(outdir, "maglevd.js")
  spawnOrThrow(`the code cache of ${launcher}`, process.execPath, [launcher, "--version"], {
    env: { ...process.env, VPP_MAGLEV_WRITE_CODE_CACHE: "1" }
  })
  return { build: "bundle", command: launcher, args: [] }
}

/** The checkout's unbundled dist/ (`--dist`), built once per run of the bench. */
const buildDist = (root: string): Launch => {
  spawnOrThrow(`building ${root}/dist`, path.join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], { cwd: root })
  return { build: "dist", command: process.execPath, args: [path.join(root, "dist", "daemon", "main.js")] }
}

/** maglevd's transitions from up to down in its log (JSON lines): backend, code, late_ms, duration and detail. */
const downsIn = (file: string): ReadonlyArray<string> =>
  fs.readFileSync(file, "utf8").split("\n").filter((l) => l.includes(`"event":"backend-transition"`)).flatMap((l) => {
    try {
      const a = (JSON.parse(l) as { readonly annotations: Record<string, unknown> }).annotations
      return a["from"] === "up" && a["to"] === "down"
        ? [`${String(a["backend"])} ${String(a["code"])} late_ms=${String(a["late_ms"] ?? "-")} duration_ms=${String(a["duration_ms"])}: ${String(a["detail"])}`]
        : []
    } catch {
      return []
    }
  })

const runOne = (haproxy: string, n: number, { keepLog, launch, maglevdRoot, nodeServers, probeThreads, scrapeEvery, seconds, vppsim, warmup }: Options) =>
  Effect.scoped(Effect.gen(function*() {
    const load = loadAverage()
    // Everything this run starts is killed after this, whatever happens to us.
    const bound = warmup + seconds + 390
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "maglev-bench-vs-haproxy-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    // The servers, in a /16 of loopback of their own (a random one: another run of this benchmark may hold
    // one), so that only this run's checkers reach them. Another /16 if this one is taken.
    const program = serversProgram(dir, nodeServers)
    const { net, servers } = yield* Effect.gen(function*() {
      const net = 16 + Math.floor(Math.random() * 224)
      const servers = yield* bounded(
        "benchmark servers",
        program.command,
        [...program.args, String(FIRST_PORT), String(PORTS), String(n), `127.${net}`],
        bound,
        program.channel
      )
      yield* Effect.tryPromise({ try: servers.next, catch: (e) => e as Error }).pipe(
        Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error("benchmark servers: not listening within 60 s") })
      )
      return { net, servers }
    }).pipe(Effect.retry({ times: 3 }))
    const statsSocket = path.join(dir, "haproxy.sock")
    fs.writeFileSync(path.join(dir, "maglev.yaml"), maglevConfig(net, n, vppsim))
    const apiSocket = path.join(dir, "api.sock")
    const vppArgs = ["--vpp-api-addr", vppsim ? apiSocket : ""]
    if (vppsim) {
      const statsSocket = path.join(dir, "stats.sock")
      vppArgs.push("--vpp-stats-addr", statsSocket)
      const sim = yield* bounded("vppsim", process.execPath, ["--import", "tsx", path.join(repoRoot, "src", "sim", "main.ts"), "--api-socket", apiSocket, "--stats-socket", statsSocket], bound)
      yield* waitFor(sim, "API socket", () => (fs.existsSync(apiSocket) ? Promise.resolve() : Promise.reject(new Error("not yet"))), 60)
    }
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), haproxyConfig(net, n, statsSocket))

    const metricsPort = yield* Effect.promise(freePort)
    const started = performance.now()
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
    const maglevdArgs = [
      ...launch.args,
      "--config",
      path.join(dir, "maglev.yaml"),
      ...vppArgs,
      "--rpc-addr",
      "",
      "--metrics-addr",
      `127.0.0.1:${metricsPort}`,
      "--log-level",
      keepLog === undefined ? "warn" : "info",
      ...(probeThreads !== undefined ? ["--probe-threads", probeThreads] : [])
    ]
    // --keep-log: its stdout into the file (sh execs it: the same process, which the bound finds as before).
    const maglevd = keepLog === undefined
      ? yield* bounded("maglevd", launch.command, maglevdArgs, bound, undefined, maglevdRoot)
      : yield* bounded("maglevd", "sh", ["-c", `exec "$0" "$@" > '${keepLog}'`, launch.command, ...maglevdArgs], bound, undefined, maglevdRoot)
    const ha = yield* bounded("HAProxy", haproxy, ["-db", "-f", path.join(dir, "haproxy.cfg")], bound)
    yield* Effect.all([
      // Its metrics port listening means maglevd has read its configuration and started checking.
      waitFor(maglevd, "metrics port", () => listening(metricsPort), 120),
      waitFor(ha, "stats socket", () => haproxyCommand(statsSocket, "show info"), 60)
    ], { concurrency: 2 })

    // Warm-up: from when both have sent a first probe to every backend (or given up waiting), then `warmup` s.
    const reached = yield* firstRound(servers, n, started)
    // A checker that never got round (a broken build, say) says why, as far as its output tells
    // (not counting maglevd's warning that a backend is in no frontend, one per backend here).
    const notes = ([["maglevd", maglevd], ["haproxy", ha]] as const).flatMap(([c, p]) => {
      const lines = p.tail().split("\n").filter((l) => l !== "" && !l.includes(`"event":"config-warning"`))
      return "reached" in reached[c] && lines.length > 0
        ? [`${p.name}'s last output:\n${lines.slice(-5).map((l) => `    ${l.slice(0, 300)}`).join("\n")}`]
        : []
    })
    yield* Effect.sleep(Duration.seconds(warmup))
    // Its rounds' start lateness so far, to count the window's alone (read before the window: a scrape costs CPU).
    const lateness0 = yield* Effect.tryPromise(() => httpGet(metricsUrl, 60).then(latenessOf)).pipe(
      Effect.orElseSucceed(() => undefined)
    )
    const cpu0 = yield* Effect.forEach([maglevd, ha, servers], cpuOf)
    const wait0 = yield* Effect.forEach([maglevd, ha, servers], waitOf)
    const t0 = performance.now()
    const machine0 = machineTicks()
    yield* ask(servers, "start")
    // --scrape-every: GET /metrics every so often over the window, as a Prometheus would (the first one after a period).
    const scrapeMs: Array<number> = []
    let scrapesFailed = 0
    const scraper = scrapeEvery > 0
      ? yield* Effect.tryPromise(() => httpTime(metricsUrl, 60)).pipe(
        Effect.match({ onFailure: () => void scrapesFailed++, onSuccess: (t) => void scrapeMs.push(t) }),
        Effect.delay(Duration.seconds(scrapeEvery)),
        Effect.forever,
        Effect.fork
      )
      : undefined
    // maglevd's RSS at each tenth of the window: flat, or growing?
    const rssSeries: Array<number> = []
    for (let i = 0; i < 10; i++) {
      yield* Effect.sleep(Duration.millis(seconds * 100))
      rssSeries.push((yield* rssOf(maglevd)).rss)
    }
    if (scraper !== undefined) yield* Fiber.interrupt(scraper)
    const counts = yield* ask<ServerCounts>(servers, "stop")
    const wall = (performance.now() - t0) / 1000
    const machine1 = machineTicks()
    const [mWait, hWait, sWait] = (yield* Effect.forEach([maglevd, ha, servers], waitOf)).map((w, i) => (w - wait0[i]!) / wall)
    const [mCpu, hCpu, sCpu] = (yield* Effect.forEach([maglevd, ha, servers], cpuOf)).map((c, i) => ({
      user: c.user - cpu0[i]!.user,
      system: c.system - cpu0[i]!.system
    }))
    const [mRss, hRss] = yield* Effect.forEach([maglevd, ha], rssOf)
    // A checker too overloaded to answer does not spoil the figures above: its count says why it is missing.
    const query = <A>(what: () => Promise<A>) =>
      Effect.tryPromise({ try: what, catch: (e) => (e instanceof Error ? e.message : String(e)) }).pipe(Effect.either)
    const [mView, hView] = yield* Effect.all([query(() => maglevdView(metricsUrl, n, lateness0)), query(() => haproxyView(statsSocket))], {
      concurrency: 2
    })
    const vppView = vppsim
      ? yield* query(() => httpGet(metricsUrl, 60).then(vppViewOf)).pipe(Effect.map(Either.merge))
      : undefined
    const mNotUp = Either.isRight(mView) ? mView.right.notUp : mView.left
    const hNotUp = Either.isRight(hView) ? hView.right.notUp : hView.left
    const mDown = Either.isRight(mView) ? mView.right.wentDown : mView.left
    const hDown = Either.isRight(hView) ? hView.right.wentDown : hView.left

    const checker = (
      probes: number,
      cpu: { user: number; system: number },
      rss: { rss: number; peak: number },
      gap: GapSummary,
      notUp: number | string,
      wentDown: number | string
    ): CheckerFigures => ({
      probesPerSecond: probes / wall,
      cpuSecondsPer1000: (cpu.user + cpu.system) / (probes / 1000),
      cores: (cpu.user + cpu.system) / wall,
      systemShare: cpu.system / Math.max(1e-9, cpu.user + cpu.system),
      rssEndMiB: rss.rss,
      rssPeakMiB: rss.peak,
      gap,
      notUp,
      wentDown
    })
    return {
      backends: n,
      seconds: wall,
      warmup,
      loadAverage: load,
      maglevd: checker(counts.probes.maglevd, mCpu!, mRss!, counts.gaps.maglevd, mNotUp, mDown),
      haproxy: checker(counts.probes.haproxy, hCpu!, hRss!, counts.gaps.haproxy, hNotUp, hDown),
      otherProbes: counts.probes.other,
      serverCores: (sCpu!.user + sCpu!.system) / wall,
      waited: { maglevd: mWait!, haproxy: hWait!, servers: sWait! },
      machineBusy: (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total),
      serverKind: program.kind,
      maglevdRoot,
      probeThreads,
      build: launch.build,
      maglevdSelf: Either.isRight(mView) ? mView.right : undefined,
      firstRound: reached,
      rssSeries,
      scrapes: scrapeEvery > 0 ? { everySeconds: scrapeEvery, ms: scrapeMs, failed: scrapesFailed } : undefined,
      vppsim: vppView,
      notes,
      falseDowns: keepLog === undefined ? undefined : { file: keepLog, lines: downsIn(keepLog) }
    } satisfies Figures
  })).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(warmup + seconds + 330),
      onTimeout: () => new Error(`health-vs-haproxy at ${n} backends: not done within ${warmup + seconds + 330} s`)
    })
  )

// ---------------------------------------------------------------------------
// output

const int = (x: number) => Math.round(x).toLocaleString("en-US")
const ms = (x: number) => `${x - INTERVAL_MS >= 0 ? "+" : ""}${(x - INTERVAL_MS).toFixed(0)}`
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}x` : "-")

export const print = (f: Figures): void => {
  const { maglevd: m, haproxy: h } = f
  console.log(`\nmaglevd vs HAProxy, side by side: ${int(f.backends)} HTTP backends, GET / every 1 s, rise 2 fall 3, timeout 900 ms`)
  console.log(`  measured ${f.seconds.toFixed(0)} s, ${f.warmup} s after both had probed every backend; load average at start ${f.loadAverage}`)
  console.log(`  the machine's ${os.cpus().length} cores were ${(100 * f.machineBusy).toFixed(0)} % busy over the window (everyone's work: near 100 % means the checkers competed for CPU)`)
  const row = (label: string, a: string, b: string, r = "") => console.log(`  ${label.padEnd(28)}${a.padStart(22)}${b.padStart(22)}${r.padStart(12)}`)
  row("", "maglevd", "HAProxy", "maglevd/HA")
  row("probes/s", int(m.probesPerSecond), int(h.probesPerSecond), ratio(m.probesPerSecond, h.probesPerSecond))
  const perProbe = (c: CheckerFigures) => (Number.isFinite(c.cpuSecondsPer1000) ? `${c.cpuSecondsPer1000.toFixed(3)} s` : "- (no probe)")
  row("CPU per 1,000 probes", perProbe(m), perProbe(h), Number.isFinite(m.cpuSecondsPer1000) ? ratio(m.cpuSecondsPer1000, h.cpuSecondsPer1000) : "-")
  row("cores", m.cores.toFixed(2), h.cores.toFixed(2), ratio(m.cores, h.cores))
  row("  of it in the kernel", `${(100 * m.systemShare).toFixed(0)} %`, `${(100 * h.systemShare).toFixed(0)} %`)
  row("RSS at the end", `${m.rssEndMiB.toFixed(0)} MiB`, `${h.rssEndMiB.toFixed(0)} MiB`, ratio(m.rssEndMiB, h.rssEndMiB))
  row("RSS peak", `${m.rssPeakMiB.toFixed(0)} MiB`, `${h.rssPeakMiB.toFixed(0)} MiB`, ratio(m.rssPeakMiB, h.rssPeakMiB))
  console.log(`  maglevd's RSS over the window, each tenth (MiB): ${f.rssSeries.map((r) => r.toFixed(0)).join(" ")}`)
  if (f.scrapes !== undefined) {
    const sorted = [...f.scrapes.ms].sort((a, b) => a - b)
    const at = (q: number) => (sorted.length === 0 ? "-" : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(0))
    console.log(
      `  GET /metrics every ${f.scrapes.everySeconds} s over the window: ${sorted.length} answered${
        f.scrapes.failed > 0 ? `, ${f.scrapes.failed} failed` : ""
      }, p50 ${at(0.5)} ms, max ${at(1)} ms (maglevd's CPU per probe above includes these renders; HAProxy renders nothing)`
    )
  }
  const gap = (g: GapSummary) => (g.count === 0 ? "- (no gap)" : `${ms(g.p50)} / ${ms(g.p99)} / ${ms(g.max)}`)
  row("gap - 1 s: p50 / p99 / max", gap(m.gap), gap(h.gap))
  const late = (g: GapSummary) => (g.count === 0 ? "-" : `${((100 * g.over1100) / g.count).toFixed(2)} %`)
  row("gaps over 1.1 s (late)", late(m.gap), late(h.gap))
  const notUp = (x: number | string) => (typeof x === "number" ? `${int(x)} / ${int(f.backends)}` : "?")
  row("backends not up at the end", notUp(m.notUp), notUp(h.notUp))
  const down = (x: number | string) => (typeof x === "number" ? int(x) : "?")
  row("went down since start (false)", down(m.wentDown), down(h.wentDown))
  for (const [name, x] of [["maglevd", m.notUp], ["HAProxy", h.notUp]] as const) {
    if (typeof x === "string") console.log(`  (${name} not asked: ${x})`)
  }
  console.log(`  gap: time between two requests of one checker to one backend, in ms against the 1 s interval, as the`)
  console.log(`       servers see them. Both jitter by ±10 % (up to ±100 ms) on purpose, so p99 near +100 is on time;`)
  console.log(`       a gap over 1.1 s is late. HAProxy counts its interval from the end of a check, maglevd from the start.`)
  const first = (x: FirstRound[keyof FirstRound]) =>
    "seconds" in x ? `${x.seconds.toFixed(1)} s` : `not in ${FIRST_ROUND_TIMEOUT_S} s (${int(x.reached)} reached)`
  console.log(`  every backend probed once, from the start of both: maglevd ${first(f.firstRound.maglevd)}, HAProxy ${first(f.firstRound.haproxy)}`)
  const self = f.maglevdSelf
  if (self?.loopDelayMs !== undefined || self?.selfLate !== undefined) {
    const parts = [
      ...(self.loopDelayMs !== undefined ? [`event-loop delay ${self.loopDelayMs.toFixed(0)} ms (max of the last 10 s)`] : []),
      ...(self.selfLate !== undefined ? [`${int(self.selfLate)} probe rounds not counted as its own lateness (since start)`] : []),
      ...(self.startLateness === undefined
        ? []
        : [
          `rounds started late by p50 ≤ ${self.startLateness.p50} ms, p99 ≤ ${self.startLateness.p99} ms (${
            self.startLateness.window ? "over the window" : "since start"
          })`
        ]),
      `GET /metrics took ${self.scrapeMs.toFixed(0)} ms`
    ]
    console.log(`  maglevd's own view at the end: ${parts.join(", ")}`)
  }
  console.log(`  servers' CPU: ${f.serverCores.toFixed(2)} cores (${f.serverKind}, a separate process, not counted above)${f.otherProbes > 0 ? `; ${int(f.otherProbes)} requests from neither checker` : ""}`)
  console.log(
    `  waited for a core (runnable, not running; s per s, threads added up): maglevd ${f.waited.maglevd.toFixed(2)}, HAProxy ${f.waited.haproxy.toFixed(2)}, servers ${
      f.waited.servers.toFixed(2)
    } (starved servers answer late, and both checkers time out: not a checker's lateness)`
  )
  for (const note of f.notes) console.log(`  ${note}`)
  if (f.falseDowns !== undefined) {
    const { file, lines } = f.falseDowns
    console.log(`  maglevd's log: ${file}; its transitions from up to down${lines.length === 0 ? ": none" : ` (${lines.length}):`}`)
    for (const l of lines.slice(0, 20)) console.log(`    ${l}`)
    if (lines.length > 20) console.log(`    ... and ${lines.length - 20} more`)
  }
  if (f.maglevdRoot !== repoRoot) console.log(`  maglevd from ${f.maglevdRoot}`)
  if (f.vppsim !== undefined) {
    const seen = typeof f.vppsim === "string" ? `its /metrics not read: ${f.vppsim}` : `at the end connected ${f.vppsim.connected ? "yes" : "NO"}, ${int(f.vppsim.operations)} lb changes accepted`
    console.log(`  maglevd with VPP: a vppsim, every backend in one VIP (pools of up to ${VPP_POOL}), a full sync every 30 s; ${seen}`)
  }
  if (f.probeThreads !== undefined) console.log(`  maglevd with --probe-threads ${f.probeThreads}`)
  const how = { bundle: "runs bundled, as it ships (its launcher, with the code cache)", dist: "runs unbundled (dist/, not as it ships)", tsx: "runs under tsx (~100 MiB of its RSS)" }
  console.log(`  maglevd ${how[f.build]}; HAProxy with one thread; CPU is user + system, all threads`)
}

/** Several checkouts or thread counts side by side (in turn, per size): one line each, the figures that compare. */
const printComparison = (all: ReadonlyArray<Figures>): void => {
  console.log("\nmaglevd variants in turn (ratios against the HAProxy of the same run; late p99: rounds' start lateness, the bucket bound):")
  console.log(`  ${"backends".padEnd(9)}${"checkout".padEnd(24)}${"threads".padEnd(8)}${"CPU/probe".padStart(10)}${"probes/s".padStart(10)}${"RSS end".padStart(9)}${"peak".padStart(7)}${"late p99".padStart(10)}${"loop max".padStart(10)}${"all probed".padStart(12)}${"not up".padStart(8)}${"down".padStart(6)}`)
  for (const f of all) {
    const m = f.maglevd
    const first = f.firstRound.maglevd
    const late = f.maglevdSelf?.startLateness
    const loop = f.maglevdSelf?.loopDelayMs
    console.log(
      `  ${int(f.backends).padEnd(9)}${path.basename(f.maglevdRoot).slice(0, 23).padEnd(24)}${(f.probeThreads ?? "auto").padEnd(8)}${
        ratio(m.cpuSecondsPer1000, f.haproxy.cpuSecondsPer1000).padStart(10)
      }${ratio(m.probesPerSecond, f.haproxy.probesPerSecond).padStart(10)}${m.rssEndMiB.toFixed(0).padStart(9)}${m.rssPeakMiB.toFixed(0).padStart(7)}${
        (late === undefined ? "-" : `${late.p99} ms`).padStart(10)
      }${(loop === undefined ? "-" : `${loop.toFixed(0)} ms`).padStart(10)}${("seconds" in first ? `${first.seconds.toFixed(1)} s` : "-").padStart(12)}${
        String(m.notUp).padStart(8)
      }${String(m.wentDown).padStart(6)}`
    )
  }
}

// ---------------------------------------------------------------------------
// entry

const findHaproxy = (): string | undefined => {
  const dirs = [...(process.env["PATH"] ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin"]
  for (const d of dirs) {
    const f = path.join(d, "haproxy")
    try {
      fs.accessSync(f, fs.constants.X_OK)
      return f
    } catch {
      // not here
    }
  }
  return undefined
}

const usage =
  "usage: npm run bench -- health-vs-haproxy [--backends 1000,10000] [--seconds 30] [--warmup 10] [--node-servers] [--maglevd CHECKOUT] [--dist | --tsx] [--probe-threads N|auto[,N...]] [--scrape-every S] [--vppsim] [--keep-log DIR]"

const positive = (flag: string, value: string): number => {
  const x = Number(value)
  if (!Number.isInteger(x) || x <= 0) throw new Error(`--${flag}: expected a positive whole number, got "${value}"\n${usage}`)
  return x
}

/** Runs every size asked for (default 1,000 then 10,000), printing each; kills everything on SIGINT/SIGTERM. */
export const run = async (argv: ReadonlyArray<string>): Promise<void> => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backends: { type: "string", multiple: true },
      seconds: { type: "string", default: "30" },
      warmup: { type: "string", default: "10" },
      "node-servers": { type: "boolean", default: false },
      maglevd: { type: "string", multiple: true },
      dist: { type: "boolean", default: false },
      tsx: { type: "boolean", default: false },
      "probe-threads": { type: "string", multiple: true },
      "keep-log": { type: "string" },
      "scrape-every": { type: "string", default: "0" },
      vppsim: { type: "boolean", default: false }
    }
  })
  const sizes = (values.backends ?? ["1000,10000"]).flatMap((v) => v.split(",")).map((v) => positive("backends", v))
  const seconds = positive("seconds", values.seconds)
  const warmup = positive("warmup", values.warmup)
  const scrapeEvery = values["scrape-every"] === "0" ? 0 : positive("scrape-every", values["scrape-every"])
  if (sizes.some((n) => n > PORTS * 256 * 255)) throw new Error(`--backends: at most ${PORTS * 256 * 255}`)
  const roots = (values.maglevd ?? [repoRoot]).map((r) => path.resolve(r))
  for (const root of roots) {
    if (!fs.existsSync(path.join(root, "src", "daemon", "main.ts"))) throw new Error(`--maglevd: no src/daemon/main.ts in ${root}\n${usage}`)
  }
  const haproxy = findHaproxy()
  if (haproxy === undefined) {
    console.log("\nmaglevd vs HAProxy: skipped, haproxy is not installed (apt-get install haproxy)")
    return
  }
  if (values.dist && values.tsx) throw new Error(`--dist and --tsx: one or the other\n${usage}`)
  // The checkouts' bundles, removed at the end whatever happens.
  const bundles = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-bench-vs-haproxy-bundles-"))
  let interrupted = false
  try {
    const launches = new Map(roots.map((root, i) => [
      root,
      values.tsx
        ? { build: "tsx" as const, command: process.execPath, args: ["--import", "tsx", path.join(root, "src", "daemon", "main.ts")] }
        : values.dist
        ? buildDist(root)
        : bundleCheckout(root, path.join(bundles, String(i)))
    ]))
    const keepLog = values["keep-log"] === undefined ? undefined : path.resolve(values["keep-log"])
    if (keepLog !== undefined) fs.mkdirSync(keepLog, { recursive: true })
    interrupted = await runAll(haproxy, sizes, roots, launches, {
      seconds,
      warmup,
      nodeServers: values["node-servers"],
      threads: values["probe-threads"],
      keepLog,
      scrapeEvery,
      vppsim: values.vppsim
    })
  } finally {
    fs.rmSync(bundles, { recursive: true, force: true })
  }
  if (interrupted) {
    console.error("health-vs-haproxy: interrupted; processes killed, temp dirs removed")
    process.exit(130)
  }
}

/** Every size with every checkout and thread count, in turn; true when interrupted (SIGINT/SIGTERM: everything killed). */
const runAll = async (
  haproxy: string,
  sizes: ReadonlyArray<number>,
  roots: ReadonlyArray<string>,
  launches: ReadonlyMap<string, Launch>,
  { keepLog, nodeServers, scrapeEvery, seconds, threads, vppsim, warmup }: {
    readonly seconds: number
    readonly warmup: number
    readonly nodeServers: boolean
    readonly threads: ReadonlyArray<string> | undefined
    /** --keep-log DIR */
    readonly keepLog: string | undefined
    readonly scrapeEvery: number
    readonly vppsim: boolean
  }
): Promise<boolean> => {
  const threadCounts: ReadonlyArray<string | undefined> = threads === undefined
    ? [undefined]
    : threads.flatMap((v) => v.split(",")).map((v) => {
      if (v !== "auto" && !/^\d+$/.test(v)) throw new Error(`--probe-threads: expected auto or a whole number, got "${v}"\n${usage}`)
      return v
    })
  // Several checkouts or thread counts: each size runs each of them in turn, so that they meet the same machine.
  const runs = sizes.flatMap((n) => roots.flatMap((maglevdRoot) => threadCounts.map((probeThreads) => ({ n, maglevdRoot, probeThreads }))))
  const fiber = Effect.runFork(
    Effect.forEach(runs, ({ maglevdRoot, n, probeThreads }, i) =>
      runOne(haproxy, n, {
        seconds,
        warmup,
        nodeServers,
        maglevdRoot,
        launch: launches.get(maglevdRoot)!,
        probeThreads,
        scrapeEvery,
        vppsim,
        keepLog: keepLog === undefined ? undefined : path.join(keepLog, `maglevd-${n}-${i + 1}.log`)
      }).pipe(
        Effect.tap((f) => Effect.sync(() => print(f)))
      )).pipe(Effect.tap((all) => Effect.sync(() => roots.length * threadCounts.length > 1 && printComparison(all))))
  )
  let signalled = false
  const stop = () => {
    signalled = true
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", stop)
  process.off("SIGTERM", stop)
  if (signalled) return true
  if (Exit.isFailure(exit)) throw new Error(`health-vs-haproxy: ${Cause.pretty(exit.cause)}`)
  return false
}

// `node --import tsx bench/healthVsHaproxy.ts [flags]` runs it alone.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run(process.argv.slice(2).filter((a) => a !== "--"))
}
