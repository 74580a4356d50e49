/**
 * maglevd's Prometheus endpoint: `GET /metrics` (HEAD too) answers the text
 * exposition format (Prometheus.ts) of the per-backend store of Metrics.ts,
 * of Effect's metric registry (every other metric of the process) and of the
 * gauges read from the services at that moment (Gauges.ts). Any other path
 * is 404, any other method on /metrics 405. Read-only, no authentication, as
 * Prometheus scrapes it.
 *
 * One render at a time: a scrape that arrives while a render is in flight
 * waits for it and gets the same body. The render is written in slices of up
 * to 50 ms with the event loop let run in between (probes share
 * the loop), and it is abandoned when every scrape waiting for it has gone
 * (the client closed its connection, e.g. Prometheus' scrape timeout).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Data, Deferred, Effect, Fiber, FiberMap, Layer, Metric, Queue, Schedule } from "effect"
import * as HealthChecker from "../health/HealthChecker.js"
import type * as LbSync from "../lb/LbSync.js"
import type * as Supervisor from "../vpp/Supervisor.js"
import * as HttpListener from "../internal/HttpListener.js"
import { spawnBeside } from "../internal/WorkerEntry.js"
import type { Worker } from "node:worker_threads"
import * as Gauges from "./Gauges.js"
import * as Metrics from "./Metrics.js"
import * as Columns from "./Columns.js"
import * as Endpoint from "./internal/Endpoint.js"
import type { EndpointStats, FromWorker, ToWorker, WorkerSettings } from "./internal/ScrapeWire.js"
import * as Prometheus from "./Prometheus.js"
import * as Store from "./Store.js"

export interface MetricsServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  readonly host?: string | undefined
  /** TCP port; default 9091; 0 picks a free one (see `MetricsServer.port`). */
  readonly port?: number | undefined
  /**
   * How long a render waits for the main thread's part before it uses the
   * last one (ms; default `DEFAULT_PART_WAIT_MS`). Tests that read a gauge
   * right after changing it set it high.
   */
  readonly partWaitMs?: number | undefined
  /**
   * How often the worker asks for the main thread's part between scrapes,
   * while it is scraped (ms; default `DEFAULT_PREFETCH_MS`; 0: never): the
   * oldest a part a late main thread leaves a scrape with can be.
   */
  readonly prefetchMs?: number | undefined
  /**
   * How often the store's new series and a new configuration's layout are
   * told to the worker ahead of its parts (ms; default `DEFAULT_ANNOUNCE_MS`;
   * 0: only with the parts).
   */
  readonly announceMs?: number | undefined
}

export type { EndpointStats }

/** `url`: the endpoint, e.g. `http://127.0.0.1:9091/metrics`. */
export interface MetricsServerShape extends HttpListener.Bound {
  /** The endpoint's own counts, as the scrape worker has them now. */
  readonly stats: Effect.Effect<EndpointStats>
  /** The scrape worker now (diagnostics and tests; a new one replaces one that died). */
  readonly worker: () => Worker
}

export class MetricsServer extends Context.Tag("vpp-maglev/MetricsServer")<MetricsServer, MetricsServerShape>() {}

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 9091
export const PATH = "/metrics"

/**
 * How long a render waits for the main thread's part: a main thread that
 * answers within it (a few ms when its loop is free) gives every scrape
 * fresh gauges; one that is blocked or collecting garbage longer gets its
 * last part used, and the scrape is answered anyway.
 */
export const DEFAULT_PART_WAIT_MS = 25

/** A part every 2 s while scraped: ~0.2-0.4 % of a core of the main thread at 10,000 backends. */
export const DEFAULT_PREFETCH_MS = 2_000

/**
 * The store's new series and a new configuration's layout are told to the
 * worker within half a second of their appearance, ahead of the scrapes
 * that need them (and a part catches up first on what was not told yet).
 */
export const DEFAULT_ANNOUNCE_MS = 500

/**
 * Series of the store told per message: ~0.2-1 ms of this thread to clone
 * (the first part of 10,000 backends carried 20,000 at once, with the
 * layout: 11-16 ms of `postMessage`).
 */
export const SERIES_SLICE = 2_000

/**
 * The worker's slices: its loop has nothing else to do but see clients come
 * and go and send what was written (the body is emitted at each slice's
 * end, and the socket takes more of it only while the loop runs), so short.
 */
const WORKER_SLICE_MS = 2

type Services = HealthChecker.HealthChecker | Supervisor.VppSupervisor | LbSync.LbSync

// --- the endpoint's own metrics --------------------------------------------------------

