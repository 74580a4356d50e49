import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Scope, TestClock } from "effect"
import * as Native from "../../src/native/Native.js"
import { DEFAULT_BASE, StatsSegment } from "../../src/sim/StatsSegment.js"
import * as StatsServer from "../../src/sim/StatsServer.js"
import * as StatsClient from "../../src/vpp/stats/StatsClient.js"
import { Entry, Header, LB_VIP_COUNTERS, LbVipCounter } from "../../src/vpp/stats/Layout.js"
import { waitFor } from "../support/wait.js"

const BOOT = 1_760_000_000
const SIZE = 1 << 20

let tmp = ""
let counter = 0
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vppmaglev-stats-"))
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})
const nextSocket = () => path.join(tmp, `stats-${++counter}.sock`)
const uniqueName = () => `vppmaglev-stats-${process.pid}-${++counter}`

/** A test seam the client calls at each read step; tests swap the function in. */
interface Seam {
  hook: StatsClient.StepHook | undefined
}

const setup = (
  options: Partial<StatsServer.StatsServerOptions> & { readonly client?: StatsClient.StatsClientOptions } = {}
) =>
  Effect.gen(function* () {
    const socketPath = nextSocket()
    const { client: clientOptions, ...serverOptions } = options
    const server = yield* StatsServer.make({ socketPath, size: SIZE, workers: 2, bootTime: BOOT, ...serverOptions })
    const seam: Seam = { hook: undefined }
    const client = yield* StatsClient.make({
      socketPath,
      onReadStep: (step, n) => seam.hook?.(step, n),
      ...clientOptions
    })
    return { socketPath, server, segment: server.segment, client, seam }
  })

/** Receives the segment fd the way VPP clients do, with nothing of ours in between. */
const rawReceive = (socketPath: string) =>
  Effect.gen(function* () {
    const sock = Native.seqpacketConnect(socketPath)
    const poll = <A>(f: () => A | null): Effect.Effect<A> =>
      Effect.suspend(() => {
        const a = f()
        return a === null ? Effect.zipRight(Effect.sleep("5 millis"), poll(f)) : Effect.succeed(a)
      })
    const message = yield* poll(() => Native.recvWithFds(sock))
    const eof = yield* poll(() => Native.recvWithFds(sock))
    Native.close(sock)
    return { message, eof }
  })

const permissions = (memfdName: string): Array<string> =>
  fs
    .readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.includes(`/memfd:${memfdName}`))
    .map((line) => line.split(/\s+/)[1] ?? "")

const openFdsTo = (memfdName: string): number =>
  fs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(`/memfd:${memfdName}`)
    } catch {
      return false
    }
  }).length

const reasonOf = (result: Either.Either<unknown, { readonly _tag: string }>): string =>
  Either.isLeft(result) && result.left._tag === "StatsConnectError" ? (result.left as unknown as { reason: string }).reason : ""

