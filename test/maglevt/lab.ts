/**
 * A lab for maglevt: "VIPs" on loopback addresses, all real sockets.
 *
 * - `web`: a tiny TCP proxy that hands each new connection to the next of
 *   three HTTP backends in turn (web1..web3 on their own addresses), as
 *   Maglev spreads new flows; a backend can be taken out of the rotation
 *   (drained) or its server stopped (the proxy still sends to it: a reset).
 * - `api`: one HTTP server on the VIP's own address (api1); it can be stopped
 *   (refused), answer 503, hang (timeouts) or delay one answer (a spike).
 * - `db`: a TCP server, probed by connecting.
 *
 * Every HTTP server answers with its own `X-Served-By`. The addresses are
 * 127.0.77.x, apart from the other tests' 127.0.0.x.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { until } from "../cli/lab.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"

/** maglevt, as `node` arguments. */
export const MAGLEVT = program("maglevt")

export const WEB_VIP = "127.0.77.10"
export const API_VIP = "127.0.77.20"
export const DB_VIP = "127.0.77.40"
export const WEB_BACKENDS = { web1: "127.0.77.11", web2: "127.0.77.12", web3: "127.0.77.13" } as const
export type WebBackend = keyof typeof WEB_BACKENDS

type Mode = "ok" | "503" | "hang"

/** An HTTP server naming itself in X-Served-By, whose behaviour the test sets. */
class Backend {
  mode: Mode = "ok"
  /** Milliseconds to hold the next answer (once). */
  delayNext = 0
  private server: http.Server | undefined
  port = 0

  constructor(readonly name: string, readonly address: string) {}

  private handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (this.mode === "hang") return
    const answer = () => {
      res.statusCode = this.mode === "503" ? 503 : 200
      res.setHeader("X-Served-By", this.name)
      res.end("ok\n")
    }
    if (this.delayNext > 0) {
      const ms = this.delayNext
      this.delayNext = 0
      setTimeout(answer, ms)
    } else answer()
  }

  async start(port = this.port): Promise<void> {
    const server = http.createServer(this.handler)
    this.port = await listen(server, this.address, port)
    this.server = server
  }

  async stop(): Promise<void> {
    const s = this.server
    this.server = undefined
    if (s !== undefined) await closeServer(s)
  }
}

const listen = (server: net.Server, host: string, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

const closeServer = (s: http.Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections()
    s.close(() => r())
  })

/** Round-robins new connections over the backends in the rotation. */
class Proxy {
  private next = 0
  rotation: Array<Backend>
  private readonly sockets = new Set<net.Socket>()
  private readonly server = net.createServer((client) => {
    this.sockets.add(client)
    client.on("close", () => this.sockets.delete(client))
    const backend = this.rotation[this.next++ % this.rotation.length]
    if (backend === undefined) return void client.destroy()
    const upstream = net.connect({ host: backend.address, port: backend.port })
    this.sockets.add(upstream)
    upstream.on("close", () => this.sockets.delete(upstream))
    // A dead backend: the client's connection is reset, as a VIP's would be.
    upstream.on("error", () => client.resetAndDestroy())
    client.on("error", () => upstream.destroy())
    client.pipe(upstream).pipe(client)
  })
  port = 0

  constructor(readonly address: string, readonly backends: ReadonlyArray<Backend>) {
    this.rotation = [...backends]
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.address, 0)
  }

  stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((r) => this.server.close(() => r()))
  }
}

export interface Lab {
  readonly dir: string
  readonly configFile: string
  readonly webPort: number
  readonly api: Backend
  readonly web: Record<WebBackend, Backend>
  /** Takes a web backend out of the proxy's rotation (false) or puts it back. */
  readonly rotate: (name: WebBackend, inRotation: boolean) => void
  readonly stopDb: () => Promise<void>
  readonly stop: () => Promise<void>
}

export const labConfig = (ports: { readonly web: number; readonly api: number; readonly db: number }) => `maglev:
  vpp:
    lb: {ipv4-src-address: 192.0.2.1}
  healthchecks:
    http-check: {type: http, port: 8080}
    tcp-check: {type: tcp, port: 5432}
  backends:
    web1: {address: ${WEB_BACKENDS.web1}, healthcheck: http-check}
    web2: {address: ${WEB_BACKENDS.web2}, healthcheck: http-check}
    web3: {address: ${WEB_BACKENDS.web3}, healthcheck: http-check}
    api1: {address: ${API_VIP}, healthcheck: http-check}
    db1: {address: ${DB_VIP}, healthcheck: tcp-check}
  frontends:
    web:
      address: ${WEB_VIP}
      protocol: tcp
      port: ${ports.web}
      pools: [{name: p, backends: {web1: {}, web2: {}, web3: {}}}]
    api:
      address: ${API_VIP}
      protocol: tcp
      port: ${ports.api}
      pools: [{name: p, backends: {api1: {}}}]
    db:
      address: ${DB_VIP}
      protocol: tcp
      port: ${ports.db}
      pools: [{name: p, backends: {db1: {}}}]
    dns:
      address: ${DB_VIP}
      protocol: udp
      port: 53
      pools: [{name: p, backends: {db1: {}}}]
`

export const startLab = async (): Promise<Lab> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglevt-test-"))
  const web = {
    web1: new Backend("web1", WEB_BACKENDS.web1),
    web2: new Backend("web2", WEB_BACKENDS.web2),
    web3: new Backend("web3", WEB_BACKENDS.web3)
  }
  const api = new Backend("api1", API_VIP)
  const proxy = new Proxy(WEB_VIP, [web.web1, web.web2, web.web3])
  const db = net.createServer((s) => s.end())
  const stop = async () => {
    await proxy.stop().catch(() => undefined)
    await Promise.all([...Object.values(web), api].map((b) => b.stop()))
    await new Promise((r) => db.close(r))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const b of Object.values(web)) await b.start(0)
    await api.start(0)
    await proxy.start()
    const dbPort = await listen(db, DB_VIP, 0)
    const configFile = path.join(dir, "maglev.yaml")
    fs.writeFileSync(configFile, labConfig({ web: proxy.port, api: api.port, db: dbPort }))
    return {
      dir,
      configFile,
      webPort: proxy.port,
      api,
      web,
      rotate: (name, inRotation) => {
        proxy.rotation = proxy.backends.filter((b) => (b.name === name ? inRotation : proxy.rotation.includes(b)))
      },
      stopDb: () => new Promise<void>((r) => db.close(() => r())),
      stop
    }
  } catch (e) {
    await stop()
    throw e
  }
}

export interface Run {
  readonly child: ChildProcess
  readonly lines: Array<string>
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

/** maglevt as a child process, its standard output collected as lines. */
export const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Run => {
  const child = spawn(process.execPath, [...MAGLEVT, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const lines: Array<string> = []
  let partial = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => {
    const parts = (partial + d.toString()).split("\n")
    partial = parts.pop()!
    lines.push(...parts)
  })
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const exit = new Promise<number | null>((r) => child.on("close", (code) => r(code)))
  return { child, lines, stderr: () => stderr, exit }
}

/** Waits for a line matching `re` after line `from`; returns its index. */
export const line = async (r: Run, re: RegExp, from = 0) =>
  until(
    () => `a line matching ${re} (after line ${from}); the last lines:\n${r.lines.slice(-15).join("\n")}\nstderr: ${r.stderr()}`,
    () => {
      const i = r.lines.findIndex((l, n) => n >= from && re.test(l))
      return i < 0 ? undefined : i
    }
  )
