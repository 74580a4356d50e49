/**
 * The metrics of the self-lateness rule (SelfLate.ts): rounds not counted
 * because this daemon was late, and how late its event loop has been.
 * Registered in Effect's metric registry like the others (metrics/).
 */
import { Metric, MetricLabel } from "effect"

export const probeSelfLate = Metric.counter("maglev_probe_self_late_total", {
  description: "Probe rounds not counted because maglevd itself was late (event-loop delay, GC pause, CPU starvation), by reason: timeout (a timeout while late, dropped) or start (the round started too late and was skipped).",
  incremental: true
})

export const eventLoopDelay = Metric.gauge("maglev_event_loop_delay_seconds", {
  description: "The largest delay of maglevd's event loop over the last 10 seconds, in seconds (measured every 20 ms)."
})

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
