/**
 * The LB reconciler end to end: the real HealthChecker (scripted probe
 * results), the VPP supervisor and the LbSync loop against the simulator,
 * which runs in the same process (so every figure includes the simulator's
 * own work), on the live clock. Each scenario runs in a fresh child process.
 *
 * One configuration for both: 1,000 frontends (one VIP each, one pool of 32
 * backends) over 8,000 backends, each backend in 4 frontends (frontend f uses
 * backends 8f .. 8f+31, wrapping): 32,000 ASes.
 *
 * 1. sync: with the loop held off (startup-min-delay 1h: the loop does
 *    nothing while hands-off, an explicit `sync()` is not gated), every
 *    backend up, VPP empty, one `LbSync.sync()` programs everything; then
 *    no-change full syncs, which must plan nothing. Targets <= 2 s and <= 100 ms.
 * 2. react: the loop running (warm-up over), a few backends probed every
 *    50 ms with rise 1 / fall 1 are flipped down and up again, one at a time.
 *    Latency from the failing probe result being handed to the checker until
 *    the `lb_as_set_weight` for that backend is written to the client's
 *    socket (`socket.write`, hooked in this process; it leaves at the end of
 *    that tick), and until the simulator applied it. Target p99 <= 5 ms.
 *    Then the same while a full sync of every AS runs: a reload that changes
 *    every pool member's weight (32,000 lb_as_set_weight), and a backend
 *    flipped down once the sync's requests are flowing.
 *
 * The simulator shares this process's CPU, so on a loaded machine a reply
 * to a 32,000-AS read can take seconds: the VPP request timeout is 60 s here
 * (the daemon's default is 5 s). A scenario that fails prints why and exits
 * non-zero; a watchdog ends a child that runs longer than 25 minutes.
 *
 * `node --import tsx bench/reconcile.ts --child sync|react` runs one scenario
 * here; with RECONCILE_CPU_PROFILE=prefix it also writes CPU profiles of just
 * the measured parts (prefix-full-sync.cpuprofile, prefix-react.cpuprofile, ...).
 */
import { Chunk, Deferred, Duration, Effect, Either, HashMap, Layer, Logger, LogLevel, type Scope } from "effect"
import { fork } from "node:child_process"
import * as fs from "node:fs"
import { Session } from "node:inspector/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { checkConfigText, type Config, formatCheckResult } from "../src/config/index.js"
import * as RunningConfig from "../src/config/RunningConfig.js"
import * as HealthChecker from "../src/health/HealthChecker.js"
import * as Prober from "../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../src/health/ProbeResult.js"
import { diff, observedFromDumps } from "../src/lb/Diff.js"
import * as LbSync from "../src/lb/LbSync.js"
import type { LbMutation } from "../src/sim/LbPlugin.js"
import * as Simulator from "../src/sim/Simulator.js"
import { lb } from "../src/vpp/binapi/index.js"
import * as Codec from "../src/vpp/codec/Codec.js"
import * as Frame from "../src/vpp/codec/Frame.js"
import { showLbVipsWithAses } from "../src/vpp/LbVips.js"
import * as Supervisor from "../src/vpp/Supervisor.js"
import type { VppConnection } from "../src/vpp/transport/VppApi.js"
import { runListing } from "./reconcileListing.js"
import { type Latencies, latencies, printProcs, runProcs } from "./reconcileProcs.js"

const RunningConfigTag = RunningConfig.RunningConfig
/** RECONCILE_FRONTENDS scales the benchmark down (a starved machine); 1,000 is the figure of record. */
const FRONTENDS = Number(process.env["RECONCILE_FRONTENDS"] ?? 1000)
const ASES_PER_VIP = 32
/** Frontend f starts at backend STRIDE * f: each backend is in ASES_PER_VIP / STRIDE frontends. */
const STRIDE = 8
const BACKENDS = FRONTENDS * STRIDE
const VIPS_PER_BACKEND = ASES_PER_VIP / STRIDE
/** Backends on the fast check, flipped by the reaction scenario (evenly spread). */
const FLIPPED = 20
const DOWN_EVENTS = 200
/** The reaction scenario stops early when its events take longer than this. */
const REACT_BUDGET_MS = 45_000
/** Per flip: generous, a loaded machine is slow (the figures show how slow). */
const EVENT_TIMEOUT_MS = 30_000
/** Down events measured during full syncs (each needs a full sync of 32,000 ops), and their budget. */
const DURING_EVENTS = 10
const DURING_BUDGET_MS = 120_000

