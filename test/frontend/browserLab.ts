/**
 * The dashboard's browser lab, all real: maglevd "A" programming vppsim with
 * three HTTP backends (test/cli/lab.ts), maglevd "B" (no VPP) with the same
 * backends but another weight for web2 (so the fleet view has a VIP to flag)
 * and one more, `held`, in the standby pool, whose probes the test can hold
 * open (`HeldServer`),
 * a --server URL where no maglevd runs (shown dead), maglevd-frontend over the
 * three with basic auth on /admin/, a TCP proxy in front of it that a test can
 * cut (an SSE disconnect), and Debian's chromium driven by playwright-core.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { type Browser, chromium } from "playwright-core"
import * as Client from "../../src/api/Client.js"
import type { MaglevClientShape } from "../../src/api/Client.js"
import { type Lab, startLab, until } from "../cli/lab.js"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"

export { until }

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it), or `$CHROMIUM`. */
export const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium"
export const ADMIN_USER = "ops"
export const ADMIN_PASSWORD = "s3cret"

/** A TCP proxy to `targetPort` that can cut every connection and hold new ones until resumed. */
export interface CutProxy {
  readonly url: string
  /** Closes every open connection; new ones wait (unanswered) until `resume`. */
  readonly cut: () => void
  readonly resume: () => void
  readonly close: () => Promise<void>
}

export const cutProxy = async (targetPort: number): Promise<CutProxy> => {
  const open = new Set<net.Socket>()
  let held: Array<net.Socket> = []
  let cut = false
  const forward = (client: net.Socket) => {
    const upstream = net.connect(targetPort, "127.0.0.1")
    open.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on("error", drop).on("close", drop)
    upstream.on("error", drop).on("close", drop)
    client.pipe(upstream).pipe(client)
  }
  const server = net.createServer((client) => {
    if (cut) {
      held.push(client)
      client.on("error", () => client.destroy())
    } else forward(client)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      cut = true
      for (const s of open) s.destroy()
      open.clear()
    },
    resume: () => {
      cut = false
      const waiting = held
      held = []
      for (const c of waiting) if (!c.destroyed) forward(c)
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of [...open, ...held]) s.destroy()
        server.close(() => r())
      })
  }
}

/** An HTTP server whose answers a test can hold: while held, every request waits until `release`. */
export interface HeldServer {
  readonly port: number
  /** Requests from now on wait. */
  readonly hold: () => void
  /** Answers the waiting requests (200) and answers the next ones at once. */
  readonly release: () => void
  /** Requests waiting now. */
  readonly waiting: () => number
  readonly close: () => Promise<void>
}

export const heldServer = async (host: string): Promise<HeldServer> => {
  let held = false
  let waiting: Array<http.ServerResponse> = []
  const server = http.createServer((_, res) => {
    if (!held) return void res.end()
    waiting.push(res)
    res.on("close", () => void (waiting = waiting.filter((r) => r !== res)))
  })
  await new Promise<void>((r) => server.listen(0, host, r))
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => void (held = true),
    release: () => {
      held = false
      const answer = waiting
      waiting = []
      for (const res of answer) res.end()
    },
    waiting: () => waiting.length,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}

/** B's backend whose probes the test holds (standby pool of `web`: it never takes traffic, so the fleet view is unchanged). */
export const HELD_ADDRESS = "127.0.0.4"

const MAGLEVD = program("maglevd")
const FRONTEND = program("maglevd-frontend")

