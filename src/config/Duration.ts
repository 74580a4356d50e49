/**
 * Go-style duration text (`200ms`, `1m30s`, `1.5s`), as operators know it from
 * the Go maglevd and from every other Go daemon's configuration.
 *
 * `parseDuration` follows Go's `time.ParseDuration` character for character
 * (including its float arithmetic for fractions, so `1.1h` gives the same
 * nanoseconds as Go) with one difference: a negative result is refused, since no
 * duration in the configuration can be negative and Effect's `Duration` cannot
 * represent one. `formatDuration` is Go's `Duration.String()`, so the two
 * round-trip: `parseDuration(formatDuration(d))` is `d`.
 */
import { Duration, Either } from "effect"

const NS = 1n
const US = 1_000n * NS
const MS = 1_000n * US
const S = 1_000n * MS
const M = 60n * S
const H = 60n * M

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", NS],
  ["us", US],
  ["µs", US], // U+00B5 micro sign
  ["μs", US], // U+03BC Greek small letter mu
  ["ms", MS],
  ["s", S],
  ["m", M],
  ["h", H]
])

/** Go's limit: a time.Duration is an int64 of nanoseconds. */
const MAX_NANOS = (1n << 63n) - 1n

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9"

/**
 * Builds a `Duration` from nanoseconds, as whole milliseconds when it is one,
 * so that a parsed `2s` is the same value as `Duration.seconds(2)` (not only
 * `Duration.equals` to it).
 */
export const fromNanos = (nanos: bigint): Duration.Duration =>
  nanos % MS === 0n && nanos / MS <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Duration.millis(Number(nanos / MS))
    : Duration.nanos(nanos)

/** Nanoseconds of a finite duration (the configuration never holds an infinite one). */
export const toNanos = (d: Duration.Duration): bigint => Duration.unsafeToNanos(d)

/**
 * Parses Go duration syntax: an optional sign, then one or more decimal
 * numbers, each with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`,
 * `s`, `m`, `h`); a bare `0` is also accepted. The left side is a reason fit to
 * show an operator.
 */
export const parseDuration = (text: string): Either.Either<Duration.Duration, string> => {
  let s = text
  let negative = false
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s[0] === "-"
    s = s.slice(1)
  }
  if (s === "0") return Either.right(Duration.zero)
  if (s === "") return Either.left("expected a duration like 2s, 500ms or 1m30s")

  let total = 0n
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) return Either.left("expected a duration like 2s, 500ms or 1m30s")

    // The integer part.
    let i = 0
    let whole = 0n
    while (isDigit(s[i])) {
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48)
      if (whole > MAX_NANOS) return Either.left("duration is too large")
      i++
    }
    const hasWhole = i > 0
    s = s.slice(i)

    // The fraction: Go keeps accumulating digits while they fit in an int64 and
    // skips the rest, which only drops precision far below a nanosecond.
    let fraction = 0n
    let scale = 1
    let hasFraction = false
    if (s[0] === ".") {
      s = s.slice(1)
      let j = 0
      let overflow = false
      while (isDigit(s[j])) {
        if (!overflow) {
          const next = fraction * 10n + BigInt(s.charCodeAt(j) - 48)
          if (next > MAX_NANOS) {
            overflow = true
          } else {
            fraction = next
            scale *= 10
          }
        }
        j++
      }
      hasFraction = j > 0
      s = s.slice(j)
    }
    // "." alone, ".s": no digits on either side of the point.
    if (!hasWhole && !hasFraction) return Either.left("expected a duration like 2s, 500ms or 1m30s")

    let u = 0
    while (u < s.length && s[u] !== "." && !isDigit(s[u])) u++
    if (u === 0) return Either.left("missing unit in duration (use ns, us, ms, s, m or h, e.g. 2s)")
    const unitText = s.slice(0, u)
    s = s.slice(u)
    const unit = UNITS.get(unitText)
    if (unit === undefined) {
      return Either.left(`unknown unit ${JSON.stringify(unitText)} in duration (use ns, us, ms, s, m or h)`)
    }

    if (whole > (1n << 63n) / unit) return Either.left("duration is too large")
    let value = whole * unit
    if (fraction > 0n) {
      // As Go: float64 is exact enough for a fraction of the largest unit (an hour).
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)))
      if (value > 1n << 63n) return Either.left("duration is too large")
    }
    total += value
    if (total > 1n << 63n) return Either.left("duration is too large")
  }
  if (negative && total !== 0n) return Either.left("a duration cannot be negative")
  if (total > MAX_NANOS) return Either.left("duration is too large")
  return Either.right(fromNanos(total))
}

/** `v / 10^precision` as digits after a point, trailing zeros dropped (Go's fmtFrac). */
const fraction = (v: bigint, precision: number): { readonly text: string; readonly rest: bigint } => {
  let digits = ""
  let printed = false
  let rest = v
  for (let i = 0; i < precision; i++) {
    const digit = rest % 10n
    printed = printed || digit !== 0n
    if (printed) digits = digit.toString() + digits
    rest /= 10n
  }
  return { text: printed ? "." + digits : "", rest }
}

/**
 * Go's `Duration.String()`: `0s`, `300ms`, `1.5µs`, `1m30s`, `2h45m0s`. The
 * form is unambiguous and `parseDuration` reads it back.
 */
export const formatDuration = (d: Duration.Duration): string => {
  if (!Duration.isFinite(d)) return "infinity"
  const n = toNanos(d)
  if (n === 0n) return "0s"
  if (n < S) {
    const [precision, unit] = n < US ? [0, "ns"] : n < MS ? [3, "µs"] : [6, "ms"]
    const f = fraction(n, precision)
    return `${f.rest}${f.text}${unit}`
  }
  const f = fraction(n, 9)
  const seconds = f.rest % 60n
  const minutes = (f.rest / 60n) % 60n
  const hours = f.rest / 3600n
  const tail = `${seconds}${f.text}s`
  if (hours > 0n) return `${hours}h${minutes}m${tail}`
  if (minutes > 0n) return `${minutes}m${tail}`
  return tail
}
