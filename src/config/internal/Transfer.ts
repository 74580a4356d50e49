/**
 * A check's result as a worker thread can post it. Structured clone keeps the
 * configuration's Maps, arrays and plain objects, but not the prototype of an
 * Effect `Duration`: each one travels as its nanoseconds and is rebuilt on the
 * other side.
 *
 * Both directions replace the Durations in place, with no copy of the rest: the
 * worker's result is thrown away once posted, and the posted clone belongs to
 * the receiver. So decoding 50,000 backends on the daemon's event loop is a
 * walk over them, not a rebuild.
 */
import { Duration } from "effect"
import { fromNanos, toNanos } from "../Duration.js"
import type { CheckResult } from "../Issue.js"

const NANOS = "__durationNanos"

interface Nanos {
  readonly [NANOS]: bigint
}

const isNanos = (value: object): value is Nanos => NANOS in value

/** Replaces, inside `value`, every object that `swap` changes. */
const swapDeep = (value: unknown, swap: (value: object) => unknown): void => {
  if (typeof value !== "object" || value === null) return
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      if (typeof v !== "object" || v === null) continue
      const s = swap(v)
      if (s !== v) value[i] = s
      else swapDeep(v, swap)
    }
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      if (typeof v !== "object" || v === null) continue
      const s = swap(v)
      if (s !== v) value.set(k, s)
      else swapDeep(v, swap)
    }
  } else {
    const record = value as Record<string, unknown>
    for (const k of Object.keys(record)) {
      const v = record[k]
      if (typeof v !== "object" || v === null) continue
      const s = swap(v)
      if (s !== v) record[k] = s
      else swapDeep(v, swap)
    }
  }
}

/** Every `Duration` replaced by its nanoseconds, in place (the result is posted and then dropped). */
export const encode = (result: CheckResult): unknown => {
  swapDeep(result, (v) => (Duration.isDuration(v) ? { [NANOS]: toNanos(v) } : v))
  return result
}

/** The result `encode` was given, Durations and all, rebuilt in place in the posted clone. */
export const decode = (posted: unknown): CheckResult => {
  swapDeep(posted, (v) => (isNanos(v) ? fromNanos(v[NANOS]) : v))
  return posted as CheckResult
}
