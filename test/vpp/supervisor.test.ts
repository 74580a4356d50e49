/**
 * The VPP supervisor against the in-process simulator over real Unix sockets.
 *
 * The supervisor's schedules (reconnect 5 s, ping 10 s + 5 s timeout,
 * counters 5 s) run on the Effect clock, so these tests drive them with
 * TestClock. The sockets, though, are real: replies arrive in wall time. So
 * the tests wait for outcomes in wall time (`waitFor`), and move the virtual
 * clock in small steps with a wall-time pause between them (`advanceUntil`).
 * The transport's own timeouts (per request, stats fd hand-over) are set to an
 * hour so that moving the clock while a reply is on its way cannot fire them;
 * where the ping timeout is not the subject, it gets an hour too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, HashMap, Layer, Logger, LogLevel, Option, Scope, Stream, TestClock } from "effect"
import * as path from "node:path"
import { pollDelay } from "../../src/internal/WallClock.js"
import { tempDir } from "../sim/tempDir.js"
import { waitFor as waitForWall } from "../support/wait.js"
import { vipKey, vipKeyString } from "../../src/lb/VipKey.js"
import * as ApiServer from "../../src/sim/ApiServer.js"
import * as Simulator from "../../src/sim/Simulator.js"
import * as StatsServer from "../../src/sim/StatsServer.js"
import { lb, vlib } from "../../src/vpp/binapi/index.js"
import { LbVipCounter, WellKnown } from "../../src/vpp/stats/Layout.js"
import * as Supervisor from "../../src/vpp/Supervisor.js"
import { showLbVips } from "../../src/vpp/LbVips.js"
import * as Trace from "../../src/internal/Trace.js"
import * as dc from "node:diagnostics_channel"
import { lbConfig } from "../support/config.js"
import { vipRequest as vip } from "../support/lbScenario.js"

// ---------------------------------------------------------------------------
// Helpers

/** Fresh socket paths in a temporary directory removed with the test's scope. */
const paths = Effect.map(tempDir("vppsup-"), (d) => ({ apiSocket: path.join(d, "api.sock"), statsSocket: path.join(d, "stats.sock") }))

/** Transport timeouts that only fire on purpose (see the module comment). */
const patient = { requestTimeout: "1 hour", statsConnectTimeout: "1 hour" } as const
const quiet = { ...patient, pingTimeout: "1 hour" } as const

const sim = (p: Effect.Effect.Success<typeof paths>, extra: Partial<Simulator.SimulatorOptions> = {}) =>
  Simulator.make({ apiSocket: p.apiSocket, statsSocket: p.statsSocket, pid: 4242, ...extra })


/** Polls `probe` in wall time until it yields a value (the bound only names what never came: long, for a busy machine). */
const waitFor = <A, E>(what: string, probe: Effect.Effect<A | undefined, E>) => waitForWall(what, probe, 60_000, 5)

/** Moves the virtual clock `step` at a time, pausing in wall time for the sockets, until `probe` yields. */
const advanceUntil = <A, E>(what: string, probe: Effect.Effect<A | undefined, E>, step: Duration.DurationInput = "1 second", maxSteps = 300) =>
  Effect.gen(function*() {
    for (let i = 0; i <= maxSteps; i++) {
      const a = yield* probe
      if (a !== undefined) return a
      yield* TestClock.adjust(step)
      yield* pollDelay(10)
    }
    return yield* Effect.dieMessage(`${what} did not happen within ${maxSteps} steps of ${Duration.format(Duration.decode(step))}`)
  })

/** Fails the test instead of hanging when `effect` does not complete in wall time (generous: a busy machine). */
const within = <A, E, R>(effect: Effect.Effect<A, E, R>, ms = 30_000) =>
  Effect.raceFirst(effect, Effect.zipRight(pollDelay(ms), Effect.dieMessage(`no result within ${ms} ms`)))

const connectedAs = (sup: Supervisor.VppSupervisorShape, connectCount: number) =>
  Effect.map(sup.state, (s) => (s._tag === "Connected" && s.info.connectCount === connectCount ? s : undefined))

const disconnected = (sup: Supervisor.VppSupervisorShape, minAttempts = 0) =>
  Effect.map(sup.state, (s) => (s._tag === "Disconnected" && s.attempts >= minAttempts ? s : undefined))

interface LogRecord {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
}

