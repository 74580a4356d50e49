/**
 * vppsim's userspace data plane (src/sim/DataPlane.ts): real TCP connections
 * to a loopback VIP, each sent to the AS of `new_flow_table[hash & mask]`
 * (the lb plugin's flow hash, src/lb/FlowHash.ts, and the Maglev model), kept
 * there while its sticky entry lives, reset when a flush sends it elsewhere,
 * counted in the stats segment. Real servers on 127.0.0.x, one simulator for
 * the file.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { flowHash } from "../../src/lb/FlowHash.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { tempDir } from "./tempDir.js"

const VIP = "127.0.0.50"
const ASES = ["127.0.0.51", "127.0.0.52", "127.0.0.53"]
/** The clients' address, and source ports above Linux's ephemeral range (32768-60999), so no other socket holds them. */
const CLIENT = "127.0.0.54"
const PORTS = 61000

/** A free port on every address the test uses (the VIP's port is the backends' port too). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, VIP, () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

const backend = (address: string, port: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<http.Server>((resolve, reject) => {
        const server = http.createServer((_, res) => {
          res.setHeader("X-Served-By", address)
          res.end(`${address}\n`)
        })
        server.once("error", reject)
        server.listen(port, address, () => resolve(server))
      })
    ),
    (s) => Effect.sync(() => s.closeAllConnections()).pipe(Effect.zipRight(Effect.promise(() => new Promise((r) => s.close(r)))))
  )

/** One keep-alive HTTP/1.1 connection from a chosen source port; `get` sends a request and returns who served it. */
const connection = (srcPort: number, port: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: VIP, port, localAddress: CLIENT, localPort: srcPort }, () => resolve(s))
        s.once("error", reject)
      })
    ),
    (s) => Effect.sync(() => s.destroy())
  ).pipe(Effect.map((socket) => {
    let buffered = ""
    const get = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const onData = (d: Buffer) => {
          buffered += d.toString()
          const m = /X-Served-By: (\S+)\r\n[\s\S]*?\r\n\r\n[\s\S]*?\n/i.exec(buffered)
          if (m === null) return
          buffered = ""
          done()
          resolve(m[1]!)
        }
        const onGone = () => {
          done()
          reject(new Error("reset"))
        }
        const done = () => {
          socket.off("data", onData)
          socket.off("close", onGone)
        }
        socket.on("data", onData)
        socket.once("close", onGone)
        socket.write(`GET / HTTP/1.1\r\nHost: ${VIP}\r\n\r\n`)
      })
    return { get: Effect.promise(() => get().catch((e: Error) => e.message)) }
  }))

const vipReq = (port: number) => ({
  pfx: `${VIP}/32`, protocol: 6, port, encap: "LB_API_ENCAP_TYPE_GRE4" as const, dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP" as const,
  target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false, is_del: false
})
const asReq = (port: number, address: string, extra: Record<string, unknown> = {}) => ({
  pfx: `${VIP}/32`, protocol: 6, port, as_address: address, weight: 100, is_del: false, is_flush: false, ...extra
})

describe("vppsim --data-plane", () => {
  it.live("proxies each connection to the AS of its bucket, keeps it there (sticky), resets it after a flush, counts it", () =>
    Effect.scoped(Effect.gen(function*() {
      const d = yield* tempDir("vppsim-dataplane-")
      const port = yield* Effect.promise(freePort)
      for (const a of ASES) yield* backend(a, port)
      const sim = yield* Simulator.make({ apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock"), dataPlane: true })
      const lb = sim.lb
      // A VIP that is not a local address is left to the simulated VPP alone.
      expect(lb.handle("lb_add_del_vip_v2", { ...vipReq(port), pfx: "192.0.2.50/32" }, 0)).toEqual({ retval: 0 })
      expect(lb.handle("lb_add_del_vip_v2", vipReq(port), 0)).toEqual({ retval: 0 })
      for (const a of ASES) expect(lb.handle("lb_add_del_as_v2", asReq(port, a), 0)).toEqual({ retval: 0 })
      yield* Effect.promise(() => sim.dataPlane!.settled())
      expect([...sim.dataPlane!.listening().values()]).toEqual([`${VIP}:${port}`])
      const vip = 2
      const expected = (srcPort: number) => {
        const table = lb.newFlowTable(vip)!
        const hash = flowHash({ src: Uint8Array.of(127, 0, 0, 54), dst: Uint8Array.of(127, 0, 0, 50), srcPort, dstPort: port }, false)
        return lb.inspectVip(vip)!.ases.find((a) => a.index === table[hash & 1023])!.address
      }

      // Each new connection goes where the new-flow table sends its hash; all three ASes serve some.
      const served = new Map<number, string>()
      for (let srcPort = PORTS; srcPort < PORTS + 30; srcPort++) {
        const c = yield* connection(srcPort, port)
        served.set(srcPort, yield* c.get)
        expect(served.get(srcPort)).toBe(expected(srcPort))
      }
      expect(new Set(served.values())).toEqual(new Set(ASES))
      const [, first] = sim.stats!.segment.lbVipCounterValues(vip)
      expect(first).toBe(30n)

      // A connection kept open stays with its AS when that AS's weight goes to 0 (drain), and new ones avoid it.
      const srcPort = PORTS + 1000
      const kept = yield* connection(srcPort, port)
      expect(yield* kept.get).toBe(expected(srcPort))
      const drainedAs = expected(srcPort)
      expect(lb.handle("lb_as_set_weight", asReq(port, drainedAs, { weight: 0 }), 1)).toEqual({ retval: 0 })
      expect(yield* kept.get).toBe(drainedAs)
      for (let p = PORTS + 2000; p < PORTS + 2020; p++) {
        const c = yield* connection(p, port)
        expect(yield* c.get).not.toBe(drainedAs)
      }
      const [next] = sim.stats!.segment.lbVipCounterValues(vip)
      expect(next).toBeGreaterThan(0n)

      // A flush evicts the sticky entry: the next packet is hashed afresh to another AS, which resets the connection.
      expect(lb.handle("lb_as_set_weight", asReq(port, drainedAs, { weight: 0, is_flush: true }), 2)).toEqual({ retval: 0 })
      expect(yield* kept.get).toBe("reset")
      expect(sim.dataPlane!.connections().get(drainedAs)).toBeGreaterThan(0)

      // The VIP deleted: nothing listens any more.
      for (const a of ASES) lb.handle("lb_add_del_as_v2", asReq(port, a, { is_del: true }), 3)
      expect(lb.handle("lb_add_del_vip_v2", { ...vipReq(port), is_del: true }, 3)).toEqual({ retval: 0 })
      expect(sim.dataPlane!.listening().size).toBe(0)
    })))
})
