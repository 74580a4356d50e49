/**
 * The exposition renderer (src/metrics/Prometheus.ts) through the strict
 * parser of exposition.ts, and the parser's own refusals. Effect's metric
 * registry is global to the process: the metrics made here have names of
 * their own (`test_prom_*`) and are read back by name.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Fiber, Metric, MetricBoundaries } from "effect"
import { spawnSync } from "node:child_process"
import * as Prometheus from "../../src/metrics/Prometheus.js"
import { parse, valueOf } from "./exposition.js"

const counterFamily = (name: string, samples: Prometheus.Sample[], help = "help"): Prometheus.Family => ({
  name,
  help,
  type: "counter",
  samples
})

describe("Prometheus text format", () => {
  it("escapes backslash, double quote and newline in label values, and backslash and newline in HELP", () => {
    const text = Prometheus.render([
      counterFamily("x_total", [{ labels: [["path", "C:\\dir \"q\"\nnext"]], value: 3 }], "a \\ help\nover two lines \"quoted\"")
    ])
    expect(text).toBe(
      [
        "# HELP x_total a \\\\ help\\nover two lines \"quoted\"",
        "# TYPE x_total counter",
        "x_total{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} 3",
        ""
      ].join("\n")
    )
    const parsed = parse(text).get("x_total")!
    expect(parsed.help).toBe("a \\ help\nover two lines \"quoted\"")
    expect(parsed.samples[0]!.labels).toEqual({ path: "C:\\dir \"q\"\nnext" })
  })

  // HELP text cannot start with a blank: the format separates it from the name with blanks.
  const helpText = FastCheck.string({ unit: "binary" }).filter((s) => !/^[ \t]/.test(s))

  it.prop("any label value and HELP text comes back from the parser as it went in", [FastCheck.string({ unit: "binary" }), helpText], ([value, help]) => {
    const parsed = parse(Prometheus.render([counterFamily("p_total", [{ labels: [["v", value]], value: 1 }], help)]))
    expect(parsed.get("p_total")!.samples[0]!.labels["v"]).toBe(value)
    expect(parsed.get("p_total")!.help).toBe(help)
  })

  it.effect("a histogram: cumulative buckets in le order, +Inf equal to _count, then _sum and _count", () =>
    Effect.gen(function*() {
      const h = Metric.histogram("test_prom_seconds", MetricBoundaries.fromIterable([0.001, 0.01, 0.1, 1]), "latency").pipe(
        Metric.tagged("backend", "h1")
      )
      for (const v of [0.0005, 0.001, 0.005, 0.05, 0.5, 5, 50]) yield* Metric.update(h, v)
      const families = Prometheus.fromSnapshot((yield* Metric.snapshot).filter((p) => p.metricKey.name === "test_prom_seconds"))
      const text = Prometheus.render(families)
      expect(text).toBe(
        [
          "# HELP test_prom_seconds latency",
          "# TYPE test_prom_seconds histogram",
          "test_prom_seconds_bucket{backend=\"h1\",le=\"0.001\"} 2",
          "test_prom_seconds_bucket{backend=\"h1\",le=\"0.01\"} 3",
          "test_prom_seconds_bucket{backend=\"h1\",le=\"0.1\"} 4",
          "test_prom_seconds_bucket{backend=\"h1\",le=\"1\"} 5",
          "test_prom_seconds_bucket{backend=\"h1\",le=\"+Inf\"} 7",
          "test_prom_seconds_sum{backend=\"h1\"} 55.5565",
          "test_prom_seconds_count{backend=\"h1\"} 7",
          ""
        ].join("\n")
      )
      const parsed = parse(text)
      expect(parsed.get("test_prom_seconds")!.type).toBe("histogram")
      expect(valueOf(parsed, "test_prom_seconds", { le: "+Inf" }, "test_prom_seconds_bucket")).toBe(7)
    }))

  it.effect("series of one name (several tag sets, several families) share one HELP and one TYPE", () =>
    Effect.gen(function*() {
      const c = Metric.counter("test_prom_grouped_total", { description: "grouped", incremental: true })
      yield* Metric.increment(Metric.tagged(c, "k", "a"))
      yield* Metric.incrementBy(Metric.tagged(c, "k", "b"), 2)
      const gauge = Metric.gauge("test_prom_level")
      yield* Metric.set(gauge, -1.5)
      const mine = (yield* Metric.snapshot).filter((p) => p.metricKey.name.startsWith("test_prom_grouped") || p.metricKey.name === "test_prom_level")
      const text = Prometheus.render([
        ...Prometheus.fromSnapshot(mine),
        counterFamily("test_prom_grouped_total", [{ labels: [["k", "c"]], value: 10n ** 20n }], "another help")
      ])
      expect(text.match(/^# HELP test_prom_grouped_total/gm)).toHaveLength(1)
      expect(text.match(/^# TYPE test_prom_grouped_total counter$/gm)).toHaveLength(1)
      const parsed = parse(text)
      expect(parsed.get("test_prom_grouped_total")!.help).toBe("grouped")
      expect(valueOf(parsed, "test_prom_grouped_total", { k: "a" })).toBe(1)
      expect(valueOf(parsed, "test_prom_grouped_total", { k: "b" })).toBe(2)
      expect(text).toContain("test_prom_grouped_total{k=\"c\"} 100000000000000000000\n")
      // no description: the name is the HELP
      expect(parsed.get("test_prom_level")).toMatchObject({ type: "gauge", help: "test_prom_level" })
      expect(valueOf(parsed, "test_prom_level")).toBe(-1.5)
      // families sorted by name
      expect([...parsed.keys()]).toEqual(["test_prom_grouped_total", "test_prom_level"])
    }))

  it.effect("a counter that takes decrements (not incremental) is a gauge to Prometheus", () =>
    Effect.gen(function*() {
      const c = Metric.counter("test_prom_updown")
      yield* Metric.incrementBy(c, 3)
      yield* Metric.incrementBy(c, -1)
      const mine = (yield* Metric.snapshot).filter((p) => p.metricKey.name === "test_prom_updown")
      const parsed = parse(Prometheus.render(Prometheus.fromSnapshot(mine)))
      expect(parsed.get("test_prom_updown")).toMatchObject({ type: "gauge", samples: [{ value: 2 }] })
    }))

  it("special values, invalid names, empty families and a type conflict", () => {
    const text = Prometheus.render([
      { name: "g", help: "", type: "gauge", samples: [{ labels: [], value: NaN }, { labels: [["s", "+"]], value: Infinity }, { labels: [["s", "-"]], value: -Infinity }] },
      { name: "g", help: "", type: "counter", samples: [{ labels: [["s", "dropped"]], value: 1 }] },
      { name: "9bad.name-x", help: "h", type: "gauge", samples: [{ labels: [["bad:label", "v"]], value: 1e-7 }] },
      { name: "nothing", help: "h", type: "counter", samples: [] }
    ])
    const parsed = parse(text)
    expect(valueOf(parsed, "g", { s: "+" })).toBe(Infinity)
    expect(valueOf(parsed, "g", { s: "-" })).toBe(-Infinity)
    expect(parsed.get("g")!.samples).toHaveLength(3)
    expect(Number.isNaN(parsed.get("g")!.samples[0]!.value)).toBe(true)
    expect(valueOf(parsed, "_9bad_name_x", { bad_label: "v" })).toBe(1e-7)
    expect(parsed.has("nothing")).toBe(false)
    expect(Prometheus.render([])).toBe("")
  })

  it.effect("a summary and a frequency from Effect's registry", () =>
    Effect.gen(function*() {
      const s = Metric.summary({ name: "test_prom_summary", maxAge: "1 minute", maxSize: 10, error: 0.01, quantiles: [0.5, 0.9] })
      for (const v of [1, 2, 3]) yield* Metric.update(s, v)
      const f = Metric.frequency("test_prom_words")
      for (const w of ["a", "b", "a"]) yield* Metric.update(f, w)
      const mine = (yield* Metric.snapshot).filter((p) => p.metricKey.name.startsWith("test_prom_s") || p.metricKey.name === "test_prom_words")
      const parsed = parse(Prometheus.render(Prometheus.fromSnapshot(mine)))
      expect(parsed.get("test_prom_summary")!.type).toBe("summary")
      expect(valueOf(parsed, "test_prom_summary", {}, "test_prom_summary_count")).toBe(3)
      expect(valueOf(parsed, "test_prom_summary", {}, "test_prom_summary_sum")).toBe(6)
      expect(valueOf(parsed, "test_prom_summary", { quantile: "0.5" })).toBeGreaterThanOrEqual(1)
      expect(valueOf(parsed, "test_prom_summary", { quantile: "0.9" })).toBeLessThanOrEqual(3)
      // a frequency is a counter: exported as ..._total
      expect(valueOf(parsed, "test_prom_words_total", { key: "a" })).toBe(2)
    }))

  it.effect("counters are exported as ..._total (Effect's effect_fiber_started too); gauges keep their names", () =>
    Effect.gen(function*() {
      yield* Metric.increment(Metric.counter("test_prom_started", { incremental: true }))
      yield* Metric.increment(Metric.counter("test_prom_done_total", { incremental: true }))
      const mine = (yield* Metric.snapshot).filter((p) => p.metricKey.name.startsWith("test_prom_started") || p.metricKey.name === "test_prom_done_total")
      const parsed = parse(Prometheus.render(Prometheus.fromSnapshot(mine)))
      expect([...parsed.keys()]).toEqual(["test_prom_done_total", "test_prom_started_total"])
      expect(Prometheus.exportedName("effect_fiber_started", "counter")).toBe("effect_fiber_started_total")
      expect(Prometheus.exportedName("effect_fiber_active", "gauge")).toBe("effect_fiber_active")
      expect(Prometheus.exportedName("9.x", "counter")).toBe("_9_x_total")
    }))

  it.effect("in slices: the same bytes as at once, the event loop let run between slices, and nothing more once interrupted", () =>
    Effect.gen(function*() {
      const many: Prometheus.Family = {
        name: "test_prom_many",
        help: "many",
        type: "gauge",
        samples: Array.from({ length: 5000 }, (_, i) => ({ labels: [["i", `${i} \"é\n`]] as const, value: i / 7 }))
      }
      const sources = [Prometheus.fromFamily(many), Prometheus.fromFamily(counterFamily("a_total", [{ labels: [], value: 1 }]))]
      const whole = Prometheus.renderText(sources)
      // A 0 ms slice: a yield every 16 units.
      const chunked = yield* Prometheus.renderChunked(sources, { sliceMs: 0, capacity: 16 })
      expect(chunked.body.toString("utf8")).toBe(whole)
      expect(chunked.slices).toBeGreaterThan(5000 / 16)
      // Written again into the first body's buffer (as the server does once it is sent): the same bytes, no new buffer.
      const again = yield* Prometheus.renderChunked(sources, { capacity: 16, reuse: Buffer.from(chunked.body.buffer as ArrayBuffer) })
      expect(again.body.buffer).toBe(chunked.body.buffer)
      expect(again.body.toString("utf8")).toBe(whole)
      expect(parse(whole).get("test_prom_many")!.samples).toHaveLength(5000)

      // Between two slices an immediate runs: the loop is not held.
      let immediates = 0
      const counting = Prometheus.fromFamily({ ...many, name: "test_prom_many2" })
      const ticker = setInterval(() => immediates++, 0)
      yield* Prometheus.renderChunked([counting], { sliceMs: 0 })
      clearInterval(ticker)
      expect(immediates).toBeGreaterThan(0)

      // Interrupted after its first slices: it writes no unit after that.
      let written = 0
      const watched: Prometheus.Source = { name: "w", help: "w", type: "gauge", size: 100_000, write: (w) => (written++, w.text("w 1\n")) }
      const fiber = yield* Effect.fork(Prometheus.renderChunked([watched], { sliceMs: 0 }))
      while (written === 0) yield* Prometheus.yieldToEventLoop
      yield* Fiber.interrupt(fiber)
      const atInterrupt = written
      expect(atInterrupt).toBeGreaterThan(0)
      expect(atInterrupt).toBeLessThan(100_000)
      yield* Effect.async<void>((resume) => void setImmediate(() => setImmediate(() => resume(Effect.void))))
      expect(written).toBe(atInterrupt)
    }))

  it.effect("the registry's counters and gauges by cached line prefixes: the same text as through plain families", () =>
    Effect.gen(function*() {
      const c = Metric.counter("test_prom_fast", { description: "fast \\ help", incremental: true })
      for (let i = 0; i < 50; i++) yield* Metric.incrementBy(Metric.tagged(Metric.tagged(c, "b", `x${i} "q"\n`), "t", "http"), i)
      yield* Metric.incrementBy(Metric.counter("test_prom_fast_updown"), -2)
      yield* Metric.set(Metric.gauge("test_prom_fast_level"), 0.25)
      yield* Metric.update(Metric.histogram("test_prom_fast_h", MetricBoundaries.fromIterable([1, 2])), 1.5)
      const mine = (yield* Metric.snapshot).filter((p) => p.metricKey.name.startsWith("test_prom_fast"))
      const fast = Prometheus.renderText(Prometheus.registrySources(mine))
      expect(fast).toBe(Prometheus.render(Prometheus.fromSnapshot(mine)))
      // twice: the cached prefixes
      expect(Prometheus.renderText(Prometheus.registrySources(mine))).toBe(fast)
      const parsed = parse(fast)
      expect(valueOf(parsed, "test_prom_fast_total", { b: "x7 \"q\"\n", t: "http" })).toBe(7)
      expect(valueOf(parsed, "test_prom_fast_updown")).toBe(-2)
      expect(parsed.get("test_prom_fast_h")!.type).toBe("histogram")
    }))

  it("label values with every escape and non-ASCII text, cached or not, come out the same", () => {
    const value = "a\\b\"c\nd é ✓"
    const once = Prometheus.render([counterFamily("c_total", [{ labels: [["v", value]], value: 1 }])])
    const twice = Prometheus.render([counterFamily("c_total", [{ labels: [["v", value]], value: 1 }])])
    expect(twice).toBe(once)
    expect(parse(once).get("c_total")!.samples[0]!.labels["v"]).toBe(value)
  })

  it("integers digit by digit, other values in JavaScript's shortest form", () => {
    const values = [0, 7, 10, 99, 100, 123456789, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -3, 0.5, 1e-7, 1e21, -0]
    const text = Prometheus.render([{ name: "v", help: "v", type: "gauge", samples: values.map((value, i) => ({ labels: [["i", String(i)]], value })) }])
    expect(parse(text).get("v")!.samples.map((s) => s.value)).toEqual(values.map((v) => (Object.is(v, -0) ? 0 : v)))
    expect(text).toContain("v{i=\"6\"} 9007199254740991\n")
    expect(text).toContain("v{i=\"7\"} 9007199254740994\n")
  })

  it("every way a value is written gives formatValue's text: digit counts' edges, 32-bit edges, floats", () => {
    const edges = [0, 9, 10, 99, 100, 999_999_999, 1_000_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e15 + 7, Number.MAX_SAFE_INTEGER]
    const values = [...edges, ...edges.map((v) => v + 1), 6.5534, 0.1 + 0.2, 1e-7, 1e21, -1, NaN, Infinity]
    const w = new Prometheus.Writer(16)
    const start = Prometheus.bytes("a{b=\"")
    for (const v of values) {
      w.value(v)
      w.byte(10)
      w.line(start, Prometheus.bytes("\"} "), v)
      w.line3(start, Prometheus.bytes("x"), Prometheus.bytes("\"} "), v)
    }
    const expected = values.map((v) => `${Prometheus.formatValue(v)}\na{b="\"} ${Prometheus.formatValue(v)}\na{b="x"} ${Prometheus.formatValue(v)}\n`)
    expect(w.result().toString("latin1")).toBe(expected.join(""))
  })
})

describe("the strict parser refuses", () => {
  const refuses = (text: string, reason: RegExp) => expect(() => parse(text)).toThrow(reason)

  it("malformed lines", () => {
    refuses("x 1", /newline/)
    refuses("x{a=\"1} 1\n", /unterminated/)
    refuses("x{a=\"\\t\"} 1\n", /bad escape/)
    refuses("x{a=\"1\",a=\"2\"} 1\n", /twice/)
    refuses("x{a=1} 1\n", /expected ="/)
    refuses("x{a \"1\"} 1\n", /expected ="/)
    refuses("x{a=\"1\" b=\"2\"} 1\n", /expected , or }/)
    refuses("x 1 \n", /blanks after/)
    refuses("x1\n", /expected a value/)
    refuses("x 1.2.3\n", /not a float/)
    refuses("x\n", /expected a value/)
    refuses("x 1 1.5\n", /timestamp/)
    refuses("# TYPE x countr\n", /bad type/)
    refuses("# HELP x a \\t\n", /bad escape/)
  })

  it("broken family rules", () => {
    refuses("# TYPE x gauge\n# TYPE x gauge\nx 1\n", /second TYPE/)
    refuses("x 1\n# TYPE x gauge\n", /after its samples/)
    refuses("x{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n", /not together/)
    refuses("x 1\nx 2\n", /twice/)
    refuses("# TYPE x counter\nx -1\n", /counter/)
  })

  it("broken histograms", () => {
    const h = (lines: string[]) => ["# TYPE h histogram", ...lines, ""].join("\n")
    refuses(h(["h_bucket{le=\"1\"} 1", "h_sum 1", "h_count 1"]), /\+Inf/)
    refuses(h(["h_bucket{le=\"1\"} 2", "h_bucket{le=\"+Inf\"} 1", "h_sum 1", "h_count 1"]), /cumulative/)
    refuses(h(["h_bucket{le=\"+Inf\"} 2", "h_sum 1", "h_count 1"]), /_count 1/)
    refuses(h(["h_bucket{le=\"+Inf\"} 1", "h_count 1"]), /_sum and _count/)
    refuses(h(["h_bucket 1", "h_sum 1", "h_count 1"]), /without le/)
    refuses(h(["h_bucket{le=\"2\"} 1", "h_bucket{le=\"1\"} 1", "h_bucket{le=\"+Inf\"} 1", "h_sum 1", "h_count 1"]), /le 1 after 2/)
  })
})

/**
 * Blanks and tabs between a line's tokens (the scrape worker writes its store
 * series' values right-aligned in fields: `}   12`): the strict parser takes
 * what `promtool check metrics` takes and refuses what it refuses (a missing
 * promtool fails the test: Debian's prometheus package, which .ci/run installs).
 */
