/**
 * vppsim's own cost, as a process (as `npm start` and the reconcile bench run
 * it), driven over its API socket by the real client from this process:
 *
 * 1. program: 1,000 VIPs + 32,000 ASes, pipelined (512 in flight);
 * 2. weights: 32,000 lb_as_set_weight, pipelined (a full sync's burst);
 * 3. listing: `show lb vips verbose` at 1,000 x 32 (~2 MB), one at a time;
 * 4. dump: lb_vip_dump + lb_as_v2_dump of it all;
 * 5. one at a time: lb_as_set_weight round trips with vppsim idle between
 *    them (the reaction's case: read and answered at once).
 *
 * CPU is vppsim's own, every thread's, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds); GC pauses from its `--trace-gc` lines. `--roots a,b` runs
 * the vppsim of each checkout in turn, alternating, `--rounds N` times (A/B
 * on a shared machine: compare the ratios, not the absolute figures).
 */
import { Chunk, Effect, Logger, LogLevel } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { lb, vlib } from "../src/vpp/binapi/index.js"
import * as VppApi from "../src/vpp/transport/VppApi.js"
import { loadAverage } from "./internal/proc.js"

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const VIPS = 1000
const ASES_PER_VIP = 32
const WINDOW = 512
const LISTINGS = 10
const ONE_AT_A_TIME = 2000

/** CPU nanoseconds of a process's threads so far: all of them, and the main thread's. */
const cpuNs = (pid: number): { readonly all: number; readonly main: number } => {
  let all = 0
  let main = 0
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      all += ns
      if (tid === String(pid)) main = ns
    } catch {
      // the thread ended
    }
  }
  return { all, main }
}

/** CPU ms of a process's threads by name (`V8Worker`, `libuv-worker`, the main thread's `node`), summed. */
const threadsMs = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() + (tid === String(pid) ? " (main)" : "")
      const ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
      out[name] = (out[name] ?? 0) + ns / 1e6
    } catch {
      // the thread ended
    }
  }
  return out
}

interface Gc {
  readonly kind: string
  readonly ms: number
}

export interface SimFigures {
  readonly root: string
  /** vppsim CPU ms per 1,000 messages (all threads; and the main thread's) */
  readonly programCpuPer1000: number
  readonly programMainPer1000: number
  readonly programMs: number
  readonly weightCpuPer1000: number
  readonly weightMainPer1000: number
  readonly weightMs: number
  /** per listing: vppsim CPU and the round trip */
  /** after no change: per listing */
  readonly listingCpuMs: number
  readonly listingMainMs: number
  /** the first after 64,000 weight changes */
  readonly changedListingCpuMs: number
  readonly changedListingMainMs: number
  readonly listingRttMs: ReadonlyArray<number>
  readonly listingBytes: number
  readonly dumpCpuMs: number
  readonly dumpMs: number
  /** one request at a time: round trip µs */
  readonly rttP50Us: number
  readonly rttP99Us: number
  readonly rttCpuUs: number
  readonly rttMainUs: number
  readonly gcs: ReadonlyArray<Gc>
  /** CPU ms by thread name over the whole run */
  readonly threads: Record<string, number>
}

const percentile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN

const vipPfx = (v: number) => `10.${(v >> 8) & 255}.${v & 255}.1/32`
const asAddress = (v: number, a: number) => `172.16.${a}.${(v % 250) + 1}`

/** The requests that program `vips` VIPs x `asesPerVip` ASes from empty (each VIP, then its ASes), not yet sent. */
export const programRequests = (
  conn: VppApi.VppConnection,
  vips: number,
  asesPerVip: number
): Array<Effect.Effect<Effect.Effect<unknown, unknown>, unknown>> => {
  const requests: Array<Effect.Effect<Effect.Effect<unknown, unknown>, unknown>> = []
  for (let v = 0; v < vips; v++) {
    const pfx = vipPfx(v)
    requests.push(conn.send(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, {
      pfx, protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP",
      target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false, is_del: false
    }))
    for (let a = 0; a < asesPerVip; a++) {
      requests.push(conn.send(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, {
        pfx, protocol: 6, port: 80, as_address: asAddress(v, a), weight: 100, is_del: false, is_flush: false
      }))
    }
  }
  return requests
}

