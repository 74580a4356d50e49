/**
 * The LB sync loop end to end: the real HealthChecker (scripted probe
 * results), the VPP supervisor and the sync loop against the in-process
 * simulator over real Unix sockets. Schedules run on TestClock; socket
 * replies arrive in wall time, so the test moves the clock in steps with a
 * short wall-time pause between them (as test/vpp/supervisor.test.ts does).
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Either, Fiber, HashMap, Layer, Logger, LogLevel, TestClock } from "effect"
import * as dc from "node:diagnostics_channel"
import * as path from "node:path"
import * as RunningConfig from "../../src/config/RunningConfig.js"
import * as FrontendState from "../../src/health/FrontendState.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import * as Trace from "../../src/internal/Trace.js"
import { pollDelay } from "../../src/internal/WallClock.js"
import { heapMode } from "../../src/lb/HeapMode.js"
import * as LbSync from "../../src/lb/LbSync.js"
import * as Requests from "../../src/lb/Requests.js"
import { vipKey } from "../../src/lb/VipKey.js"
import type { LbMutation } from "../../src/sim/LbPlugin.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { lb } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import * as Supervisor from "../../src/vpp/Supervisor.js"
import { backend, config, healthCheck, lbConfig } from "../support/config.js"
import { tempDir } from "../sim/tempDir.js"
import { advanceUntil } from "../support/lbDaemon.js"
import { waitFor } from "../support/wait.js"

const PASS = probeResult("L7OK", 1, "HTTP 200")
const FAIL = probeResult("L4CON", 1, "refused")

const hc = healthCheck("hc", { interval: Duration.seconds(1), fastInterval: Duration.seconds(1), downInterval: Duration.seconds(1), rise: 1, fall: 1 })
const cfg = config({
  healthchecks: [hc],
  backends: [backend("a", "10.0.0.1", "hc"), backend("b", "10.0.0.2", "hc"), backend("c", "10.0.0.3", "hc")],
  frontends: [{
    name: "web",
    description: "",
    address: "192.0.2.10/32",
    family: 4,
    protocol: "tcp",
    port: 80,
    pools: [
      { name: "primary", backends: [{ backend: "b", weight: 100 }, { backend: "a", weight: 50 }] },
      { name: "backup", backends: [{ backend: "c", weight: 100 }] }
    ],
    srcIpSticky: false,
    flushOnDown: true,
    newFlowsTableLength: 1024
  }]
})

/** Lets wall-time socket work settle with the virtual clock still. */
const settle = pollDelay(100)

const lbOps = (ms: ReadonlyArray<LbMutation>) => ms.filter((m) => m.op !== "conf" && m.op !== "restart")

/** The daemon's three services over one simulator. */
const daemon = (apiSocket: string, statsSocket: string, answers: Map<string, ProbeResult>) => {
  const prober = Prober.layerFrom(({ target }) => Effect.succeed(answers.get(target.backend) ?? PASS))
  const checker = HealthChecker.layer(cfg).pipe(Layer.provide(prober))
  const vpp = Supervisor.layer({
    apiSocket,
    statsSocket,
    requestTimeout: "1 hour",
    statsConnectTimeout: "1 hour",
    pingTimeout: "1 hour"
  })
  return LbSync.layer.pipe(Layer.provideMerge(Layer.merge(checker, vpp)))
}

/** Weight of every active AS, by "vip address" (VIPs may share backends). */
const allWeights = (sim: Simulator.SimulatorShape): Record<string, number> =>
  Object.fromEntries(
    sim.lb.asV2Dump({ pfx: "0.0.0.0/0", protocol: 0, port: 0 } as never, undefined)
      .filter((a) => (a.flags & 1) !== 0)
      .map((a) => [`${a.vip.pfx} ${a.app_srv}`, a.weight])
  )

const weights = (sim: Simulator.SimulatorShape) =>
  Object.fromEntries(
    sim.lb.asV2Dump({ pfx: "0.0.0.0/0", protocol: 0, port: 0 } as never, undefined).filter((a) => (a.flags & 1) !== 0).map((a) => [a.app_srv, a.weight])
  )

/** A fixed start time, and a simulator on fresh sockets for the test's scope. */
const simulator = Effect.gen(function*() {
  yield* TestClock.setTime(1_760_000_000_000)
  const dir = yield* tempDir("lbsync-")
  const apiSocket = path.join(dir, "api.sock")
  const statsSocket = path.join(dir, "stats.sock")
  const sim = yield* Simulator.make({ apiSocket, statsSocket })
  return { apiSocket, statsSocket, sim }
})

