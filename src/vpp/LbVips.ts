/**
 * The lb plugin's VIPs as `show lb vips verbose` lists them, read through
 * `cli_inband`. `lb_vip_details` carries neither a VIP's pool index (which the
 * four per-VIP stats counters are indexed by) nor its src_ip_sticky flag; the
 * CLI text has both, which is why the original maglevd reads it too.
 *
 * VPP prints each VIP with `format_lb_vip_detailed` (`src/plugins/lb/lb.c`):
 *
 * ```
 *  ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky
 *   new_size:1024
 *   protocol:6 port:80
 *   counters:
 *     packet from existing sessions: 0
 *     ...
 *   #as:1
 *     10.0.0.1 weight:100 buckets:1024 flows:0 dpo:5 used
 *
 * ```
 *
 * The header is the one line indented by exactly one space: type, `[pool
 * index]`, prefix (`format_ip46_prefix`: dotted quad and IPv4 length for a
 * prefix in `::/96` with length >= 96, RFC 5952 text otherwise), then
 * " src_ip_sticky" and " removed" (deleted, not yet garbage-collected). The
 * `protocol:%u port:%u` line is there only for a per-port VIP; without it the
 * VIP is all-port (port 0, protocol 255). Every other line is skipped, so
 * lines a VPP version adds (dscp, NAT, a fork's VRF) do no harm.
 */
import { Data, Effect, Either } from "effect"
import { trace } from "../internal/Trace.js"
import { ALL_PROTOCOLS, type VipKey, vipKey } from "../lb/VipKey.js"
import { vlib } from "./binapi/index.js"
import type { VppConnection } from "./transport/VppApi.js"

/** One VIP of `show lb vips verbose`. */
export interface LbVipRecord {
  /** VIP pool index: the column of the lb counters in the stats segment */
  readonly index: number
  /** canonical, as `vipKey` makes it from the configuration */
  readonly key: VipKey
  /** `format_lb_vip_type`, e.g. "ip4-gre4" */
  readonly type: string
  readonly srcIpSticky: boolean
  /** deleted and waiting for garbage collection: its index may be reused once it is gone */
  readonly removed: boolean
  /** new-flow table length */
  readonly newSize: number
  /** its AS lines, lameduck ones included, in VPP's pool order */
  readonly ases: ReadonlyArray<LbVipAs>
}

/** The CLI text is not what this parser knows. */
export class LbVipsParseError extends Data.TaggedError("LbVipsParseError")<{
  /** 1-based */
  readonly line: number
  readonly text: string
  readonly reason: string
}> {
  override get message(): string {
    return `show lb vips verbose, line ${this.line} ${JSON.stringify(this.text)}: ${this.reason}`
  }
}

export const SHOW_LB_VIPS_VERBOSE = "show lb vips verbose"

const HEADER = /^ (\S+) \[(\d+)\] (\S+)((?: \S+)*)$/
const NEW_SIZE = /^ {2}new_size:(\d+)$/
const PROTOCOL_PORT = /^ {2}protocol:(\d+) port:(\d+)$/

/** One AS line of a VIP in `show lb vips verbose`. */
export interface LbVipAs {
  /** As VPP prints it (`format_ip46_address`). */
  readonly address: string
  readonly weight: number
  readonly buckets: number
  /**
   * `flows:`, the plugin's `as_refcount`: sticky-table entries naming the AS,
   * summed over threads (where the VIP's established flows go). Absent when
   * the line has none.
   */
  readonly flows?: number
  /** false: deleted, not yet garbage-collected (lameduck). */
  readonly used: boolean
}

/** Makes a caller's value of one AS line (the LB sync builds its own records, not two per AS). */
export type AsOf<A> = (address: string, weight: number, buckets: number, flows: number | undefined, used: boolean) => A

const lbVipAs: AsOf<LbVipAs> = (address, weight, buckets, flows, used) =>
  flows === undefined ? { address, weight, buckets, used } : { address, weight, buckets, flows, used }

interface Block<A> {
  readonly line: number
  readonly text: string
  readonly index: number
  readonly type: string
  readonly prefix: string
  readonly flags: ReadonlyArray<string>
  newSize?: number
  protocol?: number
  port?: number
  readonly ases: Array<A>
  /** Its lines after the header: from the next line to the next header (or the end). */
  readonly body: { from: number; to: number }
}

/** A VIP of the listing with its AS lines made by the caller's `AsOf`. */
export interface LbVipListed<A> extends Omit<LbVipRecord, "ases"> {
  readonly ases: ReadonlyArray<A>
  /**
   * Where its lines after the header are in the text (`readAsLines`,
   * `asLinesMatch`: the AS lines read later, or compared in place).
   */
  readonly body: TextRange
}

