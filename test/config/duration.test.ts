/**
 * Go duration text: parseDuration against time.ParseDuration's behaviour, and
 * formatDuration against Duration.String(), with a round-trip property.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc } from "effect"
import { formatDuration, fromNanos, parseDuration, toNanos } from "../../src/config/Duration.js"

const nanosOf = (text: string): bigint => {
  const parsed = parseDuration(text)
  if (Either.isLeft(parsed)) throw new Error(`${text}: ${parsed.left}`)
  return toNanos(parsed.right)
}

describe("parseDuration", () => {
  const valid: ReadonlyArray<readonly [string, bigint]> = [
    ["0", 0n],
    ["+0", 0n],
    ["-0", 0n],
    ["0s", 0n],
    ["1ns", 1n],
    ["1us", 1_000n],
    ["1µs", 1_000n], // micro sign
    ["1μs", 1_000n], // Greek mu
    ["300ms", 300_000_000n],
    ["2s", 2_000_000_000n],
    ["+5s", 5_000_000_000n],
    ["1.5s", 1_500_000_000n],
    ["1.s", 1_000_000_000n], // Go accepts a point with no digits after it
    [".5s", 500_000_000n], // ... or before it
    ["1m30s", 90_000_000_000n],
    ["2h45m", 9_900_000_000_000n],
    ["1h1m1s1ms1us1ns", 3_661_001_001_001n],
    ["1.5h", 5_400_000_000_000n],
    ["0.000000001s", 1n],
    ["1.0000000001s", 1_000_000_000n], // below a nanosecond is dropped, as in Go
    ["500us", 500_000n],
    ["100000h", 360_000_000_000_000_000n],
    ["9223372036854775807ns", 9_223_372_036_854_775_807n]
  ]
  for (const [text, nanos] of valid) {
    it(`accepts ${JSON.stringify(text)}`, () => {
      expect(nanosOf(text)).toBe(nanos)
    })
  }

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["", "expected a duration"],
    ["5", "missing unit"],
    ["1.5", "missing unit"],
    ["1x", 'unknown unit "x"'],
    ["1sm", 'unknown unit "sm"'],
    ["1 s", 'unknown unit " s"'],
    [" 1s", "expected a duration"],
    ["1e3s", 'unknown unit "e"'],
    ["-1s", "cannot be negative"],
    ["s", "expected a duration"],
    [".s", "expected a duration"],
    [".", "expected a duration"],
    ["--1s", "expected a duration"],
    ["9223372036854775808ns", "too large"],
    ["3000000h", "too large"]
  ]
  for (const [text, reason] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const parsed = parseDuration(text)
      expect(Either.isLeft(parsed) && parsed.left).toContain(reason)
    })
  }

  it("gives whole milliseconds as millis, so a parsed 2s equals Duration.seconds(2) exactly", () => {
    expect(Either.getOrThrow(parseDuration("2s"))).toStrictEqual(Duration.seconds(2))
    expect(Duration.equals(Either.getOrThrow(parseDuration("1500us")), Duration.micros(1500n))).toBe(true)
  })
})

describe("formatDuration", () => {
  const table: ReadonlyArray<readonly [Duration.Duration, string]> = [
    [Duration.zero, "0s"],
    [Duration.nanos(1n), "1ns"],
    [Duration.nanos(1500n), "1.5µs"],
    [Duration.millis(1), "1ms"],
    [Duration.millis(100), "100ms"],
    [Duration.millis(1500), "1.5s"],
    [Duration.seconds(90), "1m30s"],
    [Duration.minutes(165), "2h45m0s"],
    [Duration.hours(1), "1h0m0s"],
    [Duration.nanos(3_661_001_001_001n), "1h1m1.001001001s"],
    [Duration.infinity, "infinity"]
  ]
  for (const [d, text] of table) {
    it(`prints ${text} as Go does`, () => {
      expect(formatDuration(d)).toBe(text)
    })
  }

  it.prop("parseDuration reads back what formatDuration prints", [fc.bigInt({ min: 0n, max: (1n << 63n) - 1n })], ([nanos]) => {
    expect(nanosOf(formatDuration(fromNanos(nanos)))).toBe(nanos)
  })
})