const PASS = probeResult("L4OK", 0.1, "connected")
const FAIL = probeResult("L4CON", 0.1, "refused")

const backendName = (i: number) => `b${i}`
const backendAddress = (i: number) => `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}`
const flipped = Array.from({ length: FLIPPED }, (_, i) => i * Math.floor(BACKENDS / FLIPPED))

/**
 * The configuration as an operator would write it (and checked like one).
 * Steady backends are probed every 2 s, the flipped ones every 50 ms; the
 * loop's own full sync is an hour away.
 */
const benchConfig = (startupMinDelay: string, weight = 100): Config => {
  const fast = new Set(flipped)
  const lines = [
    "maglev:",
    "  vpp:",
    "    lb: {ipv4-src-address: 192.0.2.1, sync-interval: 1h, startup-min-delay: " + startupMinDelay + ", startup-max-delay: 0}",
    "  healthchecks:",
    "    steady: {type: tcp, port: 80, interval: 2s, fast-interval: 2s, down-interval: 2s, timeout: 1s, rise: 1, fall: 1}",
    "    fast: {type: tcp, port: 80, interval: 50ms, fast-interval: 50ms, down-interval: 50ms, timeout: 25ms, rise: 1, fall: 1}",
    "  backends:"
  ]
  for (let i = 0; i < BACKENDS; i++) {
    lines.push(`    ${backendName(i)}: {address: ${backendAddress(i)}, healthcheck: ${fast.has(i) ? "fast" : "steady"}}`)
  }
  lines.push("  frontends:")
  for (let f = 0; f < FRONTENDS; f++) {
    const members = Array.from({ length: ASES_PER_VIP }, (_, j) => `${backendName((f * STRIDE + j) % BACKENDS)}: ${weight === 100 ? "~" : `{weight: ${weight}}`}`)
    lines.push(`    f${f}:`)
    lines.push(`      address: 198.18.${Math.floor(f / 250)}.${(f % 250) + 1}`)
    lines.push("      protocol: tcp")
    lines.push("      port: 80")
    lines.push(`      pools: [{name: main, backends: {${members.join(", ")}}}]`)
  }
  const result = checkConfigText(lines.join("\n") + "\n")
  if (result._tag !== "Valid") throw new Error(formatCheckResult(result))
  return result.config
}

/** "Every VIP" in both dumps, as LbSync asks. */
const ALL_VIPS = { pfx: "0.0.0.0/0", protocol: 0, port: 0 } as const
const ALL = ALL_VIPS as never

/** Active ASes with a non-zero weight, VIPs: as the simulator holds them now. */
const simCounts = (sim: Simulator.SimulatorShape) => {
  const ases = sim.lb.asV2Dump(ALL, undefined)
  return {
    vips: sim.lb.vipDump(ALL, undefined).length,
    ases: ases.length,
    weighted: ases.filter((a) => (a.flags & 1) !== 0 && a.weight > 0).length
  }
}

/** The daemon's three services over one simulator, probes answered from `answer`. */
const daemon = (config: Config, apiSocket: string, statsSocket: string, answer: (backend: string) => ProbeResult) => {
  const prober = Prober.layerFrom(({ target }) => Effect.sync(() => answer(target.backend)))
  const checker = HealthChecker.layer(config).pipe(Layer.provide(prober))
  // The simulator shares this process's CPU: under load a whole-state reply takes seconds.
  const vpp = Supervisor.layer({ apiSocket, statsSocket, requestTimeout: "60 seconds", pingTimeout: "60 seconds" })
  return LbSync.layer.pipe(Layer.provideMerge(Layer.merge(checker, vpp)))
}