/** Character positions in a listing's text: [from, to). */
export interface TextRange {
  readonly from: number
  readonly to: number
}

const toRecord = <A>(b: Block<A>): Either.Either<LbVipListed<A>, LbVipsParseError> => {
  const fail = (reason: string) => Either.left(new LbVipsParseError({ line: b.line, text: b.text, reason }))
  if (b.newSize === undefined) return fail("no new_size line follows it")
  const port = b.port ?? 0
  const protocol = b.protocol ?? ALL_PROTOCOLS
  if (protocol > 255 || port > 65535) return fail(`protocol ${protocol} / port ${port} out of range`)
  try {
    return Either.right({
      body: b.body,
      index: b.index,
      key: vipKey(b.prefix, protocol, port),
      type: b.type,
      srcIpSticky: b.flags.includes("src_ip_sticky"),
      removed: b.flags.includes("removed"),
      newSize: b.newSize,
      ases: b.ases
    })
  } catch {
    return fail(`${JSON.stringify(b.prefix)} is not a prefix`)
  }
}

/**
 * The VIPs in the order VPP printed them (ascending pool index). A header line
 * that does not parse, or a VIP without its `new_size`, fails naming the line.
 * `ases`: false skips the AS lines (`ases` empty); "lazy" reads a VIP's AS
 * lines from the text when its `ases` is first asked for (the counter scrape
 * lists every 5 s, and its AS lines, 33,000 at 1,000 VIPs × 32 ASes, are only
 * read by a metrics scrape or an API call).
 */
export const parseShowLbVips = (
  text: string,
  options?: { readonly ases?: boolean | "lazy" }
): Either.Either<ReadonlyArray<LbVipRecord>, LbVipsParseError> => {
  const ases = options?.ases ?? true
  if (ases === true) return Either.map(parseShowLbVipsWith(text, lbVipAs), (vips) => vips.map(({ body: _, ...vip }) => vip))
  return Either.map(parseShowLbVipsWith(text, undefined), (vips) =>
    ases === false ? vips.map(({ ases: _none, body: _body, ...vip }): LbVipRecord => ({ ...vip, ases: [] })) : lazyRecords(text, vips))
}

/**
 * The records of a listing read with headers only (`parseShowLbVipsWith(text,
 * undefined)`), each VIP's AS lines read from `text` when its `ases` is first
 * asked for: the LB sync's full sync hands its listing to the supervisor so.
 */
export const lazyRecords = (text: string, vips: ReadonlyArray<LbVipListed<unknown>>): ReadonlyArray<LbVipRecord> =>
  vips.map(({ ases: _none, body, ...vip }): LbVipRecord => {
    let read: ReadonlyArray<LbVipAs> | undefined
    return Object.defineProperty({ ...vip }, "ases", { enumerable: true, get: () => (read ??= readAsLines(text, body, lbVipAs)) }) as LbVipRecord
  })

/** Each VIP of `parseShowLbVips` with the ASes listed under it (lameduck ones included), in VPP's pool order. */
export const parseShowLbVipsWithAses = (
  text: string
): Either.Either<ReadonlyArray<{ readonly vip: LbVipRecord; readonly ases: ReadonlyArray<LbVipAs> }>, LbVipsParseError> =>
  Either.map(parseShowLbVips(text), (vips) => vips.map((vip) => ({ vip, ases: vip.ases })))

/** `parseShowLbVips` with each AS line made by `asOf` (undefined: AS lines skipped, `ases` empty). */
export const parseShowLbVipsWith = <A>(
  text: string,
  asOf: AsOf<A> | undefined
): Either.Either<ReadonlyArray<LbVipListed<A>>, LbVipsParseError> =>
  Either.flatMap(parseBlocks(text, asOf), (blocks) => Either.all(blocks.map(toRecord)))

const SPACE = 32
const CR = 13
const isDigit = (c: number): boolean => c >= 48 && c <= 57

/**
 * One pass over the text by index: 2 MB and 33,000 AS lines at 1,000 VIPs × 32
 * ASes, read at every full sync and counter scrape. AS lines (the hot ones)
 * are read in place, character codes and one string for the address, with no
 * line string, regular expression or split; the few other lines go through
 * the regular expressions. The rules are those of these expressions:
 *
 * - header: `/^ (\S+) \[(\d+)\] (\S+)((?: \S+)*)$/` on a line with one
 *   leading space (anything else there fails the parse);
 * - AS: `/^ {4}(\S+) weight:(\d+) buckets:(\d+) (?:flows:(\d+) )?.*?(used|removed)$/`
 *   (`format_lb_as`), other lines with four leading spaces skipped;
 * - `new_size:` and `protocol: port:`, the first of each per VIP.
 */
