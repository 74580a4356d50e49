/**
 * The reconcile bench's HTTP backends (reconcileProcs.ts): one listener per
 * address, all on one port, each answering 200 to whatever it is sent; a flip
 * closes one (connection refused) and opens it again.
 *
 * They run in a process of their own, not on the bench's event loop. That
 * loop also reads maglevd's log, 33,000 JSON lines in the few seconds of the
 * first programming; under load it fell behind by up to 280-460 ms just after
 * (measured there, load 6-15 with both cores burnt), and a backend on the fast
 * check (timeout 200 ms, fall 1) then did not answer in time: a true L7TOUT,
 * so maglevd marked it down and, when that fell in the no-change syncs, the
 * sync planned its 1,000 weights ("a no-change sync planned 1000 mutations").
 * On a thread of the bench's process they still answered late once in a full
 * run at load 14 with both cores burnt (one 200 ms check timed out, maglevd not
 * late): the process is niced to -5 where allowed, so that a machine starved
 * of CPU delays maglevd, which the bench measures, and not its backends,
 * which stand for other machines. The bench's own lateness is not what it
 * measures. But niced or not, on a machine whose cores another process
 * burns the backends' own loop was late too (by over 50 ms 5-42 times a run
 * under `stress-ng --cpu 2`, up to 422 ms): the process watches its own loop
 * and, at the end, says how often it was late by over a quarter of the fast
 * check's timeout and the longest, so that a check that timed out then is
 * read as what it may be, the backends' lateness.
 * RECONCILE_BACKENDS_LAG=file records every late tick there (to set beside
 * maglevd's trace points).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as os from "node:os"

/**
 * A lag of the backends' own loop that could make a check time out: a quarter of the fast check's
 * 200 ms (what maglevd's own lateness may be before a timeout is not counted: SelfLate.ts).
 */
const LATE_MS = 50

/** The process's code (CommonJS, no TypeScript: no loader to start). */
const CHILD = `
const net = require("node:net")
const parentPort = { on: (e, f) => process.on(e, f), postMessage: (m) => process.send(m) }
process.on("disconnect", () => process.exit(0))
const RESPONSE = "HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n"
const servers = new Map()
// This process's own event-loop lag (a 10 ms ticker): how often it was late by over LATE_MS, and the
// longest (the "lag" op). RECONCILE_BACKENDS_LAG=file also writes every tick later than 2 ms there at exit,
// as "<epoch ms> backends-lag <ms>" lines, beside maglevd's trace points.
const { performance } = require("node:perf_hooks")
const lagFile = process.env.RECONCILE_BACKENDS_LAG
const lags = []
const late = { over: 0, longest: 0, at: 0 }
/** The late ticks (lag over LATE_MS): [lag ms, epoch ms when it ended], the first 1,000. */
const spans = []
let last = performance.now()
setInterval(() => {
  const t = performance.now()
  const lag = t - last - 10
  last = t
  if (lag > ${LATE_MS} && late.over++ < 1000) spans.push([lag, performance.timeOrigin + t])
  if (lag > late.longest) Object.assign(late, { longest: lag, at: performance.timeOrigin + t })
  if (lagFile && lag > 2) lags.push((performance.timeOrigin + t).toFixed(3) + " backends-lag " + lag.toFixed(3))
}, 10).unref()
if (lagFile) {
  process.on("exit", () => require("node:fs").writeFileSync(lagFile, lags.join("\\n") + "\\n"))
  process.on("SIGTERM", () => process.exit(0))
}
parentPort.on("message", ({ id, op, address, port }) => {
  const reply = (m) => parentPort.postMessage({ id, ...m })
  if (op === "lag") return reply({ late: { ...late, spans: [...spans].sort((a, b) => b[0] - a[0]).slice(0, 5) } })
  if (op === "start") {
    const server = net.createServer((s) => {
      s.once("data", () => s.end(RESPONSE))
      s.on("error", () => {})
    })
    const failed = (e) => reply({ error: address + ":" + port + ": " + e.message })
    server.once("error", failed)
    server.listen(port, address, () => {
      server.off("error", failed)
      servers.set(address, server)
      reply({ port: server.address().port })
    })
  } else {
    const server = servers.get(address)
    servers.delete(address)
    if (server === undefined) reply({})
    else server.close(() => reply({}))
  }
})
`