/** Captures every log record; `run` provides the logger to a test body (and so to the supervisor's fibers). */
const captureLogs = () => {
  const records: Array<LogRecord> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    records.push({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
  })
  return {
    records,
    events: (event: string) => records.filter((r) => r.annotations["event"] === event),
    run: <A, E, R>(body: Effect.Effect<A, E, R>) =>
      body.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.Info))
  }
}

const confMutations = (s: Simulator.SimulatorShape) =>
  Effect.map(s.mutations, (ms) => ms.flatMap((m) => (m.op === "conf" ? [m.details] : [])))

const confCount = (s: Simulator.SimulatorShape, n: number) =>
  Effect.map(confMutations(s), (ms) => (ms.length >= n ? ms : undefined))

// ---------------------------------------------------------------------------

describe("VppSupervisor: pure parts", () => {
  it("lb_conf on the wire: absent source addresses are VPP's own 'unset' values", () => {
    expect(Supervisor.lbConfWire(lbConfig())).toEqual({
      ip4_src_address: "192.0.2.254",
      ip6_src_address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      sticky_buckets_per_core: 65536,
      flow_timeout: 40
    })
    expect(Supervisor.lbConfWire(lbConfig({ ipv4SrcAddress: undefined, ipv6SrcAddress: "2001:db8::1" }))).toMatchObject({
      ip4_src_address: "255.255.255.255",
      ip6_src_address: "2001:db8::1"
    })
  })

  it("per-VIP counters: by VIP index, the placeholder VIP 0 left out, missing columns as 0", () => {
    const counters = Supervisor.vipCountersOf({
      nextPacket: [9n, 1n, 2n],
      firstPacket: [9n, 3n],
      untrackedPacket: [],
      noServer: [0n, 0n, 5n]
    })
    expect([...counters]).toEqual([
      [1, { nextPacket: 1n, firstPacket: 3n, untrackedPacket: 0n, noServer: 0n }],
      [2, { nextPacket: 2n, firstPacket: 0n, untrackedPacket: 0n, noServer: 5n }]
    ])
    expect(Supervisor.vipCountersOf({ nextPacket: [], firstPacket: [], untrackedPacket: [], noServer: [] }).size).toBe(0)
  })

  it("counters by VIP key: listed VIPs not removed, with counters", () => {
    const c = (n: bigint) => ({ nextPacket: n, firstPacket: 0n, untrackedPacket: 0n, noServer: 0n })
    const listed = (index: number, prefix: string, removed: boolean) => ({
      index, key: vipKey(prefix, 6, 80), type: "ip4-gre4", srcIpSticky: false, removed, newSize: 1024, ases: []
    })
    const byKey = Supervisor.vipCountersByKeyOf(
      new Map([[1, c(1n)], [2, c(2n)]]),
      [listed(1, "192.0.2.1/32", true), listed(2, "192.0.2.1/32", false), listed(3, "192.0.2.3/32", false)]
    )
    expect([...byKey]).toEqual([[vipKeyString(vipKey("192.0.2.1/32", 6, 80)), c(2n)]])
  })
})

