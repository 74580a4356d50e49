/**
 * The benchmark servers of `npm run bench -- health-vs-haproxy` (and
 * `health`): the Node and the C one must do the same thing, since the
 * benchmark's figures come from their counts. Real processes, real sockets,
 * through bench/internal/proc.ts as the benchmark starts them.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { type Bounded, spawnBounded } from "../../bench/internal/proc.js"
import { until } from "../cli/lab.js"
import { repoRoot } from "../support/paths.js"

const internal = path.join(repoRoot, "bench", "internal")
const hasCc = spawnSync("cc", ["--version"]).status === 0

interface Seen {
  readonly maglevd: number
  readonly haproxy: number
  readonly other: number
  readonly agoMs: Readonly<Record<string, number | null>>
}
interface Gap {
  readonly count: number
  readonly p50: number
  readonly max: number
}
interface Stopped {
  readonly probes: Readonly<Record<string, number>>
  readonly gaps: Readonly<Record<string, Gap>>
}

const get = (host: string, port: number, userAgent?: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: "/", agent: false, headers: userAgent === undefined ? {} : { "User-Agent": userAgent } }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
  })

const ask = async <A>(p: Bounded, command: string): Promise<A> => {
  p.send(command)
  return (await p.next()) as A
}

const exited = (p: Bounded) =>
  p.child.exitCode !== null || p.child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => p.child.once("exit", () => resolve()))

/**
 * Three backends over two ports: 0 and 1 on NET.0.1 (ports P and P+1), 2 on NET.0.2:P.
 * `start` gives the program and its arguments.
 */
const behaves = async (start: (args: ReadonlyArray<string>) => Promise<Bounded>) => {
  const net = 16 + Math.floor(Math.random() * 224)
  const port = 22000 + Math.floor(Math.random() * 1000)
  const servers = await start([String(port), "2", "3", `127.${net}`])
  try {
    expect(await servers.next()).toBe("ready")
    const seen0 = await ask<Seen>(servers, "seen")
    expect([seen0.maglevd, seen0.haproxy, seen0.other]).toEqual([0, 0, 0])
    expect(seen0.agoMs).toEqual({ maglevd: null, haproxy: null, other: null })

    // Before "start": reached, not counted.
    await get(`127.${net}.0.1`, port, "haproxy-bench")
    expect(await ask(servers, "start")).toEqual({ ok: true })
    for (const _ of [1, 2]) {
      expect(await get(`127.${net}.0.1`, port, "haproxy-bench")).toEqual({ status: 200, body: "ok\n" })
    }
    expect(await get(`127.${net}.0.2`, port, "vpp-maglev/0.1.0")).toEqual({ status: 200, body: "ok\n" })
    expect(await get(`127.${net}.0.1`, port + 1)).toEqual({ status: 200, body: "ok\n" })

    const seen = await ask<Seen>(servers, "seen")
    expect([seen.maglevd, seen.haproxy, seen.other]).toEqual([1, 1, 1])
    // No checker has reached all three backends yet.
    expect(seen.agoMs).toEqual({ maglevd: null, haproxy: null, other: null })

    const stopped = await ask<Stopped>(servers, "stop")
    expect(stopped.probes).toEqual({ maglevd: 1, haproxy: 2, other: 1 })
    // A gap needs an earlier request to the same backend: the one before "start" counts as that.
    expect(stopped.gaps["haproxy"]!.count).toBe(2)
    expect(stopped.gaps["haproxy"]!.p50).toBeGreaterThanOrEqual(0)
    expect(stopped.gaps["maglevd"]!.count).toBe(0)
    expect(stopped.gaps["other"]!.count).toBe(0)

    // Not counting any more.
    await get(`127.${net}.0.2`, port, "vpp-maglev/0.1.0")
    await ask(servers, "start")
    expect((await ask<Stopped>(servers, "stop")).probes).toEqual({ maglevd: 0, haproxy: 0, other: 0 })

    // The last backend reached by all: now agoMs says when.
    await get(`127.${net}.0.1`, port + 1, "haproxy-bench")
    await get(`127.${net}.0.2`, port, "haproxy-bench")
    const all = await ask<Seen>(servers, "seen")
    expect(all.haproxy).toBe(3)
    expect(all.agoMs["haproxy"]).toBeGreaterThanOrEqual(0)
  } finally {
    servers.kill()
    await exited(servers)
  }
  // kill() took the program itself, not only the `timeout` in front of it.
  await dead(servers.pid)
}