interface Harness {
  readonly sim: Simulator.SimulatorShape
  /** The supervisor's connection to the simulator, once it is up. */
  readonly connection: VppConnection
  /** Peak RSS of this process so far (sampled every 50 ms), MiB. */
  readonly peakRssMiB: () => number
}

type Services =
  | LbSync.LbSync
  | HealthChecker.HealthChecker
  | RunningConfig.RunningConfig
  | Supervisor.VppSupervisor
  | Scope.Scope

/**
 * Runs `body` against a simulator in a temporary directory and the daemon's
 * services for the benchmark configuration, with warnings and errors logged only.
 */
const withDaemon = <A>(
  startupMinDelay: string,
  answer: (backend: string) => ProbeResult,
  body: (harness: Harness) => Effect.Effect<A, unknown, Services>
): Promise<A> => {
  let peak = process.memoryUsage.rss()
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50)
  const peakRssMiB = () => Math.max(peak, process.memoryUsage.rss()) / 2 ** 20
  const program = Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "reconcile-bench-"))),
    (dir) =>
      Effect.gen(function*() {
        const apiSocket = path.join(dir, "api.sock")
        const statsSocket = path.join(dir, "stats.sock")
        const sim = yield* Simulator.make({ apiSocket, statsSocket })
        return yield* Effect.gen(function*() {
          const { connection } = yield* (yield* Supervisor.VppSupervisor).awaitConnected
          return yield* body({ sim, connection, peakRssMiB })
        }).pipe(Effect.provide(daemon(benchConfig(startupMinDelay), apiSocket, statsSocket, answer)))
      }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  // RECONCILE_LOG=info (or debug) shows the daemon's log lines too (every mutation: long).
  const level = process.env["RECONCILE_LOG"] === "debug" ? LogLevel.Debug : process.env["RECONCILE_LOG"] === "info" ? LogLevel.Info : LogLevel.Warning
  return Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(level)))
    .finally(() => clearInterval(sampler))
}

/** Polls `check` every `everyMs` until it holds; dies after `timeoutMs` so nothing is measured silently. */
const waitFor = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs: number, everyMs = 20) =>
  Effect.gen(function*() {
    const until = performance.now() + timeoutMs
    while (!(yield* check)) {
      if (performance.now() > until) return yield* Effect.dieMessage(`${what}: not within ${timeoutMs} ms`)
      yield* Effect.sleep(Duration.millis(everyMs))
    }
  })

const allUp = Effect.gen(function*() {
  const checker = yield* HealthChecker.HealthChecker
  const health = yield* checker.health
  let up = 0
  for (const [, h] of health) if (h.status === "up") up++
  return up === HashMap.size(health)
})

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

/**
 * With RECONCILE_CPU_PROFILE=prefix, writes a CPU profile of just `effect`
 * to prefix-name.cpuprofile (read it with the DevTools or a summariser).
 */
