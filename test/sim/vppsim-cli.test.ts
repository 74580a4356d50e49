import { it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { expect } from "vitest"
import { vpe } from "../../src/vpp/binapi/index.js"
import * as StatsClient from "../../src/vpp/stats/StatsClient.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"
import { tempDir } from "./tempDir.js"

it.live("vppsim runs standalone: serves both sockets, logs JSON lines, exits 0 on SIGTERM and removes its sockets", () =>
  Effect.gen(function*() {
    const dir = yield* tempDir("vppsim-cli-")
    const api = path.join(dir, "api.sock")
    const stats = path.join(dir, "stats.sock")
    const child = spawn(process.execPath, [...program("vppsim"), "--api-socket", api, "--stats-socket", stats, "--workers", "3"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    let out = ""
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // wait for the event (the ready line, or the child's end), not for a time
    yield* Effect.promise(() =>
      new Promise<void>((resolve) => {
        child.stdout.on("data", (d) => {
          out += d
          if (out.includes("vppsim-ready")) resolve()
        })
        void exited.then(() => resolve())
      })
    )
    const ready = JSON.parse(out.split("\n").find((l) => l.includes("vppsim-ready"))!)
    expect(ready.annotations).toMatchObject({ event: "vppsim-ready", api_socket: api, stats_socket: stats, messages: 78 })
    yield* Effect.scoped(Effect.gen(function*() {
      const conn = yield* VppApi.connect({ path: api })
      expect((yield* conn.request(vpe.ShowVersion, vpe.ShowVersionReply, {})).program).toBe("vpe")
      const client = yield* StatsClient.make({ socketPath: stats })
      expect(yield* client.scalar("/sys/num_worker_threads")).toBe(3n)
    }).pipe(Effect.scoped))
    child.kill("SIGTERM")
    expect(yield* Effect.promise(() => exited)).toBe(0)
    expect(fs.existsSync(api)).toBe(false)
    expect(fs.existsSync(stats)).toBe(false)
    for (const line of out.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow()
  }).pipe(Effect.scoped))