const parseBlocks = <A>(text: string, asOf: AsOf<A> | undefined): Either.Either<ReadonlyArray<Block<A>>, LbVipsParseError> => {
  const blocks: Array<Block<A>> = []
  let current: Block<A> | undefined
  let lineNo = 0
  for (let at = 0; at <= text.length;) {
    let nl = text.indexOf("\n", at)
    if (nl < 0) nl = text.length
    const from = at
    let end = nl
    if (end > from && text.charCodeAt(end - 1) === CR) end--
    at = nl + 1
    lineNo++
    if (text.charCodeAt(from) !== SPACE) continue
    const c1 = text.charCodeAt(from + 1)
    if (c1 !== SPACE) {
      const line = text.slice(from, end)
      if (!/^ \S/.test(line)) continue
      const m = HEADER.exec(line)
      if (m === null) {
        return Either.left(new LbVipsParseError({ line: lineNo, text: line, reason: "not a VIP header (\" <type> [<index>] <prefix>\")" }))
      }
      if (current !== undefined) current.body.to = from
      const body = { from: Math.min(at, text.length), to: text.length }
      current = { line: lineNo, text: line, type: m[1]!, index: Number(m[2]), prefix: m[3]!, flags: m[4]!.split(" ").filter((f) => f !== ""), ases: [], body }
      blocks.push(current)
      continue
    }
    if (current === undefined) continue
    if (text.charCodeAt(from + 2) === SPACE && text.charCodeAt(from + 3) === SPACE) {
      if (asOf !== undefined && readAs(text, from, end)) current.ases.push(asOf(text.slice(asFrom, asTo), asWeight, asBuckets, asFlows, asUsed))
      continue
    }
    const line = text.slice(from, end)
    const size = NEW_SIZE.exec(line)
    if (size !== null) {
      current.newSize ??= Number(size[1])
      continue
    }
    const pp = PROTOCOL_PORT.exec(line)
    if (pp !== null && current.port === undefined) {
      current.protocol = Number(pp[1])
      current.port = Number(pp[2])
    }
  }
  return Either.right(blocks)
}

/**
 * Calls `each` with the end of every line of `range` that has four leading
 * spaces (the AS line candidates) and returns false as soon as `each` does.
 */
const eachIndented = (text: string, range: TextRange, each: (from: number, end: number) => boolean): boolean => {
  for (let at = range.from; at < range.to;) {
    let nl = text.indexOf("\n", at)
    if (nl < 0 || nl > range.to) nl = range.to
    const from = at
    let end = nl
    if (end > from && text.charCodeAt(end - 1) === CR) end--
    at = nl + 1
    if (
      text.charCodeAt(from) === SPACE && text.charCodeAt(from + 1) === SPACE && text.charCodeAt(from + 2) === SPACE &&
      text.charCodeAt(from + 3) === SPACE && !each(from, end)
    ) return false
  }
  return true
}

/** The AS lines of a VIP's `body` (as `parseShowLbVipsWith` would have made them). */
export const readAsLines = <A>(text: string, body: TextRange, asOf: AsOf<A>): Array<A> => {
  const out: Array<A> = []
  eachIndented(text, body, (from, end) => {
    if (readAs(text, from, end)) out.push(asOf(text.slice(asFrom, asTo), asWeight, asBuckets, asFlows, asUsed))
    return true
  })
  return out
}

/** An AS as a caller last saw it, to compare with the text in place. */
export interface AsSeen {
  readonly address: string
  readonly weight: number
  /** not `used` */
  readonly lameduck: boolean
  /** undefined: not known, so it cannot match */
  readonly numBuckets?: number | undefined
}

/**
 * Whether a VIP's AS lines are exactly `seen`, in that order (address as
 * printed, weight, buckets, used); read in place, nothing allocated. A full
 * sync that finds VPP as it last read it keeps what it has.
 */
export const asLinesMatch = (text: string, body: TextRange, seen: ReadonlyArray<AsSeen>): boolean => {
  let i = 0
  const all = eachIndented(text, body, (from, end) => {
    if (!readAs(text, from, end)) return true
    const e = seen[i++]
    return e !== undefined && e.weight === asWeight && e.numBuckets === asBuckets && e.lameduck === !asUsed &&
      e.address.length === asTo - asFrom && text.startsWith(e.address, asFrom)
  })
  return all && i === seen.length
}

