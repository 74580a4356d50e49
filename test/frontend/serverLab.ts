/**
 * A dashboard lab, all real processes: two maglevc labs (test/cli/lab.ts:
 * each three HTTP backends, a vppsim and a maglevd, here with the RPC token),
 * "lb1" and "lb2", with the same configuration (VIP `web`), and one
 * maglevd-frontend following both (admin user and the same token).
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import { type Lab, startLab, until } from "../cli/lab.js"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"

export { until }

export const TOKEN = "lab-token-0123456789"
export const ADMIN_USER = "ops"
export const ADMIN_PASSWORD = "correct horse"

export interface Maglevd {
  readonly lab: Lab
  /** The RPC URL as given to the dashboard. */
  readonly url: string
  /** The dashboard's id for it (`host:port`). */
  readonly id: string
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

export const kill = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve()
    c.once("exit", () => resolve())
    c.kill("SIGKILL")
  })

const maglevd = (lab: Lab): Maglevd => ({
  lab,
  url: lab.url,
  id: new URL(lab.url).host,
  withClient: (f) => Effect.runPromise(Effect.scoped(Effect.flatMap(Client.make({ url: lab.url, token: TOKEN }), f)))
})

export const startFrontendLab = async (): Promise<FrontendLab> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frontend-lab-"))
  const labs: Array<Lab> = []
  let frontend: ChildProcess | undefined
  const stop = async () => {
    if (frontend !== undefined) await kill(frontend)
    await Promise.all(labs.map((l) => l.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const tokenFile = path.join(dir, "token")
    fs.writeFileSync(tokenFile, TOKEN + "\n")
    const passwordFile = path.join(dir, "password")
    fs.writeFileSync(passwordFile, ADMIN_PASSWORD + "\n")
    const started = await Promise.allSettled([1, 2].map(() => startLab({ flags: ["--rpc-token-file", tokenFile] })))
    for (const r of started) if (r.status === "fulfilled") labs.push(r.value)
    for (const r of started) if (r.status === "rejected") throw r.reason
    const [lb1, lb2] = labs.map(maglevd) as [Maglevd, Maglevd]
    const child = spawn(process.execPath, [
      ...program("maglevd-frontend"),
      "--server", `${lb1.url},${lb2.url}`,
      "--listen", "127.0.0.1:0",
      "--token-file", tokenFile,
      "--admin-user", ADMIN_USER,
      "--admin-password-file", passwordFile
    ], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
    frontend = child
    const frontendLog = jsonLines(child)
    const listening = await until("frontend-listen", () => {
      if (child.exitCode !== null) throw new Error(`maglevd-frontend exited ${child.exitCode}: ${JSON.stringify(frontendLog.at(-1))}`)
      return frontendLog.find((r) => r.annotations.event === "frontend-listen")
    })
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