export const renders = Metric.counter(Endpoint.RENDERS, {
  description: Endpoint.RENDERS_HELP,
  incremental: true
})
export const rendersCompleted = Metric.tagged(renders, "outcome", "completed")
export const rendersAbandoned = Metric.tagged(renders, "outcome", "abandoned")

export const scrapesShared = Metric.counter(Endpoint.SHARED, {
  description: Endpoint.SHARED_HELP,
  incremental: true
})

export const scrapesWaiting = Metric.gauge(Endpoint.WAITING, { description: Endpoint.WAITING_HELP })

export const renderSeconds = Metric.gauge(Endpoint.SECONDS, { description: Endpoint.SECONDS_HELP })

export const renderLongestSlice = Metric.gauge(Endpoint.LONGEST_SLICE, { description: Endpoint.LONGEST_SLICE_HELP })

export const renderBytes = Metric.gauge(Endpoint.BYTES, { description: Endpoint.BYTES_HELP })

// --- rendering -----------------------------------------------------------------------

/**
 * One render of the given scrape-time gauges with the per-backend store and
 * Effect's registry, in slices (see `Prometheus.renderChunked`); records its
 * duration and size. `capacity` is a guess of the size (the last one's).
 */
export const renderWith = (
  gauges: ReadonlyArray<Prometheus.Source>,
  options: Prometheus.ChunkedOptions = {}
): Effect.Effect<Buffer> =>
  Effect.gen(function*() {
    const start = performance.now()
    const registry = Prometheus.registrySources(yield* Metric.snapshot)
    const sources = [...Metrics.storeSources(), ...registry, ...gauges]
    const { body, longestSliceMs } = yield* Prometheus.renderChunked(sources, options)
    yield* Metric.set(renderLongestSlice, longestSliceMs / 1000)
    yield* Metric.set(renderSeconds, (performance.now() - start) / 1000)
    yield* Metric.set(renderBytes, body.length)
    yield* Metric.increment(rendersCompleted)
    return body
  })

/** One render over the services' gauges of this moment. */
export const render = (options: Prometheus.ChunkedOptions = {}): Effect.Effect<Buffer, never, Services> =>
  Effect.flatMap(Gauges.collect, (gauges) => renderWith(gauges, options))

/**
 * Output buffers of earlier renders, to write the next one into once their
 * responses are sent (see `Prometheus.Writer`): `hold` when a scrape gets a
 * body, `release` when its response is written; a buffer no response reads
 * any more is the spare the next render takes.
 */
const makeBufferPool = () => {
  let spare: ArrayBuffer | undefined
  const readers = new Map<ArrayBufferLike, number>()
  return {
    take: (): Buffer | undefined => {
      const s = spare
      spare = undefined
      return s === undefined ? undefined : Buffer.from(s)
    },
    hold: (body: Buffer): void => {
      readers.set(body.buffer, (readers.get(body.buffer) ?? 0) + 1)
    },
    release: (body: Buffer): void => {
      const n = (readers.get(body.buffer) ?? 1) - 1
      if (n > 0) return void readers.set(body.buffer, n)
      readers.delete(body.buffer)
      if (body.buffer instanceof ArrayBuffer && (spare === undefined || spare.byteLength < body.buffer.byteLength)) spare = body.buffer
    }
  }
}

interface Flight {
  readonly fiber: Fiber.RuntimeFiber<Buffer>
  /** Scrapes waiting for it. */
  waiters: number
}

/**
 * The body for a scrape: the render in flight if there is one, else a new
 * one. The render runs in a fiber of the server's scope, not the scrape's: a
 * scrape that goes away leaves it to the others; the last one to go
 * interrupts it.
 */
