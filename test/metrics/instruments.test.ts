/**
 * The counters updated where things happen (src/metrics/Metrics.ts): probe
 * results and transitions in the health checker (TestClock), binary-API
 * outcomes in the client (against vppsim's API server). The per-backend
 * store and Effect's registry are global to the process, so every check is a
 * delta, or on label values of its own (backend names used nowhere else, the
 * message of each case).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Metric, MetricLabel, TestClock } from "effect"
import * as path from "node:path"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import * as Metrics from "../../src/metrics/Metrics.js"
import * as ApiServer from "../../src/sim/ApiServer.js"
import { lb, memclnt, vpe } from "../../src/vpp/binapi/index.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { backend, config, healthCheck } from "../support/config.js"
import { tempDir } from "../sim/tempDir.js"

const labels = (pairs: Record<string, string>) => Object.entries(pairs).map(([k, v]) => MetricLabel.make(k, v))

const counter = (metric: Metric.Metric.Counter<number>, pairs: Record<string, string>) =>
  Metric.value(Metric.taggedWithLabels(metric, labels(pairs))).pipe(Effect.map((s) => s.count))

/** Probes counted for a backend's tcp check with this code. */
const probes = (backend: string, code: string) => Metrics.probeCounts(backend, "tcp")?.byCode.find((c) => c.code === code)?.count ?? 0

/** Lets fibers woken by the last clock step finish what they were doing. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

/** Moves the clock, then lets the woken fibers finish. */
const advance = (d: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(d), settle)

const requests = (message: string, result: Metrics.VppRequestResult) =>
  counter(Metrics.vppApiRequests, { message, result })

describe("probe and transition counters (HealthChecker)", () => {
  it.scoped("every probe result is counted by backend, type, result and code, its duration observed, every transition counted", () =>
    Effect.gen(function*() {
      const answers = new Map<string, ProbeResult>()
      const prober = Prober.layerFrom(({ target }) => Effect.sync(() => answers.get(target.backend) ?? probeResult("L4OK", 3, "connected")))
      const hc = healthCheck("m-tcp", { interval: Duration.seconds(1), rise: 1, fall: 1 })
      const cfg = config({ healthchecks: [hc], backends: [backend("m-inst-a", "10.9.0.1", "m-tcp")] })
      const checker = yield* HealthChecker.make(cfg).pipe(Effect.provide(prober))

      yield* advance(Duration.seconds(5))
      expect((yield* checker.backend("m-inst-a")).status).toBe("up")
      const passed = probes("m-inst-a", "L4OK")
      expect(passed).toBeGreaterThanOrEqual(4)
      const h = Metrics.probeCounts("m-inst-a", "tcp")!
      expect(h.byCode).toEqual([{ code: "L4OK", result: "success", count: passed }])
      expect(h.count).toBe(passed)
      expect(h.sum).toBeCloseTo(passed * 0.003, 9)
      // 3 ms: at or below the 0.005 bucket, above 0.0025
      expect(h.buckets.find(([le]) => le === 0.0025)?.[1]).toBe(0)
      expect(h.buckets.find(([le]) => le === 0.005)?.[1]).toBe(passed)
      expect(Metrics.transitionCount("m-inst-a", "unknown", "up")).toBe(1)

      answers.set("m-inst-a", probeResult("L4CON", 1, "refused"))
      yield* advance(Duration.seconds(3))
      expect((yield* checker.backend("m-inst-a")).status).toBe("down")
      expect(probes("m-inst-a", "L4CON")).toBeGreaterThanOrEqual(1)
      expect(Metrics.probeCounts("m-inst-a", "tcp")!.byCode.find((c) => c.code === "L4CON")?.result).toBe("failure")
      expect(probes("m-inst-a", "L4OK")).toBe(passed)
      expect(Metrics.transitionCount("m-inst-a", "up", "down")).toBe(1)

      // operator actions are transitions too
      yield* checker.pause("m-inst-a")
      expect(Metrics.transitionCount("m-inst-a", "down", "paused")).toBe(1)
      const whilePaused = probes("m-inst-a", "L4CON")
      yield* advance(Duration.seconds(5))
      expect(probes("m-inst-a", "L4CON")).toBe(whilePaused)
    }))

  it("a second recorder of the same backend and type goes on in the same series", () => {
    const first = Metrics.probeRecorder("m-inst-again", "http")
    const result = probeResult("L7OK", 0.5, "HTTP 200")
    first.record(result)
    Metrics.probeRecorder("m-inst-again", "http").record(probeResult("L7STS", 3000, "HTTP 503"))
    const c = Metrics.probeCounts("m-inst-again", "http")!
    expect(c.byCode).toEqual([{ code: "L7OK", result: "success", count: 1 }, { code: "L7STS", result: "failure", count: 1 }])
    expect(c.count).toBe(2)
    // 3 s is above every bound: only in +Inf (the count)
    expect(c.buckets.at(-1)).toEqual([2.5, 1])
    expect(Metrics.probeCounts("m-inst-again", "tcp")).toBeUndefined()
  })

  it("the duration histogram has the original maglevd's buckets", () => {
    expect(Metrics.PROBE_DURATION_BUCKETS).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
  })
})

