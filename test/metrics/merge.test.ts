/**
 * The scrape worker's render (src/metrics/internal/Merge.ts) without the
 * worker: the store's families written ahead, stopped anywhere (the main
 * thread's part came), then every family in name order, emitted as written;
 * the body must be what one render of everything at once is, whatever
 * phase 1 got to and whatever new series the part told of. And what the
 * worker's module loads.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Groups, renderBytes, renderGroups, type Source, Writer } from "../../src/metrics/Exposition.js"
import { Families, Slices, writeAhead, writeInOrder } from "../../src/metrics/internal/Merge.js"
import { parse } from "./exposition.js"
import { bundleInputs } from "../support/bundleInputs.js"

/** A family of `size` series, `name{i="k"} k*mul`; `silent` series write nothing (a series with no sample yet). */
const family = (name: string, size: number, mul = 1, silent: (i: number) => boolean = () => false): Source => ({
  name,
  help: `${name} help`,
  type: "counter",
  size,
  write: (w, i) => {
    if (!silent(i)) w.text(`${name}{i="${i}"} ${i * mul}\n`)
  }
})

const join = (pieces: ReadonlyArray<Uint8Array>) => Buffer.concat(pieces).toString("utf8")

/** Both phases, phase 1 stopped after `aheadSlices` slices (slices of 0 ms: 16 units each); what was emitted, and when. */
const stream = async (
  before: ReadonlyArray<Source>,
  after: ReadonlyArray<Source>,
  own: ReadonlyArray<Source>,
  part: Groups,
  aheadSlices: number,
  families?: Families
) => {
  let yields = 0
  const slices = new Slices(0, () => false, async () => {
    yields++
  })
  const store = new Writer(16)
  const ahead = (await writeAhead(before, store, slices, () => yields >= aheadSlices, families))!
  const phase1 = yields
  const emitted: Array<{ readonly piece: Uint8Array; readonly yields: number }> = []
  // One writer, grown many times from 16 bytes: pieces emitted before a growth stay valid.
  expect(await writeInOrder(ahead, store, after, own, part, slices, (piece) => emitted.push({ piece, yields }), families)).toBe(true)
  return { body: join(emitted.map((e) => e.piece)), emitted, phase1, total: yields }
}

