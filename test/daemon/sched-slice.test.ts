import * as os from "node:os"
import { describe, expect, it } from "vitest"
import * as SchedSlice from "../../src/daemon/SchedSlice.js"
import * as Native from "../../src/native/Native.js"

/** Linux 6.12 and later take a thread's own time slice (EEVDF's custom slices). */
const customSlices = (() => {
  const [major = 0, minor = 0] = os.release().split(/[.-]/).map(Number)
  return major > 6 || (major === 6 && minor >= 12)
})()

describe("--sched-slice", () => {
  it("reads off, and durations from 100us to 100ms in ns, us or ms", () => {
    expect(SchedSlice.parse("off")).toBe(0)
    expect(SchedSlice.parse("100us")).toBe(100_000)
    expect(SchedSlice.parse(" 0.5ms ")).toBe(500_000)
    expect(SchedSlice.parse("250000ns")).toBe(250_000)
    expect(SchedSlice.parse("100ms")).toBe(100_000_000)
    expect(SchedSlice.parse(SchedSlice.DEFAULT)).toBe(0)
  })

  it("refuses what is outside the kernel's bounds or no duration, saying what it expects", () => {
    for (const text of ["99us", "0.05ms", "101ms", "0us"]) expect(SchedSlice.parse(text)).toContain("from 100us to 100ms")
    for (const text of ["", "fast", "100", "1s", "-1ms", "1e3us"]) expect(SchedSlice.parse(text)).toContain("a duration such as 100us")
  })

  it("asks nothing for off, and gives the calling thread the slice where the kernel has custom slices", () => {
    const base = Native.schedSlice(0)
    expect(SchedSlice.apply(0)).toEqual({ _tag: "Off" })
    expect(Native.schedSlice(0)).toBe(base)
    try {
      const outcome = SchedSlice.apply(300_000)
      if (customSlices) {
        expect(outcome).toEqual({ _tag: "Applied", sliceNs: 300_000 })
        expect(Native.schedSlice(0)).toBe(300_000)
      } else {
        expect(outcome).toMatchObject({ _tag: "Unsupported", reason: expect.stringContaining("Linux 6.12") })
      }
    } finally {
      Native.setSchedSlice(0, 0)
    }
    expect(Native.schedSlice(0)).toBe(base)
  })
})
