/**
 * vppsim's userspace data plane (`--data-plane`): real TCP connections to
 * VIPs that are local addresses (loopback: Linux takes any 127.0.0.0/8
 * address), each sent where VPP's lb plugin would send it.
 *
 * For every USED per-port TCP VIP of one host address (/32 or /128) it
 * listens on that address and port. Each accepted connection is one flow
 * (client address and port → VIP address and port) and goes through the same
 * `lb_node_fn` path as the synthetic traffic (Traffic.ts, one set of sticky
 * tables and counters): its first packet (the SYN) picks the AS through the
 * sticky table or `new_flow_table[hash & mask]` and counts "first session
 * packet" in the stats segment; every later chunk the client sends counts as
 * one more packet ("packet from existing sessions" while the entry lives).
 *
 * The connection is then proxied to the AS: to `<AS address>:<VIP port>`.
 * VPP's GRE encap would deliver the packet unchanged (destination the VIP) to
 * a backend that owns the VIP; here the AS's own address stands in for the
 * tunnel, so a backend listening on its address and the VIP's port serves it.
 * Replies go straight back (as VPP's direct server return does: the lb node
 * only sees client → VIP packets, so only those are counted).
 *
 * When a later packet of the connection is sent to another AS than the one it
 * started with (its sticky entry was flushed, `lb_flush_vip_as`, or expired
 * and the table changed), the new AS would know no such connection and answer
 * with a reset: the client's connection is reset. A connection to a VIP with
 * no AS (AS 0, "no server configured") is accepted by the kernel but nothing
 * is sent anywhere: like VPP dropping the packets, the client sees no answer
 * until it gives up.
 *
 * Not modelled: UDP and all-port VIPs, prefix VIPs (no listener), IP
 * fragments, the return path.
 */
import { Effect, Runtime, type Scope } from "effect"
import * as net from "node:net"
import * as Ip from "../vpp/codec/Ip.js"
import type { LbMutation, LbPlugin } from "./LbPlugin.js"
import type { Traffic } from "./Traffic.js"

export interface DataPlaneShape {
  /** The VIPs listened on now, `address:port` by VIP index. */
  readonly listening: () => ReadonlyMap<number, string>
  /** Connections proxied to each AS address since start. */
  readonly connections: () => ReadonlyMap<string, number>
  /** Resolves once every listener the lb state asks for is open (or failed). */
  readonly settled: () => Promise<void>
}

const bytesOf = (address: string): Uint8Array | undefined => {
  const v4 = address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address
  const b4 = new Uint8Array(4)
  if (Ip.parseIp4Into(v4, b4, 0)) return b4
  const b6 = new Uint8Array(16)
  return Ip.parseIp6Into(address, b6, 0) ? b6 : undefined
}

/** The listen address of a VIP the data plane serves, or undefined (why not: see the module comment). */
const listenAddress = (lb: LbPlugin, vip: number): { readonly host: string; readonly port: number } | undefined => {
  const v = lb.inspectVip(vip)
  if (v === undefined || !v.used || v.key.port === 0) return undefined
  if (v.key.protocol !== 6 && v.key.protocol !== "IP_API_PROTO_TCP") return undefined
  const [host, len] = v.key.pfx.split("/")
  const full = host!.includes(":") ? 128 : 32
  if (len !== undefined && Number(len) !== full) return undefined
  return { host: host!, port: v.key.port }
}

const whereOf = (host: string, port: number): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

