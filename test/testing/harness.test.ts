/**
 * The simulation harness (src/testing): random scenarios against the real
 * daemon services and the simulator, and checks that the harness itself
 * notices a VPP that does not match.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { runScenario } from "../../src/testing/Harness.js"
import { type ConfigSpec, describeScenario, scenarioArb } from "../../src/testing/Scenario.js"

const spec: ConfigSpec = {
  rise: 2,
  fall: 2,
  backends: [{ name: "b1", enabled: true }, { name: "b2", enabled: true }, { name: "b3", enabled: true }, { name: "b7", enabled: true }],
  frontends: [
    {
      name: "f1",
      vipFamily: 4,
      protocol: "tcp",
      srcIpSticky: false,
      flushOnDown: true,
      tableLength: 1024,
      pools: [
        { name: "primary", members: [{ backend: "b2", weight: 100 }, { backend: "b1", weight: 50 }] },
        { name: "backup", members: [{ backend: "b3", weight: 100 }] }
      ]
    },
    { name: "f2", vipFamily: 4, protocol: "any", srcIpSticky: true, flushOnDown: false, tableLength: 256, pools: [{ name: "primary", members: [{ backend: "b7", weight: 100 }] }] }
  ]
}

describe("simulation harness", () => {
  it.scoped("a scripted scenario with every kind of step holds every property", () =>
    Effect.gen(function*() {
      const report = yield* runScenario({
        initial: spec,
        steps: [
          { _tag: "Wait", seconds: 8 },
          { _tag: "Probe", backend: "b2", pass: false },
          { _tag: "Operator", backend: "b1", action: "pause" },
          { _tag: "Drift", kind: "as-weight", pick: 0, weight: 33 },
          { _tag: "VppStall", seconds: 6 },
          { _tag: "Reload", spec: { ...spec, frontends: [spec.frontends[0]!] } },
          { _tag: "VppRestart" },
          { _tag: "Drift", kind: "vip-add", pick: 1, weight: 0 },
          { _tag: "Operator", backend: "b1", action: "disable" },
          { _tag: "Probe", backend: "b2", pass: true }
        ]
      })
      expect(report.trace[4]).toMatch(/^drift as-weight #0 weight 33 → 192\.0\.2\.11\/32 10\.0\.0\.\d weight \d+ -> 33$/)
      expect(report.mutations).toBeGreaterThan(10)
    }), 60_000)

  it.scoped("operator syncs, overrides and flushes racing transitions and full syncs: one writer, nothing refused or sent twice, every mutation logged once", () =>
    Effect.gen(function*() {
      const report = yield* runScenario({
        initial: spec,
        steps: [
          // During the warm-up: the override waits for the release, the operator's sync does not.
          { _tag: "Race", actions: [{ kind: "override", frontend: "f1", pick: 0, weight: 10, flush: false }, { kind: "sync", frontend: undefined, dryRun: false }] },
          { _tag: "Wait", seconds: 8 },
          {
            _tag: "Race",
            actions: [
              { kind: "probe", backend: "b2", pass: false },
              { kind: "sync", frontend: undefined, dryRun: false },
              { kind: "override", frontend: "f1", pick: 1, weight: 0, flush: true },
              { kind: "full" },
              { kind: "sync", frontend: "f1", dryRun: false },
              { kind: "sync", frontend: undefined, dryRun: true }
            ]
          },
          {
            _tag: "Race",
            actions: [
              { kind: "probe", backend: "b2", pass: true },
              { kind: "probe", backend: "b7", pass: false },
              { kind: "override", frontend: "f2", pick: 0, weight: 50, flush: false },
              { kind: "sync", frontend: "f2", dryRun: false },
              { kind: "override", frontend: "f1", pick: 2, weight: 0, flush: true },
              { kind: "full" }
            ]
          },
          { _tag: "Drift", kind: "as-weight", pick: 1, weight: 7 },
          { _tag: "Race", actions: [{ kind: "sync", frontend: undefined, dryRun: false }, { kind: "probe", backend: "b7", pass: true }, { kind: "full" }] }
        ]
      })
      expect(report.trace.join("\n")).toMatch(/race \{probe b2 fail, sync, weight f1#1 0 flush/)
    }), 120_000)

  it.scoped("found by a sweep: a reload that moves VIPs to other ports and encaps on their prefixes syncs without a refusal", () =>
    Effect.gen(function*() {
      // Scenario 39 of seed 12345: the reload's backend transitions triggered a sync of a new VIP
      // before the reload's full sync, and VPP refused the VIP (-73) next to the stale one on its prefix.
      const scenario = fc.sample(scenarioArb(), { numRuns: 39, seed: 12345 })[38]!
      expect(describeScenario(scenario)).toContain("reload")
      yield* runScenario(scenario)
    }), 60_000)

  it.scoped("min-healthy and slow start: VPP keeps the last good weights through a panic, then ramps the backend that came back, step by step", () =>
    Effect.gen(function*() {
      const guarded: ConfigSpec = {
        ...spec,
        slowStart: "20s",
        frontends: [{ ...spec.frontends[0]!, minHealthy: "2" }, spec.frontends[1]!]
      }
      const report = yield* runScenario({
        initial: guarded,
        steps: [
          { _tag: "Wait", seconds: 8 },
          // b2 down: the primary pool has 1 up of min-healthy 2, so b2 keeps its weight (panic).
          { _tag: "Probe", backend: "b2", pass: false },
          { _tag: "Wait", seconds: 4 },
          { _tag: "Drift", kind: "as-weight", pick: 0, weight: 33 },
          // b2 back: the panic ends, and b2 ramps to 100 over 20 s (a step a second), caught mid-way by the check.
          { _tag: "Probe", backend: "b2", pass: true }
        ]
      })
      expect(report.panics).toBe(1)
      expect(report.rampingAtConvergence).toBe(1)
      expect(report.trace[0]).toContain("slow-start 20s")
      expect(report.trace[0]).toContain("min-healthy 2")
    }), 60_000)

  it.scoped("reports a VPP that was not given time to converge", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(runScenario(
        { initial: spec, steps: [{ _tag: "Wait", seconds: 12 }, { _tag: "Drift", kind: "as-weight", pick: 0, weight: 33 }] },
        { convergeWithin: 0 }
      ))
      expect(error.property).toBe("convergence")
      expect(error.detail).toContain("vpp-lbsync-as-weight")
      expect(error.message).toContain("drift as-weight #0 weight 33")
    }), 60_000)

  it.scoped.prop("random scenarios (min-healthy and slow start among them): convergence, quiet syncs, restart neutrality, AS order, no failures, one writer", { scenario: scenarioArb({ races: true, guards: true }) }, ({ scenario }) =>
    Effect.asVoid(runScenario(scenario)), { timeout: 600_000, fastCheck: { numRuns: 20 } })
})
