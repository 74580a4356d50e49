/**
 * Slow start (HAProxy's `slowstart`): a backend that comes up is not given its
 * whole weight at once, but ramps up to it over `slow-start`, in steps. Pure
 * functions of (now, start, duration, weight); the LB sync owns the start
 * times (one per backend, `Ramps`) and wakes itself at each step (`nextStepAt`).
 *
 * The rule: a ramp of duration D to weight W has n = min(W, ⌊D / 1 s⌋) steps
 * (at least 1) of equal length L = D / n, so steps are never shorter than a
 * second and never more than W; during step k (0..n-1, from the start) the
 * weight is ⌈W·(k+1)/(n+1)⌉, and from D on it is W. So 30 s to weight 100 is
 * 4, 7, 10, … 97 a second apart, then 100 at 30 s: at most n + 1 weight
 * messages per AS and ramp, whatever the duration. The first step is never 0
 * (W ≥ 1): the backend takes a few new flows at once, as in HAProxy.
 *
 * The duration is the pool's `slow-start` if it has one, else the backend's
 * health check's, else none (docs/config-guide.md).
 */
import { Duration } from "effect"
import type { Config, Pool } from "../config/Config.js"
import type { Transition } from "../health/HealthState.js"

/** The shortest step. */
export const MIN_STEP_MS = 1000

/**
 * When each ramping backend's ramp started (epoch ms), and the time the
 * weights are computed for: the ramp input of the desired state (Desired.ts).
 */
export interface Ramps {
  readonly now: number
  readonly startedAt: (backend: string) => number | undefined
}

/** The number of steps of a ramp (≥ 1). */
export const steps = (durationMs: number, weight: number): number =>
  Math.max(1, Math.min(weight, Math.floor(durationMs / MIN_STEP_MS)))

/**
 * How close to a step's boundary counts as on it (ms). Times are fractional
 * (a transition's time, a test clock moved in steps from one), and a boundary
 * computed as start + offset can come out a rounding error after a `now`
 * that is on it: without the tolerance the step would not have begun, its
 * boundary would be 1e-12 ms away, and the ramp fiber would wait that long,
 * over and over (a loop on a test clock, which never moves by itself). More
 * than the float spacing of epoch milliseconds (2.4e-4).
 */
const ON_BOUNDARY_MS = 1e-3

/** The step `now` is in (0..n-1), or undefined when there is no ramp or it is over. */
const stepOf = (weight: number, durationMs: number, startedAt: number, now: number): number | undefined => {
  if (durationMs <= 0 || weight <= 1) return undefined
  const elapsed = now - startedAt + ON_BOUNDARY_MS
  if (elapsed >= durationMs) return undefined
  const n = steps(durationMs, weight)
  if (elapsed <= 0) return 0
  let k = Math.floor((elapsed * n) / durationMs)
  // The boundaries are where nextStepAt says (rounded up to the ms): on or before them, still the step before.
  while (k > 0 && startedAt + Math.ceil((k * durationMs) / n) > now + ON_BOUNDARY_MS) k--
  return k
}

/**
 * Whether a step that begins at `due` (a `nextStepAt`) has begun at `now`: on
 * its boundary counts, as for the weights. A wake-up a rounding error short of
 * the boundary (a sleep of `due - now` ends at `now + (due - now)`, which need
 * not be `due`) must send the step the weights already give, not skip it.
 */
export const isDue = (due: number, now: number): boolean => now + ON_BOUNDARY_MS >= due

/** The weight at `now` of a ramp to `weight` that started at `startedAt`. */
export const weightAt = (weight: number, durationMs: number, startedAt: number, now: number): number => {
  const k = stepOf(weight, durationMs, startedAt, now)
  if (k === undefined) return weight
  return Math.ceil((weight * (k + 1)) / (steps(durationMs, weight) + 1))
}

