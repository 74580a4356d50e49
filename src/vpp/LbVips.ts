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
/** `format_lb_as` under `#as:`: address, weight, buckets, flows, dpo, then "used" or " removed" (lameduck). */
const AS_LINE = /^ {4}(\S+) weight:(\d+) buckets:(\d+) (?:flows:(\d+) )?.*?(used|removed)$/
const NEW_SIZE = /^ {2}new_size:(\d+)$/
const PROTOCOL_PORT = /^ {2}protocol:(\d+) port:(\d+)$/

interface Block {
  readonly line: number
  readonly text: string
  readonly index: number
  readonly type: string
  readonly prefix: string
  readonly flags: ReadonlyArray<string>
  newSize?: number
  protocol?: number
  port?: number
  readonly ases: Array<LbVipAs>
}

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

const toRecord = (b: Block): Either.Either<LbVipRecord, LbVipsParseError> => {
  const fail = (reason: string) => Either.left(new LbVipsParseError({ line: b.line, text: b.text, reason }))
  if (b.newSize === undefined) return fail("no new_size line follows it")
  const port = b.port ?? 0
  const protocol = b.protocol ?? ALL_PROTOCOLS
  if (protocol > 255 || port > 65535) return fail(`protocol ${protocol} / port ${port} out of range`)
  try {
    return Either.right({
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
 */
export const parseShowLbVips = (text: string): Either.Either<ReadonlyArray<LbVipRecord>, LbVipsParseError> =>
  Either.flatMap(parseBlocks(text), (blocks) => Either.all(blocks.map(toRecord)))

/** Each VIP of `parseShowLbVips` with the ASes listed under it (lameduck ones included), in VPP's pool order. */
export const parseShowLbVipsWithAses = (
  text: string
): Either.Either<ReadonlyArray<{ readonly vip: LbVipRecord; readonly ases: ReadonlyArray<LbVipAs> }>, LbVipsParseError> =>
  Either.flatMap(parseBlocks(text), (blocks) =>
    Either.all(blocks.map((b) => Either.map(toRecord(b), (vip) => ({ vip, ases: b.ases })))))

const parseBlocks = (text: string): Either.Either<ReadonlyArray<Block>, LbVipsParseError> => {
  const blocks: Array<Block> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "")
    const current = blocks[blocks.length - 1]
    if (/^ \S/.test(line)) {
      const m = HEADER.exec(line)
      if (m === null) {
        return Either.left(new LbVipsParseError({ line: i + 1, text: line, reason: "not a VIP header (\" <type> [<index>] <prefix>\")" }))
      }
      blocks.push({ line: i + 1, text: line, type: m[1]!, index: Number(m[2]), prefix: m[3]!, flags: m[4]!.split(" ").filter((f) => f !== ""), ases: [] })
      continue
    }
    if (current === undefined) continue
    if (line.startsWith("    ")) {
      const as = AS_LINE.exec(line)
      if (as !== null) {
        const flows = as[4] === undefined ? {} : { flows: Number(as[4]) }
        current.ases.push({ address: as[1]!, weight: Number(as[2]), buckets: Number(as[3]), ...flows, used: as[5] === "used" })
      }
      continue
    }
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

/** `show lb vips verbose` with each VIP's ASes (one message for VPP's whole lb state; the LB sync compares it first). */
export const showLbVipsWithAses = Effect.fn("LbVips.showWithAses")(function*(conn: VppConnection) {
  const reply = yield* conn.request(vlib.CliInband, vlib.CliInbandReply, { cmd: SHOW_LB_VIPS_VERBOSE })
  return yield* parseShowLbVipsWithAses(reply.reply)
})

/** Sends `show lb vips verbose` through `cli_inband` and parses the reply. */
export const showLbVips = Effect.fn("LbVips.show")(function*(conn: VppConnection) {
  const reply = yield* conn.request(vlib.CliInband, vlib.CliInbandReply, { cmd: SHOW_LB_VIPS_VERBOSE })
  return yield* parseShowLbVips(reply.reply)
})
