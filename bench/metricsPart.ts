/**
 * npm run bench -- metrics-part: what a scrape costs maglevd's main thread
 * at N backends (N/10 frontends; `--backends 10000` by default, a list
 * allowed): the longest hold of its event loop around each scrape (the
 * first, which used to carry every store series and the layout on cold code;
 * steady ones; the first after a reload to a new layout; a replaced worker's
 * first), as its own CPU time between two ticks of a 1 ms timer
 * (/proc/thread-self/schedstat: ~4 ms steps, a wait for a core not counted)
 * and as wall time, and its CPU per steady scrape.
 *
 * The daemon's services in process with a prober that never answers and the
 * clock held (no probe runs: the store holds what the bench feeds), the real
 * scrape worker, scraped from a thread of its own (a child process' spawn
 * would hold this loop itself). Each N in a fresh process: cold code is the
 * point of the first scrape.
 */
import { Context, Effect, Layer, Logger, TestClock, TestContext } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import * as Daemon from "../src/daemon/Daemon.js"
import * as HealthChecker from "../src/health/HealthChecker.js"
import * as Prober from "../src/health/Prober.js"
import { threadCpuNs } from "../src/metrics/internal/Endpoint.js"
import * as MetricsServer from "../src/metrics/Server.js"
import { feed, scaleConfig } from "../test/metrics/scale.js"

const PREFIX = "mp-"
/** Below the checks' 900 ms timeout in all (the clock is moved three times): no probe ends. */
const ANNOUNCE_MS = 100

/** The loop's longest hold since the last `reset`: a 1 ms timer's largest gap (less its 1 ms), as this thread's CPU and as wall time. */
export const holds = () => {
  const cpuMs = () => threadCpuNs() / 1e6
  let at = performance.now()
  let cpuAt = cpuMs()
  let wall = 0
  let cpu = 0
  const timer = setInterval(() => {
    const now = performance.now()
    const c = cpuMs()
    wall = Math.max(wall, now - at - 1)
    cpu = Math.max(cpu, c - cpuAt)
    at = now
    cpuAt = c
  }, 1)
  return {
    reset: () => {
      wall = 0
      cpu = 0
      at = performance.now()
      cpuAt = cpuMs()
    },
    longest: () => ({ cpu, wall }),
    stop: () => clearInterval(timer)
  }
}

const child = (n: number) =>
  Effect.gen(function*() {
    const config = scaleConfig(n, PREFIX)
    const daemon = Daemon.layer(config, { apiSocket: "", statsSocket: "" }).pipe(Layer.provide(Prober.layerFrom(() => Effect.never)))
    const context = yield* Layer.build(MetricsServer.layer({ port: 0, partWaitMs: 10_000, announceMs: ANNOUNCE_MS }).pipe(Layer.provideMerge(daemon)))
    const server = Context.get(context, MetricsServer.MetricsServer)
    const checker = Context.get(context, HealthChecker.HealthChecker)
    yield* feed(config, 12)
    const scraper = new Worker(
      `const { parentPort } = require("node:worker_threads")
      parentPort.on("message", async (url) => {
        for (;;) {
          const r = await fetch(url).catch(() => undefined)
          if (r === undefined) continue
          parentPort.postMessage([r.status, (await r.arrayBuffer()).byteLength])
          return
        }
      })`,
      { eval: true }
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => scraper.terminate()))
    const h = holds()
    yield* Effect.addFinalizer(() => Effect.sync(h.stop))
    const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
    const rows: Array<readonly [string, string]> = []
    const scrape = (label: string) =>
      Effect.gen(function*() {
        yield* pause(300)
        h.reset()
        const cpu0 = threadCpuNs()
        const [status, bytes] = yield* Effect.promise(() =>
          new Promise<[number, number]>((resolve) => {
            scraper.once("message", resolve)
            scraper.postMessage(server.url)
          })
        )
        yield* pause(50)
        const { cpu, wall } = h.longest()
        if (status !== 200) throw new Error(`${label}: status ${status}`)
        rows.push([label, `${cpu.toFixed(1).padStart(6)} ms CPU ${wall.toFixed(1).padStart(7)} ms wall   (this thread's CPU in all ${((threadCpuNs() - cpu0) / 1e6).toFixed(0)} ms, ${(bytes / 2 ** 20).toFixed(1)} MiB)`])
      })
    // The store's series and the layout told ahead (the announcer, on the clock).
    yield* TestClock.adjust(ANNOUNCE_MS)
    yield* pause(1000)
    h.reset()
    yield* pause(1000)
    rows.push(["idle 1 s", `${h.longest().cpu.toFixed(1).padStart(6)} ms CPU ${h.longest().wall.toFixed(1).padStart(7)} ms wall`])
    yield* scrape("first scrape")
    for (let i = 1; i <= 5; i++) yield* scrape(`steady ${i}`)
    // Ten backends and a frontend more: a new layout.
    yield* checker.reload(scaleConfig(n + 10, PREFIX))
    yield* TestClock.adjust(ANNOUNCE_MS)
    yield* pause(1000)
    yield* scrape("first after a reload")
    const old = server.worker()
    yield* Effect.promise(() => old.terminate())
    while (server.worker() === old) yield* pause(10)
    yield* server.stats
    yield* TestClock.adjust(ANNOUNCE_MS)
    yield* pause(1000)
    yield* scrape("a new worker's first")
    console.log(`\n/metrics, the main thread's part: ${n.toLocaleString("en-US")} backends, ${Math.ceil(n / 10).toLocaleString("en-US")} frontends (in process, the real scrape worker)`)
    console.log("  the longest hold of the main thread's event loop around each scrape (its CPU: /proc/thread-self/schedstat, ~4 ms steps)")
    for (const [label, figures] of rows) console.log(`  ${label.padEnd(22)} ${figures}`)
  }).pipe(Effect.scoped, Effect.provide(TestContext.TestContext), Effect.provide(Logger.remove(Logger.defaultLogger)))

export const run = (flags: ReadonlyArray<string>): void => {
  const at = flags.indexOf("--backends")
  const ns = at < 0 ? [10_000] : flags[at + 1]!.split(",").map(Number)
  for (const n of ns) {
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", String(n)], { stdio: "inherit" })
    if (r.status !== 0) console.error(`metrics-part at ${n} backends exited with ${r.status}`)
  }
  console.log("  (target: no hold of more than a few ms; the wall figures include waits for a core)")
}

if (process.argv[2] === "--child") {
  await Effect.runPromise(child(Number(process.argv[3])))
  process.exit(0)
}
