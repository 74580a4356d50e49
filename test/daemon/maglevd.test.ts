import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import * as Native from "../../src/native/Native.js"
import { jsonLines as childRecords, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"
import { waitFor as poll } from "../support/wait.js"

const MAGLEVD = program("maglevd")

/** Temporary directories, removed when the file's tests are done (tests leave nothing in /tmp). */
const dirs: Array<string> = []
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglevd-test-"))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const check = (file: string) => {
  const r = spawnSync(process.execPath, [...MAGLEVD, "--check", "--config", file], { cwd: repoRoot, encoding: "utf8" })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe("maglevd --check (a real process)", () => {
  it("exits 0 on the example configuration and says what it holds", () => {
    const r = check(path.join(repoRoot, "examples", "maglev.yaml"))
    expect(r.stdout).toContain("valid: 1 frontend, 3 backends")
    expect(r.code).toBe(0)
  })

  it("exits 1 on a YAML syntax error, naming line and column", () => {
    const file = path.join(tmp(), "broken.yaml")
    fs.writeFileSync(file, "maglev:\n  backends:\n    a: {address: 10.0.0.1\n")
    const r = check(file)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(new RegExp(`${file.replace(/[.]/g, "\\.")}:\\d+:\\d+: error: YAML syntax error`))
  })

  it("exits 1 on a structural error (unknown key)", () => {
    const file = path.join(tmp(), "unknown.yaml")
    fs.writeFileSync(file, "maglev:\n  healthchecker:\n    transition-histroy: 3\n")
    const r = check(file)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`${file}:3:5: error: maglev.healthchecker.transition-histroy`)
  })

  it("exits 2 on a semantic error, reporting every error with its path", () => {
    const file = path.join(tmp(), "semantic.yaml")
    fs.writeFileSync(file, [
      "maglev:",
      "  healthchecks:",
      "    hc: {type: tcp, port: 80}",
      "  backends:",
      "    a: {address: 10.0.0.1, healthcheck: nope}",
      "    b: {address: 10.0.0.2, healthcheck: hc}",
      "  frontends:",
      "    web:",
      "      address: 192.0.2.1",
      "      protocol: tcp",
      "      port: 80",
      "      pools:",
      "        - name: main",
      "          backends: {a: {}, b: {}, nginx3: {weight: 5}}",
      ""
    ].join("\n"))
    const r = check(file)
    expect(r.code).toBe(2)
    expect(r.stdout).toContain("maglev.backends.a.healthcheck")
    expect(r.stdout).toContain("maglev.frontends.web.pools[0].backends.nginx3")
    expect(r.stdout).toContain("maglev.vpp.lb.ipv4-src-address")
  })

  it("--version prints the version, the commit and its date", () => {
    const r = spawnSync(process.execPath, [...MAGLEVD, "--version"], { cwd: repoRoot, encoding: "utf8" })
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }
    expect(r.stdout.trim()).toMatch(new RegExp(`^${pkg.version.replace(/[.]/g, "\\.")} \\(commit [0-9a-f]{12}(\\+dirty)?, \\d{4}-\\d\\d-\\d\\dT`))
    expect(r.status).toBe(0)
  })

  it("exits 1 naming the flag when a listen address is not host:port", () => {
    const r = spawnSync(process.execPath, [...MAGLEVD, "--config", path.join(repoRoot, "examples", "maglev.yaml"), "--rpc-addr", "127.0.0.1:0", "--metrics-addr", "bogus"], { cwd: repoRoot, encoding: "utf8" })
    expect(r.status).toBe(1)
    expect(r.stdout).toContain('--metrics-addr \\"bogus\\": expected host:port or [v6]:port')
  })

  it("exits 1 saying the address is in use when the RPC port is taken", async () => {
    const taken = http.createServer()
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r))
    const port = (taken.address() as AddressInfo).port
    try {
      const r = spawnSync(process.execPath, [...MAGLEVD, "--config", path.join(repoRoot, "examples", "maglev.yaml"), "--rpc-addr", `127.0.0.1:${port}`, "--metrics-addr", "", "--vpp-api-addr", ""], { cwd: repoRoot, encoding: "utf8" })
      expect(r.status).toBe(1)
      expect(r.stdout).toContain(`EADDRINUSE`)
      expect(r.stdout).toContain(`127.0.0.1:${port}`)
    } finally {
      taken.close()
    }
  })

  it("exits 1 when the file cannot be read", () => {
    const r = check(path.join(tmp(), "missing.yaml"))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("ENOENT")
  })
})

