/**
 * The health state machine of one backend: pure functions from a state and an
 * input (a probe result, an operator action, a reload) to the next state and
 * the transition it caused, if any. The HealthChecker's fibers only move data
 * in and out of these.
 *
 * The counter model is the original vpp-maglev's (HAProxy's counter, moved one
 * step per probe): a counter in 0..rise+fall-1; the backend is up while the
 * counter is >= rise. A pass adds one, a fail takes one away, so a fully-up
 * backend (counter at the maximum) needs `fall` fails in a row to go down, one
 * just come up (counter = rise) goes down on its next fail, and a fully-down one
 * needs `rise` passes to come back. Entering `unknown` preloads the counter to
 * rise-1: the first pass decides "up", and any fail decides "down" at once, so
 * a restarted daemon knows every backend's state after a single probe.
 */
import type { ProbeResult } from "./ProbeResult.js"

export const STATUSES = ["unknown", "up", "down", "paused", "disabled", "removed"] as const
export type HealthStatus = (typeof STATUSES)[number]

/** States in which probing is stopped and probe results are ignored. */
export const isInactive = (status: HealthStatus): boolean =>
  status === "paused" || status === "disabled" || status === "removed"

/** What caused a transition. */
export type TransitionCause = "probe" | "pause" | "resume" | "enable" | "disable" | "reload" | "removed"

export interface Transition {
  /** Epoch milliseconds. */
  readonly at: number
  readonly from: HealthStatus
  readonly to: HealthStatus
  readonly cause: TransitionCause
  /** The probe result that caused it (cause "probe"). */
  readonly result: ProbeResult | undefined
}

export interface Thresholds {
  readonly rise: number
  readonly fall: number
}

export interface BackendState {
  readonly status: HealthStatus
  /** 0..rise+fall-1. */
  readonly counter: number
  readonly rise: number
  readonly fall: number
  /** Last `history` transitions, oldest first. */
  readonly transitions: ReadonlyArray<Transition>
  readonly lastResult: ProbeResult | undefined
  /** Epoch milliseconds of the last recorded probe result. */
  readonly lastProbeAt: number | undefined
}

export const maxCounter = (t: Thresholds): number => t.rise + t.fall - 1

export interface Step {
  readonly state: BackendState
  /** Present when the status changed. */
  readonly transition: Transition | undefined
}

const remember = (
  transitions: ReadonlyArray<Transition>,
  transition: Transition,
  history: number
): ReadonlyArray<Transition> => {
  // concat, not a spread: `[...a, x]` reserves room to grow (17 slots, 152 B
  // for one transition against 24), and every backend keeps its history for
  // good: 1.1 MiB of the main heap at 10,000 backends (docs/health.md, "Scale").
  const next = transitions.concat([transition])
  return next.length > history ? next.slice(next.length - history) : next
}

/** Moves to `to` (recording the transition) with the given counter. */
const move = (
  state: BackendState,
  to: HealthStatus,
  counter: number,
  cause: TransitionCause,
  now: number,
  history: number,
  result?: ProbeResult
): Step => {
  if (state.status === to) return { state: { ...state, counter }, transition: undefined }
  const transition: Transition = { at: now, from: state.status, to, cause, result }
  return {
    state: { ...state, status: to, counter, transitions: remember(state.transitions, transition, history) },
    transition
  }
}

/**
 * The state of a backend seen for the first time: `unknown` with the counter
 * preloaded, or `disabled` when the configuration says so. No transition is
 * recorded for being born.
 */
export const initial = (thresholds: Thresholds, enabled: boolean): BackendState => ({
  status: enabled ? "unknown" : "disabled",
  counter: thresholds.rise - 1,
  rise: thresholds.rise,
  fall: thresholds.fall,
  transitions: [],
  lastResult: undefined,
  lastProbeAt: undefined
})

/**
 * Where one result moves an active state's counter: one step up or down
 * (HAProxy's model), except from `unknown`, which a pass takes straight to
 * `rise` and a failure to 0.
 */
export const counterAfter = (state: BackendState, ok: boolean): number => {
  const max = maxCounter(state)
  if (state.status === "unknown") return ok ? Math.min(state.rise, max) : 0
  return ok ? Math.min(state.counter + 1, max) : Math.max(state.counter - 1, 0)
}

/** The status an active state's counter means: `up` from `rise`. */
export const statusAt = (state: BackendState, counter: number): "up" | "down" => counter >= state.rise ? "up" : "down"

/**
 * Whether a result leaves an active state's status as it is (only its
 * counter, last result and time move): most rounds. The rounds change their
 * own copy of such a state in place (Rounds.decide); `record` is the rule.
 */
export const isSteady = (state: BackendState, ok: boolean): boolean =>
  !isInactive(state.status) && statusAt(state, counterAfter(state, ok)) === state.status

/**
 * Applies one probe result. Inactive states ignore it (and return the state
 * unchanged). A new state, spread from the one given.
 */
export const record = (state: BackendState, result: ProbeResult, now: number, history: number): Step => {
  if (isInactive(state.status)) return { state, transition: undefined }
  const counter = counterAfter(state, result.ok)
  const to = statusAt(state, counter)
  if (state.status === to) return { state: { ...state, counter, lastResult: result, lastProbeAt: now }, transition: undefined }
  const transition: Transition = { at: now, from: state.status, to, cause: "probe", result }
  return {
    state: { ...state, status: to, counter, transitions: remember(state.transitions, transition, history), lastResult: result, lastProbeAt: now },
    transition
  }
}

