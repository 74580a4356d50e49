/**
 * What the main thread tells the scrape worker ahead of its parts
 * (Server.ts, `catchUp`): the configuration's layout when it appears and
 * the metric store's new series, in messages of at most `SERIES_SLICE`
 * series, so that no part carries them (at 10,000 backends the first part
 * carried 20,000 series and the layout, and held this thread ~230 ms).
 *
 * The daemon's services with a prober that never answers (no probe ends, no
 * transition: the store holds what the test feeds), the clock held
 * (TestClock: the announcer runs when the test moves it), the real scrape
 * worker over real HTTP. The messages to the worker are read by a spy on
 * `Worker.prototype.postMessage` that calls through. No timing: each step
 * waits for the messages it needs, a turn of the event loop at a time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, TestClock } from "effect"
import { Worker } from "node:worker_threads"
import { vi } from "vitest"
import type { Config } from "../../src/config/index.js"
import * as Daemon from "../../src/daemon/Daemon.js"
import * as Gauges from "../../src/metrics/Gauges.js"
import * as Prometheus from "../../src/metrics/Prometheus.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { probeResult } from "../../src/health/ProbeResult.js"
import type { ToWorker } from "../../src/metrics/internal/ScrapeWire.js"
import * as Metrics from "../../src/metrics/Metrics.js"
import * as MetricsServer from "../../src/metrics/Server.js"
import * as Store from "../../src/metrics/Store.js"
import { parse } from "./exposition.js"
import { allUp, feed, scaleConfig } from "./scale.js"

/** Two series per backend: more than one slice's worth. */
const N = 1_100
const PREFIX = "ann-"
const ANNOUNCE_MS = 100

/** A turn of the event loop (the announcer lets it run between two slices). */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

type Series = Extract<ToWorker, { _tag: "Series" }>
type Part = Extract<ToWorker, { _tag: "Part" }>

