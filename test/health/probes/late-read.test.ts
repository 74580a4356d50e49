/**
 * A probe's deadline that fires while the backend's part is already done,
 * unseen because this process was late (its loop held): the connection made,
 * or the answer waiting unread in the kernel. That timeout is maglevd's
 * lateness, not the backend's: the result says so (selfLateMs past the
 * SelfLate threshold), so the round is not counted. And the conservative
 * side: a deadline that finds no answer waiting, for a request that went out
 * in time (or a connect the kernel never completed), is still not held
 * against the backend while the loop was held past a quarter of the timeout;
 * a backend that is late while the loop is not is its own timeout. The backend is a separate
 * process (this one is held); each step waits for the other side's marker
 * file, never for time alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startProbe } from "../../../src/health/probes/Probe.js"
import { nativeProbes } from "../../../src/health/probes/internal/NativeSocket.js"
import type { ProbeResult } from "../../../src/health/ProbeResult.js"
import { isSelfLate } from "../../../src/health/SelfLate.js"
import { LoopLag } from "../../../src/health/probes/internal/LoopLag.js"
import { blackholeNetns, httpCheck, requireRoot } from "../../support/probes.js"

const TIMEOUT_MS = 200

/** Answers one HTTP request per connection, once `go` exists (or at once when it does not matter), then writes `sent`. */
const SERVER = `
const net = require("node:net"), fs = require("node:fs")
const [dir, mode] = process.argv.slice(1)
const mark = (n) => fs.writeFileSync(dir + "/" + n, "")
const answer = (s) => { s.write("HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"); mark("sent") }
net.createServer((s) => {
  s.on("error", () => {})
  if (mode === "on-connect") return answer(s)
  s.once("data", () => {
    mark("asked")
    const t = setInterval(() => { if (fs.existsSync(dir + "/go")) { clearInterval(t); answer(s) } }, 1)
  })
}).listen(0, "127.0.0.1", function () { process.stdout.write(this.address().port + "\\n") })
`

