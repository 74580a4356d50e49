/**
 * The dashboard's dry-run plan (src/frontend/Plan.ts) against the daemon: the
 * real HealthChecker (scripted probe results), VPP supervisor and LB sync over
 * the in-process simulator, on TestClock. Before each admin action the plan is
 * made from what the API would report (Info.ts over the daemon's snapshot);
 * the action is then applied as maglevd applies it, and the lb mutations VPP
 * receives and the weights it ends with must be the plan's, through a
 * min-healthy panic (kept weights of down backends, a resume that brings a
 * kept backend back) and a slow start (an override in the middle of a ramp),
 * and outside a panic (pause, disable's flush, an override, a failover to the
 * standby pool, a resume that waits for its probes).
 * The test waits for VPP to reach the planned weights and the LB sync to be
 * idle, never for a length of time; the clock does not move between the plan
 * and the check.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect } from "effect"
import type { Config } from "../../src/config/Config.js"
import * as Info from "../../src/api/Info.js"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as Plan from "../../src/frontend/Plan.js"
import type { ActionRequest } from "../../src/frontend/Protocol.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import type { ProbeResult } from "../../src/health/ProbeResult.js"
import * as LbSync from "../../src/lb/LbSync.js"
import type { LbMutation } from "../../src/sim/LbPlugin.js"
import type * as Simulator from "../../src/sim/Simulator.js"
import { backend, config, healthCheck, tcpFrontend } from "../support/config.js"
import { advanceUntil, asWeights, daemon, FAIL, simulatorAt } from "../support/lbDaemon.js"
import { waitFor } from "../support/wait.js"

const hc = healthCheck("hc", {
  interval: Duration.seconds(1),
  fastInterval: Duration.seconds(1),
  downInterval: Duration.seconds(1),
  rise: 1,
  fall: 1,
  slowStart: Duration.seconds(20)
})
const backends = [backend("a", "10.0.0.1", "hc"), backend("b", "10.0.0.2", "hc"), backend("c", "10.0.0.3", "hc"), backend("e", "10.0.0.5", "hc")]
const pools = [
  { name: "primary", backends: [{ backend: "a", weight: 100 }, { backend: "b", weight: 100 }, { backend: "c", weight: 50 }] },
  { name: "backup", backends: [{ backend: "e", weight: 100 }] }
]
const cfg = config({
  healthchecks: [hc],
  backends,
  frontends: [
    tcpFrontend("web", "192.0.2.10/32", pools, { minHealthy: { kind: "count", value: 3 } })
  ]
})

/** The same frontend with no min-healthy guard. */
const cfgNoGuard = config({
  healthchecks: [hc],
  backends,
  frontends: [tcpFrontend("web", "192.0.2.10/32", pools)]
})

const req = (r: Omit<ActionRequest, "server" | "dryRun">): ActionRequest => ({ server: "lb", dryRun: true, ...r })

/** The lb mutations as the plan's ops name them. */
const asOps = (ms: ReadonlyArray<LbMutation>) =>
  ms.flatMap((m) => {
    const d = m.details as { address?: string; to?: number }
    if (m.op === "as-weight") return [["weight", d.address, d.to]]
    if (m.op === "as-flush") return [["flush", d.address]]
    return m.op === "conf" || m.op === "restart" ? [] : [[m.op, d.address]]
  })

type Answers = Map<string, ProbeResult>

/**
 * The daemon's services over a fresh simulator for `cfg`, and `check`: plans
 * an action from what the API reports, applies it, and checks that VPP
 * receives exactly the plan's ops and ends at its weights and buckets.
 */
