/**
 * The scrape worker's render (src/metrics/internal/Merge.ts) without the
 * worker: the store's half written, new series told meanwhile written as
 * tails, the rest merged with the main thread's groups, and the pieces
 * interleaved; the body must be what one render of everything at once is.
 * And what the worker's module loads.
 */
import { describe, expect, it } from "@effect/vitest"
import { renderBytes, renderGroups, type Source } from "../../src/metrics/Exposition.js"
import { interleave, writeGroups, writeTails } from "../../src/metrics/internal/Merge.js"
import { parse } from "./exposition.js"
import { bundleInputs } from "../support/bundleInputs.js"

/** A family of `size` series, `name{i="k"} k*mul`; `from` series write nothing (a series with no sample yet). */
const family = (name: string, size: number, mul = 1, silent: ReadonlySet<number> = new Set()): Source => ({
  name,
  help: `${name} help`,
  type: "counter",
  size,
  write: (w, i) => {
    if (!silent.has(i)) w.text(`${name}{i="${i}"} ${i * mul}\n`)
  }
})

const join = (pieces: ReadonlyArray<Uint8Array>) => Buffer.concat(pieces).toString("utf8")

describe("the scrape worker's render", () => {
  it("the store's half, its tails and the rest interleave into the body of one render of everything", async () => {
    // The store's families as first read (sizes 2, 0 and 3), then grown as a part's update tells of new series.
    const before = [family("m_store_b_total", 2), family("m_store_a_total", 0), family("z_store_total", 3, 2, new Set([0, 1, 2]))]
    const after = [family("m_store_b_total", 5), family("m_store_a_total", 2), family("z_store_total", 4, 2, new Set([0, 1, 2]))]
    // The worker's own (from the part's columns) and the main thread's groups, one of a name the worker writes too.
    const own = [family("m_columns_total", 3), family("zz_own_total", 1)]
    const mainSources = [family("a_registry_total", 2), family("m_columns_total", 9, 100), family("q_total", 1), family("zzz_total", 1)]
    const part = renderGroups(mainSources, new Set(["zzz_total"]))
    expect(part.names).toEqual(["a_registry_total", "m_columns_total", "q_total"])

    const options = { sliceMs: 0 }
    const store = (await writeGroups(before, undefined, options))!
    // z_store_total wrote no line: no group, not even its header.
    expect(store.groups.names).toEqual(["m_store_b_total"])
    const tails = (await writeTails(before, after, store.groups, options))!
    expect(tails.groups.names).toEqual(["m_store_a_total", "m_store_b_total", "z_store_total"])
    const rest = (await writeGroups(own, part, options))!
    expect(rest.groups.names).toEqual(["a_registry_total", "m_columns_total", "q_total", "zz_own_total"])

    const pieces = interleave([store.groups, tails.groups, rest.groups])
    const expected = renderBytes([...after, ...own, family("a_registry_total", 2), family("q_total", 1)]).toString("utf8")
    expect(join(pieces)).toBe(expected)
    // Consecutive groups of one list are one piece: a_registry and m_columns (rest), m_store_a (tails), m_store_b (store,
    // then its tail), q (rest), z_store (tails), zz_own (rest).
    expect(pieces.length).toBe(7)
    parse(expected)
  })

  it("no tails when nothing was told meanwhile; the first render's store is all tails", async () => {
    const now = [family("p_total", 3), family("t_total", 1)]
    const store = (await writeGroups(now, undefined, { sliceMs: 50 }))!
    expect((await writeTails(now, now, store.groups, { sliceMs: 50 }))!.groups.names).toEqual([])
    const empty = (await writeGroups([], undefined, { sliceMs: 50 }))!
    const tails = (await writeTails([], now, empty.groups, { sliceMs: 50 }))!
    expect(join(interleave([empty.groups, tails.groups]))).toBe(renderBytes(now).toString("utf8"))
  })

  it("stops at a slice's end once told to, and writes nothing more", async () => {
    let stop = false
    let writes = 0
    const slow: Source = {
      name: "slow_total",
      help: "h",
      type: "counter",
      size: 1000,
      write: (w, i) => {
        writes++
        stop = writes >= 100
        w.text(`slow_total{i="${i}"} 1\n`)
      }
    }
    // Slices of 0 ms: a yield every 16 units, where `stopped` is asked.
    expect(await writeGroups([slow], undefined, { sliceMs: 0, stopped: () => stop })).toBeUndefined()
    expect(writes).toBeLessThan(1000)
    expect(writes).toBeGreaterThanOrEqual(100)
  })

  it("the worker loads nothing of Effect, nor any other package (a thread's heap would carry their modules: ~18 MB for effect)", async () => {
    const inputs = await bundleInputs("metrics/ScrapeWorker.ts")
    expect(inputs.filter((f) => f.includes("node_modules/"))).toEqual([])
    expect(inputs.some((f) => f.endsWith("src/metrics/Store.ts"))).toBe(true)
  })
})