const backend = (mode: "on-connect" | "on-go") =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly dir: string; readonly port: number }>((resume) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "late-read-"))
      const child = spawn(process.execPath, ["-e", SERVER, dir, mode], { stdio: ["ignore", "pipe", "inherit"] })
      child.stdout!.once("data", (d) => resume(Effect.succeed({ child, dir, port: Number(String(d).trim()) })))
    }),
    ({ child, dir }) => Effect.sync(() => {
      child.kill("SIGKILL")
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )

/**
 * Holds this process's loop until `file` exists and the probe's deadline has passed: `started` must be
 * taken after startProbe returned (the probe's own start, which its deadline counts from, is then no later).
 */
const holdUntil = (file: string, started: number) => {
  while (!fs.existsSync(file) || performance.now() - started < TIMEOUT_MS + 50) {
    // busy: the loop is held, as a GC pause or a starved CPU would hold it
  }
}

describe.runIf(nativeProbes)("what the kernel shows at a probe's deadline: whose timeout it is", () => {
  it.live("the connection made while the loop was held: not the backend's timeout", () =>
    Effect.gen(function*() {
      const b = yield* backend("on-connect")
      const result = yield* Effect.async<ProbeResult>((resume) => {
        startProbe({ address: "127.0.0.1", healthcheck: httpCheck(b.port, {}, { timeoutMs: TIMEOUT_MS }), netns: "" }, (r) => resume(Effect.succeed(r)))
        // After startProbe returns: the probe's own start (its deadline's origin) is no later than this.
        const started = performance.now()
        holdUntil(path.join(b.dir, "sent"), started)
      })
      expect(result).toMatchObject({ ok: false, code: "L4TOUT" })
      expect(result.detail).toContain("the connection was made in time but not seen (maglevd was late)")
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("the answer waiting unread while the loop was held: not the backend's timeout", () =>
    Effect.gen(function*() {
      const b = yield* backend("on-go")
      const result = yield* Effect.async<ProbeResult>((resume) => {
        startProbe({ address: "127.0.0.1", healthcheck: httpCheck(b.port, {}, { timeoutMs: TIMEOUT_MS }), netns: "" }, (r) => resume(Effect.succeed(r)))
        // Taken after startProbe returns, so that the probe's deadline is due by started + TIMEOUT_MS whatever
        // held this process between the two (a fresh clone's run under stress-ng saw the answer read before
        // the deadline when `started` was taken before: the process was off the CPU in between).
        const started = performance.now()
        // Once the backend has the request (our probe is waiting for the answer), hold the loop while it answers.
        const poll = () => {
          if (!fs.existsSync(path.join(b.dir, "asked"))) return setImmediate(poll)
          fs.writeFileSync(path.join(b.dir, "go"), "")
          holdUntil(path.join(b.dir, "sent"), started)
        }
        setImmediate(poll)
      })
      expect(result).toMatchObject({ ok: false, code: "L7TOUT" })
      expect(result.detail).toMatch(/\d+ bytes of answer came in time but were not read \(maglevd was late\)/)
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a request sent in time, no answer waiting, the loop held past the deadline after it: not held against the backend", () =>
    Effect.gen(function*() {
      const b = yield* backend("on-go") // never told to go: it has the request and stays silent
      // The monitor's view, written by hand (no ticker): the loop held 250 ms once the request was out.
      const lag = new LoopLag()
      let started = 0
      const result = yield* Effect.async<ProbeResult>((resume) => {
        started = performance.now()
        startProbe({ address: "127.0.0.1", healthcheck: httpCheck(b.port, {}, { timeoutMs: TIMEOUT_MS }), netns: "" }, (r) => resume(Effect.succeed(r)), lag)
        const poll = () => {
          if (!fs.existsSync(path.join(b.dir, "asked"))) return setImmediate(poll)
          const from = performance.now()
          while (performance.now() - started < TIMEOUT_MS + 50) { /* held past the deadline */ }
          lag.observe(performance.now(), performance.now() - from)
        }
        setImmediate(poll)
      })
      // The kernel shows the backend had the request and said nothing, but the loop was held over a
      // quarter of the timeout meanwhile: on a machine that starves maglevd, it may starve the
      // backend too, and a healthy backend must not be drained for it (docs/health.md).
      expect(lag.maxSince(started)).toBeGreaterThan(TIMEOUT_MS / 4)
      expect(result).toMatchObject({ ok: false, code: "L7TOUT", detail: `no response within ${TIMEOUT_MS} ms` })
      expect(result.selfLateMs).toBeGreaterThan(TIMEOUT_MS / 4)
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a request that went out late (the loop held before it) and no answer waiting: not the backend's timeout", () =>
    Effect.gen(function*() {
      const b = yield* backend("on-go") // silent: whatever it had time for, it did not answer
      const lag = new LoopLag()
      const result = yield* Effect.async<ProbeResult>((resume) => {
        startProbe({ address: "127.0.0.1", healthcheck: httpCheck(b.port, {}, { timeoutMs: TIMEOUT_MS }), netns: "" }, (r) => resume(Effect.succeed(r)), lag)
        // Held for 80 ms (two holds of 40, neither over a quarter of the timeout) before the connection is seen.
        const from = performance.now()
        for (const end of [40, 80]) {
          while (performance.now() - from < end) { /* held */ }
          lag.observe(performance.now(), 40)
        }
      })
      expect(result).toMatchObject({ ok: false, code: "L7TOUT" })
      expect(result.selfLateMs).toBeGreaterThanOrEqual(80)
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a connect the kernel never completed, the loop held past the deadline: not held against the backend", () =>
    Effect.gen(function*() {
      yield* requireRoot
      const { address, ns } = yield* blackholeNetns()
      const lag = new LoopLag()
      const result = yield* Effect.async<ProbeResult>((resume) => {
        const started = performance.now()
        startProbe({ address, healthcheck: httpCheck(80, {}, { timeoutMs: TIMEOUT_MS }), netns: ns }, (r) => resume(Effect.succeed(r)), lag)
        while (performance.now() - started < TIMEOUT_MS + 50) { /* held past the deadline */ }
        lag.observe(performance.now(), performance.now() - started)
      })
      expect(result).toMatchObject({ ok: false, code: "L4TOUT" })
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a backend that really is late is still its own timeout", () =>
    Effect.gen(function*() {
      const b = yield* backend("on-go")
      const result = yield* Effect.async<ProbeResult>((resume) => {
        startProbe({ address: "127.0.0.1", healthcheck: httpCheck(b.port, {}, { timeoutMs: TIMEOUT_MS }), netns: "" }, (r) => resume(Effect.succeed(r)))
      })
      expect(result).toMatchObject({ ok: false, code: "L7TOUT" })
      expect(result.detail).not.toContain("maglevd was late")
      expect(isSelfLate(result, TIMEOUT_MS)).toBe(false)
    }).pipe(Effect.scoped))
})
