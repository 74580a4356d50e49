/**
 * The scrape worker's kept blocks (Exposition's `Blocks`): a series' lines as
 * last written, copied by the next render with the values' digits written
 * over. Whatever the values do between renders (a digit more or less, a new
 * code, a new transition, a new series, a backend removed by a reload, names
 * that need escaping), a render from blocks must be byte for byte the render
 * without them (the in-process one), but for the blanks before the values
 * (the worker's in fields with room to grow: `oneBlank` makes them one), and
 * dead blocks must not pile up.
 *
 * This file's worker has a metric store of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type HealthStatus, STATUSES } from "../../src/health/HealthState.js"
import { type ProbeCode, probeResult } from "../../src/health/ProbeResult.js"
import * as Columns from "../../src/metrics/Columns.js"
import { Blocks, renderBytes, renderGroups, type Source, Writer } from "../../src/metrics/Exposition.js"
import { Families, Slices, writeAhead, writeInOrder } from "../../src/metrics/internal/Merge.js"
import * as Metrics from "../../src/metrics/Metrics.js"
import * as Store from "../../src/metrics/Store.js"
import { oneBlank, parse, valueOf } from "./exposition.js"

const text = (sources: ReadonlyArray<Source>) => renderBytes(sources).toString("utf8")
/** A render with one blank before each value (the in-process render's spacing). */
const spaced = (sources: ReadonlyArray<Source>) => oneBlank(text(sources))

/** Names that need escaping, non-ASCII, and plain ones. */
const NAMES = ["plain", "quote\"d", "back\\slash", "new\nline", "é✓", "sp ace", "x\\\"} 9"]

const probe = (backend: string, code: ProbeCode, ms: number, times = 1) => {
  const r = Metrics.probeRecorder(backend, "http")
  for (let i = 0; i < times; i++) r.record(probeResult(code, ms, ""))
}

const transition = (backend: string, from: HealthStatus, to: HealthStatus) => Effect.runSync(Metrics.countTransition(backend, from, to))

