/**
 * The scrape worker's first render (internal/ScrapeServer.ts, in this
 * process): told the store's series and the layout ahead, as Server.ts does,
 * it writes its body into one buffer sized from them (FIRST_GUESS_BYTES),
 * not one grown by doubling from 64 KiB, whose smaller copies an idle worker
 * kept as garbage (~32 MiB of RSS at 10,000 backends).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { getText } from "../support/http.js"
import { renderGroups } from "../../src/metrics/Exposition.js"
import { FAMILY_UNIT_GUESS } from "../../src/metrics/internal/Merge.js"
import { FIRST_GUESS_BYTES, serve } from "../../src/metrics/internal/ScrapeServer.js"
import type { FromWorker, ToWorker } from "../../src/metrics/internal/ScrapeWire.js"
import * as Store from "../../src/metrics/Store.js"
import { probeResult } from "../../src/health/ProbeResult.js"
import { parse } from "./exposition.js"

const BACKENDS = 500
/** Exposition's Blocks take their chunks of this size: not the body's buffer. */
const BLOCK_CHUNK = 1024 * 1024

const names = Array.from({ length: BACKENDS }, (_, i) => `first-${i}`)

let serving: ReturnType<typeof serve>
let url: string

beforeAll(async () => {
  for (const name of names) {
    Store.probeRecorder(name, "http").record(probeResult("L7OK", 3, ""))
    Store.countTransition(name, "unknown", "up")
  }
  let listening!: (port: number) => void
  const port = new Promise<number>((resolve) => (listening = resolve))
  const post = (m: FromWorker) => {
    if (m._tag === "Listening") return listening(m.port)
    if (m._tag === "PartRequest") {
      return setImmediate(() =>
        serving.receive({
          _tag: "Part",
          id: m.id,
          takenAt: Date.now(),
          groups: renderGroups([], new Set()),
          columns: {
            layout: 1,
            at: Int32Array.from(names, (_, i) => i),
            removed: [],
            status: new Uint8Array(BACKENDS),
            counter: new Float64Array(BACKENDS),
            weights: new Float64Array(0)
          },
          layout: undefined,
          update: Store.exportSince(Store.mark())
        })
      )
    }
  }
  serving = serve({ host: "127.0.0.1", port: 0, partWaitMs: 60_000, prefetchMs: 0, sliceMs: 0 }, post)
  // Ahead of any scrape, as Server.ts' catch-up tells them.
  serving.receive({ _tag: "Layout", layout: { key: 1, names, rows: [] } } satisfies ToWorker)
  serving.receive({ _tag: "Series", update: Store.exportSince({ slabs: 0, entries: 0 }) } satisfies ToWorker)
  url = `http://127.0.0.1:${await port}/metrics`
})

afterAll(() => new Promise<void>((resolve) => serving.server.close(() => resolve())))

const scrape = (): Promise<string> => getText(url)

describe("the scrape worker's first render", () => {
  it("writes its body into one buffer sized from the series and layout told ahead, never grown", async () => {
    const alloc = vi.spyOn(Buffer, "allocUnsafeSlow")
    let body: string
    let sizes: Array<number>
    try {
      body = await scrape()
      sizes = alloc.mock.calls.map(([n]) => n)
    } finally {
      alloc.mockRestore()
    }
    const m = parse(body)
    expect(m.get("maglev_probe_total")!.samples.filter((s) => s.labels["backend"]?.startsWith("first-"))).toHaveLength(BACKENDS)
    expect(m.get("maglev_backend_state")!.samples.filter((s) => s.labels["backend"]?.startsWith("first-")).length).toBeGreaterThanOrEqual(BACKENDS)
    const size = Buffer.byteLength(body)
    // Every buffer over 64 KiB (this test's part is written into one of 64) but the blocks' chunks: the body's
    // (growing it by doubling made one per step), then one for each per-backend family kept between renders (state,
    // health, enabled: written into a buffer of their own, Merge's Families.writer, not the body's), none grown.
    const buffers = sizes.filter((n) => n > 64 * 1024 && n !== BLOCK_CHUNK)
    const family = 1024 + FAMILY_UNIT_GUESS * BACKENDS
    expect(buffers.slice(1)).toEqual([family, family, family])
    const own = body.split("\n").filter((l) => /^(# (HELP|TYPE) )?maglev_backend_(state|health|enabled)[ {]/.test(l)).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)
    expect(own).toBeGreaterThan(0)
    expect(buffers[0]).toBeGreaterThanOrEqual(size - own)
    expect(buffers[0]).toBeLessThanOrEqual(64 * 1024 + FIRST_GUESS_BYTES * 3 * BACKENDS)
  })
})