/** A socket path in a temporary directory removed with the test's scope. */
const socketPath = Effect.map(tempDir("metrics-"), (d) => path.join(d, "api.sock"))

describe("binary-API request counters (VppApi)", () => {
  it.live("ok, error (retval), timeout, and disconnected for the requests behind it and after", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* ApiServer.make({ path: yield* socketPath, pid: 4242 })
      const conn = yield* VppApi.connect({ path: server.path, timeout: "200 millis" })
      const before = {
        pingOk: yield* requests("control_ping", "ok"),
        firstMsgIdError: yield* requests("get_first_msg_id", "error"),
        versionTimeout: yield* requests("show_version", "timeout"),
        pingDisconnected: yield* requests("control_ping", "disconnected"),
        versionDisconnected: yield* requests("show_version", "disconnected")
      }
      for (let i = 0; i < 3; i++) yield* conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {})
      expect(yield* requests("control_ping", "ok")).toBe(before.pingOk + 3)

      const refused = yield* Effect.either(conn.request(memclnt.GetFirstMsgId, memclnt.GetFirstMsgIdReply, { name: "no_such_module" }))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("VppApiError")
      expect(yield* requests("get_first_msg_id", "error")).toBe(before.firstMsgIdError + 1)

      yield* server.stall
      const waiting = yield* Effect.all(
        [
          Effect.either(conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {})),
          Effect.either(conn.request(memclnt.ControlPing, memclnt.ControlPingReply, {}))
        ],
        { concurrency: "unbounded" }
      )
      expect(waiting.map((r) => (r._tag === "Left" ? r.left._tag : "ok"))).toEqual(["VppTimeout", "VppDisconnected"])
      expect(yield* requests("show_version", "timeout")).toBe(before.versionTimeout + 1)
      expect(yield* requests("control_ping", "disconnected")).toBe(before.pingDisconnected + 1)
      // on a closed connection: failed at once, counted as disconnected
      yield* Effect.either(conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {}))
      expect(yield* requests("show_version", "disconnected")).toBe(before.versionDisconnected + 1)
      expect(yield* requests("control_ping", "ok")).toBe(before.pingOk + 3)
      yield* server.resume
    })))

  it.live("a dump is one request, counted under the dump's name (its control_ping is not counted)", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* ApiServer.make({ path: yield* socketPath, pid: 4242, handlers: { [lb.LbVipDump.name]: () => [] } })
      const conn = yield* VppApi.connect({ path: server.path })
      const before = yield* requests("lb_vip_dump", "ok")
      const pingsBefore = yield* requests("control_ping", "ok")
      const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { pfx: "0.0.0.0/0", protocol: 0, port: 0, pfx_matcher: { le: 0, ge: 0 } })
      expect(vips.length).toBe(0)
      expect(yield* requests("lb_vip_dump", "ok")).toBe(before + 1)
      expect(yield* requests("control_ping", "ok")).toBe(pingsBefore)
    })))
})