const profiled = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) => {
  const heap = process.env["RECONCILE_HEAP_PROFILE"]
  if (heap !== undefined && heap !== "") {
    // Sampled allocations (collected ones included) of just `effect`: what makes the GC work.
    return Effect.acquireUseRelease(
      Effect.promise(async () => {
        const session = new Session()
        session.connect()
        await session.post("HeapProfiler.startSampling", {
          samplingInterval: 16384,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true
        } as never)
        return session
      }),
      () => effect,
      (session) =>
        Effect.promise(async () => {
          const { profile } = await session.post("HeapProfiler.stopSampling")
          fs.writeFileSync(`${heap}-${name}.heapprofile`, JSON.stringify(profile))
          session.disconnect()
        })
    )
  }
  const prefix = process.env["RECONCILE_CPU_PROFILE"]
  if (prefix === undefined || prefix === "") return effect
  return Effect.acquireUseRelease(
    Effect.promise(async () => {
      const session = new Session()
      session.connect()
      await session.post("Profiler.enable")
      await session.post("Profiler.start")
      return session
    }),
    () => effect,
    (session) =>
      Effect.promise(async () => {
        const { profile } = await session.post("Profiler.stop")
        fs.writeFileSync(`${prefix}-${name}.cpuprofile`, JSON.stringify(profile))
        session.disconnect()
      })
  )
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

// --- 1. full sync -----------------------------------------------------------------

export interface SyncFigures {
  readonly vips: number
  readonly ases: number
  readonly fullOps: number
  readonly fullMs: number
  readonly noChangeOps: number
  /** Every no-change full sync, in order. */
  readonly noChangeMs: ReadonlyArray<number>
  /** Parts of a no-change sync, each measured alone: lb_vip_dump + show lb vips verbose (parsed). */
  readonly briefMs: number
  /** What a sync that finds a difference adds: lb_vip_dump + lb_as_v2_dump. */
  readonly dumpMs: number
  readonly parseMs: number
  readonly desiredMs: number
  readonly diffMs: number
  readonly peakRssMiB: number
}

const NO_CHANGE_RUNS = 5

const runSync = (): Promise<SyncFigures> =>
  withDaemon("1h", () => PASS, ({ connection, peakRssMiB, sim }) =>
    Effect.gen(function*() {
      const sync = yield* LbSync.LbSync
      yield* waitFor("every backend up", allUp, 120_000)
      // The loop has seen the connect and the transitions by now, and stayed hands-off.
      const before = simCounts(sim)
      if (before.vips !== 0 || before.ases !== 0) return yield* Effect.dieMessage(`VPP not empty before the sync: ${JSON.stringify(before)}`)

      const [full, fullMs] = yield* timed(profiled("full-sync", sync.sync()))
      const after = simCounts(sim)
      if (after.vips !== FRONTENDS || after.weighted !== FRONTENDS * ASES_PER_VIP) {
        return yield* Effect.dieMessage(`after the full sync VPP holds ${JSON.stringify(after)}`)
      }
      const noChangeMs: Array<number> = []
      let noChangeOps = 0
      for (let i = 0; i < NO_CHANGE_RUNS; i++) {
        const [r, ms] = yield* timed(profiled(`no-change-${i}`, sync.sync()))
        noChangeOps += r.ops.length
        noChangeMs.push(ms)
      }
      // The parts of a no-change sync, one at a time: the two cheap reads it makes, and (what a sync
      // that finds a difference adds) the AS dump with its parse.
      const [, briefMs] = yield* timed(Effect.all([
        connection.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL_VIPS, pfx_matcher: { le: 0, ge: 0 } }),
        showLbVipsWithAses(connection)
      ]))
      const [[vipDetails, asDetails], dumpMs] = yield* timed(Effect.all([
        connection.dump(lb.LbVipDump, lb.LbVipDetails, { ...ALL_VIPS, pfx_matcher: { le: 0, ge: 0 } }),
        connection.dump(lb.LbAsV2Dump, lb.LbAsV2Details, ALL_VIPS)
      ]))
      const [observed, parseMs] = yield* timed(Effect.sync(() =>
        observedFromDumps(Chunk.toReadonlyArray(vipDetails), Chunk.toReadonlyArray(asDetails))
      ))
      if (observed.length !== FRONTENDS) return yield* Effect.dieMessage(`observed ${observed.length} VIPs`)
      const [desired, desiredMs] = yield* timed(sync.desired)
      const [planned, diffMs] = yield* timed(Effect.sync(() => diff(desired, observed)))
      if (planned.length !== 0) return yield* Effect.dieMessage(`the diff plans ${planned.length} ops`)
      return {
        vips: after.vips,
        ases: after.ases,
        fullOps: full.ops.length,
        fullMs,
        noChangeOps,
        noChangeMs,
        briefMs,
        dumpMs,
        parseMs,
        desiredMs,
        diffMs,
        peakRssMiB: peakRssMiB()
      } satisfies SyncFigures
    }))

