/**
 * Probes on worker threads (src/health/probes/ProbeThreads.ts): real worker
 * threads probing real servers. Outcomes come back whole and to the right
 * round; a cancelled probe closes its socket and never answers; a worker that
 * dies is replaced and its rounds in flight come back skipped (never counted
 * as failures); a reload's new check objects with the same settings share
 * one entry; a thread loads nothing of Effect.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import * as os from "node:os"
import * as Prober from "../../src/health/Prober.js"
import type { ProbeRequest } from "../../src/health/Prober.js"
import * as ProbeThreads from "../../src/health/probes/ProbeThreads.js"
import type { ProbeOutcome } from "../../src/health/SelfLate.js"
import { httpCheck, tcpCheck } from "../support/probes.js"
import { PROGRAMS_ENV } from "../support/programs.js"
import { bundleInputs } from "../support/bundleInputs.js"

/** An HTTP server answering 200 or 503 by address, or holding the connection open ("hold"). */
const server = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly srv: net.Server; readonly held: Array<net.Socket>; readonly closed: () => number }>((resume) => {
    const held: Array<net.Socket> = []
    let closed = 0
    const srv = net.createServer((socket) => {
      socket.on("error", () => {})
      socket.on("close", () => closed++)
      socket.once("data", () => {
        if (socket.localAddress === "127.0.0.3") held.push(socket)
        else socket.end(`HTTP/1.1 ${socket.localAddress === "127.0.0.2" ? "503 Nope" : "200 OK"}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
      })
    })
    srv.listen(0, "0.0.0.0", () => resume(Effect.succeed({ port: (srv.address() as net.AddressInfo).port, srv, held, closed: () => closed })))
  }),
  (s) => Effect.promise(() => new Promise<void>((r) => {
    for (const h of s.held) h.destroy()
    s.srv.close(() => r())
  }))
)

/** The bundled worker when the global setup made one (a thread from the sources compiles them: seconds). */
const spawnBundled = (): Worker | undefined => {
  const dir = process.env[PROGRAMS_ENV]
  const file = dir === undefined || dir === "" ? undefined : path.join(dir, "ProbeWorker.js")
  return file !== undefined && fs.existsSync(file) ? new Worker(file) : undefined
}

/** One pool of two threads for the file: starting threads is the slow part. */
const late: Array<number> = []
const exits: Array<string> = []
let t: ProbeThreads.ProbeThreads
beforeAll(() => {
  const bundled = spawnBundled()
  bundled?.terminate()
  t = ProbeThreads.make({
    threads: 2,
    observeLate: (ms) => late.push(ms),
    onExit: (_, reason) => exits.push(reason),
    spawn: bundled === undefined ? undefined : () => spawnBundled()!
  })
})
afterAll(() => t.close())

const probe = (request: ProbeRequest) =>
  Effect.async<ProbeOutcome>((resume) => {
    const cancel = t.start(request, (o) => resume(Effect.succeed(o)))
    return Effect.sync(cancel)
  })

const req = (address: string, port: number, at = Date.now()): ProbeRequest => ({
  target: { backend: address, address, healthcheck: httpCheck(port), netns: "" },
  scheduledAt: at
})

describe("probes on worker threads", () => {
  it.live("answer each round with its own outcome, from every thread", () =>
    Effect.gen(function*() {
      const s = yield* server
      expect(t.size).toBe(2)
      late.length = 0
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "127.0.0.1" : "127.0.0.2")),
        (address) => probe(req(address, s.port)),
        { concurrency: "unbounded" }
      )
      expect(outcomes.map((o) => ("code" in o ? `${o.code} ${o.detail}` : "skipped"))).toEqual(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "L7OK HTTP 200 OK" : "L7STS HTTP 503 Nope"))
      )
      // Every start's lateness came back for the main thread's histogram.
      expect(late).toHaveLength(20)
      // A TCP check through the same threads; an address that is none is answered without a socket.
      const tcp = yield* probe({ ...req("127.0.0.1", s.port), target: { backend: "t", address: "127.0.0.1", healthcheck: tcpCheck(s.port), netns: "" } })
      expect(tcp).toMatchObject({ ok: true, code: "L4OK" })
      const bad = yield* probe(req("not-an-address", s.port))
      expect(bad).toMatchObject({ code: "L4CON", detail: 'not an IP address: "not-an-address"' })
    }).pipe(Effect.scoped))

  it.live("wait for the due time, and skip a round whose start is too late", () =>
    Effect.gen(function*() {
      const s = yield* server
      const due = Date.now() + 300
      const o = yield* probe(req("127.0.0.1", s.port, due))
      expect(o).toMatchObject({ code: "L7OK" })
      expect(Date.now()).toBeGreaterThanOrEqual(due)
      const skipped = yield* probe({ ...req("127.0.0.1", s.port, Date.now() - 5_000), skipIfLateMs: 1_000 })
      expect(skipped).toMatchObject({ _tag: "ProbeSkipped" })
      expect((skipped as { lateMs: number }).lateMs).toBeGreaterThan(1_000)
    }).pipe(Effect.scoped))

  it.live("cancel a probe in flight: its socket closes and it never answers", () =>
    Effect.gen(function*() {
      const s = yield* server
      const answers: Array<ProbeOutcome> = []
      const cancel = t.start(req("127.0.0.3", s.port), (o) => answers.push(o))
      yield* Effect.async<void>((resume) => {
        const poll = setInterval(() => s.held.length > 0 && (clearInterval(poll), resume(Effect.void)), 5)
      })
      const before = s.closed()
      cancel()
      yield* Effect.async<void>((resume) => {
        const poll = setInterval(() => s.closed() > before && (clearInterval(poll), resume(Effect.void)), 5)
      })
      // A probe after it on the same thread answers: the cancelled one never did.
      expect(yield* probe(req("127.0.0.1", s.port))).toMatchObject({ code: "L7OK" })
      expect(answers).toEqual([])
    }).pipe(Effect.scoped))

  it.live("one target's rounds reuse its slot; a round cancelled before it was sent, or while it waits on the worker, never answers", () =>
    Effect.gen(function*() {
      const s = yield* server
      const target = req("127.0.0.1", s.port).target
      const round = (at = Date.now()) => probe({ target, scheduledAt: at })
      // Rounds back to back on one target (its slot, its target sent to the worker once).
      for (let i = 0; i < 3; i++) expect(yield* round()).toMatchObject({ code: "L7OK" })
      // Started and cancelled in the same turn: the worker never gets it, and nothing answers.
      const answers: Array<ProbeOutcome> = []
      const cancel = t.start({ target, scheduledAt: Date.now() }, (o) => answers.push(o))
      cancel()
      // The next round of the same target answers with its own outcome.
      expect(yield* round()).toMatchObject({ code: "L7OK" })
      expect(answers).toEqual([])
      // A round waiting for its due time on the worker, cancelled there: the next one answers.
      const waiting = t.start({ target, scheduledAt: Date.now() + 60_000 }, (o) => answers.push(o))
      yield* Effect.yieldNow()
      yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      waiting()
      expect(yield* round()).toMatchObject({ code: "L7OK" })
      expect(answers).toEqual([])
    }).pipe(Effect.scoped))

  it.live("a slot's detail crosses only when it changes, and every round still gets its own", () =>
    Effect.gen(function*() {
      // Answers in this order, one a connection.
      const statuses = ["200 OK", "200 OK", "503 Nope", "503 Nope", "200 OK", "503 Busy"]
      const s = yield* Effect.acquireRelease(
        Effect.async<net.Server & { port: number }>((resume) => {
          let n = 0
          const srv = net.createServer((socket) => {
            socket.on("error", () => {})
            socket.once("data", () => socket.end(`HTTP/1.1 ${statuses[n++ % statuses.length]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`))
          })
          srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(Object.assign(srv, { port: (srv.address() as net.AddressInfo).port }))))
        }),
        (srv) => Effect.promise(() => new Promise<void>((r) => srv.close(() => r())))
      )
      const target = req("127.0.0.1", s.port).target
      const details: Array<string> = []
      for (let i = 0; i < statuses.length; i++) {
        const o = yield* probe({ target, scheduledAt: Date.now() })
        details.push("code" in o ? `${o.code} ${o.detail}` : "skipped")
      }
      expect(details).toEqual(["L7OK HTTP 200 OK", "L7OK HTTP 200 OK", "L7STS HTTP 503 Nope", "L7STS HTTP 503 Nope", "L7OK HTTP 200 OK", "L7STS HTTP 503 Busy"])
    }).pipe(Effect.scoped))

  it.live("a thread that dies is replaced; its rounds in flight come back skipped, not failed", () =>
    Effect.gen(function*() {
      const s = yield* server
      const held = yield* Effect.fork(probe(req("127.0.0.3", s.port)))
      yield* Effect.async<void>((resume) => {
        const poll = setInterval(() => s.held.length > 0 && (clearInterval(poll), resume(Effect.void)), 5)
      })
      // Both threads die (whichever holds the probe).
      const dead = t.workers()
      yield* Effect.promise(() => Promise.all(dead.map((w) => w.terminate())))
      expect(yield* held.await.pipe(Effect.flatten)).toMatchObject({ _tag: "ProbeSkipped" })
      expect(exits).toEqual(["exited with 1", "exited with 1"])
      expect(t.workers().filter((w) => dead.includes(w))).toEqual([])
      // The new threads probe (the check's settings sent to them again).
      const again = yield* Effect.all([probe(req("127.0.0.1", s.port)), probe(req("127.0.0.1", s.port))])
      expect(again).toMatchObject([{ code: "L7OK" }, { code: "L7OK" }])
    }).pipe(Effect.scoped))

  it("run code that loads nothing of Effect (a thread's heap would carry its modules: ~20 MB each)", async () => {
    const inputs = await bundleInputs("health/probes/ProbeWorker.ts")
    expect(inputs.filter((f) => f.includes("node_modules/"))).toEqual([])
    expect(inputs.some((f) => f.endsWith("src/health/probes/Http.ts"))).toBe(true)
    // The User-Agent's version only: Version.ts runs git for the commit (three times per thread from a checkout).
    expect(inputs.filter((f) => f.endsWith("src/Version.ts"))).toEqual([])
    expect(inputs.some((f) => f.endsWith("src/PackageVersion.ts"))).toBe(true)
  })

  it("carry a check's settings as plain data, Durations as milliseconds", () => {
    const a = httpCheck(80)
    const wire = ProbeThreads.checkWire(a)
    expect(wire.timeoutMs).toBe(10_000)
    expect(JSON.parse(JSON.stringify(wire))).toEqual(wire)
    // Made once per check: a round sends no settings.
    expect(ProbeThreads.checkWire(a)).toBe(wire)
  })
})

describe("--probe-threads", () => {
  it("takes a count up to 64, or auto: none below 4,000 backends, else one per CPU up to 4", () => {
    expect(Prober.parseThreads("auto", 3999)).toBe(0)
    expect(Prober.parseThreads("auto", 4000)).toBe(Math.min(4, os.availableParallelism()))
    expect(Prober.parseThreads("0", 10_000)).toBe(0)
    expect(Prober.parseThreads("3", 1)).toBe(3)
    expect(Prober.parseThreads("64", 1)).toBe(64)
    for (const bad of ["65", "-1", "1.5", "two", ""]) expect(Prober.parseThreads(bad, 1)).toBeUndefined()
  })
})
