/**
 * The scrape worker's server (internal/ScrapeServer.ts) run in this process,
 * over real HTTP, with this test as its main thread (it answers the parts)
 * and pacing its render: the render's turns of the event loop are held at
 * will, so that a scrape can join, or a client leave, halfway through a
 * body that is being streamed. No timing: each step waits for the event it
 * needs (the first bytes, the server's counts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { renderBytes, renderGroups, type Source } from "../../src/metrics/Exposition.js"
import type { EndpointStats, FromWorker, ToWorker } from "../../src/metrics/internal/ScrapeWire.js"
import { serve } from "../../src/metrics/internal/ScrapeServer.js"
import { turn } from "../../src/metrics/internal/Merge.js"
import * as Store from "../../src/metrics/Store.js"
import { probeResult } from "../../src/health/ProbeResult.js"
import { oneBlank, parse } from "./exposition.js"

const BACKENDS = 300

/** A main thread's family: one of the part's groups. */
const registry: Source = { name: "a_registry_total", help: "h", type: "counter", size: 1, write: (w) => w.text("a_registry_total 7\n") }

const start = async (partWaitMs = 60_000) => {
  for (let i = 0; i < BACKENDS; i++) {
    const r = Store.probeRecorder(`s${i}`, "http")
    r.record(probeResult("L7OK", 3, ""))
    Store.countTransition(`s${i}`, "unknown", "up")
  }
  let mark: Store.Mark = { slabs: 0, entries: 0 }
  const part = (id: number): ToWorker => {
    const update = Store.exportSince(mark)
    mark = Store.mark()
    return {
      _tag: "Part",
      id,
      takenAt: Date.now(),
      groups: renderGroups([registry], new Set()),
      columns: { layout: 1, at: new Int32Array(0), removed: [], status: new Uint8Array(0), counter: new Float64Array(0), weights: new Float64Array(0) },
      layout: { key: 1, names: [], rows: [] },
      update
    }
  }
  // The render's turns: let through at once unless held, then queued until let go.
  let holding = false
  const queued: Array<() => void> = []
  const hooks = {
    turn: () => (holding ? new Promise<void>((resolve) => queued.push(resolve)) : turn())
  }
  const stats = new Map<number, (s: EndpointStats) => void>()
  // The part requests: answered at once unless held, then kept until let go.
  let holdingParts = false
  const requests: Array<number> = []
  const heldParts: Array<number> = []
  let listening!: (port: number) => void
  const port = new Promise<number>((resolve) => (listening = resolve))
  let receive: (m: ToWorker) => void = () => {}
  const post = (m: FromWorker) => {
    switch (m._tag) {
      case "Listening":
        return listening(m.port)
      case "PartRequest":
        requests.push(m.id)
        if (holdingParts) return void heldParts.push(m.id)
        return setImmediate(() => receive(part(m.id)))
      case "Stats":
        return stats.get(m.reply)?.(m.stats)
    }
  }
  const serving = serve({ host: "127.0.0.1", port: 0, partWaitMs, prefetchMs: 0, sliceMs: 0 }, post, hooks)
  receive = serving.receive
  const url = `http://127.0.0.1:${await port}/metrics`
  let reply = 0
  const count = (): Promise<EndpointStats> =>
    new Promise((resolve) => {
      const id = ++reply
      stats.set(id, resolve)
      receive({ _tag: "StatsRequest", reply: id })
    })
  /** Asks the server's counts until `ok` (each answer is an event: no timing). */
  const until = async (what: string, ok: (s: EndpointStats) => boolean) => {
    for (let i = 0; i < 10_000; i++) {
      const s = await count()
      if (ok(s)) return s
      await new Promise((r) => setImmediate(r))
    }
    throw new Error(`never: ${what}`)
  }
  return {
    url,
    until,
    hold: () => (holding = true),
    release: () => {
      holding = false
      for (const go of queued.splice(0)) go()
    },
    requests: () => requests.length,
    holdParts: () => (holdingParts = true),
    answerParts: () => {
      holdingParts = false
      for (const id of heldParts.splice(0)) receive(part(id))
    },
    close: () => new Promise<void>((resolve) => serving.server.close(() => resolve()))
  }
}

/** The metric store's families of a body, as text. */
/** The store's lines, one blank before each value (the worker's values are in fields with room to grow). */
const storeLines = (body: string) => oneBlank(body).split("\n").filter((l) => /^(# (HELP|TYPE) )?maglev_(probe_|backend_transitions)/.test(l)).join("\n")

/** A GET whose response is not read until `read()`: its body's writes stay queued in the server. */
const slowGet = (url: string) => {
  let go!: () => void
  const reading = new Promise<void>((resolve) => (go = resolve))
  const body = new Promise<string>((resolve, reject) => {
    const request = http.get(url, { agent: false })
    request.once("error", reject)
    request.once("response", (res) => {
      res.pause()
      void reading.then(() => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
        res.once("error", reject)
        res.resume()
      })
    })
  })
  return { body, read: () => go() }
}

/** A GET whose body is collected; `onFirst` runs at its first bytes (from within the data event). */
const get = (url: string, onFirst: (request: http.ClientRequest) => void = () => {}) => {
  let received = 0
  let ended = false
  const request = http.get(url, { agent: false })
  const body = new Promise<string>((resolve, reject) => {
    request.once("error", reject)
    request.once("response", (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => {
        if (received === 0) onFirst(request)
        received += c.length
        chunks.push(c)
      })
      res.once("end", () => {
        ended = true
        resolve(Buffer.concat(chunks).toString("utf8"))
      })
      res.once("error", reject)
    })
  })
  return { body, received: () => received, ended: () => ended }
}

