import { it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { describe, expect } from "vitest"
import * as WarmUp from "../../src/lb/WarmUp.js"

describe("warm-up phases", () => {
  const w = WarmUp.start(1000, 5000, 30000)

  it("is hands-off until the min delay, releasing until the max delay, then done", () => {
    expect(WarmUp.phase(w, 1000)).toBe("hands-off")
    expect(WarmUp.phase(w, 5999)).toBe("hands-off")
    expect(WarmUp.phase(w, 6000)).toBe("releasing")
    expect(WarmUp.phase(w, 30999)).toBe("releasing")
    expect(WarmUp.phase(w, 31000)).toBe("done")
    expect(WarmUp.phase(WarmUp.finish(w), 2000)).toBe("done")
  })

  it("a zero delay disables its phase", () => {
    expect(WarmUp.phase(WarmUp.start(0, 0, 30000), 0)).toBe("releasing")
    expect(WarmUp.phase(WarmUp.start(0, 5000, 0), 10 ** 12)).toBe("releasing")
    expect(WarmUp.nextBoundary(WarmUp.start(0, 0, 0), 0)).toBeUndefined()
  })

  it.prop("the next boundary is the next phase change", [fc.nat(40000)], ([now]) => {
    const next = WarmUp.nextBoundary(w, now)
    if (next === undefined) {
      expect(WarmUp.phase(w, now)).toBe("done")
    } else {
      expect(next).toBeGreaterThan(now)
      expect(WarmUp.phase(w, next)).not.toBe(WarmUp.phase(w, now))
      expect(WarmUp.phase(w, next - 1)).toBe(WarmUp.phase(w, now))
    }
  })

  it("a VIP is releasable once none of its backends is unknown", () => {
    const vip = (statuses: ReadonlyArray<string>) =>
      ({ ases: statuses.map((status) => ({ status })) }) as unknown as Parameters<typeof WarmUp.releasable>[0]
    expect(WarmUp.releasable(vip(["up", "down", "paused", "disabled"]))).toBe(true)
    expect(WarmUp.releasable(vip(["up", "unknown"]))).toBe(false)
    expect(WarmUp.releasable(vip([]))).toBe(true)
  })
})
