/**
 * A reaction broken into stages, from the trace points of maglevd and vppsim
 * (src/internal/Trace.ts, recorded by bench/reconcileTrace.ts), at
 * sub-millisecond resolution:
 *
 *   verdict       the health state machine decides (HealthChecker: noteTransition)
 *   publishing    the health checker's flush takes it (its own fiber, a turn later)
 *   published     the map updated and the transition logged; PubSub next
 *   seen          LbSync's forwarder has the event
 *   submit        its request made (the VIPs of the backend's frontends) and about to be queued
 *   woken         the idle sync fiber runs (none while a sync runs)
 *   taken         the sync fiber takes the urgent request
 *   planned       the first chunk of VIPs planned (desired state and diff)
 *   queued        the first request encoded into the tick's buffer for the socket
 *   written       that buffer written to the socket (the next tick): the
 *                 defensible "first weight message" instant
 *   sim-read      vppsim reads the bytes
 *   sim-written   vppsim writes the replies
 *   read          maglevd reads them
 *   answered      the transport hands the first request's answer to LbSync
 *   logged        its `vpp-lbsync-as-weight` line handed to the logger (what
 *                 the bench's millisecond figure ends at)
 *
 * Garbage collections of either process inside the reaction are listed with it.
 */

export interface Flip {
  readonly kind: string
  readonly backend: string
  readonly to: string
  /** The `backend-transition` and first weight log lines' timestamps (ms). */
  readonly logVerdict: number
  readonly logFirst: number
}

interface Point {
  readonly t: number
  readonly stage: string
  readonly detail: string
}

const parse = (text: string | undefined): Array<Point> => {
  if (text === undefined) return []
  const out: Array<Point> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    const a = line.indexOf(" ")
    const b = line.indexOf(" ", a + 1)
    out.push({ t: Number(line.slice(0, a)), stage: line.slice(a + 1, b < 0 ? undefined : b), detail: b < 0 ? "" : line.slice(b + 1) })
  }
  return out.sort((x, y) => x.t - y.t)
}

const STAGES = ["publishing", "published", "seen", "submit", "woken", "taken", "planned", "queued", "written", "sim-read", "sim-written", "read", "answered", "logged"] as const
type Stage = typeof STAGES[number]

interface Breakdown {
  readonly flip: Flip
  readonly verdict: number
  /** ms after the verdict, per stage (undefined: not found). */
  readonly at: Partial<Record<Stage, number>>
  readonly gcMaglevd: ReadonlyArray<string>
  readonly gcVppsim: ReadonlyArray<string>
  /** maglevd's writes to stdout inside the reaction (a pipe's writes block until the reader drains it): count, ms in them, the longest. */
  readonly stdout: { readonly n: number; readonly ms: number; readonly longest: string }
  /**
   * What each process's main thread did with the time (bench/reconcileTrace.ts's schedstat samples):
   * maglevd from the verdict to the request written, from written to the answer read, from read to
   * logged: ms it ran, ms it waited for a core (runnable), the rest asleep in the event loop's poll;
   * vppsim's run-queue wait up to its read of the request (since its previous sample).
   */
  readonly sched: string
  /** maglevd's run-queue wait between the request written and the answer read (ms). */
  readonly answerWait: number | undefined
  /** `show lb vips verbose` listings near the reaction: vppsim formatting one, maglevd reading one. */
  readonly listings: ReadonlyArray<string>
}

