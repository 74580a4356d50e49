/** npm run bench: every benchmark, printing figures (never pass/fail). */
import * as os from "node:os"
import * as codec from "./codec.js"
import { printRows } from "./measure.js"

console.log(`vpp-maglev benchmarks: node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, one core`)
printRows("VPP binary-API codecs (src/vpp/codec)", codec.run())
