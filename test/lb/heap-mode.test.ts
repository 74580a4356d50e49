import { describe, expect, it } from "@effect/vitest"
import * as HeapMode from "../../src/lb/HeapMode.js"

describe("HeapMode", () => {
  it("lifts --optimize-for-size while the reconciler works, only where the process set it", () => {
    const set: Array<string> = []
    const mode = HeapMode.make((flag) => set.push(flag))
    // Not set by the process (a test, an embedding program): nothing is touched.
    mode.working()
    expect(mode.lifting()).toBe(true)
    mode.idle(0)
    expect(set).toEqual([])
    expect(mode.lifted()).toBe(false)
    expect(mode.lifting()).toBe(false)

    mode.optimizingForSize()
    mode.working()
    expect(set).toEqual(["--no-optimize-for-size"])
    mode.working() // a drain begun while one is in force: nothing more
    expect(set).toEqual(["--no-optimize-for-size"])
    expect(mode.lifted()).toBe(true)
    mode.idle(0)
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size"])
    expect(mode.lifted()).toBe(false)
    expect(mode.lifting()).toBe(false)
    // An idle without work changes nothing.
    mode.idle(0)
    expect(set).toHaveLength(2)
  })

  it("a lift that began before the process set the flag does not set it at its end", () => {
    const set: Array<string> = []
    const mode = HeapMode.make((flag) => set.push(flag))
    mode.working()
    mode.optimizingForSize()
    mode.idle(0)
    expect(set).toEqual([])
    mode.working()
    mode.idle(0)
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size"])
  })

  it("holds a lift while the reconciler works and for the hold after its last drain", () => {
    const set: Array<string> = []
    const due: Array<{ readonly f: () => void; readonly ms: number; cancelled: boolean }> = []
    const mode = HeapMode.make((flag) => set.push(flag), (f, ms) => {
      const t = { f, ms, cancelled: false }
      due.push(t)
      return () => (t.cancelled = true)
    })
    mode.optimizingForSize()
    mode.working()
    expect(set).toEqual(["--no-optimize-for-size"])
    mode.idle(10_000)
    expect(due.map((t) => t.ms)).toEqual([10_000])
    // Work again before the hold ends: the pending restore is cancelled, the flag stays lifted.
    mode.working()
    expect(due[0]!.cancelled).toBe(true)
    mode.idle(10_000)
    expect(set).toEqual(["--no-optimize-for-size"])
    expect(mode.lifted()).toBe(true)
    // The hold passes: the flag is set again.
    due[1]!.f()
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size"])
    expect(mode.lifting()).toBe(false)
    // An idle without work schedules nothing.
    mode.idle(10_000)
    expect(due).toHaveLength(2)
    // No hold (a drain that wrote nothing): the flag is set again at once, a pending hold cancelled.
    mode.working()
    mode.idle(10_000)
    mode.working()
    mode.idle(0)
    expect(due[2]!.cancelled).toBe(true)
    expect(due).toHaveLength(3)
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size", "--no-optimize-for-size", "--optimize-for-size"])
    expect(mode.lifting()).toBe(false)
  })
})
