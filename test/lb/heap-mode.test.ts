import { describe, expect, it } from "@effect/vitest"
import * as HeapMode from "../../src/lb/HeapMode.js"

describe("HeapMode", () => {
  it("lifts --optimize-for-size for the outermost lift and sets it again when the last one ends, only where the process set it", () => {
    const set: Array<string> = []
    const mode = HeapMode.make((flag) => set.push(flag))
    // Not set by the process (a test, an embedding program): nothing is touched.
    mode.lift()
    expect(mode.lifting()).toBe(true)
    mode.restore()
    expect(set).toEqual([])
    expect(mode.lifted()).toBe(false)

    mode.optimizingForSize()
    mode.lift()
    expect(set).toEqual(["--no-optimize-for-size"])
    mode.lift() // a full sync inside another (a reaction's sync turned full)
    mode.restore()
    expect(set).toEqual(["--no-optimize-for-size"])
    expect(mode.lifted()).toBe(true)
    mode.restore()
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size"])
    expect(mode.lifted()).toBe(false)
    expect(mode.lifting()).toBe(false)
    // An unmatched restore changes nothing.
    mode.restore()
    expect(set).toHaveLength(2)
  })

  it("a lift that began before the process set the flag does not set it at its end", () => {
    const set: Array<string> = []
    const mode = HeapMode.make((flag) => set.push(flag))
    mode.lift()
    mode.optimizingForSize()
    mode.restore()
    expect(set).toEqual([])
    mode.lift()
    mode.restore()
    expect(set).toEqual(["--no-optimize-for-size", "--optimize-for-size"])
  })
})