export type IntervalKind = "interval" | "fast-interval" | "down-interval"

/**
 * `interval` when up and fully healthy, `down-interval` when down and fully
 * down, `fast-interval` whenever the counter is in between (the state is
 * changing, or not known yet).
 */
export const intervalKind = (state: BackendState): IntervalKind => {
  if (state.status === "up" && state.counter >= maxCounter(state)) return "interval"
  if (state.status === "down" && state.counter === 0) return "down-interval"
  return "fast-interval"
}

/** ±10%: `random` in [0, 1) maps linearly onto [0.9, 1.1) × base. */
export const JITTER = 0.1

export const jitter = (baseMillis: number, random: number): number => baseMillis * (1 - JITTER + 2 * JITTER * random)

/**
 * A round that was not counted (maglevd was `lateMs` late: SelfLate.ts) is
 * rescheduled from now, that lateness further on (at most four intervals), at
 * a random point of [0.5, 1.5) intervals beyond. Backing off by the lateness
 * is what sheds it: a loop that is behind because it has more rounds than CPU
 * gets fewer rounds until it catches up, instead of spending everything on
 * rounds it then drops. Spreading over a whole interval (not the ±10% of
 * `jitter`) keeps rounds that were dropped together from coming due together
 * again.
 */
export const respread = (baseMillis: number, random: number, lateMs = 0): number =>
  Math.min(Math.max(0, lateMs), 4 * baseMillis) + baseMillis * (0.5 + random)

/**
 * The first probe of a backend at a random offset within its interval,
 * counted from a start `elapsedMs` ago: at start-up the checker builds its
 * backends a slice at a time, and spreads every first round over one
 * interval from when it began, so that a backend built late does not add
 * a whole interval of its own to the start-up (an offset already past is
 * now).
 */
export const firstDelay = (intervalMillis: number, random: number, elapsedMs = 0): number =>
  Math.max(0, intervalMillis * random - Math.max(0, elapsedMs))

/** Operator actions and their outcome: the next step, or why it is refused. */
export type ActionOutcome =
  | { readonly _tag: "Applied"; readonly step: Step }
  | { readonly _tag: "Refused"; readonly reason: string }

const applied = (step: Step): ActionOutcome => ({ _tag: "Applied", step })

/** Pause: probing stops, state `paused`. Refused on a disabled or removed backend; idempotent when paused. */
export const pause = (state: BackendState, now: number, history: number): ActionOutcome => {
  if (state.status === "disabled") return { _tag: "Refused", reason: "backend is disabled; enable it first" }
  if (state.status === "removed") return { _tag: "Refused", reason: "backend was removed from the configuration" }
  return applied(move(state, "paused", state.counter, "pause", now, history))
}

/**
 * Resume: a paused backend goes to `unknown` (counter preloaded) and probing
 * restarts; history is kept. Refused on a disabled or removed backend; a
 * backend that is not paused is left as it is.
 */
export const resume = (state: BackendState, now: number, history: number): ActionOutcome => {
  if (state.status === "disabled") return { _tag: "Refused", reason: "backend is disabled; enable it instead" }
  if (state.status === "removed") return { _tag: "Refused", reason: "backend was removed from the configuration" }
  if (state.status !== "paused") return applied({ state, transition: undefined })
  return applied(move(state, "unknown", state.rise - 1, "resume", now, history))
}

/** Disable: state `disabled`, probing stops. Idempotent; not for removed backends. */
export const disable = (state: BackendState, now: number, history: number): ActionOutcome => {
  if (state.status === "removed") return { _tag: "Refused", reason: "backend was removed from the configuration" }
  return applied(move(state, "disabled", state.counter, "disable", now, history))
}

/** Enable: a disabled backend goes back to `unknown` and probing restarts. Idempotent otherwise. */
export const enable = (state: BackendState, now: number, history: number): ActionOutcome => {
  if (state.status === "removed") return { _tag: "Refused", reason: "backend was removed from the configuration" }
  if (state.status !== "disabled") return applied({ state, transition: undefined })
  return applied(move(state, "unknown", state.rise - 1, "enable", now, history))
}

/** The backend left the configuration. */
export const remove = (state: BackendState, now: number, history: number): Step =>
  move(state, "removed", state.counter, "removed", now, history)

/**
 * The backend's health check changed on reload: probing restarts from
 * `unknown` (or `disabled`, when `enabled` is false) with the new thresholds.
 * History is kept.
 */
export const restart = (
  state: BackendState,
  thresholds: Thresholds,
  enabled: boolean,
  now: number,
  history: number
): Step => {
  const base: BackendState = {
    ...state,
    rise: thresholds.rise,
    fall: thresholds.fall,
    transitions: state.transitions.slice(Math.max(0, state.transitions.length - history))
  }
  return move(base, enabled ? "unknown" : "disabled", thresholds.rise - 1, "reload", now, history)
}

/** Trims the history to a new length (a reload may shorten `transition-history`). */
export const withHistory = (state: BackendState, history: number): BackendState =>
  state.transitions.length > history
    ? { ...state, transitions: state.transitions.slice(state.transitions.length - history) }
    : state
