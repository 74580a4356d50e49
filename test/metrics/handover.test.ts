/**
 * The scrape worker's parts handed over, not cloned (internal/ScrapeServer.ts
 * in this process, this test as its main thread): a part's columns arrive as
 * arrays of their own and go back to the main thread (`PartBuffer`,
 * transferred) once no render reads them, detached in the worker from then
 * on. The test transfers them as postMessage would (`structuredClone` with
 * the transfer list), so a render or a kept family's version that still read
 * them would read empty arrays: every body must be the in-process render of
 * its part's values. No timing: each step waits for its scrape.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { getText } from "../support/http.js"
import * as Columns from "../../src/metrics/Columns.js"
import { renderBytes, renderGroups } from "../../src/metrics/Exposition.js"
import { serve } from "../../src/metrics/internal/ScrapeServer.js"
import * as Native from "../../src/native/Native.js"
import { parse } from "./exposition.js"
import type { FromWorker, ToWorker } from "../../src/metrics/internal/ScrapeWire.js"
import * as Store from "../../src/metrics/Store.js"

const BACKENDS = 200
const names = Array.from({ length: BACKENDS }, (_, i) => `hand-${i}`)
const data: Columns.LayoutData = { key: 1, names, rows: names.map((n) => `maglev_frontend_pool_backend_weight{frontend="f",pool="p",backend="${n}"} `) }

/** The main thread's values now: what the next part carries, in arrays of its own. */
const status = new Uint8Array(BACKENDS)
const counter = new Float64Array(BACKENDS).fill(4)
const weights = new Float64Array(BACKENDS).fill(100)
const columnsNow = (): Columns.Columns => ({
  layout: 1,
  at: Int32Array.from(names, (_, i) => i),
  removed: [],
  status: status.slice(),
  counter: counter.slice(),
  weights: weights.slice()
})

interface Server {
  readonly url: string
  /** Every part sent, and what came back (as the main thread receives it). */
  readonly sent: Array<Columns.Columns>
  readonly givenBack: Array<Columns.Columns>
  /** Each discard of the last body's buffer (the addon's `discardPages`, as the worker does). */
  readonly discards: Array<{ readonly buffer: ArrayBuffer; readonly bytes: number }>
  /** Resolves once `n` discards were made. */
  readonly discardsReach: (n: number) => Promise<void>
  readonly close: () => Promise<void>
}

const servers: Array<Server> = []

/** The scrape worker's server with this test as its main thread; `discardIdleMs`: the last body's pages given back after that long idle (none if undefined). */
const start = async (discardIdleMs?: number): Promise<Server> => {
  const sent: Array<Columns.Columns> = []
  const givenBack: Array<Columns.Columns> = []
  const discards: Array<{ readonly buffer: ArrayBuffer; readonly bytes: number }> = []
  const waiting: Array<{ readonly n: number; readonly go: () => void }> = []
  let listening!: (port: number) => void
  const port = new Promise<number>((resolve) => (listening = resolve))
  let serving: ReturnType<typeof serve> | undefined
  const post = (m: FromWorker, transfer?: ReadonlyArray<ArrayBuffer>) => {
    if (m._tag === "Listening") return listening(m.port)
    if (m._tag === "PartBuffer") {
      // As postMessage does: the transferred buffers detached on the worker's side, the main thread's copy whole.
      const received = structuredClone(m, { transfer: [...(transfer ?? [])] })
      if (received.columns !== undefined) givenBack.push(received.columns)
      return
    }
    if (m._tag === "PartRequest") {
      return setImmediate(() => {
        const columns = columnsNow()
        sent.push(columns)
        serving!.receive({
          _tag: "Part",
          id: m.id,
          takenAt: Date.now(),
          groups: renderGroups([], new Set()),
          columns,
          layout: undefined,
          update: Store.exportSince(Store.mark())
        } satisfies ToWorker)
      })
    }
  }
  const discard = (b: ArrayBuffer) => {
    discards.push({ buffer: b, bytes: Native.discardPages(b) })
    for (const w of waiting.filter((w) => discards.length >= w.n)) w.go()
  }
  serving = serve(
    { host: "127.0.0.1", port: 0, partWaitMs: 60_000, prefetchMs: 0, sliceMs: 0 },
    post,
    discardIdleMs === undefined ? {} : { discard, discardIdleMs }
  )
  serving.receive({ _tag: "Layout", layout: data } satisfies ToWorker)
  const s = serving
  const server: Server = {
    url: `http://127.0.0.1:${await port}/metrics`,
    sent,
    givenBack,
    discards,
    discardsReach: (n) => (discards.length >= n ? Promise.resolve() : new Promise((go) => waiting.push({ n, go }))),
    close: () => new Promise<void>((resolve) => s.server.close(() => resolve()))
  }
  servers.push(server)
  return server
}