const planLab = <A>(
  prefix: string,
  cfg: Config,
  body: (lab: {
    readonly sim: Simulator.SimulatorShape
    readonly answers: Answers
    readonly checker: HealthChecker.HealthCheckerShape
    readonly running: RunningConfig.RunningConfigShape
    readonly sync: LbSync.LbSyncShape
    readonly idle: Effect.Effect<true | undefined>
    readonly check: (r: ActionRequest, apply: Effect.Effect<unknown, unknown>) => Effect.Effect<Plan.Plan>
  }) => Effect.Effect<A, unknown, never>
) =>
  Effect.gen(function*() {
    const sockets = yield* simulatorAt(prefix)
    const { sim } = sockets
    const answers: Answers = new Map()
    return yield* Effect.gen(function*() {
      const sync = yield* LbSync.LbSync
      const checker = yield* HealthChecker.HealthChecker
      const running = yield* RunningConfig.RunningConfig

      /** What the API reports now, as the dashboard holds it. */
      const reported = Effect.gen(function*() {
        const config = yield* running.config
        const snapshot: Info.Snapshot = { config, health: yield* checker.health, fileWeights: new Map(), ramps: yield* sync.ramps, panics: yield* sync.panics }
        return {
          frontends: Info.frontendInfos(snapshot),
          backends: Info.backendInfos(snapshot),
          healthchecks: [...config.healthchecks.values()].map((h) => Info.healthCheckInfo(config, h))
        }
      })
      const idle = Effect.map(sync.idle, (i) => (i ? true as const : undefined))

      /** Plans `r`, applies it, and checks VPP against the plan (the clock still). */
      const check = (r: ActionRequest, apply: Effect.Effect<unknown, unknown>) =>
        Effect.gen(function*() {
          const p = Plan.plan(r, yield* reported, yield* Clock.currentTimeMillis)
          const vip = p.vips[0]!
          expect(Object.fromEntries(vip.ases.map((a) => [a.address, a.weightBefore]))).toEqual(asWeights(sim))
          const mark = (yield* sim.mutations).length
          yield* Effect.orDie(apply)
          const want = Object.fromEntries(vip.ases.map((a) => [a.address, a.weightAfter]))
          yield* waitFor(`VPP at the plan of ${r.action} ${r.backend}: ${JSON.stringify(want)}`, Effect.sync(() => (JSON.stringify(asWeights(sim)) === JSON.stringify(want) ? true : undefined)))
          yield* waitFor("the LB sync idle", idle)
          expect(asOps((yield* sim.mutations).slice(mark))).toEqual(
            p.ops.flatMap((o) => [["weight", o.address, o.weight], ...(o.flush === true ? [["flush", o.address]] : [])])
          )
          // The buckets VPP reports are the plan's after.
          for (const a of vip.ases) {
            const got = sim.lb.asV2Dump({ pfx: "0.0.0.0/0", protocol: 0, port: 0 } as never, undefined).find((x) => x.app_srv === a.address && (x.flags & 1) !== 0)
            expect([a.address, got?.num_buckets]).toEqual([a.address, a.bucketsAfter])
          }
          return p
        })

      yield* advanceUntil("programmed", Effect.sync(() => (asWeights(sim)["10.0.0.1"] === 100 ? true : undefined)))
      yield* advanceUntil("warm-up over", Effect.map(sync.phase, (ph) => (ph === "done" ? true : undefined)))
      return yield* body({ sim, answers, checker, running, sync, idle, check })
    }).pipe(Effect.provide(daemon(cfg, sockets, answers)))
  })