// --- 2. reaction latency ----------------------------------------------------------

/** One flip being measured: the backend, the weight its VIPs should get, and when things happened. */
interface Flip {
  readonly backend: string
  readonly address: string
  readonly to: number
  /** performance.now() when the probe result that flips it was handed to the checker. */
  resultAt: number | undefined
  readonly writes: Array<number>
  readonly applied: Array<number>
  readonly done: Deferred.Deferred<void>
}

/**
 * Calls `f` for every lb_as_set_weight frame written to a socket in this
 * process (only the client sends requests; the simulator's socket writes
 * replies), with the time it was handed to the socket.
 */
const hookSetWeightWrites = (msgId: number, f: (address: string, weight: number, at: number) => void) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const codec = Codec.of(lb.LbAsSetWeight.schema)
      const proto = net.Socket.prototype
      const original = proto.write
      const head = Frame.HEADER_SIZE + Frame.MSG_ID_SIZE
      proto.write = function(this: net.Socket, chunk: unknown, ...rest: Array<unknown>) {
        // A write holds the frames of one tick (transport/Coalesce.ts): each is looked at.
        if (chunk instanceof Uint8Array) {
          const at = performance.now()
          for (let o = 0; o + head <= chunk.length;) {
            const end = o + Frame.HEADER_SIZE + Frame.bodyLength(chunk, o)
            if (((chunk[o + Frame.HEADER_SIZE]! << 8) | chunk[o + Frame.HEADER_SIZE + 1]!) === msgId) {
              const decoded = codec.decode(chunk.subarray(o + head, end), { allowTrailing: true })
              if (Either.isRight(decoded)) f(String(decoded.right.as_address), decoded.right.weight, at)
            }
            o = end
          }
        }
        return (original as (...args: Array<unknown>) => boolean).call(this, chunk, ...rest)
      } as typeof proto.write
      return original
    }),
    (original) => Effect.sync(() => void (net.Socket.prototype.write = original))
  )


export interface ReactFigures {
  readonly downEvents: number
  readonly upEvents: number
  readonly vipsPerBackend: number
  /** Result to the first lb_as_set_weight of the backend written / to the last (all its VIPs). */
  readonly downFirstWrite: Latencies
  readonly downLastWrite: Latencies
  /** The same, until the simulator applied it. */
  readonly downFirstApplied: Latencies
  readonly downLastApplied: Latencies
  readonly upFirstWrite: Latencies
  readonly upLastApplied: Latencies
  /** Down events measured while a full sync of every AS was running. */
  readonly duringEvents: number
  readonly duringFullSyncs: number
  readonly duringFirstWrite: Latencies
  readonly duringLastWrite: Latencies
  readonly duringFirstApplied: Latencies
  readonly mutations: number
  readonly expectedMutations: number
  readonly warmUpSeconds: number
  readonly seconds: number
  readonly peakRssMiB: number
}

