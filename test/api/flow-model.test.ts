/**
 * `flowChoice` (src/api/Flow.ts), the pure core of GetFrontendFlow, against
 * the simulator's lb plugin model and flow path (src/sim/LbPlugin.ts,
 * src/sim/Traffic.ts) programmed with the same VIP: for random VIPs (IPv4 and
 * IPv6, tcp/udp/any, src-ip-sticky or not, table lengths, weights) and random
 * flows, the backend and hash are the simulator's. In-process, so many more
 * cases than the end-to-end test (test/api/flow.test.ts) can afford.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { flowChoice } from "../../src/api/Flow.js"
import type { Frontend } from "../../src/config/Config.js"
import type { DesiredVip } from "../../src/lb/Desired.js"
import { LbPlugin } from "../../src/sim/LbPlugin.js"
import { Traffic } from "../../src/sim/Traffic.js"
import * as Ip from "../../src/vpp/codec/Ip.js"

const PROTOCOLS = { tcp: 6, udp: 17, any: 255 } as const

const address = (family: 4 | 6, n: number) => (family === 4 ? `10.0.${n >> 8}.${n & 255}` : `2001:db8::${n.toString(16)}`)
const bytes = (family: 4 | 6, b: ReadonlyArray<number>) => Uint8Array.from(family === 4 ? b.slice(0, 4) : b)
const ipBytes = (family: 4 | 6, text: string): Uint8Array => {
  const b = new Uint8Array(family === 4 ? 4 : 16)
  if (!(family === 4 ? Ip.parseIp4Into(text, b, 0) : Ip.parseIp6Into(text, b, 0))) throw new Error(`not an address: ${text}`)
  return b
}

const vipCase = fc.record({
  family: fc.constantFrom(4 as const, 6 as const),
  protocol: fc.constantFrom("tcp" as const, "udp" as const, "any" as const),
  sticky: fc.boolean(),
  lengthLog2: fc.integer({ min: 2, max: 12 }),
  ases: fc.uniqueArray(fc.record({ n: fc.integer({ min: 1, max: 4000 }), weight: fc.integer({ min: 0, max: 100 }) }), {
    minLength: 1,
    maxLength: 6,
    selector: (a) => a.n
  }),
  flows: fc.array(
    fc.record({
      src: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
      srcPort: fc.integer({ min: 0, max: 65535 }),
      dstPort: fc.integer({ min: 0, max: 65535 }),
      protocol: fc.constantFrom(6, 17, 1)
    }),
    { minLength: 1, maxLength: 20 }
  )
})

describe("flowChoice against the simulator's flow path", () => {
  it("the same backend, hash and bucket for random VIPs and flows", () => {
    fc.assert(
      fc.property(vipCase, (c) => {
        const length = 2 ** c.lengthLog2
        const vipAddress = c.family === 4 ? "192.0.2.77" : "2001:db8:77::1"
        const port = c.protocol === "any" ? 0 : 443
        const ases = c.ases.map((a, i) => ({ address: address(c.family, a.n), backend: `b${i}`, weight: a.weight, flush: false, status: "up" as const }))
        const frontend: Frontend = {
          name: "f",
          description: "",
          address: `${vipAddress}/${c.family === 4 ? 32 : 128}`,
          family: c.family,
          protocol: c.protocol,
          port,
          pools: [{ name: "p", backends: ases.map((a) => ({ backend: a.backend, weight: a.weight })) }],
          srcIpSticky: c.sticky,
          flushOnDown: true,
          newFlowsTableLength: length
        }
        const desired: DesiredVip = {
          prefix: frontend.address,
          protocol: PROTOCOLS[c.protocol],
          port,
          frontend: "f",
          encap: c.family === 4 ? "LB_API_ENCAP_TYPE_GRE4" : "LB_API_ENCAP_TYPE_GRE6",
          srcIpSticky: c.sticky,
          newFlowsTableLength: length,
          activePool: ases.some((a) => a.weight > 0) ? "p" : undefined,
          ases
        }
        // The simulator's lb plugin holding that VIP, as the sync would program it.
        const lb = new LbPlugin()
        const vipKey = { pfx: frontend.address, protocol: PROTOCOLS[c.protocol], port }
        expect(lb.handle("lb_add_del_vip_v2", {
          ...vipKey, encap: desired.encap, dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP", target_port: 0, node_port: 0,
          new_flows_table_length: length, src_ip_sticky: c.sticky, is_del: false
        } as never, 0)).toEqual({ retval: 0 })
        for (const a of ases) {
          expect(lb.handle("lb_add_del_as_v2", { ...vipKey, as_address: a.address, weight: a.weight, is_del: false, is_flush: false } as never, 0))
            .toEqual({ retval: 0 })
        }
        const vip = lb.vipIndices().find((v) => v.used)!.index
        const traffic = new Traffic(lb, () => {}, { workers: 0 })
        for (const flow of c.flows) {
          const protocol = c.protocol === "any" ? flow.protocol : PROTOCOLS[c.protocol]
          const dstPort = port === 0 ? flow.dstPort : port
          const src = bytes(c.family, flow.src)
          const answer = flowChoice(frontend, desired, {
            src: c.family === 4 ? Ip.formatIp4(src, 0) : Ip.formatIp6(src, 0),
            srcPort: flow.srcPort,
            protocol,
            dstPort
          })
          if (!("hash" in answer) || answer.hash === undefined) throw new Error(`no answer: ${JSON.stringify(answer)}`)
          const simFlow = traffic.flowOf(vip, { src, dst: ipBytes(c.family, vipAddress), srcPort: flow.srcPort, dstPort, protocol })!
          const r = traffic.packet(simFlow, 1)
          const simAddress = r.as === 0 ? undefined : lb.inspectVip(vip)!.ases.find((a) => a.index === r.as)!.address
          expect(answer.hash).toBe(simFlow.hash)
          expect(answer.bucket).toBe(simFlow.hash & (length - 1))
          expect(answer.address).toBe(simAddress)
        }
        traffic.close()
      }),
      { numRuns: 200 }
    )
  })
})