const startSim = async (root: string, dir: string): Promise<{ child: ChildProcess; gcs: Array<Gc>; apiSocket: string }> => {
  const apiSocket = path.join(dir, "api.sock")
  // SIM_NODE_FLAGS: more node flags for vppsim (--cpu-prof --cpu-prof-dir=DIR to profile it).
  const nodeFlags = (process.env["SIM_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "")
  const child = spawn(process.execPath, [
    ...nodeFlags,
    "--trace-gc",
    "--import",
    "tsx",
    path.join(root, "src/sim/main.ts"),
    "--api-socket",
    apiSocket,
    "--stats-socket",
    path.join(dir, "stats.sock"),
    "--log-format",
    "json"
  ], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
  const gcs: Array<Gc> = []
  let ready: () => void = () => {}
  const isReady = new Promise<void>((r) => (ready = r))
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    // [pid:0x...]  1234 ms: Scavenge 10.2 (12.3) -> 9.8 (13.3) MB, 1.23 / 0.00 ms  (...)
    const m = /ms: (Scavenge|Mark-Compact|Mark-sweep|Mark-Compact \(reduce\))[^,]*, ([\d.]+) \//.exec(line)
    if (m !== null) gcs.push({ kind: m[1]!, ms: Number(m[2]) })
    else if (line.includes("vppsim-ready")) ready()
  })
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`vppsim (${root}) exited with ${code}`))))
  await Promise.race([isReady, exited])
  return { child, gcs, apiSocket }
}

