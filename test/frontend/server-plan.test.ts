/**
 * The pure parts of the dashboard server: the fleet view's fingerprints and
 * agreement (Fleet.ts), and the dry-run plan of an admin action (Plan.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import type { FrontendInfo, HealthStatus } from "../../src/api/Api.js"
import * as Fleet from "../../src/frontend/Fleet.js"
import { emptyServer } from "../../src/frontend/Hub.js"
import * as Plan from "../../src/frontend/Plan.js"
import type { ActionRequest, ServerState } from "../../src/frontend/Protocol.js"

interface Member {
  readonly backend: string
  readonly address: string
  readonly weight: number
  readonly state: HealthStatus
}

/** A frontend with its pools as maglevd would report them (effective weights by the same rules). */
const frontend = (name: string, vip: string, pools: ReadonlyArray<readonly [string, ReadonlyArray<Member>]>, extra: Partial<FrontendInfo> = {}): FrontendInfo => {
  const active = pools.find(([, ms]) => ms.some((m) => m.state === "up" && m.weight > 0))?.[0]
  return {
    name,
    description: "",
    address: vip.split(" ")[0]!,
    protocol: "tcp",
    port: 80,
    vip,
    srcIpSticky: false,
    flushOnDown: false,
    newFlowsTableLength: 1024,
    state: active === undefined ? "down" : "up",
    ...(active !== undefined ? { activePool: active } : {}),
    pools: pools.map(([pool, members]) => ({
      name: pool,
      active: pool === active,
      backends: members.map((m) => ({
        ...m,
        effectiveWeight: pool === active && m.state === "up" ? m.weight : 0,
        buckets: 0
      }))
    })),
    ...extra
  }
}

const up = (backend: string, address: string, weight: number): Member => ({ backend, address, weight, state: "up" })

const web = (web2: number, state2: HealthStatus = "up") =>
  frontend("web", "192.0.2.10/32 6 80", [
    ["primary", [up("web1", "10.0.0.1", 100), { ...up("web2", "10.0.0.2", web2), state: state2 }]],
    ["fallback", [up("web3", "10.0.0.3", 100)]]
  ])

const server = (id: string, frontends: ReadonlyArray<FrontendInfo>, connection: ServerState["connection"] = "up"): ServerState => ({
  ...emptyServer(id, `http://${id}/rpc`, 0),
  connection,
  frontends
})

describe("Fleet", () => {
  it.prop("the fingerprint does not depend on the order of the ASes", [FastCheck.shuffledSubarray([1, 2, 3, 4, 5, 6], { minLength: 6 }), FastCheck.integer({ min: 1, max: 100 })], ([order, w]) => {
    const ases = [1, 2, 3, 4, 5, 6].map((i) => ({ address: `10.0.0.${i}`, weight: i === 3 ? w : 10 * i }))
    expect(Fleet.fingerprint(order.map((i) => ases[i - 1]!), 4096)).toBe(Fleet.fingerprint(ases, 4096))
  })

  it("a different weight, table length or AS set is a different table; a weight-0 AS is the same as none", () => {
    const base = [{ address: "10.0.0.1", weight: 100 }, { address: "10.0.0.2", weight: 50 }]
    const f = Fleet.fingerprint(base, 1024)
    expect(Fleet.fingerprint([base[0]!, { address: "10.0.0.2", weight: 60 }], 1024)).not.toBe(f)
    expect(Fleet.fingerprint(base, 2048)).not.toBe(f)
    expect(Fleet.fingerprint([...base, { address: "10.0.0.3", weight: 1 }], 1024)).not.toBe(f)
    // Only the table counts: an AS that takes no bucket (drained, lameduck) changes nothing.
    expect(Fleet.fingerprint([...base, { address: "10.0.0.3", weight: 0 }], 1024)).toBe(f)
    expect(Fleet.fingerprint([...base, { address: "10.0.0.3", weight: 5, used: false }], 1024)).toBe(f)
  })

  it("agreement per VIP over the connected maglevds: the majority is the reference; missing and down ones", () => {
    const api = frontend("api", "192.0.2.11/32 6 443", [["primary", [up("web1", "10.0.0.1", 100)]]])
    const fleet = Fleet.fleet([
      server("a", [web(50), api]),
      server("b", [web(60), api]),
      server("c", [web(60)]),
      server("d", [web(70), api], "down")
    ])
    expect(fleet.map((v) => v.vip)).toEqual(["192.0.2.10/32 6 80", "192.0.2.11/32 6 443"])
    expect(fleet[0]).toMatchObject({ agree: false, differing: ["a"], missing: [] })
    expect(fleet[1]).toMatchObject({ agree: false, differing: [], missing: ["c"] })
    expect(fleet[0]!.members.map((m) => m.server)).toEqual(["a", "b", "c"])
    // Effective weights: a down backend or a standby pool counts as weight 0.
    expect(fleet[0]!.members[0]!.ases).toEqual([
      { address: "10.0.0.1", weight: 100 },
      { address: "10.0.0.2", weight: 50 },
      { address: "10.0.0.3", weight: 0 }
    ])
    expect(Fleet.fleet([server("a", [web(50)]), server("b", [web(50)])])[0]).toMatchObject({ agree: true, differing: [], missing: [] })
  })

  it("VPP's fingerprint reads its table length modulo 2^16; a lameduck AS takes no bucket", () => {
    const big = { ...web(50), newFlowsTableLength: 65536 }
    const s: ServerState = {
      ...server("a", [big]),
      vpp: {
        connected: true,
        lb: {
          conf: { ip4SrcAddress: "", ip6SrcAddress: "", stickyBucketsPerCore: 0, flowTimeout: 0 },
          vips: [{
            vip: big.vip,
            prefix: "192.0.2.10/32",
            protocol: 6,
            port: 80,
            encap: "gre4",
            newFlowsTableLength: 0,
            ases: [
              { address: "10.0.0.1", weight: 100, active: true },
              { address: "10.0.0.2", weight: 50, active: true },
              { address: "10.0.0.3", weight: 0, active: true },
              { address: "10.0.0.9", weight: 7, active: false }
            ]
          }]
        }
      }
    }
    const [m] = Fleet.fleet([s])[0]!.members
    expect(m!.vppFingerprint).toBe(m!.fingerprint)
    // VPP with another weight: it shows.
    const other = { ...s, vpp: { ...s.vpp, lb: { ...s.vpp.lb!, vips: [{ ...s.vpp.lb!.vips[0]!, ases: [{ address: "10.0.0.1", weight: 100, active: true }] }] } } }
    const [n] = Fleet.fleet([other])[0]!.members
    expect(n!.vppFingerprint).not.toBe(n!.fingerprint)
  })
})

