/**
 * A check's result as a worker thread can post it. Structured clone keeps the
 * configuration's Maps, arrays and plain objects, but not the prototype of an
 * Effect `Duration`: each one travels as its nanoseconds and is rebuilt on the
 * other side.
 */
import { Duration } from "effect"
import { fromNanos, toNanos } from "../Duration.js"
import type { CheckResult } from "../Issue.js"

const NANOS = "__durationNanos"

interface Nanos {
  readonly [NANOS]: bigint
}

const isNanos = (value: object): value is Nanos => NANOS in value

const mapDeep = (value: unknown, leaf: (value: object) => unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  const replaced = leaf(value)
  if (replaced !== value) return replaced
  if (Array.isArray(value)) return value.map((v) => mapDeep(v, leaf))
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, mapDeep(v, leaf)]))
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapDeep(v, leaf)]))
}

/** Every `Duration` replaced by its nanoseconds. */
export const encode = (result: CheckResult): unknown =>
  mapDeep(result, (v) => (Duration.isDuration(v) ? { [NANOS]: toNanos(v) } : v))

/** The result `encode` was given, Durations and all. */
export const decode = (posted: unknown): CheckResult =>
  mapDeep(posted, (v) => (isNanos(v) ? fromNanos(v[NANOS]) : v)) as CheckResult