export interface DashboardLab {
  /** maglevd A (with vppsim) and its backends. */
  readonly a: Lab
  /** maglevd B's RPC URL (no VPP; web2 weighs 70 there, 50 on A). */
  readonly bUrl: string
  /** The server of B's backend `held` (a probe every 10 s, timeout 10 s). */
  readonly held: HeldServer
  /** A --server URL with no maglevd behind it. */
  readonly deadUrl: string
  /** `ServerState.id` of each (host:port). */
  readonly ids: { readonly a: string; readonly b: string; readonly dead: string }
  /** maglevd-frontend, directly. */
  readonly frontendUrl: string
  /** maglevd-frontend through the proxy a test can cut. */
  readonly proxy: CutProxy
  readonly browser: Browser
  /** Calls maglevd A or B over its RPC API. */
  readonly rpc: <A, E>(url: string, f: (api: MaglevClientShape) => Effect.Effect<A, E>) => Promise<A>
  readonly frontendLog: ReadonlyArray<LogRecord>
  readonly stop: () => Promise<void>
}

const idOf = (url: string) => new URL(url).host

/** A port nothing listens on (bound, then closed). */
const deadPort = async () => {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export const startDashboardLab = async (): Promise<DashboardLab> => {
  const a = await startLab()
  const children: Array<ChildProcess> = []
  let proxy: CutProxy | undefined
  let browser: Browser | undefined
  let held: HeldServer | undefined
  const spawnLogged = (args: ReadonlyArray<string>) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
    children.push(child)
    return jsonLines(child)
  }
  const stop = async () => {
    await browser?.close()
    await proxy?.close()
    await held?.close()
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once("exit", () => resolve())
      c.kill("SIGKILL")
    })))
    await a.stop()
  }
  try {
    // B: A's file with another weight for web2, so the VIP's Maglev table differs, and the backend `held`.
    held = await heldServer(HELD_ADDRESS)
    const bConfig = path.join(a.dir, "maglev-b.yaml")
    let text = fs.readFileSync(a.configFile, "utf8")
    for (const [from, to] of [
      ["web2: {weight: 50}", "web2: {weight: 70}"],
      ["backends: {web3: {}}", "backends: {web3: {}, held: {}}"],
      ["  healthchecks:\n", `  healthchecks:\n    held-check: {type: http, port: ${held.port}, interval: 10s, fast-interval: 10s, down-interval: 10s, timeout: 10s, rise: 1, fall: 1}\n`],
      ["  backends:\n", `  backends:\n    held: {address: ${HELD_ADDRESS}, healthcheck: held-check}\n`]
    ] as const) {
      if (!text.includes(from)) throw new Error(`${a.configFile}: no ${JSON.stringify(from)} to change`)
      text = text.replace(from, to)
    }
    fs.writeFileSync(bConfig, text)
    const bLog = spawnLogged([...MAGLEVD, "--config", bConfig, "--vpp-api-addr", "", "--rpc-addr", "127.0.0.1:0", "--metrics-addr", ""])
    const bListen = await until("maglevd B rpc-listen", () => bLog.find((r) => r.annotations.event === "rpc-listen"))
    const bUrl = String(bListen.annotations.url).replace(/\/rpc$/, "")
    const deadUrl = `http://127.0.0.1:${await deadPort()}`

    const passwordFile = path.join(a.dir, "admin-password")
    fs.writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`)
    const frontendLog = spawnLogged([
      ...FRONTEND,
      "--server",
      [a.url, bUrl, deadUrl].join(","),
      "--listen",
      "127.0.0.1:0",
      "--admin-user",
      ADMIN_USER,
      "--admin-password-file",
      passwordFile
    ])
    const listening = await until("maglevd-frontend listening", () => frontendLog.find((r) => r.annotations.event === "frontend-listen"))
    const frontendUrl = String(listening.annotations.url).replace(/\/$/, "")
    proxy = await cutProxy(Number(new URL(frontendUrl).port))
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] })
    return {
      a,
      bUrl,
      held,
      deadUrl,
      ids: { a: idOf(a.url), b: idOf(bUrl), dead: idOf(deadUrl) },
      frontendUrl,
      proxy,
      browser,
      rpc: (url, f) => Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ url }), f))),
      frontendLog,
      stop
    }
  } catch (e) {
    await stop()
    throw e
  }
}
