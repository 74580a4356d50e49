/**
 * How a full sync reads VPP's AS state, end to end against a vppsim process
 * (`npm run bench -- reconcile --listing`): 1,000 VIPs × 32 ASes programmed,
 * then, alternately, each way a sync can read every AS:
 *
 * - listing: `show lb vips verbose` through `cli_inband` (one reply, ~2 MB of
 *   text), its headers parsed and each VIP's AS lines compared with what was
 *   read last time, as LbSync's no-change sync does (text first, then in place);
 * - AS dump: `lb_vip_dump` and the unfiltered `lb_as_v2_dump` (one message
 *   per AS, ~2.2 MB), decoded and grouped (`observedFromDumps`), as a sync
 *   that found a difference does.
 *
 * Per way: the wall time from the request to the result (p50 / max), the
 * client's CPU for it (this process: decoding, parsing, comparing) and
 * vppsim's (formatting or dumping; real VPP does either on its main thread,
 * in C). RECONCILE_FRONTENDS scales it, RECONCILE_LISTING_RUNS sets the rounds.
 */
import { Chunk, Effect, Either, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { DesiredVip } from "../src/lb/Desired.js"
import { diff, observedFromDumps } from "../src/lb/Diff.js"
import * as Requests from "../src/lb/Requests.js"
import { lb } from "../src/vpp/binapi/index.js"
import { asLinesMatch, asLinesText, type AsOf, parseShowLbVipsWith, readAsLines, showLbVipsText } from "../src/vpp/LbVips.js"
import * as VppApi from "../src/vpp/transport/VppApi.js"
import { cpuTimes, loadAverage, spawnBounded } from "./internal/proc.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const VIPS = Number(process.env["RECONCILE_FRONTENDS"] ?? 1000)
const ASES = 32
const RUNS = Number(process.env["RECONCILE_LISTING_RUNS"] ?? 15)
const ALL = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const

interface Seen {
  readonly address: string
  readonly weight: number
  readonly lameduck: boolean
  readonly numBuckets: number
}
const seenAs: AsOf<Seen> = (address, weight, buckets, _flows, used) => ({ address, weight, lameduck: !used, numBuckets: buckets })

interface Way {
  readonly wallMs: Array<number>
  readonly cpuMs: Array<number>
  readonly simCpuMs: Array<number>
}

const pct = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN

export const runListing = async (): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reconcile-listing-"))
  const api = path.join(dir, "api.sock")
  const sim = await spawnBounded(process.execPath, ["--import", "tsx", path.join(root, "src/sim/main.ts"), "--api-socket", api, "--stats-socket", path.join(dir, "stats.sock")], {
    seconds: 900,
    nofile: 1024,
    cwd: root
  })
  try {
    for (let i = 0; i < 600 && !fs.existsSync(api); i++) await new Promise((r) => setTimeout(r, 100))
    const simCpu = () => {
      const t = cpuTimes(sim.pid)
      return (t.user + t.system) * 1000
    }
    const cpu = () => {
      const u = process.cpuUsage()
      return (u.user + u.system) / 1000
    }
    const ways = { listing: { wallMs: [], cpuMs: [], simCpuMs: [] } as Way, dump: { wallMs: [], cpuMs: [], simCpuMs: [] } as Way }
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const conn = yield* VppApi.connect({ path: api, timeout: "120 seconds" })
      // Programmed pipelined, a window at a time.
      let out = 0
      let failed: unknown
      const done = (e: Exit.Exit<unknown, unknown>) => {
        out--
        if (Exit.isFailure(e)) failed = e
      }
      const settle = Effect.promise(() => new Promise<void>((r) => {
        const t = setInterval(() => out === 0 && (clearInterval(t), r()), 2)
      }))
      // The ops LbSync would send to an empty VPP, through the same requests.
      const desired: Array<DesiredVip> = Array.from({ length: VIPS }, (_, v) => ({
        prefix: `198.18.${Math.floor(v / 250)}.${(v % 250) + 1}/32`,
        protocol: 6,
        port: 80,
        frontend: `f${v}`,
        encap: "LB_API_ENCAP_TYPE_GRE4",
        srcIpSticky: false,
        newFlowsTableLength: 4096,
        activePool: "main",
        ases: Array.from({ length: ASES }, (_, a) => ({ address: `127.0.1.${a + 1}`, backend: `b${a}`, weight: 100, flush: false, status: "up" }))
      }))
      const ops = diff(desired, [])
      for (const [i, op] of ops.entries()) {
        out++
        yield* Requests.startWith(conn, op, done)
        if (i % 660 === 659) {
          conn.flush()
          yield* settle
        }
      }
      conn.flush()
      yield* settle
      if (failed !== undefined) return yield* Effect.die(failed)
      // What the last listing showed, per VIP (as LbSync keeps it): its AS lines' text and records.
      const last = new Map<string, { text: string; ases: ReadonlyArray<Seen> }>()
      const listing = Effect.gen(function*() {
        const text = yield* showLbVipsText(conn)
        const vips = Either.getOrThrow(parseShowLbVipsWith(text, undefined))
        let same = 0
        for (const vip of vips) {
          const k = `${vip.key.prefix} ${vip.key.protocol} ${vip.key.port}`
          const lines = asLinesText(text, vip.body)
          const was = last.get(k)
          if (was !== undefined && (was.text === lines || asLinesMatch(text, vip.body, was.ases))) {
            same++
            was.text = lines
          } else last.set(k, { text: lines, ases: readAsLines(text, vip.body, seenAs) })
        }
        return same
      })
      const dump = Effect.gen(function*() {
        const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL, pfx_matcher: { le: 0, ge: 0 } })
        const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL)
        return observedFromDumps(Chunk.toReadonlyArray(vips), Chunk.toReadonlyArray(ases)).length
      })
      const measure = (way: Way, run: Effect.Effect<unknown, unknown>) =>
        Effect.gen(function*() {
          const c0 = cpu()
          const s0 = simCpu()
          const t0 = performance.now()
          yield* run
          way.wallMs.push(performance.now() - t0)
          way.cpuMs.push(cpu() - c0)
          way.simCpuMs.push(simCpu() - s0)
        })
      yield* listing // the first listing fills `last`
      for (let i = 0; i < RUNS; i++) {
        yield* measure(ways.listing, listing)
        yield* measure(ways.dump, dump)
      }
    })))
    const line = (name: string, w: Way) =>
      `  ${name.padEnd(46)} wall p50 ${pct(w.wallMs, 0.5).toFixed(1).padStart(6)} ms, max ${Math.max(...w.wallMs).toFixed(0).padStart(4)} ms; ` +
      `CPU client ${pct(w.cpuMs, 0.5).toFixed(1).padStart(5)} ms, vppsim ${pct(w.simCpuMs, 0.5).toFixed(0).padStart(4)} ms (p50; vppsim's in 10 ms ticks)`
    console.log(`\nReading every AS of ${VIPS.toLocaleString("en-US")} VIPs x ${ASES} from a vppsim process, ${RUNS} rounds alternating; load ${loadAverage()}`)
    console.log(line("show lb vips verbose, parsed and compared", ways.listing))
    console.log(line("lb_vip_dump + lb_as_v2_dump, decoded, grouped", ways.dump))
  } finally {
    sim.kill()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
