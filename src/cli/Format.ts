/**
 * What maglevc prints: the RPC API's responses (Api.ts) as terminal text,
 * as pure functions of the response and a `Style` (colour on or off, and the
 * clock that ages are measured against, so the output is reproducible).
 *
 * Colour is ANSI SGR only, and tables align on the *visible* width of their
 * cells, so a coloured state word never shifts a column: the text with colour
 * and the text without differ only in the escape sequences. No line ends in
 * whitespace, and every function but `watchEventText` (one line of a stream)
 * returns text ending in a newline, ready to write as is.
 */
import type * as Api from "../api/Api.js"
import { formatIssue } from "../config/Issue.js"

export interface Style {
  readonly color: boolean
  /** Unix milliseconds that ages are measured against. */
  readonly now: number
}

// --- Colour and layout ---------------------------------------------------------------

const sgr = (code: string) => (text: string, style: Style): string =>
  style.color && text !== "" ? `\x1b[${code}m${text}\x1b[0m` : text

export const paint = {
  /** Static field labels and table headers: dark blue, as the Go maglevc had them. */
  label: sgr("34"),
  error: sgr("31"),
  warn: sgr("33"),
  dim: sgr("2"),
  good: sgr("32"),
  bad: sgr("31")
} as const

const SGR_SEQUENCE = /\x1b\[[0-9;]*m/g

const stripAnsi = (s: string): string => s.replace(SGR_SEQUENCE, "")

/** Columns a string takes on a terminal: its code points, less the colour sequences. */
export const visibleWidth = (s: string): number => [...stripAnsi(s)].length

const padEnd = (s: string, width: number): string => s + " ".repeat(Math.max(0, width - visibleWidth(s)))
const padStart = (s: string, width: number): string => " ".repeat(Math.max(0, width - visibleWidth(s))) + s

/** Trailing whitespace comes from padding the last cells; trimming keeps a reset sequence that follows text. */
const trimLine = (line: string): string => line.replace(/[ \t]+$/, "")

const isNumber = (cell: string): boolean => /^\d+$/.test(stripAnsi(cell))
/** A placeholder in a count column ("-" for "none") should not make the numbers left-aligned. */
const isPlaceholder = (cell: string): boolean => stripAnsi(cell) === "-"

/**
 * Rows under a header, columns two spaces apart and aligned by visible width.
 * A column whose cells are all numbers (placeholders `-` allowed) is
 * right-aligned, its header too, so that digits line up by place.
 */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  style: Style,
  indent = ""
): string => {
  // `reduce`, not `Math.max(...rows)`: spreading thousands of rows as arguments can overflow the stack.
  const columns = rows.reduce((n, r) => Math.max(n, r.length), headers.length)
  const cell = (row: ReadonlyArray<string>, i: number): string => row[i] ?? ""
  const widths: Array<number> = []
  const right: Array<boolean> = []
  for (let i = 0; i < columns; i++) {
    const cells = rows.map((r) => cell(r, i))
    widths.push(cells.reduce((w, c) => Math.max(w, visibleWidth(c)), visibleWidth(cell(headers, i))))
    right.push(cells.some(isNumber) && cells.every((c) => isNumber(c) || isPlaceholder(c)))
  }
  const line = (row: ReadonlyArray<string>, paintCell: (s: string) => string): string => {
    const parts: Array<string> = []
    for (let i = 0; i < columns; i++) {
      const text = paintCell(cell(row, i))
      const width = widths[i] ?? 0
      parts.push(right[i] ? padStart(text, width) : padEnd(text, width))
    }
    return trimLine(indent + parts.join("  "))
  }
  const out = [line(headers, (h) => paint.label(h, style)), ...rows.map((r) => line(r, (c) => c))]
  return out.join("\n") + "\n"
}

/** `label  value` lines, values aligned after the longest label. */
const fields = (pairs: ReadonlyArray<readonly [string, string]>, style: Style, indent = ""): string => {
  const width = Math.max(0, ...pairs.map(([k]) => visibleWidth(k)))
  return pairs.map(([k, v]) => trimLine(`${indent}${padEnd(paint.label(k, style), width)}  ${v}`)).join("\n") + "\n"
}

