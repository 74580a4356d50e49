/**
 * A dashboard lab, all real processes: three HTTP backends on 127.0.0.1-3
 * (one port), two maglevds ("lb1", "lb2") each programming its own vppsim,
 * both with the RPC token, and one maglevd-frontend following both (admin
 * user and the same token). The two maglevds have the same frontends except
 * one weight: the fleet view must flag VIP `web` and agree on `api`.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import { until } from "../cli/lab.js"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"

export { until }

export const ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"] as const
export const TOKEN = "lab-token-0123456789"
export const ADMIN_USER = "ops"
export const ADMIN_PASSWORD = "correct horse"

const config = (port: number, web2Weight: number) => `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 0s
      startup-max-delay: 0s
  healthchecks:
    tcp-check: {type: tcp, port: ${port}, interval: 2s, fast-interval: 2s, down-interval: 2s, timeout: 2s, rise: 1, fall: 2}
  backends:
    web1: {address: 127.0.0.1, healthcheck: tcp-check}
    web2: {address: 127.0.0.2, healthcheck: tcp-check}
    web3: {address: 127.0.0.3, healthcheck: tcp-check}
  frontends:
    web:
      address: 192.0.2.10
      protocol: tcp
      port: 80
      pools:
        - name: primary
          backends: {web1: {weight: 100}, web2: {weight: ${web2Weight}}}
        - name: fallback
          backends: {web3: {}}
    api:
      address: 192.0.2.11
      protocol: tcp
      port: 443
      pools:
        - name: primary
          backends: {web1: {weight: 100}, web3: {weight: 100}}
`

const listen = (server: http.Server, host: string, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

const startBackends = async () => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers = ADDRESSES.map(() => http.createServer((_, res) => res.end("ok\n")))
    try {
      const port = await listen(servers[0]!, ADDRESSES[0], 0)
      await listen(servers[1]!, ADDRESSES[1], port)
      await listen(servers[2]!, ADDRESSES[2], port)
      return { port, servers }
    } catch {
      for (const s of servers) s.close()
    }
  }
  throw new Error("no port free on 127.0.0.1-3")
}

export interface Maglevd {
  readonly url: string
  /** The dashboard's id for it (`host:port`). */
  readonly id: string
  readonly process: ChildProcess
  readonly log: ReadonlyArray<LogRecord>
  /** Runs an effect with a client of this maglevd (with the token). */
  readonly withClient: <A, E>(f: (api: Client.MaglevClientShape) => Effect.Effect<A, E>) => Promise<A>
}

export interface FrontendLab {
  readonly lb1: Maglevd
  readonly lb2: Maglevd
  /** `http://127.0.0.1:port/` of maglevd-frontend. */
  readonly url: string
  readonly frontendLog: ReadonlyArray<LogRecord>
  readonly stop: () => Promise<void>
}

const kill = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve()
    c.once("exit", () => resolve())
    c.kill("SIGKILL")
  })

export { kill }

/** Fails the wait at once when the process has exited (its last log line says why). */
const alive = (c: ChildProcess, log: ReadonlyArray<LogRecord>): true => {
  if (c.exitCode !== null || c.signalCode !== null) {
    throw new Error(`exited (${c.exitCode ?? c.signalCode}): ${JSON.stringify(log.at(-1) ?? "no log")}`)
  }
  return true
}