/** How late the backends' own loop was: ticks over LATE_MS, and the longest (ms, at epoch ms). */
export interface BackendsLate {
  readonly over: number
  readonly longest: number
  readonly at: number
  /** The five longest: [lag ms, epoch ms when it ended]. */
  readonly spans: ReadonlyArray<readonly [number, number]>
}

interface Answer {
  readonly id: number
  readonly port?: number
  readonly error?: string
  readonly late?: BackendsLate
}

/** The listeners' process: `start` and `stop` by address, answered in order. */
export class BackendProcess {
  private readonly child: ChildProcess = spawn(process.execPath, ["-e", CHILD], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  private readonly waiting = new Map<number, (a: Answer) => void>()
  private nextId = 0

  constructor() {
    try {
      os.setPriority(this.child.pid!, -5)
    } catch {
      // not allowed here: it runs at the bench's priority
    }
    // A process that dies fails what waits on it (with its exit), not hangs it.
    this.child.on("exit", (code, signal) => {
      for (const [id, w] of this.waiting) w({ id, error: `the backends' process exited (${code ?? signal})` })
      this.waiting.clear()
    })
    this.child.on("message", (a: Answer) => {
      const w = this.waiting.get(a.id)
      this.waiting.delete(a.id)
      w?.(a)
    })
  }

  private ask(op: "start" | "stop" | "lag", address = "", port = 0): Promise<Answer> {
    const id = this.nextId++
    return new Promise((resolve) => {
      this.waiting.set(id, resolve)
      // A process already gone answers with the send's error (not an unhandled 'error' event that ends the bench
      // before it removes its temp dir).
      this.child.send({ id, op, address, port }, (e) => {
        if (e === null || !this.waiting.delete(id)) return
        resolve({ id, error: `the backends' process: ${e.message}` })
      })
    })
  }

  /** Listens on address:port (0: any free port); the port listened on. */
  async start(address: string, port: number): Promise<number> {
    const a = await this.ask("start", address, port)
    if (a.error !== undefined) throw new Error(a.error)
    return a.port!
  }

  /** Closes address's listener (nothing when it has none). */
  async stop(address: string): Promise<void> {
    await this.ask("stop", address)
  }

  /** The process's id. */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** How late the process's own loop has been so far. */
  async late(): Promise<BackendsLate | undefined> {
    return (await this.ask("lag")).late
  }

  /**
   * Ends the process and its listeners; says first when its own loop was late by over LATE_MS (a check
   * that timed out then may be the backends' own lateness: they share the machine, maglevd's CPU pressure
   * included).
   */
  async close(): Promise<void> {
    const c = this.child
    if (c.exitCode !== null || c.signalCode !== null) return
    const late = await this.late()
    if (late !== undefined && late.over > 0) {
      const when = (lag: number, end: number) => `${lag.toFixed(0)} ms from ${new Date(end - lag).toISOString().slice(11)} to ${new Date(end).toISOString().slice(11)}`
      console.log(
        `  the backends' own process was late by over ${LATE_MS} ms ${late.over} times (the longest: ${
          late.spans.map(([lag, end]) => when(lag, end)).join(", ")
        }): a check that timed out then may be the backends' lateness (they share the machine), not maglevd's`
      )
    }
    return new Promise((resolve) => {
      c.once("exit", () => resolve())
      c.kill()
    })
  }
}

/** One backend: its address's listener on the thread. */
export class Backend {
  constructor(readonly thread: BackendProcess, readonly address: string) {}
  start(port: number): Promise<number> {
    return this.thread.start(this.address, port)
  }
  stop(): Promise<void> {
    return this.thread.stop(this.address)
  }
}

/**
 * `addresses.length` backends on one free port (the first listener's, tried
 * again if another address has it taken), in a process of their own; `close`
 * ends them all.
 */
export const startBackends = async (
  addresses: ReadonlyArray<string>
): Promise<{ port: number; backends: Array<Backend>; close: () => Promise<void> }> => {
  const thread = new BackendProcess()
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const backends = addresses.map((a) => new Backend(thread, a))
      try {
        const port = await backends[0]!.start(0)
        for (let i = 1; i < backends.length; i++) await backends[i]!.start(port)
        return { port, backends, close: () => thread.close() }
      } catch {
        for (const b of backends) await b.stop()
      }
    }
  } catch (e) {
    await thread.close()
    throw e
  }
  await thread.close()
  throw new Error(`no port free on all of ${addresses[0]}-${addresses[addresses.length - 1]}`)
}