/** The index of the first point at or after `t` (points sorted by time). */
const indexAt = (points: ReadonlyArray<Point>, t: number): number => {
  let lo = 0
  let hi = points.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (points[mid]!.t < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first point of `stage` at or after `from` (and matching `detail` when given). */
const firstAfter = (points: ReadonlyArray<Point>, stage: string, from: number, detail?: string): Point | undefined => {
  for (let i = indexAt(points, from); i < points.length; i++) {
    const p = points[i]!
    if (p.stage === stage && (detail === undefined || p.detail === detail)) return p
  }
  return undefined
}

const stdoutIn = (points: ReadonlyArray<Point>, from: number, to: number) => {
  let n = 0
  let ms = 0
  let longest: Point | undefined
  for (const p of points) {
    if (p.stage !== "stdout" || p.t >= to) continue
    const d = Number(p.detail.split(" ")[0])
    if (p.t + d <= from) continue
    n++
    ms += d
    if (longest === undefined || d > Number(longest.detail.split(" ")[0])) longest = p
  }
  const [d, bytes] = longest === undefined ? [] : longest.detail.split(" ")
  return { n, ms, longest: longest === undefined ? "" : `${Number(d).toFixed(2)} ms (${bytes} chars) at +${(longest.t - from).toFixed(2)}` }
}

/** The sample (CPU, run-queue wait ms) taken at the point of `stage` at time `t`, or the last one before `t` (`before`). */
const schedAt = (points: ReadonlyArray<Point>, t: number | undefined, stage: string, before = false): { t: number; run: number; wait: number } | undefined => {
  if (t === undefined) return undefined
  const lo = indexAt(points, t)
  const of = (p: Point) => {
    const [run, wait] = p.detail.split(" ")
    return { t: p.t, run: Number(run), wait: Number(wait) }
  }
  if (before) {
    for (let i = lo - 1; i >= 0; i--) if (points[i]!.stage === "sched") return of(points[i]!)
    return undefined
  }
  for (let i = lo; i < points.length && points[i]!.t === t; i++) {
    const p = points[i]!
    if (p.stage === "sched" && p.detail.endsWith(` ${stage}`)) return of(p)
  }
  return undefined
}

type Sched = { t: number; run: number; wait: number }
const between = (a: Sched | undefined, b: Sched | undefined) =>
  a === undefined || b === undefined
    ? "-"
    : `ran ${f2(b.run - a.run)}, waited ${f2(b.wait - a.wait)}, slept ${f2(b.t - a.t - (b.run - a.run) - (b.wait - a.wait))}`

const gcsIn = (points: ReadonlyArray<Point>, from: number, to: number): Array<string> =>
  points.filter((p) => p.stage === "gc" && p.t < to && p.t + Number(p.detail.split(" ")[0]) > from)
    .map((p) => {
      const [duration, kind] = p.detail.split(" ")
      const name = ({ "1": "minor", "2": "major", "4": "incremental", "8": "weak" } as Record<string, string>)[kind ?? ""] ?? kind
      return `${name} ${Number(duration).toFixed(2)} ms at +${(p.t - from).toFixed(2)}`
    })

export const breakdown = (flips: ReadonlyArray<Flip>, maglevdTrace: string | undefined, vppsimTrace: string | undefined): Array<Breakdown> => {
  const m = parse(maglevdTrace)
  const s = parse(vppsimTrace)
  const out: Array<Breakdown> = []
  for (const flip of flips) {
    const detail = `${flip.backend} ${flip.to}`
    // The verdict precedes its log line, whose timestamp is whole milliseconds.
    let verdict: Point | undefined
    for (const p of m) {
      if (p.t > flip.logVerdict + 1) break
      if (p.stage === "verdict" && p.detail === detail && p.t > flip.logVerdict - 5_000) verdict = p
    }
    if (verdict === undefined) continue
    const v = verdict.t
    const at: Partial<Record<Stage, number>> = {}
    const mark = (stage: Stage, p: Point | undefined) => {
      if (p !== undefined) at[stage] = p.t - v
      return p?.t
    }
    mark("publishing", firstAfter(m, "publishing", v))
    mark("published", firstAfter(m, "published", v))
    const seen = mark("seen", firstAfter(m, "lb-seen", v, detail)) ?? v
    mark("submit", firstAfter(m, "lb-submit", seen))
    const taken = mark("taken", firstAfter(m, "lb-taken", seen)) ?? seen
    const woken = firstAfter(m, "lb-woken", seen)
    if (woken !== undefined && woken.t <= taken) mark("woken", woken)
    const planned = mark("planned", firstAfter(m, "lb-planned", taken)) ?? taken
    const queued = mark("queued", firstAfter(m, "lb-queued", planned)) ?? planned
    const written = mark("written", firstAfter(m, "written", queued)) ?? queued
    const simRead = mark("sim-read", firstAfter(s, "read", written)) ?? written
    const simWritten = mark("sim-written", firstAfter(s, "written", simRead)) ?? simRead
    const read = mark("read", firstAfter(m, "read", simWritten))
    const answered = mark("answered", firstAfter(m, "lb-answered", queued)) ?? queued
    const logged = mark("logged", firstAfter(m, "lb-logged", answered)) ?? answered
    // A listing (the 5 s counter scrape, a sync's read) up to 100 ms before: VPP answers nothing else meanwhile.
    const sv = schedAt(m, v, "verdict")
    const sw = schedAt(m, written, "written")
    const sr = schedAt(m, read, "read")
    const sl = schedAt(m, logged, "lb-logged")
    const simR = schedAt(s, simRead, "read")
    const simBefore = schedAt(s, simRead, "read", true)
    const sched = `maglevd verdict->written ${between(sv, sw)}; written->read ${between(sw, sr)}; read->logged ${between(sr, sl)}; ` +
      `vppsim waited ${simR === undefined || simBefore === undefined ? "-" : `${f2(simR.wait - simBefore.wait)} since its sample at ${f2(simBefore.t - v)}`} before its read`
    const answerWait = sw === undefined || sr === undefined ? undefined : sr.wait - sw.wait
    const listings = [
      ...s.filter((p) => p.stage === "cli" && p.t > v - 100 && p.t < logged).map((p) => `vppsim lists at ${f2(p.t - v)}`),
      ...m.filter((p) => p.stage === "cli-read" && p.t > v - 100 && p.t < logged).map((p) => `maglevd reads one at ${f2(p.t - v)}`)
    ]
    out.push({ flip, verdict: v, at, gcMaglevd: gcsIn(m, v, logged), gcVppsim: gcsIn(s, written, logged), stdout: stdoutIn(m, v, logged), sched, answerWait, listings })
  }
  return out
}

const pct = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN
}

const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(2))