describe("Plan", () => {
  const req = (r: Omit<ActionRequest, "server" | "dryRun">): ActionRequest => ({ server: "a", dryRun: true, ...r })

  it("pause: weight 0 without flush; the split moves to the others", () => {
    const p = Plan.plan(req({ action: "pause", backend: "web2" }), { frontends: [web(50)] })
    expect(p.ops).toEqual([{ op: "AsWeight", event: "vpp-lbsync-as-weight", vip: "192.0.2.10/32 6 80", address: "10.0.0.2", weight: 0, flush: false, frontend: "web", backend: "web2" }])
    const split = Object.fromEntries(p.vips[0]!.ases.map((a) => [a.backend, [a.bucketsBefore, a.bucketsAfter]]))
    expect(split["web2"]![1]).toBe(0)
    expect(split["web1"]![1]).toBe(1024)
    expect(split["web1"]![0]! + split["web2"]![0]!).toBe(1024)
  })

  it("disable flushes; a failover to the standby pool reprograms every AS", () => {
    expect(Plan.plan(req({ action: "disable", backend: "web2" }), { frontends: [web(50)] }).ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["web2", 0, true]])
    const onlyOne = frontend("solo", "192.0.2.12/32 6 80", [["primary", [up("web1", "10.0.0.1", 100)]], ["fallback", [up("web3", "10.0.0.3", 100)]]])
    const p = Plan.plan(req({ action: "pause", backend: "web1" }), { frontends: [onlyOne] })
    expect(p.vips[0]).toMatchObject({ activePoolBefore: "primary", activePoolAfter: "fallback" })
    expect(p.ops.map((o) => [o.backend, o.weight])).toEqual([["web1", 0], ["web3", 100]])
  })

  it("resume and enable wait for the probes: no operation until the backend is up", () => {
    expect(Plan.plan(req({ action: "resume", backend: "web2" }), { frontends: [web(50, "paused")] }).ops).toEqual([])
    expect(Plan.plan(req({ action: "enable", backend: "web2" }), { frontends: [web(50, "disabled")] }).ops).toEqual([])
  })

  it("set-weight touches its own frontend and pool; flush only with weight 0 when asked", () => {
    const api = frontend("api", "192.0.2.11/32 6 443", [["primary", [up("web2", "10.0.0.2", 100)]]])
    const p = Plan.plan(req({ action: "set-weight", backend: "web2", frontend: "web", pool: "primary", weight: 0, flush: true }), { frontends: [web(50), api] })
    // As the LB sync sends it: the new weight, then the operator's eviction (weight 0 again, with flush).
    expect(p.ops.map((o) => [o.frontend, o.weight, o.flush])).toEqual([["web", 0, false], ["web", 0, true]])
    expect(p.vips.map((v) => v.frontend)).toEqual(["web"])
    expect(Plan.plan(req({ action: "set-weight", backend: "web2", frontend: "web", pool: "primary", weight: 20 }), { frontends: [web(50)] }).ops.map((o) => [o.weight, o.flush])).toEqual([[20, false]])
    expect(Plan.summary(req({ action: "set-weight", backend: "web2", frontend: "web", pool: "primary", weight: 20 }), "a", Plan.plan(req({ action: "set-weight", backend: "web2", frontend: "web", pool: "primary", weight: 20 }), { frontends: [web(50)] })))
      .toBe("set weight of web2 in web/primary to 20 on a: 1 VPP operation (web: 10.0.0.2 weight 20)")
  })
})