/** The JSON lines a child writes to stdout, and a wait for one of them. */
const jsonLines = (child: ChildProcess) => {
  const records = childRecords(child)
  // Polled, not timed: the bound is only there to say what never came (the test's own bound is larger still).
  const waitFor = (pred: (r: LogRecord) => boolean, what: string) =>
    Effect.promise(async () => {
      for (let i = 0; i < 2400; i++) {
        const found = records.find(pred)
        if (found !== undefined) return found
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(records)}`)
    })
  return { records, waitFor }
}

// Probe timeouts of 2 s: the backend is a server in this (busy) test process, and with rise 1 and
// fall 1 one late answer would be a transition the test did not make.
const configText = (port: number) => `maglev:
  healthchecks:
    web: {type: http, port: ${port}, interval: 2s, fast-interval: 2s, down-interval: 2s, timeout: 2s, rise: 1, fall: 1}
  backends:
    web1: {address: 127.0.0.1, healthcheck: web}
`

/** Linux 6.12 and later take a thread's own time slice (EEVDF's custom slices). */
const customSlices = (() => {
  const [major = 0, minor = 0] = os.release().split(/[.-]/).map(Number)
  return major > 6 || (major === 6 && minor >= 12)
})()

describe("maglevd --sched-slice", () => {
  it("refuses a slice outside the kernel's bounds or not a duration, naming the flag, and exits 1", () => {
    for (const [value, says] of [["50us", "from 100us to 100ms"], ["fast", "a duration such as 100us"]] as const) {
      const r = spawnSync(process.execPath, [...MAGLEVD, "--config", "/nonexistent/maglev.yaml", "--sched-slice", value, "--log-format", "json"], { cwd: repoRoot, encoding: "utf8" })
      expect(r.status).toBe(1)
      const failed = r.stdout.split("\n").filter((l) => l.includes("start-failed")).map((l) => (JSON.parse(l) as { annotations: { error: string } }).annotations)
      expect(failed).toHaveLength(1)
      expect(failed[0]!.error).toContain(`--sched-slice "${value}"`)
      expect(failed[0]!.error).toContain(says)
    }
  })
})

describe("maglevd health checking (a real process)", () => {
  it.live("probes a real server, logs transitions as JSON lines, reloads on SIGHUP and refuses a bad file", () =>
    Effect.gen(function*() {
      const server = http.createServer((_, res) => res.end("ok"))
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((r) => server.listen(0, "127.0.0.1", r))),
        () => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
      )
      const port = (server.address() as AddressInfo).port
      const dir = tmp()
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, configText(port))
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [...MAGLEVD, "--config", file, "--rpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--sched-slice", "100us"], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      const log = jsonLines(child)
      const starting = yield* log.waitFor((r) => r.annotations.event === "starting", "starting")
      expect(starting.annotations).toMatchObject({ version: expect.any(String), commit: expect.any(String), date: expect.any(String), config: file })
      // Its threads' time slice (--sched-slice 100us; off by default): asked for on the main thread, where the kernel has slices of a
      // thread's own (Linux 6.12 on); said so where it has not.
      const slice = yield* log.waitFor((r) => r.annotations.event === "sched-slice" || r.annotations.event === "sched-slice-unsupported", "sched-slice")
      if (customSlices) {
        expect(slice.annotations).toMatchObject({ event: "sched-slice", slice_us: 100 })
        expect(Native.schedSlice(child.pid!)).toBe(100_000)
      } else {
        expect(slice.annotations).toMatchObject({ event: "sched-slice-unsupported", slice_us: 100, reason: expect.any(String) })
      }
      // A SIGHUP while the daemon is still starting does not kill it: the file is reloaded once it is up.
      child.kill("SIGHUP")
      const early = yield* log.waitFor((r) => r.annotations.event === "config-reload", "the early SIGHUP's reload")
      expect(early.annotations).toMatchObject({ trigger: "sighup" })
      const up = yield* log.waitFor((r) => r.annotations.event === "backend-transition" && r.annotations.to === "up", "up")
      expect(up.annotations).toMatchObject({ backend: "web1", from: "unknown", code: "L7OK", address: "127.0.0.1" })

      // A port nobody listens on: the reload restarts the backend and it goes down.
      const closed = http.createServer()
      yield* Effect.promise(() => new Promise<void>((r) => closed.listen(0, "127.0.0.1", r)))
      const closedPort = (closed.address() as AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((r) => closed.close(() => r())))
      fs.writeFileSync(file, configText(closedPort))
      child.kill("SIGHUP")
      yield* log.waitFor((r) => r.annotations.event === "config-reload" && r !== early, "config-reload")
      const down = yield* log.waitFor((r) => r.annotations.event === "backend-transition" && r.annotations.to === "down", "down")
      expect(down.annotations).toMatchObject({ code: "L4CON" })

      fs.writeFileSync(file, "maglev:\n  backends: {web1: {address: not-an-ip, healthcheck: web}}\n")
      child.kill("SIGHUP")
      const refused = yield* log.waitFor((r) => r.annotations.event === "config-reload-failed", "config-reload-failed")
      expect(String(refused.annotations.error)).toContain("maglev.backends.web1.address")
      expect(child.exitCode).toBeNull()

      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
    }).pipe(Effect.scoped), 180_000)
})

const VPPSIM = program("vppsim")

const vipConfig = (port: number, frontends: ReadonlyArray<string>) => `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 1s
      startup-max-delay: 5s
  healthchecks:
    web: {type: http, port: ${port}, interval: 2s, fast-interval: 2s, down-interval: 2s, timeout: 2s, rise: 1, fall: 1}
  backends:
    web1: {address: 127.0.0.1, healthcheck: web}
  frontends:
${frontends.map((name, i) => `    ${name}: {address: 192.0.2.${10 + i}/32, protocol: tcp, port: 80, pools: [{name: main, backends: {web1: {weight: 100}}}]}`).join("\n")}
`

describe("maglevd programs VPP (real maglevd and vppsim processes)", () => {
  it.live("syncs after warm-up, follows health and SIGHUP, and a restart with unchanged health changes nothing", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const apiSocket = path.join(dir, "api.sock")
      const statsSocket = path.join(dir, "stats.sock")
      const sim = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [...VPPSIM, "--api-socket", apiSocket, "--stats-socket", statsSocket], {
            cwd: repoRoot,
            stdio: ["ignore", "pipe", "inherit"]
          })
        ),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      const simLog = jsonLines(sim)
      yield* simLog.waitFor((r) => r.annotations.event === "vppsim-ready", "vppsim-ready")

      let healthy = true
      const server = http.createServer((_, res) => {
        res.statusCode = healthy ? 200 : 503
        res.end()
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((r) => server.listen(0, "127.0.0.1", r))),
        () => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
      )
      const port = (server.address() as AddressInfo).port
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, vipConfig(port, ["web"]))
      const maglevd = (flags: ReadonlyArray<string> = []) =>
        Effect.acquireRelease(
          Effect.sync(() =>
            spawn(process.execPath, [...MAGLEVD, "--config", file, "--vpp-api-addr", apiSocket, "--vpp-stats-addr", statsSocket, "--rpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", ...flags], {
              cwd: repoRoot,
              stdio: ["ignore", "pipe", "inherit"]
            })
          ),
          (c) => Effect.sync(() => c.kill("SIGKILL"))
        )
      const child = yield* maglevd()
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      const log = jsonLines(child)
      yield* log.waitFor((r) => r.annotations.event === "vpp-connect", "vpp-connect")
      const asAdd = yield* log.waitFor((r) => r.annotations.event === "vpp-lbsync-as-add", "as-add")
      expect(asAdd.annotations).toMatchObject({ as: "127.0.0.1", weight: 100, frontend: "web", backend: "web1" })

      healthy = false
      const drained = yield* log.waitFor((r) => r.annotations.event === "vpp-lbsync-as-weight", "as-weight")
      expect(drained.annotations).toMatchObject({ as: "127.0.0.1", weight: 0, flush: true })
      healthy = true
      yield* log.waitFor((r) => r.annotations.event === "vpp-lbsync-as-weight" && r.annotations.weight === 100, "weight back")

      // The RPC API of the running daemon, over real HTTP.
      const listen = yield* log.waitFor((r) => r.annotations.event === "rpc-listen", "rpc-listen")
      const client = yield* Client.make({ url: String(listen.annotations.url) })
      const backends = yield* client.ListBackends()
      expect(backends.map((b) => [b.name, b.state])).toEqual([["web1", "up"]])
      const vpp = yield* client.GetVPPInfo()
      expect(vpp.version).toContain("26.10")
      // Prometheus metrics of the running daemon.
      const metricsAt = yield* log.waitFor((r) => r.annotations.event === "metrics-listen", "metrics-listen")
      const scrapeNow = Effect.promise(() => fetch(String(metricsAt.annotations.url)).then((r) => r.text()))
      // The gauge follows the transition on its own fiber: wait for it to say 100 again, not for time.
      const weight100 = /^maglev_frontend_pool_backend_weight\{frontend="web",pool="main",backend="web1"\} 100$/m
      const scrape = yield* poll("the weight metric back at 100", Effect.map(scrapeNow, (text) => (weight100.test(text) ? text : undefined)), 120_000, 100)
      expect(scrape).toMatch(/^maglev_vpp_connected 1$/m)
      expect(scrape).toMatch(/^maglev_lb_sync_operations_total\{op="as_add"\} [1-9]/m)

      // A watcher sees the reload's new frontend, and its stream ends when the daemon stops.
      const watched: Array<{ readonly _tag: string }> = []
      const watcher = yield* Effect.forkScoped(Stream.runForEach(client.WatchEvents({ frontend: true }), (e) => Effect.sync(() => watched.push(e))))
      yield* log.waitFor(() => watched.length > 0, "the hydrating message")
      expect(watched[0]!._tag).toBe("Hydrate")

      fs.writeFileSync(file, vipConfig(port, ["web", "api"]))
      child.kill("SIGHUP")
      const added = yield* log.waitFor((r) => r.annotations.event === "vpp-lbsync-vip-add" && String(r.annotations.vip).startsWith("192.0.2.11/32"), "second VIP")
      expect(added.annotations).toMatchObject({ frontend: "api" })
      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
      // Closed by the daemon: the stream ends (cleanly or with a transport error), it does not hang.
      yield* Fiber.await(watcher).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("the watch stream outlived the daemon") }))

      // Same configuration, same health: the new daemon leaves VPP exactly as it is. At debug level
      // it logs the warm-up's full sync even when it sends nothing (vpp-lbsync-done, mutations 0).
      const again = yield* maglevd(["--log-level", "debug"])
      const exited2 = new Promise<number | null>((resolve) => again.on("exit", (code) => resolve(code)))
      const log2 = jsonLines(again)
      const warmedUp = yield* log2.waitFor((r) => r.annotations.event === "vpp-lbsync-warmup-done", "warm-up done")
      const fullSync = yield* log2.waitFor((r) =>
        log2.records.indexOf(r) > log2.records.indexOf(warmedUp) && r.annotations.event === "vpp-lbsync-done" && /warm-up/.test(String(r.annotations.reason)), "the warm-up's full sync")
      expect(fullSync.annotations).toMatchObject({ scope: "full", mutations: 0 })
      again.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited2)).toBe(0)
      const mutations = log2.records.filter((r) => /^vpp-lbsync-(vip|as)-/.test(String(r.annotations.event)) || r.annotations.event === "vpp-lb-conf-set")
      expect(mutations).toEqual([])
    }).pipe(Effect.scoped), 300_000)
})
