/**
 * The RPCs that change something, over HTTP against a running daemon and the
 * simulator (live clock, see support.ts): operator actions on backends,
 * runtime weight overrides with flush, ReloadConfig, SyncVPPLBState, and the
 * Unavailable answers of a daemon without VPP.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import type { LbMutation } from "../../src/sim/LbPlugin.js"
import { FAIL, settled, waitFor, weights, withApi, yaml } from "./support.js"

const lbOps = (ms: ReadonlyArray<LbMutation>) => ms.filter((m) => m.op !== "conf" && m.op !== "restart")

describe("RPC API: changing", () => {
  it.scopedLive("pause, resume, disable, enable: the BackendInfo after; conflicts and unknown names", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        const paused = yield* api.PauseBackend({ name: "a" })
        expect(paused.state).toBe("paused")
        expect(paused.transitions.at(-1)).toMatchObject({ from: "up", to: "paused", cause: "pause" })
        expect(paused.memberships[0]).toMatchObject({ weight: 50, effectiveWeight: 0 })
        yield* waitFor("a drained", Effect.sync(() => (weights(f.sim)["10.0.0.1"] === 0 ? true : undefined)))

        expect((yield* api.ResumeBackend({ name: "a" })).state).toBe("unknown")
        yield* waitFor("a up again", Effect.map(api.GetBackend({ name: "a" }), (b) => (b.state === "up" ? b : undefined)))

        const disabled = yield* api.DisableBackend({ name: "a" })
        expect(disabled).toMatchObject({ state: "disabled", enabled: false })
        const conflict = yield* Effect.flip(api.PauseBackend({ name: "a" }))
        expect(conflict._tag).toBe("Conflict")
        expect(conflict.message).toContain("disabled")
        expect((yield* Effect.flip(api.ResumeBackend({ name: "a" })))._tag).toBe("Conflict")
        expect((yield* api.EnableBackend({ name: "a" })).state).toBe("unknown")

        for (const call of [api.PauseBackend, api.ResumeBackend, api.EnableBackend, api.DisableBackend]) {
          expect(yield* Effect.flip(call({ name: "nope" }))).toMatchObject({ _tag: "NotFound", kind: "backend", name: "nope" })
        }
      })), 30_000)

  it.scopedLive("a weight override until the next reload: state kept, VPP synced, flush with weight 0; ReloadConfig restores the file", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        const before = yield* api.GetBackend({ name: "b" })
        const mark = (yield* f.sim!.mutations).length

        const web = yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 0, flush: true })
        const a = web.pools[0]!.backends.find((m) => m.backend === "a")!
        expect(a).toMatchObject({ weight: 0, fileWeight: 50, effectiveWeight: 0, buckets: 0 })
        expect(web.pools[0]!.backends.find((m) => m.backend === "b")).toMatchObject({ weight: 100, effectiveWeight: 100, buckets: 1024 })
        // Synced before the answer, and the AS flushed.
        expect(weights(f.sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 100, "10.0.0.3": 0 })
        const ops = lbOps((yield* f.sim!.mutations).slice(mark))
        expect(ops.map((m) => m.op)).toContain("as-flush")
        expect(ops.filter((m) => m.op === "as-flush").map((m) => (m.details as { address: string }).address)).toEqual(["10.0.0.1"])
        // The reload behind the override kept every backend's state and history.
        expect((yield* api.GetBackend({ name: "b" })).transitions).toEqual(before.transitions)
        expect((yield* api.GetBackend({ name: "a" })).memberships[0]).toMatchObject({ weight: 0, effectiveWeight: 0 })
        expect(yield* f.checker.probing).toHaveLength(3)

        // Back to the file's weight: no override left.
        const back = yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 50 })
        expect(back.pools[0]!.backends.find((m) => m.backend === "a")).toMatchObject({ weight: 50, effectiveWeight: 50 })
        expect(back.pools[0]!.backends.find((m) => m.backend === "a")!.fileWeight).toBeUndefined()
        expect(weights(f.sim)["10.0.0.1"]).toBe(50)

        // Weight 0 with flush on the standby pool: VPP's weight is 0 already, so only the flush is sent.
        const mark2 = (yield* f.sim!.mutations).length
        yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "backup", backend: "c", weight: 0, flush: true })
        expect(lbOps((yield* f.sim!.mutations).slice(mark2)).map((m) => [m.op, (m.details as { address?: string }).address]))
          .toEqual([["as-weight", "10.0.0.3"], ["as-flush", "10.0.0.3"]])
        expect(weights(f.sim)).toEqual({ "10.0.0.1": 50, "10.0.0.2": 100, "10.0.0.3": 0 })

        expect(yield* Effect.flip(api.SetFrontendPoolBackendWeight({ frontend: "x", pool: "primary", backend: "a", weight: 1 })))
          .toMatchObject({ _tag: "NotFound", kind: "frontend", name: "x" })
        expect(yield* Effect.flip(api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "p9", backend: "a", weight: 1 })))
          .toMatchObject({ _tag: "NotFound", kind: "pool", name: "web/p9" })
        expect(yield* Effect.flip(api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "backup", backend: "a", weight: 1 })))
          .toMatchObject({ _tag: "NotFound", kind: "pool-member", name: "web/backup/a" })
        expect(yield* Effect.flip(api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 10, flush: true })))
          .toMatchObject({ _tag: "InvalidArgument" })

        // Override again, then reload the file: the file's weights are back, and the file's own changes apply.
        yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 20 })
        expect(weights(f.sim)["10.0.0.1"]).toBe(20)
        fs.writeFileSync(f.file, yaml({ b: 80 }))
        const reloaded = yield* api.ReloadConfig()
        expect(reloaded).toEqual({ file: f.file, result: { _tag: "Valid", warnings: [], frontends: 1, backends: 3, healthchecks: 1 } })
        const after = yield* api.GetFrontend({ name: "web" })
        expect(after.pools[0]!.backends.map((m) => [m.backend, m.weight, m.fileWeight])).toEqual([["b", 80, undefined], ["a", 50, undefined]])
        yield* waitFor("the reload synced", Effect.sync(() => {
          const w = weights(f.sim)
          return w["10.0.0.1"] === 50 && w["10.0.0.2"] === 80 ? w : undefined
        }))

        // An invalid file is refused with its errors; the running configuration stays.
        fs.writeFileSync(f.file, yaml({ b: 180 }))
        const refused = yield* api.ReloadConfig()
        expect(refused.result._tag).not.toBe("Valid")
        expect(refused.result._tag === "Valid" ? [] : refused.result.errors.map((e) => e.path)).toEqual(["maglev.frontends.web.pools[0].backends.b.weight"])
        expect((yield* api.GetFrontend({ name: "web" })).pools[0]!.backends[0]!.weight).toBe(80)
      })), 30_000)

  it.scopedLive("SyncVPPLBState: a dry run shows the repair of another client's drift, a sync applies it; unknown frontend", () =>
    withApi({}, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const api = yield* f.client()
        expect(yield* api.SyncVPPLBState({})).toEqual({ applied: true, scope: "full", ops: [] })
        f.sim!.lb.asSetWeight({ pfx: "192.0.2.10/32", protocol: 6, port: 80, as_address: "10.0.0.2", weight: 33, is_flush: false } as never, 1)
        const plan = yield* api.SyncVPPLBState({ dryRun: true })
        expect(plan).toEqual({
          applied: false,
          scope: "full",
          ops: [{
            op: "AsWeight",
            event: "vpp-lbsync-as-weight",
            vip: "192.0.2.10/32 6 80",
            address: "10.0.0.2",
            weight: 100,
            flush: false,
            frontend: "web",
            backend: "b"
          }]
        })
        expect(weights(f.sim)["10.0.0.2"]).toBe(33)
        const done = yield* api.SyncVPPLBState({ frontend: "web" })
        expect(done).toMatchObject({ applied: true, scope: ["192.0.2.10/32 6 80"] })
        expect(done.ops).toHaveLength(1)
        expect(weights(f.sim)["10.0.0.2"]).toBe(100)
        expect(yield* Effect.flip(api.SyncVPPLBState({ frontend: "nope" }))).toMatchObject({ _tag: "NotFound", kind: "frontend" })
      })), 30_000)

  it.scopedLive("without VPP: the VPP RPCs answer Unavailable, the rest works", () =>
    withApi({ vppDisabled: true }, (f) =>
      Effect.gen(function*() {
        const api = yield* f.client()
        f.answers.set("c", FAIL)
        yield* waitFor("c down", Effect.map(api.GetBackend({ name: "c" }), (b) => (b.state === "down" ? b : undefined)))
        const calls: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>> = [
          api.GetVPPInfo(),
          api.GetVPPLBState(),
          api.GetVPPLBCounters(),
          api.SyncVPPLBState({})
        ]
        for (const call of calls) {
          const e = yield* Effect.flip(call)
          expect(e._tag).toBe("Unavailable")
          expect(e.message).toContain("disabled")
        }
        // A weight override still applies to the health checker's configuration.
        const web = yield* api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "b", weight: 0 })
        expect(web.pools[0]!.backends[0]).toMatchObject({ backend: "b", weight: 0, fileWeight: 100 })
      })), 30_000)
})
