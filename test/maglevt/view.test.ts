/**
 * The full-screen frame as text (it always fits the terminal, colour never
 * counts towards a line's width) and the probe cadence under TestClock.
 */
import { it } from "@effect/vitest"
import { Clock, Duration, Effect, FastCheck as fc, Fiber, Ref, TestClock } from "effect"
import { describe, expect } from "vitest"
import { jittered, probeForever } from "../../src/maglevt/Cadence.js"
import { Monitor } from "../../src/maglevt/Monitor.js"
import * as O from "../../src/maglevt/Outcome.js"
import type { Target } from "../../src/maglevt/Targets.js"
import { fit, frame, frameLines, visibleText } from "../../src/maglevt/View.js"

const target = (i: number): Target => ({
  name: `vip${i}`,
  address: `127.0.0.${i}`,
  family: 4,
  port: 80,
  kind: i % 3 === 0 ? "tcp" : "http",
  endpoint: `127.0.0.${i}:80`
})

const busy = (vips: number, errors: number): Monitor => {
  const m = new Monitor(Array.from({ length: vips }, (_, i) => target(i + 1)))
  for (let i = 0; i < vips; i++) for (let k = 0; k < 20; k++) m.record(i, O.ok(1 + k, 200, `backend-${k % 3}`), k * 10)
  for (let k = 0; vips > 0 && k < errors; k++) m.record(0, O.network(1, "refused", `connect ECONNREFUSED 127.0.0.1:80 #${k}`), 300 + k)
  return m
}

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")

describe("maglevt view", () => {
  it("shows every VIP, its tally and the errors, newest first", () => {
    const lines = frameLines(busy(2, 3), { now: 400, width: 140, height: 20, color: false, title: "maglevt test" }).map(visibleText)
    expect(lines[0]).toMatch(/^maglevt test +q quits$/)
    expect(lines[1]).toMatch(/^VIP +ENDPOINT +KIND +N +FAIL +OK% +P50 +P95 +P99 +MAX +LAST$/)
    expect(lines[2]).toMatch(/^vip1 +127\.0\.0\.1:80 +http +23 +3 +86\.96% +10\.0ms +19\.0ms +20\.0ms +20\.0ms +refused$/)
    expect(lines[3]).toBe("  serving: backend-0 7, backend-1 7, backend-2 6")
    expect(lines[4]).toMatch(/^vip2 .* 200 backend-1$/)
    expect(lines.find((l) => l.startsWith("ERRORS"))).toBe("ERRORS  timeout 0  http 0  network 3  spike 0")
    expect(lines.filter((l) => / network +refused: /.test(l)).map((l) => l.slice(-2))).toEqual(["#2", "#1", "#0"])
  })

  it("an error seen again is one line with its count", () => {
    const m = busy(1, 0)
    for (let k = 0; k < 4; k++) m.record(0, O.network(1, "refused", "connect ECONNREFUSED 127.0.0.1:80"), 1000 + k)
    const lines = frameLines(m, { now: 1004, width: 140, height: 20, color: false, title: "t" }).map(visibleText)
    expect(lines.filter((l) => / refused: /.test(l))).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d\.003  vip1 network refused: connect ECONNREFUSED 127\.0\.0\.1:80 ×4 since \d\d:\d\d:\d\d\.000$/)
    ])
  })

  it("drained backends are listed apart", () => {
    const m = busy(1, 0)
    m.record(0, O.ok(1, 200, "backend-9"), 6000)
    const lines = frameLines(m, { now: 6000, width: 140, height: 20, color: false, title: "t" }).map(visibleText)
    expect(lines[3]).toBe("  serving: backend-9 1   drained: backend-0 7, backend-1 7, backend-2 6")
  })

  it.prop("every frame fits the terminal, in colour or not", [
    fc.integer({ min: 0, max: 30 }),
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: 1, max: 200 }),
    fc.integer({ min: 1, max: 60 }),
    fc.boolean()
  ], ([vips, errors, width, height, color]) => {
    const m = busy(vips, errors)
    const text = frame(m, { now: 400, width, height, color, title: "maglevt 0.1.0 on host" })
    expect(text.startsWith("\x1b[H")).toBe(true)
    const lines = strip(text).split("\r\n")
    expect(lines.length).toBeLessThanOrEqual(height)
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(width)
    if (!color) expect(text.replace(/\x1b\[(H|K|J)/g, "")).not.toMatch(/\x1b/)
  })

  it("says how many VIP lines did not fit", () => {
    const lines = frameLines(busy(12, 5), { now: 400, width: 120, height: 12, color: false, title: "t" }).map(visibleText)
    expect(lines).toHaveLength(12)
    expect(lines.find((l) => l.startsWith("…"))).toMatch(/^… \d+ more lines: make the terminal taller, or use --filter$/)
    expect(lines.filter((l) => / network +refused/.test(l))).toHaveLength(3)
  })

  it("cuts before it paints", () => {
    expect(fit([{ text: "abc", style: "bad" }, { text: "def", style: "plain" }], 4, true)).toBe("\x1b[31mabc\x1b[0md")
    expect(fit([{ text: "abc", style: "bad" }], 2, false)).toBe("ab")
  })
})

describe("maglevt cadence", () => {
  it.prop("jitter stays within ±10 %", [fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })], ([ms, u]) => {
    const d = Duration.toMillis(jittered(Duration.millis(ms), u))
    expect(d).toBeGreaterThanOrEqual(ms * 0.9 - 1e-9)
    expect(d).toBeLessThan(ms * 1.1 + 1e-9)
  })

  it.effect("probes every interval ±10 %, and at once after a probe longer than the interval", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make<Array<number>>([])
      const slow = yield* Ref.make(false)
      const probe = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(starts, (s) => [...s, now])
        if (yield* Ref.get(slow)) yield* Effect.sleep(Duration.millis(250))
        return "ok"
      })
      const reports = yield* Ref.make(0)
      const fiber = yield* Effect.fork(probeForever(probe, Duration.millis(100), () => Ref.update(reports, (n) => n + 1)))
      yield* TestClock.adjust(Duration.seconds(10))
      const fast = yield* Ref.get(starts)
      // 10 s at 90..110 ms: between 91 and 112 probes, each gap within the jitter.
      expect(fast.length).toBeGreaterThanOrEqual(91)
      expect(fast.length).toBeLessThanOrEqual(112)
      for (let i = 1; i < fast.length; i++) {
        expect(fast[i]! - fast[i - 1]!).toBeGreaterThanOrEqual(89)
        expect(fast[i]! - fast[i - 1]!).toBeLessThanOrEqual(111)
      }
      yield* Ref.set(slow, true)
      const before = fast.length
      yield* TestClock.adjust(Duration.seconds(10))
      const all = yield* Ref.get(starts)
      for (let i = before + 1; i < all.length; i++) expect(all[i]! - all[i - 1]!).toBeCloseTo(250, 6)
      expect(yield* Ref.get(reports)).toBe(all.length - 1)
      yield* Fiber.interrupt(fiber)
    }))
})