/** Deterministic PRNG (mulberry32). */
const prng = (seed: number) => {
  let a = seed >>> 0
  return (n: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

describe("stats server", () => {
  it.scopedLive("hands out the memfd with zero data bytes, then closes; the segment is laid out as in vpp-wire.md §4.2", () =>
    Effect.gen(function* () {
      const { socketPath, segment } = yield* setup()
      segment.lbVipAdded(1)
      segment.addLbTraffic(1, 5, { thread: 2 })

      const { message, eof } = yield* rawReceive(socketPath)
      expect(message.data.length).toBe(0)
      expect(message.fds).toHaveLength(1)
      expect(Native.isEndOfStream(eof)).toBe(true)
      const fd = message.fds[0]!
      const size = Native.fstatSize(fd)
      expect(size).toBe(SIZE)
      const ro = Native.mmap(fd, size)
      Native.close(fd)
      yield* Effect.addFinalizer(() => Effect.sync(() => Native.munmap(ro)))

      // Decoded with the doc's numbers only, not our Layout module.
      const v = new DataView(ro)
      const u64 = (at: number) => v.getBigUint64(at, true)
      expect(u64(0)).toBe(2n) // version
      const base = u64(8)
      expect(base).toBe(DEFAULT_BASE)
      expect(base).not.toBe(0n)
      expect(u64(16)).toBeGreaterThanOrEqual(1n) // epoch
      expect(u64(24)).toBe(0n) // in_progress
      expect(u64(40)).toBe(0n) // legacy error vector
      const adjust = (p: bigint) => Number(p - base)
      const dir = adjust(u64(32))
      expect(dir).toBeGreaterThanOrEqual(4096) // the heap starts at page_size
      const dirLen = v.getUint32(dir - 8, true)
      const entry = (i: number) => {
        const at = dir + i * 144
        const nameBytes = new Uint8Array(ro, at + 16, 128)
        const name = Buffer.from(nameBytes.subarray(0, nameBytes.indexOf(0))).toString("ascii")
        return { type: v.getUint32(at, true), value: u64(at + 8), name }
      }
      expect([0, 1, 2].map((i) => [entry(i).name, entry(i).type])).toEqual([
        ["/sys/heartbeat", 1],
        ["/sys/last_stats_clear", 1],
        ["/sys/boottime", 1]
      ])
      expect(entry(2).value).toBe(BigInt(BOOT))
      const all = Array.from({ length: dirLen }, (_, i) => entry(i))
      expect(all.find((e) => e.name === "/sys/num_worker_threads")).toMatchObject({ type: 9, value: 2n })

      const counterEntry = all.find((e) => e.name === "packet from existing sessions")!
      expect(counterEntry.type).toBe(2)
      const threads = adjust(counterEntry.value)
      expect(v.getUint32(threads - 8, true)).toBe(3)
      const rows = [0, 1, 2].map((t) => adjust(u64(threads + 8 * t)))
      expect(rows.map((r) => v.getUint32(r - 8, true))).toEqual([2, 2, 2])
      expect(rows.map((r) => [u64(r), u64(r + 8)])).toEqual([
        [0n, 0n],
        [0n, 0n],
        [0n, 5n]
      ])
      expect(all.filter((e) => LB_VIP_COUNTERS.includes(e.name as LbVipCounter)).map((e) => e.type)).toEqual([2, 2, 2, 2])
    })
  )

  it.scopedLive("serves many clients; closing its scope unlinks the socket, clients keep their mappings", () =>
    Effect.gen(function* () {
      const socketPath = nextSocket()
      const serverScope = yield* Scope.make()
      const server = yield* StatsServer.make({ socketPath, size: SIZE, bootTime: BOOT }).pipe(
        Scope.extend(serverScope)
      )
      const clients = yield* Effect.all(
        Array.from({ length: 3 }, () => StatsClient.make({ socketPath })),
        { concurrency: "unbounded" }
      )
      expect(yield* server.served).toBe(3)
      server.segment.setScalar("/sys/heartbeat", 7)
      for (const client of clients) expect(yield* client.scalar("/sys/heartbeat")).toBe(7n)

      yield* Scope.close(serverScope, Exit.void)
      expect(fs.existsSync(socketPath)).toBe(false)
      const after = yield* Effect.either(StatsClient.make({ socketPath }))
      expect(after).toMatchObject(Either.left({ _tag: "StatsConnectError", code: "ENOENT" }))
      // The memfd lives on in the clients' mappings.
      expect(yield* clients[0]!.scalar("/sys/boottime")).toBe(BigInt(BOOT))
    })
  )

  it.scoped("the collector's heartbeat runs on the Clock (TestClock here)", () =>
    Effect.gen(function* () {
      const server = yield* StatsServer.make({ socketPath: nextSocket(), size: SIZE })
      expect(server.segment.getScalar("/sys/heartbeat")).toBe(0n)
      yield* TestClock.adjust("35 seconds")
      expect(server.segment.getScalar("/sys/heartbeat")).toBe(3n)
    })
  )

  it.scopedLive("the collector bumps /sys/heartbeat every update interval", () =>
    Effect.gen(function* () {
      const { client } = yield* setup({ heartbeatInterval: Duration.millis(15) })
      // Wait for the beats, not for time: on a busy machine 120 ms may hold fewer than three.
      const beats = yield* waitFor("three heartbeats", Effect.map(client.scalar("/sys/heartbeat"), (n) => (n >= 3n ? n : undefined)), 60_000, 15)
      expect(beats).toBeGreaterThanOrEqual(3n)
    })
  )
})

describe("stats client", () => {
  it.scopedLive("lists the well-known entries and reads /sys/boottime and /sys/num_worker_threads", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup({ workers: 3 })
      const entries = yield* client.entries
      expect(entries.slice(0, 3)).toEqual([
        { index: 0, name: "/sys/heartbeat", type: 1, typeName: "scalar-index" },
        { index: 1, name: "/sys/last_stats_clear", type: 1, typeName: "scalar-index" },
        { index: 2, name: "/sys/boottime", type: 1, typeName: "scalar-index" }
      ])
      expect(yield* client.names).toContain("/sys/num_worker_threads")
      expect(yield* client.scalar("/sys/boottime")).toBe(BigInt(BOOT))
      expect(yield* client.scalar("/sys/num_worker_threads")).toBe(3n)
      expect(yield* client.scalar("/sys/heartbeat")).toBe(0n)
      segment.heartbeat()
      segment.heartbeat()
      expect(yield* client.scalar("/sys/heartbeat")).toBe(2n)
      expect(client.segmentSize).toBe(SIZE)
    })
  )

  it.scopedLive("reads the lb per-VIP counters after the writer bumps them, summed over threads", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup()
      expect(yield* client.names).not.toContain(LbVipCounter.nextPacket)
      segment.lbVipAdded(1)
      segment.lbVipAdded(2)
      const names = yield* client.names
      for (const name of LB_VIP_COUNTERS) {
        expect(names).toContain(name)
        expect(name.startsWith("/")).toBe(false)
      }
      segment.addLbTraffic(1, 5, { thread: 0 })
      segment.addLbTraffic(1, 7, { thread: 2 })
      segment.addLbTraffic(2, 1, { thread: 1 })
      segment.addLbTraffic(2, 3, { thread: 1, counter: LbVipCounter.firstPacket })
      expect(yield* client.simpleCounter(LbVipCounter.nextPacket)).toEqual([
        [0n, 5n, 0n],
        [0n, 0n, 1n],
        [0n, 7n, 0n]
      ])
      expect(yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).toEqual([0n, 12n, 1n])
      expect(yield* client.simpleCounterTotals(LbVipCounter.firstPacket)).toEqual([0n, 0n, 3n])
      expect(yield* client.simpleCounterTotals(LbVipCounter.noServer)).toEqual([0n, 0n, 0n])
      // The writer's one-column read (what `show lb vips verbose` prints) sums the same cells.
      for (let vip = 0; vip < 3; vip++) {
        expect(segment.lbVipCounterValues(vip)).toEqual(
          LB_VIP_COUNTERS.map((name) => segment.readSimpleCounter(name).reduce((sum, row) => sum + row[vip]!, 0n))
        )
      }
      for (const beyond of [3, 1000, -1, 1.5]) expect(segment.lbVipCounterValues(beyond)).toEqual([0n, 0n, 0n, 0n])
      // A VIP index reused by a new VIP starts from zero again.
      segment.lbVipAdded(1)
      expect(yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).toEqual([0n, 0n, 1n])
      // u64 values beyond 2^53 survive.
      segment.addLbTraffic(2, 2n ** 60n, { thread: 0 })
      expect(yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).toEqual([0n, 0n, 2n ** 60n + 1n])
    })
  )

  it.scopedLive("grows the vectors as VIPs are added: in place within capacity, moved (and epoch bumped) beyond", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup()
      segment.lbVipAdded(1)
      const layout = segment.counterLayout(LbVipCounter.nextPacket)!
      const epoch = segment.epoch
      for (let vip = 2; vip <= 7; vip++) segment.lbVipAdded(vip)
      expect(segment.epoch).toBe(epoch)
      expect(segment.counterLayout(LbVipCounter.nextPacket)).toEqual(layout)
      expect((yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).length).toBe(8)

      const model = new Map<number, bigint>()
      for (let vip = 8; vip <= 60; vip++) {
        segment.lbVipAdded(vip)
        segment.addLbTraffic(vip, vip * 3, { thread: vip % 3 })
        model.set(vip, BigInt(vip * 3))
        if (vip % 10 === 0) {
          const totals = yield* client.simpleCounterTotals(LbVipCounter.nextPacket)
          expect(totals.length).toBe(vip + 1)
          for (const [v, n] of model) expect(totals[v]).toBe(n)
        }
      }
      expect(segment.epoch).toBeGreaterThan(epoch)
      const moved = segment.counterLayout(LbVipCounter.nextPacket)!
      expect(moved.rows).not.toEqual(layout.rows)
      const matrix = yield* client.simpleCounter(LbVipCounter.nextPacket)
      expect(matrix.map((row) => row.length)).toEqual([61, 61, 61])
      expect(matrix[60 % 3]![60]).toBe(180n)
      // The directory vector itself moves when it outgrows its allocation.
      const dir = segment.directoryOffset
      for (let i = 0; i < 40; i++) segment.addGauge(`/test/gauge-${i}`, i)
      expect(segment.directoryOffset).not.toBe(dir)
      expect(yield* client.scalar("/test/gauge-39")).toBe(39n)
      expect((yield* client.names).length).toBe(segment.names().length)
    })
  )

  it.scopedLive("rebuilds the directory cache only when the epoch changes", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup()
      segment.lbVipAdded(1)
      yield* client.names
      const diag = () => client.diagnostics.pipe(Effect.map((d) => d.directoryBuilds))
      expect(yield* diag()).toBe(1)
      expect((yield* client.diagnostics).cachedEpoch).toBe(segment.epoch)

      // Value changes and in-place growth leave the epoch, and the cache, alone.
      yield* client.scalar("/sys/boottime")
      segment.addLbTraffic(1, 4, { thread: 1 })
      segment.setScalar("/sys/last_stats_clear", 123)
      segment.lbVipAdded(2)
      expect(yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).toEqual([0n, 4n, 0n])
      expect(yield* client.scalar("/sys/last_stats_clear")).toBe(123n)
      expect(yield* diag()).toBe(1)

      segment.addGauge("/test/new", 9)
      expect(yield* client.scalar("/test/new")).toBe(9n)
      expect(yield* diag()).toBe(2)
      yield* client.names
      expect(yield* diag()).toBe(2)

      segment.removeEntry("/test/new")
      expect(yield* Effect.either(client.scalar("/test/new"))).toMatchObject(
        Either.left({ _tag: "StatsEntryNotFound", name: "/test/new" })
      )
      expect(yield* diag()).toBe(3)
      expect((yield* client.diagnostics).retries).toBe(0)
    })
  )

  it.scopedLive("waits while in_progress is set, and gives up with StatsBusy after the busy timeout", () =>
    Effect.gen(function* () {
      // A patient client for the wait (a 200 ms busy timeout could expire during the 40 ms on a
      // busy machine), an impatient one for the timeout.
      const { client, segment, socketPath } = yield* setup({ client: { busyTimeout: Duration.minutes(1) } })
      const impatient = yield* StatsClient.make({ socketPath, busyTimeout: Duration.millis(200) })
      segment.lock()
      const reading = yield* Effect.fork(client.names)
      yield* Effect.sleep("40 millis")
      expect(reading.unsafePoll()).toBeNull()
      segment.addGauge("/test/added-while-locked")
      segment.unlock()
      expect(yield* Fiber.join(reading)).toContain("/test/added-while-locked")

      segment.lock()
      const busy = yield* Effect.either(impatient.scalar("/sys/boottime"))
      segment.unlock()
      expect(busy).toMatchObject(Either.left({ _tag: "StatsBusy", reason: "in-progress" }))
      expect(yield* client.scalar("/sys/boottime")).toBe(BigInt(BOOT))
    })
  )

  it.scopedLive("retries a read torn by a directory change between its steps", () =>
    Effect.gen(function* () {
      const { client, segment, seam } = yield* setup()
      for (const name of ["/t/a", "/t/b", "/t/c"]) segment.addGauge(name)
      yield* client.names
      segment.addGauge("/t/d") // the next read must rebuild

      // While the directory is being scanned, /t/a (already passed) is removed and
      // /t/e reuses its slot. A read that did not check the epoch would list /t/a, not /t/e.
      const b = segment.entryIndex("/t/b")!
      let fired = 0
      seam.hook = (step, n) => {
        if (step === "directory-entry" && n === b && fired++ === 0) {
          segment.removeEntry("/t/a")
          segment.addGauge("/t/e")
        }
      }
      const names = yield* client.names
      expect(fired).toBeGreaterThan(0)
      expect(names).toEqual(segment.names())
      expect(names).toContain("/t/e")
      expect(names).not.toContain("/t/a")
      expect((yield* client.diagnostics).retries).toBe(1)

      // A counter read whose rows move (and whose old rows are poisoned) after thread 0.
      segment.lbVipAdded(1)
      segment.addLbTraffic(1, 11, { thread: 2 })
      let grown = false
      seam.hook = (step, n) => {
        if (step === "row" && n === 0 && !grown) {
          grown = true
          segment.lbVipAdded(30)
          segment.addLbTraffic(30, 2, { thread: 2 })
        }
      }
      const matrix = yield* client.simpleCounter(LbVipCounter.nextPacket)
      expect(grown).toBe(true)
      expect(matrix).toEqual(segment.readSimpleCounter(LbVipCounter.nextPacket))
      expect(matrix.map((r) => r.length)).toEqual([31, 31, 31])
      expect(matrix[2]![1]).toBe(11n)
      expect((yield* client.diagnostics).retries).toBe(2)

      // The entry disappears between resolving and reading: consistently not found.
      seam.hook = (step) => {
        if (step === "resolved") segment.removeEntry("/t/b")
      }
      expect(yield* Effect.either(client.scalar("/t/b"))).toMatchObject(Either.left({ _tag: "StatsEntryNotFound" }))

      // An epoch bump just before the final check is enough to discard the read.
      const retries = (yield* client.diagnostics).retries
      let bumps = 0
      seam.hook = (step) => {
        if (step === "verify" && bumps++ < 2) segment.withLock(() => {})
      }
      expect(yield* client.scalar("/sys/boottime")).toBe(BigInt(BOOT))
      expect((yield* client.diagnostics).retries).toBe(retries + 2)

      // A writer that never lets a read finish: bounded retries, then StatsBusy.
      seam.hook = (step) => {
        if (step === "verify") segment.withLock(() => {})
      }
      expect(yield* Effect.either(client.names)).toMatchObject(
        Either.left({ _tag: "StatsBusy", reason: "epoch-unstable", attempts: 10 })
      )
      seam.hook = undefined
    })
  )

  it.scopedLive("never returns a torn directory or vector while a writer adds, removes and grows entries mid-read", () =>
    Effect.gen(function* () {
      const { client, segment, seam } = yield* setup({ size: 4 << 20 })
      const random = prng(0x5eed)
      const gauges = new Set<string>()
      const counters = new Map<string, number>() // name -> highest validated column
      let serial = 0
      // Growing a row within its capacity changes its length in place, without an
      // epoch change (as in VPP): a read may then see rows shorter than the writer's.
      let grewInPlace = false

      const pick = <A>(items: ReadonlyArray<A>): A | undefined => items[random(items.length)]
      const writerOp = () => {
        switch (random(6)) {
          case 0: {
            const name = `/p/gauge-${serial++}`
            segment.addGauge(name, random(1000))
            gauges.add(name)
            break
          }
          case 1: {
            const name = pick([...gauges])
            if (name !== undefined) {
              segment.removeEntry(name)
              gauges.delete(name)
            }
            break
          }
          case 2: {
            const name = `/p/counter-${serial++}`
            const columns = 1 + random(12)
            segment.addSimpleCounter(name, columns)
            counters.set(name, columns - 1)
            break
          }
          case 3: {
            const name = pick([...counters.keys()])
            if (name !== undefined) {
              segment.removeEntry(name)
              counters.delete(name)
            }
            break
          }
          default: {
            const name = pick([...counters.keys()])
            if (name !== undefined) {
              const column = counters.get(name)! + 1 + random(20)
              const epoch = segment.epoch
              segment.validateSimpleCounter(name, column)
              if (segment.epoch === epoch) grewInPlace = true
              counters.set(name, column)
            }
          }
        }
      }
      for (let i = 0; i < 10; i++) writerOp()

      let retriedReads = 0
      let inPlaceReads = 0
      let ops = 0
      for (let round = 0; round < 400; round++) {
        // Values change in place between reads.
        for (const [name, column] of counters) {
          segment.incrementSimpleCounter(name, random(3), random(column + 1), 1 + random(100))
        }
        // Up to 3 directory changes at random steps of the next read.
        const fireAt = new Set(Array.from({ length: random(4) }, () => random(15)))
        let calls = 0
        seam.hook = () => {
          if (fireAt.has(calls++)) {
            writerOp()
            ops++
          }
        }
        grewInPlace = false
        const before = (yield* client.diagnostics).retries
        const kind = random(3)
        if (kind === 0) {
          const names = yield* client.names
          seam.hook = undefined
          expect(names).toEqual(segment.names())
        } else if (kind === 1) {
          const name = pick([...counters.keys()]) ?? LbVipCounter.nextPacket
          const result = yield* Effect.either(client.simpleCounter(name))
          seam.hook = undefined
          if (segment.entryIndex(name) === undefined) {
            expect(result).toMatchObject(Either.left({ _tag: "StatsEntryNotFound", name }))
          } else if (!grewInPlace) {
            expect(result).toEqual(Either.right(segment.readSimpleCounter(name)))
          } else {
            // Each row is a prefix of the writer's (the new columns are zeros), never garbage.
            const model = segment.readSimpleCounter(name)
            const rows = Either.getOrThrow(result)
            expect(rows.length).toBe(model.length)
            rows.forEach((row, t) => expect(row).toEqual(model[t]!.slice(0, row.length)))
            inPlaceReads++
          }
        } else {
          const name = pick([...gauges]) ?? "/sys/boottime"
          const result = yield* Effect.either(client.scalar(name))
          seam.hook = undefined
          if (segment.entryIndex(name) === undefined) {
            expect(result).toMatchObject(Either.left({ _tag: "StatsEntryNotFound", name }))
          } else {
            expect(result).toEqual(Either.right(segment.getScalar(name)))
          }
        }
        if ((yield* client.diagnostics).retries > before) retriedReads++
      }
      // The property was exercised: many reads were torn and retried.
      expect(ops).toBeGreaterThan(100)
      expect(retriedReads).toBeGreaterThan(40)
      expect(inPlaceReads).toBeGreaterThan(0)
    })
  )

  it.scopedLive("maps the segment read-only and releases the mapping and fd with its scope", () =>
    Effect.gen(function* () {
      const memfdName = uniqueName()
      const { socketPath } = yield* setup({ memfdName }) // the server's RW mapping, setup's client's RO one
      expect(permissions(memfdName).sort()).toEqual(["r--s", "rw-s"])
      const fdsBefore = openFdsTo(memfdName)

      const clientScope = yield* Scope.make()
      const client = yield* StatsClient.make({ socketPath }).pipe(Scope.extend(clientScope))
      expect(yield* client.scalar("/sys/boottime")).toBe(BigInt(BOOT))
      expect(permissions(memfdName).sort()).toEqual(["r--s", "r--s", "rw-s"])
      expect(openFdsTo(memfdName)).toBe(fdsBefore + 1)

      yield* Scope.close(clientScope, Exit.void)
      expect(permissions(memfdName).sort()).toEqual(["r--s", "rw-s"])
      expect(openFdsTo(memfdName)).toBe(fdsBefore)
    })
  )
})

