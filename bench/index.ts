/** npm run bench: every benchmark, printing figures (never pass/fail). */
import * as os from "node:os"
import * as codec from "./codec.js"
import { printRows } from "./measure.js"
import * as lbprogram from "./lbprogram.js"
import * as transport from "./transport.js"

console.log(`vpp-maglev benchmarks: node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores`)
printRows("VPP binary-API codecs (src/vpp/codec), one core", codec.run())

const t = await transport.run()
console.log("\nBinary-API client <-> vppsim over a Unix socket (both in this process)")
console.log(`  pipelined (512 in flight, one fiber)   ${Math.round(t.pipelinedPerSecond).toLocaleString("en-US").padStart(9)} req/s   (target >= 50,000)`)
console.log(`  concurrent callers (64 fibers)         ${Math.round(t.concurrentPerSecond).toLocaleString("en-US").padStart(9)} req/s`)
console.log(`  one at a time                          ${Math.round(t.sequentialPerSecond).toLocaleString("en-US").padStart(9)} req/s   round trip p50 ${t.p50Micros.toFixed(0)} µs, p99 ${t.p99Micros.toFixed(0)} µs`)

const p = await lbprogram.run()
console.log("\nProgramming vppsim: 1,000 VIPs x 32 ASes from empty, then dumping it all back")
console.log(`  program ${p.vips.toLocaleString("en-US")} VIPs + ${p.ases.toLocaleString("en-US")} ASes   ${p.programSeconds.toFixed(2)} s`)
console.log(`  dump (lb_vip_dump + lb_as_v2_dump)         ${p.dumpSeconds.toFixed(2)} s`)
console.log(`  total                                      ${(p.programSeconds + p.dumpSeconds).toFixed(2)} s   (target <= 2 s)`)
console.log(`  peak RSS (client + simulator)              ${p.peakRssMiB.toFixed(0)} MiB`)
