/**
 * Structural equality of configuration parts, for reloads: a backend whose
 * health check is equal keeps probing without a gap.
 */
import { Duration } from "effect"
import type { HealthCheck } from "./Config.js"

const same = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Duration.isDuration(a) && Duration.isDuration(b)) return Duration.equals(a, b)
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) return false
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  return ka.length === kb.length &&
    ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/**
 * Whether two health checks probe identically (Durations by value, undefined = absent);
 * `slowStart` is the LB sync's, not probing: a reload that changes only it keeps probing.
 */
export const healthCheckEquals = (a: HealthCheck, b: HealthCheck): boolean =>
  same({ ...a, slowStart: undefined }, { ...b, slowStart: undefined })