export const make = (lb: LbPlugin, traffic: Traffic, now: () => number): Effect.Effect<DataPlaneShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const log = (effect: Effect.Effect<void>) => void Runtime.runFork(runtime)(effect)
    const servers = new Map<number, { readonly where: string; readonly server: net.Server; readonly opened: Promise<void> }>()
    const sockets = new Set<net.Socket>()
    /** VIPs whose listen failed, and where: not tried again until the VIP changes. */
    const refused = new Map<number, string>()
    const connections = new Map<string, number>()
    let closed = false

    const proxy = (vip: number, port: number, client: net.Socket) => {
      sockets.add(client)
      client.once("close", () => sockets.delete(client))
      client.on("error", () => {})
      const src = bytesOf(client.remoteAddress ?? "")
      const dst = bytesOf(client.localAddress ?? "")
      const flow = src !== undefined && dst !== undefined && src.length === dst.length
        ? traffic.flowOf(vip, { src, dst, srcPort: client.remotePort ?? 0, dstPort: client.localPort ?? port, protocol: 6 })
        : undefined
      if (flow === undefined) return void client.destroy()
      const first = traffic.receive(flow, now())
      const address = first.as === 0 ? undefined : lb.inspectVip(vip)?.ases.find((a) => a.index === first.as)?.address
      if (address === undefined) return void client.pause() // dropped: no AS
      connections.set(address, (connections.get(address) ?? 0) + 1)
      const upstream = net.connect({ host: address, port })
      sockets.add(upstream)
      upstream.once("close", () => {
        sockets.delete(upstream)
        client.end()
      })
      upstream.on("error", () => client.resetAndDestroy())
      client.once("close", () => upstream.destroy())
      client.on("data", (chunk: Buffer) => {
        const r = traffic.receive(flow, now())
        if (r.as !== first.as) {
          log(Effect.logDebug("a proxied connection's packet went to another AS: reset").pipe(
            Effect.annotateLogs({ event: "vppsim-data-plane-reset", vip, as: address, now_as: r.as })
          ))
          upstream.destroy()
          client.resetAndDestroy()
          return
        }
        if (!upstream.write(chunk)) {
          client.pause()
          upstream.once("drain", () => client.resume())
        }
      })
      client.once("end", () => {
        traffic.receive(flow, now())
        upstream.end()
      })
      upstream.pipe(client)
    }

    const open = (vip: number, host: string, port: number) => {
      const where = whereOf(host, port)
      const server = net.createServer((socket) => proxy(vip, port, socket))
      const opened = new Promise<void>((resolve) => {
        server.once("error", (e: NodeJS.ErrnoException) => {
          servers.delete(vip)
          refused.set(vip, where)
          // Not a local address: the VIP is only in the simulated VPP (as 192.0.2.x is).
          const notLocal = e.code === "EADDRNOTAVAIL"
          const why = `cannot listen on VIP ${where}: ${e.code ?? e.message}`
          log(
            notLocal
              ? Effect.logDebug(why).pipe(Effect.annotateLogs({ event: "vppsim-data-plane-not-local", vip: where }))
              : Effect.logWarning(why).pipe(Effect.annotateLogs({ event: "vppsim-data-plane-listen-failed", vip: where }))
          )
          resolve()
        })
        server.listen({ host, port, exclusive: true }, () => {
          log(Effect.logInfo(`data plane: listening on VIP ${where}`).pipe(
            Effect.annotateLogs({ event: "vppsim-data-plane-listen", vip: where })
          ))
          resolve()
        })
      })
      servers.set(vip, { where, server, opened })
    }

    const reconcile = () => {
      if (closed) return
      const wanted = new Map<number, { host: string; port: number }>()
      for (const v of lb.vipIndices()) {
        const a = v.used ? listenAddress(lb, v.index) : undefined
        if (a !== undefined) wanted.set(v.index, a)
      }
      for (const [vip, s] of servers) {
        const w = wanted.get(vip)
        const where = w === undefined ? undefined : whereOf(w.host, w.port)
        if (where !== s.where) {
          servers.delete(vip)
          s.server.close()
        }
      }
      for (const [vip, w] of wanted) {
        if (!servers.has(vip) && refused.get(vip) !== whereOf(w.host, w.port)) open(vip, w.host, w.port)
      }
      for (const vip of refused.keys()) if (!wanted.has(vip)) refused.delete(vip)
    }

    const unsubscribe = lb.subscribe((m: LbMutation) => {
      if (m.op === "vip-add" || m.op === "vip-del" || m.op === "gc-vip" || m.op === "restart") reconcile()
    })
    reconcile()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        unsubscribe()
        for (const s of servers.values()) s.server.close()
        servers.clear()
        for (const s of sockets) s.destroy()
      })
    )

    return {
      listening: () => new Map([...servers].map(([vip, s]) => [vip, s.where])),
      connections: () => connections,
      settled: () => Promise.all([...servers.values()].map((s) => s.opened)).then(() => undefined)
    }
  })
