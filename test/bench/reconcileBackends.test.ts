/**
 * The reconcile bench's backends (bench/reconcileBackends.ts) answer from a
 * process of their own: with the bench's event loop held (here by spawnSync,
 * which blocks it until the child exits), a client still gets its 200. On the
 * bench's own loop (as they were) the request would wait for the loop, and the
 * child would time out. A flip closes a listener (connection refused) and
 * opens it again on the same port. No timing: the child waits for the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { type Backend, startBackends } from "../../bench/reconcileBackends.js"

/**
 * One HTTP request to each address from another process, while this one's loop is blocked:
 * each status line, or its error's code.
 */
const askBlocked = (port: number, addresses: ReadonlyArray<string>): Array<string> => {
  const script = `
    const ask = (address) => new Promise((resolve) => {
      const s = require("node:net").connect(${port}, address, () => s.write("GET / HTTP/1.0\\r\\n\\r\\n"))
      let got = ""
      s.on("data", (d) => (got += d))
      s.on("end", () => resolve(got.split("\\r\\n")[0]))
      s.on("error", (e) => resolve(e.code))
    })
    ;(async () => {
      const out = []
      for (const a of ${JSON.stringify(addresses)}) out.push(await ask(a))
      process.stdout.write(JSON.stringify(out))
    })()
  `
  // The timeout only ends a child that never got its answers (the failure); a pass does not wait for it.
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 })
  return r.error !== undefined ? [`child: ${r.error.message}`] : JSON.parse(r.stdout) as Array<string>
}

describe("reconcile bench backends", () => {
  const addresses = ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
  let port = 0
  let backends: Array<Backend> = []
  let close = () => Promise.resolve()
  beforeAll(async () => {
    ;({ port, backends, close } = await startBackends(addresses))
  })
  afterAll(() => close())

  it("answers 200 on every address while the bench's own event loop is blocked", () => {
    expect(askBlocked(port, addresses)).toEqual(addresses.map(() => "HTTP/1.1 200 OK"))
  })

  it("a stopped backend refuses, and answers again once started on the same port", async () => {
    await backends[1]!.stop()
    expect(askBlocked(port, addresses)).toEqual(["HTTP/1.1 200 OK", "ECONNREFUSED", "HTTP/1.1 200 OK"])
    expect(await backends[1]!.start(port)).toBe(port)
    expect(askBlocked(port, [addresses[1]!])).toEqual(["HTTP/1.1 200 OK"])
  })

  it("starting on a port another address's listener holds fails with the address and port", async () => {
    // The same address again: EADDRINUSE, named.
    await expect(backends[0]!.start(port)).rejects.toThrow(`127.0.1.1:${port}: listen EADDRINUSE`)
  })

  it("knows how late its own loop was: a process stopped for 300 ms says so", async () => {
    const thread = backends[0]!.thread
    const before = (await thread.late())!
    // Stopped (as a starved process is) while this one blocks for 300 ms of real time: the clock is the point.
    process.kill(thread.pid!, "SIGSTOP")
    spawnSync("sleep", ["0.3"])
    process.kill(thread.pid!, "SIGCONT")
    const after = (await thread.late())!
    expect(after.over).toBeGreaterThan(before.over)
    expect(after.longest).toBeGreaterThanOrEqual(250)
    expect(Math.abs(after.at - Date.now())).toBeLessThan(60_000)
  })
})