describe("the strict parser and promtool on blanks between tokens", () => {
  const promtoolAccepts = (text: string): boolean => {
    const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
    if (run.error !== undefined) throw new Error(`promtool check metrics could not run (apt-get install prometheus): ${run.error.message}`)
    return run.status === 0
  }
  const parses = (text: string): boolean => {
    try {
      parse(text)
      return true
    } catch {
      return false
    }
  }
  const head = "# HELP a_total help\n# TYPE a_total counter\n"
  const cases: ReadonlyArray<readonly [line: string, accepted: boolean]> = [
    ["a_total{b=\"c\"} 12", true],
    ["a_total{b=\"c\"}    12", true],
    ["a_total{b=\"c\"}\t \t12", true],
    ["a_total{b=\"c\"}12", true],
    ["a_total   12", true],
    ["a_total\t12", true],
    ["  a_total{b=\"c\"} 12", true],
    ["\ta_total 12", true],
    ["a_total {b=\"c\"} 12", true],
    ["a_total{ b = \"c\" , d=\"e\" } 12", true],
    ["a_total{b=\"c\",} 12", true],
    ["a_total{b=\"c\"}   12   123", true],
    ["a_total{b=\"c\"} 12\t123", true],
    ["a_total{b=\"c\"} 12 ", false],
    ["a_total{b=\"c\"} 12 123 ", false],
    ["a_total 12\t", false],
    ["a_total{b=\"c\"} 1 2 3", false],
    ["a_total{b=\"c\"}", false],
    ["a_total{b=\"c\"}    ", false]
  ]
  it.each(cases)("%j: accepted %s by both", (line, accepted) => {
    const text = `${head}${line}\n`
    expect(promtoolAccepts(text), "promtool").toBe(accepted)
    expect(parses(text), "the strict parser").toBe(accepted)
    if (accepted) expect(parse(text).get("a_total")!.samples[0]!.value).toBe(12)
  })
})
