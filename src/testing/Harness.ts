/**
 * The simulation harness: runs the real daemon services (HealthChecker with a
 * scripted prober, VppSupervisor, LbSync) against the in-process simulator,
 * over real Unix sockets, under `TestClock`, through a `Scenario`, and checks
 * the reconciler's properties:
 *
 * 1. convergence: once inputs stop, VPP holds the desired state (VIPs, ASes,
 *    weights, predicted bucket counts, src-ip-sticky, lb_conf) within one
 *    sync interval plus the reconnect delay (plus two probe intervals for the
 *    health checker to settle). Desired includes the min-healthy guard (the
 *    LB sync's guard memory judged against the health now, `Panic.shown`:
 *    a frontend in panic keeps its last good weights) and the slow starts (a
 *    ramping backend's step at the TestClock's now, from the ramp starts the
 *    LB sync reports, each of which must be the backend's last transition
 *    into up);
 * 2. quiet: a sync with no input change, and the periodic syncs after it,
 *    send no mutation (once the slow starts in progress are over);
 * 3. restart neutrality: a new daemon with the same configuration and health
 *    (operator states re-applied) sends no mutation;
 * 4. order: within every run of AS adds to one VIP, addresses ascend in the one
 *    deterministic order (IPv4 before IPv6, numerically);
 * 5. no failures: no sync fails, and nothing is logged at error, except while
 *    a fault (VPP restart or stall) is being injected or just after it;
 * 6. one writer: operator syncs, overrides and flushes racing health
 *    transitions and full syncs (`Race` steps) are never refused, no op is
 *    sent twice (a weight set to what it already was, without a flush), and
 *    every lb mutation the daemon made is logged once.
 *
 * Time: the daemon's schedules run on `TestClock`; socket traffic runs in wall
 * time. The harness moves the clock in 500 ms steps and, after each, waits
 * (in wall time) until the sync loop is idle and no request is in flight, so
 * the outcome does not depend on the machine's speed. Run it inside a test
 * context (`it.scoped`, or `Effect.provide(TestContext.TestContext)`).
 */
import {
  Chunk,
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  Exit,
  FiberRef,
  HashMap,
  HashSet,
  Layer,
  Logger,
  LogLevel,
  Option,
  Scope,
  TestClock
} from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { checkConfigText } from "../config/Check.js"
import type { Config } from "../config/Config.js"
import * as RunningConfig from "../config/RunningConfig.js"
import * as Daemon from "../daemon/Daemon.js"
import * as HealthChecker from "../health/HealthChecker.js"
import * as Prober from "../health/Prober.js"
import { probeResult } from "../health/ProbeResult.js"
import { pollDelay } from "../internal/WallClock.js"
import { desiredVip, predictedBuckets } from "../lb/Desired.js"
import { describeOp, diff, observedFromDumps } from "../lb/Diff.js"
import * as LbSync from "../lb/LbSync.js"
import * as Panic from "../lb/Panic.js"
import * as SlowStart from "../lb/SlowStart.js"
import { compareAddresses, type VipKey, vipKey, vipKeyString } from "../lb/VipKey.js"
import type { LbMutation } from "../sim/LbPlugin.js"
import * as Simulator from "../sim/Simulator.js"
import { lb } from "../vpp/binapi/index.js"
import * as Supervisor from "../vpp/Supervisor.js"
import * as VppApi from "../vpp/transport/VppApi.js"
import {
  BACKENDS,
  type ConfigSpec,
  configYaml,
  describeRaceAction,
  describeSpec,
  describeStep,
  FRONTENDS,
  type RaceAction,
  type Scenario,
  type Step
} from "./Scenario.js"