describe("the dashboard's plan against the LB sync", () => {
  it.scoped("each action's planned ops and weights are what the LB sync programs, in a panic and during a slow start", () =>
    planLab("plan-", cfg, ({ sim, answers, checker, running, sync, idle, check }) =>
      Effect.gen(function*() {
          // b and c down: primary has fewer up than min-healthy 3, panic from the first; VPP keeps b and c.
          answers.set("b", FAIL)
          answers.set("c", FAIL)
          yield* advanceUntil("panic", Effect.map(sync.panics, (m) => (m.get("web")?.guard?.panic !== undefined ? true : undefined)))
          yield* advanceUntil("settled", idle)
          expect(asWeights(sim)).toEqual({ "10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.3": 50, "10.0.0.5": 0 })

          // Pause a: the ordinary rule would fail over to backup; the panic keeps b and c (down), a is drained.
          const paused = yield* check(req({ action: "pause", backend: "a" }), checker.pause("a"))
          expect(paused.vips[0]).toMatchObject({ activePoolBefore: "primary", activePoolAfter: "primary" })
          expect(paused.ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["a", 0, false]])

          // An override of a kept backend's weight: it keeps the new weight, down as it is.
          const override = yield* check(
            req({ action: "set-weight", backend: "c", frontend: "web", pool: "primary", weight: 80 }),
            Effect.zipRight(running.setWeight("web", "primary", "c", 80), sync.reconcileFrontend("web"))
          )
          expect(override.ops.map((o) => [o.backend, o.weight])).toEqual([["c", 80]])

          // Disable b (down, kept): drained, with a flush.
          const disabled = yield* check(req({ action: "disable", backend: "b" }), checker.disable("b"))
          expect(disabled.ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["b", 0, true]])

          // Resume a (probed at once, and failing): unknown, then down, but in the kept set, so its weight comes back at once.
          answers.set("a", FAIL)
          const resumed = yield* check(req({ action: "resume", backend: "a" }), checker.resume("a"))
          expect(resumed.ops.map((o) => [o.backend, o.weight])).toEqual([["a", 100]])

          // a comes up: a slow start (20 s to 100: a step a second). Some steps later, an override in the middle of the ramp.
          answers.delete("a")
          yield* advanceUntil("a ramping", Effect.map(sync.ramps, (r) => (r.startedAt("a") !== undefined && asWeights(sim)["10.0.0.1"]! < 100 ? true : undefined)))
          yield* advanceUntil("a few steps", Effect.sync(() => (asWeights(sim)["10.0.0.1"]! >= 30 ? true : undefined)))
          yield* advanceUntil("settled", idle)
          const ramp = yield* check(
            req({ action: "set-weight", backend: "a", frontend: "web", pool: "primary", weight: 50 }),
            Effect.zipRight(running.setWeight("web", "primary", "a", 50), sync.reconcileFrontend("web"))
          )
          const a = ramp.vips[0]!.ases.find((x) => x.backend === "a")!
          expect(a.weightAfter).toBeGreaterThan(0)
          expect(a.weightAfter).toBeLessThan(a.weightBefore)

          // Weight 0 with flush: the weight, then the operator's eviction.
          const evicted = yield* check(
            req({ action: "set-weight", backend: "a", frontend: "web", pool: "primary", weight: 0, flush: true }),
            Effect.zipRight(running.setWeight("web", "primary", "a", 0), sync.reconcileFrontend("web", { flush: "a" }))
          )
          expect(evicted.ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["a", 0, false], ["a", 0, true]])
      })
    ), 60_000)

  it.scoped("outside a panic: pause, disable, an override, a failover to the standby pool and a resume that waits for probes", () =>
    planLab("plan-np-", cfgNoGuard, ({ answers, checker, running, sync, check }) =>
      Effect.gen(function*() {
        // Pause a: weight 0 without flush; b and c take its share.
        const paused = yield* check(req({ action: "pause", backend: "a" }), checker.pause("a"))
        expect(paused.vips[0]).toMatchObject({ activePoolBefore: "primary", activePoolAfter: "primary" })
        expect(paused.ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["a", 0, false]])

        // Disable b: weight 0 and a flush of its flows.
        const disabled = yield* check(req({ action: "disable", backend: "b" }), checker.disable("b"))
        expect(disabled.ops.map((o) => [o.backend, o.weight, o.flush])).toEqual([["b", 0, true]])

        // An override of c's weight.
        const override = yield* check(
          req({ action: "set-weight", backend: "c", frontend: "web", pool: "primary", weight: 80 }),
          Effect.zipRight(running.setWeight("web", "primary", "c", 80), sync.reconcileFrontend("web"))
        )
        expect(override.ops.map((o) => [o.backend, o.weight])).toEqual([["c", 80]])

        // Pause c, the last of primary: the standby pool takes over.
        const failover = yield* check(req({ action: "pause", backend: "c" }), checker.pause("c"))
        expect(failover.vips[0]).toMatchObject({ activePoolBefore: "primary", activePoolAfter: "backup" })
        expect(failover.ops.map((o) => [o.backend, o.weight]).sort()).toEqual([["c", 0], ["e", 100]])

        // Resume a while its probes fail: unknown, then down; no operation (the plan waits for the probes).
        answers.set("a", FAIL)
        const resumed = yield* check(req({ action: "resume", backend: "a" }), checker.resume("a"))
        expect(resumed.ops).toEqual([])
        expect(resumed.vips[0]).toMatchObject({ activePoolAfter: "backup" })
      })
    ), 60_000)
})