describe("the scrape worker's streamed body", () => {
  it("a scrape joining halfway through the body gets it whole, the same as the first's", async () => {
    const s = await start()
    try {
      // The first bytes are out: the render is held at its next turn, halfway.
      let firstBytes!: () => void
      const halfway = new Promise<void>((resolve) => (firstBytes = resolve))
      const a = get(s.url, () => {
        s.hold()
        firstBytes()
      })
      await halfway
      const b = get(s.url)
      await s.until("the second scrape joins the render", (x) => x.shared === 1)
      expect(a.received()).toBeGreaterThan(0)
      expect(a.ended()).toBe(false)
      s.release()
      const [first, second] = await Promise.all([a.body, b.body])
      expect(second).toBe(first)
      const m = parse(first)
      expect(m.get("maglev_probe_total")!.samples.filter((x) => x.labels["backend"]?.startsWith("s"))).toHaveLength(BACKENDS)
      expect(m.get("maglev_backend_transitions_total")!.samples.filter((x) => x.labels["backend"]?.startsWith("s"))).toHaveLength(BACKENDS)
      expect(m.get("a_registry_total")!.samples[0]!.value).toBe(7)
      expect((await s.until("the render done", (x) => x.completed === 1)).abandoned).toBe(0)
    } finally {
      s.release()
      await s.close()
    }
  })

  it("a client leaving halfway through the body abandons the render; the next scrape renders afresh", async () => {
    const s = await start()
    try {
      const a = get(s.url, (request) => {
        s.hold()
        request.destroy()
      })
      await a.body.catch(() => undefined)
      await s.until("the render abandoned", (x) => x.abandoned === 1)
      s.release()
      const next = get(s.url)
      parse(await next.body)
      // The abandoned render never completed: one render done, the second.
      const x = await s.until("the next render done", (x) => x.completed === 1)
      expect(x.abandoned).toBe(1)
      expect(x.shared).toBe(0)
    } finally {
      s.release()
      await s.close()
    }
  })

  it("a main thread late for a part request is not waited for: its last part at once, one request at a time", async () => {
    // A render waits 5 ms for a part; the outcome does not depend on how long: the held answers never come sooner.
    const s = await start(5)
    try {
      parse(await get(s.url).body)
      expect(s.requests()).toBe(1)
      s.holdParts()
      // Unanswered: after its wait the render takes the last part.
      parse(await get(s.url).body)
      expect(s.requests()).toBe(2)
      expect((await s.until("the second render done", (x) => x.completed === 2)).stale).toBe(1)
      // The request is still unanswered, older than a wait: the next render takes the last part at once, asks nothing.
      parse(await get(s.url).body)
      expect(s.requests()).toBe(2)
      expect((await s.until("the third render done", (x) => x.completed === 3)).stale).toBe(2)
      // Answered, late (after two renders): the next render takes that answer at once, and asks for the next.
      s.answerParts()
      const fourth = parse(await get(s.url).body)
      expect(s.requests()).toBe(3)
      // The last completed render's figures: its CPU time (this thread's, while it ran) within its wall time.
      const value = (name: string) => fourth.get(name)!.samples[0]!.value
      expect(value("maglev_metrics_render_cpu_seconds")).toBeGreaterThan(0)
      expect(value("maglev_metrics_render_cpu_seconds")).toBeLessThanOrEqual(value("maglev_metrics_render_seconds") + 0.001)
      // And the slices it was written in: a whole number, at least one.
      expect(Number.isInteger(value("maglev_metrics_render_slices"))).toBe(true)
      expect(value("maglev_metrics_render_slices")).toBeGreaterThanOrEqual(1)
      expect((await s.until("the fourth render done", (x) => x.completed === 4)).stale).toBe(3)
    } finally {
      s.release()
      await s.close()
    }
  })

  it("a slow client still reading when the next render comes: both bodies are as rendered, the slow one not written over", async () => {
    const s = await start()
    // A body of ~8 MB: more than twice what loopback's socket buffers took in while a client read nothing (~3 MB).
    const slow = Array.from({ length: 6_000 }, (_, i) => Store.probeRecorder(`slow-${i}`, "http"))
    for (const r of slow) r.record(probeResult("L7OK", 3, ""))
    try {
      // The first render makes the blocks; the second writes from them.
      parse(await get(s.url).body)
      parse(await get(s.url).body)
      await s.until("two renders done", (x) => x.completed === 2)
      // A client that reads nothing yet: its render is done, its body's last pieces still queued.
      const a = slowGet(s.url)
      await s.until("the slow client's render done", (x) => x.completed === 3)
      const asRendered = storeLines(renderBytes(Store.sources()).toString("utf8"))
      // Values move: counts gain a digit (1 -> 10 at slow-0..99), sums gain whole seconds, a probe per other series.
      for (const [i, r] of slow.entries()) {
        for (let k = 0; k < (i < 100 ? 9 : 1); k++) r.record(probeResult("L7OK", i % 7 === 0 ? 1234.5 : 0.25 + i / 1000, ""))
      }
      const b = get(s.url)
      const now = storeLines(renderBytes(Store.sources()).toString("utf8"))
      expect(now).not.toBe(asRendered)
      expect(storeLines(await b.body), "the render while the slow client reads: as the values are now").toBe(now)
      await s.until("its render done", (x) => x.completed === 4)
      a.read()
      expect(storeLines(await a.body), "the slow client's body: as the values were when it was rendered").toBe(asRendered)
      expect(storeLines(await get(s.url).body)).toBe(now)
    } finally {
      s.release()
      await s.close()
    }
  })
})
