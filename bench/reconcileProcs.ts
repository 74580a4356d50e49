/**
 * The reconciler as an operator runs it (issue 14's set-up): a real maglevd
 * and a real vppsim, each its own process, 1,000 frontends (one VIP each)
 * over the same 32 HTTP backends (every backend in all 1,000 VIPs: 32,000
 * ASes). Figures from maglevd's own log timestamps (JSON lines, ms) and RPC
 * round trips:
 *
 * 1. first programming after start: the first to the last lb mutation logged
 *    (33,000: 1,000 VIPs + 32,000 ASes). Target <= 2 s.
 * 2. no-change full sync: `SyncVPPLBState` round trip minus a `GetVersion`
 *    round trip (median). Target <= 100 ms.
 * 3. reaction: a backend (in all 1,000 VIPs) stops listening; from its
 *    `backend-transition` (the verdict) to the first `vpp-lbsync-as-weight`
 *    for it logged, alone and while a full sync of 32,000 weight changes runs
 *    (a `ReloadConfig` of every weight). Target p99 <= 5 ms.
 * 4. health: transitions during the run other than the flips (target none:
 *    the programming load must not make a backend fail its checks).
 *
 * The backends are listeners in a process of their own (127.0.1.1-32, one
 * port, an HTTP 200 per connection: reconcileBackends.ts); a flip closes a
 * listener (connection refused) and opens it again. RECONCILE_CPU_PROF=dir writes `node --cpu-prof` profiles of
 * both processes in dir/maglevd and dir/vppsim (the largest file is the main thread's); with RECONCILE_DIST=1
 * maglevd runs from dist/ (`npm run build`), so that its profile names functions and lines.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { LbOpInfo } from "../src/api/Api.js"
import * as Client from "../src/api/Client.js"
import { loadAverage } from "./internal/proc.js"
import { startBackends } from "./reconcileBackends.js"
import { breakdown, type Flip, reactionReport, report, stdoutReport, syncReport } from "./reconcileStages.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const FRONTENDS = Number(process.env["RECONCILE_FRONTENDS"] ?? 1000)
const BACKENDS = 32
/** Backends on the fast check (flipped by the reaction scenarios): the last ones. */
const FLIPPED = 4
const DOWN_EVENTS = Number(process.env["RECONCILE_DOWN_EVENTS"] ?? 30)
/**
 * Reactions measured during full syncs (RECONCILE_DURING_EVENTS, default 6: the bench stays ~1 min;
 * 30 or more for a p99 that is not just the slowest of a few), and how many backends each full sync
 * flips down one after another (RECONCILE_DURING_PER_SYNC, default 1, at most the 4 flipped): a flip
 * whose verdict came after the sync's end is not counted (reported).
 */
const DURING_EVENTS = Number(process.env["RECONCILE_DURING_EVENTS"] ?? 6)
const DURING_PER_SYNC = Math.max(1, Math.min(Number(process.env["RECONCILE_DURING_PER_SYNC"] ?? 1), 4))
const NO_CHANGE_RUNS = Number(process.env["RECONCILE_NO_CHANGE_RUNS"] ?? 7)
const MUTATIONS: ReadonlySet<string> = new Set(["vpp-lbsync-vip-add", "vpp-lbsync-vip-del", "vpp-lbsync-as-add", "vpp-lbsync-as-del", "vpp-lbsync-as-weight"])
const TRANSITION: ReadonlySet<string> = new Set(["backend-transition"])

const backendAddress = (i: number) => `127.0.1.${i + 1}`
const flipped = Array.from({ length: FLIPPED }, (_, i) => BACKENDS - FLIPPED + i)

