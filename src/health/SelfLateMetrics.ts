/**
 * The metrics of the self-lateness rule (SelfLate.ts): rounds not counted
 * because this daemon was late, and how late its event loop has been.
 * Registered in Effect's metric registry like the others (metrics/).
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

export const probeSelfLate = Metric.counter("maglev_probe_self_late_total", {
  description: "Probe rounds not counted because maglevd itself was late (event-loop delay, GC pause, CPU starvation), by reason: timeout (a timeout while late, dropped) or start (the round started too late and was skipped).",
  incremental: true
})

export const eventLoopDelay = Metric.gauge("maglev_event_loop_delay_seconds", {
  description: "The largest delay of maglevd's event loop over the last 10 seconds, in seconds (measured every 20 ms)."
})

/** Bounds of the start-lateness histogram, in seconds: 1 ms to 2.5 s. */
export const START_LATENESS_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export const probeStartLateness = Metric.histogram(
  "maglev_probe_start_lateness_seconds",
  MetricBoundaries.fromIterable(START_LATENESS_BUCKETS),
  "How late each probe round started against its due time (its timer fired late: maglevd's event loop was busy), in seconds; rounds skipped for starting too late included."
)

const NO_LABELS: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * By reason only: lateness is the daemon's, not a backend's (the log line
 * names one backend it hit), and two series cost a scrape nothing where one
 * per backend would cost thousands.
 */
const byReason = {
  timeout: Metric.taggedWithLabels(probeSelfLate, [MetricLabel.make("reason", "timeout")]),
  start: Metric.taggedWithLabels(probeSelfLate, [MetricLabel.make("reason", "start")])
}

/** Counts one round not counted, synchronously (tagged once: see metrics/Metrics.ts). */
export const countSelfLate = (reason: keyof typeof byReason): void => byReason[reason].unsafeUpdate(1, NO_LABELS)

export const setEventLoopDelay = (seconds: number): void => eventLoopDelay.unsafeUpdate(seconds, NO_LABELS)

/** Observes how late one round started, synchronously, allocating nothing (the metric is tagged once: see metrics/Metrics.ts). */
export const observeStartLateness = (lateMs: number): void =>
  probeStartLateness.unsafeUpdate(lateMs > 0 ? lateMs / 1000 : 0, NO_LABELS)