describe("the scrape worker's render", () => {
  // The store's families as first read (sizes 40, 0 and 50, the last silent but for its end), then grown as a part's
  // update tells of new series.
  const before = [family("m_store_b_total", 40), family("m_store_a_total", 0), family("z_store_total", 50, 2, (i) => i < 45)]
  const after = [family("m_store_b_total", 45), family("m_store_a_total", 2), family("z_store_total", 52, 2, (i) => i < 45)]
  // The worker's own (from the part's columns) and the main thread's groups, one of a name the worker writes too.
  const own = [family("m_columns_total", 30), family("zz_own_total", 1), family("y_silent_total", 40, 1, () => true)]
  const mainSources = [family("a_registry_total", 2), family("m_columns_total", 9, 100), family("q_total", 1), family("zzz_total", 1)]
  const part = renderGroups(mainSources, new Set(["zzz_total"]))
  const expected = renderBytes([...after, ...own, family("a_registry_total", 2), family("q_total", 1)]).toString("utf8")

  it("phase 1 stopped anywhere, then every family in name order: the body of one render of everything", async () => {
    expect(part.names).toEqual(["a_registry_total", "m_columns_total", "q_total"])
    parse(expected)
    // Phase 1 stopped after 0, 1, ... slices, to its end (7 slices of 16 units and the families' ends).
    const phases = new Set<number>()
    for (let k = 0; k <= 12; k++) {
      const { body, phase1 } = await stream(before, after, own, part, k)
      expect(body, `phase 1 stopped after ${k} slices`).toBe(expected)
      phases.add(phase1)
    }
    expect(phases.size).toBeGreaterThan(5)
  })

  it("the body is emitted as it is written, not at the end; a family with no line yet has no header out", async () => {
    const { emitted, total } = await stream(before, after, own, part, 2)
    expect(emitted.length).toBeGreaterThan(4)
    // Pieces went out at slices' ends before the last one.
    expect(emitted[0]!.yields).toBeLessThan(total)
    // Every prefix emitted is a prefix of the body (parts are final), and none shows a header whose family has no line
    // yet: z_store_total's first 45 series are silent, y_silent_total's all.
    let sent = ""
    for (const e of emitted) {
      sent += Buffer.from(e.piece).toString("utf8")
      expect(expected.startsWith(sent)).toBe(true)
      const headed = /# TYPE z_store_total counter\n$/.test(sent)
      expect(headed).toBe(false)
    }
    expect(sent).not.toContain("y_silent_total")
  })

  it("the first render (the store unknown before the part) is all phase 2; nothing new when nothing was told", async () => {
    const now = [family("p_total", 3), family("t_total", 1)]
    const first = await stream([], now, [], renderGroups([], new Set()), 0)
    expect(first.body).toBe(renderBytes(now).toString("utf8"))
    const again = await stream(now, now, [], renderGroups([], new Set()), 99)
    expect(again.body).toBe(renderBytes(now).toString("utf8"))
  })

  it("a family of the version an earlier render wrote is sent as those bytes, not written again; one that changed is written anew, the earlier bytes left as they were", async () => {
    let writes = 0
    /** A family of `values.length` series whose version is its values (a copy each render, as a part's columns are). */
    const versioned = (name: string, values: ReadonlyArray<number>): Source => ({
      name,
      help: `${name} help`,
      type: "counter",
      size: values.length,
      version: [Int32Array.from(values)],
      write: (w, i) => {
        writes++
        w.text(`${name}{i="${i}"} ${values[i]}\n`)
      }
    })
    const values = Array.from({ length: 40 }, (_, i) => i)
    const render = async (store: ReadonlyArray<number>, after: ReadonlyArray<number>, columns: ReadonlyArray<number>, families: Families) => {
      writes = 0
      const before = [versioned("m_store_total", store)]
      const all = [versioned("m_store_total", after)]
      const own = [versioned("c_columns_total", columns)]
      const r = await stream(before, all, own, part, 99, families)
      const written = writes
      expect(r.body).toBe(renderBytes([...all, ...own, family("a_registry_total", 2), family("m_columns_total", 9, 100), family("q_total", 1)]).toString("utf8"))
      return { ...r, writes: written }
    }
    const families = new Families()
    const first = await render(values, values, values, families)
    expect(first.writes).toBe(80)
    // The same values (other arrays): nothing written, the same body.
    const same = await render(values, values, values, families)
    expect(same.writes).toBe(0)
    expect(same.body).toBe(first.body)
    const samePieces = same.emitted.map((e) => e.piece)
    // A value of each changed: both written anew; the last body's pieces, the kept bytes (a slow client may still be
    // sending them), are as they were.
    const changed = values.map((v, i) => (i === 7 ? 700 : v))
    const third = await render(changed, changed, changed, families)
    expect(third.writes).toBe(80)
    expect(join(samePieces)).toBe(first.body)
    // The store's family as written, then two series told in phase 2: only those two written after the kept bytes.
    const grown = [...changed, 40, 41]
    const fourth = await render(changed, grown, changed, families)
    expect(fourth.writes).toBe(2)
  })

  it("stops at a slice's end once told to, in either phase, and writes nothing more", async () => {
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
    expect(await writeAhead([slow], new Writer(), new Slices(0, () => stop), () => false)).toBeUndefined()
    expect(writes).toBeLessThan(1000)
    expect(writes).toBeGreaterThanOrEqual(100)
    stop = false
    writes = 0
    const emitted: Array<Uint8Array> = []
    const done = await writeInOrder(new Map(), new Writer(), [slow], [], renderGroups([], new Set()), new Slices(0, () => stop), (p) => emitted.push(p))
    expect(done).toBe(false)
    expect(writes).toBeLessThan(1000)
    // What was emitted is whole lines, the header first.
    expect(join(emitted)).toMatch(/^# HELP slow_total h\n# TYPE slow_total counter\n(slow_total\{i="\d+"\} 1\n)+$/)
  })

  it("the worker loads nothing of Effect, nor any other package (a thread's heap would carry their modules: ~18 MB for effect)", async () => {
    const inputs = await bundleInputs("metrics/ScrapeWorker.ts")
    expect(inputs.filter((f) => f.includes("node_modules/"))).toEqual([])
    expect(inputs.some((f) => f.endsWith("src/metrics/Store.ts"))).toBe(true)
  })
})