const makeScraper = Effect.gen(function*() {
  const scope = yield* Effect.scope
  const context = yield* Effect.context<Services>()
  // Guards `flight` across the steps of joining and leaving (each a few effects).
  const lock = yield* Effect.makeSemaphore(1)
  let flight: Flight | undefined
  let lastSize = 64 * 1024

  const pool = makeBufferPool()

  const renderOnce = Effect.suspend(() => render({ capacity: lastSize, reuse: pool.take() })).pipe(
    Effect.tap((body) => Effect.sync(() => (lastSize = Math.ceil(body.length * 1.1)))),
    Effect.provide(context)
  )

  const enter = lock.withPermits(1)(Effect.gen(function*() {
    if (flight !== undefined && flight.fiber.unsafePoll() === null) {
      flight.waiters++
      yield* Metric.set(scrapesWaiting, flight.waiters)
      yield* Metric.increment(scrapesShared)
      return flight
    }
    // Forked from within the lock's uninterruptible region: made interruptible again, or abandoning it could not stop it.
    const fiber = yield* Effect.forkIn(Effect.interruptible(renderOnce), scope)
    const mine: Flight = { fiber, waiters: 1 }
    flight = mine
    yield* Metric.set(scrapesWaiting, 1)
    // Done (or interrupted): the next scrape renders afresh.
    fiber.addObserver(() => {
      if (flight !== mine) return
      flight = undefined
      scrapesWaiting.unsafeUpdate(0, [])
    })
    return mine
  }))

  const leave = (f: Flight) =>
    lock.withPermits(1)(Effect.suspend(() => {
      f.waiters--
      if (f.fiber.unsafePoll() !== null) return Effect.void
      if (f.waiters > 0) return Metric.set(scrapesWaiting, f.waiters)
      if (flight === f) flight = undefined
      return Effect.all([
        Metric.set(scrapesWaiting, 0),
        Fiber.interruptFork(f.fiber),
        Metric.increment(rendersAbandoned),
        Effect.logWarning("metrics render abandoned: every scrape waiting for it went away").pipe(
          Effect.annotateLogs({ event: "metrics-render-abandoned" })
        )
      ], { discard: true })
    }))

  // Fiber.await, not Fiber.join: joining would inherit the render fiber's FiberRefs, among them the
  // context of the scrape that started it, and its request would get every waiter's response.
  const wait = Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(enter, (f) => restore(Effect.flatten(Fiber.await(f.fiber))).pipe(Effect.onInterrupt(() => leave(f))))
  )
  // The body is read until the request's scope closes, once the response is written.
  return Effect.tap(wait, (body) =>
    Effect.zipRight(Effect.sync(() => pool.hold(body)), Effect.addFinalizer(() => Effect.sync(() => pool.release(body)))))
})

/**
 * The /metrics route on a router (GET, HEAD; 405 for other methods), scraping
 * through one shared render; a program mounts it on its own router.
 */
export const routes = Effect.gen(function*() {
  const scrape = yield* makeScraper
  return <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
    router.pipe(
      HttpRouter.head(PATH, Effect.succeed(HttpServerResponse.empty({ status: 200, headers: { "content-type": Prometheus.CONTENT_TYPE } }))),
      // The router runs the handler interruptibly: a client's going away stops the wait (and maybe the render).
      HttpRouter.get(PATH, Effect.map(scrape, (body) => HttpServerResponse.uint8Array(body, { contentType: Prometheus.CONTENT_TYPE }))),
      HttpListener.methodNotAllowed(PATH, ["GET", "HEAD"])
    )
})

/** The scrape worker could not listen on the metrics address. */
export class MetricsListenError extends Data.TaggedError("MetricsListenError")<{
  readonly host: string
  readonly port: number
  readonly message: string
}> {}

/** What the main thread hears of its worker: its messages, and its exit. */
type Incoming = FromWorker | { readonly _tag: "Exited"; readonly generation: number; readonly code: number }

/** Families the scrape worker writes itself: the main thread's part leaves them out. */
const WORKER_FAMILIES: ReadonlySet<string> = new Set([...Store.FAMILIES, ...Columns.FAMILIES, ...Endpoint.NAMES])

export interface MainPart {
  /** Every family but the worker's, written as exposition groups. */
  readonly groups: Prometheus.Groups
  /** The per-backend gauges' values (the worker writes their lines) and their configuration's layout. */
  readonly columns: Columns.Columns
  readonly layout: Columns.LayoutData
}

/**
 * The longest stretch the main thread makes its part without letting its
 * event loop run: at 10,000 backends and 1,000 frontends a part is ~6-10 ms
 * of its CPU, and its first several times that (cold code).
 */
export const PART_SLICE_MS = 4

/**
 * The main thread's part of a render, for the scrape worker: the gauges of
 * this moment (Gauges.ts; the services read at once), the per-backend ones
 * as columns of numbers, the others with Effect's registry and the
 * process's families written as exposition groups, in slices of
 * `sliceMs` with the event loop let run between them.
 */
export const mainPart = (
  capacity?: number,
  reuse?: Buffer,
  sliceMs = PART_SLICE_MS,
  spareColumns?: Columns.Columns
): Effect.Effect<MainPart, never, Services> =>
  Effect.gen(function*() {
    const snapshot = yield* Gauges.snapshot
    // A turn between two stages: each starts a slice of its own (back to back, the services' read, the pass's last
    // slice and the groups' first made one hold of up to three slices).
    yield* Prometheus.yieldToEventLoop
    const { columns, layout, rest } = yield* Gauges.splitInSlices(snapshot, sliceMs, spareColumns)
    yield* Prometheus.yieldToEventLoop
    const registry = Prometheus.registrySources(yield* Metric.snapshot)
    const groups = yield* Prometheus.renderGroupsChunked([...registry, ...rest], WORKER_FAMILIES, { capacity, reuse, sliceMs })
    return { groups, columns, layout }
  })