// --- Words -----------------------------------------------------------------------------

const two = (n: number): string => String(n).padStart(2, "0")

/** A compact age, two units at most: `45s`, `3m12s`, `2h05m`, `3d04h`. */
/** A probe's duration: a tenth of a millisecond below 10 ms, whole milliseconds above. */
export const ms = (d: number): string => (d < 10 ? `${Math.round(d * 10) / 10}ms` : `${Math.round(d)}ms`)

export const age = (ms: number): string => {
  const s = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`
}

const iso = (ms: number): string => {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? "-" : d.toISOString()
}

const ago = (ms: number, style: Style): string => `${age(style.now - ms)} ago`

/** An effective weight, with the time a slow start still ramps it: `10 (slow start, 27s)`. */
const effective = (weight: number, slowStartUntil: number | undefined, style: Style): string =>
  slowStartUntil === undefined ? String(weight) : `${weight} ${paint.dim(`(slow start, ${age(slowStartUntil - style.now)})`, style)}`

/** `2026-11-21T10:00:00.000Z (3m12s ago)`. */
const when = (ms: number, style: Style): string => `${iso(ms)} (${ago(ms, style)})`

const yesNo = (b: boolean): string => (b ? "yes" : "no")

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`

/** A health or frontend state, coloured by what it asks of the operator. */
const stateWord = (state: Api.HealthStatus | Api.FrontendState, style: Style): string => {
  switch (state) {
    case "up":
      return paint.good(state, style)
    case "down":
    case "panic":
      return paint.bad(state, style)
    case "paused":
    case "disabled":
      return paint.warn(state, style)
    case "unknown":
    case "removed":
      return paint.dim(state, style)
  }
}

const probeCode = (r: Api.ProbeResultInfo, style: Style): string =>
  r.ok ? paint.good(r.code, style) : paint.bad(r.code, style)

/** `L7STS 12ms HTTP 503`: the code, the duration, and the detail when there is one. */
const probeText = (r: Api.ProbeResultInfo, style: Style): string =>
  [probeCode(r, style), ms(r.durationMs), oneLine(r.detail)].filter((p) => p !== "").join(" ")

/** Text from the daemon (details, messages) kept to one line, so a line of output stays one record. */
const oneLine = (s: string): string => s.replace(/\r?\n/g, "\\n").replace(/\s+$/, "")

// --- Version -----------------------------------------------------------------------------

export const versionText = (
  client: { readonly version: string; readonly commit: string; readonly date: string },
  server: Api.VersionInfo | undefined,
  url: string,
  style: Style
): string => {
  const build = (v: { readonly version: string; readonly commit: string; readonly date: string }) =>
    `${v.version} (commit ${v.commit}, ${v.date})`
  const lines = [`${paint.label("maglevc", style)}  ${build(client)}`]
  lines.push(
    server === undefined
      ? `${paint.label("maglevd", style)}  ${paint.error("not reachable", style)} at ${url}`
      : `${paint.label("maglevd", style)}  ${build(server)} at ${url}, up ${age(style.now - server.startedAt)}, ` +
        `config ${server.configFile}`
  )
  return lines.join("\n") + "\n"
}

// --- Frontends -------------------------------------------------------------------------

/**
 * How many of a frontend's backends take traffic: distinct backends with a
 * non-zero effective weight, over all distinct backends of all its pools (a
 * backend in two pools counts once).
 */
const serving = (f: Api.FrontendInfo): string => {
  const all = new Set<string>()
  const live = new Set<string>()
  for (const pool of f.pools) {
    for (const b of pool.backends) {
      all.add(b.backend)
      if (b.effectiveWeight > 0) live.add(b.backend)
    }
  }
  return `${live.size}/${all.size} serving`
}

export const frontendsText = (fs: ReadonlyArray<Api.FrontendInfo>, style: Style): string => {
  if (fs.length === 0) return "no frontends\n"
  return table(
    ["FRONTEND", "ADDRESS", "PROTO", "PORT", "STATE", "POOL", "BACKENDS"],
    fs.map((f) => [
      f.name,
      f.address,
      f.protocol,
      f.protocol === "any" ? "-" : String(f.port),
      stateWord(f.state, style),
      f.activePool ?? "-",
      serving(f)
    ]),
    style
  )
}

const memberWeight = (b: Api.PoolBackendInfo, style: Style): string =>
  b.fileWeight === undefined ? String(b.weight) : `${b.weight} ${paint.warn(`(file ${b.fileWeight})`, style)}`

/**
 * What VPP holds for a frontend's VIP, for `show frontend`: the buckets of
 * each AS address, or why there is nothing to compare with.
 */
export type VipInVpp =
  | { readonly _tag: "Found"; readonly buckets: ReadonlyMap<string, number> }
  | { readonly _tag: "Missing"; readonly reason: string }

/**
 * A frontend: its settings, then each pool with its backends. With `vpp`, the
 * BUCKETS column is what VPP has for the active pool's backends (with the
 * prediction beside it where they differ); without it (or when VPP has no
 * such VIP) it is the prediction, and the header says so.
 */
export const frontendText = (f: Api.FrontendInfo, style: Style, vpp?: VipInVpp): string => {
  const header: Array<readonly [string, string]> = [["frontend", f.name]]
  if (f.description !== "") header.push(["description", oneLine(f.description)])
  header.push(
    ["vip", `${f.address} ${f.protocol}${f.protocol === "any" ? "" : ` ${f.port}`}`],
    ["state", stateWord(f.state, style)],
    ["active pool", f.activePool ?? paint.bad("none", style)],
    ["src-ip-sticky", yesNo(f.srcIpSticky)],
    ["flush-on-down", yesNo(f.flushOnDown)],
    ["new-flows-table-length", String(f.newFlowsTableLength)]
  )
  if (f.minHealthy !== undefined) header.push(["min-healthy", f.minHealthy])
  if (f.panic !== undefined) {
    const p = f.panic
    header.push([
      "panic",
      `${paint.bad(`pool ${p.pool} has ${p.up} up, fewer than ${p.threshold}`, style)}; ` +
        `keeping the last good weights of pool ${p.keptPool}, since ${when(p.since, style)}`
    ])
  }
  if (vpp !== undefined) {
    header.push(["buckets", vpp._tag === "Found" ? "from VPP" : paint.warn(`predicted (${oneLine(vpp.reason)})`, style)])
  }
  const bucketsCell = (pool: Api.PoolInfo, b: Api.PoolBackendInfo): string => {
    if (vpp === undefined || vpp._tag === "Missing") return String(b.buckets)
    if (!pool.active) return "-"
    const actual = vpp.buckets.get(b.address) ?? 0
    return actual === b.buckets ? String(actual) : `${actual} ${paint.warn(`(want ${b.buckets})`, style)}`
  }
  const parts = [fields(header, style)]
  for (const pool of f.pools) {
    const title = `${paint.label("pool", style)} ${pool.name}${pool.active ? ` ${paint.good("(active)", style)}` : ""}\n`
    const body = pool.backends.length === 0
      ? "  no backends\n"
      : table(
        ["BACKEND", "ADDRESS", "STATE", "WEIGHT", "EFFECTIVE", "BUCKETS", "SINCE"],
        pool.backends.map((b) => [
          b.backend,
          b.address === "" ? "-" : b.address,
          stateWord(b.state, style),
          memberWeight(b, style),
          effective(b.effectiveWeight, b.slowStartUntil, style),
          bucketsCell(pool, b),
          b.since === undefined ? "-" : age(style.now - b.since)
        ]),
        style,
        "  "
      )
    parts.push(title + body)
  }
  return parts.join("\n")
}

// --- Backends ----------------------------------------------------------------------------

const lastTransition = (b: Api.BackendInfo): Api.TransitionInfo | undefined => b.transitions[b.transitions.length - 1]

/** The HAProxy counter against its range: up while it is at least `rise`, and it tops out at `rise + fall - 1`. */
const counterText = (b: Api.BackendInfo): string => `${b.counter}/${b.rise + b.fall - 1}`

const lastProbeCell = (b: Api.BackendInfo, style: Style): string =>
  b.lastResult === undefined ? "-" : `${probeCode(b.lastResult, style)} ${ms(b.lastResult.durationMs)}`

export const backendsText = (bs: ReadonlyArray<Api.BackendInfo>, style: Style): string => {
  if (bs.length === 0) return "no backends\n"
  return table(
    ["BACKEND", "ADDRESS", "HEALTHCHECK", "STATE", "COUNTER", "LAST-PROBE", "SINCE", "POOLS"],
    bs.map((b) => {
      const t = lastTransition(b)
      return [
        b.name,
        b.address,
        b.healthcheck,
        stateWord(b.state, style),
        counterText(b),
        lastProbeCell(b, style),
        t === undefined ? "-" : age(style.now - t.at),
        b.memberships.length === 0 ? "-" : b.memberships.map((m) => `${m.frontend}/${m.pool}`).join(",")
      ]
    }),
    style
  )
}

export const backendText = (b: Api.BackendInfo, style: Style): string => {
  const lastProbe = b.lastResult === undefined
    ? "-"
    : [
      probeCode(b.lastResult, style),
      `${ms(b.lastResult.durationMs)}`,
      ...(b.lastProbeAt === undefined ? [] : [`(${ago(b.lastProbeAt, style)})`]),
      ...(b.lastResult.detail === "" ? [] : [oneLine(b.lastResult.detail)])
    ].join(" ")
  const header = fields([
    ["backend", b.name],
    ["address", b.address],
    ["healthcheck", b.healthcheck],
    ["state", stateWord(b.state, style)],
    ["enabled", b.enabled ? "yes" : paint.warn("no", style)],
    ["counter", `${b.counter} (rise ${b.rise}, fall ${b.fall}; up at ${b.rise}, at most ${b.rise + b.fall - 1})`],
    ["last probe", lastProbe]
  ], style)
  const memberships = `${paint.label("memberships", style)}\n` + (
    b.memberships.length === 0
      ? "  none\n"
      : table(
        ["FRONTEND", "POOL", "WEIGHT", "EFFECTIVE", "ACTIVE"],
        b.memberships.map((m) => [m.frontend, m.pool, String(m.weight), effective(m.effectiveWeight, m.slowStartUntil, style), yesNo(m.active)]),
        style,
        "  "
      )
  )
  const transitions = `${paint.label("transitions", style)}\n` + (
    b.transitions.length === 0
      ? "  no transitions yet\n"
      : table(
        ["AT", "AGE", "FROM", "TO", "CAUSE", "RESULT"],
        b.transitions.map((t) => [
          iso(t.at),
          age(style.now - t.at),
          stateWord(t.from, style),
          stateWord(t.to, style),
          t.cause,
          t.result === undefined ? "-" : probeText(t.result, style)
        ]),
        style,
        "  "
      )
  )
  return [header, memberships, transitions].join("\n")
}

const PAST: Readonly<Record<"pause" | "resume" | "enable" | "disable", string>> = {
  pause: "paused",
  resume: "resumed",
  enable: "enabled",
  disable: "disabled"
}

export const backendActionText = (
  action: "pause" | "resume" | "enable" | "disable",
  b: Api.BackendInfo,
  style: Style
): string => `backend ${b.name} ${PAST[action]}: state ${stateWord(b.state, style)}\n`

/** The member just changed, as the returned frontend shows it. */
export const weightText = (f: Api.FrontendInfo, pool: string, backend: string, style: Style): string => {
  const p = f.pools.find((p) => p.name === pool)
  const b = p?.backends.find((b) => b.backend === backend)
  if (p === undefined || b === undefined) {
    return `${paint.warn(`frontend ${f.name} has no backend ${backend} in pool ${pool}`, style)}\n`
  }
  return `frontend ${f.name} pool ${pool} backend ${backend}: weight ${memberWeight(b, style)}, ` +
    `effective ${effective(b.effectiveWeight, b.slowStartUntil, style)}, state ${stateWord(b.state, style)}\n`
}

// --- Health checks -----------------------------------------------------------------------

export const healthchecksText = (hcs: ReadonlyArray<Api.HealthCheckInfo>, style: Style): string => {
  if (hcs.length === 0) return "no healthchecks\n"
  return table(
    ["HEALTHCHECK", "TYPE", "PORT", "INTERVAL", "TIMEOUT", "RISE", "FALL", "BACKENDS"],
    hcs.map((hc) => [
      hc.name,
      hc.type,
      hc.port === undefined ? "-" : String(hc.port),
      hc.interval,
      hc.timeout,
      String(hc.rise),
      String(hc.fall),
      String(hc.backends.length)
    ]),
    style
  )
}

/** Payloads are shown JSON-quoted: `send` and `expect` often carry `\r\n`. */
const quoted = (s: string): string => JSON.stringify(s)

export const healthcheckText = (hc: Api.HealthCheckInfo, style: Style): string => {
  const f: Array<readonly [string, string]> = [
    ["healthcheck", hc.name],
    ["type", hc.type],
    ["port", hc.port === undefined ? "-" : String(hc.port)],
    ["interval", hc.interval],
    ["fast-interval", hc.fastInterval],
    ["down-interval", hc.downInterval],
    ["timeout", hc.timeout],
    ["rise", String(hc.rise)],
    ["fall", String(hc.fall)]
  ]
  if (hc.probeIpv4Src !== undefined) f.push(["probe-ipv4-src", hc.probeIpv4Src])
  if (hc.probeIpv6Src !== undefined) f.push(["probe-ipv6-src", hc.probeIpv6Src])
  const http = hc.http
  if (http !== undefined) {
    f.push(["method", http.method], ["path", http.path])
    if (http.host !== undefined) f.push(["host", http.host])
    for (const [name, value] of http.headers) f.push(["header", `${name}: ${oneLine(value)}`])
    f.push([
      "expected-codes",
      http.expectedCodes.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(", ")
    ])
    if (http.responseRegex !== undefined) f.push(["response-regex", quoted(http.responseRegex)])
    if (http.serverName !== undefined) f.push(["server-name", http.serverName])
    if (hc.type === "https") f.push(["insecure", yesNo(http.insecure)])
    if (http.caFile !== undefined) f.push(["ca-file", http.caFile])
  }
  const tcp = hc.tcp
  if (tcp !== undefined) {
    if (tcp.send !== undefined) f.push(["send", quoted(tcp.send)])
    if (tcp.expect !== undefined) f.push(["expect", quoted(tcp.expect)])
    f.push(["tls", yesNo(tcp.tls)])
    if (tcp.serverName !== undefined) f.push(["server-name", tcp.serverName])
    if (tcp.tls) f.push(["insecure", yesNo(tcp.insecure)])
  }
  f.push(["backends", hc.backends.length === 0 ? "-" : hc.backends.join(", ")])
  return fields(f, style)
}

// --- VPP -------------------------------------------------------------------------------

export const vppInfoText = (v: Api.VppInfo, style: Style): string =>
  fields([
    ["version", v.version],
    ["build date", v.buildDate],
    ["pid", String(v.pid)],
    ["boot time", when(v.bootTime, style)],
    ["connected", when(v.connectedAt, style)],
    ["connects", String(v.connectCount)]
  ], style)

/** VPP's lb plugin reports a source address nobody set as all ones (255.255.255.255, ffff:...:ffff). */
export const srcAddressText = (address: string, style: Style): string =>
  address === "255.255.255.255" || /^ffff(:ffff){7}$/i.test(address) ? paint.dim("unset", style) : address

export const lbStateText = (s: Api.LbState, style: Style): string => {
  const conf = fields([
    ["ip4-src-address", srcAddressText(s.conf.ip4SrcAddress, style)],
    ["ip6-src-address", srcAddressText(s.conf.ip6SrcAddress, style)],
    ["sticky-buckets-per-core", String(s.conf.stickyBucketsPerCore)],
    ["flow-timeout", `${s.conf.flowTimeout}s`]
  ], style)
  if (s.vips.length === 0) return `${conf}\nno VIPs\n`
  const vips = s.vips.map((v) => {
    const words = [paint.label("vip", style), v.vip]
    // A VIP no frontend claims is one maglevd did not program (or a leftover): worth a second look.
    words.push(v.frontend !== undefined ? `(frontend ${v.frontend})` : paint.warn("(no frontend)", style))
    words.push("encap", v.encap.replace(/^LB_API_ENCAP_TYPE_/, "").toLowerCase())
    if (v.srcIpSticky !== undefined) words.push("sticky", yesNo(v.srcIpSticky))
    if (v.newFlowsTableLength !== undefined) words.push("table", String(v.newFlowsTableLength))
    const body = v.ases.length === 0
      ? "  no ASes\n"
      : table(
        ["ADDRESS", "WEIGHT", "STATE", "BUCKETS", "BACKEND"],
        v.ases.map((a) => [
          a.address,
          String(a.weight),
          a.active ? "active" : paint.warn("draining", style),
          a.numBuckets === undefined ? "-" : String(a.numBuckets),
          a.backend ?? paint.dim("-", style)
        ]),
        style,
        "  "
      )
    return `${words.join(" ")}\n${body}`
  })
  return [conf, ...vips].join("\n")
}

export const lbCountersText = (cs: ReadonlyArray<Api.FrontendCounters>, style: Style): string => {
  if (cs.length === 0) return "no counters\n"
  // Where the established flows are pinned now, per AS (the plugin's as_refcount).
  const flows = cs.flatMap((c) =>
    (c.ases ?? []).map((a) => [c.frontend, a.backend ?? paint.dim("-", style), a.address, a.active ? "active" : paint.warn("draining", style), String(a.flows)])
  )
  const perAs = flows.length === 0 ? "" : "\n" + table(["FRONTEND", "BACKEND", "ADDRESS", "STATE", "FLOWS"], flows, style)
  return table(
    ["FRONTEND", "VIP", "NEXT", "FIRST", "UNTRACKED", "NO-SERVER"],
    cs.map((c) => [
      c.frontend,
      c.vip,
      c.nextPacket.toString(),
      c.firstPacket.toString(),
      c.untrackedPacket.toString(),
      c.noServer.toString()
    ]),
    style
  ) + perAs
}

/** One LB operation as its log event names it: `vpp-lbsync-as-add 192.0.2.1/32 6 80 10.0.0.1 weight 100 (web/web1)`. */
const opText = (op: Api.LbOpInfo): string => {
  const words = [op.event, op.vip]
  if (op.address !== undefined) words.push(op.address)
  if (op.weight !== undefined) words.push("weight", String(op.weight))
  if (op.flush === true) words.push("flush")
  const names = [op.frontend, op.backend].filter((n) => n !== undefined)
  if (names.length > 0) words.push(`(${names.join("/")})`)
  return words.join(" ")
}

const scopeText = (scope: Api.SyncReportInfo["scope"]): string =>
  scope === "full" ? "full" : scope.length === 0 ? "no VIPs" : scope.join(", ")

export const syncReportText = (r: Api.SyncReportInfo, style: Style): string => {
  const scope = scopeText(r.scope)
  const n = r.ops.length
  const head = r.applied
    ? n === 0
      ? `synced (${scope}): VPP already matches, nothing sent`
      : `synced (${scope}): ${plural(n, "operation")}`
    : n === 0
    ? `dry run (${scope}): VPP already matches, nothing would be sent`
    : `${paint.warn("dry run", style)}: ${plural(n, "operation")} would be sent (${scope})`
  return [head, ...r.ops.map((op) => `  ${opText(op)}`)].join("\n") + "\n"
}

// --- Configuration ---------------------------------------------------------------------

/**
 * A configuration check, summary first, then each issue as `maglevd --check`
 * prints it (`formatIssue`, which takes the wire's `ConfigIssue` as is):
 * errors in red, warnings in yellow.
 */
export const configCheckText = (c: Api.ConfigCheck, style: Style): string => {
  const r = c.result
  const warnings = r._tag === "ParseError" ? [] : r.warnings
  const warned = warnings.length > 0 ? `, ${plural(warnings.length, "warning")}` : ""
  const lines: Array<string> = []
  switch (r._tag) {
    case "Valid":
      lines.push(
        `${c.file}: ${paint.good("valid", style)} (${plural(r.frontends, "frontend")}, ${plural(r.backends, "backend")}, ` +
          `${plural(r.healthchecks, "healthcheck")}${warned})`
      )
      break
    case "ParseError":
      lines.push(`${c.file}: ${paint.error("invalid", style)}: ${plural(r.errors.length, "error")} reading the YAML`)
      break
    case "SemanticError":
      lines.push(`${c.file}: ${paint.error("invalid", style)}: ${plural(r.errors.length, "error")}${warned}`)
      break
  }
  if (r._tag !== "Valid") for (const e of r.errors) lines.push(paint.error(oneLine(formatIssue(e, c.file, "error")), style))
  for (const w of warnings) lines.push(paint.warn(oneLine(formatIssue(w, c.file, "warning")), style))
  return lines.join("\n") + "\n"
}

// --- Events ------------------------------------------------------------------------------

/** An annotation's value: bare when it reads unambiguously as one word, JSON otherwise. */
const annotationValue = (v: unknown): string => {
  if (typeof v === "string") return v !== "" && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (typeof v === "bigint") return v.toString()
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

const levelWord = (level: Api.LogEvent["level"], style: Style): string => {
  switch (level) {
    case "error":
    case "fatal":
      return paint.error(level, style)
    case "warn":
      return paint.warn(level, style)
    case "info":
      return level
    case "trace":
    case "debug":
      return paint.dim(level, style)
  }
}

/** One line per event (no newline), or undefined for the hydrating snapshot, which is state rather than news. */
export const watchEventText = (e: Api.WatchEvent, style: Style): string | undefined => {
  switch (e._tag) {
    case "Hydrate":
    case "Heartbeat":
    case "ProbeEvent": // maglevc does not ask for these (WatchEvents' probes, vppApi)
    case "VppApiEvent":
      return undefined
    case "BackendEvent": {
      const t = e.transition
      const why = t.result === undefined
        ? t.cause
        : `${t.cause}: ${probeCode(t.result, style)} ${ms(t.result.durationMs)}` +
          (t.result.detail === "" ? "" : `: ${oneLine(t.result.detail)}`)
      return `${paint.dim(iso(t.at), style)} backend ${e.backend.name} ${stateWord(t.from, style)} -> ` +
        `${stateWord(t.to, style)} (${why})`
    }
    case "FrontendEvent": {
      // The event carries no time of its own; the moment it reached us is close enough.
      const state = e.from === e.to
        ? stateWord(e.to, style)
        : `${stateWord(e.from, style)} -> ${stateWord(e.to, style)}`
      const pool = e.activePoolFrom === e.activePool
        ? `active pool ${e.activePool ?? "-"}`
        : `active pool ${e.activePoolFrom ?? "-"} -> ${e.activePool ?? "-"}`
      return `${paint.dim(iso(style.now), style)} frontend ${e.frontend} ${state}, ${pool}`
    }
    case "FrontendPanicEvent":
      return e.panic
        ? `${paint.dim(iso(e.at), style)} frontend ${e.frontend} ${paint.bad("in panic", style)}: pool ${e.pool} has ${e.up} up, ` +
          `fewer than min-healthy ${e.minHealthy ?? ""} (${e.threshold}); keeping the last good weights of pool ${e.keptPool ?? e.pool}`
        : `${paint.dim(iso(e.at), style)} frontend ${e.frontend} out of panic (${e.reason ?? "healthy"}): pool ${e.pool} has ${e.up} up ` +
          `(threshold ${e.threshold})${e.durationMs === undefined ? "" : `, after ${age(e.durationMs)}`}`
    case "LogEvent": {
      const words = [paint.dim(iso(e.at), style), "log", levelWord(e.level, style), oneLine(e.message)]
      for (const [k, v] of Object.entries(e.annotations)) words.push(`${k}=${annotationValue(v)}`)
      if (e.cause !== undefined) words.push(`cause=${JSON.stringify(e.cause)}`)
      return trimLine(words.filter((w) => w !== "").join(" "))
    }
    case "Overflow":
      return `${paint.dim(iso(e.at), style)} ${paint.warn("watch dropped", style)}: ` +
        `this client fell ${e.queuedBytes} bytes behind (the daemon keeps ${e.limitBytes})`
  }
}