describe("LbSync against the simulator", () => {
  it.scoped("warm-up, failover with flush, no-op syncs, drift repair, dry run, and a restart that changes nothing", () =>
    Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      const answers = new Map<string, ProbeResult>()

      yield* Effect.gen(function*() {
      const sync = yield* LbSync.LbSync

      // Hands-off for startup-min-delay (5 s): health is known after ~1 s, but VPP is not touched.
      for (let i = 0; i < 8; i++) {
        yield* TestClock.adjust("500 millis")
        yield* pollDelay(10)
      }
      yield* settle
      expect(lbOps(yield* sim.mutations)).toEqual([])
      expect((yield* sim.mutations).map((m) => m.op)).toEqual(["conf"]) // lb_conf from the configuration
      expect(yield* sync.phase).toBe("hands-off")

      // Released once the min delay passes: VIP, ASes in address order, weights from the active pool.
      yield* advanceUntil("the VIP is programmed", Effect.sync(() => (Object.keys(weights(sim)).length === 3 ? true : undefined)))
      yield* settle
      expect(weights(sim)).toEqual({ "10.0.0.1": 50, "10.0.0.2": 100, "10.0.0.3": 0 })
      const adds = lbOps(yield* sim.mutations).filter((m) => m.op === "as-add").map((m) => (m.details as { address: string }).address)
      expect(adds).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"])

      // a goes down: weight 0 with a flush.
      const before = (yield* sim.mutations).length
      answers.set("a", FAIL)
      yield* advanceUntil("a drained", Effect.sync(() => (weights(sim)["10.0.0.1"] === 0 ? true : undefined)))
      yield* settle
      const after = lbOps((yield* sim.mutations).slice(before))
      expect(after.map((m) => m.op)).toEqual(["as-weight", "as-flush"])

      // Primary all down: the backup pool takes over.
      answers.set("b", FAIL)
      yield* advanceUntil("failover", Effect.sync(() => (weights(sim)["10.0.0.3"] === 100 ? true : undefined)))
      yield* settle
      expect(weights(sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 100 })

      // Nothing changed: a full sync plans and sends nothing. It runs with V8's --optimize-for-size lifted
      // (HeapMode: each drain of LbSync's requests lifts it; the flag itself only where the daemon set it),
      // and, having written nothing, ends the lift with it: no hold (a pending one, the reactions' above,
      // is cancelled).
      const quiet = (yield* sim.mutations).length
      const lifting: Array<boolean> = []
      const onPoint = (m: unknown) => {
        if ((m as Trace.Point).stage === "full-start") lifting.push(heapMode.lifting())
      }
      dc.subscribe(Trace.CHANNEL, onPoint)
      expect((yield* sync.sync()).ops).toEqual([])
      dc.unsubscribe(Trace.CHANNEL, onPoint)
      expect(lifting).toEqual([true])
      expect(heapMode.lifting()).toBe(false)
      expect((yield* sim.mutations).length).toBe(quiet)

      // Drift by another client: the dry run shows the repair, the sync applies it.
      sim.lb.asSetWeight({ pfx: "192.0.2.10/32", protocol: 6, port: 80, as_address: "10.0.0.2", weight: 33, is_flush: false } as never, 1)
      const plan = yield* sync.sync({ dryRun: true })
      expect(plan.applied).toBe(false)
      expect(plan.ops.map((o) => [o._tag, "address" in o ? o.address : undefined, "weight" in o ? o.weight : undefined]))
        .toEqual([["AsWeight", "10.0.0.2", 0]])
      expect(weights(sim)["10.0.0.2"]).toBe(33)
      expect((yield* sync.sync({ frontend: "web" })).ops).toHaveLength(1)
      expect(weights(sim)["10.0.0.2"]).toBe(0)
      expect((yield* Effect.flip(sync.sync({ frontend: "nope" })))._tag).toBe("UnknownFrontend")
      }).pipe(Effect.provide(daemon(apiSocket, statsSocket, answers)))

      // A restarted daemon with unchanged health changes nothing in VPP.
      const mark = (yield* sim.mutations).length
      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        yield* advanceUntil("warm-up done", Effect.map(sync.phase, (p) => (p === "done" ? true : undefined)))
        yield* settle
        expect((yield* sync.sync()).ops).toEqual([])
      }).pipe(Effect.provide(daemon(apiSocket, statsSocket, answers)))
      expect((yield* sim.mutations).slice(mark)).toEqual([]) // not even lb_conf: VPP already holds it
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)), 60_000)

  it.scoped("re-creates a VIP whose src-ip-sticky differs (read from show lb vips verbose) and reports counters per frontend", () =>
    Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      // Another program made the VIP sticky; the configuration says it is not.
      sim.lb.handle("lb_add_del_vip_v2", {
        pfx: "192.0.2.10/32", protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP",
        target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: true, is_del: false
      } as never, 0)
      const answers = new Map<string, ProbeResult>()
      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        yield* advanceUntil("the VIP is re-created", Effect.sync(() => (Object.keys(weights(sim)).length === 3 ? true : undefined)))
        yield* settle
        const ops = lbOps(yield* sim.mutations).map((m) => m.op)
        expect(ops.slice(0, 3)).toEqual(["vip-add", "vip-del", "vip-add"])
        const vip = sim.lb.vipIndices().find((e) => e.used)!
        expect(sim.lb.inspectVip(vip.index)?.srcIpSticky).toBe(false)
        // A full sync hands its listing to the supervisor (pool indices, flows per AS): read at the sync's time.
        yield* TestClock.adjust("1 second")
        const at = yield* Clock.currentTimeMillis
        expect((yield* sync.sync()).ops).toEqual([])
        const vpp = yield* Supervisor.VppSupervisor
        expect(yield* vpp.lbVipsAt).toBe(at)
        expect((yield* vpp.lbVips).filter((v) => !v.removed).map((v) => [v.index, v.srcIpSticky, v.ases.length])).toEqual([[vip.index, false, 3]])

        yield* sim.traffic(vip.index, 42)
        const counters = yield* advanceUntil("counters", Effect.map(sync.counters, (c) => (c.get("web")?.nextPacket === 42n ? c : undefined)))
        expect(counters.get("web")).toEqual({ nextPacket: 42n, firstPacket: 0n, untrackedPacket: 0n, noServer: 0n })
        yield* sim.restart
        yield* advanceUntil("counters cleared", Effect.map(sync.counters, (c) => (c.size === 0 ? true : undefined)))
      }).pipe(Effect.provide(daemon(apiSocket, statsSocket, answers)))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)), 60_000)

  it.scoped("a health-triggered sync works from memory; when another client made it stale, VPP's refusal sends it back to a dump", () => {
    const events: Array<string> = []
    const collect = Logger.make(({ annotations }) => {
      const e = HashMap.get(annotations, "event")
      if (e._tag === "Some") events.push(String(e.value))
    })
    return Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      const answers = new Map<string, ProbeResult>()
      yield* Effect.gen(function*() {
        yield* advanceUntil("the VIP is programmed", Effect.sync(() => (Object.keys(weights(sim)).length === 3 ? true : undefined)))
        yield* settle
        // b goes down: one lb_as_set_weight.
        const dumpsBefore = events.length
        answers.set("b", FAIL)
        yield* advanceUntil("b drained", Effect.sync(() => (weights(sim)["10.0.0.2"] === 0 ? true : undefined)))
        yield* settle
        expect(events.slice(dumpsBefore).filter((e) => e.startsWith("vpp-lbsync-") && e !== "vpp-lbsync-done")).toEqual(["vpp-lbsync-as-weight"])

        // Another client deletes a's AS; then a goes down (the backup pool takes over): VPP refuses the
        // remembered AS's weight, accepts c's (pipelined after it), and the sync runs again from a dump.
        sim.lb.handle("lb_add_del_as_v2", { pfx: "192.0.2.10/32", protocol: 6, port: 80, as_address: "10.0.0.1", weight: 0, is_del: true, is_flush: false } as never, 1)
        const mark = events.length
        answers.set("a", FAIL)
        yield* advanceUntil("a back, drained", Effect.sync(() => (weights(sim)["10.0.0.1"] === 0 ? true : undefined)))
        yield* settle
        expect(events.slice(mark).filter((e) => e.startsWith("vpp-lbsync-") && e !== "vpp-lbsync-done"))
          .toEqual(["vpp-lbsync-as-weight", "vpp-lbsync-stale", "vpp-lbsync-as-add"])
        expect(weights(sim)).toEqual({ "10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 100 })
      }).pipe(Effect.provide(daemon(apiSocket, statsSocket, answers)))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Info), Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
  }, 60_000)
})