/** When the weight next changes (epoch ms, after `now`); undefined when the ramp is over. */
export const nextStepAt = (weight: number, durationMs: number, startedAt: number, now: number): number | undefined => {
  const k = stepOf(weight, durationMs, startedAt, now)
  if (k === undefined) return undefined
  return startedAt + Math.ceil(((k + 1) * durationMs) / steps(durationMs, weight))
}

/** The slow start of `backend` through `pool`, in ms (0 = none): the pool's, else its health check's. */
export const durationMs = (config: Config, pool: Pool, backend: string): number => {
  const d = pool.slowStart ?? config.healthchecks.get(config.backends.get(backend)?.healthcheck ?? "")?.slowStart
  return d === undefined ? 0 : Duration.toMillis(d)
}

const longestCache = new WeakMap<Config, number>()

/** The longest slow start in the configuration (ms; 0: none): a ramp older than this is over everywhere. */
export const longestMs = (config: Config): number => {
  let longest = longestCache.get(config)
  if (longest === undefined) {
    longest = computeLongest(config)
    longestCache.set(config, longest)
  }
  return longest
}

const computeLongest = (config: Config): number => {
  let longest = 0
  for (const hc of config.healthchecks.values()) if (hc.slowStart !== undefined) longest = Math.max(longest, Duration.toMillis(hc.slowStart))
  for (const f of config.frontends.values()) {
    for (const p of f.pools) if (p.slowStart !== undefined) longest = Math.max(longest, Duration.toMillis(p.slowStart))
  }
  return longest
}

/**
 * When a backend's ramp started, from its health: the time of its last
 * transition when that one brought it up after `since` (the end of the
 * warm-up: restart neutrality) less than `longestMs` ago; undefined otherwise
 * (not up, up since before the warm-up ended, or the ramp is over everywhere).
 */
export const rampStart = (
  health: { readonly status: string; readonly transitions: ReadonlyArray<Transition> },
  since: number,
  now: number,
  longestMs: number
): number | undefined => {
  if (health.status !== "up") return undefined
  const t = health.transitions[health.transitions.length - 1]
  if (t === undefined || t.to !== "up" || t.at < since || now >= t.at + longestMs) return undefined
  return t.at
}

/** An up AS of the active `pool` with its ramp's step weight and end, when its ramp is in progress; else `as` itself. */
export const ramped = <A extends { readonly backend: string; readonly weight: number }>(
  as: A,
  config: Config,
  pool: Pool,
  ramps: Ramps
): A | (A & { readonly slowStartUntil: number }) => {
  const startedAt = ramps.startedAt(as.backend)
  if (startedAt === undefined) return as
  const duration = durationMs(config, pool, as.backend)
  if (nextStepAt(as.weight, duration, startedAt, ramps.now) === undefined) return as
  return { ...as, weight: weightAt(as.weight, duration, startedAt, ramps.now), slowStartUntil: startedAt + duration }
}

/**
 * A ramping backend's schedule at `now`, over its memberships (the pools of
 * `frontends` that list it): when its weight next changes in any of them, when
 * its ramp is over in all of them (`end`), and whether it is (then it can be
 * forgotten). A backend without a slow start has no `next` and is over at once.
 */
export const schedule = (
  config: Config,
  frontends: Iterable<{ readonly pools: ReadonlyArray<Pool> }>,
  backend: string,
  startedAt: number,
  now: number
): { readonly next: number | undefined; readonly end: number; readonly over: boolean } => {
  let next: number | undefined
  let longest = 0
  for (const f of frontends) {
    for (const pool of f.pools) {
      const member = pool.backends.find((m) => m.backend === backend)
      if (member === undefined) continue
      const d = durationMs(config, pool, backend)
      longest = Math.max(longest, d)
      const t = nextStepAt(member.weight, d, startedAt, now)
      if (t !== undefined && (next === undefined || t < next)) next = t
    }
  }
  return { next, end: startedAt + longest, over: isDue(startedAt + longest, now) }
}