export const runOne = async (root: string): Promise<SimFigures> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-bench-"))
  const { child, gcs, apiSocket } = await startSim(root, dir)
  const pid = child.pid!
  try {
    const program = Effect.scoped(Effect.gen(function*() {
      const conn = yield* VppApi.connect({ path: apiSocket, timeout: "60 seconds" })
      const pipelined = (requests: ReadonlyArray<Effect.Effect<Effect.Effect<unknown, unknown>, unknown>>) =>
        Effect.gen(function*() {
          for (let i = 0; i < requests.length; i += WINDOW) {
            const waits = yield* Effect.all(requests.slice(i, i + WINDOW))
            for (const w of waits) yield* w
          }
        })
      const measured = <A, E>(body: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          const cpu0 = cpuNs(pid)
          const t0 = performance.now()
          const a = yield* body
          const ms = performance.now() - t0
          const cpu1 = cpuNs(pid)
          return { a, ms, cpuMs: (cpu1.all - cpu0.all) / 1e6, mainMs: (cpu1.main - cpu0.main) / 1e6 }
        })

      // 1. program
      const adds = programRequests(conn, VIPS, ASES_PER_VIP)
      const programmed = yield* measured(pipelined(adds))

      // 2. weights, twice (to 90 and back to 100)
      const weights = (w: number) => {
        const out: Array<Effect.Effect<Effect.Effect<unknown, unknown>, unknown>> = []
        for (let v = 0; v < VIPS; v++) {
          for (let a = 0; a < ASES_PER_VIP; a++) {
            out.push(conn.send(lb.LbAsSetWeight, lb.LbAsSetWeightReply, {
              pfx: vipPfx(v), protocol: 6, port: 80, as_address: asAddress(v, a), weight: w, is_flush: false
            }))
          }
        }
        return out
      }
      const w90 = weights(90)
      const w100 = weights(100)
      const weighted = yield* measured(Effect.zipRight(pipelined(w90), pipelined(w100)))

      // 3. listings: the first after the weight changes (every VIP's bucket counts and AS lines anew), then LISTINGS with no change
      const listingRtt: Array<number> = []
      let listingBytes = 0
      const listing = Effect.gen(function*() {
        const t0 = performance.now()
        const r = yield* conn.request(vlib.CliInband, vlib.CliInbandReply, { cmd: "show lb vips verbose" })
        listingRtt.push(performance.now() - t0)
        listingBytes = r.reply.length
      })
      const changed = yield* measured(listing)
      const listings = yield* measured(Effect.gen(function*() {
        for (let i = 0; i < LISTINGS; i++) yield* listing
      }))

      // 4. dump
      const dumped = yield* measured(Effect.gen(function*() {
        const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 })
        const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, { pfx: "0.0.0.0/0", protocol: 0, port: 0 })
        if (Chunk.size(vips) !== VIPS || Chunk.size(ases) !== VIPS * ASES_PER_VIP) {
          return yield* Effect.die(new Error(`dumped ${Chunk.size(vips)} VIPs and ${Chunk.size(ases)} ASes`))
        }
      }))

      // 5. one at a time
      const rtts: Array<number> = []
      const single = yield* measured(Effect.gen(function*() {
        for (let i = 0; i < ONE_AT_A_TIME; i++) {
          const v = i % VIPS
          const t0 = performance.now()
          yield* conn.request(lb.LbAsSetWeight, lb.LbAsSetWeightReply, {
            pfx: vipPfx(v), protocol: 6, port: 80, as_address: asAddress(v, i % ASES_PER_VIP), weight: i % 2 === 0 ? 0 : 100, is_flush: false
          })
          rtts.push((performance.now() - t0) * 1000)
        }
      }))
      return {
        root,
        programCpuPer1000: programmed.cpuMs / (adds.length / 1000),
        programMainPer1000: programmed.mainMs / (adds.length / 1000),
        programMs: programmed.ms,
        weightCpuPer1000: weighted.cpuMs / ((w90.length + w100.length) / 1000),
        weightMainPer1000: weighted.mainMs / ((w90.length + w100.length) / 1000),
        weightMs: weighted.ms,
        listingCpuMs: listings.cpuMs / LISTINGS,
        listingMainMs: listings.mainMs / LISTINGS,
        changedListingCpuMs: changed.cpuMs,
        changedListingMainMs: changed.mainMs,
        listingRttMs: listingRtt,
        listingBytes,
        dumpCpuMs: dumped.cpuMs,
        dumpMs: dumped.ms,
        rttP50Us: percentile(rtts, 0.5),
        rttP99Us: percentile(rtts, 0.99),
        rttCpuUs: (single.cpuMs * 1000) / ONE_AT_A_TIME,
        rttMainUs: (single.mainMs * 1000) / ONE_AT_A_TIME,
        gcs,
        threads: threadsMs(pid)
      } satisfies SimFigures
    })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
    return await Effect.runPromise(program)
  } finally {
    child.kill("SIGINT") // --cpu-prof writes its profile on the way out
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const f1 = (x: number) => x.toFixed(1)

export const print = (f: SimFigures): void => {
  const pauses = f.gcs.map((g) => g.ms)
  const major = f.gcs.filter((g) => g.kind !== "Scavenge")
  console.log(`  ${f.root}`)
  console.log(`    program 33,000 (pipelined)     ${f1(f.programCpuPer1000).padStart(6)} ms CPU / 1,000, main thread ${f1(f.programMainPer1000)}   (${f.programMs.toFixed(0)} ms wall)`)
  console.log(`    lb_as_set_weight 64,000        ${f1(f.weightCpuPer1000).padStart(6)} ms CPU / 1,000, main thread ${f1(f.weightMainPer1000)}   (${f.weightMs.toFixed(0)} ms wall)`)
  console.log(`    show lb vips verbose (${(f.listingBytes / 1e6).toFixed(2)} MB), after the weight changes  ${f1(f.changedListingCpuMs).padStart(6)} ms CPU, main thread ${f1(f.changedListingMainMs)}`)
  console.log(`      then after no change        ${f1(f.listingCpuMs).padStart(6)} ms CPU each, main thread ${f1(f.listingMainMs)}   (round trips ${f.listingRttMs.map((x) => x.toFixed(0)).join(", ")} ms)`)
  console.log(`    lb_vip_dump + lb_as_v2_dump     ${f1(f.dumpCpuMs).padStart(6)} ms CPU         (${f.dumpMs.toFixed(0)} ms wall)`)
  console.log(`    one at a time (${ONE_AT_A_TIME})           ${f1(f.rttCpuUs).padStart(6)} µs CPU each, main thread ${f1(f.rttMainUs)}   (round trip p50 ${f.rttP50Us.toFixed(0)} µs, p99 ${f.rttP99Us.toFixed(0)} µs)`)
  console.log(`    threads (CPU ms, whole run): ${Object.entries(f.threads).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`)
  console.log(`    GC: ${f.gcs.length} pauses, ${f1(pauses.reduce((a, b) => a + b, 0))} ms in all, longest ${f1(Math.max(0, ...pauses))} ms; ${major.length} mark-compact (longest ${f1(Math.max(0, ...major.map((g) => g.ms)))} ms)`)
}

/** `--roots a,b`: the checkouts whose vppsim to run, alternating; `--rounds N`. */
export const run = async (flags: ReadonlyArray<string> = []): Promise<void> => {
  const flag = (name: string) => {
    const i = flags.indexOf(name)
    return i < 0 ? undefined : flags[i + 1]
  }
  const roots = (flag("--roots") ?? here).split(",").map((r) => path.resolve(r))
  const rounds = Number(flag("--rounds") ?? (roots.length > 1 ? 3 : 1))
  console.log(`\nvppsim as a process, 1,000 VIPs x 32 ASes, driven by the client over its API socket; load ${loadAverage()}`)
  for (let r = 0; r < rounds; r++) {
    for (const root of roots) print(await runOne(root))
  }
  console.log(`  load ${loadAverage()}`)
}
