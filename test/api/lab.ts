/**
 * A real maglevd (its own process) programming a real vppsim, with 4 VIPs ×
 * 8 TCP backends on loopback addresses (127.0.1.1-32, one port), for the
 * WatchEvents attack test and the soak benchmark (bench/soak.ts). Also the
 * attack itself: raw HTTP clients that ask for a debug-level watch and never
 * read a byte of the answer.
 */
import { Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import type { LogRecord } from "../support/jsonLines.js"
import { listen, startMaglevd, startVppsim, until } from "../support/labProcs.js"

export { until }

const VIPS = 4
const PER_VIP = 8
const backendAddress = (i: number) => `127.0.1.${i + 1}`

const config = (port: number) => {
  const backends: Array<string> = []
  for (let i = 0; i < VIPS * PER_VIP; i++) backends.push(`    b${i}: {address: ${backendAddress(i)}, healthcheck: tcp}`)
  const frontends: Array<string> = []
  for (let v = 0; v < VIPS; v++) {
    const members = Array.from({ length: PER_VIP }, (_, k) => `b${v * PER_VIP + k}: {weight: ${10 + k}}`).join(", ")
    frontends.push(`    f${v}:
      address: 192.0.2.${10 + v}
      protocol: tcp
      port: 80
      pools:
        - name: primary
          backends: {${members}}`)
  }
  return `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 0s
      startup-max-delay: 0s
  healthchecks:
    tcp: {type: tcp, port: ${port}, interval: 1s, timeout: 500ms, rise: 2, fall: 3}
  backends:
${backends.join("\n")}
  frontends:
${frontends.join("\n")}
`
}

/** One TCP listener per backend address, all on one port; each accepts and closes. */
const startBackends = async (): Promise<{ port: number; servers: Array<net.Server> }> => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers = Array.from({ length: VIPS * PER_VIP }, () => net.createServer((s) => s.end()))
    try {
      const port = await listen(servers[0]!, backendAddress(0), 0)
      for (let i = 1; i < servers.length; i++) await listen(servers[i]!, backendAddress(i), port)
      return { port, servers }
    } catch {
      for (const s of servers) s.close()
    }
  }
  throw new Error("no port free on 127.0.1.1-32")
}

export interface DaemonLab {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly pid: number
  /** maglevd's log records so far (stdout, at --log-level info). */
  readonly log: ReadonlyArray<LogRecord>
  /** maglevd's resident set, from /proc, in bytes. */
  readonly rss: () => number
  /** Every `backend-transition` to a state other than up, so far. */
  readonly unhealthy: () => ReadonlyArray<LogRecord>
  /**
   * maglevd's live JS heap in bytes: a heap snapshot (which collects garbage
   * first) taken on SIGUSR2, summed. Only with `heapSnapshots`.
   */
  readonly liveHeap: () => Promise<number>
  /** Runs an effect with a typed client of this maglevd. */
  readonly withClient: <A, E>(f: (api: Client.MaglevClientShape) => Effect.Effect<A, E>) => Promise<A>
  readonly stop: () => Promise<void>
}

export interface DaemonLabOptions {
  /** Extra maglevd flags. */
  readonly flags?: ReadonlyArray<string>
  /** maglevd writes a heap snapshot on SIGUSR2 (see `liveHeap`). */
  readonly heapSnapshots?: boolean
}

/** The sum of the self sizes of a V8 heap snapshot's nodes. */
const snapshotBytes = (file: string): number => {
  const snapshot = JSON.parse(fs.readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: Array<string> } }
    nodes: Array<number>
  }
  const fields = snapshot.snapshot.meta.node_fields
  const self = fields.indexOf("self_size")
  let total = 0
  for (let i = self; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!
  return total
}

export const startDaemonLab = async (options: DaemonLabOptions = {}): Promise<DaemonLab> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-lab-"))
  const children: Array<ChildProcess> = []
  const snapshots = path.join(dir, "heap")
  if (options.heapSnapshots === true) fs.mkdirSync(snapshots)
  const { port, servers } = await startBackends()
  const stop = async () => {
    for (const c of children) c.kill("SIGKILL")
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const sockets = await startVppsim(dir, children)
    const configFile = path.join(dir, "maglev.yaml")
    fs.writeFileSync(configFile, config(port))
    const { child: maglevd, log, url } = await startMaglevd({
      configFile,
      ...sockets,
      nodeFlags: options.heapSnapshots === true ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${snapshots}`] : [],
      flags: options.flags ?? []
    }, children)
    const u = new URL(url)
    const lab: DaemonLab = {
      url,
      host: u.hostname,
      port: Number(u.port),
      pid: maglevd.pid!,
      log,
      rss: () => {
        const status = fs.readFileSync(`/proc/${maglevd.pid}/status`, "utf8")
        return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") * 1024
      },
      unhealthy: () => log.filter((r) => r.annotations.event === "backend-transition" && r.annotations.to !== "up"),
      liveHeap: async () => {
        for (const f of fs.readdirSync(snapshots)) fs.rmSync(path.join(snapshots, f))
        process.kill(maglevd.pid!, "SIGUSR2")
        // Written in one go, but large: parsed once it parses.
        const bytes = await until("the heap snapshot", () => {
          const file = fs.readdirSync(snapshots).find((f) => f.endsWith(".heapsnapshot"))
          if (file === undefined) return undefined
          try {
            return snapshotBytes(path.join(snapshots, file))
          } catch {
            return undefined
          }
        }, 120_000)
        for (const f of fs.readdirSync(snapshots)) fs.rmSync(path.join(snapshots, f))
        return bytes
      },
      withClient: (f) => Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ url }), f))),
      stop
    }
    // Every backend up and every VIP programmed.
    await until("the VIPs programmed", () =>
      lab.withClient((api) => api.GetVPPLBState()).then(
        (s) => (s.vips.length === VIPS && s.vips.every((v) => v.ases.filter((a) => a.weight > 0).length === PER_VIP) ? true : undefined),
        () => undefined
      ), 60_000)
    return lab
  } catch (e) {
    await stop()
    throw e
  }
}

export interface Attack {
  /** Connections the server has closed so far. */
  readonly closed: () => number
  readonly stop: () => void
}

/**
 * `count` raw HTTP clients, each POSTing a `WatchEvents` at debug level and
 * then never reading: the server's answers pile up in front of them.
 */
export const nonReadingWatchers = (host: string, port: number, count: number, token?: string): Attack => {
  const body = JSON.stringify({ _tag: "Request", id: "1", tag: "WatchEvents", payload: { logLevel: "debug" }, headers: [] }) + "\n"
  const request = [
    "POST /rpc HTTP/1.1",
    `Host: ${host}:${port}`,
    "Content-Type: application/ndjson",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(token === undefined ? [] : [`Authorization: Bearer ${token}`]),
    "",
    body
  ].join("\r\n")
  let closed = 0
  const sockets = Array.from({ length: count }, () => {
    const s = net.createConnection({ host, port })
    s.on("connect", () => {
      s.write(request)
      s.pause()
    })
    s.on("error", () => {})
    s.on("close", () => closed++)
    return s
  })
  return { closed: () => closed, stop: () => sockets.forEach((s) => s.destroy()) }
}
