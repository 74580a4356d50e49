/**
 * The semantic stage: does what the file says make sense? It runs only when
 * the structural stage (`Raw.ts`) found nothing, fills in every default, checks
 * every rule on every value and across objects, and reports all errors and
 * warnings at once. Paths are the structural stage's, so every issue gets the
 * line and column of the value it is about, or of the nearest thing the file
 * does say when it is about something left out.
 *
 * Each object is checked on its own first; the cross-object rules then use only
 * the objects that passed (a backend with a bad address has no family to
 * compare), while references are checked against every name the file defines,
 * so one mistake is reported once and not again by everything that refers to it.
 */
import { Duration } from "effect"
import * as nodePath from "node:path"
import * as Maglev from "../lb/Maglev.js"
import type {
  AddressFamily,
  Backend,
  Config,
  Frontend,
  FrontendProtocol,
  HealthCheck,
  HealthCheckerConfig,
  HealthCheckType,
  HttpParams,
  LbConfig,
  MinHealthy,
  Pool,
  StatusRange,
  TcpParams
} from "./Config.js"
import { formatDuration, fromNanos, toNanos } from "./Duration.js"
import type { ConfigIssue } from "./Issue.js"
import { familyName, isDnsName, parseAddress, parsePrefix, type Prefix, splitHost } from "./internal/Address.js"
import type { Path } from "./internal/Path.js"
import { type Entry, showValue, type Walk } from "./internal/Walk.js"
import type { RawBackend, RawConfig, RawFrontend, RawHealthCheck, RawHttpParams, RawLb, RawTcpParams } from "./Raw.js"
import { grouped } from "./internal/Grouped.js"

export interface ValidateOptions {
  /** The configuration file, to resolve a relative `ca-file` against its directory. */
  readonly file?: string | undefined
  /** Why `path` cannot be read, or undefined when it can. */
  readonly checkReadable: (path: string) => string | undefined
}

export interface Validated {
  readonly config: Config | undefined
  readonly errors: ReadonlyArray<ConfigIssue>
  readonly warnings: ReadonlyArray<ConfigIssue>
}

// --- Defaults (docs/config-guide.md lists the same values) ------------------

export const Defaults = {
  transitionHistory: 5,
  netns: "",
  syncInterval: Duration.seconds(30),
  stickyBucketsPerCore: 65536,
  flowTimeout: Duration.seconds(40),
  startupMinDelay: Duration.seconds(5),
  startupMaxDelay: Duration.seconds(30),
  interval: Duration.seconds(2),
  timeout: Duration.seconds(1),
  rise: 2,
  fall: 3,
  method: "GET",
  httpPath: "/",
  expectedCodes: [{ from: 200, to: 399 }] as ReadonlyArray<StatusRange>,
  weight: 100,
  port: 0,
  newFlowsTableLength: 1024
} as const

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const HEALTHCHECK_TYPES: ReadonlyArray<HealthCheckType> = ["http", "https", "tcp", "icmp"]
const PROTOCOLS: ReadonlyArray<FrontendProtocol> = ["tcp", "udp", "any"]
/** RFC 9110 token characters: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** VPP takes 0xffffffff as "keep the current value", so the largest u32 power of two is the limit. */
const MAX_STICKY_BUCKETS = 2 ** 31
/** Maglev's rule of thumb: a table under 100 entries per backend balances noticeably unevenly. */
const TABLE_ENTRIES_PER_BACKEND = 100

const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n >= 1 && Number.isInteger(Math.log2(n))

const isPositive = (d: Duration.Duration): boolean => toNanos(d) > 0n

/** `slow-start` (SlowStart.ts): steps are at least a second long, so a ramp is too; absent means none. */
const slowStart = (raw: Duration.Duration | undefined, path: Path, report: Report): Duration.Duration | undefined => {
  if (raw !== undefined && toNanos(raw) < 1_000_000_000n) {
    report.error(path, "must be at least 1s (leave slow-start out for none)", formatDuration(raw))
  }
  return raw
}

/** The names a file defines, for its references. */
interface Names {
  readonly has: (name: string) => boolean
}

/** Collects issues and places them in the file through the walk's positions. */
class Report {
  readonly errors: Array<ConfigIssue> = []
  readonly warnings: Array<ConfigIssue> = []
  constructor(private readonly walk: Walk) {}