/**
 * A VIP's AS lines as text: its `body` from the `#as:` line on (the whole body
 * when it has none), leaving out the packet counters above it, which move
 * with every packet. Two listings whose texts for a VIP are equal show the
 * same ASes in the same state, so a caller that kept the text it last read
 * compares two strings (a memory compare, nothing read or made per line).
 */
export const asLinesText = (text: string, body: TextRange): string => {
  const lines = text.slice(body.from, body.to)
  const at = lines.indexOf("#as:")
  if (at < 0) return lines
  // No AS line above it (none in VPP's format): else the whole body.
  const above = eachIndented(text, { from: body.from, to: body.from + at }, (from, end) => !readAs(text, from, end))
  return above ? lines.slice(at) : lines
}

/** `\S` as the regular expressions read it, for the characters VPP prints (ASCII). */
const isSpaceCode = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c > 0x7f && /\s/.test(String.fromCharCode(c))

/** Where the digits `digitsAt` read end (a module variable: no object per number in the hot loop). */
let digitsEnd = 0

/** The value of the digits at `at` (at least one; their end in `digitsEnd`), or -1. */
const digitsAt = (text: string, at: number, end: number): number => {
  let i = at
  let value = 0
  while (i < end && isDigit(text.charCodeAt(i))) value = value * 10 + (text.charCodeAt(i++) - 48)
  digitsEnd = i
  return i === at ? -1 : i - at > 15 ? Number(text.slice(at, i)) : value
}

// The AS line `readAs` read last (module variables: nothing allocated per line).
let asFrom = 0
let asTo = 0
let asWeight = 0
let asBuckets = 0
let asFlows: number | undefined
let asUsed = false

/**
 * Whether the line between `from` and `end` (four leading spaces checked by
 * the caller) is an AS line; if so, its fields are in the `as*` variables.
 */
const readAs = (text: string, from: number, end: number): boolean => {
  const a = from + 4
  let i = a
  while (i < end && !isSpaceCode(text.charCodeAt(i))) i++
  if (i === a || !text.startsWith(" weight:", i)) return false
  const weight = digitsAt(text, i + 8, end)
  if (weight < 0 || !text.startsWith(" buckets:", digitsEnd)) return false
  const buckets = digitsAt(text, digitsEnd + 9, end)
  if (buckets < 0 || digitsEnd >= end || text.charCodeAt(digitsEnd) !== SPACE) return false
  let rest = digitsEnd + 1
  let flows: number | undefined
  if (text.startsWith("flows:", rest)) {
    const f = digitsAt(text, rest + 6, end)
    if (f >= 0 && digitsEnd < end && text.charCodeAt(digitsEnd) === SPACE) {
      flows = f
      rest = digitsEnd + 1
    }
  }
  const used = end - 4 >= rest && text.startsWith("used", end - 4)
  if (!used && !(end - 7 >= rest && text.startsWith("removed", end - 7))) return false
  const token = end - (used ? 4 : 7)
  // `.` matches no line terminator: a stray \r between (VPP prints none) makes it no AS line.
  for (let k = rest; k < token; k++) {
    const c = text.charCodeAt(k)
    if (c === CR || c === 0x2028 || c === 0x2029) return false
  }
  asFrom = a
  asTo = i
  asWeight = weight
  asBuckets = buckets
  asFlows = flows
  asUsed = used
  return true
}

/** `show lb vips verbose` through `cli_inband`: the reply's text. */
export const showLbVipsText = (conn: VppConnection) =>
  Effect.map(conn.request(vlib.CliInband, vlib.CliInbandReply, { cmd: SHOW_LB_VIPS_VERBOSE }), (reply) => {
    trace("cli-read", reply.reply.length)
    return reply.reply
  })

/** `show lb vips verbose` with each VIP's ASes (one message for VPP's whole lb state; the LB sync compares it first). */
export const showLbVipsWithAses = Effect.fn("LbVips.showWithAses")(function*(conn: VppConnection) {
  return yield* parseShowLbVipsWithAses(yield* showLbVipsText(conn))
})

/** `show lb vips verbose` with each AS line made by `asOf` (undefined: headers only, each VIP's `body` to read later), and its text. */
export const showLbVipsWith = <A>(conn: VppConnection, asOf: AsOf<A> | undefined) =>
  Effect.flatMap(showLbVipsText(conn), (text) => Either.map(parseShowLbVipsWith(text, asOf), (vips) => ({ text, vips })))

/** Sends `show lb vips verbose` through `cli_inband` and parses the reply (`ases` as `parseShowLbVips` takes it). */
export const showLbVips = Effect.fn("LbVips.show")(function*(conn: VppConnection, options?: { readonly ases?: boolean | "lazy" }) {
  return yield* parseShowLbVips(yield* showLbVipsText(conn), options)
})