/** Resolves once `pid` is gone or a zombie (killed, not yet reaped by whoever inherited it). */
const dead = async (pid: number): Promise<void> => {
  for (;;) {
    let state: string
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.charAt(0)
    } catch {
      return
    }
    if (state === "Z") return
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The server side of the connection from local port `client` to `port`, as a line of /proc/net/tcp, if the kernel still has it. */
const serverSide = (port: number, client: number): string | undefined => {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0")
  return fs.readFileSync("/proc/net/tcp", "utf8").split("\n").find((l) => {
    const [, local, remote] = l.trim().split(/\s+/)
    return local?.endsWith(`:${hex(port)}`) === true && remote?.endsWith(`:${hex(client)}`) === true
  })
}

/**
 * A checker that sends its request, half-closes, and resets the connection
 * (its timeout) before the answer: the servers' write then fails with EPIPE.
 * The servers are stopped (SIGSTOP) meanwhile, so the reset is there before
 * they read; they must survive it and go on answering. (The C servers died
 * of SIGPIPE here, ending a 10-minute benchmark run.)
 */
const survivesReset = async (start: (args: ReadonlyArray<string>) => Promise<Bounded>) => {
  const net16 = 16 + Math.floor(Math.random() * 224)
  const port = 22000 + Math.floor(Math.random() * 1000)
  const host = `127.${net16}.0.1`
  const servers = await start([String(port), "1", "1", `127.${net16}`])
  try {
    expect(await servers.next()).toBe("ready")
    process.kill(servers.pid, "SIGSTOP")
    try {
      const socket = net.connect(port, host)
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject))
      const client = socket.localPort!
      // The request and a FIN: the server's side is in CLOSE_WAIT, its request waiting to be read.
      await new Promise<void>((resolve) => socket.end("GET / HTTP/1.1\r\nUser-Agent: vpp-maglev\r\n\r\n", resolve))
      await until("the request and FIN in the server's socket (CLOSE_WAIT)", () => (serverSide(port, client)?.trim().split(/\s+/)[3] === "08" ? true : undefined))
      socket.resetAndDestroy()
      // The reset taken: the kernel has closed the server's side (gone from the table).
      await until("the reset taken by the kernel", () => (serverSide(port, client) === undefined ? true : undefined))
    } finally {
      process.kill(servers.pid, "SIGCONT")
    }
    // The request was read (and its answer written into the reset connection), and the servers go on.
    const seen = await until("the request read", async () => {
      const s = await ask<Seen>(servers, "seen")
      return s.maglevd === 1 ? s : undefined
    })
    expect(seen.maglevd).toBe(1)
    expect(await get(host, port, "vpp-maglev/0.1.0")).toEqual({ status: 200, body: "ok\n" })
    expect(servers.child.signalCode).toBe(null)
  } finally {
    servers.kill()
    await exited(servers)
  }
}

const startNode = (args: ReadonlyArray<string>) =>
  spawnBounded(process.execPath, [path.join(internal, "http-servers.mjs"), ...args], { seconds: 60, nofile: 1024, channel: "ipc" })

/** Compiles http-servers.c into a temp dir for `use`, and removes it after. */
const withC = async (use: (start: (args: ReadonlyArray<string>) => Promise<Bounded>) => Promise<void>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-servers-test-"))
  try {
    const binary = path.join(dir, "http-servers")
    const cc = spawnSync("cc", ["-O2", "-Wall", "-o", binary, path.join(internal, "http-servers.c")], { encoding: "utf8" })
    expect(cc.stderr).toBe("")
    await use((args) => spawnBounded(binary, args, { seconds: 60, nofile: 1024, channel: "lines" }))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("benchmark servers", () => {
  it("Node (http-servers.mjs): answer 200, count by checker, gaps, first round", async () => {
    await behaves(startNode)
  })

  it("Node: a checker that resets its connection before the answer does not stop them", async () => {
    await survivesReset(startNode)
  })

  it.skipIf(!hasCc)("C (http-servers.c): the same, and a reset before the answer does not kill them (SIGPIPE)", async () => {
    await withC(async (start) => {
      await behaves(start)
      await survivesReset(start)
    })
  })
})
