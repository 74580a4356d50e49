/**
 * The metrics of the self-lateness rule (SelfLate.ts): rounds not counted
 * because this daemon was late, and how late its event loop has been.
 * Registered in Effect's metric registry like the others (metrics/).
 */
import { Metric, MetricLabel } from "effect"

export const probeSelfLate = Metric.counter("maglev_probe_self_late_total", {
  description: "Probe rounds not counted because maglevd itself was late (event-loop delay, GC pause, CPU starvation), by backend and reason: timeout (a timeout while late, dropped) or start (the round started too late and was skipped).",
  incremental: true
})

export const eventLoopDelay = Metric.gauge("maglev_event_loop_delay_seconds", {
  description: "The largest delay of maglevd's event loop over the last 10 seconds, in seconds (measured every 20 ms)."
})

const NO_LABELS: ReadonlyArray<MetricLabel.MetricLabel> = []

export interface SelfLateCounter {
  readonly timeout: () => void
  readonly start: () => void
}

/** One backend's counters, tagged once (see metrics/Metrics.ts on why hot paths do that). */
export const selfLateCounter = (backend: string): SelfLateCounter => {
  const tag = (reason: string) =>
    Metric.taggedWithLabels(probeSelfLate, [MetricLabel.make("backend", backend), MetricLabel.make("reason", reason)])
  let timeout: Metric.Metric.Counter<number> | undefined
  let start: Metric.Metric.Counter<number> | undefined
  return {
    timeout: () => (timeout ??= tag("timeout")).unsafeUpdate(1, NO_LABELS),
    start: () => (start ??= tag("start")).unsafeUpdate(1, NO_LABELS)
  }
}

export const setEventLoopDelay = (seconds: number): void => eventLoopDelay.unsafeUpdate(seconds, NO_LABELS)
