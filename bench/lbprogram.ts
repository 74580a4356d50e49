/**
 * Programming 1,000 VIPs x 32 ASes into the simulator from empty (1,000
 * lb_add_del_vip_v2 + 32,000 lb_add_del_as_v2), then dumping it all back
 * (lb_vip_dump + lb_as_v2_dump). Target: <= 2 s. Client and simulator share
 * this process, so the time and the peak RSS include both.
 */
import { Chunk, Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Simulator from "../src/sim/Simulator.js"
import { lb } from "../src/vpp/binapi/index.js"
import * as VppApi from "../src/vpp/transport/VppApi.js"
import { programRequests } from "./sim.js"

export interface LbProgramFigures {
  readonly vips: number
  readonly ases: number
  readonly programSeconds: number
  readonly dumpSeconds: number
  readonly dumpedAses: number
  readonly peakRssMiB: number
}

const VIPS = 1000
const ASES_PER_VIP = 32
const WINDOW = 512

export const run = (): Promise<LbProgramFigures> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vppsim-bench-"))
  let peak = process.memoryUsage.rss()
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
  const program = Effect.scoped(Effect.gen(function*() {
    const sim = yield* Simulator.make({ apiSocket: path.join(dir, "api.sock") })
    const conn = yield* VppApi.connect({ path: sim.api.path, timeout: "30 seconds" })
    const requests = programRequests(conn, VIPS, ASES_PER_VIP)
    const start = performance.now()
    for (let i = 0; i < requests.length; i += WINDOW) {
      const waits = yield* Effect.all(requests.slice(i, i + WINDOW))
      for (const w of waits) yield* w
    }
    const programmed = performance.now()
    const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0 })
    const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, { pfx: "0.0.0.0/0", protocol: 0, port: 0 })
    const dumped = performance.now()
    if (Chunk.size(vips) !== VIPS || Chunk.size(ases) !== VIPS * ASES_PER_VIP) {
      return yield* Effect.die(new Error(`dumped ${Chunk.size(vips)} VIPs and ${Chunk.size(ases)} ASes`))
    }
    return {
      vips: Chunk.size(vips),
      ases: Chunk.size(ases),
      programSeconds: (programmed - start) / 1000,
      dumpSeconds: (dumped - programmed) / 1000,
      dumpedAses: Chunk.size(ases),
      peakRssMiB: 0
    }
  })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  return Effect.runPromise(program)
    .then((f) => ({ ...f, peakRssMiB: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20 }))
    .finally(() => {
      clearInterval(sampler)
      fs.rmSync(dir, { recursive: true, force: true })
    })
}