afterAll(() => Promise.all(servers.map((s) => s.close())))

const scrape = getText

/** The per-backend gauges' lines of a body. */
const gaugeLines = (body: string) =>
  body.split("\n").filter((l) => /^(# (HELP|TYPE) )?maglev_(backend_(state|health|enabled)|frontend_pool_backend_weight)[ {]/.test(l)).join("\n")

/** The same families rendered in process from `c`'s values. */
const expected = (c: Columns.Columns) => gaugeLines(renderBytes(Columns.sources(Columns.layout(data), c)).toString("utf8"))

describe("the scrape worker's parts: columns transferred and given back", () => {
  it("gives each part's columns back once no render reads them, and renders every body from values of its own", async () => {
    const { url, sent, givenBack } = await start()
    const values: Array<Columns.Columns> = []
    const render = async () => {
      const copy = columnsNow()
      values.push(copy)
      const body = await scrape(url)
      expect(gaugeLines(body), `scrape ${values.length}`).toBe(expected(copy))
    }
    await render()
    // Unchanged: the kept families sent as they were, compared against versions of their own.
    await render()
    // A backend down (its counter and weight with it), then another disabled: patched from the kept bytes.
    status[3] = 2
    counter[3] = 0
    weights[3] = 0
    await render()
    status[7] = 4
    await render()
    await render()
    // Every part but the last (the worker keeps it for a late main thread) came back, its arrays whole on this side
    // and detached on the worker's, in the order they were sent.
    expect(sent).toHaveLength(5)
    expect(givenBack).toHaveLength(4)
    for (let i = 0; i < givenBack.length; i++) {
      const back = givenBack[i]!
      expect([...back.status], `part ${i + 1}`).toEqual([...values[i]!.status])
      expect([...back.counter]).toEqual([...values[i]!.counter])
      expect([...back.weights]).toEqual([...values[i]!.weights])
      expect(back.at).toHaveLength(BACKENDS)
      const there = sent[i]!
      expect([there.at.length, there.status.length, there.counter.length, there.weights.length]).toEqual([0, 0, 0, 0])
    }
    expect(sent[4]!.status).toHaveLength(BACKENDS)
  })

  it("gives the last body's pages back once nothing reads it and nothing is scraped, once; the next body is whole", async () => {
    // Its own server, given back at once (0 ms idle): one scrape at a time, so one discard after each.
    const { url, discards, discardsReach } = await start(0)
    const body = await scrape(url)
    await discardsReach(1)
    expect(discards).toHaveLength(1)
    const d = discards.at(-1)!
    // The body's buffer (~1.9 KB a backend here: several pages), none of it read any more.
    expect(d.bytes).toBeGreaterThan(0)
    expect(d.buffer.byteLength).toBeGreaterThanOrEqual(Buffer.byteLength(body))
    // Given back once the response was written whole (the client may still be reading it from its socket): whole.
    expect(gaugeLines(body)).toBe(expected(columnsNow()))
    // Written into again (zeroed pages), the next body is the same as the last, and then its buffer is given back.
    const again = await scrape(url)
    expect(gaugeLines(again)).toBe(gaugeLines(body))
    // Every line whole (the strict parser), the endpoint's own families with them.
    expect(parse(again).get("maglev_metrics_renders_total")).toBeDefined()
    await discardsReach(2)
    expect(discards).toHaveLength(2)
    expect(discards.at(-1)!.buffer).toBe(d.buffer)
  })
})