describe("VppSupervisor against the simulator", () => {
  it.scoped("connects: version, build date, pid and boot time; lb_conf pushed and logged", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      // The simulator's boot time comes from the Effect clock.
      yield* TestClock.setTime(1_760_000_000_000)
      const p = yield* paths
      const s = yield* sim(p)
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      yield* sup.setLbConf(lbConfig())
      const c = yield* within(sup.awaitConnected)
      expect(c.info).toMatchObject({
        version: "26.10-rc0~374-gb575ec2c5",
        buildDate: "2026-08-22T03:00:55",
        pid: 4242,
        connectCount: 1
      })
      const boot = yield* c.stats.scalar(WellKnown.bootTime)
      expect(c.info.bootTime).toBe(Number(boot) * 1000)
      expect(c.info.bootTime).toBe(1_760_000_000_000)
      expect(c.info.connectedAt).toBe(1_760_000_000_000)
      expect((yield* sup.connected).info.connectCount).toBe(1)
      expect((yield* s.api.registrations).map((r) => r.name)).toEqual(["vpp-maglev"])

      const pushed = yield* waitFor("the lb_conf push", confCount(s, 1))
      expect(pushed).toEqual([{
        ip4_src_address: "192.0.2.254",
        ip6_src_address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        sticky_buckets_per_core: 65536,
        flow_timeout: 40
      }])
      expect(s.lb.confGet()).toMatchObject({ ip4_src_address: "192.0.2.254", sticky_buckets_per_core: 65536, flow_timeout: 40 })
      yield* waitFor("the lb_conf log", Effect.sync(() => logs.events("vpp-lb-conf-set")[0]))

      expect(logs.events("vpp-connect")).toEqual([expect.objectContaining({
        level: "INFO",
        annotations: expect.objectContaining({
          version: "26.10-rc0~374-gb575ec2c5",
          pid: 4242,
          boottime: new Date(c.info.bootTime).toISOString(),
          connect_count: 1
        })
      })])
      expect(logs.events("vpp-lb-conf-set")).toEqual([expect.objectContaining({
        level: "INFO",
        annotations: expect.objectContaining({ ip4_src_address: "192.0.2.254", sticky_buckets_per_core: 65536, flow_timeout: 40 })
      })])
      expect(logs.events("vpp-connect-failed")).toEqual([])
    }))
  })

  it.scoped("VPP restarts: disconnect logged, reconnect after 5 s with the new pid, lb_conf pushed again", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      yield* sup.setLbConf(lbConfig())
      const pids: Array<number> = []
      yield* sup.connects.pipe(
        Stream.runForEach((c) => Effect.sync(() => pids.push(c.info.pid))),
        Effect.forkScoped
      )
      yield* within(sup.awaitConnected)
      yield* waitFor("the first lb_conf push", confCount(s, 1))

      yield* s.restart
      const down = yield* waitFor("the disconnect", disconnected(sup))
      expect(down.reason).toBe("VPP closed the API socket")
      const unavailable = yield* Effect.flip(sup.connected)
      expect(unavailable).toMatchObject({ _tag: "VppUnavailable", reason: "VPP closed the API socket" })
      expect(logs.events("vpp-disconnect")).toEqual([expect.objectContaining({
        level: "WARN",
        annotations: expect.objectContaining({ reason: "VPP closed the API socket", pid: 4242 })
      })])

      const c = yield* advanceUntil("the reconnect", connectedAs(sup, 2))
      expect(c.info.connectedAt - down.since).toBeGreaterThanOrEqual(5000)
      expect(c.info.pid).toBe(4243)
      expect(c.info.bootTime).toBe(Number(yield* c.stats.scalar(WellKnown.bootTime)) * 1000)

      // The restart reset lb_conf to VPP's defaults; the supervisor pushed it again.
      const ops = yield* waitFor("the second lb_conf push", Effect.map(s.mutations, (ms) => {
        const ops = ms.map((m) => m.op)
        return ops.filter((o) => o === "conf").length >= 2 ? ops : undefined
      }))
      expect(ops).toEqual(["conf", "restart", "conf"])
      expect(s.lb.confGet().ip4_src_address).toBe("192.0.2.254")
      yield* waitFor("both connects on the stream", Effect.sync(() => (pids.length >= 2 ? pids : undefined)))
      expect(pids).toEqual([4242, 4243])
    }))
  })

  it.scoped("a stalled VPP: no ping reply within 5 s drops the connection; reconnects once VPP answers again", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      // Default ping interval (10 s) and timeout (5 s).
      const sup = yield* Supervisor.make({ ...p, ...patient })
      const c = yield* within(sup.awaitConnected)

      // A healthy VPP answers every ping: nothing happens over half a minute.
      yield* advanceUntil("half a minute of pings", Effect.map(TestClock.currentTimeMillis, (t) => (t >= c.info.connectedAt + 30_000 ? t : undefined)))
      expect((yield* sup.state)._tag).toBe("Connected")

      yield* s.api.stall
      const stalledAt = yield* TestClock.currentTimeMillis
      const down = yield* advanceUntil("the ping timeout", disconnected(sup))
      expect(down.reason).toBe("no reply to control_ping within 5s")
      // the next ping is due within 10 s, and fails 5 s later
      expect(down.since - stalledAt).toBeGreaterThanOrEqual(5000)
      expect(down.since - stalledAt).toBeLessThanOrEqual(16_000)
      expect(logs.events("vpp-disconnect")).toEqual([expect.objectContaining({
        level: "WARN",
        annotations: expect.objectContaining({ reason: "no reply to control_ping within 5s" })
      })])

      // Still stalled: the next attempt's handshake waits; nothing connects.
      yield* advanceUntil("some retries", Effect.map(TestClock.currentTimeMillis, (t) => (t >= down.since + 20_000 ? t : undefined)))
      expect((yield* sup.state)._tag).toBe("Disconnected")

      yield* s.api.resume
      const again = yield* advanceUntil("the reconnect", connectedAs(sup, 2))
      expect(again.info.pid).toBe(4242)
      // The old registration went away; only the new one is left.
      yield* waitFor("one registration", Effect.map(s.api.registrations, (rs) => (rs.length === 1 ? rs : undefined)))
    }))
  })

  it.scoped("lb_conf: the same value is not pushed again, a change is; a refusal is logged with VPP's error name", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      const a = lbConfig()
      const b = lbConfig({ flowTimeoutSeconds: 60, ipv6SrcAddress: "2001:db8::fe" })
      yield* within(sup.awaitConnected)
      yield* sup.setLbConf(a)
      yield* waitFor("the first push", confCount(s, 1))

      // The watcher takes changes in order: `a` again is skipped before `b` is pushed.
      yield* sup.setLbConf(a)
      yield* sup.setLbConf(b)
      const pushed = yield* waitFor("the second push", confCount(s, 2))
      expect(pushed.map((c) => c.flow_timeout)).toEqual([40, 60])
      expect(s.lb.confGet()).toMatchObject({ ip6_src_address: "2001:db8::fe", flow_timeout: 60 })
      yield* waitFor("two lb_conf logs", Effect.sync(() => (logs.events("vpp-lb-conf-set").length === 2 ? true : undefined)))
      expect(logs.events("vpp-lb-conf-set")[1]!.annotations).toMatchObject({ flow_timeout: 60, ip6_src_address: "2001:db8::fe" })

      // VPP refuses a sticky table that is not a power of two (-70).
      const bad = lbConfig({ stickyBucketsPerCore: 1000 })
      yield* sup.setLbConf(bad)
      const failed = yield* waitFor("the refusal", Effect.sync(() => logs.events("vpp-lb-conf-failed")[0]))
      expect(failed).toMatchObject({
        level: "ERROR",
        annotations: { error: "VNET_API_ERROR_INVALID_MEMORY_SIZE", retval: -70, sticky_buckets_per_core: 1000 }
      })
      // Not retried against the same refusal, and not a reason to reconnect.
      yield* sup.setLbConf(bad)
      yield* sup.setLbConf(b)
      yield* waitFor("the push after the refusal", confCount(s, 3))
      expect(logs.events("vpp-lb-conf-failed")).toHaveLength(1)
      expect((yield* sup.connected).info.connectCount).toBe(1)
      expect(logs.events("vpp-disconnect")).toEqual([])
    }))
  })

  it.scoped("disabled when the API socket is empty: nothing attempted, one vpp-disabled line", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const sup = yield* Supervisor.make({ apiSocket: "", statsSocket: "/nonexistent/stats.sock" })
      expect(yield* sup.state).toEqual({ _tag: "Disabled" })
      const error = yield* Effect.flip(sup.connected)
      expect(error._tag).toBe("VppUnavailable")
      expect(error.reason).toMatch(/disabled/)
      expect((yield* Effect.flip(sup.awaitConnected))._tag).toBe("VppUnavailable")
      yield* sup.setLbConf(lbConfig())
      yield* TestClock.adjust("10 minutes")
      expect(yield* sup.state).toEqual({ _tag: "Disabled" })
      expect((yield* sup.vipCounters).size).toBe(0)
      expect(logs.records.map((r) => [r.level, r.annotations["event"]])).toEqual([["INFO", "vpp-disabled"]])
    }))
  })

  it.scoped("stats socket missing: the API connection is closed again; connects once the stats socket appears", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const s = yield* Simulator.make({ apiSocket: p.apiSocket, pid: 4242 })
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      const down = yield* advanceUntil("two failed attempts", disconnected(sup, 2))
      expect(down.reason).toContain(`stats segment at ${p.statsSocket}`)
      // The API socket did connect each time (the simulator saw the client), and was closed again.
      expect(logs.events("vppsim-client-connect").length).toBeGreaterThanOrEqual(2)
      yield* waitFor("no registration left", Effect.map(s.api.registrations, (rs) => (rs.length === 0 ? true : undefined)))

      const stats = yield* StatsServer.make({ socketPath: p.statsSocket })
      const c = yield* advanceUntil("the connect", connectedAs(sup, 1))
      expect(c.info.bootTime).toBe(Number(stats.segment.getScalar(WellKnown.bootTime)) * 1000)
      expect(logs.events("vpp-connect-failed")).toHaveLength(1)
      expect(logs.events("vpp-connect")[0]!.annotations["failed_attempts"]).toBeGreaterThanOrEqual(2)
    }))
  })

  it.scoped("counters: the four lb counters per VIP index, summed over threads, every 5 s, cleared on disconnect", () =>
    Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p, { workers: 2 })
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      const c = yield* within(sup.awaitConnected)
      yield* c.connection.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.1/32"))
      yield* c.connection.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, vip("192.0.2.2/32"))
      yield* s.traffic(2, 5, 0)
      yield* s.traffic(2, 7, 2)
      s.stats!.segment.addLbTraffic(1, 3, { counter: LbVipCounter.noServer, thread: 1 })

      const read = yield* advanceUntil("the counters", Effect.map(sup.vipCounters, (m) => (m.get(2)?.nextPacket === 12n ? m : undefined)))
      expect([...read]).toEqual([
        [1, { nextPacket: 0n, firstPacket: 0n, untrackedPacket: 0n, noServer: 3n }],
        [2, { nextPacket: 12n, firstPacket: 0n, untrackedPacket: 0n, noServer: 0n }]
      ])

      // The last read was at most one step ago: the next one is at least 4 s away.
      yield* s.traffic(2, 1, 0)
      yield* TestClock.adjust("3 seconds")
      yield* pollDelay(20)
      expect((yield* sup.vipCounters).get(2)?.nextPacket).toBe(12n)
      yield* advanceUntil("the next read", Effect.map(sup.vipCounters, (m) => (m.get(2)?.nextPacket === 13n ? m : undefined)))

      yield* s.api.dropConnections()
      yield* waitFor("the disconnect", disconnected(sup))
      expect((yield* sup.vipCounters).size).toBe(0)

      const again = yield* advanceUntil("the reconnect", connectedAs(sup, 2))
      expect(again.info.pid).toBe(4242)
      yield* advanceUntil("counters after the reconnect", Effect.map(sup.vipCounters, (m) => (m.get(2)?.nextPacket === 13n ? m : undefined)))
    }))

  it.scoped("counters by VIP key: show lb vips verbose maps pool indices to keys, removed VIPs left out; cleared on disconnect", () =>
    Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      const c = yield* within(sup.awaitConnected)
      const add = (v: ReturnType<typeof vip>) => c.connection.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, v)
      yield* add(vip("192.0.2.1/32"))
      yield* add(vip("2001:db8::1/64", { protocol: 255, port: 0, encap: "LB_API_ENCAP_TYPE_GRE6", src_ip_sticky: true }))
      yield* add(vip("192.0.2.1/32", { is_del: true }))
      yield* add(vip("192.0.2.1/32"))
      // What the LB sync says after adding or deleting a VIP: the next scrape lists the VIPs again.
      yield* sup.lbVipsChanged
      // Pool indices 1 (deleted, not yet collected), 2 (the IPv6 VIP) and 3 (192.0.2.1 again).
      expect(s.lb.vipIndices().map((e) => [e.index, e.used])).toEqual([[1, false], [2, true], [3, true]])
      yield* s.traffic(1, 100)
      yield* s.traffic(2, 5)
      yield* s.traffic(3, 7)

      const v4 = vipKeyString(vipKey("192.0.2.1/32", 6, 80))
      const v6 = vipKeyString(vipKey("2001:db8::/64", 255, 0))
      const byKey = yield* advanceUntil("the keyed counters", Effect.map(sup.vipCountersByKey, (m) => (m.size === 2 ? m : undefined)))
      expect([...byKey.keys()].sort()).toEqual([v4, v6].sort())
      expect(byKey.get(v4)).toEqual({ nextPacket: 7n, firstPacket: 0n, untrackedPacket: 0n, noServer: 0n })
      expect(byKey.get(v6)?.nextPacket).toBe(5n)
      expect((yield* sup.vipCounters).get(1)?.nextPacket).toBe(100n)
      expect((yield* sup.lbVips).map((v) => [v.index, v.removed, v.srcIpSticky])).toEqual([[1, true, false], [2, false, true], [3, false, false]])

      yield* s.api.dropConnections()
      yield* waitFor("the disconnect", disconnected(sup))
      expect((yield* sup.vipCountersByKey).size).toBe(0)
      expect(yield* sup.lbVips).toEqual([])
    }))

  it.scoped("the listing is read at a connection's first scrape, after lbVipsChanged and when listingMaxAge old; an offered one counts; counters keyed through the kept one", () =>
    Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      // Every `show lb vips verbose` this process reads (the supervisor's, and the one offered below).
      let reads = 0
      const onPoint = (m: unknown) => {
        if ((m as Trace.Point).stage === "cli-read") reads++
      }
      dc.subscribe(Trace.CHANNEL, onPoint)
      yield* Effect.addFinalizer(() => Effect.sync(() => dc.unsubscribe(Trace.CHANNEL, onPoint)))
      const sup = yield* Supervisor.make({ ...p, ...quiet, listingMaxAge: "60 seconds" })
      const c = yield* within(sup.awaitConnected)
      yield* waitFor("the first listing", Effect.map(sup.lbVipsAt, (at) => (at === 0 ? true : undefined)))
      expect(reads).toBe(1)
      const add = (v: ReturnType<typeof vip>) => c.connection.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, v)
      const nextOf = (index: number, n: bigint) => Effect.map(sup.vipCounters, (m) => (m.get(index)?.nextPacket === n ? m : undefined))
      const keyedNext = (key: string, n: bigint) => Effect.map(sup.vipCountersByKey, (m) => (m.get(key)?.nextPacket === n ? m : undefined))

      // A VIP added behind the supervisor's back: its counters by index, not by key (no listing yet).
      // Scrapes run one after another: the second one's counters mean the first one is over.
      yield* add(vip("192.0.2.1/32"))
      yield* s.traffic(1, 3)
      yield* advanceUntil("a scrape", nextOf(1, 3n))
      yield* s.traffic(1, 1)
      yield* advanceUntil("another scrape", nextOf(1, 4n))
      expect(reads).toBe(1)
      expect((yield* sup.vipCountersByKey).size).toBe(0)

      // Said to have changed: the next scrape lists, and later ones key the counters through that listing.
      const v4 = vipKeyString(vipKey("192.0.2.1/32", 6, 80))
      yield* sup.lbVipsChanged
      yield* advanceUntil("the keyed counters", keyedNext(v4, 4n))
      expect(reads).toBe(2)
      const listedAt = yield* sup.lbVipsAt
      yield* s.traffic(1, 2)
      yield* advanceUntil("a later scrape", keyedNext(v4, 6n))
      expect(reads).toBe(2)
      expect(yield* sup.lbVipsAt).toBe(listedAt)

      // A listing offered (as the full sync does with its own): kept, and the counters keyed through it.
      yield* add(vip("192.0.2.2/32"))
      yield* s.traffic(2, 9)
      const v4b = vipKeyString(vipKey("192.0.2.2/32", 6, 80))
      const offered = yield* showLbVips(c.connection, { ases: "lazy" })
      yield* sup.offerLbVips(c.connection, offered)
      expect(reads).toBe(3)
      expect(yield* sup.lbVips).toBe(offered)
      const offeredAt = yield* sup.lbVipsAt
      yield* advanceUntil("the offered listing's keys", keyedNext(v4b, 9n))
      expect(reads).toBe(3)
      // One from another connection is not kept.
      yield* sup.offerLbVips({ ...c.connection }, [])
      expect(yield* sup.lbVips).toBe(offered)

      // Once the kept listing is listingMaxAge old, a scrape reads it again.
      yield* advanceUntil("a listing 60 s on", Effect.sync(() => (reads === 4 ? true : undefined)))
      const relistedAt = (yield* sup.lbVipsAt)!
      expect(relistedAt - offeredAt!).toBeGreaterThanOrEqual(60_000)
      expect(relistedAt - offeredAt!).toBeLessThan(60_000 + 5_000 + 1_000)
    }))

  it.scoped("a listing VPP's text does not parse: warned once, the connection and the counters by index stay", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const api = yield* ApiServer.make({
        path: p.apiSocket,
        handlers: {
          [vlib.CliInband.name]: () => [{ message: vlib.CliInbandReply, fields: { retval: 0, reply: " ip4-gre4 1 192.0.2.1/32\n" } }]
        }
      })
      const stats = yield* StatsServer.make({ socketPath: p.statsSocket })
      stats.segment.lbVipAdded(1)
      stats.segment.addLbTraffic(1, 4)
      const sup = yield* Supervisor.make({ ...p, ...quiet })
      yield* advanceUntil("the connect", connectedAs(sup, 1))
      yield* advanceUntil("the failure", Effect.sync(() => logs.events("vpp-lb-vips-failed")[0]))
      expect(logs.events("vpp-lb-vips-failed")[0]).toMatchObject({
        level: "WARN",
        annotations: expect.objectContaining({ error: "LbVipsParseError", reason: expect.stringContaining("line 1") })
      })
      expect((yield* sup.vipCounters).get(1)?.nextPacket).toBe(4n)
      expect((yield* sup.vipCountersByKey).size).toBe(0)
      expect(yield* sup.lbVips).toEqual([])

      // Later scrapes still read the counters; the same failure again is logged at debug only.
      stats.segment.addLbTraffic(1, 1)
      yield* advanceUntil("the next scrape", Effect.map(sup.vipCounters, (m) => (m.get(1)?.nextPacket === 5n ? m : undefined)))
      stats.segment.addLbTraffic(1, 1)
      yield* advanceUntil("another scrape", Effect.map(sup.vipCounters, (m) => (m.get(1)?.nextPacket === 6n ? m : undefined)))
      expect(logs.events("vpp-lb-vips-failed")).toHaveLength(1)
      expect((yield* sup.state)._tag).toBe("Connected")
      expect(yield* api.registrations).toHaveLength(1)
    }))
  })

  it.scoped("connect failures are logged once per reason, with a reminder; every attempt counted", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const sup = yield* Supervisor.make({ ...p, ...quiet, failureReminder: "1 minute" })
      const first = yield* advanceUntil("12 attempts", disconnected(sup, 12), "5 seconds")
      expect(first.reason).toBe(`cannot connect to VPP at ${p.apiSocket}: ENOENT`)
      expect(first.since).toBe(0)
      expect(logs.events("vpp-connect-failed")).toEqual([expect.objectContaining({
        level: "WARN",
        annotations: expect.objectContaining({ reason: first.reason, attempts: 1 })
      })])

      // VPP's API socket appears but its stats socket does not: a new reason, logged once.
      yield* Simulator.make({ apiSocket: p.apiSocket, pid: 4242 })
      yield* advanceUntil("the new reason", Effect.sync(() => (logs.events("vpp-connect-failed").length >= 2 ? true : undefined)), "5 seconds")
      const second = logs.events("vpp-connect-failed")[1]!
      expect(second.annotations["reason"]).toContain(`stats segment at ${p.statsSocket}`)

      // The same reason a minute later: one reminder.
      yield* advanceUntil("the reminder", Effect.sync(() => (logs.events("vpp-connect-failed").length >= 3 ? true : undefined)), "5 seconds")
      const third = logs.events("vpp-connect-failed")[2]!
      expect(third.annotations).toMatchObject({ reason: second.annotations["reason"], repeated: true })
      const state = yield* sup.state
      expect(state).toMatchObject({ _tag: "Disconnected", since: 0, reason: second.annotations["reason"] })
      expect(state._tag === "Disconnected" && state.attempts).toBeGreaterThanOrEqual(12 + 13)
      expect(logs.events("vpp-connect-failed")).toHaveLength(3)
    }))
  })

  it.scoped("closing the layer's scope says goodbye (sockclnt_delete) and stops every fiber", () => {
    const logs = captureLogs()
    return logs.run(Effect.gen(function*() {
      const p = yield* paths
      const s = yield* sim(p)
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Supervisor.layer({ ...p, ...quiet }), scope)
      const sup = Context.get(context, Supervisor.VppSupervisor)
      yield* within(sup.awaitConnected)
      expect(yield* s.api.registrations).toHaveLength(1)

      yield* Scope.close(scope, Exit.void)
      expect(yield* s.api.registrations).toEqual([])
      expect(yield* s.api.dropped).toBe(0)
      expect(yield* sup.state).toMatchObject({ _tag: "Disconnected", reason: "supervisor stopped" })
      expect(logs.events("vpp-disconnect")).toEqual([expect.objectContaining({
        level: "INFO",
        annotations: expect.objectContaining({ reason: "supervisor stopped" })
      })])

      // Nothing runs any more: no reconnect however long we wait.
      yield* TestClock.adjust("1 minute")
      yield* pollDelay(50)
      expect(yield* s.api.registrations).toEqual([])
      expect(logs.events("vppsim-client-connect")).toHaveLength(1)
      expect(Option.isNone(yield* Effect.option(sup.connected))).toBe(true)
    }))
  })
})
