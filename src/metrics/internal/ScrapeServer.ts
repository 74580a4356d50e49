/**
 * The scrape worker's server (ScrapeWorker.ts runs it on its thread; tests
 * run it in process): GET /metrics rendered from the metric store's shared
 * memory and the main thread's part, which it asks for with `post` (Server.ts
 * answers).
 *
 * A render:
 * 1. asks the main thread for its part (PartRequest): the gauges read at
 *    scrape time (Gauges.ts), Effect's registry and the process's families,
 *    already written as exposition groups, with the metric store's new
 *    series since the last part (Store.ts);
 * 2. meanwhile writes the metric store's families ahead from shared memory
 *    (the values as they are at that moment; internal/Merge.ts,
 *    `writeAhead`);
 * 3. waits for the part at most `partWaitMs`; past that it takes the last
 *    part it has (counted: `maglev_metrics_stale_renders_total`; its age is
 *    `maglev_metrics_part_age_seconds`), or, before the first part ever,
 *    waits on;
 * 4. with the part, writes every family in name order (`writeInOrder`),
 *    streaming the body to every scrape waiting for it as it is written
 *    (chunked: no length is known before the end), so that sending the
 *    ~18 MB of 10,000 backends overlaps writing them.
 *
 * One render at a time: a scrape arriving while one is in flight waits for
 * it and gets the same body, what was sent so far first. The render is
 * abandoned when every scrape waiting for it has gone (checked between
 * slices), and the main thread is told (its part, if still being read, is
 * no longer wanted). A render that fails before its first byte answers 500;
 * after it, the connection is closed (the client sees the body cut short).
 *
 * Plain `node:http` and no Effect: the `effect` package alone adds ~18 MB of
 * RSS to a worker (measured: a worker with node:http 10 MB, with `effect`
 * 28 MB, with @effect/platform's HTTP server 79 MB unbundled), against the
 * issue's RSS target at 10,000 backends. This server answers one path:
 * GET and HEAD (headers only, no render), 405 with `Allow` for other
 * methods, 404 elsewhere, as the in-process route does.
 */
import * as http from "node:http"
import * as Columns from "../Columns.js"
import { CONTENT_TYPE, type Groups, Writer } from "../Exposition.js"
import * as Endpoint from "./Endpoint.js"
import { Families, Slices, writeAhead, writeInOrder } from "./Merge.js"
import type { EndpointStats, FromWorker, ToWorker, WorkerSettings } from "./ScrapeWire.js"
import { Replica } from "../Store.js"

const PATH = "/metrics"
const PREFETCH_IDLE_MS = 5 * 60_000

/**
 * The last body's buffer (~15 MB resident at 10,000 backends) is kept to
 * write the next render into; after this long without a scrape its pages are
 * given back (`ServeHooks.discard`), and the next render writes into zeroed
 * pages (a page fault each: ~40-45 ms of this thread's CPU for 16 MB, measured on
 * this 2-core VM). Longer than a Prometheus' usual interval (15 s, 1 minute by
 * default), which keeps it.
 */
export const DISCARD_IDLE_MS = 90_000

/**
 * A render's buffer before any body's size is known (the worker's first):
 * this many bytes for each store series and each backend and pool row of the
 * newest layout, all told ahead of the scrapes (a body is ~1.9 KB a backend
 * with one check). Generous on purpose: a buffer's pages count in RSS only
 * once written, while one grown by doubling from a small guess left every
 * smaller copy behind, ~32 MiB at 10,000 backends that an idle worker's
 * collector had not given back by the next scrape (+the same on maglevd's
 * peak RSS).
 */
export const FIRST_GUESS_BYTES = 2048

interface Part {
  readonly id: number
  readonly takenAt: number
  readonly groups: Groups
  readonly columns: Columns.Columns
}

interface Flight {
  readonly id: number
  readonly waiters: Set<http.ServerResponse>
  abandoned: boolean
  /** The main thread's part it writes from, once chosen. */
  part?: Part
  /** The body's pieces sent so far, in order (for a scrape that joins halfway), and their length. */
  readonly pieces: Array<Uint8Array>
  length: number
}

export interface ServeHooks {
  /** How a render lets the event loop run between two slices (default: one turn, setImmediate); tests pace a render with it. */
  readonly turn?: () => Promise<void>
  /**
   * Drops the pages of the last body's buffer, kept for the next render, once
   * nothing was scraped for `discardIdleMs` (ScrapeWorker.ts: the native
   * addon's `discardPages`; default: never). Tests watch it.
   */
  readonly discard?: ((buffer: ArrayBuffer) => void) | undefined
  /** How long without a scrape before `discard` (default `DISCARD_IDLE_MS`; tests: 0, at once). */
  readonly discardIdleMs?: number
}

