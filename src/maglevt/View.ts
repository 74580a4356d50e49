/**
 * The full-screen view: one frame as a string, made from the model for a
 * terminal of a given size. Pure: the caller writes the frame in one write
 * (Terminal.ts), so the screen never shows half of one.
 *
 * Every line is a list of segments, cut to the terminal's width before it is
 * painted, so colour never counts towards a line's length and a narrow
 * terminal never wraps. When the VIPs need more lines than there are, the
 * last one says how many more; the error panel takes what is left.
 */
import { ERROR_CLASSES, type ErrorClass } from "./Errors.js"
import type { Monitor, VipStats } from "./Monitor.js"
import { isFailure, statusText } from "./Outcome.js"
import { formatMs, formatPercent } from "./internal/Units.js"

export type Style = "bold" | "dim" | "good" | "warn" | "bad" | "label" | "timeout" | "http" | "network" | "spike" | "plain"

const SGR: Record<Style, string> = {
  bold: "1",
  dim: "90",
  good: "32",
  warn: "33",
  bad: "31",
  label: "34",
  timeout: "33",
  http: "35",
  network: "31",
  spike: "36",
  plain: ""
}

export interface Segment {
  readonly text: string
  readonly style: Style
}

export type Line = ReadonlyArray<Segment>

const seg = (text: string, style: Style = "plain"): Segment => ({ text, style })

/** The line cut to `width` characters, then painted when `color`. */
export const fit = (line: Line, width: number, color: boolean): string => {
  let left = width
  let out = ""
  for (const s of line) {
    if (left <= 0) break
    const text = s.text.length > left ? s.text.slice(0, left) : s.text
    left -= text.length
    out += color && s.style !== "plain" && text !== "" ? `\x1b[${SGR[s.style]}m${text}\x1b[0m` : text
  }
  return out
}

export const visibleText = (line: Line): string => line.map((s) => s.text).join("")

export interface ViewOptions {
  readonly now: number
  readonly width: number
  readonly height: number
  readonly color: boolean
  /** The first line's left part: program, version, host, cadence. */
  readonly title: string
}

const pad = (text: string, width: number): string => (text.length >= width ? text : text + " ".repeat(width - text.length))
const padStart = (text: string, width: number): string => (text.length >= width ? text : " ".repeat(width - text.length) + text)