const configText = (port: number, weight: number) => {
  const fast = new Set(flipped)
  const lines = [
    "maglev:",
    "  vpp:",
    "    lb: {ipv4-src-address: 192.0.2.1, sync-interval: 1h, startup-min-delay: 2s, startup-max-delay: 60s}",
    "  healthchecks:",
    // The daemon's defaults, over HTTP: interval 2s, timeout 1s, rise 2, fall 3.
    `    steady: {type: http, port: ${port}, interval: 2s, timeout: 1s, rise: 2, fall: 3}`,
    `    fast: {type: http, port: ${port}, interval: 200ms, fast-interval: 200ms, down-interval: 200ms, timeout: 200ms, rise: 1, fall: 1}`,
    "  backends:"
  ]
  for (let i = 0; i < BACKENDS; i++) lines.push(`    b${i}: {address: ${backendAddress(i)}, healthcheck: ${fast.has(i) ? "fast" : "steady"}}`)
  lines.push("  frontends:")
  const members = Array.from({ length: BACKENDS }, (_, i) => `b${i}: {weight: ${weight}}`).join(", ")
  for (let f = 0; f < FRONTENDS; f++) {
    lines.push(`    f${f}:`)
    lines.push(`      address: 198.18.${Math.floor(f / 250)}.${(f % 250) + 1}`)
    lines.push("      protocol: tcp")
    lines.push("      port: 80")
    lines.push("      new-flows-table-length: 4096")
    lines.push(`      pools: [{name: main, backends: {${members}}}]`)
  }
  return lines.join("\n") + "\n"
}

interface Record_ {
  readonly t: number
  readonly event: string
  readonly a: Record<string, unknown>
}

/** `"name":"text"` or `"name":number` (or true/false) in a JSON line, without parsing the line. */
const field = (line: string, name: string): string | number | boolean | undefined => {
  const at = line.indexOf(`"${name}":`)
  if (at < 0) return undefined
  const v = at + name.length + 3
  if (line.charCodeAt(v) === 34) return line.slice(v + 1, line.indexOf('"', v + 1))
  let end = v
  while (end < line.length && line.charCodeAt(end) !== 44 && line.charCodeAt(end) !== 125) end++
  const raw = line.slice(v, end)
  return raw === "true" ? true : raw === "false" ? false : Number(raw)
}

/** One copy of each distinct short string (an event, a backend): a slice of a line keeps the whole line alive. */
const interned = new Map<string, string>()
const intern = <A>(x: A): A => {
  if (typeof x !== "string") return x
  const known = interned.get(x)
  if (known !== undefined) return known as A
  const copy = Buffer.from(x, "utf8").toString("utf8")
  interned.set(copy, copy)
  return copy as A
}

/**
 * maglevd's log, kept as records of the events the bench reads; `when` calls back per record.
 * Cheap, for it runs beside the processes it measures (a full sync logs 32,000 lines in a second
 * or two, on the same two cores): the event by index, and the lines of `brief` events (the
 * mutations: only counted, or matched by backend and weight) read field by field, not parsed
 * whole, and kept as columns (time, event, backend, weight; the strings interned), not as an
 * object each: a run's million mutation lines kept as objects (each holding its whole line
 * through the slices of it) grew the bench's heap all run (~600 MiB), and its collector's work
 * with it (docs/lbsync.md, twelfth round). The time is still the line's own (maglevd's clock).
 */
