/**
 * Signals and config files on a real maglevd: a burst of SIGHUPs makes at
 * most two reloads, SIGTERM stops the daemon with `stopping` and `stopped`
 * lines naming it even in the middle of a reload of a big file, and a FIFO
 * given as the configuration (at start, on SIGHUP, through `CheckConfig`)
 * is refused at once without blocking anything. The coalescing itself is
 * tested in-process, deterministically, with a gate in the handler.
 *
 * Every wait is for a log event (or an exit), never for time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import { coalescer } from "../../src/daemon/Signals.js"
import { bigConfig } from "../config/bigConfig.js"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"
import { tempDir as scopedTempDir } from "../sim/tempDir.js"

const MAGLEVD = program("maglevd")

const tempDir = scopedTempDir("maglevd-signals-")

const SMALL = `maglev:
  healthchecks:
    hc: {type: tcp, port: 9, interval: 10s, timeout: 1s}
  backends:
    b1: {address: 127.0.0.1, healthcheck: hc, enabled: false}
`

interface Daemon {
  readonly child: ChildProcess
  readonly records: Array<LogRecord>
  readonly exited: Promise<number | null>
  /** The first record (from `after` on) that `pred` accepts, once it is there. */
  readonly waitFor: (what: string, pred: (r: LogRecord) => boolean, after?: number) => Effect.Effect<LogRecord>
  readonly events: (name: string) => Array<LogRecord>
}

const daemon = (file: string, ...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [...MAGLEVD, "--config", file, "--vpp-api-addr", "", "--rpc-addr", "127.0.0.1:0", "--metrics-addr", "", ...args], {
          cwd: repoRoot,
          stdio: ["ignore", "pipe", "inherit"]
        })
      ),
      (c) => Effect.sync(() => c.exitCode === null && c.kill("SIGKILL"))
    )
    const records = jsonLines(child)
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // Each new line or the exit wakes the waiters: no polling interval.
    const waitFor = (what: string, pred: (r: LogRecord) => boolean, after = 0) =>
      Effect.async<LogRecord>((resume) => {
        const look = () => {
          const found = records.slice(after).find(pred)
          if (found !== undefined) done(Effect.succeed(found))
        }
        const onExit = () => {
          look()
          done(Effect.die(new Error(`maglevd exited before ${what}; got ${JSON.stringify(records.map((r) => r.annotations.event))}`)))
        }
        let finished = false
        const done = (e: Effect.Effect<LogRecord>) => {
          if (finished) return
          finished = true
          child.stdout!.off("data", onData)
          child.off("exit", onExit)
          resume(e)
        }
        // jsonLines' own listener runs first (it was added first), so the records are in.
        const onData = () => look()
        child.stdout!.on("data", onData)
        child.on("exit", onExit)
        look()
        if (child.exitCode !== null) onExit()
      })
    const events = (name: string) => records.filter((r) => r.annotations.event === name)
    return { child, records, exited, waitFor, events } satisfies Daemon
  })

const event = (name: string) => (r: LogRecord) => r.annotations.event === name

describe("SIGHUP coalescing (in-process, with a gate)", () => {
  it.effect("100 requests during a run make one more run, not 100", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const entered = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const handle = Effect.gen(function*() {
        const n = yield* Ref.getAndUpdate(runs, (r) => r + 1)
        yield* Deferred.succeed(entered[n]!, undefined)
        yield* Deferred.await(gates[n]!)
      })
      const c = yield* coalescer(handle)
      const loop = yield* Effect.fork(c.run)
      expect(c.trigger()).toBe(true)
      yield* Deferred.await(entered[0]!)
      // The first run holds; a burst of 100 comes meanwhile: one waits, 99 merge into it.
      const fresh = Array.from({ length: 100 }, () => c.trigger())
      expect(fresh.filter((f) => f)).toHaveLength(1)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Deferred.await(entered[1]!)
      yield* Deferred.succeed(gates[1]!, undefined)
      // Nothing is left waiting: a new request is a new one, and makes the third run.
      expect(c.trigger()).toBe(true)
      yield* Deferred.await(entered[2]!)
      expect(yield* Ref.get(runs)).toBe(3)
      yield* Deferred.succeed(gates[2]!, undefined)
      yield* Fiber.interrupt(loop)
    }))
})