describe("kept blocks: a render from blocks is the render without them", () => {
  it("the store's families, as values cross digit counts, codes and transitions appear, series are added", () => {
    const replica = new Store.Replica()
    let mark = Store.mark()
    const catchUp = () => {
      replica.apply(Store.exportSince(mark))
      mark = Store.mark()
    }
    const same = (what: string) => {
      const kept = spaced(replica.sources())
      expect(kept, what).toBe(text(Store.sources()))
      return kept
    }
    for (const name of NAMES) {
      probe(name, "L7OK", 0.4, 9)
      transition(name, "unknown", "up")
    }
    catchUp()
    same("the first render: blocks made")
    expect(replica.keptBytes).toBeGreaterThan(0)
    same("the second: every series from its block")

    // One more probe each: 9 -> 10 (a digit more) in the buckets, the count and the code.
    for (const name of NAMES) probe(name, "L7OK", 0.4)
    same("a digit more")
    // A new code (a line more in the middle of a series' lines), a slower probe (the buckets below stay, the ones above grow).
    probe("plain", "L4CON", 30)
    probe("quote\"d", "L7TOUT", 3000)
    probe("é✓", "L7OK", 0.7, 90)
    same("a new code, a slow probe, 100 probes")
    // A new transition slot, a transition counted again (1 -> 2, same width).
    transition("plain", "up", "down")
    transition("plain", "down", "up")
    transition("back\\slash", "up", "down")
    same("new transitions")
    // A series after the blocks were made (a new backend, and a new check type of an old one), told by an update.
    probe("late\"comer", "L7OK", 1, 3)
    Metrics.probeRecorder("plain", "tcp").record(probeResult("L4OK", 0.2, ""))
    transition("late\"comer", "unknown", "up")
    expect(spaced(replica.sources()), "the replica is not told yet").not.toContain("late")
    catchUp()
    const last = same("after the update")
    const m = parse(last)
    expect(m.get("maglev_probe_total")!.samples.find((s) => s.labels["backend"] === "late\"comer")!.value).toBe(3)
    expect(m.get("maglev_probe_duration_seconds")!.samples.find((s) => s.labels["backend"] === "x\\\"} 9" && s.name.endsWith("_count"))!.value)
      .toBe(10)
  })

  it("a transition half counted when a render reads the transitions' version: its lines are not kept as that version's, the next render has the count", async () => {
    transition("halfway", "unknown", "up")
    const replica = new Store.Replica()
    replica.apply(Store.exportSince({ slabs: 0, entries: 0 }))
    // As the scrape worker renders: a family of an unchanged version is sent as an earlier render wrote it.
    const families = new Families()
    const render = async () => {
      const slices = new Slices(1000)
      const body = new Writer()
      const ahead = (await writeAhead(replica.sources(), body, slices, () => false, families))!
      const pieces: Array<Uint8Array> = []
      expect(await writeInOrder(ahead, body, replica.sources(), [], renderGroups([], new Set()), slices, (p) => pieces.push(p), families)).toBe(true)
      return oneBlank(Buffer.concat(pieces).toString("utf8"))
    }
    const line = (body: string) => body.split("\n").find((l) => l.startsWith(`maglev_backend_transitions_total{backend="halfway",from="up",to="down"}`))
    expect(await render()).toBe(text(Store.sources()))
    const [total, count, done] = Store.transitionStores("halfway", "up", "down")
    // Its total counted, not its count yet: the render has no line for it.
    total!()
    expect(line(await render())).toBeUndefined()
    count!()
    done!()
    const after = await render()
    expect(line(after)).toBe(`maglev_backend_transitions_total{backend="halfway",from="up",to="down"} 1`)
    expect(after).toBe(text(Store.sources()))
  })

  it("a histogram's _sum: seconds with six decimals, written over in its block, also as it gains whole digits", () => {
    const name = "summer"
    const replica = new Store.Replica()
    probe(name, "L7OK", 0.4)
    replica.apply(Store.exportSince({ slabs: 0, entries: 0 }))
    const sumLine = () => {
      const expected = text(Store.sources())
      // Twice: its block made (or made again), then written over.
      expect(spaced(replica.sources())).toBe(expected)
      expect(spaced(replica.sources())).toBe(expected)
      return expected.split("\n").find((l) => l.startsWith(`maglev_probe_duration_seconds_sum{backend="${name}"`))
    }
    expect(sumLine()).toBe(`maglev_probe_duration_seconds_sum{backend="${name}",type="http"} 0.000400`)
    // Rounded to the microsecond: 0.0004 + 0.0000012345 s.
    probe(name, "L7OK", 0.0012345)
    expect(sumLine()).toBe(`maglev_probe_duration_seconds_sum{backend="${name}",type="http"} 0.000401`)
    // Whole seconds: one digit, then two, then three.
    probe(name, "L7OK", 2500)
    expect(sumLine()).toBe(`maglev_probe_duration_seconds_sum{backend="${name}",type="http"} 2.500401`)
    probe(name, "L7OK", 9000)
    expect(sumLine()).toBe(`maglev_probe_duration_seconds_sum{backend="${name}",type="http"} 11.500401`)
    probe(name, "L7OK", 900, 100)
    expect(sumLine()).toBe(`maglev_probe_duration_seconds_sum{backend="${name}",type="http"} 101.500401`)
  })

  it("values in fields: a count that gains a digit is written over in its field; the series is written again only when a value outgrows it", () => {
    const name = "fielder"
    probe(name, "L7OK", 0.4, 9)
    const replica = new Store.Replica()
    replica.apply(Store.exportSince({ slabs: 0, entries: 0 }))
    const T = `maglev_probe_total{backend="${name}",type="http",result="success",code="L7OK"} `
    const B = `maglev_probe_duration_seconds_bucket{backend="${name}",type="http",le="0.001"} `
    const S = `maglev_probe_duration_seconds_sum{backend="${name}",type="http"} `
    const C = `maglev_probe_duration_seconds_count{backend="${name}",type="http"} `
    /** The replica's render: its lines of this series, and how many series it wrote the long way. */
    const render = () => {
      const before = replica.written
      const body = text(replica.sources())
      expect(oneBlank(body)).toBe(text(Store.sources()))
      const lines = body.split("\n").filter((l) => [T, B, S, C].some((p) => l.startsWith(p))).sort()
      return { lines, written: replica.written - before }
    }
    // The first render writes every series the long way: each value in a field of its digits and two blanks.
    expect(render().lines).toEqual([`${B}  9`, `${S}  0.003600`, `${C}  9`, `${T}  9`].sort())
    expect(render().written, "nothing moved: every series from its block").toBe(0)
    probe(name, "L7OK", 0.4)
    expect(render(), "9 -> 10: written over in the field").toEqual({ lines: [`${B} 10`, `${S}  0.004000`, `${C} 10`, `${T} 10`].sort(), written: 0 })
    probe(name, "L7OK", 0.4, 90)
    expect(render(), "-> 100: the field full").toEqual({ lines: [`${B}100`, `${S}  0.040000`, `${C}100`, `${T}100`].sort(), written: 0 })
    probe(name, "L7OK", 0.4, 900)
    // 1,000 outgrows the field of 3: the counter series and the histogram written again, in fields of 6.
    expect(render(), "-> 1,000: written again").toEqual({
      lines: [`${B}  1000`, `${S}  0.400000`, `${C}  1000`, `${T}  1000`].sort(),
      written: 2
    })
    expect(render().written, "and from their new blocks").toBe(0)
    // Every line is what the strict parser reads (values after any number of blanks).
    const m = parse(text(replica.sources()))
    expect(valueOf(m, "maglev_probe_total", { backend: name })).toBe(1000)
    expect(valueOf(m, "maglev_probe_duration_seconds", { backend: name }, "maglev_probe_duration_seconds_sum")).toBe(0.4)
  })

  it("a series' values growing through every digit count, its blocks made again as they outgrow their fields", () => {
    const name = "grower"
    probe(name, "L7OK", 0.4)
    const replica = new Store.Replica()
    replica.apply(Store.exportSince({ slabs: 0, entries: 0 }))
    let before = 0
    let most = 0
    // 1 -> 20,000 probes: every series' width changes at 10, 100, 1,000, 10,000; a value that outgrows its field (its
    // digits and two blanks when written) makes its block again, with room again.
    for (let n = 1; n <= 20_000; n = Math.ceil(n * 1.3)) {
      probe(name, "L7OK", 0.4, n - before)
      before = n
      expect(spaced(replica.sources())).toBe(text(Store.sources()))
      most = Math.max(most, replica.keptBytes)
    }
    // Live blocks: at most one copy of what a render writes (the first test's series too), the fields' blanks (two a
    // value, 16 a series) and each block's room to grow (16 bytes).
    expect(most).toBeLessThan(renderBytes(Store.sources()).length + 32 * replica.seriesCount)
  })

  it("Blocks: dead bytes counted, stale once they outweigh half the live ones and a chunk, reset to nothing", () => {
    const b = new Blocks()
    const blocks = Array.from({ length: 4000 }, (_, i) => b.keep(Buffer.from(`block ${i} `.padEnd(1000, "x"))))
    expect(b.bytes).toBe(4_000_000)
    expect(Buffer.from(blocks[3999]!).toString("latin1").startsWith("block 3999 ")).toBe(true)
    const drop = (from: number, to: number) => blocks.slice(from, to).forEach((block) => b.drop(block))
    drop(0, 900)
    expect(b.stale(), "dead 0.9 MB: less than a chunk").toBe(false)
    drop(900, 1100)
    expect(b.stale(), "dead 1.1 MB, live 2.9 MB").toBe(false)
    drop(1100, 1400)
    expect(b.stale(), "dead 1.4 MB, live 2.6 MB").toBe(true)
    expect(b.bytes).toBe(2_600_000)
    b.reset()
    expect(b.bytes).toBe(0)
    expect(b.stale()).toBe(false)
  })
})