  error(path: Path, rule: string, value?: unknown): void {
    this.errors.push(this.walk.issue(path, rule, { value: this.show(path, value) }))
  }

  warn(path: Path, rule: string, value?: unknown): void {
    this.warnings.push(this.walk.issue(path, rule, { value: this.show(path, value) }))
  }

  /** The value as the file writes it, or as computed when it is a default. */
  private show(path: Path, value: unknown): string | undefined {
    if (value === undefined) return undefined
    return this.walk.written(path) ?? showValue(value)
  }

  /** Checks a name the operator chose (a map key or a pool name). */
  name(path: Path, name: string, what: string): boolean {
    if (NAME.test(name)) return true
    this.error(
      path,
      name === ""
        ? `a ${what} name cannot be empty`
        : `a ${what} name must start with a letter or digit and contain only letters, digits, ".", "_" and "-"`,
      name === "" ? undefined : name
    )
    return false
  }
}

const compileRegex = (source: string): string | undefined => {
  try {
    new RegExp(source)
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

// --- healthchecker, vpp.lb ---------------------------------------------------

const healthchecker = (raw: RawConfig["healthchecker"], path: Path, report: Report): HealthCheckerConfig => {
  const transitionHistory = raw?.transitionHistory ?? Defaults.transitionHistory
  if (transitionHistory < 1) report.error(path.key("transition-history"), "must be at least 1", transitionHistory)
  const netns = raw?.netns ?? Defaults.netns
  if (netns !== "" && (netns.includes("/") || netns.includes("\0") || netns === "." || netns === "..")) {
    report.error(
      path.key("netns"),
      'must be the name of a namespace under /var/run/netns (no "/", not "." or "..")',
      netns
    )
  }
  return { transitionHistory, netns }
}

const srcAddress = (raw: string | undefined, family: AddressFamily, path: Path, report: Report): string | undefined => {
  if (raw === undefined) return undefined
  const address = parseAddress(raw)
  if (address === undefined) report.error(path, `expected an ${familyName(family)} address`, raw)
  else if (address.family !== family) report.error(path, `must be an ${familyName(family)} address`, raw)
  else return address.text
  return undefined
}

const lbConfig = (raw: RawLb | undefined, path: Path, report: Report): LbConfig => {
  const syncInterval = raw?.syncInterval ?? Defaults.syncInterval
  if (!isPositive(syncInterval)) {
    report.error(path.key("sync-interval"), "must be greater than 0", formatDuration(syncInterval))
  }

  const stickyBucketsPerCore = raw?.stickyBucketsPerCore ?? Defaults.stickyBucketsPerCore
  if (!isPowerOfTwo(stickyBucketsPerCore) || stickyBucketsPerCore > MAX_STICKY_BUCKETS) {
    report.error(
      path.key("sticky-buckets-per-core"),
      `must be a power of two between 1 and ${MAX_STICKY_BUCKETS}`,
      stickyBucketsPerCore
    )
  }

  // VPP's lb_conf takes whole seconds; silently rounding 1500ms would surprise.
  const flowTimeout = raw?.flowTimeout ?? Defaults.flowTimeout
  const flowNanos = toNanos(flowTimeout)
  const second = 1_000_000_000n
  if (flowNanos % second !== 0n) {
    report.error(path.key("flow-timeout"), "must be a whole number of seconds", formatDuration(flowTimeout))
  } else if (flowNanos < second || flowNanos > 120n * second) {
    report.error(path.key("flow-timeout"), "must be between 1s and 120s", formatDuration(flowTimeout))
  }

  return {
    ipv4SrcAddress: srcAddress(raw?.ipv4SrcAddress, 4, path.key("ipv4-src-address"), report),
    ipv6SrcAddress: srcAddress(raw?.ipv6SrcAddress, 6, path.key("ipv6-src-address"), report),
    syncInterval,
    stickyBucketsPerCore,
    flowTimeoutSeconds: Number(flowNanos / second),
    startupMinDelay: raw?.startupMinDelay ?? Defaults.startupMinDelay,
    startupMaxDelay: raw?.startupMaxDelay ?? Defaults.startupMaxDelay
  }
}

// --- healthchecks ------------------------------------------------------------

const probeSource = (raw: string | undefined, family: AddressFamily, path: Path, report: Report): string | undefined => {
  if (raw === undefined) return undefined
  const address = parseAddress(raw)
  if (address === undefined) report.error(path, `expected an ${familyName(family)} address`, raw)
  else if (address.family !== family) {
    report.error(path, `must be an ${familyName(family)} address (probes of ${familyName(family)} backends use it)`, raw)
  } else return address.text
  return undefined
}

/** TLS SNI must be a DNS name: RFC 6066 forbids addresses in server_name. */
const serverName = (raw: string | undefined, path: Path, report: Report): string | undefined => {
  if (raw === undefined) return undefined
  if (isDnsName(raw)) return raw
  report.error(
    path,
    parseAddress(raw) !== undefined ? "must be a DNS name (TLS SNI cannot be an IP address)" : "must be a DNS name",
    raw
  )
  return undefined
}

/** `200`, `"204"` or `"200-399"`; undefined when the text is neither form. */
const statusRange = (item: string | number): StatusRange | undefined => {
  if (typeof item === "number") return { from: item, to: item }
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(item)
  if (m === null) return undefined
  return { from: Number(m[1]), to: Number(m[2] ?? m[1]) }
}

const statusRanges = (
  raw: ReadonlyArray<string | number> | undefined,
  path: Path,
  report: Report
): ReadonlyArray<StatusRange> => {
  if (raw === undefined) return Defaults.expectedCodes
  if (raw.length === 0) report.error(path, "must list at least one status code or range")
  const out: Array<StatusRange> = []
  raw.forEach((item, i) => {
    const at = path.index(i)
    const range = statusRange(item)
    if (range === undefined) report.error(at, "expected a status code or a range like 200-399", item)
    else if ([range.from, range.to].some((c) => c < 100 || c > 599)) {
      report.error(at, "status codes are between 100 and 599", item)
    } else if (range.from > range.to) report.error(at, "a range must go from the lower code to the higher", item)
    else out.push(range)
  })
  return out
}

const httpParams = (
  raw: RawHttpParams | undefined,
  type: "http" | "https",
  path: Path,
  report: Report,
  options: ValidateOptions
): HttpParams => {
  const method = raw?.method ?? Defaults.method
  if (method !== "GET" && method !== "HEAD") report.error(path.key("method"), "must be GET or HEAD", method)

  const httpPath = raw?.path ?? Defaults.httpPath
  if (!httpPath.startsWith("/")) report.error(path.key("path"), 'must start with "/"', httpPath)
  // A space or a control character would break the request line.
  else if (/[\s\u0000-\u001f\u007f]/.test(httpPath)) {
    report.error(path.key("path"), "must not contain spaces or control characters (percent-encode them)", httpPath)
  }

  const host = raw?.host
  const hostParts = host === undefined ? undefined : splitHost(host)
  if (host !== undefined && hostParts === undefined) {
    report.error(path.key("host"), "must be a host name or address, optionally with :port", host)
  }

  const headers: Array<readonly [string, string]> = []
  const seen = new Map<string, string>()
  for (const { name, path: at, value } of raw?.headers ?? []) {
    const lower = name.toLowerCase()
    if (!HEADER_NAME.test(name)) {
      report.error(at, "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    } else if (lower === "host") {
      report.error(at, "set the Host header with http.host")
    } else if (seen.has(lower)) {
      report.error(at, `duplicate header (header names are case-insensitive: ${JSON.stringify(seen.get(lower))} is set too)`)
    } else if (/[\r\n\0]/.test(value)) {
      report.error(at, "a header value must not contain CR, LF or NUL", value)
    } else {
      headers.push([name, value])
    }
    seen.set(lower, name)
  }

  const responseRegex = raw?.responseRegex
  const regexError = responseRegex === undefined ? undefined : compileRegex(responseRegex)
  if (regexError !== undefined) {
    report.error(path.key("response-regex"), `is not a valid regular expression: ${regexError}`, responseRegex)
  }

  // The TLS settings mean nothing to plain http: say so rather than ignore them.
  for (const [key, given] of [
    ["server-name", raw?.serverName],
    ["insecure", raw?.insecure],
    ["ca-file", raw?.caFile]
  ] as const) {
    if (type === "http" && given !== undefined) report.error(path.key(key), "is only used by https checks", given)
  }
  const insecure = raw?.insecure ?? false

  let caFile = raw?.caFile
  if (type === "https" && caFile !== undefined) {
    // Relative to the configuration file, not to wherever the daemon was started.
    if (options.file !== undefined) caFile = nodePath.resolve(nodePath.dirname(options.file), caFile)
    if (insecure) {
      report.error(path.key("ca-file"), "has no effect with insecure: true (certificates are not verified)", caFile)
    } else {
      const unreadable = options.checkReadable(caFile)
      if (unreadable !== undefined) report.error(path.key("ca-file"), `cannot be read: ${unreadable}`, caFile)
    }
  }

  const sni = type === "https" ? serverName(raw?.serverName, path.key("server-name"), report) : undefined
  return {
    method: method === "HEAD" ? "HEAD" : "GET",
    path: httpPath,
    host,
    headers,
    expectedCodes: statusRanges(raw?.expectedCodes, path.key("expected-codes"), report),
    responseRegex,
    serverName: sni ?? (type === "https" && hostParts?.isName === true ? hostParts.host : undefined),
    insecure: type === "https" && insecure,
    caFile: type === "https" ? caFile : undefined
  }
}

const tcpParams = (raw: RawTcpParams | undefined, path: Path, report: Report): TcpParams => {
  const expect = raw?.expect
  const regexError = expect === undefined ? undefined : compileRegex(expect)
  if (regexError !== undefined) report.error(path.key("expect"), `is not a valid regular expression: ${regexError}`, expect)
  const tls = raw?.tls ?? false
  if (!tls) {
    for (const [key, given] of [
      ["server-name", raw?.serverName],
      ["insecure", raw?.insecure]
    ] as const) {
      if (given !== undefined) report.error(path.key(key), "is only used with tls: true", given)
    }
  }
  return {
    send: raw?.send,
    expect,
    tls,
    serverName: tls ? serverName(raw?.serverName, path.key("server-name"), report) : undefined,
    insecure: tls && (raw?.insecure ?? false)
  }
}

const healthCheck = (
  { name, path, value: raw }: Entry<RawHealthCheck>,
  report: Report,
  options: ValidateOptions
): HealthCheck | undefined => {
  const errorsBefore = report.errors.length
  report.name(path, name, "healthcheck")

  const known = HEALTHCHECK_TYPES.find((t) => t === raw.type)
  if (raw.type === undefined) report.error(path.key("type"), `is required (one of ${HEALTHCHECK_TYPES.join(", ")})`)
  else if (known === undefined) report.error(path.key("type"), `must be one of ${HEALTHCHECK_TYPES.join(", ")}`, raw.type)

  const port = raw.port
  if (known === "icmp") {
    if (port !== undefined) report.error(path.key("port"), "is not used by icmp checks", port)
  } else if (known !== undefined) {
    if (port === undefined) report.error(path.key("port"), `is required for ${known} checks`)
    else if (port < 1 || port > 65535) report.error(path.key("port"), "must be between 1 and 65535", port)
  }

  // Defaults derive from interval; the timeout must fit in the shortest of the three.
  const interval = raw.interval ?? Defaults.interval
  const intervalNanos = toNanos(interval)
  const intervals = [
    { key: "interval", value: interval, given: raw.interval !== undefined, derived: "" },
    {
      key: "fast-interval",
      value: raw.fastInterval ?? fromNanos(intervalNanos / 2n),
      given: raw.fastInterval !== undefined,
      derived: "interval / 2"
    },
    {
      key: "down-interval",
      value: raw.downInterval ?? fromNanos(intervalNanos * 2n),
      given: raw.downInterval !== undefined,
      derived: "2 × interval"
    }
  ] as const
  for (const i of intervals) {
    if (!isPositive(i.value)) {
      const rule = i.given ? "must be greater than 0" : `must be greater than 0 (its default is ${i.derived})`
      report.error(path.key(i.key), rule, formatDuration(i.value))
    }
  }
  const timeout = raw.timeout ?? Defaults.timeout
  if (!isPositive(timeout)) report.error(path.key("timeout"), "must be greater than 0", formatDuration(timeout))
  else {
    const shortest = intervals.reduce((a, b) => (toNanos(b.value) < toNanos(a.value) ? b : a))
    if (isPositive(shortest.value) && toNanos(timeout) > toNanos(shortest.value)) {
      const byDefault = shortest.given ? "" : ` (${shortest.derived} by default)`
      const which = `${shortest.key} is ${formatDuration(shortest.value)}${byDefault}`
      report.error(
        path.key("timeout"),
        raw.timeout === undefined
          ? `the default timeout of 1s must not exceed the shortest interval, and ${which}: set timeout or ${shortest.key}`
          : `must not exceed the shortest interval: ${which}`,
        formatDuration(timeout)
      )
    }
  }

  const rise = raw.rise ?? Defaults.rise
  if (rise < 1) report.error(path.key("rise"), "must be at least 1", rise)
  const fall = raw.fall ?? Defaults.fall
  if (fall < 1) report.error(path.key("fall"), "must be at least 1", fall)

  const isHttp = known === "http" || known === "https"
  if (raw.http !== undefined && known !== undefined && !isHttp) {
    report.error(path.key("http"), `is only used by http and https checks, and this one is ${known}`)
  }
  if (raw.tcp !== undefined && known !== undefined && known !== "tcp") {
    report.error(path.key("tcp"), `is only used by tcp checks, and this one is ${known}`)
  }
  const http = isHttp ? httpParams(raw.http, known, path.key("http"), report, options) : undefined
  const tcp = known === "tcp" ? tcpParams(raw.tcp, path.key("tcp"), report) : undefined

  const probeIpv4Src = probeSource(raw.probeIpv4Src, 4, path.key("probe-ipv4-src"), report)
  const probeIpv6Src = probeSource(raw.probeIpv6Src, 6, path.key("probe-ipv6-src"), report)
  const ramp = slowStart(raw.slowStart, path.key("slow-start"), report)
  if (known === undefined || report.errors.length !== errorsBefore) return undefined
  return {
    name,
    type: known,
    port: known === "icmp" ? undefined : port,
    interval,
    fastInterval: intervals[1].value,
    downInterval: intervals[2].value,
    timeout,
    rise,
    fall,
    probeIpv4Src,
    probeIpv6Src,
    http,
    tcp,
    slowStart: ramp
  }
}

// --- backends ----------------------------------------------------------------

const backend = (
  { name, path, value: raw }: Entry<RawBackend>,
  healthcheckNames: ReadonlySet<string>,
  report: Report
): Backend | undefined => {
  const errorsBefore = report.errors.length
  report.name(path, name, "backend")
  let address: ReturnType<typeof parseAddress>
  if (raw.address === undefined) report.error(path.key("address"), "is required")
  else {
    address = parseAddress(raw.address)
    if (address === undefined) {
      report.error(
        path.key("address"),
        raw.address.includes("/") ? "expected an address, not a prefix" : "expected an IPv4 or IPv6 address",
        raw.address
      )
    }
  }
  if (raw.healthcheck === undefined) report.error(path.key("healthcheck"), "is required")
  else if (!healthcheckNames.has(raw.healthcheck)) {
    report.error(path.key("healthcheck"), `healthcheck ${JSON.stringify(raw.healthcheck)} is not defined`, raw.healthcheck)
  }
  if (report.errors.length !== errorsBefore || address === undefined || raw.healthcheck === undefined) return undefined
  return { name, address: address.text, family: address.family, healthcheck: raw.healthcheck, enabled: raw.enabled ?? true }
}

// --- frontends ---------------------------------------------------------------

const frontend = (
  { name, path, value: raw }: Entry<RawFrontend>,
  backendNames: Names,
  backends: ReadonlyMap<string, Backend>,
  report: Report
): Frontend | undefined => {
  const errorsBefore = report.errors.length
  report.name(path, name, "frontend")

  let prefix: Prefix | undefined
  if (raw.address === undefined) report.error(path.key("address"), "is required (the VIP address or prefix)")
  else {
    const parsed = parsePrefix(raw.address)
    if ("error" in parsed) report.error(path.key("address"), parsed.error, raw.address)
    else prefix = parsed.prefix
  }

  const protocol = PROTOCOLS.find((p) => p === raw.protocol)
  if (raw.protocol === undefined) report.error(path.key("protocol"), `is required (one of ${PROTOCOLS.join(", ")})`)
  else if (protocol === undefined) report.error(path.key("protocol"), `must be one of ${PROTOCOLS.join(", ")}`, raw.protocol)

  const port = raw.port ?? Defaults.port
  if (port < 0 || port > 65535) report.error(path.key("port"), "must be between 0 and 65535 (0 = all ports)", port)
  else if (protocol === "any" && port !== 0) {
    report.error(path.key("port"), "must be 0 when protocol is any (an all-protocol VIP covers every port)", port)
  } else if (protocol !== undefined && protocol !== "any" && port === 0) {
    // VPP's API handler forces the protocol of a port-0 VIP to "any" (vpp-wire.md §3.3).
    report.warn(
      path.key("protocol"),
      "with port 0 this is an all-port VIP, which VPP applies to every protocol; write protocol: any to say so, or set a port",
      protocol
    )
  }

  const pools: Array<Pool> = []
  const rawPools = raw.pools ?? []
  if (rawPools.length === 0) report.error(path.key("pools"), "at least one pool is required")
  const poolNames = new Map<string, number>()
  const families = new Map<AddressFamily, string>()
  const byAddress = new Map<string, string>()
  const distinct = new Set<string>()
  rawPools.forEach((rawPool, i) => {
    const at = path.key("pools").index(i)
    const poolName = rawPool.name
    if (poolName === undefined) report.error(at.key("name"), "is required")
    else if (report.name(at.key("name"), poolName, "pool")) {
      const first = poolNames.get(poolName)
      if (first !== undefined) report.error(at.key("name"), `duplicate pool name (pools[${first}] has it too)`, poolName)
      else poolNames.set(poolName, i)
    }
    const members = rawPool.backends ?? []
    if (members.length === 0) report.error(at.key("backends"), "a pool needs at least one backend")
    for (const { name: member, path: memberPath, value } of members) {
      const weight = value.weight ?? Defaults.weight
      if (weight < 0 || weight > 100) report.error(memberPath.key("weight"), "must be between 0 and 100", weight)
      if (!backendNames.has(member)) {
        report.error(memberPath, `backend ${JSON.stringify(member)} is not defined`)
        continue
      }
      distinct.add(member)
      const b = backends.get(member)
      if (b === undefined) continue // already reported where it is defined
      // One encapsulation per VIP: VPP's GRE4 or GRE6 follows the backends' family.
      const other = families.get(b.family === 4 ? 6 : 4)
      if (other !== undefined && !families.has(b.family)) {
        report.error(
          memberPath,
          `backend ${JSON.stringify(member)} is ${familyName(b.family)} but backend ${JSON.stringify(other)} ` +
            `of this frontend is ${familyName(b.family === 4 ? 6 : 4)}; all backends of a frontend must be one ` +
            "address family (VPP tunnels to them with GRE4 or GRE6, not both)"
        )
      }
      if (!families.has(b.family)) families.set(b.family, member)
      const same = byAddress.get(b.address)
      if (same !== undefined && same !== member) {
        report.error(
          memberPath,
          `backend ${JSON.stringify(member)} has the same address (${b.address}) as backend ` +
            `${JSON.stringify(same)}; VPP knows a VIP's application servers by address`
        )
      } else byAddress.set(b.address, member)
    }
    const pool: Pool = {
      name: poolName ?? "",
      backends: members.map(({ name: member, value }) => ({ backend: member, weight: value.weight ?? Defaults.weight })),
      slowStart: slowStart(rawPool.slowStart, at.key("slow-start"), report)
    }
    if (members.length > 0 && pool.backends.every((m) => m.weight === 0)) {
      report.warn(at.key("backends"), "every backend of this pool has weight 0, so the pool can never be active")
    }
    pools.push(pool)
  })

  const newFlowsTableLength = raw.newFlowsTableLength ?? Defaults.newFlowsTableLength
  if (!isPowerOfTwo(newFlowsTableLength) || newFlowsTableLength > Maglev.MAX_TABLE_LENGTH) {
    report.error(
      path.key("new-flows-table-length"),
      `must be a power of two between 1 and ${Maglev.MAX_TABLE_LENGTH}`,
      newFlowsTableLength
    )
  } else if (newFlowsTableLength < TABLE_ENTRIES_PER_BACKEND * distinct.size) {
    const wanted = 2 ** Math.ceil(Math.log2(TABLE_ENTRIES_PER_BACKEND * distinct.size))
    report.warn(
      path.key("new-flows-table-length"),
      `is less than ${TABLE_ENTRIES_PER_BACKEND} × ${distinct.size} backends, so Maglev spreads new flows unevenly; ` +
        `use ${wanted} or more`,
      newFlowsTableLength
    )
  }

  const guard = minHealthy(raw.minHealthy, pools, path.key("min-healthy"), report)

  if (report.errors.length !== errorsBefore || prefix === undefined || protocol === undefined) return undefined
  return {
    ...(guard === undefined ? {} : { minHealthy: guard }),
    name,
    description: raw.description ?? "",
    address: prefix.text,
    family: prefix.address.family,
    protocol,
    port,
    pools,
    srcIpSticky: raw.srcIpSticky ?? false,
    flushOnDown: raw.flushOnDown ?? true,
    newFlowsTableLength
  }
}

/**
 * `min-healthy` (lb/Panic.ts): `2` or `50%`. Zero is refused (leaving the key
 * out turns the guard off), and so is a count above every pool's size (its
 * backends with weight > 0: the frontend could never leave panic); a count
 * above some pool's size is a warning naming that pool.
 */
const minHealthy = (raw: string | number | undefined, pools: ReadonlyArray<Pool>, path: Path, report: Report): MinHealthy | undefined => {
  if (raw === undefined) return undefined
  if (typeof raw === "string") {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(raw.trim())
    const value = m === null ? NaN : Number(m[1])
    if (m === null) report.error(path, "must be a number of backends like 2 or a percentage like 50%", raw)
    else if (value <= 0 || value > 100) {
      report.error(path, "must be a percentage above 0% and at most 100% (leave min-healthy out to turn the guard off)", raw)
    } else return { kind: "percent", value }
    return undefined
  }
  if (raw < 1) {
    report.error(path, "must be at least 1 (leave min-healthy out to turn the guard off)", raw)
    return undefined
  }
  const sizes = pools.map((p) => p.backends.filter((m) => m.weight > 0).length)
  if (sizes.length > 0 && sizes.every((n) => n < raw)) {
    report.error(path, `is more than the backends with weight > 0 of every pool (the largest has ${Math.max(...sizes)}): the frontend could never leave panic`, raw)
    return undefined
  }
  pools.forEach((p, i) => {
    const n = sizes[i]!
    if (n > 0 && n < raw) {
      report.warn(path, `is more than the ${n} backends with weight > 0 of pool ${JSON.stringify(p.name)}: while that pool is the active one, the frontend is in panic`, raw)
    }
  })
  return { kind: "count", value: raw }
}

/** The family of a frontend's backends (one, once the frontend is valid). */
const backendFamily = (f: Frontend, backends: ReadonlyMap<string, Backend>): AddressFamily | undefined =>
  backends.get(f.pools[0]?.backends[0]?.backend ?? "")?.family

/** Up to this many backends no frontend uses get a warning each; more get one warning that names the first few. */
export const UNUSED_LISTED = 5

/**
 * The rules VPP applies across VIPs (`lb_vip_add`, vpp-wire.md §3.3): a VIP is
 * keyed by (prefix, protocol, port) with port 0 meaning every protocol and port;
 * an all-port VIP and per-port VIPs cannot share a prefix; and VIPs on one
 * address need one encapsulation, so one backend family.
 */
const crossFrontend = (
  frontends: ReadonlyArray<readonly [Path, Frontend]>,
  backends: ReadonlyMap<string, Backend>,
  report: Report
): void => {
  const byKey = new Map<string, Frontend>()
  const byPrefix = new Map<string, Frontend>()
  const byAddress = new Map<string, Frontend>()
  for (const [path, f] of frontends) {
    const at = path.key("address")
    const key = f.port === 0 ? `${f.address} all` : `${f.address} ${f.protocol} ${f.port}`
    const what = f.port === 0 ? `${f.address}, all ports` : `${f.address} ${f.protocol} port ${f.port}`
    const duplicate = byKey.get(key)
    if (duplicate !== undefined) {
      report.error(at, `frontend ${JSON.stringify(duplicate.name)} has the same VIP (${what})`, f.address)
      continue
    }
    byKey.set(key, f)

    const sharing = byPrefix.get(f.address)
    if (sharing !== undefined && (sharing.port === 0) !== (f.port === 0)) {
      report.error(
        at,
        f.port === 0
          ? `frontend ${JSON.stringify(sharing.name)} has a per-port VIP on this prefix; VPP refuses an all-port VIP next to it`
          : `frontend ${JSON.stringify(sharing.name)} has an all-port VIP on this prefix; VPP refuses per-port VIPs next to it`,
        f.address
      )
    } else if (sharing === undefined) byPrefix.set(f.address, f)

    const address = f.address.slice(0, f.address.indexOf("/"))
    const first = byAddress.get(address)
    const family = backendFamily(f, backends)
    const firstFamily = first === undefined ? undefined : backendFamily(first, backends)
    if (first !== undefined && family !== undefined && firstFamily !== undefined && family !== firstFamily) {
      report.error(
        at,
        `frontend ${JSON.stringify(first.name)} uses the same VIP address with ${familyName(firstFamily)} backends, ` +
          `and these are ${familyName(family)}; VPP needs one encapsulation (GRE4 or GRE6) per VIP address`,
        f.address
      )
    } else if (first === undefined) byAddress.set(address, f)
  }
}

// --- the whole configuration ---------------------------------------------------

export const validate = (raw: RawConfig, walk: Walk, options: ValidateOptions): Validated => {
  const report = new Report(walk)
  const root = walk.root.key("maglev")

  const hc = healthchecker(raw.healthchecker, root.key("healthchecker"), report)
  const lbPath = root.key("vpp").key("lb")
  const lb = lbConfig(raw.vpp?.lb, lbPath, report)

  const healthchecks = new Map<string, HealthCheck>()
  for (const entry of raw.healthchecks ?? []) {
    const check = healthCheck(entry, report, options)
    if (check !== undefined) healthchecks.set(entry.name, check)
  }

  const healthcheckNames = new Set((raw.healthchecks ?? []).map((e) => e.name))
  const backends = new Map<string, Backend>()
  const brokenBackends = new Set<string>()
  for (const entry of raw.backends ?? []) {
    const b = backend(entry, healthcheckNames, report)
    if (b !== undefined) backends.set(entry.name, b)
    else brokenBackends.add(entry.name)
  }
  // Every backend the file defines, valid or not: a reference to a broken one is not reported again.
  const backendNames: Names = { has: (name) => backends.has(name) || brokenBackends.has(name) }
  const frontends = new Map<string, Frontend>()
  const placed: Array<readonly [Path, Frontend]> = []
  for (const entry of raw.frontends ?? []) {
    const f = frontend(entry, backendNames, backends, report)
    if (f !== undefined) {
      frontends.set(entry.name, f)
      placed.push([entry.path, f])
    }
  }
  crossFrontend(placed, backends, report)

  // VPP's lb_conf source addresses are the outer source of the GRE tunnels to
  // the backends, so which one is needed follows the backends' family, not the
  // VIP's (an IPv6 VIP with IPv4 backends is GRE4). Every frontend in the file
  // counts, even one with errors of its own, once its backends' family is known.
  const familyUsers = new Map<AddressFamily, string>()
  // From the file, not from the frontends that passed: a backend of a broken frontend is not unused.
  const used = new Set<string>()
  for (const f of raw.frontends ?? []) {
    for (const pool of f.value.pools ?? []) {
      for (const member of pool.backends ?? []) {
        used.add(member.name)
        const family = backends.get(member.name)?.family
        if (family !== undefined && !familyUsers.has(family)) familyUsers.set(family, f.name)
      }
    }
  }
  for (const family of [4, 6] as const) {
    const user = familyUsers.get(family)
    const given = family === 4 ? raw.vpp?.lb?.ipv4SrcAddress : raw.vpp?.lb?.ipv6SrcAddress
    if (user !== undefined && given === undefined) {
      report.error(
        lbPath.key(`ipv${family}-src-address`),
        `is required: frontend ${JSON.stringify(user)} has ${familyName(family)} backends, and VPP uses this address ` +
          `as the source of its GRE${family} tunnels to them`
      )
    }
  }

  const unused = (raw.backends ?? []).filter((entry) => !used.has(entry.name) && backends.has(entry.name))
  if (unused.length <= UNUSED_LISTED) {
    for (const entry of unused) report.warn(entry.path, "is not used by any frontend (it is still health-checked)")
  } else {
    // One line, not one per backend: a file of 10,000 backends and no frontends yet is not 10,000 warnings.
    const names = unused.slice(0, UNUSED_LISTED).map((e) => e.name).join(", ")
    report.warn(
      unused[0]!.path.parent ?? unused[0]!.path,
      `${grouped(unused.length)} backends are not used by any frontend (they are still health-checked): ` +
        `${names} and ${grouped(unused.length - UNUSED_LISTED)} more`
    )
  }

  const config: Config | undefined =
    report.errors.length === 0 ? { healthchecker: hc, vpp: { lb }, healthchecks, backends, frontends } : undefined
  return { config, errors: report.errors, warnings: report.warnings }
}
