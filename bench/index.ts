/**
 * npm run bench: every benchmark, printing figures (never pass/fail).
 * `npm run bench -- codec transport lbprogram health reconcile cli check` picks some;
 * flags after the names go to the benchmarks (`health-vs-haproxy --backends 1000`).
 */
import * as os from "node:os"
import * as cli from "./cli.js"
import * as codec from "./codec.js"
import * as health from "./health.js"
import * as healthVsHaproxy from "./healthVsHaproxy.js"
import * as lbprogram from "./lbprogram.js"
import * as metrics from "./metrics.js"
import * as metricsLive from "./metricsLive.js"
import * as metricsPart from "./metricsPart.js"
import { printRows } from "./measure.js"
import * as reconcile from "./reconcile.js"
import * as reload from "./reload.js"
import * as sim from "./sim.js"
import * as soak from "./soak.js"
import * as transport from "./transport.js"

const ALL = ["codec", "transport", "lbprogram", "health", "health-vs-haproxy", "reconcile", "cli", "check", "metrics", "metrics-part", "metrics-live", "reload", "soak", "sim"] as const
const args = process.argv.slice(2).filter((a) => a !== "--")
const firstFlag = args.findIndex((a) => a.startsWith("--"))
const picked = firstFlag < 0 ? args : args.slice(0, firstFlag)
const flags = firstFlag < 0 ? [] : args.slice(firstFlag)
for (const p of picked) {
  if (!(ALL as ReadonlyArray<string>).includes(p)) {
    console.error(`unknown benchmark "${p}"; choose from ${ALL.join(", ")}`)
    process.exit(2)
  }
}
const want = (name: (typeof ALL)[number]) => picked.length === 0 || picked.includes(name)

console.log(`vpp-maglev benchmarks: node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores`)
if (want("codec")) printRows("VPP binary-API codecs (src/vpp/codec), one core", codec.run())

if (want("transport")) {
  const t = await transport.run()
  console.log("\nBinary-API client <-> vppsim over a Unix socket (both in this process)")
  console.log(`  pipelined (512 in flight, one fiber)   ${Math.round(t.pipelinedPerSecond).toLocaleString("en-US").padStart(9)} req/s   (target >= 50,000)`)
  console.log(`  concurrent callers (64 fibers)         ${Math.round(t.concurrentPerSecond).toLocaleString("en-US").padStart(9)} req/s`)
  console.log(`  one at a time                          ${Math.round(t.sequentialPerSecond).toLocaleString("en-US").padStart(9)} req/s   round trip p50 ${t.p50Micros.toFixed(0)} µs, p99 ${t.p99Micros.toFixed(0)} µs`)
}

if (want("lbprogram")) {
  const p = await lbprogram.run()
  console.log("\nProgramming vppsim: 1,000 VIPs x 32 ASes from empty, then dumping it all back")
  console.log(`  program ${p.vips.toLocaleString("en-US")} VIPs + ${p.ases.toLocaleString("en-US")} ASes   ${p.programSeconds.toFixed(2)} s`)
  console.log(`  dump (lb_vip_dump + lb_as_v2_dump)         ${p.dumpSeconds.toFixed(2)} s`)
  console.log(`  total                                      ${(p.programSeconds + p.dumpSeconds).toFixed(2)} s   (target <= 2 s)`)
  console.log(`  peak RSS (client + simulator)              ${p.peakRssMiB.toFixed(0)} MiB`)
}

if (want("health")) {
  for (const n of [1_000, 10_000]) health.print(await health.runIsolated(n))
  console.log("  (target at 10,000: <= 1 core, p99 lateness <= 20 ms, RSS <= 300 MB)")
}

if (want("health-vs-haproxy")) await healthVsHaproxy.run(flags)

if (want("reconcile")) await reconcile.run(flags)

if (want("cli")) await cli.run()

if (want("check")) await cli.runCheck()

if (want("metrics")) {
  for (const n of [1_000, 10_000]) metrics.print(await metrics.runIsolated(n))
  console.log("  (target at 10,000: a scrape <= 50 ms, request to last byte)")
}

if (want("metrics-part")) metricsPart.run(flags)

if (want("metrics-live")) await metricsLive.run(flags)

if (want("reload")) reload.run(flags)

if (want("soak")) await soak.run(flags)

if (want("sim")) await sim.run(flags)