describe("LbSync: one writer, reactions first", () => {
  const FRONTENDS = 100
  const BACKENDS = 20
  const hcFast = healthCheck("hc", { interval: Duration.seconds(1), fastInterval: Duration.seconds(1), downInterval: Duration.seconds(1), rise: 1, fall: 1 })
  const address = (i: number) => `10.0.1.${i + 1}`
  const wide = (weight: number) => ({
    ...config({
      healthchecks: [hcFast],
      backends: Array.from({ length: BACKENDS }, (_, i) => backend(`b${i}`, address(i), "hc")),
      frontends: Array.from({ length: FRONTENDS }, (_, f) => ({
        name: `f${f}`,
        description: "",
        address: `198.18.0.${f + 1}/32`,
        family: 4 as const,
        protocol: "tcp" as const,
        port: 80,
        pools: [{ name: "main", backends: Array.from({ length: BACKENDS }, (_, i) => ({ backend: `b${i}`, weight })) }],
        srcIpSticky: false,
        flushOnDown: true,
        newFlowsTableLength: 256
      }))
    }),
    vpp: { lb: lbConfig({ startupMinDelay: Duration.zero, startupMaxDelay: Duration.zero }) }
  })

  /** LbSync over a checker of `wide(100)` whose probes all pass, and the supervisor, against the simulator's sockets. */
  const wideServices = (apiSocket: string, statsSocket: string) =>
    LbSync.layer.pipe(
      Layer.provideMerge(Layer.merge(
        HealthChecker.layer(wide(100)).pipe(Layer.provide(Prober.layerFrom(() => Effect.succeed(PASS)))),
        Supervisor.layer({ apiSocket, statsSocket, requestTimeout: "1 hour", statsConnectTimeout: "1 hour", pingTimeout: "1 hour" })
      ))
    )

  /** Inside wideServices: the LB sync, the checker, and every AS programmed (`weighted(w)`: the ASes of weight w). */
  const widelyProgrammed = (sim: Simulator.SimulatorShape) =>
    Effect.gen(function*() {
      const sync = yield* LbSync.LbSync
      const checker = yield* HealthChecker.HealthChecker
      const all = FRONTENDS * BACKENDS
      const weighted = (w: number) => Object.values(allWeights(sim)).filter((x) => x === w).length
      yield* advanceUntil("every AS programmed", Effect.sync(() => (weighted(100) === all ? true : undefined)))
      return { all, checker, running: yield* RunningConfig.RunningConfig, sync, weighted }
    })

  /** Every trace point's stage from now on (src/internal/Trace.ts: what the reconcile bench's stages read), until the scope closes. */
  const tracePointsWith = Effect.gen(function*() {
    const points: Array<string> = []
    const details: Array<Trace.Point["detail"]> = []
    const onPoint = (m: unknown) => {
      points.push((m as Trace.Point).stage)
      details.push((m as Trace.Point).detail)
    }
    dc.subscribe(Trace.CHANNEL, onPoint)
    yield* Effect.addFinalizer(() => Effect.sync(() => dc.unsubscribe(Trace.CHANNEL, onPoint)))
    return { points, details }
  })
  const tracePoints = Effect.map(tracePointsWith, ({ points }) => points)

  /** The bytes of one lb_as_set_weight request on the socket (header and message). */
  const oneWeightFrame = Frame.encodeFrame(1, Codec.of(lb.LbAsSetWeight.schema), {
    client_index: 0,
    context: 1,
    ...Requests.requestOf({ _tag: "AsWeight", vip: vipKey("198.18.0.1/32", 6, 80), address: "10.0.1.4", backend: "b3", frontend: "f0", weight: 0, flush: true }).fields
  } as never).pipe(Either.getOrThrow).length

  it.scoped("a transition of a backend in 100 VIPs goes out from memory a chunk at a time, its first VIP planned and written alone, its first answer read before FrontendState judges the 100 frontends: every VIP once, in the frontends' order, each weight logged once; a VIP another client deleted in a later chunk is refused, re-read and re-created", () => {
    /** The weight lines logged ("vip|as weight"). */
    const logged: Array<string> = []
    const collect = Logger.make(({ annotations }) => {
      const get = (k: string) => HashMap.get(annotations, k).pipe((o) => (o._tag === "Some" ? String(o.value) : ""))
      if (get("event") === "vpp-lbsync-as-weight") logged.push(`${get("vip")}|${get("as")} ${get("weight")}`)
    })
    return Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      // With the daemon's FrontendState watch, woken by the same transition.
      const services = FrontendState.layer.pipe(Layer.provideMerge(wideServices(apiSocket, statsSocket)))
      yield* Effect.gen(function*() {
        const { all, checker, sync, weighted } = yield* widelyProgrammed(sim)
        const drained: Array<string> = []
        const added: Array<string> = []
        const unsubscribe = sim.lb.subscribe((m: LbMutation) => {
          if (m.op === "as-weight" && m.details.to === 0) drained.push(`${m.details.vip} ${m.details.address}`)
          if (m.op === "vip-add") added.push(String(m.details.vip))
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
        // The reaction's trace points.
        const { details, points } = yield* tracePointsWith
        logged.length = 0

        // b3 is disabled: its 100 VIPs, in chunks from memory, each set to 0 once.
        yield* checker.disable("b3")
        for (let i = 0; i < 2000 && !((yield* sync.idle) && drained.length === FRONTENDS); i++) yield* pollDelay(5)
        const reacted = points.length
        // The first VIP alone is planned, and its request alone written, before any other VIP is planned.
        const planned = points.indexOf("lb-planned")
        expect(details[planned]).toBe(1)
        const firstWrite = points.indexOf("written", points.indexOf("lb-queued"))
        expect(details[firstWrite]).toBe(oneWeightFrame)
        expect(points.indexOf("lb-planned", planned + 1) === -1 || points.indexOf("lb-planned", planned + 1) > firstWrite).toBe(true)
        // Every VIP once, in the order of the backend's frontends (the first VIP's op before the rest; the
        // simulator names a VIP by its pool index, f0's first: the first full sync added them in order).
        expect(drained).toEqual(Array.from({ length: FRONTENDS }, (_, f) => `${f + 1} ${address(3)}`))
        // Each weight VPP set logged once.
        expect([...logged].sort()).toEqual(Array.from({ length: FRONTENDS }, (_, f) => `198.18.0.${f + 1}/32 6 80|${address(3)} 0`).sort())
        const stages = ["lb-seen", "lb-submit", "lb-taken", "lb-planned", "lb-queued", "written", "lb-answered", "lb-logged"]
        let at = -1
        for (const stage of stages) {
          const next = points.indexOf(stage, at + 1)
          expect(next, `${stage} after ${points.slice(0, at + 1).join(", ")}`).toBeGreaterThan(at)
          at = next
        }
        // The first request is written at once, not on the next tick after the chunk's planning (Coalesce.flush).
        expect(points[points.indexOf("lb-queued") + 1]).toBe("written")
        // FrontendState judges the frontends of b3 after the event loop has read VPP's answer (afterPoll), not in
        // the same burst of fibers the transition woke, before the socket is read.
        const seen = points.indexOf("lb-seen")
        const answered = points.indexOf("lb-answered", seen)
        expect(answered).toBeGreaterThan(seen)
        expect(points.indexOf("frontends-judged", seen), points.slice(seen).join(", ")).toBeGreaterThan(answered)
        // With no sync running, the forwarder writes the reaction itself, and the sync fiber is not woken for
        // it (it ran between the write and the answer's read, to find nothing to do).
        expect(points.slice(seen, reacted)).not.toContain("lb-woken")
        expect(new Set(drained).size).toBe(FRONTENDS)
        expect(drained).toHaveLength(FRONTENDS)
        expect(weighted(0)).toBe(FRONTENDS)

        // Another client deletes f50's VIP; b4 is disabled: the chunk with f50 is refused (memory was stale),
        // the reaction is planned again from a read of VPP, and f50 comes back with every AS.
        sim.lb.handle("lb_add_del_vip_v2", {
          pfx: "198.18.0.51/32",
          protocol: 6,
          port: 80,
          encap: "LB_API_ENCAP_TYPE_GRE4",
          dscp: 0,
          type: "LB_API_SRV_TYPE_CLUSTERIP",
          target_port: 0,
          node_port: 0,
          new_flows_table_length: 256,
          src_ip_sticky: false,
          is_del: true
        } as never, 1)
        drained.length = 0
        yield* checker.disable("b4")
        for (let i = 0; i < 2000 && !((yield* sync.idle) && weighted(0) === 2 * FRONTENDS); i++) yield* pollDelay(5)
        expect(weighted(0)).toBe(2 * FRONTENDS)
        expect(added).toHaveLength(1)
        expect((yield* sync.sync()).ops).toEqual([])
      }).pipe(Effect.provide(services))
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collect)), Logger.withMinimumLogLevel(LogLevel.Info))
  }, 120_000)

  it.scoped("a transition whose reaction never computed its VIPs (VPP disabled) is in the next full computation of desired state: the transition's dirty marks", () =>
    Effect.gen(function*() {
      const services = LbSync.layer.pipe(
        Layer.provideMerge(Layer.merge(
          HealthChecker.layer(wide(100)).pipe(Layer.provide(Prober.layerFrom(() => Effect.succeed(PASS)))),
          Supervisor.layer({ apiSocket: "", statsSocket: "" })
        ))
      )
      yield* Effect.gen(function*() {
        const sync = yield* LbSync.LbSync
        const checker = yield* HealthChecker.HealthChecker
        /** b3's desired weight in each VIP. */
        const b3Weights = Effect.map(sync.desired, (vips) => vips.map((v) => v.ases.find((a) => a.address === address(3))?.weight))
        const everyVip = (w: number) => Array.from({ length: FRONTENDS }, () => w)
        yield* advanceUntil("every backend up", Effect.map(checker.statuses, (m) => (HashMap.size(m) === BACKENDS && [...HashMap.values(m)].every((h) => h.status === "up") ? true : undefined)))
        const idle = Effect.map(sync.idle, (i) => (i ? true : undefined))
        yield* waitFor("the transitions forwarded", idle)
        // A full computation: every VIP computed and kept.
        expect(yield* b3Weights).toEqual(everyVip(100))
        // b3 disabled: its reaction fails (no VPP) before computing anything; the next full computation has it.
        const points = yield* tracePoints
        yield* checker.disable("b3")
        yield* waitFor("the transition forwarded", Effect.sync(() => (points.includes("lb-submit") ? true : undefined)))
        yield* waitFor("the reaction over", idle)
        expect(yield* b3Weights).toEqual(everyVip(0))
      }).pipe(Effect.provide(services))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)), 60_000)

  it.scoped("a transition in the middle of a full sync of every AS is applied before the sync ends, nothing is sent twice, every weight VPP set is logged once (the reaction's where its answer is read), and the end state is desired; an operator's full sync answers with the ops it sent, not those the reaction took over", () => {
    /** The weight lines logged ("vip|as weight"). */
    const logged: Array<string> = []
    const collect = Logger.make(({ annotations }) => {
      const get = (k: string) => HashMap.get(annotations, k).pipe((o) => (o._tag === "Some" ? String(o.value) : ""))
      if (get("event") === "vpp-lbsync-as-weight") logged.push(`${get("vip")}|${get("as")} ${get("weight")}`)
      if (get("event") === "vpp-lbsync-done") done.push({ reason: get("reason"), mutations: Number(get("mutations")), superseded: Number(get("superseded") || 0) })
    })
    /** The syncs' summary lines. */
    const done: Array<{ readonly reason: string; readonly mutations: number; readonly superseded: number }> = []
    return Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      const services = wideServices(apiSocket, statsSocket)
      yield* Effect.gen(function*() {
        const { all, checker, running, sync, weighted } = yield* widelyProgrammed(sim)
        logged.length = 0
        done.length = 0
        const { details, points } = yield* tracePointsWith
        /** The weights VPP set ("as weight"). */
        const applied: Array<string> = []
        const unsubscribeApplied = sim.lb.subscribe((m: LbMutation) => {
          if (m.op === "as-weight") applied.push(`${m.details.address} ${m.details.to}`)
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribeApplied))

        // A reload that changes every weight: one full sync of 2,000 lb_as_set_weight.
        const log: Array<{ readonly address: string; readonly from: number; readonly to: number; readonly flush: boolean }> = []
        const flowing = yield* Deferred.make<void>()
        const unsubscribe = sim.lb.subscribe((m: LbMutation) => {
          if (m.op === "as-weight") log.push({ address: m.details.address, from: m.details.from, to: m.details.to, flush: false })
          if (m.op === "as-flush") log.push({ address: m.details.address, from: -1, to: -1, flush: true })
          if (log.length === 50) Deferred.unsafeDone(flowing, Effect.void)
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
        yield* running.replace(wide(90))
        yield* Deferred.await(flowing)
        // b5 is disabled while the sync's requests flow: its 100 VIPs get weight 0 with a flush, ahead of the sync's rest.
        yield* checker.disable("b5")
        for (let i = 0; i < 2000 && !((yield* sync.idle) && weighted(90) === all - FRONTENDS); i++) yield* pollDelay(5)
        expect(weighted(90)).toBe(all - FRONTENDS)
        expect(weighted(0)).toBe(FRONTENDS)

        const b5 = address(5)
        const firstDrain = log.findIndex((e) => e.address === b5 && e.to === 0)
        const lastBulk = log.findLastIndex((e) => e.to === 90)
        expect(firstDrain).toBeGreaterThan(0)
        expect(firstDrain).toBeLessThan(lastBulk)
        // Each weight set changed something, or came with its flush (nothing sent twice by two writers).
        for (const [i, e] of log.entries()) if (!e.flush && e.from === e.to) expect(log[i + 1]?.flush).toBe(true)
        // b5 set to 0 once per VIP (never back to 90 by the sync's own, superseded, op).
        expect(log.filter((e) => e.address === b5 && e.to === 0)).toHaveLength(FRONTENDS)
        expect(log.filter((e) => e.address === b5 && e.to === 90 && log.indexOf(e) > firstDrain)).toEqual([])
        // Every weight VPP set is logged, once (the reaction's lines logged where their answers are read, the
        // sync's by its batch: the order differs, the lines do not).
        expect(logged.map((l) => l.slice(l.indexOf("|") + 1)).sort()).toEqual([...applied].sort())
        expect(applied.length).toBeGreaterThanOrEqual(all)
        expect(new Set(logged).size).toBe(logged.length)
        // The syncs' summaries count each weight once: the full sync leaves out the ops it left to the reaction
        // (it says how many), so its line and the reaction's add up to what was logged.
        expect(done.reduce((n, d) => n + d.mutations, 0)).toBe(logged.length)
        expect(done.some((d) => d.superseded > 0)).toBe(true)
        // The reaction's first request is written alone, not with the sync's requests that refill the window
        // behind it (encoded and remembered first, they held its write back).
        const queued = points.indexOf("lb-queued")
        expect(points[queued + 1]).toBe("written")
        expect(details[queued + 1]).toBe(oneWeightFrame)
        // The reaction's first line is logged as its answer is read, before the batch of answers it came in is
        // handled (the sync's lines read with it wait for that).
        const answered = points.indexOf("lb-answered")
        expect(answered).toBeGreaterThan(-1)
        expect(points[answered + 1]).toBe("lb-logged")
        expect((yield* sync.sync()).ops).toEqual([])

        // The operator's full sync (SyncVPPLBState) answers with the ops it sent: another client set every
        // weight to 77, the sync restores them, and b6, disabled meanwhile, is taken over by the reaction
        // (weight 0): the sync's own ops for b6's VIPs, never sent, are not in its answer.
        for (let f = 0; f < FRONTENDS; f++) {
          for (let i = 0; i < BACKENDS; i++) {
            sim.lb.handle("lb_as_set_weight", { pfx: `198.18.0.${f + 1}/32`, protocol: 6, port: 80, as_address: address(i), weight: 77, is_flush: false } as never, 1)
          }
        }
        done.length = 0
        const setSince = new Map<string, number>()
        const restoring = yield* Deferred.make<void>()
        let restored = 0
        const unsubscribeSet = sim.lb.subscribe((m: LbMutation) => {
          if (m.op !== "as-weight") return
          const k = `${m.details.address} ${m.details.to}`
          setSince.set(k, (setSince.get(k) ?? 0) + 1)
          if (++restored === 50) Deferred.unsafeDone(restoring, Effect.void)
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribeSet))
        const operator = yield* Effect.fork(sync.sync())
        yield* Deferred.await(restoring)
        yield* checker.disable("b6")
        const report = yield* Fiber.join(operator)
        for (let i = 0; i < 2000 && !((yield* sync.idle) && weighted(0) === 2 * FRONTENDS); i++) yield* pollDelay(5)
        expect(weighted(0)).toBe(2 * FRONTENDS)
        const mine = done.find((d) => d.reason === "operator")!
        expect(mine.superseded).toBeGreaterThan(0)
        // Every AS differed: the answer's ops and the superseded ones are all of them, and the summary line agrees.
        expect(report.ops.length + mine.superseded).toBe(all)
        expect(report.ops.length).toBe(mine.mutations)
        // Each op in the answer is a weight VPP set.
        for (const op of report.ops) {
          expect(op._tag).toBe("AsWeight")
          const k = op._tag === "AsWeight" ? `${op.address} ${op.weight}` : ""
          const left = setSince.get(k) ?? 0
          expect(left, `${k} answered as sent, never set`).toBeGreaterThan(0)
          setSince.set(k, left - 1)
        }
        expect(report.ops.filter((op) => op._tag === "AsWeight" && op.address === address(6) && op.weight === 90).length).toBeLessThan(FRONTENDS)
      }).pipe(Effect.provide(services))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Info), Effect.provide(Logger.replace(Logger.defaultLogger, collect)))
  }, 120_000)
  it.scoped("a reaction in the middle of a full sync has its first request written alone, before the sync's requests that refill the window behind it", () =>
    Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      yield* Effect.gen(function*() {
        const { all, running, sync, weighted } = yield* widelyProgrammed(sim)
        const { details, points } = yield* tracePointsWith
        const flowing = yield* Deferred.make<void>()
        let set = 0
        const unsubscribe = sim.lb.subscribe((m: LbMutation) => {
          if (m.op === "as-weight" && ++set === 50) Deferred.unsafeDone(flowing, Effect.void)
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
        // A reload that changes every weight (2,000), and, while its requests flow, an override of one
        // frontend's weight: a reaction of one VIP (its 20 ASes), whose VIP the sync's next ops are not for.
        yield* running.replace(wide(90))
        yield* Deferred.await(flowing)
        const from = points.length
        yield* running.setWeight("f99", "main", "b0", 7)
        for (let i = 0; i < 2000 && !((yield* sync.idle) && weighted(90) === all - 1); i++) yield* pollDelay(5)
        const queued = points.indexOf("lb-queued", from)
        expect(points[queued + 1]).toBe("written")
        expect(details[queued + 1]).toBe(oneWeightFrame)
        expect(weighted(90)).toBe(all - 1)
        expect(allWeights(sim)[`198.18.0.100/32 ${address(0)}`]).toBe(7)
      }).pipe(Effect.provide(wideServices(apiSocket, statsSocket)))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)), 120_000)

  it.scoped("a full sync waiting for VPP's answers is woken by an urgent request: the reaction is written while VPP answers nothing", () =>
    Effect.gen(function*() {
      const { apiSocket, sim, statsSocket } = yield* simulator
      const services = wideServices(apiSocket, statsSocket)
      yield* Effect.gen(function*() {
        const { all, checker, running, sync, weighted } = yield* widelyProgrammed(sim)
        const points = yield* tracePoints
        // VPP stops answering once the sync's first weight is applied: the sync's window stays outstanding.
        let handled = 0
        const unsubscribe = sim.lb.subscribe((m: LbMutation) => {
          if (m.op === "as-weight" && handled++ === 0) {
            Effect.runSync(sim.api.stall)
            points.push("stalled")
          }
        })
        yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
        // (forked: the reload returns once its full sync is done, which VPP's stall holds)
        yield* Effect.fork(running.replace(wide(90)))
        // Stalled, then waiting: only the answers VPP sent before the stall could have woken it since.
        yield* waitFor(
          "the sync waiting for answers VPP does not send",
          Effect.sync(() => {
            const stalled = points.indexOf("stalled")
            return stalled >= 0 && points.indexOf("lb-waiting", stalled) >= 0 ? true : undefined
          }),
          60_000,
          5
        )
        const mark = points.length
        const stalledAt = handled
        // b5 is disabled: nothing but the urgent request's poke can wake the sync now.
        yield* Effect.fork(checker.disable("b5"))
        yield* waitFor(
          "the reaction written",
          Effect.sync(() => {
            const taken = points.indexOf("lb-taken", mark)
            return taken >= 0 && points.indexOf("written", taken) >= 0 ? true : undefined
          }),
          60_000,
          5
        )
        expect(handled).toBe(stalledAt)
        yield* sim.api.resume
        for (let i = 0; i < 2000 && !((yield* sync.idle) && weighted(90) === all - FRONTENDS); i++) yield* pollDelay(5)
        expect(weighted(90)).toBe(all - FRONTENDS)
        expect(weighted(0)).toBe(FRONTENDS)
        expect((yield* sync.sync()).ops).toEqual([])
      }).pipe(
        // Before the services close (the supervisor says goodbye to VPP), also when the test fails.
        Effect.ensuring(sim.api.resume),
        Effect.provide(services)
      )
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)), 120_000)
})