describe("stats client errors", () => {
  it.scopedLive("a missing socket path is a StatsConnectError (ENOENT)", () =>
    Effect.gen(function* () {
      const missing = path.join(tmp, "nowhere", "stats.sock")
      const result = yield* Effect.either(StatsClient.make({ socketPath: missing }))
      expect(result).toMatchObject(Either.left({ _tag: "StatsConnectError", path: missing, code: "ENOENT" }))
    })
  )

  it.scopedLive("no fd in time, or a connection closed without one, is a StatsConnectError", () =>
    Effect.gen(function* () {
      const silent = nextSocket()
      const listenFd = Native.seqpacketListen(silent) // listens, never accepts
      yield* Effect.addFinalizer(() => Effect.sync(() => Native.close(listenFd)))
      const start = Date.now()
      const timedOut = yield* Effect.either(StatsClient.make({ socketPath: silent, connectTimeout: "150 millis" }))
      expect(timedOut).toMatchObject(Either.left({ _tag: "StatsConnectError" }))
      expect(reasonOf(timedOut)).toMatch(/no segment fd within/)
      expect(Date.now() - start).toBeGreaterThanOrEqual(140)

      const rude = nextSocket()
      const rudeFd = Native.seqpacketListen(rude)
      yield* Effect.addFinalizer(() => Effect.sync(() => Native.close(rudeFd)))
      const acceptAndClose: Effect.Effect<void> = Effect.suspend(() => {
        const conn = Native.seqpacketAccept(rudeFd)
        if (conn === null) return Effect.zipRight(Effect.sleep("5 millis"), acceptAndClose)
        Native.close(conn)
        return Effect.void
      })
      const closer = yield* Effect.fork(acceptAndClose)
      // A long timeout: the close, not the timer, must end it (however late the closer runs).
      const closed = yield* Effect.either(StatsClient.make({ socketPath: rude, connectTimeout: "60 seconds" }))
      yield* Fiber.interrupt(closer)
      expect(reasonOf(closed)).toMatch(/closed the connection without/)
    })
  )

  it.scopedLive("a header version other than 2 is a StatsVersionError naming it", () =>
    Effect.gen(function* () {
      const socketPath = nextSocket()
      const server = yield* StatsServer.make({ socketPath, size: SIZE })
      for (const version of [1n, 3n]) {
        server.segment.view.setBigUint64(Header.version, version, true)
        const result = yield* Effect.either(StatsClient.make({ socketPath }))
        expect(result).toMatchObject(Either.left({ _tag: "StatsVersionError", version, expected: 2 }))
        expect(Either.isLeft(result) && result.left.message).toContain(`version ${version}`)
      }
      server.segment.view.setBigUint64(Header.version, 2n, true)
      const client = yield* StatsClient.make({ socketPath })
      expect(yield* client.names).toContain("/sys/boottime")
    })
  )

  it.scopedLive("corrupt pointers, lengths and names are StatsCorrupt, never a crash or an out-of-range read", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup()
      segment.lbVipAdded(3)
      const v = segment.view
      const expectCorrupt = <A, E>(read: Effect.Effect<A, E>, offset?: number) =>
        Effect.gen(function* () {
          const result = yield* Effect.either(read)
          expect(result).toMatchObject(Either.left({ _tag: "StatsCorrupt" }))
          if (offset !== undefined) expect(result).toMatchObject(Either.left({ offset }))
        })
      // Each corruption is published with an epoch bump so the cached directory is not used.
      const corrupt = (f: () => void) => segment.withLock(f)

      const dirPointer = v.getBigUint64(Header.directoryVector, true)
      for (const bad of [segment.base + BigInt(SIZE) + 4096n, segment.base + 16n, 12345n, 2n ** 64n - 8n]) {
        corrupt(() => v.setBigUint64(Header.directoryVector, bad, true))
        yield* expectCorrupt(client.names, Header.directoryVector)
      }
      corrupt(() => v.setBigUint64(Header.directoryVector, dirPointer, true))
      expect(yield* client.names).toEqual(segment.names())

      const dirLength = segment.directoryLength
      corrupt(() => v.setUint32(segment.directoryOffset - 8, 0xffffffff, true))
      yield* expectCorrupt(client.names, segment.directoryOffset - 8)
      corrupt(() => v.setUint32(segment.directoryOffset - 8, dirLength, true))

      const layout = segment.counterLayout(LbVipCounter.firstPacket)!
      const rowPointer = v.getBigUint64(layout.threadVector + 8, true)
      corrupt(() => v.setBigUint64(layout.threadVector + 8, segment.base + BigInt(SIZE), true))
      yield* expectCorrupt(client.simpleCounter(LbVipCounter.firstPacket), layout.threadVector + 8)
      // Other entries still read fine.
      expect(yield* client.simpleCounterTotals(LbVipCounter.nextPacket)).toEqual([0n, 0n, 0n, 0n])
      corrupt(() => v.setBigUint64(layout.threadVector + 8, rowPointer, true))
      corrupt(() => v.setUint32(layout.rows[2]! - 8, SIZE, true))
      yield* expectCorrupt(client.simpleCounter(LbVipCounter.firstPacket), layout.rows[2]! - 8)
      corrupt(() => v.setUint32(layout.rows[2]! - 8, 4, true))
      expect(yield* client.simpleCounterTotals(LbVipCounter.firstPacket)).toEqual([0n, 0n, 0n, 0n])

      const name = segment.entryOffset(segment.entryIndex("/sys/num_worker_threads")!) + Entry.name
      corrupt(() => new Uint8Array(segment.buffer, name, Entry.nameSize).fill(0x41))
      yield* expectCorrupt(client.names, name)
      yield* expectCorrupt(client.scalar("/sys/boottime"))

      expect(yield* client.diagnostics).toMatchObject({ retries: 0 })
    })
  )

  it.scopedLive("unknown names and wrong types are typed errors", () =>
    Effect.gen(function* () {
      const { client, segment } = yield* setup()
      segment.lbVipAdded(1)
      expect(yield* Effect.either(client.scalar("/nope"))).toMatchObject(
        Either.left({ _tag: "StatsEntryNotFound", name: "/nope" })
      )
      expect(yield* Effect.either(client.scalar(LbVipCounter.nextPacket))).toMatchObject(
        Either.left({ _tag: "StatsEntryTypeError", expected: "a scalar or gauge", actual: "counter-vector-simple" })
      )
      expect(yield* Effect.either(client.simpleCounter("/sys/boottime"))).toMatchObject(
        Either.left({ _tag: "StatsEntryTypeError", actual: "scalar-index" })
      )
      // A counter registered but never validated has a null data pointer: no rows yet.
      segment.addSimpleCounter("/test/unvalidated")
      expect(yield* client.simpleCounter("/test/unvalidated")).toEqual([])
    })
  )
})