export const make = Effect.fn("MetricsServer.make")(function*(options: MetricsServerOptions) {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const context = yield* Effect.context<Services>()
  const settings: WorkerSettings = {
    host,
    port,
    partWaitMs: options.partWaitMs ?? DEFAULT_PART_WAIT_MS,
    prefetchMs: options.prefetchMs ?? DEFAULT_PREFETCH_MS,
    sliceMs: WORKER_SLICE_MS
  }
  const messages = yield* Queue.unbounded<Incoming>()
  let generation = 0
  let closing = false
  const spawn = (at: WorkerSettings): Worker => {
    const mine = ++generation
    const w = spawnBeside(import.meta.url, "ScrapeWorker", { workerData: at })
    w.on("message", (m: FromWorker) => Queue.unsafeOffer(messages, m))
    w.on("error", (e) => Queue.unsafeOffer(messages, { _tag: "ListenFailed", message: `scrape worker failed: ${e.message}` }))
    w.on("exit", (code) => Queue.unsafeOffer(messages, { _tag: "Exited", generation: mine, code }))
    return w
  }
  let worker: Worker = yield* Effect.acquireRelease(Effect.sync(() => spawn(settings)), () =>
    Effect.promise((): Promise<number> => {
      closing = true
      return worker.terminate()
    }))
  const listening = yield* Deferred.make<{ readonly host: string; readonly port: number }, MetricsListenError>()
  const parts = yield* FiberMap.make<number>()
  const statsReplies = new Map<number, Deferred.Deferred<EndpointStats>>()
  // The worker knows nothing yet: every slab and series so far is told by the first catch-up (`catchUp`, below).
  let mark: Store.Mark = { slabs: 0, entries: 0 }
  let partSize = 64 * 1024
  let sentLayout = 0
  /** A part's buffer the worker gave back (the largest), to write the next part into. */
  let spare: ArrayBuffer | undefined
  /** A part's columns the worker gave back (the last), whose arrays the next part's are written into when of the same sizes. */
  let spareColumns: Columns.Columns | undefined

  const tell = (m: ToWorker) => worker.postMessage(m)

  /** A configuration's layout, unless the worker has it (keys rise: the newest told). */
  const tellLayout = (data: Columns.LayoutData): void => {
    if (data.key <= sentLayout) return
    sentLayout = data.key
    tell({ _tag: "Layout", layout: data })
  }

  /**
   * Tells the worker what it does not know yet, ahead of the parts: the
   * configuration's layout (made in slices, Gauges.layoutAhead), then the
   * store's new series, `SERIES_SLICE` a message, the event loop let run
   * between two. At 10,000 backends and 1,000 frontends both went with the
   * first part, and made it hold this thread's loop ~230 ms once.
   */
  const catchUp: Effect.Effect<void> = Effect.gen(function*() {
    const checker = yield* HealthChecker.HealthChecker
    const layout = yield* Gauges.layoutAhead(yield* checker.config)
    tellLayout(layout.data)
    while (Store.pending(mark) > 0) {
      const next = Store.exportNext(mark, SERIES_SLICE)
      mark = next.mark
      tell({ _tag: "Series", update: next.update })
      if (Store.pending(mark) > 0) yield* Prometheus.yieldToEventLoop
    }
  }).pipe(Effect.provide(context))

  const answer = (id: number) =>
    Effect.zipRight(
      catchUp,
      Effect.flatMap(Effect.suspend(() => {
        const reuse = spare
        const reuseColumns = spareColumns
        spare = undefined
        spareColumns = undefined
        return mainPart(partSize, reuse && Buffer.from(reuse), PART_SLICE_MS, reuseColumns)
      }), ({ columns, groups, layout }) =>
        Effect.sync(() => {
          partSize = Math.ceil(groups.body.length * 1.1)
          // Taken at the moment it is posted, so that the worker gets every new series once and in order (what came
          // since the catch-up: a few).
          const update = Store.exportSince(mark)
          mark = Store.mark()
          // The part's layout goes with it unless it is the newest told (a configuration replaced meanwhile leaves a
          // part with the one before, which the worker may have let go).
          const newLayout = layout.key === sentLayout ? undefined : layout
          sentLayout = Math.max(sentLayout, layout.key)
          const message: ToWorker = { _tag: "Part", id, takenAt: Date.now(), groups, columns, layout: newLayout, update }
          // Transferred, not cloned (a clone is new memory in the worker per part): the columns' arrays too, given
          // back with the groups' buffer once no render reads them (`PartBuffer`). Detached here from now on.
          worker.postMessage(message, [groups.body.buffer as ArrayBuffer, ...Columns.transferable(columns)])
        })).pipe(Effect.provide(context))
    )

  /**
   * A worker that died (a defect: a render's own failure is a 500, not a
   * death) is replaced on the address it had; the new one knows nothing yet.
   */
  const replace = (m: Extract<Incoming, { _tag: "Exited" }>): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (closing || m.generation !== generation) return
      const failed = `scrape worker exited with code ${m.code}`
      if (!(yield* Deferred.isDone(listening))) {
        yield* Deferred.fail(listening, new MetricsListenError({ host, port, message: failed }))
        return
      }
      const { host: boundHost, port: boundPort } = yield* Effect.orDie(Deferred.await(listening))
      yield* Effect.logError("metrics scrape worker failed; a new one takes its place").pipe(
        Effect.annotateLogs({ event: "metrics-worker-failed", reason: failed })
      )
      yield* FiberMap.clear(parts)
      mark = { slabs: 0, entries: 0 }
      sentLayout = 0
      worker = spawn({ ...settings, host: boundHost, port: boundPort })
      // Counts asked of the dead one: the new one answers (its own, from zero).
      for (const reply of statsReplies.keys()) worker.postMessage({ _tag: "StatsRequest", reply } satisfies ToWorker)
    })

  const handle = (m: Incoming): Effect.Effect<void> => {
    switch (m._tag) {
      case "Exited":
        return replace(m)
      case "Listening":
        return Deferred.succeed(listening, { host: m.host, port: m.port })
      case "ListenFailed":
        return Deferred.fail(listening, new MetricsListenError({ host, port, message: m.message })).pipe(
          Effect.zipRight(Effect.logError("metrics scrape worker failed").pipe(Effect.annotateLogs({ event: "metrics-worker-failed", reason: m.message })))
        )
      case "PartRequest":
        return FiberMap.run(parts, m.id, answer(m.id), { onlyIfMissing: true }).pipe(Effect.asVoid)
      case "Abandoned":
        return Effect.zipRight(
          FiberMap.remove(parts, m.id),
          Effect.logWarning("metrics render abandoned: every scrape waiting for it went away").pipe(
            Effect.annotateLogs({ event: "metrics-render-abandoned" })
          )
        )
      case "PartBuffer":
        return Effect.sync(() => {
          if (m.buffer !== undefined && (spare === undefined || spare.byteLength < m.buffer.byteLength)) spare = m.buffer
          if (m.columns !== undefined) spareColumns = m.columns
        })
      case "Stats": {
        const reply = statsReplies.get(m.reply)
        statsReplies.delete(m.reply)
        return reply === undefined ? Effect.void : Deferred.succeed(reply, m.stats)
      }
    }
  }
  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(messages), handle)))
  const announceMs = options.announceMs ?? DEFAULT_ANNOUNCE_MS
  if (announceMs > 0) {
    yield* Effect.forkScoped(catchUp.pipe(
      Effect.catchAllCause((cause) =>
        Effect.logWarning("metrics: telling the scrape worker of new series failed", cause).pipe(Effect.annotateLogs({ event: "metrics-announce-failed" }))
      ),
      Effect.repeat(Schedule.spaced(announceMs))
    ))
  }

  const bound = yield* Deferred.await(listening)
  let nextReply = 0
  const stats = Effect.suspend(() => {
    const reply = ++nextReply
    return Effect.flatMap(Deferred.make<EndpointStats>(), (d) => {
      statsReplies.set(reply, d)
      worker.postMessage({ _tag: "StatsRequest", reply } satisfies ToWorker)
      return Deferred.await(d)
    })
  })
  const origin = `http://${bound.host.includes(":") ? `[${bound.host}]` : bound.host}:${bound.port}`
  const url = `${origin}${PATH}`
  yield* Effect.logInfo("metrics server listening").pipe(Effect.annotateLogs({ event: "metrics-listen", url }))
  return MetricsServer.of({ host: bound.host, port: bound.port, url, stats, worker: () => worker })
})

/** The metrics endpoint over the daemon's services, served by the scrape worker; closing its scope stops it. */
export const layer = (options: MetricsServerOptions = {}) => Layer.scoped(MetricsServer, make(options))
