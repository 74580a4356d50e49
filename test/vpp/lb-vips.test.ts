/**
 * `show lb vips verbose` through cli_inband: the parser on VPP's text (and on
 * text it must skip or refuse), then a round trip against the simulator.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Effect, Either } from "effect"
import * as path from "node:path"
import { type VipKey, vipKey } from "../../src/lb/VipKey.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { asLinesMatch, asLinesText, type LbVipRecord, parseShowLbVips, parseShowLbVipsWith, parseShowLbVipsWithAses, readAsLines, showLbVips } from "../../src/vpp/LbVips.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { programScenario, scenario } from "../support/lbScenario.js"
import { tempDir } from "../sim/tempDir.js"

const TWO_VIPS = [
  " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky",
  "  new_size:1024",
  "  protocol:6 port:80",
  "  counters:",
  "    packet from existing sessions: 12",
  "    first session packet: 0",
  "    untracked packet: 0",
  "    no server configured: 0",
  "  #as:1",
  "    10.0.0.1 weight:100 buckets:1024 flows:0 dpo:1 used",
  "",
  " ip6-gre6 [7] 2001:db8::/64 removed",
  "  new_size:256",
  "  counters:",
  "    packet from existing sessions: 0",
  "  #as:0",
  "",
  ""
].join("\n")

const record = (
  index: number,
  type: string,
  key: VipKey,
  flags: { readonly srcIpSticky?: boolean; readonly removed?: boolean; readonly newSize?: number; readonly ases?: LbVipRecord["ases"] } = {}
): LbVipRecord => ({ index, key, type, srcIpSticky: false, removed: false, newSize: 1024, ases: [], ...flags })

describe("parseShowLbVips", () => {
  it("headers, new_size and the protocol/port line; all-port VIPs get protocol 255", () => {
    expect(parseShowLbVips(TWO_VIPS)).toEqual(Either.right([
      record(1, "ip4-gre4", { prefix: "192.0.2.10/32", protocol: 6, port: 80 }, {
        srcIpSticky: true,
        ases: [{ address: "10.0.0.1", weight: 100, buckets: 1024, flows: 0, used: true }]
      }),
      record(7, "ip6-gre6", { prefix: "2001:db8::/64", protocol: 255, port: 0 }, { removed: true, newSize: 256 })
    ]))
  })

  it("each VIP's AS lines: address, weight, buckets, flows (as_refcount), lameduck", () => {
    const text = TWO_VIPS.replace("  #as:0\n", "  #as:1\n    10.0.0.9 weight:0 buckets:0 flows:17 dpo:4  removed\n")
    const parsed = Either.getOrThrow(parseShowLbVipsWithAses(text))
    expect(parsed.map((p) => p.ases)).toEqual([
      [{ address: "10.0.0.1", weight: 100, buckets: 1024, flows: 0, used: true }],
      [{ address: "10.0.0.9", weight: 0, buckets: 0, flows: 17, used: false }]
    ])
  })

  it("no VIPs: empty text", () => {
    expect(parseShowLbVips("")).toEqual(Either.right([]))
  })

  it("unknown lines are skipped (a fork's VRF line, NAT details, text before the first VIP)", () => {
    const text = [
      "some banner",
      " ip4-nat4 [3] 192.0.2.40/32",
      "  new_size:1024",
      "  Vrf (ip table: 0 fib index: 0)",
      "  protocol:6 port:8080",
      "  type:clusterip port:36895 target_port:8443  counters:",
      "    packet from existing sessions: 0",
      "  #as:0",
      "  something new:1",
      ""
    ].join("\n")
    expect(parseShowLbVips(text)).toEqual(Either.right([record(3, "ip4-nat4", { prefix: "192.0.2.40/32", protocol: 6, port: 8080 })]))
  })

  it("prefixes map to the keys vipKey makes from the configuration", () => {
    const header = (pfx: string) => ` ip6-gre6 [1] ${pfx}\n  new_size:1024\n`
    for (const [printed, configured] of [["::/64", "::/64"], ["10.0.0.0/4", "::a00:0/100"], ["2001:db8::/32", "2001:0db8::/32"]] as const) {
      const parsed = Either.getOrThrow(parseShowLbVips(header(printed)))
      expect(parsed[0]!.key).toEqual(vipKey(configured, 255, 0))
    }
  })

  it("a header that does not parse fails naming the line", () => {
    const broken = TWO_VIPS.replace(" ip6-gre6 [7] 2001:db8::/64 removed", " ip6-gre6 7 2001:db8::/64")
    const e = Either.flip(parseShowLbVips(broken)).pipe(Either.getOrThrow)
    expect(e).toMatchObject({ _tag: "LbVipsParseError", line: 12, text: " ip6-gre6 7 2001:db8::/64" })
    expect(e.message).toContain("line 12")
  })

  it("a prefix that is not one, or a VIP without new_size, fails naming its header", () => {
    const badPrefix = Either.flip(parseShowLbVips(" ip4-gre4 [1] 192.0.2.300/32\n  new_size:1024\n")).pipe(Either.getOrThrow)
    expect(badPrefix).toMatchObject({ line: 1, text: " ip4-gre4 [1] 192.0.2.300/32" })
    const noSize = Either.flip(parseShowLbVips("\n ip4-gre4 [1] 192.0.2.1/32\n  counters:\n")).pipe(Either.getOrThrow)
    expect(noSize).toMatchObject({ line: 2, reason: "no new_size line follows it" })
  })
})

/**
 * The AS line's rule as a regular expression (`format_lb_as`): the scanner
 * reads AS lines by character codes, and must read exactly what this matches.
 */
