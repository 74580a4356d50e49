/**
 * GetFrontendFlow (src/api/Flow.ts) and `maglevc show frontend NAME flow ...`
 * against a running daemon and the simulator (live clock, support.ts): for
 * random flows, the backend, hash and bucket it answers from the desired state
 * are the simulator's own choice for the same flow (the lb plugin's flow path,
 * src/sim/Traffic.ts, over what maglevd programmed), through weight changes, a
 * src-ip-sticky all-port VIP and a backend going down. Few runs per state
 * (each is an RPC over HTTP); flow-model.test.ts runs many more in-process.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import * as fs from "node:fs"
import type { FlowInfo } from "../../src/api/Api.js"
import type { MaglevClientShape } from "../../src/api/Client.js"
import * as Commands from "../../src/cli/Commands.js"
import * as Run from "../../src/cli/Run.js"
import type { SimulatorShape } from "../../src/sim/Simulator.js"
import { Traffic } from "../../src/sim/Traffic.js"
import { LbVipCounter } from "../../src/vpp/stats/Layout.js"
import { FAIL, settled, waitFor, withApi, yaml } from "./support.js"

/** A second frontend: all ports, any protocol, src-ip-sticky, a small table. */
const STICKY = `    sticky:
      address: 192.0.2.11/32
      protocol: any
      src-ip-sticky: true
      new-flows-table-length: 256
      pools:
        - name: main
          backends:
            a: { weight: 30 }
            b:
`

interface Flow {
  readonly src: ReadonlyArray<number>
  readonly srcPort: number
  readonly protocol: number
  readonly dstPort: number
}

/** Where the simulator sends the first packet of the flow: the AS address (undefined: AS 0), and the hash. */
const simulatorChoice = (sim: SimulatorShape, traffic: Traffic, vipPrefix: string, flow: Flow, vipDst: ReadonlyArray<number>) => {
  const vip = sim.lb.vipIndices().find((v) => v.used && v.key.pfx === vipPrefix)!
  const f = traffic.flowOf(vip.index, {
    src: Uint8Array.from(flow.src),
    dst: Uint8Array.from(vipDst),
    srcPort: flow.srcPort,
    dstPort: flow.dstPort,
    protocol: flow.protocol
  })!
  const r = traffic.packet(f, 1)
  expect([LbVipCounter.firstPacket, LbVipCounter.noServer, LbVipCounter.nextPacket]).toContain(r.counter)
  return { hash: f.hash, address: r.as === 0 ? undefined : sim.lb.inspectVip(vip.index)!.ases.find((a) => a.index === r.as)!.address }
}

/** The active ASes' weights of one VIP in the simulator, by address. */
const weightsOf = (sim: SimulatorShape, prefix: string): Record<string, number> => {
  const vip = sim.lb.vipIndices().find((v) => v.used && v.key.pfx === prefix)
  const ases = vip === undefined ? [] : sim.lb.inspectVip(vip.index)!.ases.filter((a) => a.used)
  return Object.fromEntries(ases.map((a) => [a.address, a.weight]))
}

/** The property: for random flows to `frontend`, GetFrontendFlow's answer is the simulator's choice. */
const agrees = (
  api: MaglevClientShape,
  sim: SimulatorShape,
  frontend: string,
  vip: { readonly prefix: string; readonly dst: ReadonlyArray<number>; readonly port: number },
  protocols: ReadonlyArray<number>
) =>
  Effect.promise(() => {
    // A fresh flow path per run: empty sticky tables, so every flow's first packet is a new flow.
    const traffic = new Traffic(sim.lb, () => {}, { workers: 0 })
    return fc.assert(
      fc.asyncProperty(
        fc.record({
          src: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
          srcPort: fc.integer({ min: 0, max: 65535 }),
          protocol: fc.constantFrom(...protocols),
          dstPort: vip.port === 0 ? fc.integer({ min: 0, max: 65535 }) : fc.constant(vip.port)
        }),
        async (flow) => {
          const info: FlowInfo = await Effect.runPromise(api.GetFrontendFlow({
            name: frontend,
            src: flow.src.join("."),
            srcPort: flow.srcPort,
            protocol: flow.protocol,
            dstPort: flow.dstPort
          }))
          const expected = simulatorChoice(sim, traffic, vip.prefix, flow, vip.dst)
          expect(info.hash).toBe(expected.hash)
          expect(info.bucket).toBe(expected.hash & (info.newFlowsTableLength - 1))
          expect(info.address).toBe(expected.address)
        }
      ),
      { numRuns: 25 }
    ).finally(() => traffic.close())
  })

