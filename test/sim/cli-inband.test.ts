/**
 * vppsim's `cli_inband`: `show lb vips verbose` byte for byte as VPP's
 * format strings print it (src/sim/internal/LbShow.ts lists them), and VPP's
 * answer to other input.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect } from "effect"
import * as path from "node:path"
import * as Cli from "../../src/sim/Cli.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { lb, vlib } from "../../src/vpp/binapi/index.js"
import { LbVipCounter } from "../../src/vpp/stats/Layout.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { programScenario } from "../support/lbScenario.js"
import { tempDir } from "./tempDir.js"

const sim = () =>
  Effect.flatMap(tempDir("vppsim-cli-"), (d) =>
    Simulator.make({ apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock"), workers: 1 }))

const counters = (next: number, noServer: number) =>
  [
    "  counters:",
    `    packet from existing sessions: ${next}`,
    "    first session packet: 0",
    "    untracked packet: 0",
    `    no server configured: ${noServer}`
  ].join("\n")

/** Derived from format_lb_vip_detailed; each VIP block ends with the command's extra "\n". */
const EXPECTED = [
  " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky",
  "  new_size:1024",
  "  protocol:6 port:80",
  counters(12, 0),
  "  #as:3",
  "    10.0.0.1 weight:100 buckets:512 flows:0 dpo:1 used",
  "    10.0.0.2 weight:100 buckets:512 flows:0 dpo:2 used",
  "    10.0.0.3 weight:100 buckets:0 flows:0 dpo:3  removed",
  "",
  " ip6-gre6 [2] 2001:db8::/64",
  "  new_size:256",
  counters(0, 3),
  "  #as:1",
  "    2001:db8:1::1 weight:100 buckets:256 flows:0 dpo:4 used",
  "",
  " ip4-gre4 [3] 192.0.2.20/32 removed",
  "  new_size:1024",
  "  protocol:17 port:53",
  counters(0, 0),
  "  #as:0",
  "",
  " ip4-l3dsr [4] 192.0.2.30/32",
  "  new_size:1024",
  "  dscp:46",
  counters(0, 0),
  "  #as:0",
  "",
  " ip4-nat4 [5] 192.0.2.40/32",
  "  new_size:1024",
  "  protocol:6 port:8080",
  // ntohs of the host-order port (8080 → 36895), and no "\n" before "counters:"
  `  type:clusterip port:36895 target_port:8443${counters(0, 0)}`,
  "  #as:0",
  "",
  ""
].join("\n")

const show = (c: VppApi.VppConnection, cmd: string) => c.request(vlib.CliInband, vlib.CliInbandReply, { cmd })

describe("vppsim cli_inband", () => {
  it.live("show lb vips verbose: every kind of VIP, counters summed over threads, buckets as lb_as_v2_dump counts them", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      expect((yield* show(c, "show lb vips verbose")).reply).toBe("")
      yield* programScenario(c)
      yield* s.traffic(1, 5, 0)
      yield* s.traffic(1, 7, 1)
      s.stats!.segment.addLbTraffic(2, 3, { counter: LbVipCounter.noServer, thread: 1 })

      const reply = yield* show(c, "show lb vips verbose")
      expect(reply.retval).toBe(0)
      expect(reply.reply).toBe(EXPECTED)
      expect((yield* show(c, "  show lb vips verbose \n")).reply).toBe(EXPECTED)

      const buckets = Chunk.toReadonlyArray(yield* c.dump(lb.LbAsV2Dump, lb.LbAsV2Details, { pfx: "0.0.0.0/0", protocol: 0, port: 0 }))
      for (const d of buckets) expect(reply.reply).toContain(`    ${d.app_srv} weight:${d.weight} buckets:${d.num_buckets} `)
      expect(buckets).toHaveLength(4)
    })))

  // lb_show_vips_command_fn (src/plugins/lb/cli.c) without "verbose": format_lb_vip (src/plugins/lb/lb.c)
  it.live("show lb vips: one format_lb_vip line per VIP; verbose only when the rest starts with it; other input is unknown, retval -1", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      expect(yield* show(c, "show lb vips")).toMatchObject({ retval: 0, reply: "" })
      yield* programScenario(c)
      const brief = [
        "ip4-gre4 192.0.2.10/32 new_size:1024 #as:3  protocol:6 port:80 ",
        "ip6-gre6 2001:db8::/64 new_size:256 #as:1",
        "ip4-gre4 192.0.2.20/32 new_size:1024 #as:0 removed  protocol:17 port:53 ",
        "ip4-l3dsr 192.0.2.30/32 new_size:1024 #as:0  dscp:46",
        "ip4-nat4 192.0.2.40/32 new_size:1024 #as:0  protocol:6 port:8080  type:clusterip port:36895 target_port:8443",
        ""
      ].join("\n")
      expect(yield* show(c, "show lb vips")).toMatchObject({ retval: 0, reply: brief })
      expect(yield* show(c, "show lb vips other words")).toMatchObject({ retval: 0, reply: brief })
      expect((yield* show(c, "show lb vips verbosely")).reply).toBe((yield* show(c, "show lb vips verbose")).reply)
      expect((yield* show(c, "show lb vips verbose")).reply).toContain(" ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky\n  new_size:1024\n")
      const unknown = yield* Effect.flip(show(c, "show lb vipz"))
      expect(unknown).toMatchObject({ _tag: "VppApiError", retval: -1 })
    })))

  it("the unknown-input text: format_unformat_error of the input", () => {
    const commands: Cli.Commands = new Map([["known", (rest) => `out ${rest}\n`]])
    expect(Cli.run(" known\t", commands)).toEqual({ retval: 0, reply: "out \n" })
    expect(Cli.run("known  a b ", commands)).toEqual({ retval: 0, reply: "out a b\n" })
    expect(Cli.run("knownx", commands).retval).toBe(-1)
    expect(Cli.run("frobnicate now ", commands)).toEqual({ retval: -1, reply: "unknown input `frobnicate now'\n" })
    expect(Cli.run("a\tb", commands).reply).toBe("unknown input `a\\tb'\n")
    expect(Cli.run("x".repeat(31), commands).reply).toBe(`unknown input \`${"x".repeat(30)}...'\n`)
    expect(Cli.run("", commands)).toEqual({ retval: -1, reply: "unknown input `'\n" })
  })
})