describe("kept blocks of the per-backend gauges (Columns)", () => {
  const names = ["a", "b\"q", "c\\d", "d\ne", "é"]
  const data: Columns.LayoutData = {
    key: 1,
    names,
    rows: names.map((n) => `maglev_frontend_pool_backend_weight{frontend="f",pool="p",backend="${n.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"} `)
  }
  const columns = (status: ReadonlyArray<number>, counter: ReadonlyArray<number>, removed: ReadonlyArray<string> = []): Columns.Columns => ({
    layout: 1,
    at: Int32Array.from([...names.map((_, i) => i), ...removed.map(() => -1)]),
    removed,
    status: Uint8Array.from([...status, ...removed.map(() => STATUSES.indexOf("removed"))]),
    counter: Float64Array.from([...counter, ...removed.map(() => 0)]),
    weights: Float64Array.from(names.map((_, i) => i * 10))
  })

  it("state, health and enabled lines as statuses change, a counter gains a digit, a reload removes a backend", async () => {
    const kept = Columns.layout(data, true)
    const plain = Columns.layout(data)
    // As the scrape worker renders them: kept between renders (Merge's Families), an unchanged family sent as it was,
    // a changed one written from its last bytes with the values that changed written over (`patch`), or whole.
    const families = new Families()
    let patched = 0
    const render = async (c: Columns.Columns) => {
      const sources = Columns.sources(kept, c).map((s) => ({
        ...s,
        ...(s.patch === undefined ? {} : { patch: (...a: Parameters<NonNullable<typeof s.patch>>) => s.patch!(...a) && ++patched > 0 })
      }))
      const slices = new Slices(1000)
      const pieces: Array<Uint8Array> = []
      expect(await writeInOrder(new Map(), new Writer(), [], sources, renderGroups([], new Set()), slices, (p) => pieces.push(p), families)).toBe(true)
      return Buffer.concat(pieces).toString("utf8")
    }
    const same = async (c: Columns.Columns, what: string, patches: number) => {
      patched = 0
      expect(await render(c), what).toBe(text(Columns.sources(plain, c)))
      expect(patched, `${what}: families written from their last bytes`).toBe(patches)
    }
    await same(columns([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]), "first: written whole", 0)
    await same(columns([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]), "the same: sent as they were", 0)
    await same(columns([1, 2, 3, 4, 5], [4, 0, 9, 1, 2]), "every status changed (state, health, enabled)", 3)
    await same(columns([1, 2, 3, 4, 5], [4, 0, 10, 12, 2]), "a counter gains a digit: health whole", 0)
    await same(columns([4, 4, 1, 1, 0], [9, 0, 3, 1, 2]), "and loses it; disabled", 2)
    await same(columns([4, 4, 1, 1, 0], [9, 0, 3, 1, 2], ["gone\"1", "gone2"]), "removed backends after them: whole", 0)
    await same(columns([4, 1, 1, 1, 0], [9, 0, 3, 1, 2], ["gone\"1", "gone2"]), "then a status: from the last bytes", 2)
    const m = parse(text(Columns.sources(kept, columns([1, 1, 1, 1, 1], [100, 3, 3, 3, 3], ["gone\"1"]))))
    expect(m.get("maglev_backend_health")!.samples.map((s) => [s.labels["backend"], s.value])).toEqual([
      ["a", 100], ["b\"q", 3], ["c\\d", 3], ["d\ne", 3], ["é", 3], ["gone\"1", 0]
    ])
    expect(m.get("maglev_backend_state")!.samples.filter((s) => s.value === 1).map((s) => s.labels["state"])).toEqual([
      "up", "up", "up", "up", "up", "removed"
    ])
  })

  it("the columns given back after each render (transferred: detached here): the kept families keep versions of their own", async () => {
    const kept = Columns.layout(data, true)
    const plain = Columns.layout(data)
    const families = new Families()
    let patched = 0
    let sent = 0
    const find = families.find.bind(families)
    families.find = (group) => {
      const hit = find(group)
      if (hit !== undefined) sent++
      return hit
    }
    const render = async (c: Columns.Columns) => {
      const sources = Columns.sources(kept, c).map((s) => ({
        ...s,
        ...(s.patch === undefined ? {} : { patch: (...a: Parameters<NonNullable<typeof s.patch>>) => s.patch!(...a) && ++patched > 0 })
      }))
      const pieces: Array<Uint8Array> = []
      expect(await writeInOrder(new Map(), new Writer(), [], sources, renderGroups([], new Set()), new Slices(1000), (p) => pieces.push(p), families)).toBe(true)
      return Buffer.concat(pieces).toString("utf8")
    }
    /** A render of `c`, then its arrays handed over as the scrape worker gives a part back (postMessage's transfer). */
    const renderAndGiveBack = async (c: Columns.Columns, what: string, patches: number, sends: number) => {
      const expected = text(Columns.sources(plain, c))
      patched = 0
      sent = 0
      expect(await render(c), what).toBe(expected)
      expect(patched, `${what}: families written from their last bytes`).toBe(patches)
      expect(sent, `${what}: families sent as they were`).toBe(sends)
      const given = Columns.transferable(c)
      expect(given).toHaveLength(4)
      structuredClone(undefined, { transfer: given })
      // Detached: what a version holding them would compare and patch against.
      expect([c.at.length, c.status.length, c.counter.length, c.weights.length], what).toEqual([0, 0, 0, 0])
    }
    await renderAndGiveBack(columns([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]), "first: written whole", 0, 0)
    await renderAndGiveBack(columns([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]), "the same values in new arrays: sent as they were", 0, 4)
    await renderAndGiveBack(columns([1, 0, 0, 0, 0], [4, 0, 0, 0, 0]), "a status and a counter changed: patched", 3, 1)
    await renderAndGiveBack(columns([1, 0, 0, 0, 0], [4, 0, 0, 0, 0]), "the same again", 0, 4)
    await renderAndGiveBack(columns([1, 0, 4, 0, 0], [4, 0, 0, 0, 0]), "disabled: state and enabled patched", 2, 2)
  })

  it("the kept families' replaced buffers written into again only once nobody reads an earlier body (Families.recycle)", async () => {
    const families = new Families()
    // Large enough to be recycled (64 KiB and over): a family's buffer of its own per render, ~330 bytes a backend.
    const many = Array.from({ length: 400 }, (_, i) => `n${i}`)
    const big = Columns.layout({ key: 2, names: many, rows: [] }, true)
    const bigPlain = Columns.layout({ key: 2, names: many, rows: [] })
    const cols = (down: number): Columns.Columns => ({
      layout: 2,
      at: Int32Array.from(many, (_, i) => i),
      removed: [],
      status: Uint8Array.from(many, (_, i) => (i === down ? 2 : 1)),
      counter: Float64Array.from(many, (_, i) => (i === down ? 0 : 4)),
      weights: new Float64Array(0)
    })
    const render = async (c: Columns.Columns) => {
      const pieces: Array<Uint8Array> = []
      expect(await writeInOrder(new Map(), new Writer(), [], Columns.sources(big, c), renderGroups([], new Set()), new Slices(1000), (p) => pieces.push(p), families)).toBe(true)
      return pieces
    }
    const state = (pieces: ReadonlyArray<Uint8Array>) => pieces.find((p) => Buffer.from(p).toString("latin1").startsWith("# HELP maglev_backend_state"))!
    const textOf = (pieces: ReadonlyArray<Uint8Array>) => Buffer.concat(pieces).toString("utf8")
    const first = await render(cols(0))
    const firstText = textOf(first)
    expect(firstText).toBe(text(Columns.sources(bigPlain, cols(0))))
    // A response still reads the first body: no recycle; the second render's state family is in a buffer of its own.
    const second = await render(cols(1))
    expect(state(second).buffer).not.toBe(state(first).buffer)
    expect(textOf(first), "the first body, still being read, unchanged").toBe(firstText)
    // Nobody reads the first body any more: the third render's state family is written into its buffer.
    families.recycle()
    const third = await render(cols(2))
    expect(state(third).buffer).toBe(state(first).buffer)
    expect(textOf(third)).toBe(text(Columns.sources(bigPlain, cols(2))))
    expect(textOf(second), "the second body, whose buffers were not recycled, unchanged").toBe(text(Columns.sources(bigPlain, cols(1))))
    // And on: every body the in-process render's, through patches into recycled buffers.
    for (let k = 3; k < 8; k++) {
      families.recycle()
      expect(textOf(await render(cols(k)))).toBe(text(Columns.sources(bigPlain, cols(k))))
    }
  })

  it("Columns.transferable: whole buffers of their own only; Columns.reuse: a given-back array of the same length only", () => {
    const whole = columns([0, 0, 0, 0, 0], [0, 0, 0, 0, 0])
    expect(Columns.transferable(whole)).toEqual([whole.at.buffer, whole.status.buffer, whole.counter.buffer, whole.weights.buffer])
    const backing = new ArrayBuffer(64)
    const shared = new Float64Array(new SharedArrayBuffer(40))
    const odd: Columns.Columns = {
      layout: 1,
      at: new Int32Array(backing, 8, 2), // part of a buffer
      removed: [],
      status: new Uint8Array(0), // empty
      counter: shared, // shared: not transferable
      weights: new Float64Array(backing, 0, 8) // the whole buffer, but `at` is in it too: transferred once
    }
    expect(Columns.transferable(odd)).toEqual([backing])
    const spare = Int32Array.from([7, 8, 9])
    expect(Columns.reuse(spare, 3, (n) => new Int32Array(n))).toBe(spare)
    expect(Columns.reuse(spare, 4, (n) => new Int32Array(n))).not.toBe(spare)
    structuredClone(undefined, { transfer: [spare.buffer] })
    const fresh = Columns.reuse(spare, 3, (n) => new Int32Array(n))
    expect(fresh === spare).toBe(false)
    expect(fresh).toHaveLength(3)
    expect(Columns.reuse(new Int32Array(0), 0, (n) => new Int32Array(n))).toHaveLength(0)
  })
})