/** p50, p90, p99, max of a sample and how many are over 5 ms, as the log's reaction lines print them. */
const summary = (xs: ReadonlyArray<number>) => {
  if (xs.length === 0) return "-"
  const over = xs.filter((x) => x > 5).length
  return `p50 ${f2(pct(xs, 0.5))}, p90 ${f2(pct(xs, 0.9))}, p99 ${f2(pct(xs, 0.99))}, max ${f2(Math.max(...xs))} ms (${xs.length}; ${over} over 5 ms)`
}

/**
 * Per kind of flip, from the trace (sub-millisecond): verdict -> the first request written to the
 * socket (issue 14's "first weight message": maglevd's part done) and verdict -> its weight logged
 * (after VPP's answer, what the log's whole-ms figure measures). Both are figures of record.
 */
export const reactionReport = (rows: ReadonlyArray<Breakdown>): string => {
  if (rows.length === 0) return ""
  const lines = ["  reaction from the trace (sub-millisecond), verdict -> first lb_as_set_weight written to the socket / logged:"]
  for (const kind of [...new Set(rows.map((r) => r.flip.kind))]) {
    const rs = rows.filter((r) => r.flip.kind === kind)
    const of = (stage: Stage) => rs.map((r) => r.at[stage]).filter((x): x is number => x !== undefined)
    lines.push(`    ${kind}: written ${summary(of("written"))}`)
    lines.push(`    ${" ".repeat(kind.length)}  logged  ${summary(of("logged"))}`)
  }
  return lines.join("\n")
}

/** The stage table per kind of flip (ms after the verdict: p50 / p99 / max), and the slowest reactions whole. */
export const report = (rows: ReadonlyArray<Breakdown>): string => {
  const lines: Array<string> = []
  const kinds = [...new Set(rows.map((r) => r.flip.kind))]
  lines.push("  reaction stages, ms after the verdict (trace points, sub-millisecond): p50 / p99 / max")
  for (const kind of kinds) {
    const rs = rows.filter((r) => r.flip.kind === kind)
    lines.push(`    ${kind} (${rs.length}):`)
    for (const stage of STAGES) {
      const xs = rs.map((r) => r.at[stage]).filter((x): x is number => x !== undefined)
      if (xs.length === 0) continue
      lines.push(`      ${stage.padEnd(12)} ${f2(pct(xs, 0.5)).padStart(7)} ${f2(pct(xs, 0.99)).padStart(7)} ${f2(Math.max(...xs)).padStart(7)}`)
    }
    const bench = rs.map((r) => r.flip.logFirst - r.flip.logVerdict)
    lines.push(`      (the log's whole-ms figure: p50 ${pct(bench, 0.5)}, p99 ${pct(bench, 0.99)} ms)`)
    const withGc = rs.filter((r) => r.gcMaglevd.length + r.gcVppsim.length > 0).length
    const withListing = rs.filter((r) => r.listings.length > 0).length
    lines.push(`      (with a GC inside: ${withGc}; with a show lb vips listing near: ${withListing})`)
    const waits = rs.map((r) => r.answerWait).filter((x): x is number => x !== undefined)
    if (waits.length > 0) lines.push(`      (maglevd waiting for a core between written and read, ms: p50 ${f2(pct(waits, 0.5))}, p99 ${f2(pct(waits, 0.99))}, max ${f2(Math.max(...waits))})`)
    const writes = rs.map((r) => r.stdout.ms)
    lines.push(`      (maglevd in stdout writes inside: ${rs.filter((r) => r.stdout.n > 0).length} reactions; ms p50 ${f2(pct(writes, 0.5))}, p99 ${f2(pct(writes, 0.99))}, max ${f2(Math.max(...writes))})`)
    const slow = [...rs].sort((a, b) => (b.at.logged ?? 0) - (a.at.logged ?? 0)).slice(0, 3)
    for (const r of slow) {
      const steps = STAGES.map((st) => `${st} ${f2(r.at[st])}`).join(", ")
      const gc = [...r.gcMaglevd.map((g) => `maglevd ${g}`), ...r.gcVppsim.map((g) => `vppsim ${g}`)]
      const listed = r.listings.length === 0 ? "" : `; ${r.listings.join("; ")}`
      const out = r.stdout.n === 0 ? "" : `; stdout: ${r.stdout.n} writes, ${f2(r.stdout.ms)} ms, longest ${r.stdout.longest}`
      lines.push(`      slowest: ${r.flip.backend} ${r.flip.to}: ${steps}; GC: ${gc.length === 0 ? "none" : gc.join("; ")}${listed}${out}`)
      lines.push(`        threads: ${r.sched}`)
    }
  }
  return lines.join("\n")
}