const AS_LINE = /^ {4}(\S+) weight:(\d+) buckets:(\d+) (?:flows:(\d+) )?.*?(used|removed)$/
const byRegex = (line: string) => {
  const m = AS_LINE.exec(line)
  return m === null
    ? undefined
    : { address: m[1]!, weight: Number(m[2]), buckets: Number(m[3]), ...(m[4] === undefined ? {} : { flows: Number(m[4]) }), used: m[5] === "used" }
}

describe("parseShowLbVips reads AS lines as the rule says", () => {
  const piece = fc.constantFrom(" ", "    ", "weight:", " weight:", " buckets:", "buckets:", "flows:", " flows:", "used", "removed", " removed", "dpo:3 ", "x", "\t", "\r", "10.0.0.1", "::1", ":")
  const digits = fc.integer({ min: 0, max: 99999 }).map(String)
  const line = fc.oneof(
    fc.tuple(fc.constantFrom("10.0.0.1", "2001:db8::7", "a"), digits, digits, fc.option(digits), fc.constantFrom("used", " removed", "unused", "")).map(
      ([a, w, b, f, end]) => `    ${a} weight:${w} buckets:${b} ${f === null ? "" : `flows:${f} `}dpo:1 ${end}`
    ),
    fc.array(fc.oneof(piece, digits), { maxLength: 12 }).map((ps) => ps.join(""))
  )
  // A valid line with a few pieces inserted or cut anywhere: most are near misses.
  const damaged = fc.tuple(line, fc.array(fc.tuple(fc.nat(), fc.oneof(piece, fc.constant("")), fc.nat({ max: 3 })), { maxLength: 3 })).map(([l, edits]) =>
    edits.reduce((s, [at, p, cut]) => s.slice(0, at % (s.length + 1)) + p + s.slice((at % (s.length + 1)) + cut), l)
  )

  it.prop("every line: the scanner's AS (or none) is the regular expression's", [fc.array(damaged, { maxLength: 8 })], ([lines]) => {
    const text = [" ip4-gre4 [1] 192.0.2.10/32", "  new_size:1024", ...lines, ""].join("\n")
    const parsed = parseShowLbVips(text)
    // A damaged line may have become a header (one leading space): then the text has more VIPs or fails; skip it.
    fc.pre(Either.isRight(parsed) && parsed.right.length === 1)
    const expected = lines.flatMap((l) => l.split("\n")).map((l) => l.replace(/\r$/, "")).map(byRegex).filter((a) => a !== undefined)
    expect(Either.getOrThrow(parsed)[0]!.ases).toEqual(expected)
    // Read later from the VIP's body, and compared in place: the same lines.
    const [vip] = Either.getOrThrow(parseShowLbVipsWith(text, undefined))
    const seen = readAsLines(text, vip!.body, (address, weight, buckets, _flows, used) => ({ address, weight, numBuckets: buckets, lameduck: !used }))
    expect(seen).toEqual(expected.map((a) => ({ address: a.address, weight: a.weight, numBuckets: a.buckets, lameduck: !a.used })))
    expect(asLinesMatch(text, vip!.body, seen)).toBe(true)
    if (seen.length > 0) {
      const i = seen.length - 1
      expect(asLinesMatch(text, vip!.body, seen.slice(0, i))).toBe(false)
      expect(asLinesMatch(text, vip!.body, [...seen.slice(0, i), { ...seen[i]!, weight: seen[i]!.weight + 1 }])).toBe(false)
      expect(asLinesMatch(text, vip!.body, [...seen.slice(0, i), { ...seen[i]!, numBuckets: undefined }])).toBe(false)
      expect(asLinesMatch(text, vip!.body, [...seen.slice(0, i), { ...seen[i]!, address: `${seen[i]!.address}0` }])).toBe(false)
    }
  }, { fastCheck: { numRuns: 500 } })

  it.prop(
    "asLinesText: two listings whose texts for a VIP are equal read the same AS lines; the counters above #as: do not count",
    [fc.array(damaged, { maxLength: 6 }), fc.array(damaged, { maxLength: 6 }), fc.nat({ max: 6 }), digits, digits, fc.boolean()],
    ([a, b, at, c1, c2, same]) => {
      const body = (lines: ReadonlyArray<string>, counter: string) => {
        const with_ = [...lines]
        with_.splice(Math.min(at, with_.length), 0, `  #as:${lines.length}`)
        return [" ip4-gre4 [1] 192.0.2.10/32", "  new_size:1024", "  counters:", `    packet from existing sessions: ${counter}`, ...with_, ""].join("\n")
      }
      const t1 = body(a, c1)
      const t2 = body(same ? a : b, c2)
      const p1 = parseShowLbVipsWith(t1, undefined)
      const p2 = parseShowLbVipsWith(t2, undefined)
      // A damaged line may have become a header (one leading space): then the text has more VIPs or fails; skip it.
      fc.pre(Either.isRight(p1) && p1.right.length === 1 && Either.isRight(p2) && p2.right.length === 1)
      const [v1] = Either.getOrThrow(p1)
      const [v2] = Either.getOrThrow(p2)
      const as = (t: string, v: typeof v1) => readAsLines(t, v!.body, (address, weight, buckets, flows, used) => ({ address, weight, buckets, flows, used }))
      if (asLinesText(t1, v1!.body) === asLinesText(t2, v2!.body)) expect(as(t2, v2)).toEqual(as(t1, v1))
      // The same AS lines under other counters: the same text (VPP prints #as: after the counters, before its AS lines).
      if (same && at === 0) expect(asLinesText(t2, v2!.body)).toBe(asLinesText(t1, v1!.body))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("ases: lazy reads a VIP's AS lines when they are asked for, the same as at once", () => {
    const text = TWO_VIPS.replace("  #as:0\n", "  #as:1\n    10.0.0.9 weight:0 buckets:0 flows:17 dpo:4  removed\n")
    const lazy = Either.getOrThrow(parseShowLbVips(text, { ases: "lazy" }))
    expect(lazy).toEqual(Either.getOrThrow(parseShowLbVips(text)))
    expect(lazy[1]!.ases).toBe(lazy[1]!.ases)
  })

  it("ases: false reads the headers and skips the AS lines", () => {
    expect(parseShowLbVips(TWO_VIPS, { ases: false })).toEqual(Either.right([
      record(1, "ip4-gre4", { prefix: "192.0.2.10/32", protocol: 6, port: 80 }, { srcIpSticky: true }),
      record(7, "ip6-gre6", { prefix: "2001:db8::/64", protocol: 255, port: 0 }, { removed: true, newSize: 256 })
    ]))
  })
})

describe("showLbVips against the simulator", () => {
  it.live("keys are the vipKeys of what was programmed, indices the simulator's pool indices, sticky and removed as set", () =>
    Effect.scoped(Effect.gen(function*() {
      const d = yield* tempDir("lbvips-")
      const s = yield* Simulator.make({ apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock") })
      const c = yield* VppApi.connect({ path: s.api.path })
      expect(yield* showLbVips(c)).toEqual([])
      yield* programScenario(c)

      const vips = yield* showLbVips(c)
      const programmed = Object.values(scenario).map((v) => vipKey(v.pfx, v.protocol, v.port))
      expect(vips.map((v) => v.key)).toEqual(programmed)
      expect(vips.map((v) => v.index)).toEqual(s.lb.vipIndices().map((e) => e.index))
      expect(vips.map((v) => [v.srcIpSticky, v.removed])).toEqual(
        Object.values(scenario).map((v) => [v.src_ip_sticky, v === scenario.deleted])
      )
      expect(vips.map((v) => v.type)).toEqual(["ip4-gre4", "ip6-gre6", "ip4-gre4", "ip4-l3dsr", "ip4-nat4"])
      expect(vips.map((v) => v.newSize)).toEqual(Object.values(scenario).map((v) => v.new_flows_table_length))
    })))
})