const clock = (ms: number): string => {
  const d = new Date(ms)
  const two = (n: number) => String(n).padStart(2, "0")
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`
}

const NUMBER_COLUMNS = [["N", 8], ["FAIL", 7], ["OK%", 8], ["P50", 8], ["P95", 8], ["P99", 8], ["MAX", 8]] as const

const vipLines = (vip: VipStats, nameWidth: number, endpointWidth: number, now: number): Array<Line> => {
  const p = vip.latency.percentiles(now)
  const ms = (v: number | undefined) => (v === undefined ? "-" : formatMs(v))
  const okShare = vip.count === 0 ? undefined : (vip.count - vip.failures) / vip.count
  const numbers = [String(vip.count), String(vip.failures), formatPercent(vip.count - vip.failures, vip.count), ms(p?.p50), ms(p?.p95), ms(p?.p99), ms(p?.max)]
  const cells: Array<Segment> = [seg(pad(vip.target.name, nameWidth) + " ", "bold"), seg(pad(vip.target.endpoint, endpointWidth) + " "), seg(pad(vip.target.kind, 6))]
  numbers.forEach((n, i) => {
    const style: Style = i === 1 && vip.failures > 0 ? "bad" : i === 2 && okShare !== undefined ? (okShare === 1 ? "good" : okShare >= 0.99 ? "warn" : "bad") : "plain"
    cells.push(seg(padStart(n, NUMBER_COLUMNS[i]![1]), style), seg(" "))
  })
  cells.push(seg(" "))
  if (vip.last === undefined) cells.push(seg("-", "dim"))
  else {
    cells.push(seg(statusText(vip.last), isFailure(vip.last) ? "bad" : "good"))
    if (vip.last._tag !== "Timeout" && vip.last._tag !== "Network" && vip.last.servedBy !== undefined) cells.push(seg(` ${vip.last.servedBy}`))
  }
  const lines: Array<Line> = [cells]
  if (vip.target.kind !== "tcp") {
    const entries = vip.tally.entries(now)
    const serving = entries.filter((e) => e.state === "serving")
    const drained = entries.filter((e) => e.state === "drained")
    const tally: Array<Segment> = [seg("  serving: ", "label")]
    if (serving.length === 0) tally.push(seg("none", "bad"))
    serving.forEach((e, i) => tally.push(seg(`${i === 0 ? "" : ", "}`), seg(e.value, "bold"), seg(` ${e.count}`)))
    if (drained.length > 0) {
      tally.push(seg("   drained: ", "label"))
      drained.forEach((e, i) => tally.push(seg(`${i === 0 ? "" : ", "}${e.value} ${e.count}`, "dim")))
    }
    lines.push(tally)
  }
  return lines
}

/** The frame's lines, as text segments (exactly `height` of them, or fewer when the terminal is tiny). */
export const frameLines = (monitor: Monitor, o: ViewOptions): ReadonlyArray<Line> => {
  const nameWidth = Math.min(24, Math.max(3, ...monitor.vips.map((v) => v.target.name.length)))
  const endpointWidth = Math.max(8, ...monitor.vips.map((v) => v.target.endpoint.length))
  const hint = "q quits"
  const title: Line = [seg(o.title, "bold"), seg(" ".repeat(Math.max(1, o.width - o.title.length - hint.length))), seg(hint, "dim")]
  const header: Line = [
    seg(
      pad("VIP", nameWidth) + " " + pad("ENDPOINT", endpointWidth) + " " + pad("KIND", 6) +
        NUMBER_COLUMNS.map(([h, w]) => padStart(h, w) + " ").join("") + " LAST",
      "label"
    )
  ]
  const vips = monitor.vips.flatMap((v) => vipLines(v, nameWidth, endpointWidth, o.now))
  const counts = monitor.errors.counts
  const errorsHeader: Line = [
    seg("ERRORS", "label"),
    ...ERROR_CLASSES.flatMap((c) => [seg("  "), seg(c, counts[c] > 0 ? c : "dim"), seg(` ${counts[c]}`)])
  ]
  const rule: Line = [seg("─".repeat(o.width), "dim")]

  // Room: title, header, VIPs, rule, error header, errors.
  const room = Math.max(0, o.height - 4)
  const minErrors = Math.min(3, monitor.errors.recent().length)
  let shown: Array<Line> = vips
  if (vips.length > room - minErrors) {
    const keep = Math.max(0, room - minErrors - 1)
    shown = [...vips.slice(0, keep), [seg(`… ${vips.length - keep} more lines: make the terminal taller, or use --filter`, "warn")]]
  }
  const errorRoom = Math.max(0, room - shown.length)
  const errors: Array<Line> = monitor.errors.recent().slice(0, errorRoom).map((e) => [
    seg(clock(e.at) + "  ", "dim"),
    seg(pad(e.vip, nameWidth) + " ", "bold"),
    seg(pad(e.class, 8), e.class satisfies ErrorClass),
    seg(e.detail),
    ...(e.count > 1 ? [seg(` ×${e.count} since ${clock(e.first)}`, "dim")] : [])
  ])
  return [title, header, ...shown, rule, errorsHeader, ...errors].slice(0, o.height)
}

/** A whole frame: cursor home, every line cleared to its end, the rest of the screen cleared. */
export const frame = (monitor: Monitor, o: ViewOptions): string =>
  "\x1b[H" + frameLines(monitor, o).map((l) => fit(l, o.width, o.color) + "\x1b[K").join("\r\n") + "\x1b[J"