describe("GetFrontendFlow and show frontend NAME flow", () => {
  it.scopedLive("answers the simulator's choice for random flows, through weights, a sticky all-port VIP and a backend down", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        const web = { prefix: "192.0.2.10/32", dst: [192, 0, 2, 10], port: 80 }
        yield* agrees(api, f.sim!, "web", web, [6])

        // A second, src-ip-sticky all-port frontend and new weights.
        fs.writeFileSync(f.file, yaml({ a: 70, b: 20 }, STICKY))
        expect((yield* api.ReloadConfig()).result._tag).toBe("Valid")
        yield* waitFor("the reload in VPP", Effect.sync(() => {
          const w = weightsOf(f.sim!, "192.0.2.10/32")
          const s = weightsOf(f.sim!, "192.0.2.11/32")
          return w["10.0.0.1"] === 70 && w["10.0.0.2"] === 20 && s["10.0.0.1"] === 30 && s["10.0.0.2"] === 100 ? true : undefined
        }))
        const sticky = { prefix: "192.0.2.11/32", dst: [192, 0, 2, 11], port: 0 }
        yield* agrees(api, f.sim!, "web", web, [6])
        yield* agrees(api, f.sim!, "sticky", sticky, [6, 17, 1])
        // src-ip-sticky: the ports do not matter
        const one = yield* api.GetFrontendFlow({ name: "sticky", src: "198.51.100.7", srcPort: 1, dstPort: 443 })
        const other = yield* api.GetFrontendFlow({ name: "sticky", src: "198.51.100.7", srcPort: 2, dstPort: 443 })
        expect([one.portsHashed, one.hash, one.backend]).toEqual([false, other.hash, other.backend])

        // b goes down (flush-on-down): its weight is 0 everywhere, and no flow is sent to it.
        f.answers.set("b", FAIL)
        yield* waitFor("b drained in VPP", Effect.sync(() =>
          weightsOf(f.sim!, "192.0.2.10/32")["10.0.0.2"] === 0 && weightsOf(f.sim!, "192.0.2.11/32")["10.0.0.2"] === 0 ? true : undefined))
        yield* agrees(api, f.sim!, "web", web, [6])
        yield* agrees(api, f.sim!, "sticky", sticky, [6, 17])

        // Without a source port on a VIP that hashes ports: the spread over source ports, all on a (b is down).
        const spread = yield* api.GetFrontendFlow({ name: "web", src: "198.51.100.7" })
        expect(spread.hash).toBeUndefined()
        expect(spread.spread).toEqual([{ backend: "a", address: "10.0.0.1", ports: 64512, share: 1 }])

        // Errors: an unknown frontend, a source of the other family, a protocol the VIP does not take.
        const error = (e: Effect.Effect<unknown, unknown>) => Effect.flip(e).pipe(Effect.map((x) => (x as { _tag: string; message: string })))
        expect(yield* error(api.GetFrontendFlow({ name: "nope", src: "198.51.100.7" }))).toMatchObject({ _tag: "NotFound", message: 'frontend "nope" is not defined' })
        expect((yield* error(api.GetFrontendFlow({ name: "web", src: "2001:db8::1" }))).message).toBe(
          'invalid argument: source "2001:db8::1" is not an IPv4 address (the family of frontend web\'s VIP 192.0.2.10/32)'
        )
        expect((yield* error(api.GetFrontendFlow({ name: "web", src: "198.51.100.7", protocol: 17 }))).message).toBe(
          "invalid argument: frontend web takes tcp (protocol 6): a protocol 17 flow does not reach its VIP"
        )

        // maglevc's command, in-process over the same client: text and --json.
        const run = (line: string, json = false) =>
          Effect.flatMap(Commands.makeSession({ client: api, url: "test", color: false, json }), (session) =>
            Run.execute(line).pipe(Effect.provideService(Commands.Session, session)))
        const shown = yield* run("sh fr web flow 198.51.100.7 40000 tcp")
        const answer = yield* api.GetFrontendFlow({ name: "web", src: "198.51.100.7", srcPort: 40000, protocol: 6 })
        expect(shown).toMatchObject({ _tag: "Print", json: answer })
        const text = (shown as { text: string }).text
        expect(text).toContain("flow         198.51.100.7:40000 -> 192.0.2.10:80 tcp\n")
        expect(text).toContain(`bucket       ${answer.bucket} of 1024\n`)
        expect(text).toContain("backend      a (10.0.0.1)\n")
        const spreadText = (yield* run("show frontend web flow 198.51.100.7") as Effect.Effect<{ text: string }, unknown>).text
        expect(spreadText).toMatch(/a +10\.0\.0\.1 +64512 +100\.0%/)
        expect(yield* Effect.flip(run("show frontend web flow 198.51.100.7 40000 xyz"))).toMatchObject({
          _tag: "UsageError",
          message: "word 7: <proto>: expected tcp, udp or a protocol number 0..255"
        })
      })), 120_000)
})
