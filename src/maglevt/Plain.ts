/**
 * maglevt's output when standard output is not a terminal: plain lines, one
 * per VIP every report period and one per event as it happens, each starting
 * with an ISO 8601 UTC time and the VIP's name:
 *
 *     <time> <vip> report <endpoint> <kind> n=N fail=N ok=P% p50=… p95=… p99=… max=… last=S [serving=a:N,…] [drained=b:N,…]
 *     <time> <vip> error <timeout|http|network|spike> <detail>
 *     <time> <vip> recovered after N failures
 *     <time> <vip> backend <name> <serving|drained>
 *
 * An error line is written when a VIP's errors start or change (class or
 * detail), not for each repeat of the same one: the report line counts them
 * (`errors=network:21`). Every spike is written (each has its own latency).
 */
import { ERROR_CLASSES } from "./Errors.js"
import type { MonitorEvent, VipStats } from "./Monitor.js"
import { statusText } from "./Outcome.js"
import { formatMs, formatPercent } from "./internal/Units.js"

const iso = (ms: number): string => new Date(ms).toISOString()

const tallyList = (vip: VipStats, now: number, state: "serving" | "drained"): string =>
  vip.tally.entries(now).filter((e) => e.state === state).map((e) => `${e.value}:${e.count}`).join(",")

export const reportLine = (vip: VipStats, now: number): string => {
  const p = vip.latency.percentiles(now)
  const ms = (v: number | undefined) => (v === undefined ? "-" : formatMs(v))
  const last = vip.last === undefined ? "-" : statusText(vip.last)
  const by = vip.last !== undefined && "servedBy" in vip.last && vip.last.servedBy !== undefined ? `/${vip.last.servedBy}` : ""
  const serving = tallyList(vip, now, "serving")
  const drained = tallyList(vip, now, "drained")
  const errors = ERROR_CLASSES.filter((c) => vip.errors[c] > 0).map((c) => `${c}:${vip.errors[c]}`).join(",")
  return [
    iso(now),
    vip.target.name,
    "report",
    vip.target.endpoint,
    vip.target.kind,
    `n=${vip.count}`,
    `fail=${vip.failures}`,
    `ok=${formatPercent(vip.count - vip.failures, vip.count)}`,
    `p50=${ms(p?.p50)}`,
    `p95=${ms(p?.p95)}`,
    `p99=${ms(p?.p99)}`,
    `max=${ms(p?.max)}`,
    `last=${last}${by}`,
    ...(serving === "" ? [] : [`serving=${serving}`]),
    ...(drained === "" ? [] : [`drained=${drained}`]),
    ...(errors === "" ? [] : [`errors=${errors}`])
  ].join(" ")
}

export const eventLine = (event: MonitorEvent): string => {
  switch (event._tag) {
    case "Error":
      return `${iso(event.entry.at)} ${event.entry.vip} error ${event.entry.class} ${event.entry.detail}`
    case "Recovered":
      return `${iso(event.at)} ${event.vip} recovered after ${event.failures} failure${event.failures === 1 ? "" : "s"}`
    case "Backend":
      return `${iso(event.at)} ${event.vip} backend ${event.value} ${event.state}`
  }
}

/** Which events become lines: repeats of a VIP's last error are left to the report line's counts. */
export class PlainEvents {
  private readonly lastError = new Map<string, string>()

  lines(events: ReadonlyArray<MonitorEvent>): ReadonlyArray<string> {
    const out: Array<string> = []
    for (const event of events) {
      if (event._tag === "Error" && event.entry.class !== "spike") {
        const key = `${event.entry.class} ${event.entry.detail}`
        if (this.lastError.get(event.entry.vip) === key) continue
        this.lastError.set(event.entry.vip, key)
      } else if (event._tag === "Recovered") this.lastError.delete(event.vip)
      out.push(eventLine(event))
    }
    return out
  }
}