describe("stats segment writer", () => {
  it("follows the writer protocol: in_progress around directory changes, epoch + 1 each", () => {
    const segment = StatsSegment.create({ size: SIZE, bootTime: BOOT })
    try {
      expect(segment.epoch).toBe(1n)
      const seen: Array<[boolean, bigint]> = []
      const v = new DataView(segment.buffer)
      const probe = () => seen.push([v.getBigUint64(24, true) === 1n, v.getBigUint64(16, true)])
      segment.lock()
      probe()
      segment.addGauge("/test/g")
      probe()
      segment.unlock()
      probe()
      expect(seen).toEqual([
        [true, 1n],
        [true, 1n],
        [false, 2n]
      ])
      segment.addSimpleCounter("/test/c", 1)
      expect(segment.epoch).toBe(4n) // create, then validate (which allocates)
      segment.incrementSimpleCounter("/test/c", 0, 0, 5)
      segment.setScalar("/test/g", 3)
      expect(segment.epoch).toBe(4n)
      // Removed slots go on the free list and are reused, highest-removed first.
      const g = segment.entryIndex("/test/g")!
      const c = segment.entryIndex("/test/c")!
      segment.removeEntry("/test/g")
      segment.removeEntry("/test/c")
      expect(v.getUint32(segment.entryOffset(c), true)).toBe(5)
      expect(v.getBigUint64(segment.entryOffset(c) + 8, true)).toBe(BigInt(g))
      expect(segment.addGauge("/test/x")).toBe(c)
      expect(segment.addGauge("/test/y")).toBe(g)
      expect(segment.epoch).toBe(8n)
      expect(() => segment.unlock()).toThrow(/unlock without lock/)
    } finally {
      segment.close()
    }
  })

  it("frees what it removes", () => {
    const segment = StatsSegment.create({ size: SIZE, workers: 3 })
    try {
      const free = segment.freeHeapBytes
      for (let vip = 1; vip < 200; vip++) segment.lbVipAdded(vip)
      expect(segment.freeHeapBytes).toBeLessThan(free)
      const row = segment.counterLayout(LbVipCounter.noServer)!.rows[0]!
      for (const name of LB_VIP_COUNTERS) expect(segment.removeEntry(name)).toBe(true)
      expect(segment.freeHeapBytes).toBe(free)
      // Freed memory is poisoned: a stale reader sees an absurd length, not old data.
      expect(segment.view.getUint32(row - 8, true)).toBe(0xa5a5a5a5)
      expect(segment.removeEntry(LbVipCounter.noServer)).toBe(false)
    } finally {
      segment.close()
    }
  })
})