/** A property did not hold; `trace` is the scenario as run, with what happened at each step. */
export class PropertyViolation extends Data.TaggedError("PropertyViolation")<{
  readonly property: "convergence" | "quiet" | "restart-neutral" | "order" | "no-failures" | "one-writer"
  readonly detail: string
  readonly trace: ReadonlyArray<string>
  /** The daemon's log records (info and above) as `step level event`, for the post-mortem. */
  readonly log: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.property}: ${this.detail}\n  scenario:\n    ${this.trace.join("\n    ")}`
  }
}

export interface HarnessOptions {
  /**
   * Virtual time allowed for convergence once inputs stop. Default: sync
   * interval + reconnect delay + two probe intervals (10 s + 5 s + 2 s).
   */
  readonly convergeWithin?: Duration.DurationInput
  /** Check restart neutrality (a second daemon over the same VPP). Default true. */
  readonly restart?: boolean
}

export interface HarnessReport {
  /** lb mutations the simulator recorded (restarts and garbage collection included). */
  readonly mutations: number
  /** The scenario as run, one line per step with what it did. */
  readonly trace: ReadonlyArray<string>
  /** Clock steps after which the daemon still had work in flight after a second of wall time (0 on a healthy run). */
  readonly busyTicks: number
  /** Panics (min-healthy) the daemon entered (`frontend-panic` logged). */
  readonly panics: number
  /** Backends whose slow start was in progress when convergence was checked. */
  readonly rampingAtConvergence: number
}

interface LogRecord {
  readonly step: number
  readonly level: LogLevel.LogLevel
  readonly event: string
  readonly message: string
}

const TICK = Duration.millis(500)
const RECONNECT_DELAY = Duration.seconds(5)
/** lb mutations VPP makes on its own, not the daemon's doing. */
const SELF_MADE = new Set<LbMutation["op"]>(["gc-as", "gc-vip", "restart"])
const ALL = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const

const PASS = probeResult("L4OK", 1, "scripted pass")
const FAIL = probeResult("L4CON", 1, "scripted fail")

const parse = (spec: ConfigSpec): Config => {
  const result = checkConfigText(configYaml(spec))
  if (result._tag !== "Valid") {
    throw new Error(`harness bug: a generated configuration is invalid:\n${configYaml(spec)}\n${JSON.stringify(result)}`)
  }
  return result.config
}

interface Running {
  readonly scope: Scope.CloseableScope
  readonly running: RunningConfig.RunningConfigShape
  readonly checker: HealthChecker.HealthCheckerShape
  readonly vpp: Supervisor.VppSupervisorShape
  readonly sync: LbSync.LbSyncShape
}

/** Runs a scenario and checks every property; fails with the first `PropertyViolation`. */
export const runScenario = (
  scenario: Scenario,
  options: HarnessOptions = {}
): Effect.Effect<HarnessReport, PropertyViolation> =>
  Effect.suspend(() => {
    const logs: Array<LogRecord> = []
    let stepIndex = 0
    const collector = Logger.make<unknown, void>(({ annotations, logLevel, message }) => {
      if (LogLevel.lessThan(logLevel, LogLevel.Info)) return
      const event = Option.getOrElse(HashMap.get(annotations, "event"), () => "")
      const error = Option.getOrUndefined(HashMap.get(annotations, "error"))
      logs.push({ step: stepIndex, level: logLevel, event: String(event), message: error === undefined ? String(message) : `${String(message)}: ${String(error)}` })
    })
    return Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "maglev-harness-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const apiSocket = path.join(dir, "api.sock")
    const statsSocket = path.join(dir, "stats.sock")
    const sim = yield* Simulator.make({ apiSocket, statsSocket }).pipe(Effect.orDie)
    const trace: Array<string> = []
    /** Steps during which (or right after which) failures are expected: injected faults. */
    const faultSteps = new Set<number>()
    let stalled = false
    const answers = new Map<string, boolean>()
    /** Mutation log sequence numbers made by the drifting second client, not the daemon. */
    const foreign = new Set<number>()
    /** Ticks after which the daemon was still busy after 1 s of wall time (a hint of a hang). */
    let busy = 0

    const violation = (property: PropertyViolation["property"], detail: string) =>
      new PropertyViolation({
        property,
        detail,
        trace: [...trace],
        log: logs.map((r) => `${r.step} ${r.level.label} ${r.event === "" ? r.message : r.event}`)
      })

    let config = parse(scenario.initial)
    const prober = Prober.layerFrom(({ target }) => Effect.succeed(answers.get(target.backend) === false ? FAIL : PASS))

    const start = (cfg: Config) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const layer = Daemon.layer(cfg, {
          apiSocket,
          statsSocket,
          reconnectDelay: RECONNECT_DELAY,
          // Socket work is wall time and never slow here; VPP stalls are what the timeouts catch.
          requestTimeout: "5 seconds",
          pingTimeout: "5 seconds",
          statsConnectTimeout: "5 seconds"
        }).pipe(Layer.provide(prober))
        const ctx = yield* Layer.buildWithScope(layer, scope)
        return {
          scope,
          running: Context.get(ctx, RunningConfig.RunningConfig),
          checker: Context.get(ctx, HealthChecker.HealthChecker),
          vpp: Context.get(ctx, Supervisor.VppSupervisor),
          sync: Context.get(ctx, LbSync.LbSync)
        } satisfies Running
      })

    let daemon = yield* start(config)

    /** Waits in wall time until the daemon has nothing in flight (or VPP is stalled). */
    const settle = Effect.gen(function*() {

      if (stalled) return yield* pollDelay(5)
      let quiet = 0
      for (let i = 0; i < 500 && quiet < 3; i++) {
        yield* pollDelay(2)
        const idle = yield* daemon.sync.idle
        const state = yield* daemon.vpp.state
        const inFlight = state._tag === "Connected" ? yield* state.connection.inFlight : 0
        quiet = idle && inFlight === 0 ? quiet + 1 : 0
        if (i === 499) {
          busy++
        }
      }
    })

    const advance = (d: Duration.DurationInput) =>
      Effect.gen(function*() {
        const ticks = Math.ceil(Duration.toMillis(d) / Duration.toMillis(TICK))
        for (let i = 0; i < ticks; i++) {
          yield* TestClock.adjust(TICK)
          yield* settle
        }
      })

    /** A short-lived second client, as another program changing VPP behind the daemon's back. */
    const drift = (step: Extract<Step, { _tag: "Drift" }>) =>
      Effect.scoped(Effect.gen(function*() {
        const conn = yield* VppApi.connect({ path: apiSocket, clientName: "drifter", timeout: "1 hour" })
        const vips = Chunk.toReadonlyArray(yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL, pfx_matcher: { le: 0, ge: 0 } }))
        const ases = Chunk.toReadonlyArray(yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL)).filter((a) => (a.flags & 1) !== 0)
        const vipOf = (v: { pfx: string; protocol: number; port: number }) => ({ pfx: v.pfx, protocol: v.protocol, port: v.port })
        switch (step.kind) {
          case "as-weight":
          case "as-del": {
            const as = ases[step.pick % Math.max(1, ases.length)]
            if (as === undefined) return "nothing to change"
            if (step.kind === "as-weight") {
              yield* conn.request(lb.LbAsSetWeight, lb.LbAsSetWeightReply, {
                ...vipOf(as.vip),
                as_address: as.app_srv,
                weight: step.weight,
                is_flush: false
              })
              return `${as.vip.pfx} ${as.app_srv} weight ${as.weight} -> ${step.weight}`
            }
            yield* conn.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, {
              ...vipOf(as.vip),
              as_address: as.app_srv,
              weight: 0,
              is_del: true,
              is_flush: false
            })
            return `${as.vip.pfx} ${as.app_srv} deleted`
          }
          case "as-add": {
            const vip = vips[step.pick % Math.max(1, vips.length)]
            if (vip === undefined) return "nothing to change"
            const address = BACKENDS[step.pick % BACKENDS.length]!.address
            yield* conn.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, {
              ...vipOf(vip.vip),
              as_address: address,
              weight: step.weight,
              is_del: false,
              is_flush: false
            })
            return `${vip.vip.pfx} + ${address} weight ${step.weight}`
          }
          case "vip-del": {
            const vip = vips[step.pick % Math.max(1, vips.length)]
            if (vip === undefined) return "nothing to change"
            yield* conn.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, {
              ...vipOf(vip.vip),
              encap: vip.encap,
              dscp: 0,
              type: "LB_API_SRV_TYPE_CLUSTERIP",
              target_port: 0,
              node_port: 0,
              new_flows_table_length: 0,
              src_ip_sticky: false,
              is_del: true
            })
            return `${vip.vip.pfx} deleted`
          }
          case "vip-add": {
            // Even picks take a configured frontend's VIP with another table length and encap; odd ones a foreign VIP.
            const own = step.pick % 2 === 0
            const n = 10 + Number(FRONTENDS[step.pick % FRONTENDS.length]!.slice(1))
            const pfx = own ? `192.0.2.${n}/32` : `198.51.100.${step.pick}/32`
            yield* conn.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, {
              pfx,
              protocol: 6,
              port: own ? 80 : 8080,
              encap: "LB_API_ENCAP_TYPE_GRE6",
              dscp: 0,
              type: "LB_API_SRV_TYPE_CLUSTERIP",
              target_port: 0,
              node_port: 0,
              new_flows_table_length: 64,
              src_ip_sticky: step.pick % 3 === 0,
              is_del: false
            })
            return `+ ${pfx} tcp/${own ? 80 : 8080}`
          }
        }
      })).pipe(Effect.catchAll((e) => Effect.succeed(`refused (${e.message})`)))

    /** Operator requests of race steps that VPP refused (outside faults): one writer means there are none. */
    const refused: Array<string> = []

    /** One race action against the running daemon; what happened, as text. */
    const race = (a: RaceAction): Effect.Effect<string> =>
      Effect.gen(function*() {
        switch (a.kind) {
          case "probe":
            answers.set(a.backend, a.pass)
            return ""
          case "full":
            yield* daemon.sync.requestFull("harness")
            return ""
          case "sync": {
            const r = yield* Effect.either(daemon.sync.sync({ frontend: a.frontend, dryRun: a.dryRun }))
            if (r._tag === "Right") return `${describeRaceAction(a)}: ${r.right.ops.length} ops`
            if (r.left._tag === "LbSyncError") refused.push(`step ${stepIndex}: ${describeRaceAction(a)}: ${r.left.message}`)
            return `${describeRaceAction(a)}: ${r.left._tag}`
          }
          case "override": {
            const cfg = yield* daemon.running.config
            const f = cfg.frontends.get(a.frontend)
            const members = f === undefined ? [] : f.pools.flatMap((p) => p.backends.map((m) => ({ pool: p.name, backend: m.backend })))
            const m = members[a.pick % Math.max(1, members.length)]
            if (f === undefined || m === undefined) return `${describeRaceAction(a)}: no such member`
            yield* Effect.ignore(daemon.running.setWeight(f.name, m.pool, m.backend, a.weight))
            const flush = a.flush && a.weight === 0 ? m.backend : undefined
            const r = yield* Effect.either(daemon.sync.reconcileFrontend(f.name, { flush, reason: "harness override" }))
            if (r._tag === "Left" && r.left._tag === "LbSyncError") refused.push(`step ${stepIndex}: ${describeRaceAction(a)}: ${r.left.message}`)
            return `${describeRaceAction(a)} (${m.pool}/${m.backend})${r._tag === "Left" ? `: ${r.left._tag}` : ""}`
          }
        }
      })

    const apply = (step: Step): Effect.Effect<string> =>
      Effect.gen(function*() {
        switch (step._tag) {
          case "Race": {
            // Probe flips first (they take effect when the clock moves), then everything at once while time passes.
            const outcomes = yield* Effect.all(
              [...step.actions.map(race), Effect.as(advance(Duration.seconds(1)), "")],
              { concurrency: "unbounded" }
            )
            return outcomes.filter((o) => o !== "").join("; ")
          }
          case "Probe":
            answers.set(step.backend, step.pass)
            return ""
          case "Operator": {
            const outcome = yield* daemon.checker[step.action](step.backend).pipe(
              Effect.match({ onFailure: (e) => `refused: ${e._tag}`, onSuccess: (h) => `now ${h.status}` })
            )
            return outcome
          }
          case "Reload":
            config = parse(step.spec)
            yield* daemon.running.replace(config)
            return ""
          case "VppRestart":
            faultSteps.add(stepIndex)
            yield* sim.restart
            return ""
          case "VppStall":
            faultSteps.add(stepIndex)
            yield* sim.api.stall
            stalled = true
            yield* advance(Duration.seconds(step.seconds))
            stalled = false
            yield* sim.api.resume
            return ""
          case "Drift": {
            // The daemon is settled (idle) here, so what the simulator records meanwhile is the drifter's.
            const from = sim.lb.lastSeq()
            const what = yield* drift(step)
            for (let seq = from + 1; seq <= sim.lb.lastSeq(); seq++) foreign.add(seq)
            return what
          }
          case "Wait":
            yield* advance(Duration.seconds(step.seconds))
            return ""
        }
      })

    const lbMutations = () => sim.lb.mutations().filter((m) => !SELF_MADE.has(m.op))

    /** `stepSeq[i]`: the simulator's last mutation number when step i + 1 began. */
    const stepSeq: Array<number> = []
    const stepOf = (seq: number): number => {
      let step = 0
      while (step < stepSeq.length && stepSeq[step]! < seq) step++
      return step
    }

    /**
     * One writer: the operator's requests were never refused, no weight was set to what it already
     * was without a flush (two writers sending the same op), and every lb mutation the daemon made is
     * logged once (outside injected faults, where replies are lost with the connection).
     */
    const oneWriter = Effect.gen(function*() {
      if (refused.length > 0) return yield* violation("one-writer", `refused operator requests: ${refused.join("; ")}`)
      const all = sim.lb.mutations()
      const faulted = (step: number) => faultSteps.has(step) || faultSteps.has(step - 1)
      const ours = all.filter((m) => !foreign.has(m.seq) && !SELF_MADE.has(m.op) && !faulted(stepOf(m.seq)))
      for (let i = 0; i < ours.length; i++) {
        const m = ours[i]!
        if (m.op !== "as-weight" || m.details.from !== m.details.to) continue
        const next = ours[i + 1]
        const flushed = next !== undefined && next.op === "as-flush" && next.details.address === m.details.address
        if (!flushed) {
          return yield* violation("one-writer", `a duplicate lb_as_set_weight: ${m.details.address} weight ${m.details.to} again, without a flush`)
        }
      }
      const counts = new Map<string, { made: number; logged: number }>()
      const count = (kind: string, field: "made" | "logged") => {
        const c = counts.get(kind) ?? { made: 0, logged: 0 }
        c[field]++
        counts.set(kind, c)
      }
      for (const m of ours) {
        if (m.op === "vip-add" || m.op === "vip-del" || m.op === "as-add" || m.op === "as-weight") count(m.op, "made")
        if (m.op === "as-del" && m.details.cause === "request") count(m.op, "made")
      }
      for (const r of logs) {
        const kind = /^vpp-lbsync-(vip-add|vip-del|as-add|as-del|as-weight)$/.exec(r.event)?.[1]
        if (kind !== undefined && !faulted(r.step)) count(kind, "logged")
      }
      const wrong = [...counts].filter(([, c]) => c.made !== c.logged)
      if (wrong.length > 0) {
        return yield* violation(
          "one-writer",
          `lb mutations made vs logged: ${wrong.map(([k, c]) => `${k} ${c.made} made, ${c.logged} logged`).join("; ")}`
        )
      }
    })

    /** The daemon's desired state against what VPP holds now; a description of every difference. */
    const differences = Effect.gen(function*() {
      const cfg = yield* daemon.checker.config
      const health = yield* daemon.checker.health
      const status = (b: string) => Option.getOrUndefined(HashMap.get(health, b))?.status
      const ramps = yield* daemon.sync.ramps
      const panics = yield* daemon.sync.panics
      const problems: Array<string> = []
      // A ramp starts with the transition that brought the backend up (SlowStart.rampStart).
      for (const [name, h] of health) {
        const at = ramps.startedAt(name)
        const last = h.transitions[h.transitions.length - 1]
        if (at !== undefined && (h.status !== "up" || last?.to !== "up" || last.at !== at)) {
          problems.push(`${name}: a slow start from ${at}, but its last transition is ${last === undefined ? "none" : `${last.from} -> ${last.to} at ${last.at}`}`)
        }
      }
      const desired = [...cfg.frontends.values()].map((f) =>
        Panic.shown(f, desiredVip(f, cfg, status, ramps), status, panics.get(f.name)?.guard, ramps.now).vip
      )
      const observed = yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* VppApi.connect({ path: apiSocket, clientName: "checker", timeout: "1 hour" })
        const vips = yield* conn.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL, pfx_matcher: { le: 0, ge: 0 } })
        const ases = yield* conn.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL)
        const conf = yield* conn.request(lb.LbConfGet, lb.LbConfGetReply, {})
        return { vips: Chunk.toReadonlyArray(vips), ases: Chunk.toReadonlyArray(ases), conf }
      })).pipe(Effect.orDie)
      const stickyOf = stickyLookup(sim)
      const view = observedFromDumps(observed.vips, observed.ases, stickyOf)
      problems.push(...diff(desired, view).map((op) => {
        const d = describeOp(op)
        return `${d.event} ${JSON.stringify(d.fields)}`
      }))
      for (const vip of desired) {
        const o = view.find((v) => vipKeyString(v) === vipKeyString(vip))
        if (o === undefined || !vip.ases.some((a) => a.weight > 0)) continue
        for (const [address, buckets] of predictedBuckets(vip)) {
          const got = o.ases.find((a) => a.address === address)?.numBuckets
          if (got !== buckets) problems.push(`${vipKeyString(vip)} ${address}: ${got} buckets, predicted ${buckets}`)
        }
      }
      const want = cfg.vpp.lb
      if (want.ipv4SrcAddress !== undefined && observed.conf.ip4_src_address !== want.ipv4SrcAddress) {
        problems.push(`lb_conf ip4-src-address ${observed.conf.ip4_src_address}, want ${want.ipv4SrcAddress}`)
      }
      if (observed.conf.flow_timeout !== want.flowTimeoutSeconds) {
        problems.push(`lb_conf flow-timeout ${observed.conf.flow_timeout}, want ${want.flowTimeoutSeconds}`)
      }
      return problems
    })

    const failuresOutsideFaults = () =>
      logs.filter((r) =>
        (LogLevel.greaterThanEqual(r.level, LogLevel.Error) || r.event === "vpp-lbsync-failed") &&
        !faultSteps.has(r.step) && !faultSteps.has(r.step - 1)
      )

    // --- run the steps --------------------------------------------------------
    trace.push(`start ${describeSpec(scenario.initial)}`)
    for (const step of scenario.steps) {
      stepIndex++
      stepSeq.push(sim.lb.lastSeq())
      const what = yield* apply(step)
      if (step._tag !== "Wait" && step._tag !== "VppStall") yield* advance(Duration.seconds(1))
      trace.push(`${describeStep(step)}${what === "" ? "" : ` → ${what}`}`)
    }
    stepIndex++
    stepSeq.push(sim.lb.lastSeq())
    trace.push("(inputs stop)")

    // 1. convergence
    const window = options.convergeWithin ?? Duration.sum(Duration.sum(config.vpp.lb.syncInterval, RECONNECT_DELAY), Duration.seconds(2))
    yield* advance(window)
    const problems = yield* differences
    const rampsNow = yield* daemon.sync.ramps
    let rampingAtConvergence = 0
    for (const name of config.backends.keys()) if (rampsNow.startedAt(name) !== undefined) rampingAtConvergence++
    if (problems.length > 0) {
      return yield* violation("convergence", `VPP differs from the desired state ${Duration.format(window)} after the last input:\n      ${problems.join("\n      ")}`)
    }

    // 5. no failures outside faults (checked here so the later phases cannot hide them)
    const failed = failuresOutsideFaults()
    if (failed.length > 0) {
      return yield* violation("no-failures", failed.map((r) => `step ${r.step}: ${r.event} ${r.message}`).join("; "))
    }

    // 6. one writer (checked before the later phases add their own mutations)
    yield* oneWriter

    // 2. quiet: an explicit sync and the periodic ones change nothing (once the ramps in progress are over)
    yield* advance(Duration.millis(SlowStart.longestMs(config)))
    const quietMark = lbMutations().length
    const report = yield* daemon.sync.sync().pipe(Effect.either)
    if (report._tag === "Left") return yield* violation("quiet", `the no-change sync failed: ${report.left.message}`)
    if (report.right.ops.length > 0) {
      return yield* violation("quiet", `a sync with no input change planned ${report.right.ops.map((o) => describeOp(o).event).join(", ")}`)
    }
    yield* advance(Duration.sum(config.vpp.lb.syncInterval, Duration.seconds(1)))
    const noisy = lbMutations().slice(quietMark)
    if (noisy.length > 0) return yield* violation("quiet", `mutations with no input change: ${noisy.map((m) => m.op).join(", ")}`)

    // 3. restart neutrality
    if (options.restart !== false) {
      const health = yield* daemon.checker.health
      const overrides = (yield* daemon.running.get).weights
      yield* Scope.close(daemon.scope, Exit.void)
      trace.push("(daemon restart)")
      const restartMark = lbMutations().length
      daemon = yield* start(config)
      // The operator's states and weight overrides are not in the file: an operator re-applies them.
      for (const [key, weight] of overrides) {
        const [frontend, pool, backend] = key.split("/") as [string, string, string]
        yield* Effect.ignore(daemon.running.setWeight(frontend, pool, backend, weight))
      }
      for (const [name, h] of health) {
        const b = config.backends.get(name)
        if (b === undefined) continue
        if (h.status === "paused") yield* Effect.ignore(daemon.checker.pause(name))
        else if (h.status === "disabled" && b.enabled) yield* Effect.ignore(daemon.checker.disable(name))
        else if (h.status !== "disabled" && !b.enabled) yield* Effect.ignore(daemon.checker.enable(name))
      }
      yield* advance(Duration.sum(config.vpp.lb.startupMaxDelay, config.vpp.lb.syncInterval))
      const after = lbMutations().slice(restartMark)
      if (after.length > 0) {
        return yield* violation(
          "restart-neutral",
          `a restarted daemon with unchanged health sent ${after.map((m) => `${m.op} ${JSON.stringify(m.details)}`).join("; ")}`
        )
      }
    }

    // 4. deterministic AS order
    // A run is consecutive AS adds by the daemon; anything else in the log (the drifter's
    // changes included) ends it, so one address re-added later is not a run of two.
    const all = sim.lb.mutations()
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1]!
      const b = all[i]!
      if (foreign.has(a.seq) || foreign.has(b.seq)) continue
      if (a.op !== "as-add" || b.op !== "as-add" || a.details.vip !== b.details.vip) continue
      if (compareAddresses(a.details.address, b.details.address) >= 0) {
        return yield* violation("order", `AS ${b.details.address} was added after ${a.details.address} to VIP #${a.details.vip}`)
      }
    }

    yield* Scope.close(daemon.scope, Exit.void)
    return {
      mutations: sim.lb.mutations().length,
      trace,
      busyTicks: busy,
      panics: logs.filter((r) => r.event === "frontend-panic").length,
      rampingAtConvergence
    }
    }).pipe(
      // Everything a run starts (simulator, daemons, sockets, temp dir) ends with it.
      Effect.scoped,
      Effect.locally(FiberRef.currentLoggers, HashSet.make(collector)),
      Effect.locally(FiberRef.currentMinimumLogLevel, LogLevel.Info)
    )
  })

/** src_ip_sticky as the simulator holds it (VPP shows it only in `show lb vips verbose`). */
const stickyLookup = (sim: Simulator.SimulatorShape) => {
  const byKey = new Map<string, boolean>()
  for (const e of sim.lb.vipIndices()) {
    const v = sim.lb.inspectVip(e.index)
    if (v === undefined || !v.used || typeof v.key.protocol !== "number") continue
    byKey.set(vipKeyString(vipKey(v.key.pfx, v.key.protocol, v.key.port)), v.srcIpSticky)
  }
  return (k: VipKey): boolean | undefined => byKey.get(vipKeyString(k))
}