describe("the scrape worker told ahead of its parts", () => {
  it.scoped("the layout and the store's series before any scrape, in slices; a part carries only what is new; a reload's layout ahead; a new worker told anew", () =>
    Effect.gen(function*() {
      // Every message to a worker, and to which (the spy calls through).
      const spy = vi.spyOn(Worker.prototype, "postMessage")
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      const sent = (to: Worker): Array<ToWorker> =>
        spy.mock.calls.flatMap(([m], i) => (spy.mock.contexts[i] === to ? [m as ToWorker] : []))
      const tagged = <T extends ToWorker["_tag"]>(to: Worker, tag: T) =>
        sent(to).filter((m): m is Extract<ToWorker, { _tag: T }> => m._tag === tag)
      const seriesTold = (to: Worker) => tagged(to, "Series").reduce((n, m) => n + m.update.entries.length, 0)
      /** Waits, a turn at a time, until `to` was told of every series the store has. */
      const toldAll = (to: Worker) =>
        Effect.gen(function*() {
          for (let i = 0; seriesTold(to) < Store.mark().entries; i++) {
            if (i > 10_000) throw new Error(`the worker was told of ${seriesTold(to)} series of ${Store.mark().entries}`)
            yield* turn
          }
        })

      const config = scaleConfig(N, PREFIX)
      const prober = Prober.layerFrom(() => Effect.never)
      const daemon = Daemon.layer(config, { apiSocket: "", statsSocket: "" }).pipe(Layer.provide(prober))
      const context = yield* Layer.build(
        MetricsServer.layer({ port: 0, partWaitMs: 60_000, prefetchMs: 0, announceMs: ANNOUNCE_MS }).pipe(Layer.provideMerge(daemon))
      )
      const server = Context.get(context, MetricsServer.MetricsServer)
      const checker = Context.get(context, HealthChecker.HealthChecker)
      // A new worker refuses connections until it listens: tried again, a turn later, until it answers.
      const scrape = Effect.promise(async () => {
        for (let i = 0;; i++) {
          const r = await fetch(server.url).catch((e: unknown) => {
            if (i > 10_000) throw e
            return undefined
          })
          if (r === undefined) {
            await new Promise((resolve) => setImmediate(resolve))
            continue
          }
          expect(r.status).toBe(200)
          return parse(await r.text())
        }
      })
      const mine = (m: ReturnType<typeof parse>, family: string) =>
        m.get(family)?.samples.filter((s) => s.labels["backend"]?.startsWith(PREFIX)) ?? []

      // A probe series and a transition series per backend: 2,200 series.
      yield* feed(config, 1)
      const first = server.worker()
      yield* TestClock.adjust(ANNOUNCE_MS)
      yield* toldAll(first)

      // The configuration's layout, once; the series in slices of at most SERIES_SLICE, as few as that allows; no part.
      const layouts = tagged(first, "Layout")
      expect(layouts).toHaveLength(1)
      expect(layouts[0]!.layout.names).toHaveLength(N)
      expect(layouts[0]!.layout.rows).toHaveLength(N)
      const slices = tagged(first, "Series").map((m: Series) => m.update.entries.length)
      expect(Math.max(...slices)).toBeLessThanOrEqual(MetricsServer.SERIES_SLICE)
      expect(slices.length).toBeGreaterThanOrEqual(Math.ceil(2 * N / MetricsServer.SERIES_SLICE))
      expect(tagged(first, "Part")).toHaveLength(0)

      // The first scrape's part carries neither: the body has every series all the same.
      const m1 = yield* scrape
      const parts1 = tagged(first, "Part")
      expect(parts1).toHaveLength(1)
      expect(parts1[0]!.layout).toBeUndefined()
      expect(parts1[0]!.update.entries).toHaveLength(0)
      expect(mine(m1, "maglev_probe_total")).toHaveLength(N)
      expect(mine(m1, "maglev_backend_transitions_total")).toHaveLength(N)
      expect(mine(m1, "maglev_frontend_pool_backend_weight")).toHaveLength(N)

      // A series that appears after the first render, the clock held (nothing told ahead): in the next body.
      Metrics.probeRecorder(`${PREFIX}late`, "tcp").record(probeResult("L4OK", 2, ""))
      const m2 = yield* scrape
      expect(mine(m2, "maglev_probe_total").filter((s) => s.labels["backend"] === `${PREFIX}late`)).toEqual([
        expect.objectContaining({ labels: expect.objectContaining({ type: "tcp", code: "L4OK" }), value: 1 })
      ])

      // A reload to other frontends: its layout told ahead of the next scrape, which uses it; a reload to a
      // configuration of the same shape (as an operator's weight makes) keeps the layout (the worker has it).
      const reloaded = scaleConfig(N, PREFIX.replace("-", "x-"))
      const sameShape: Config = scaleConfig(N, PREFIX.replace("-", "x-"))
      const before = tagged(first, "Layout").length
      yield* checker.reload(reloaded)
      yield* TestClock.adjust(ANNOUNCE_MS)
      for (let i = 0; tagged(first, "Layout").length === before; i++) {
        if (i > 10_000) throw new Error("no layout told after the reload")
        yield* turn
      }
      const told = tagged(first, "Layout").at(-1)!.layout
      expect(told.rows[0]).toContain(`frontend="${PREFIX.replace("-", "x-")}`)
      const m3 = yield* scrape
      const part3 = tagged(first, "Part").at(-1)! as Part
      expect(part3.layout).toBeUndefined()
      expect(part3.columns.layout).toBe(told.key)
      expect(m3.get("maglev_frontend_pool_backend_weight")!.samples.filter((s) => s.labels["frontend"]?.startsWith(PREFIX.replace("-", "x-")))).toHaveLength(N)
      yield* checker.reload(sameShape)
      yield* TestClock.adjust(ANNOUNCE_MS)
      yield* scrape
      expect(tagged(first, "Layout")).toHaveLength(before + 1)
      expect((tagged(first, "Part").at(-1)! as Part).columns.layout).toBe(told.key)

      // A worker that dies: the new one is told everything anew, in slices, and its first part carries none of it.
      yield* Effect.promise(() => first.terminate())
      for (let i = 0; server.worker() === first; i++) {
        if (i > 100_000) throw new Error("the scrape worker was not replaced")
        yield* turn
      }
      const second = server.worker()
      // It answers once it runs (its listening socket a moment after: the scrape tries again until it answers).
      yield* server.stats
      yield* TestClock.adjust(ANNOUNCE_MS)
      yield* toldAll(second)
      expect(Math.max(...tagged(second, "Series").map((m) => m.update.entries.length))).toBeLessThanOrEqual(MetricsServer.SERIES_SLICE)
      expect(tagged(second, "Layout").map((m) => m.layout.key)).toEqual([told.key])
      const m4 = yield* scrape
      expect(tagged(second, "Part")[0]!.update.entries).toHaveLength(0)
      expect(mine(m4, "maglev_probe_total")).toHaveLength(N + 1)
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))), 120_000)

  it.effect("the part in slices (every step a slice here) is the part at once, byte for byte", () =>
    Effect.gen(function*() {
      const config = scaleConfig(700, "sl-")
      const health = [...allUp(config)].map(([, h], i) => (i % 3 === 0 ? { ...h, status: "down" as const, counter: 0 } : h))
      const snapshot: Gauges.Snapshot = { config, health, vppConnected: true, vipCounters: new Map() }
      const whole = Gauges.split(snapshot)
      const sliced = yield* Gauges.splitInSlices(snapshot, 0)
      expect(sliced.layout).toBe(whole.layout)
      expect(sliced.columns).toEqual(whole.columns)
      const except = new Set(["maglev_backend_state"])
      const once = Prometheus.renderGroups(whole.rest, except)
      const chunked = yield* Prometheus.renderGroupsChunked(sliced.rest, except, { sliceMs: 0 })
      expect(chunked.names).toEqual(once.names)
      // Up to the process's families, which move by themselves between the two.
      const moving = once.names.findIndex((n) => n.startsWith("process_"))
      expect(chunked.ends.slice(0, moving)).toEqual(once.ends.slice(0, moving))
      const still = (g: Prometheus.Groups) => Buffer.from(g.body).toString("utf8").split("\n").filter((l) => !/process_/.test(l)).join("\n")
      expect(still(chunked)).toBe(still(once))
      expect(once.names).toContain("maglev_frontend_state")
    }))
})
