/**
 * maglevd's own overload must never drain a healthy backend (issue 13): a
 * real maglevd process probing real HTTP servers, while two other processes
 * burn both cores and the daemon's own event loop is held for 2 s (the
 * MAGLEVD_TEST_HOOKS SIGUSR2 hook). Every healthy backend stays up; one
 * backend that really stops answering still goes down, on a timeout.
 * Everything waits for events (log lines), never for time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { GRACE_MS } from "../support/probes.js"
import { program } from "../support/programs.js"

const BACKENDS = 40
const RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

/** HTTP backends on 127.0.1.x, one port; `silence(i)` makes backend i accept and never answer. */
const backends = Effect.acquireRelease(
  Effect.promise(async () => {
    const silent = new Set<number>()
    const sockets = new Set<net.Socket>()
    const servers: Array<net.Server> = []
    let port = 0
    for (let i = 0; i < BACKENDS; i++) {
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        socket.once("data", () => {
          if (!silent.has(i)) socket.end(RESPONSE)
        })
      })
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, `127.0.1.${i + 1}`, () => resolve())
      })
      port = (server.address() as net.AddressInfo).port
      servers.push(server)
    }
    return { port, silence: (i: number) => silent.add(i), servers, sockets }
  }),
  (b) =>
    Effect.promise(async () => {
      for (const s of b.sockets) s.destroy()
      await Promise.all(b.servers.map((s) => new Promise((r) => s.close(r))))
    })
)

const configText = (port: number) => {
  const lines = [
    "maglev:",
    "  healthchecks:",
    `    web: {type: http, port: ${port}, interval: 1s, fast-interval: 1s, down-interval: 1s, timeout: 1s, rise: 2, fall: 3}`,
    "  backends:"
  ]
  for (let i = 0; i < BACKENDS; i++) lines.push(`    b${i}: {address: 127.0.1.${i + 1}, healthcheck: web}`)
  return lines.join("\n") + "\n"
}

/** Two processes burning a core each, for as long as the scope lives. */
const cpuHogs = Effect.acquireRelease(
  Effect.sync(() => [0, 1].map(() => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }))),
  (hogs) => Effect.sync(() => hogs.forEach((h) => h.kill("SIGKILL")))
)

const waitFor = (records: Array<LogRecord>, child: ChildProcess, pred: (r: LogRecord) => boolean, what: string) =>
  Effect.async<LogRecord, Error>((resume) => {
    const check = () => {
      const found = records.find(pred)
      if (found !== undefined) {
        done()
        resume(Effect.succeed(found))
      }
    }
    const exited = () => {
      done()
      resume(Effect.fail(new Error(`maglevd exited while waiting for ${what}`)))
    }
    const done = () => {
      child.stdout!.off("data", onData)
      child.off("exit", exited)
    }
    // After jsonLines' own listener has parsed the chunk.
    const onData = () => setImmediate(check)
    child.stdout!.on("data", onData)
    child.once("exit", exited)
    check()
    return Effect.sync(done)
  })

// On the main thread (the default for small configurations), and with the probes on two worker threads
// (src/health/probes/ProbeThreads.ts), where the held loop is the one that decides and publishes.
describe.each(["0", "2"])("maglevd under its own overload (a real process, --probe-threads %s)", (threads) => {
  it.live("no healthy backend goes down while both cores are busy and the loop is held for 2 s; a silent one still does", () =>
    Effect.gen(function*() {
      const b = yield* backends
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "maglevd-overload-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, configText(b.port))
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [...program("maglevd"), "--config", file, "--vpp-api-addr", "", "--rpc-addr", "", "--metrics-addr", "", "--probe-threads", threads], {
            cwd: repoRoot,
            stdio: ["ignore", "pipe", "inherit"],
            env: { ...process.env, MAGLEVD_TEST_HOOKS: "1", MAGLEVD_TEST_BLOCK_MS: "2000" }
          })
        ),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      const log = jsonLines(child)
      const transitions = () => log.filter((r) => r.annotations["event"] === "backend-transition")
      yield* waitFor(log, child, () => transitions().filter((r) => r.annotations["to"] === "up").length === BACKENDS, "every backend up")
      // The probes ran where asked.
      expect(log.filter((r) => r.annotations["event"] === "probe-threads").map((r) => String(r.annotations["threads"]))).toEqual(threads === "0" ? [] : [threads])

      yield* cpuHogs
      child.kill("SIGUSR2")
      yield* waitFor(log, child, (r) => r.annotations["event"] === "test-loop-blocked", "the loop held")
      // On the main thread, rounds that were in flight during the hold were not counted, and said so. With
      // probe threads the probes ran on during the hold, on time; their outcomes wait for the main thread,
      // which schedules the next rounds from when it reads them: nothing late to shed.
      if (threads === "0") yield* waitFor(log, child, (r) => r.annotations["event"] === "probe-self-late", "probe-self-late")

      const silenced = Date.now()
      b.silence(7)
      const down = yield* waitFor(log, child, (r) => r.annotations["event"] === "backend-transition" && r.annotations["to"] === "down", "b7 down")
      expect(down.annotations).toMatchObject({ backend: "b7", from: "up", code: "L7TOUT" })
      // Counted as the backend's: maglevd's own part in it (late_ms, SelfLate.ts) within a quarter of the 1 s timeout.
      expect(Number(down.annotations["late_ms"])).toBeLessThanOrEqual(250)
      // Within fall x interval + timeout + one interval (each +10 % jitter) of falling silent, under the same
      // load; the real clock is the point, so the bound has the busy machine's grace.
      const downAt = Date.parse((down as unknown as { readonly timestamp: string }).timestamp)
      expect(downAt - silenced).toBeLessThan(3 * 1100 + 1000 + 1100 + GRACE_MS)
      // Nobody else left "up" (b7's own transition aside), through all of it.
      const others = transitions().filter((r) => r.annotations["backend"] !== "b7" && r.annotations["from"] !== "unknown")
      expect(others.map((r) => `${r.annotations["backend"]} ${r.annotations["from"]} -> ${r.annotations["to"]}`)).toEqual([])
    }).pipe(Effect.scoped), 120_000)
})