export interface Serving {
  /** Handles a message from the main thread. */
  readonly receive: (m: ToWorker) => void
  readonly server: http.Server
}

/** Serves GET /metrics on `settings`' address; `post` sends the main thread a message. */
export const serve = (
  settings: WorkerSettings,
  post: (m: FromWorker, transfer?: ReadonlyArray<ArrayBuffer>) => void,
  hooks: ServeHooks = {}
): Serving => {
  const replica = new Replica()
  /** The families that did not change since a render wrote them are sent as it wrote them. */
  const families = new Families()
  const stats = { completed: 0, abandoned: 0, shared: 0, stale: 0 }
  let last: Endpoint.LastRender | undefined
  let lastPart: Part | undefined
  /** Each configuration's layout by key, as the main thread sent it (once, ahead of its parts or with the first). */
  const layouts = new Map<number, Columns.Layout>()
  /** The newest layout told (keys rise): kept for the parts to come. */
  let newestLayout = 0
  const addLayout = (data: Columns.LayoutData) => {
    // Its families kept between renders (`keep`: each backend's place in them marked, for a patch when values change).
    layouts.set(data.key, Columns.layout(data, true))
    newestLayout = Math.max(newestLayout, data.key)
  }
  /** The layouts of the parts kept (the last one, those renders write from) and the newest told. */
  const pruneLayouts = () => {
    const kept = new Set([lastPart?.columns.layout, newestLayout, ...[...held.keys()].map((h) => h.columns.layout)])
    for (const key of layouts.keys()) if (!kept.has(key)) layouts.delete(key)
  }
  /** The parts renders write from (one, but for an abandoned render that has not seen it yet). */
  const held = new Map<Part, number>()
  /** Who waits for the part of which render. */
  const partWaiters = new Map<number, (part: Part) => void>()
  /** The part requests the main thread has not answered yet, and when each was made (performance.now()). */
  const asked = new Map<number, number>()
  const ask = (id: number) => {
    asked.set(id, performance.now())
    post({ _tag: "PartRequest", id })
  }
  /** How long the main thread took to answer its last part request, ms. */
  let lastAnswerMs = 0
  /**
   * The main thread is late (blocked, busy, collecting): its last answer took
   * longer than a render waits, or a request is outstanding longer than that.
   */
  const late = () => {
    if (lastAnswerMs > settings.partWaitMs) return true
    const now = performance.now()
    for (const at of asked.values()) if (now - at > settings.partWaitMs) return true
    return false
  }
  let nextId = 0
  let flight: Flight | undefined
  /** The last body's size and more (the next render's first guess: its buffer is not grown, which copies). */
  let size: number | undefined
  /** Before the first body: from what the worker was told (`FIRST_GUESS_BYTES`). */
  const firstGuess = (): number => {
    const l = layouts.get(newestLayout)?.data
    return 64 * 1024 + FIRST_GUESS_BYTES * (replica.seriesCount + (l === undefined ? 0 : l.names.length + l.rows.length))
  }
  /** The last body's buffer, reused by the next render once no response reads it. */
  let spare: Buffer | undefined
  let spareReaders = 0
  /**
   * The spare's pages given back once idle (`ServeHooks.discard`): checked
   * when a render ends and when its last response is done; the timer is
   * re-armed by each of those, so it fires `discardIdleMs` after the last.
   */
  let discardTimer: NodeJS.Timeout | undefined
  let discarded: ArrayBuffer | undefined
  const discardIdleMs = hooks.discardIdleMs ?? DISCARD_IDLE_MS
  const idle = () => {
    const discard = hooks.discard
    if (discard === undefined) return
    if (discardTimer !== undefined) clearTimeout(discardTimer)
    discardTimer = setTimeout(() => {
      discardTimer = undefined
      // A render in flight has taken the spare (or will, once nobody reads it); a body still being read is not idle.
      const b = spare?.buffer
      if (flight !== undefined || spareReaders > 0 || !(b instanceof ArrayBuffer) || b === discarded) return
      discarded = b
      discard(b)
    }, discardIdleMs)
    discardTimer.unref()
  }

  /**
   * A part's buffers back to the main thread once nothing reads them: it
   * writes its next part into them. Left to this thread's collector, the
   * ~5 MB parts of 10,000 backends piled up as external memory (its heap is
   * small, so it seldom collects): +35 MB of RSS; and the columns, cloned,
   * were ~210 KB of this thread's malloc arena per part, every 2 s while it
   * prefetches: +10 MiB over 5 minutes. Detached here from then on: the kept
   * families' versions are copies of their own (Merge's `Families`), and a
   * part given back is neither `lastPart` nor held by a render.
   */
  const giveBack = (part: Part) => {
    const b = part.groups.body.buffer
    const buffer = b instanceof ArrayBuffer && b.byteLength > 0 ? b : undefined
    const columns = Columns.transferable(part.columns)
    if (buffer === undefined && columns.length === 0) return
    post({ _tag: "PartBuffer", buffer, columns: columns.length > 0 ? part.columns : undefined }, buffer === undefined ? columns : [buffer, ...columns])
  }

  const statsNow = (): EndpointStats => ({ ...stats, waiting: flight?.waiters.size ?? 0 })

  /**
   * Between scrapes, a part every `prefetchMs` (one at a time; 0: never): when the
   * main thread does not answer a scrape in time, the part that scrape gets
   * is at most that old (plus the main thread's own lateness), not as old as
   * the last scrape. Only while scraped: it stops `PREFETCH_IDLE_MS` after
   * the last scrape. ~3-8 ms of the main thread's CPU per part at 10,000
   * backends.
   */
  let prefetchTimer: NodeJS.Timeout | undefined
  let prefetching: number | undefined
  let lastScrapeAt = 0
  const prefetch = () => {
    if (performance.now() - lastScrapeAt > PREFETCH_IDLE_MS) {
      clearInterval(prefetchTimer)
      prefetchTimer = undefined
      return
    }
    if (prefetching !== undefined || flight !== undefined || asked.size > 0) return
    prefetching = ++nextId
    ask(prefetching)
  }
  const scraped = () => {
    lastScrapeAt = performance.now()
    if (settings.prefetchMs > 0) prefetchTimer ??= setInterval(prefetch, settings.prefetchMs)
  }

  const onPart = (m: Extract<ToWorker, { _tag: "Part" }>) => {
    if (m.id === prefetching) prefetching = undefined
    const at = asked.get(m.id)
    if (at !== undefined) lastAnswerMs = performance.now() - at
    asked.delete(m.id)
    // Every update in order, whichever render asked for it: the series lists only grow.
    replica.apply(m.update)
    if (m.layout !== undefined) addLayout(m.layout)
    const part: Part = { id: m.id, takenAt: m.takenAt, groups: m.groups, columns: m.columns }
    // Parts come in the order the main thread posted them: each is the newest.
    const old = lastPart
    lastPart = part
    if (old !== undefined && !held.has(old)) giveBack(old)
    pruneLayouts()
    const waiter = partWaiters.get(m.id)
    partWaiters.delete(m.id)
    waiter?.(part)
  }

  /**
   * The main thread's part for render `f`: its answer, or past `partWaitMs`
   * the last one there is. The part is the render's (`held`: not given back)
   * from the moment it is chosen, not from when the render gets to it: other
   * parts may come while the render writes the store's half.
   */
  const partFor = (f: Flight): Promise<{ readonly part: Part; readonly stale: boolean }> =>
    new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const choose = (part: Part, stale: boolean) => {
        if (f.abandoned) return
        held.set(part, (held.get(part) ?? 0) + 1)
        f.part = part
        resolve({ part, stale })
      }
      // The main thread is late: its last part at once, no wait. A request for the next render's part, unless one
      // is outstanding (one at a time): its answer, when it comes, is the next render's.
      const last = lastPart
      if (last !== undefined && late()) {
        if (asked.size === 0) ask(f.id)
        return choose(last, true)
      }
      partWaiters.set(f.id, (part) => {
        if (timer !== undefined) clearTimeout(timer)
        choose(part, false)
      })
      ask(f.id)
      timer = setTimeout(() => {
        timer = undefined
        if (lastPart === undefined) return // nothing to fall back on: the answer it is
        partWaiters.delete(f.id)
        choose(lastPart, true)
      }, settings.partWaitMs)
    })

  const abandon = (f: Flight) => {
    if (f.abandoned) return
    f.abandoned = true
    if (flight === f) flight = undefined
    stats.abandoned++
    partWaiters.delete(f.id)
    // The main thread drops the request (if it was this render's): no answer to wait for.
    asked.delete(f.id)
    post({ _tag: "Abandoned", id: f.id })
  }

  /**
   * A response reads the render's buffers from its first piece until it is
   * done or closed: the next render writes into them only once none does.
   */
  const begin = (res: http.ServerResponse) => {
    if (res.headersSent) return
    spareReaders++
    let released = false
    const release = () => {
      if (released) return
      released = true
      if (--spareReaders === 0) idle()
    }
    res.once("close", release)
    res.once("finish", release)
    // No length: the body is sent as it is written (chunked).
    res.writeHead(200, { "content-type": CONTENT_TYPE })
  }

  /** A piece of the body, final, to every scrape waiting (and kept for those joining later). */
  const emit = (f: Flight, piece: Uint8Array) => {
    if (piece.length === 0) return
    f.pieces.push(piece)
    f.length += piece.length
    for (const res of f.waiters) {
      if (res.destroyed) continue
      begin(res)
      res.write(piece)
    }
  }

  /** The spare buffer, if no response still reads the last body. */
  const take = (): Buffer | undefined => {
    if (spareReaders > 0) return undefined
    // Nobody reads an earlier body: neither the kept families' replaced bytes.
    families.recycle()
    const b = spare
    spare = undefined
    discarded = undefined
    return b
  }

  const run = async (f: Flight) => {
    const start = performance.now()
    const cpu = Endpoint.threadCpuNs()
    const slices = new Slices(settings.sliceMs, () => f.abandoned, hooks.turn)
    // Asked first: the main thread reads its part while this thread writes the store's families ahead.
    const partPromise = partFor(f)
    try {
      // One buffer for the whole body: phase 1 writes the store's families ahead, phase 2 the rest after them.
      const body = new Writer(size ?? firstGuess(), take())
      const ahead = await writeAhead(replica.sources(), body, slices, () => f.part !== undefined, families)
      if (ahead === undefined || f.abandoned) return
      const { part, stale } = await partPromise
      if (f.abandoned) return
      if (stale) stats.stale++
      const layout = layouts.get(part.columns.layout)
      if (layout === undefined) throw new Error(`metrics part ${part.id}: layout ${part.columns.layout}, which no part brought`)
      const own = [...Columns.sources(layout, part.columns), ...Endpoint.sources(statsNow(), last, Math.max(0, Date.now() - part.takenAt) / 1000)]
      // The store read again: the part's update (applied when it came) may have told of new series.
      const done = await writeInOrder(ahead, body, replica.sources(), own, part.groups, slices, (piece) => emit(f, piece), families)
      if (!done || f.abandoned) return
      if (flight === f) flight = undefined
      size = Math.ceil(body.length * 1.1)
      stats.completed++
      last = {
        seconds: (performance.now() - start) / 1000,
        longestSliceSeconds: slices.longest / 1000,
        slices: slices.count,
        bytes: f.length,
        cpuSeconds: (Endpoint.threadCpuNs() - cpu) / 1e9
      }
      // The writer's own buffer (never a slice of a pool), whole: the next render writes into it once nobody reads it.
      spare = Buffer.from(body.result().buffer as ArrayBuffer)
      for (const res of f.waiters) {
        if (res.destroyed) continue
        begin(res)
        res.end()
      }
      idle()
    } finally {
      // The part this render chose (if it got to choose one) is free again.
      const part = f.part
      if (part !== undefined) {
        const n = (held.get(part) ?? 1) - 1
        if (n > 0) held.set(part, n)
        else {
          held.delete(part)
          if (part !== lastPart) giveBack(part)
        }
      }
    }
  }

  const scrape = (res: http.ServerResponse) => {
    let f = flight
    scraped()
    if (f !== undefined) stats.shared++
    else {
      f = { id: ++nextId, waiters: new Set(), abandoned: false, pieces: [], length: 0 }
      flight = f
      const mine = f
      run(mine).catch((e: unknown) => {
        // A defect of the render: a waiter not answered yet gets a 500, one halfway through its body loses its
        // connection (its client sees the body cut short); the next scrape renders afresh.
        if (flight === mine) flight = undefined
        for (const r of mine.waiters) {
          if (r.destroyed) continue
          if (r.headersSent) r.destroy()
          else r.writeHead(500).end(`metrics render failed: ${String(e)}\n`)
        }
      })
    }
    const mine = f
    mine.waiters.add(res)
    // Joining a render halfway through its body: what was sent so far first, then the rest as it comes.
    if (mine.pieces.length > 0) {
      begin(res)
      res.cork()
      for (const piece of mine.pieces) res.write(piece)
      process.nextTick(() => res.uncork())
    }
    res.once("close", () => {
      if (res.writableFinished) return
      mine.waiters.delete(res)
      if (mine.waiters.size === 0 && flight === mine) abandon(mine)
    })
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]
    if (path !== PATH) return void res.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n")
    if (req.method === "HEAD") return void res.writeHead(200, { "content-type": CONTENT_TYPE }).end()
    if (req.method !== "GET") return void res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("GET or HEAD only\n")
    scrape(res)
  })
  server.once("error", (e) => post({ _tag: "ListenFailed", message: e.message }))
  server.listen(settings.port, settings.host, () => {
    const address = server.address()
    const bound = typeof address === "object" && address !== null ? { host: address.address, port: address.port } : settings
    post({ _tag: "Listening", host: bound.host, port: bound.port })
  })

  const receive = (m: ToWorker) => {
    switch (m._tag) {
      case "Part":
        return onPart(m)
      case "StatsRequest":
        return post({ _tag: "Stats", reply: m.reply, stats: statsNow() })
      case "Series":
        return replica.apply(m.update)
      case "Layout":
        addLayout(m.layout)
        return pruneLayouts()
    }
  }
  return { receive, server }
}

