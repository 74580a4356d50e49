/**
 * The read-only RPCs over HTTP against a running daemon and the simulator
 * (live clock, see support.ts): frontends, backends, health checks, VPP info,
 * lb state and counters, CheckConfig, and their NotFound errors.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { settled, waitFor, withApi, yaml } from "./support.js"

describe("RPC API: reading", () => {
  it.scopedLive("frontends, backends and health checks, with effective weights and predicted buckets", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()

        const [web] = yield* api.ListFrontends()
        expect(web).toMatchObject({
          name: "web",
          description: "the web site",
          address: "192.0.2.10/32",
          protocol: "tcp",
          port: 80,
          vip: "192.0.2.10/32 6 80",
          state: "up",
          activePool: "primary",
          newFlowsTableLength: 1024
        })
        expect(web!.pools.map((p) => [p.name, p.active, p.backends.map((b) => [b.backend, b.state, b.weight, b.effectiveWeight])]))
          .toEqual([
            ["primary", true, [["b", "up", 100, 100], ["a", "up", 50, 50]]],
            ["backup", false, [["c", "up", 100, 0]]]
          ])
        // The predicted buckets are what VPP reports once it matches.
        const state = yield* api.GetVPPLBState()
        const reported = Object.fromEntries(state.vips[0]!.ases.map((a) => [a.address, a.numBuckets]))
        const predicted = Object.fromEntries(web!.pools.flatMap((p) => p.backends.filter((b) => b.effectiveWeight > 0).map((b) => [b.address, b.buckets])))
        expect(predicted).toEqual({ "10.0.0.1": reported["10.0.0.1"], "10.0.0.2": reported["10.0.0.2"] })
        expect(predicted["10.0.0.1"]! + predicted["10.0.0.2"]!).toBe(1024)
        expect(yield* api.GetFrontend({ name: "web" })).toEqual(web)
        expect(yield* Effect.flip(api.GetFrontend({ name: "nope" }))).toMatchObject({ _tag: "NotFound", kind: "frontend", name: "nope" })

        const backends = yield* api.ListBackends()
        expect(backends.map((b) => [b.name, b.address, b.state, b.enabled])).toEqual([
          ["a", "10.0.0.1", "up", true],
          ["b", "10.0.0.2", "up", true],
          ["c", "10.0.0.3", "up", true]
        ])
        const a = yield* api.GetBackend({ name: "a" })
        expect(a).toMatchObject({ healthcheck: "hc", counter: 1, rise: 1, fall: 1, lastResult: { ok: true, code: "L4OK" } })
        expect(a.transitions.map((t) => [t.from, t.to, t.cause, t.result?.code])).toEqual([["unknown", "up", "probe", "L4OK"]])
        expect(a.memberships).toEqual([{ frontend: "web", pool: "primary", weight: 50, effectiveWeight: 50, active: true }])
        expect((yield* api.GetBackend({ name: "c" })).memberships).toEqual([
          { frontend: "web", pool: "backup", weight: 100, effectiveWeight: 0, active: false }
        ])
        expect(yield* Effect.flip(api.GetBackend({ name: "zz" }))).toMatchObject({ _tag: "NotFound", kind: "backend" })
        // A pool row says since when its backend is in its state: the last transition.
        const row = web!.pools[0]!.backends.find((b) => b.backend === "a")!
        expect(row.since).toBe(a.transitions.at(-1)!.at)

        const version = yield* api.GetVersion()
        expect(version.version).toMatch(/^\d+\.\d+\.\d+/)
        expect(version.startedAt).toBeLessThanOrEqual(Date.now())
        expect(version.startedAt).toBeGreaterThan(Date.now() - 60_000)
        expect(version.configFile).not.toBe("")

        const [hc] = yield* api.ListHealthChecks()
        expect(hc).toMatchObject({
          name: "hc",
          type: "tcp",
          port: 80,
          interval: "100ms",
          fastInterval: "100ms",
          downInterval: "100ms",
          timeout: "50ms",
          rise: 1,
          fall: 1,
          tcp: { tls: false, insecure: false },
          backends: ["a", "b", "c"]
        })
        expect(yield* api.GetHealthCheck({ name: "hc" })).toEqual(hc)
        expect(yield* Effect.flip(api.GetHealthCheck({ name: "x" }))).toMatchObject({ _tag: "NotFound", kind: "healthcheck" })
      })), 30_000)

  it.scopedLive("VPP: info, lb state from a fresh dump, counters per frontend", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        const info = yield* api.GetVPPInfo()
        expect(info.connectCount).toBe(1)
        expect(info.version).not.toBe("")
        expect(info.pid).toBeGreaterThan(0)

        const state = yield* api.GetVPPLBState()
        expect(state.conf).toEqual({
          ip4SrcAddress: "192.0.2.254",
          ip6SrcAddress: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
          stickyBucketsPerCore: 65536,
          flowTimeout: 40
        })
        expect(state.vips).toHaveLength(1)
        expect(state.vips[0]).toMatchObject({
          vip: "192.0.2.10/32 6 80",
          encap: "LB_API_ENCAP_TYPE_GRE4",
          srcIpSticky: false,
          newFlowsTableLength: 1024,
          frontend: "web"
        })
        expect(state.vips[0]!.ases.map((a) => [a.address, a.weight, a.active, a.backend])).toEqual([
          ["10.0.0.1", 50, true, "a"],
          ["10.0.0.2", 100, true, "b"],
          ["10.0.0.3", 0, true, "c"]
        ])

        // Another client's VIP shows up too, without a frontend.
        f.sim!.lb.handle("lb_add_del_vip_v2", {
          pfx: "192.0.2.99/32", protocol: 17, port: 53, encap: "LB_API_ENCAP_TYPE_GRE4", dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP",
          target_port: 0, node_port: 0, new_flows_table_length: 256, src_ip_sticky: true, is_del: false
        } as never, 0)
        const foreign = (yield* api.GetVPPLBState()).vips.find((v) => v.vip === "192.0.2.99/32 17 53")
        expect(foreign).toMatchObject({ srcIpSticky: true, newFlowsTableLength: 256, ases: [] })
        expect(foreign?.frontend).toBeUndefined()

        const vip = f.sim!.lb.vipIndices().find((e) => e.used)!
        yield* f.sim!.traffic(vip.index, 7)
        const counters = yield* waitFor("counters", Effect.map(api.GetVPPLBCounters(), (c) => (c[0]?.nextPacket === 7n ? c : undefined)))
        expect(counters).toEqual([{
          frontend: "web",
          vip: "192.0.2.10/32 6 80",
          nextPacket: 7n,
          firstPacket: 0n,
          untrackedPacket: 0n,
          noServer: 0n,
          // each AS's established flows (none: the simulator runs no traffic model here)
          ases: [
            { address: "10.0.0.1", backend: "a", flows: 0, active: true },
            { address: "10.0.0.2", backend: "b", flows: 0, active: true },
            { address: "10.0.0.3", backend: "c", flows: 0, active: true }
          ]
        }])
      })), 30_000)

  it.scopedLive("CheckConfig: the daemon's file by default, another path, semantic and parse errors with paths, an unreadable file", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        const api = yield* f.client()
        expect(yield* api.CheckConfig({})).toEqual({
          file: f.file,
          result: { _tag: "Valid", warnings: [], frontends: 1, backends: 3, healthchecks: 1 }
        })

        const semantic = path.join(f.dir, "semantic.yaml")
        fs.writeFileSync(semantic, yaml().replace("            c:\n", "            zz:\n"))
        const s = yield* api.CheckConfig({ path: semantic })
        expect(s.file).toBe(semantic)
        expect(s.result._tag).toBe("SemanticError")
        if (s.result._tag === "SemanticError") {
          expect(s.result.errors).toEqual([
            expect.objectContaining({ path: "maglev.frontends.web.pools[1].backends.zz", rule: expect.stringContaining("zz") })
          ])
          expect(s.result.errors[0]!.line).toBeGreaterThan(0)
        }

        const broken = path.join(f.dir, "broken.yaml")
        fs.writeFileSync(broken, "maglev: [\n")
        const p = yield* api.CheckConfig({ path: broken })
        expect(p.result._tag).toBe("ParseError")

        const missing = yield* api.CheckConfig({ path: path.join(f.dir, "missing.yaml") })
        expect(missing.result).toMatchObject({ _tag: "ParseError", errors: [{ path: "", rule: expect.stringContaining("cannot read") }] })
      })), 30_000)
})