export const startFrontendLab = async (): Promise<FrontendLab> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frontend-lab-"))
  const children: Array<ChildProcess> = []
  const { port, servers } = await startBackends()
  const stop = async () => {
    await Promise.all(children.map(kill))
    await Promise.all(servers.map((s) => new Promise<void>((r) => {
      s.closeAllConnections()
      s.close(() => r())
    })))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const tokenFile = path.join(dir, "token")
    fs.writeFileSync(tokenFile, TOKEN + "\n")
    const passwordFile = path.join(dir, "password")
    fs.writeFileSync(passwordFile, ADMIN_PASSWORD + "\n")
    const start = (name: string, web2Weight: number): Promise<Maglevd> =>
      (async () => {
        const apiSocket = path.join(dir, `${name}-api.sock`)
        const statsSocket = path.join(dir, `${name}-stats.sock`)
        const sim = spawn(process.execPath, [...program("vppsim"), "--api-socket", apiSocket, "--stats-socket", statsSocket], {
          cwd: repoRoot,
          stdio: ["ignore", "pipe", "inherit"]
        })
        children.push(sim)
        const simLog = jsonLines(sim)
        await until(`${name}'s vppsim-ready`, () => simLog.find((r) => r.annotations.event === "vppsim-ready"))
        const configFile = path.join(dir, `${name}.yaml`)
        fs.writeFileSync(configFile, config(port, web2Weight))
        const maglevd = spawn(process.execPath, [
          ...program("maglevd"),
          "--config", configFile,
          "--vpp-api-addr", apiSocket,
          "--vpp-stats-addr", statsSocket,
          "--rpc-addr", "127.0.0.1:0",
          "--rpc-token-file", tokenFile,
          "--metrics-addr", ""
        ], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
        children.push(maglevd)
        const log = jsonLines(maglevd)
        const listening = await until(`${name}'s rpc-listen`, () => alive(maglevd, log) && log.find((r) => r.annotations.event === "rpc-listen"))
        const url = String(listening.annotations.url)
        return {
          url,
          id: new URL(url).host,
          process: maglevd,
          log,
          withClient: (f) => Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ url, token: TOKEN }), f)))
        }
      })()
    const [lb1, lb2] = await Promise.all([start("lb1", 50), start("lb2", 60)])
    const frontend = spawn(process.execPath, [
      ...program("maglevd-frontend"),
      "--server", `${lb1.url},${lb2.url}`,
      "--listen", "127.0.0.1:0",
      "--token-file", tokenFile,
      "--admin-user", ADMIN_USER,
      "--admin-password-file", passwordFile
    ], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
    children.push(frontend)
    const frontendLog = jsonLines(frontend)
    const listening = await until("frontend-listen", () => alive(frontend, frontendLog) && frontendLog.find((r) => r.annotations.event === "frontend-listen"))
    return { lb1, lb2, url: String(listening.annotations.url), frontendLog, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

// --- HTTP helpers --------------------------------------------------------------------

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
export const ADMIN = { authorization: basic(ADMIN_USER, ADMIN_PASSWORD) }

export const getJson = async (url: string, headers: Record<string, string> = {}) => {
  const r = await fetch(url, { headers })
  return { status: r.status, headers: r.headers, body: await r.json() as any }
}

export const postJson = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })
  return { status: r.status, body: await r.json() as any }
}

export interface SseFrame {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: any
  /** A comment line (`: keep-alive`), for frames without data. */
  readonly comment: string | undefined
}

export interface SseReader {
  readonly status: number
  readonly headers: Headers
  /** Every frame so far. */
  readonly frames: ReadonlyArray<SseFrame>
  /** Waits for a frame `pick` accepts (bounded by `until`'s 120 s). */
  readonly next: (what: string, pick: (f: SseFrame) => boolean) => Promise<SseFrame>
  /** The stream ended (the server closed it). */
  readonly ended: () => boolean
  readonly close: () => void
}

/** An SSE connection read frame by frame (fetch, as EventSource would, with its headers). */
export const sse = async (url: string, headers: Record<string, string> = {}): Promise<SseReader> => {
  const controller = new AbortController()
  const r = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal })
  const frames: Array<SseFrame> = []
  let done = false
  const reader = r.body!.getReader()
  const decoder = new TextDecoder()
  void (async () => {
    let buffer = ""
    try {
      for (;;) {
        const { done: end, value } = await reader.read()
        if (end) break
        buffer += decoder.decode(value, { stream: true })
        let at
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, at)
          buffer = buffer.slice(at + 2)
          let id: string | undefined
          let event: string | undefined
          let data: string | undefined
          let comment: string | undefined
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4)
            else if (line.startsWith("event: ")) event = line.slice(7)
            else if (line.startsWith("data: ")) data = line.slice(6)
            else if (line.startsWith(":")) comment = line.slice(1).trim()
          }
          frames.push({ id, event, data: data === undefined ? undefined : JSON.parse(data), comment })
        }
      }
    } catch {
      // aborted
    }
    done = true
  })()
  return {
    status: r.status,
    headers: r.headers,
    frames,
    next: (what, pick) => until(what, () => frames.find(pick)),
    ended: () => done,
    close: () => controller.abort()
  }
}
