/** grouped (config/internal/Grouped.ts): a count written as toLocaleString("en-US") writes it, without ICU. */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { grouped } from "../../src/config/internal/Grouped.js"

describe("grouped", () => {
  it("groups thousands with commas", () => {
    expect([0, 7, 999, 1000, 12_345, 100_000, 1_000_000, -4_096].map(grouped)).toEqual(["0", "7", "999", "1,000", "12,345", "100,000", "1,000,000", "-4,096"])
  })

  it.prop("as toLocaleString(\"en-US\") writes a whole number", [fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 })], ([n]) => {
    expect(grouped(n)).toBe(n.toLocaleString("en-US"))
  })
})
