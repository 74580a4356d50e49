/**
 * A small lab for maglevc's tests, all real processes and sockets: vppsim,
 * three HTTP backends on 127.0.0.1-3 (one port; each answers 200 or 503 as
 * the test says), and maglevd programming the simulator, with its RPC API on
 * an ephemeral port. `maglevc` runs the CLI as a process against it.
 */
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import type { LogRecord } from "../support/jsonLines.js"
import { listen, type Ran, runToEnd, simSockets, startMaglevd, startVppsim, until } from "../support/labProcs.js"
import { program } from "../support/programs.js"

export { until }

export const MAGLEVC = program("maglevc")

export const ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"] as const

export interface Lab {
  readonly dir: string
  readonly url: string
  readonly configFile: string
  /** maglevd's log records so far. */
  readonly log: ReadonlyArray<LogRecord>
  /** Makes a backend's server answer 200 (true) or 503 (false). */
  readonly setHealthy: (address: string, healthy: boolean) => void
  /** Stops one backend's HTTP server: its probes fail to connect. */
  readonly stopServer: (address: string) => Promise<void>
  /** Kills the processes, closes the servers and removes `dir`. */
  readonly stop: () => Promise<void>
}

export const labConfig = (port: number, extra = "") => `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 1s
      startup-max-delay: 3s
  healthchecks:
    http-check: {type: http, port: ${port}, interval: 2s, fast-interval: 2s, down-interval: 2s, timeout: 2s, rise: 1, fall: 1}
    tcp-check: {type: tcp, port: ${port}, interval: 1s, timeout: 200ms}
  backends:
    web1: {address: 127.0.0.1, healthcheck: http-check}
    web2: {address: 127.0.0.2, healthcheck: http-check}
    web3: {address: 127.0.0.3, healthcheck: http-check}
  frontends:
    web:
      description: the web site
      address: 192.0.2.10
      protocol: tcp
      port: 80
      pools:
        - name: primary
          backends: {web1: {weight: 100}, web2: {weight: 50}}
        - name: fallback
          backends: {web3: {}}
${extra}`

/** Three servers on one port, one per loopback address. */
const startServers = async (healthy: Map<string, boolean>) => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers = ADDRESSES.map((address) =>
      http.createServer((_, res) => {
        res.statusCode = healthy.get(address) === false ? 503 : 200
        res.end()
      })
    )
    try {
      const port = await listen(servers[0]!, ADDRESSES[0], 0)
      await listen(servers[1]!, ADDRESSES[1], port)
      await listen(servers[2]!, ADDRESSES[2], port)
      return { port, servers: new Map(ADDRESSES.map((a, i) => [a as string, servers[i]!])) }
    } catch {
      for (const s of servers) s.close()
    }
  }
  throw new Error("no port free on 127.0.0.1-3")
}

/** Closes a server and the connections it holds. */
export const closeServer = (s: http.Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections()
    s.close(() => r())
  })

export interface LabOptions {
  /** Extra maglevd flags (e.g. --rpc-token-file). */
  readonly flags?: ReadonlyArray<string>
  /** No simulator: maglevd runs with VPP disabled. */
  readonly noVpp?: boolean
}

export const startLab = async (options: LabOptions = {}): Promise<Lab> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglevc-test-"))
  const children: Array<ChildProcess> = []
  const healthy = new Map<string, boolean>()
  const { port, servers } = await startServers(healthy)
  const stop = async () => {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once("exit", () => resolve())
      c.kill("SIGKILL")
    })))
    await Promise.all([...servers.values()].map(closeServer))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const sockets = options.noVpp === true ? simSockets(dir) : await startVppsim(dir, children)
    const configFile = path.join(dir, "maglev.yaml")
    fs.writeFileSync(configFile, labConfig(port))
    const { log, url: rpc } = await startMaglevd({
      configFile,
      apiSocket: options.noVpp === true ? "" : sockets.apiSocket,
      statsSocket: sockets.statsSocket,
      flags: options.flags ?? []
    }, children)
    const url = rpc.replace(/\/rpc$/, "")
    return {
      dir,
      url,
      configFile,
      log,
      setHealthy: (address, h) => void healthy.set(address, h),
      stopServer: async (address) => {
        const s = servers.get(address)
        if (s !== undefined) await closeServer(s)
      },
      stop
    }
  } catch (e) {
    await stop()
    throw e
  }
}

export type Run = Ran

/** Runs maglevc once (one-shot, or a script on stdin), without the operator's maglevc variables. */
export const maglevc = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {}
): Promise<Run> => {
  const env = { ...process.env }
  delete env.NO_COLOR
  delete env.MAGLEV_SERVER
  delete env.MAGLEV_RPC_TOKEN_FILE
  return runToEnd("maglevc", args, { env: { ...env, ...options.env }, input: options.input ?? "" })
}