const SYNC_STAGES = [
  "full-start",
  "full-vips",
  "sim-cli",
  "sim-listed",
  "first-read",
  "cli-read",
  "full-parsed",
  "full-compared",
  "full-observed",
  "full-desired",
  "full-matched",
  "full-done"
] as const

/** Where a sync stage's point is: vppsim's (its listing asked for, then written), or maglevd's under another name. */
const SYNC_POINT: Partial<Record<typeof SYNC_STAGES[number], { readonly sim: boolean; readonly stage: string }>> = {
  "sim-cli": { sim: true, stage: "cli" },
  "sim-listed": { sim: true, stage: "written" },
  "first-read": { sim: false, stage: "read" }
}

/**
 * The operator's no-change full syncs by stage, ms after the API handed the
 * request to the LB sync (`sync-asked`): the VIP dump, vppsim asked for
 * `show lb vips verbose` (`sim-cli`) and its text formatted and written
 * (`sim-listed`), the first bytes read by maglevd (`first-read`), the whole
 * text read and decoded (`cli-read`), its headers parsed and each VIP's AS
 * lines compared in place, the desired state, the comparison of the two.
 */
export const syncReport = (maglevdTrace: string | undefined, vppsimTrace: string | undefined): string => {
  const m = parse(maglevdTrace)
  const s = parse(vppsimTrace)
  const rows: Array<Partial<Record<typeof SYNC_STAGES[number], number>>> = []
  for (const asked of m.filter((p) => p.stage === "sync-asked")) {
    const row: Partial<Record<typeof SYNC_STAGES[number], number>> = {}
    let from = asked.t
    for (const stage of SYNC_STAGES) {
      const at = SYNC_POINT[stage]
      // The VIP dump and the listing are asked for together: vppsim may list before maglevd has decoded the dump.
      const since = stage === "sim-cli" ? row["full-start"]! + asked.t : from
      const p = at === undefined ? firstAfter(m, stage, since) : firstAfter(at.sim ? s : m, at.stage, since)
      if (p === undefined) break
      row[stage] = p.t - asked.t
      from = p.t
    }
    if (row["full-done"] !== undefined) rows.push(row)
  }
  if (rows.length === 0) return ""
  const lines = [`  no-change full syncs by stage (${rows.length}), ms after the request reached the LB sync: p50 / max`]
  for (const stage of SYNC_STAGES) {
    const xs = rows.map((r) => r[stage]).filter((x): x is number => x !== undefined)
    lines.push(`      ${stage.padEnd(14)} ${f2(pct(xs, 0.5)).padStart(7)} ${f2(Math.max(...xs)).padStart(7)}`)
  }
  return lines.join("\n")
}

/** maglevd's writes to stdout over the whole run: how long its event loop was held in them. */
export const stdoutReport = (maglevdTrace: string | undefined): string => {
  const ds = parse(maglevdTrace).filter((p) => p.stage === "stdout").map((p) => Number(p.detail.split(" ")[0]))
  if (ds.length === 0) return ""
  const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
  const slow = ds.filter((d) => d >= 1)
  return `  maglevd's stdout writes: ${ds.length}, ${f2(sum(ds))} ms in all; p50 ${f2(pct(ds, 0.5))}, p99 ${f2(pct(ds, 0.99))}, max ${f2(Math.max(...ds))} ms; ` +
    `${slow.length} of 1 ms or more (${f2(sum(slow))} ms)`
}