describe("maglevd signals (a real process)", () => {
  it.scopedLive("a burst of 100 SIGHUPs makes at most 2 reloads; SIGTERM logs stopping and stopped with the reason, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, SMALL)
      const d = yield* daemon(file)
      yield* d.waitFor("rpc-listen", event("rpc-listen"))
      for (let i = 0; i < 100; i++) d.child.kill("SIGHUP")
      yield* d.waitFor("a reload", event("config-reload"))
      d.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => d.exited)).toBe(0)
      const started = d.events("config-reload-started")
      expect(started.length).toBeGreaterThanOrEqual(1)
      expect(started.length).toBeLessThanOrEqual(2)
      expect(started[0]!.annotations).toMatchObject({ trigger: "sighup", file })
      expect(d.events("config-reload").length).toBeLessThanOrEqual(2)
      const stopping = d.events("stopping")
      const stopped = d.events("stopped")
      expect(stopping.map((r) => r.annotations.reason)).toEqual(["SIGTERM"])
      expect(stopped.map((r) => r.annotations.reason)).toEqual(["SIGTERM"])
      expect(d.records.indexOf(stopping[0]!)).toBeLessThan(d.records.indexOf(stopped[0]!))
      expect(d.records.at(-1)).toBe(stopped[0])
    }), 120_000)

  it.scopedLive("SIGTERM in the middle of the reload of a big file: the reload is abandoned, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, SMALL)
      const d = yield* daemon(file)
      yield* d.waitFor("rpc-listen", event("rpc-listen"))
      // About 3 MB: seconds of parsing on the worker thread; the daemon's own loop stays free.
      fs.writeFileSync(file, bigConfig(40_000).text)
      d.child.kill("SIGHUP")
      yield* d.waitFor("the reload to start", event("config-reload-started"))
      d.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => d.exited)).toBe(0)
      const at = d.records.findIndex(event("stopping"))
      expect(d.records[at]!.annotations.reason).toBe("SIGTERM")
      // Whatever the reload had done before SIGTERM, nothing of it comes after.
      expect(d.records.slice(at).filter((r) => String(r.annotations.event).startsWith("config-reload"))).toEqual([])
      expect(d.records.at(-1)!.annotations).toMatchObject({ event: "stopped", reason: "SIGTERM" })
    }), 120_000)

  it.scopedLive("SIGTERM during the start-up check of a big file: exit 0, stopped logged", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, bigConfig(40_000).text)
      const d = yield* daemon(file)
      yield* d.waitFor("starting", event("starting"))
      d.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => d.exited)).toBe(0)
      expect(d.records.at(-1)!.annotations).toMatchObject({ event: "stopped", reason: "SIGTERM" })
    }), 120_000)

  it.scopedLive("a FIFO as the configuration: refused at start, on SIGHUP and by CheckConfig, and SIGTERM still works", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fifo = path.join(dir, "fifo.yaml")
      execFileSync("mkfifo", [fifo])
      const atStart = yield* daemon(fifo)
      expect(yield* Effect.promise(() => atStart.exited)).toBe(1)
      expect(atStart.events("start-failed")[0]!.annotations.error).toBe(`${fifo}: is a FIFO, not a regular file`)

      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, SMALL)
      const d = yield* daemon(file)
      const listen = yield* d.waitFor("rpc-listen", event("rpc-listen"))
      const client = yield* Client.make({ url: String(listen.annotations.url) })
      const checked = yield* client.CheckConfig({ path: fifo })
      expect(checked.result).toMatchObject({ _tag: "ParseError", errors: [{ rule: expect.stringContaining("is a FIFO, not a regular file") }] })
      // A big file through CheckConfig is checked on a worker thread: the same verdict as --check.
      const big = path.join(dir, "big.yaml")
      fs.writeFileSync(big, bigConfig(10_000).text)
      const bigChecked = yield* client.CheckConfig({ path: big })
      expect(bigChecked.result).toMatchObject({ _tag: "Valid", frontends: 100, backends: 10_000, healthchecks: 4 })

      fs.rmSync(file)
      execFileSync("mkfifo", [file])
      d.child.kill("SIGHUP")
      const refused = yield* d.waitFor("the refused reload", event("config-reload-failed"))
      expect(String(refused.annotations.error)).toContain("is a FIFO, not a regular file")
      d.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => d.exited)).toBe(0)
      expect(d.records.at(-1)!.annotations).toMatchObject({ event: "stopped", reason: "SIGTERM" })
    }), 120_000)
})