const runReact = (): Promise<ReactFigures> => {
  // The two configurations the full syncs alternate between (checked before anything is measured).
  const configs = [benchConfig("3s", 90), benchConfig("3s", 100)] as const
  const answers = new Map<string, ProbeResult>()
  let current: Flip | undefined
  const answer = (backend: string): ProbeResult => {
    const r = answers.get(backend) ?? PASS
    const c = current
    if (c !== undefined && c.resultAt === undefined && c.backend === backend && r.ok === c.to > 0) c.resultAt = performance.now()
    return r
  }
  const started = performance.now()
  return withDaemon("3s", answer, ({ connection, peakRssMiB, sim }) =>
    Effect.gen(function*() {
      const sync = yield* LbSync.LbSync
      // Warm-up: hands-off for 3 s (every backend is probed by then), then the loop programs everything.
      // Generous bounds: they return as soon as the state is there, and a loaded machine is slow.
      yield* waitFor("warm-up done", Effect.map(sync.phase, (p) => p === "done"), 300_000)
      yield* waitFor(
        "every AS programmed with its weight",
        Effect.sync(() => simCounts(sim).weighted === FRONTENDS * ASES_PER_VIP),
        300_000,
        500
      )
      yield* Effect.sleep("500 millis")
      const warmUpSeconds = (performance.now() - started) / 1000

      const record = (address: string, to: number, at: number, into: (f: Flip) => Array<number>) => {
        const c = current
        if (c === undefined || c.address !== address || c.to !== to) return
        const xs = into(c)
        xs.push(at)
        if (c.writes.length >= VIPS_PER_BACKEND && c.applied.length >= VIPS_PER_BACKEND) Deferred.unsafeDone(c.done, Effect.void)
      }
      const msgId = connection.table.get(lb.LbAsSetWeight.nameCrc)
      if (msgId === undefined) return yield* Effect.dieMessage("lb_as_set_weight is not in the message table")
      yield* hookSetWeightWrites(msgId, (address, weight, at) => record(address, weight, at, (f) => f.writes))
      let mutations = 0
      const unsubscribe = sim.lb.subscribe((m: LbMutation) => {
        mutations++
        if (m.op === "as-weight") record(m.details.address, m.details.to, performance.now(), (f) => f.applied)
      })
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))

      const flip = Effect.fn("bench.flip")(function*(index: number, to: number) {
        const backend = backendName(index)
        const done = yield* Deferred.make<void>()
        answers.set(backend, to > 0 ? PASS : FAIL)
        const f: Flip = { backend, address: backendAddress(index), to, resultAt: undefined, writes: [], applied: [], done }
        current = f
        yield* Deferred.await(done).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(EVENT_TIMEOUT_MS),
            onTimeout: () => new Error(`${backend} → weight ${to}: ${f.writes.length} requests written, ${f.applied.length} applied`)
          }),
          Effect.orDie
        )
        current = undefined
        const t0 = f.resultAt
        if (t0 === undefined) return yield* Effect.dieMessage(`${backend}: no probe result seen`)
        return {
          firstWrite: Math.min(...f.writes) - t0,
          lastWrite: Math.max(...f.writes) - t0,
          firstApplied: Math.min(...f.applied) - t0,
          lastApplied: Math.max(...f.applied) - t0
        }
      })

      const down: Array<{ firstWrite: number; lastWrite: number; firstApplied: number; lastApplied: number }> = []
      const up: Array<{ firstWrite: number; lastApplied: number }> = []
      const t0 = performance.now()
      const m0 = mutations
      yield* profiled("react", Effect.gen(function*() {
        while (down.length < DOWN_EVENTS && performance.now() - t0 < REACT_BUDGET_MS) {
          const index = flipped[down.length % flipped.length]!
          down.push(yield* flip(index, 0))
          up.push(yield* flip(index, 100))
        }
      }))
      const seconds = (performance.now() - t0) / 1000
      // Down: a weight and a flush per VIP (flush-on-down); up: a weight per VIP. Nothing else.
      const expectedMutations = down.length * 2 * VIPS_PER_BACKEND + up.length * VIPS_PER_BACKEND
      const measuredMutations = mutations - m0
      // Printed now too: on a starved machine the part during full syncs may not finish.
      console.log(`(flips alone: ${down.length} down events; to the first lb_as_set_weight written ${lat(latencies(down.map((d) => d.firstWrite)))})`)

      // The same while a full sync of every AS runs: reloads alternate every member's weight between
      // 90 and 100 (32,000 lb_as_set_weight each); a backend goes down once the sync's requests flow.
      const running = yield* RunningConfigTag
      let bulkTo = -1
      let bulkSeen = 0
      const unsubscribeBulk = sim.lb.subscribe((m: LbMutation) => {
        if (m.op === "as-weight" && m.details.to === bulkTo) bulkSeen++
      })
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribeBulk))
      const during: Array<{ firstWrite: number; lastWrite: number; firstApplied: number; lastApplied: number }> = []
      let fullSyncs = 0
      const t1 = performance.now()
      while (during.length < DURING_EVENTS && performance.now() - t1 < DURING_BUDGET_MS) {
        const weight = during.length % 2 === 0 ? 90 : 100
        bulkTo = weight
        bulkSeen = 0
        yield* running.replace(configs[during.length % 2]!)
        yield* waitFor("the full sync's requests flowing", Effect.sync(() => bulkSeen >= Math.min(2_000, (FRONTENDS * ASES_PER_VIP) / 4)), 60_000, 1)
        const index = flipped[during.length % flipped.length]!
        during.push(yield* flip(index, 0))
        answers.set(backendName(index), PASS)
        yield* waitFor("the full sync done", Effect.map(sync.idle, (idle) => idle && bulkSeen >= FRONTENDS * ASES_PER_VIP - 2 * VIPS_PER_BACKEND), 120_000)
        yield* waitFor(`${backendName(index)} up again`, Effect.sync(() => simCounts(sim).weighted === FRONTENDS * ASES_PER_VIP), 30_000, 100)
        fullSyncs++
      }
      return {
        downEvents: down.length,
        upEvents: up.length,
        vipsPerBackend: VIPS_PER_BACKEND,
        downFirstWrite: latencies(down.map((d) => d.firstWrite)),
        downLastWrite: latencies(down.map((d) => d.lastWrite)),
        downFirstApplied: latencies(down.map((d) => d.firstApplied)),
        downLastApplied: latencies(down.map((d) => d.lastApplied)),
        upFirstWrite: latencies(up.map((d) => d.firstWrite)),
        upLastApplied: latencies(up.map((d) => d.lastApplied)),
        mutations: measuredMutations,
        expectedMutations,
        duringEvents: during.length,
        duringFullSyncs: fullSyncs,
        duringFirstWrite: latencies(during.map((d) => d.firstWrite)),
        duringLastWrite: latencies(during.map((d) => d.lastWrite)),
        duringFirstApplied: latencies(during.map((d) => d.firstApplied)),
        warmUpSeconds,
        seconds,
        peakRssMiB: peakRssMiB()
      } satisfies ReactFigures
    }))
}