const readLog = (child: ChildProcess, keep: (event: string) => boolean, brief: (event: string) => boolean = () => false) => {
  /** Every record kept, by index: its time and event; `brief` ones' backend and weight; the others whole. */
  const times: Array<number> = []
  const events: Array<string> = []
  const backends: Array<unknown> = []
  const weights: Array<unknown> = []
  const whole = new Map<number, Record_>()
  const listeners = new Set<(r: Record_, k: number) => void>()
  let buffer = ""
  /** Records of `brief` events read so far. */
  let briefs = 0
  const at = (k: number): Record_ => whole.get(k) ?? { t: times[k]!, event: events[k]!, a: { backend: backends[k], weight: weights[k] } }
  child.stdout!.setEncoding("utf8")
  child.stdout!.on("data", (d: string) => {
    buffer += d
    let start = 0
    let nl
    while ((nl = buffer.indexOf("\n", start)) >= 0) {
      const line = buffer.slice(start, nl)
      start = nl + 1
      const e = line.indexOf('"event":"')
      if (e < 0) continue
      const event = line.slice(e + 9, line.indexOf('"', e + 9))
      if (!keep(event)) continue
      let r: Record_
      if (brief(event) && line.startsWith('{"timestamp":"')) {
        const backend = intern(field(line, "backend"))
        const weight = field(line, "weight")
        r = { t: Date.parse(line.slice(14, line.indexOf('"', 14))), event: intern(event), a: { backend, weight } }
        backends[times.length] = backend
        weights[times.length] = weight
        briefs++
      } else {
        try {
          const j = JSON.parse(line) as { timestamp: string; annotations: Record<string, unknown> }
          r = { t: Date.parse(j.timestamp), event: intern(event), a: j.annotations }
        } catch {
          continue // not a log line
        }
        whole.set(times.length, r)
      }
      times.push(r.t)
      events.push(r.event)
      for (const l of listeners) l(r, times.length - 1)
    }
    buffer = buffer.slice(start)
  })
  /**
   * The first record from index `from` on (those read, then those to come) for which `test` gives a
   * value: called once per record as it is read, no polling (a poll scanned thousands of a sync's
   * records every few milliseconds).
   */
  const when = <A>(what: string, from: number, test: (r: Record_, k: number) => A | undefined, timeoutMs: number): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      for (let k = from; k < times.length; k++) {
        const v = test(at(k), k)
        if (v !== undefined) return resolve(v)
      }
      const done = () => {
        listeners.delete(listener)
        clearTimeout(timer)
      }
      const listener = (r: Record_, k: number) => {
        const v = test(r, k)
        if (v !== undefined) {
          done()
          resolve(v)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${what}: not within ${timeoutMs} ms`))
      }, timeoutMs)
      listeners.add(listener)
    })
  /** The records from index `from` on whose event is in `names`. */
  const since = (from: number, names: ReadonlySet<string>): Array<Record_> => {
    const out: Array<Record_> = []
    for (let k = from; k < times.length; k++) if (names.has(events[k]!)) out.push(at(k))
    return out
  }
  /** How many records from index `from` on have their event in `names`, and the first's and the last's times. */
  const span = (from: number, names: ReadonlySet<string>) => {
    let n = 0
    let first = NaN
    let last = NaN
    for (let k = from; k < times.length; k++) {
      if (!names.has(events[k]!)) continue
      if (n++ === 0) first = times[k]!
      last = times[k]!
    }
    return { n, first, last }
  }
  return { count: () => times.length, when, since, span, briefs: () => briefs }
}

const until = async <A>(what: string, f: () => A | undefined | Promise<A | undefined>, timeoutMs: number, everyMs = 20): Promise<A> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface Latencies {
  readonly n: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  /** Values over 5 ms (issue 14's p99 target): with a few dozen values, what the p99 cannot show. */
  readonly over5: number
}

/** p50, p90, p99 and max of a sample (p99 is the maximum below 100 values), and how many are over 5 ms. */
export const latencies = (xs: ReadonlyArray<number>): Latencies => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? NaN, over5: s.filter((x) => x > 5).length }
}

/** RECONCILE_STOP: the run ended early on purpose (its message says what was measured). */
export class Stopped extends Error {}

export interface ProcFigures {
  readonly firstProgrammingMs: number
  readonly firstProgrammingOps: number
  /** CPU seconds spent during the first programming. */
  readonly firstCpu: { readonly maglevd: number; readonly vppsim: number }
  readonly noChangeCpu: ReadonlyArray<{ readonly maglevd: number; readonly vppsim: number }>
  readonly noChangeMs: ReadonlyArray<number>
  readonly getVersionMs: number
  readonly downFirst: Latencies
  readonly downLast: Latencies
  readonly upFirst: Latencies
  readonly duringFirst: Latencies
  readonly duringLast: Latencies
  readonly duringSyncs: number
  /** Flips of the full-sync phase whose verdict came after the sync's end (not in `duringFirst`). */
  readonly duringLate: number
  readonly fullSyncMs: ReadonlyArray<number>
  readonly unexpectedTransitions: ReadonlyArray<string>
  readonly mutationsLogged: number
  readonly maglevdCpuS: number
  readonly vppsimCpuS: number
  /** The bench's own CPU seconds (its log reading, the backends' listeners) over the reactions alone and those during full syncs. */
  readonly benchCpu: { readonly alone: number; readonly during: number; readonly syncs: number }
  readonly load: string
  /** The reactions' stages from the trace points (reconcileStages.ts), filled in once both processes exited. */
  readonly stages: { text: string }
}

const cpuSeconds = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(f[11]) + Number(f[12])) / 100
}

/** This process's CPU seconds (the backends' listeners run in a process of their own). */
const benchCpuS = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1e6
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

/**
 * maglevd's node flags: RECONCILE_MAGLEVD_FLAGS (space-separated; set, even empty, it replaces the
 * default), else those the shipped launcher gives it (packaging/bundle.mjs's LAUNCH_FLAGS.maglevd, when
 * that module exports them): the figures of record are taken as maglevd runs when installed.
 */
const maglevdFlags = async (): Promise<ReadonlyArray<string>> => {
  const given = process.env["RECONCILE_MAGLEVD_FLAGS"]
  if (given !== undefined) return given.split(" ").filter((f) => f !== "")
  const bundle = (await import(pathToFileURL(path.join(root, "packaging/bundle.mjs")).href)) as {
    readonly LAUNCH_FLAGS?: { readonly maglevd?: ReadonlyArray<string> }
  }
  return bundle.LAUNCH_FLAGS?.maglevd ?? []
}

export const runProcs = async (): Promise<ProcFigures> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reconcile-procs-"))
  const children: Array<ChildProcess> = []
  let stopSampler = () => {}
  const { port, backends, close: closeBackends } = await startBackends(Array.from({ length: BACKENDS }, (_, i) => backendAddress(i)))
  const profDir = process.env["RECONCILE_CPU_PROF"]
  const prof = (name: string) => (profDir === undefined || profDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${path.join(profDir, name)}`])
  // RECONCILE_TRACE=0: without the trace points' recorder (bench/reconcileTrace.ts).
  const traced = process.env["RECONCILE_TRACE"] !== "0"
  const traceOut = (name: string) => path.join(dir, `${name}.trace`)
  const tsx = (name: string, src: string) => [
    ...prof(name),
    "--import",
    "tsx",
    ...(traced ? ["--import", path.join(root, "bench/reconcileTrace.ts")] : []),
    path.join(root, src)
  ]
  /**
   * RECONCILE_DIST=1: maglevd from dist/ (`npm run build` first), for a CPU profile with the functions'
   * names and lines (under tsx they are anonymous, on line 1); vppsim stays under tsx.
   */
  const maglevdMain = process.env["RECONCILE_DIST"] === "1"
    ? [...prof("maglevd"), ...(traced ? ["--import", "tsx", "--import", path.join(root, "bench/reconcileTrace.ts")] : []), path.join(root, "dist/daemon/main.js")]
    : tsx("maglevd", "src/daemon/main.ts")
  const envOf = (name: string) => (traced ? { ...process.env, RECONCILE_TRACE_OUT: traceOut(name) } : process.env)
  const reactions: Array<Flip> = []
  const stages = { text: "" }
  try {
    const apiSocket = path.join(dir, "api.sock")
    const statsSocket = path.join(dir, "stats.sock")
    const sim = spawn(process.execPath, [...tsx("vppsim", "src/sim/main.ts"), "--api-socket", apiSocket, "--stats-socket", statsSocket], {
      cwd: root,
      env: envOf("vppsim"),
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.push(sim)
    const simLog = readLog(sim, (e) => e === "vppsim-ready")
    await simLog.when("vppsim-ready", 0, () => true, 60_000)
    const configFile = path.join(dir, "maglev.yaml")
    fs.writeFileSync(configFile, configText(port, 100))
    const nodeFlags = await maglevdFlags()
    console.log(`  maglevd's node flags: ${nodeFlags.length === 0 ? "none" : nodeFlags.join(" ")}`)
    const maglevd = spawn(process.execPath, [
      ...nodeFlags,
      ...maglevdMain,
      "--config",
      configFile,
      "--vpp-api-addr",
      apiSocket,
      "--vpp-stats-addr",
      statsSocket,
      "--rpc-addr",
      "127.0.0.1:0",
      "--metrics-addr",
      "",
      "--log-format",
      "json"
    ], { cwd: root, env: envOf("maglevd"), stdio: ["ignore", "pipe", "inherit"] })
    children.push(maglevd)
    // RECONCILE_NICE=n: maglevd and vppsim at that nice value (a diagnostic: the figures when they get a core
    // before the machine's other processes, as VPP on cores of its own and a daemon given CPUWeight= would).
    const nice = process.env["RECONCILE_NICE"]
    if (nice !== undefined && nice !== "") for (const c of [sim, maglevd]) os.setPriority(c.pid!, Number(nice))
    // RECONCILE_KEEP_LOG=file keeps maglevd's whole log there (to read what happened).
    const keepLog = process.env["RECONCILE_KEEP_LOG"]
    if (keepLog !== undefined && keepLog !== "") maglevd.stdout!.pipe(fs.createWriteStream(keepLog))
    const log = readLog(
      maglevd,
      (e) => MUTATIONS.has(e) || e === "backend-transition" || e === "rpc-listen" || e === "vpp-lbsync-done" || e === "vpp-lbsync-failed",
      (e) => MUTATIONS.has(e)
    )
    const listening = await log.when("rpc-listen", 0, (r) => (r.event === "rpc-listen" ? r : undefined), 60_000)
    const url = String(listening.a["url"])
    const withClient = <A, E>(f: (api: Client.MaglevClientShape) => Effect.Effect<A, E>) =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ url }), f)))
    // CPU seconds of both processes every 50 ms: what a phase cost, which a loaded machine does not blur.
    const samples: Array<{ readonly t: number; readonly maglevd: number; readonly vppsim: number }> = []
    const sampler = setInterval(() => {
      try {
        samples.push({ t: Date.now(), maglevd: cpuSeconds(maglevd.pid!), vppsim: cpuSeconds(sim.pid!) })
      } catch {
        // gone
      }
    }, 50)
    stopSampler = () => clearInterval(sampler)
    const cpuBetween = (from: number, to: number) => {
      const at = (t: number) => samples.find((x) => x.t >= t) ?? samples[samples.length - 1]!
      const before = [...samples].reverse().find((x) => x.t <= from) ?? samples[0]!
      const after = at(to)
      return { maglevd: after.maglevd - before.maglevd, vppsim: after.vppsim - before.vppsim }
    }
    const expected = FRONTENDS * (BACKENDS + 1)

    // 1. First programming: from the warm-up's end (every backend up), 33,000 mutations.
    const upOnce = new Set<unknown>()
    await log.when("every backend up", 0, (r) => {
      if (r.event === "backend-transition" && r.a["to"] === "up") upOnce.add(r.a["backend"])
      return upOnce.size === BACKENDS ? true : undefined
    }, 300_000)
    // Everything up: a transition after this point that is not a flip is the load's doing (the first programming's included).
    const initialTransitions = log.since(0, TRANSITION).length
    await log.when("the first programming", 0, () => (log.briefs() >= expected ? true : undefined), 300_000)
    // Settled: no mutation for a second (a backend that came up late changes weights after the first sync).
    const settle = () => {
      let settled = -1
      return until("the mutations settled", async () => {
        const n = log.briefs()
        if (n === settled) return true
        settled = n
        await new Promise((r) => setTimeout(r, 1000))
        return undefined
      }, 300_000, 0)
    }
    await settle()
    const first = log.span(0, MUTATIONS)
    const firstProgrammingMs = first.last - first.first
    const firstProgrammingOps = first.n
    const firstCpu = cpuBetween(first.first, first.last)

    // RECONCILE_STOP=first ends here (to profile the first programming alone); =sync after the no-change syncs, =react after the flips alone.
    const stop = process.env["RECONCILE_STOP"]
    if (stop === "first") throw new Stopped(`first programming ${firstProgrammingMs} ms, ${firstProgrammingOps} mutations; CPU maglevd ${firstCpu.maglevd.toFixed(2)} s, vppsim ${firstCpu.vppsim.toFixed(2)} s`)

    // 2. No-change full syncs.
    const rtt = async (f: (api: Client.MaglevClientShape) => Effect.Effect<unknown, unknown>) =>
      withClient((api) =>
        Effect.gen(function*() {
          yield* api.GetVersion() // the connection is up
          const t0 = performance.now()
          yield* f(api)
          return performance.now() - t0
        })
      )
    const versions: Array<number> = []
    const noChangeMs: Array<number> = []
    const noChangeCpu: Array<{ readonly maglevd: number; readonly vppsim: number }> = []
    /** Where the log was when the last sync's answer came (its transitions since then are the next sync's to explain). */
    let checked = log.count()
    let retaken = 0
    for (let i = 0; i < NO_CHANGE_RUNS; i++) {
      versions.push(await rtt((api) => api.GetVersion()))
      const cpu0 = { maglevd: cpuSeconds(maglevd.pid!), vppsim: cpuSeconds(sim.pid!) }
      let ops: ReadonlyArray<LbOpInfo> = []
      const ms = await rtt((api) => Effect.map(api.SyncVPPLBState({}), (r) => (ops = r.ops)))
      noChangeCpu.push({ maglevd: cpuSeconds(maglevd.pid!) - cpu0.maglevd, vppsim: cpuSeconds(sim.pid!) - cpu0.vppsim })
      const from = checked
      if (ops.length !== 0) {
        // Its own vpp-lbsync-done read (logged when it made mutations): every line logged before it (a transition) is read too.
        await log.when("the sync's vpp-lbsync-done", from, (r) =>
          r.event === "vpp-lbsync-done" && String(r.a["reason"]).includes("operator") ? true : undefined, 60_000)
        // What it planned and the transitions meanwhile: a backend's flap (counted below) is not the sync's error.
        const seen = log.since(from, TRANSITION)
          .map((r) => `${String(r.a["backend"])} ${String(r.a["from"])} -> ${String(r.a["to"])} (${String(r.a["detail"])})`)
        const some = ops.slice(0, 3).map((o) => `${o.op} ${o.vip} ${o.address ?? ""} weight ${o.weight ?? "-"}`).join("; ")
        if (seen.length > 0 && retaken < NO_CHANGE_RUNS) {
          // Not a no-change sync: taken again once the reaction is done (the flap is reported with the health figures).
          console.log(`  (a no-change sync planned ${ops.length} mutations after ${seen.join(", ")}: taken again)`)
          retaken++
          noChangeCpu.pop()
          i--
          await settle()
          checked = log.count()
          continue
        }
        throw new Error(`a no-change sync planned ${ops.length} mutations (${some}${ops.length > 3 ? "; ..." : ""}); backend transitions meanwhile: ${seen.length === 0 ? "none" : seen.join(", ")}`)
      }
      checked = log.count()
      noChangeMs.push(ms)
    }
    const getVersionMs = median(versions)
    if (stop === "sync") {
      throw new Stopped(
        `first programming ${firstProgrammingMs} ms (CPU maglevd ${firstCpu.maglevd.toFixed(2)} s, vppsim ${firstCpu.vppsim.toFixed(2)} s); ` +
          `no-change syncs ${noChangeMs.map((x) => x.toFixed(0)).join(", ")} ms (CPU maglevd ${noChangeCpu.map((c) => (c.maglevd * 1000).toFixed(0)).join(", ")} ms; ` +
          `vppsim ${noChangeCpu.map((c) => (c.vppsim * 1000).toFixed(0)).join(", ")} ms), GetVersion ${getVersionMs.toFixed(1)} ms`
      )
    }

    // 3. Reaction: a backend stops listening; verdict -> its first (and last) lb_as_set_weight logged.
    const flip = async (i: number, down: boolean, kind = down ? "down" : "up") => {
      const backend = `b${i}`
      const from = log.count()
      if (down) await backends[i]!.stop()
      else await backends[i]!.start(port)
      const to = down ? "down" : "up"
      const verdict = await log.when(`${backend} ${to}`, from, (r, k) =>
        r.event === "backend-transition" && r.a["backend"] === backend && r.a["to"] === to ? { r, k } : undefined, 60_000)
      const ws: Array<Record_> = []
      const weights = await log.when(`${backend}: its ${FRONTENDS} weights`, verdict.k, (r) => {
        if (r.event === "vpp-lbsync-as-weight" && r.a["backend"] === backend && (r.a["weight"] === 0) === down) ws.push(r)
        return ws.length >= FRONTENDS ? ws : undefined
      }, 120_000)
      reactions.push({ kind, backend, to, logVerdict: verdict.r.t, logFirst: weights[0]!.t })
      return { verdict: verdict.r.t, first: weights[0]!.t - verdict.r.t, last: weights[weights.length - 1]!.t - verdict.r.t }
    }
    const down: Array<{ first: number; last: number }> = []
    const up: Array<{ first: number; last: number }> = []
    const benchCpu0 = benchCpuS()
    for (let e = 0; e < DOWN_EVENTS; e++) {
      const i = flipped[e % FLIPPED]!
      down.push(await flip(i, true))
      up.push(await flip(i, false))
    }

    const benchCpuAlone = benchCpuS() - benchCpu0
    if (stop === "react") throw new Stopped(`down, first: ${JSON.stringify(latencies(down.map((d) => d.first)))}; up, first: ${JSON.stringify(latencies(up.map((d) => d.first)))}`)

    // The same while a full sync of every weight runs (a reload of 90s, then of 100s: 32,000 lb_as_set_weight),
    // DURING_PER_SYNC backends flipped down one after another while it runs, then all back up.
    const during: Array<{ first: number; last: number }> = []
    const fullSyncMs: Array<number> = []
    let duringFlips = 0
    let duringLate = 0
    const benchCpu1 = benchCpuS()
    for (let e = 0; during.length < DURING_EVENTS && e < 3 * DURING_EVENTS; e++) {
      const weight = e % 2 === 0 ? 90 : 100
      fs.writeFileSync(configFile, configText(port, weight))
      const from = log.count()
      let flowing = 0
      const reload = withClient((api) => api.ReloadConfig())
      await log.when("the full sync's requests flowing", from, (r) =>
        r.event === "vpp-lbsync-as-weight" && r.a["weight"] === weight && ++flowing >= 2_000 ? true : undefined, 120_000)
      // A sync that failed says so at once (its line names the error), not after the wait's bound.
      let ended: Record_ | undefined
      const done = log.when("the full sync done", from, (r) =>
        (r.event === "vpp-lbsync-done" && r.a["scope"] === "full" && r.a["reason"] !== "operator") || r.event === "vpp-lbsync-failed" ? r : undefined, 120_000)
      done.then((r) => (ended = r), () => {})
      const downed: Array<number> = []
      for (let j = 0; j < DURING_PER_SYNC && during.length < DURING_EVENTS && (j === 0 || ended === undefined); j++) {
        const i = flipped[(e * DURING_PER_SYNC + j) % FLIPPED]!
        const d = await flip(i, true, "down during a full sync")
        downed.push(i)
        duringFlips++
        // Its verdict came after the sync's end (the sync was short): not a reaction during a sync.
        if (ended !== undefined && ended.t <= d.verdict) {
          duringLate++
          reactions[reactions.length - 1] = { ...reactions[reactions.length - 1]!, kind: "down after a full sync" }
        } else during.push(d)
      }
      await reload
      const end = await done
      if (end.event === "vpp-lbsync-failed") throw new Error(`the full sync of the reload failed: ${JSON.stringify(end.a)}`)
      fullSyncMs.push(end.t - log.span(from, MUTATIONS).first)
      for (const i of downed) await flip(i, false, "up after a full sync")
    }
    const benchCpuDuring = benchCpuS() - benchCpu1
    const transitions = log.since(0, TRANSITION).slice(initialTransitions)
    const flips = new Set(flipped.map((i) => `b${i}`))
    const unexpected = transitions.filter((r) => !flips.has(String(r.a["backend"])))
      .map((r) => `${String(r.a["backend"])} ${String(r.a["from"])} -> ${String(r.a["to"])}`)
    const flipTransitions = transitions.length - unexpected.length
    const expectedFlips = 2 * (DOWN_EVENTS + duringFlips)
    if (flipTransitions !== expectedFlips) unexpected.push(`${flipTransitions} transitions of the flipped backends, ${expectedFlips} expected`)
    const failed = log.since(0, new Set(["vpp-lbsync-failed"]))
    if (failed.length > 0) unexpected.push(`${failed.length} vpp-lbsync-failed: ${JSON.stringify(failed[0]!.a)}`)
    return {
      firstProgrammingMs,
      firstProgrammingOps,
      firstCpu,
      noChangeCpu,
      noChangeMs,
      getVersionMs,
      downFirst: latencies(down.map((d) => d.first)),
      downLast: latencies(down.map((d) => d.last)),
      upFirst: latencies(up.map((d) => d.first)),
      duringFirst: latencies(during.map((d) => d.first)),
      duringLast: latencies(during.map((d) => d.last)),
      duringSyncs: fullSyncMs.length,
      duringLate,
      fullSyncMs,
      unexpectedTransitions: unexpected,
      mutationsLogged: log.span(0, MUTATIONS).n,
      maglevdCpuS: cpuSeconds(maglevd.pid!),
      vppsimCpuS: cpuSeconds(sim.pid!),
      benchCpu: { alone: benchCpuAlone, during: benchCpuDuring, syncs: fullSyncMs.length },
      load: loadAverage(),
      stages
    }
  } finally {
    stopSampler()
    // SIGINT first, so --cpu-prof writes its profiles on the way out.
    for (const c of [...children].reverse()) c.kill("SIGINT")
    await Promise.all(children.map((c) =>
      c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => {
        const t = setTimeout(() => (c.kill("SIGKILL"), r()), 10_000)
        c.once("exit", () => (clearTimeout(t), r()))
      })
    ))
    await closeBackends()
    if (traced) {
      const read = (name: string) => (fs.existsSync(traceOut(name)) ? fs.readFileSync(traceOut(name), "utf8") : undefined)
      // RECONCILE_KEEP_TRACE=dir keeps both processes' trace points there (maglevd.trace, vppsim.trace), to read by hand.
      const keepTrace = process.env["RECONCILE_KEEP_TRACE"]
      if (keepTrace !== undefined && keepTrace !== "") {
        // Made if missing: a copy into a directory that is not there lost the whole run's figures.
        fs.mkdirSync(keepTrace, { recursive: true })
        for (const name of ["maglevd", "vppsim"]) if (fs.existsSync(traceOut(name))) fs.copyFileSync(traceOut(name), path.join(keepTrace, `${name}.trace`))
      }
      const rows = breakdown(reactions, read("maglevd"), read("vppsim"))
      stages.text = [reactionReport(rows), syncReport(read("maglevd"), read("vppsim")), report(rows), stdoutReport(read("maglevd"))].filter((t) => t !== "").join("\n")
      // An early stop (RECONCILE_STOP) returns no figures: the stages are printed here.
      if (process.env["RECONCILE_STOP"] !== undefined && process.env["RECONCILE_STOP"] !== "") console.log(stages.text)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const ms = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} ms`
const lat = (l: Latencies) => `p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${l.n}; ${l.over5} over 5 ms)`

export const printProcs = (f: ProcFigures): void => {
  const n = (x: number) => x.toLocaleString("en-US")
  const nice = process.env["RECONCILE_NICE"]
  console.log(`\nmaglevd + vppsim processes: ${n(FRONTENDS)} frontends x the same ${BACKENDS} HTTP backends (each backend in ${n(FRONTENDS)} VIPs); figures from maglevd's log (ms) and RPC round trips; load ${f.load}${nice !== undefined && nice !== "" ? `; maglevd and vppsim at nice ${nice}` : ""}`)
  console.log(`  first programming, first to last mutation   ${(f.firstProgrammingMs / 1000).toFixed(2)} s, ${n(f.firstProgrammingOps)} mutations   (target <= 2 s)`)
  console.log(`    CPU meanwhile: maglevd ${f.firstCpu.maglevd.toFixed(2)} s, vppsim ${f.firstCpu.vppsim.toFixed(2)} s`)
  console.log(`  no-change full sync, SyncVPPLBState - GetVersion   ${ms(median(f.noChangeMs) - f.getVersionMs)} median (${f.noChangeMs.map((x) => x.toFixed(0)).join(", ")} ms; GetVersion ${ms(f.getVersionMs)})   (target <= 100 ms)`)
  console.log(`    CPU per sync: maglevd ${ms(median(f.noChangeCpu.map((c) => c.maglevd * 1000)))}, vppsim ${ms(median(f.noChangeCpu.map((c) => c.vppsim * 1000)))} (medians)`)
  console.log("  reaction, verdict (backend-transition) -> lb_as_set_weight logged:")
  console.log(`    down, first of ${n(FRONTENDS)}   ${lat(f.downFirst)}   (target p99 <= 5 ms)`)
  console.log(`    down, last                ${lat(f.downLast)}`)
  console.log(`    up, first                 ${lat(f.upFirst)}`)
  console.log(`    down during a full sync of ${n(FRONTENDS * BACKENDS)} weight changes, first   ${lat(f.duringFirst)}   (target p99 <= 5 ms)`)
  console.log(`    down during a full sync, last   ${lat(f.duringLast)}; those ${f.duringSyncs} full syncs took ${f.fullSyncMs.map((x) => (x / 1000).toFixed(2)).join(", ")} s${f.duringLate > 0 ? `; ${f.duringLate} flips after a sync's end not counted` : ""}`)
  console.log(`  health transitions other than the flips: ${f.unexpectedTransitions.length === 0 ? "none" : f.unexpectedTransitions.join("; ")}   (target none)`)
  if (f.stages.text !== "") console.log(f.stages.text)
  console.log(`  CPU: maglevd ${f.maglevdCpuS.toFixed(1)} s, vppsim ${f.vppsimCpuS.toFixed(1)} s; ${n(f.mutationsLogged)} mutations logged`)
  console.log(`  the bench's own CPU: ${f.benchCpu.alone.toFixed(2)} s over the reactions alone, ${f.benchCpu.during.toFixed(2)} s over the ${f.benchCpu.syncs} full syncs (${f.benchCpu.syncs > 0 ? ((f.benchCpu.during / f.benchCpu.syncs) * 1000).toFixed(0) : "-"} ms a sync)`)
}