// --- Output -------------------------------------------------------------------------

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`
const lat = (l: Latencies) => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`

export const printSync = (f: SyncFigures): void => {
  console.log(`\nLbSync.sync() of ${FRONTENDS.toLocaleString("en-US")} frontends x ${ASES_PER_VIP} backends (${BACKENDS.toLocaleString("en-US")} backends, each in ${VIPS_PER_BACKEND} VIPs), all up`)
  console.log("  real HealthChecker (scripted probes), Supervisor and LbSync; vppsim in the same process; live clock")
  console.log(`  full sync from empty      ${(f.fullMs / 1000).toFixed(2)} s   ${f.fullOps.toLocaleString("en-US")} ops -> ${f.vips.toLocaleString("en-US")} VIPs, ${f.ases.toLocaleString("en-US")} ASes   (target <= 2 s)`)
  console.log(`  no-change full sync       ${ms(median(f.noChangeMs))} median of ${f.noChangeMs.length} (${f.noChangeMs.map((x) => x.toFixed(0)).join(", ")} ms), ${f.noChangeOps} ops   (target <= 100 ms)`)
  console.log(`    its reads, alone: lb_vip_dump + show lb vips verbose (parsed; simulator included) ${ms(f.briefMs)}; desired state ${ms(f.desiredMs)}, diff ${ms(f.diffMs)}`)
  console.log(`    a sync that finds a difference adds: lb_vip_dump + lb_as_v2_dump ${ms(f.dumpMs)}, observedFromDumps ${ms(f.parseMs)}`)
  console.log(`  peak RSS (daemon + simulator)  ${f.peakRssMiB.toFixed(0)} MiB`)
}

export const printReact = (f: ReactFigures): void => {
  console.log(`\nReaction to a backend going down, ${FRONTENDS.toLocaleString("en-US")} frontends x ${ASES_PER_VIP} backends configured, each backend in ${f.vipsPerBackend} VIPs`)
  console.log(`  ${f.downEvents} down + ${f.upEvents} up events in ${f.seconds.toFixed(1)} s (probes every 50 ms, rise 1 / fall 1; vppsim in the same process; live clock)`)
  if (f.downEvents < DOWN_EVENTS) console.log(`  (stopped at the ${(REACT_BUDGET_MS / 1000).toFixed(0)} s budget, short of ${DOWN_EVENTS} events; with fewer than 100, p99 is the maximum)`)
  console.log("  from the failing probe result handed to the checker:")
  console.log(`    to the first lb_as_set_weight written to the client socket   ${lat(f.downFirstWrite)}   (target p99 <= 5 ms)`)
  console.log(`    to the last of its ${f.vipsPerBackend} (every VIP of the backend)              ${lat(f.downLastWrite)}`)
  console.log(`    to the simulator applying the first / the last               ${lat(f.downFirstApplied)} / ${lat(f.downLastApplied)}`)
  console.log(`  back up: to the first request written ${lat(f.upFirstWrite)}; all applied ${lat(f.upLastApplied)}`)
  console.log(`  while a full sync of every AS runs (${f.duringEvents} down events, ${f.duringFullSyncs} full syncs of ${(FRONTENDS * ASES_PER_VIP).toLocaleString("en-US")} weight changes):`)
  console.log(`    to the first lb_as_set_weight written   ${lat(f.duringFirstWrite)}   (target p99 <= 5 ms)`)
  console.log(`    to the last of its ${f.vipsPerBackend} written               ${lat(f.duringLastWrite)}; the first applied ${lat(f.duringFirstApplied)}`)
  console.log(`  lb mutations during the flips alone: ${f.mutations.toLocaleString("en-US")} (expected ${f.expectedMutations.toLocaleString("en-US")}); warm-up took ${f.warmUpSeconds.toFixed(1)} s`)
  console.log(`  peak RSS (daemon + simulator)  ${f.peakRssMiB.toFixed(0)} MiB`)
}

// --- One scenario per process -----------------------------------------------------

type Scenario = "sync" | "react"

/** Runs one scenario in a fresh process, so its RSS is its own. */
export const runIsolated = <S extends Scenario>(scenario: S): Promise<S extends "sync" ? SyncFigures : ReactFigures> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--child", scenario], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("message", (figures) => resolve(figures as S extends "sync" ? SyncFigures : ReactFigures))
    child.once("exit", (code) => code !== 0 && reject(new Error(`reconcile benchmark (${scenario}) exited with ${code}`)))
  })

/**
 * The figure of record is issue 14's set-up, real maglevd and vppsim processes
 * (reconcileProcs.ts); `--in-process` adds the two scenarios of this file;
 * `--listing` runs only the comparison of the listing with the AS dump.
 */
export const run = async (flags: ReadonlyArray<string> = []): Promise<void> => {
  // `--listing`: only how a full sync reads every AS (reconcileListing.ts).
  if (flags.includes("--listing")) return runListing()
  printProcs(await runProcs())
  if (flags.includes("--in-process")) {
    printSync(await runIsolated("sync"))
    printReact(await runIsolated("react"))
  }
}

// A child of runIsolated, or run by hand (see the top of this file).
if (process.argv[2] === "--child") {
  const scenario = process.argv[3] as Scenario
  // Whatever happens, the child ends: a stuck scenario is reported, not waited for.
  setTimeout(() => {
    console.error(`reconcile benchmark (${scenario}): still running after 25 minutes; stopped`)
    process.exit(3)
  }, 1_500_000).unref()
  const figures = await (scenario === "sync" ? runSync() : runReact()).catch((e: unknown) => {
    console.error(`reconcile benchmark (${scenario}) failed: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  })
  if (process.send !== undefined) process.send(figures, () => process.exit(0))
  else {
    if (scenario === "sync") printSync(figures as SyncFigures)
    else printReact(figures as ReactFigures)
    process.exit(0)
  }
}
