import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { promisify } from "node:util"
import { Effect } from "effect"
import { expect, it } from "vitest"
import * as Client from "../src/api/Client.js"
import { jsonLines } from "./support/jsonLines.js"
import { waitFor as waitUntil } from "./support/wait.js"
import { repoRoot } from "./support/paths.js"

const run = promisify(execFile)

/** One GET on a new connection (no keep-alive: each is a new flow for the VIP); who served it. */
const servedBy = (url: string): Promise<string> =>
  new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume()
      res.on("end", () => resolve(`${res.statusCode} ${String(res.headers["x-served-by"])}`))
    }).on("error", reject)
  })

/** Until `probe` yields a value (test/support/wait.ts), up to 120 s: npm start is four node --import tsx processes on a busy machine. */
const until = <A>(what: string, probe: () => Promise<A | undefined>): Promise<A> =>
  Effect.runPromise(waitUntil(what, Effect.promise(() => probe().catch(() => undefined)), 120_000, 50))

/** The established flows VPP holds per backend of the web VIP (GetVPPLBCounters), from npm start's maglevd. */
const flowsByBackend = (): Promise<Record<string, number>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const api = yield* Client.make({ url: "http://127.0.0.1:9090" })
    const [web] = yield* api.GetVPPLBCounters()
    return Object.fromEntries((web?.ases ?? []).map((a) => [a.backend ?? a.address, a.flows]))
  })))

/** maglev_vip_packets_total{frontend="web",kind} from npm start's /metrics. */
const vipPackets = async (kind: string): Promise<number> => {
  const text = await (await fetch("http://127.0.0.1:9091/metrics")).text()
  const m = new RegExp(`^maglev_vip_packets_total\\{frontend="web",kind="${kind}"\\} (\\d+)$`, "m").exec(text)
  return m === null ? 0 : Number(m[1])
}

it("examples/codec.ts runs and prints the frame, the value and a typed encode error", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples/codec.ts")], { cwd: repoRoot })
  expect(stdout).toContain(
    "lb_add_del_as_v2_2f1d3b0e: 0000000000000000000000330000000003f2800000010000002a00c0000200000000000000000000000000180600" +
      "50000a000001000000000000000000000000640000"
  )
  expect(stdout).toContain("as_address: '10.0.0.1'")
  expect(stdout).toContain("cannot encode lb_add_del_as_v2.weight: expected an integer u8 (0..255), got 300")
})

it("npm start runs vppsim (traffic and data plane), three example backends and maglevd; the VIP serves, maglevt sees it; a backend taken down is drained in VPP and gets no new connection; Ctrl-C stops it all", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "src/start.ts")], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const logs = jsonLines(child)
  let stderr = ""
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
  /** The annotations of the first record that `pred` takes. */
  const waitFor = (pred: (r: Record<string, unknown>) => boolean, what: string) =>
    until(what, async () => logs.find((r) => pred(r.annotations ?? {}))?.annotations).catch((e) => {
      throw new Error(`${String(e)}; stderr: ${stderr}; log: ${JSON.stringify(logs.map((r) => r.annotations))}`)
    })
  try {
    // After the 5 s warm-up, the example VIP and its three ASes.
    for (const address of ["127.0.0.1", "127.0.0.2", "127.0.0.3"]) {
      await waitFor((r) => r.event === "vpp-lbsync-as-add" && r.as === address, `AS ${address}`)
    }
    // The VIP (127.0.0.10:8080) is served by vppsim's data plane: new connections are spread over the primary pool.
    const VIP = "http://127.0.0.10:8080/"
    await until("the VIP serving both primary backends", async () => {
      const seen = new Set(await Promise.all(Array.from({ length: 12 }, () => servedBy(VIP))))
      return seen.has("200 127.0.0.1") && seen.has("200 127.0.0.2") ? seen : undefined
    })
    // The traffic model and those connections move the VIP's counters, which maglevd exports.
    await until("VIP packets in /metrics", async () => ((await vipPackets("first")) > 0 && (await vipPackets("next")) > 0 ? true : undefined))
    // The traffic model pins flows to both primary backends (show vpp lb counters lists them per backend).
    await until("flows on web1 and web2", async () => {
      const f = await flowsByBackend()
      return (f["web1"] ?? 0) > 0 && (f["web2"] ?? 0) > 0 ? f : undefined
    })
    // maglevt, run as the README shows, sees the backends behind the VIP.
    const maglevt = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "src/maglevt/main.ts"), "--config", "examples/maglev.yaml", "--interval", "100ms"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let maglevtOut = ""
    maglevt.stdout.on("data", (d: Buffer) => (maglevtOut += d.toString()))
    try {
      await until("maglevt's tally", async () => (/ web backend 127\.0\.0\.1 serving\n/.test(maglevtOut) ? true : undefined))
    } finally {
      maglevt.kill("SIGKILL")
    }

    expect(stderr).toContain("curl -X POST http://127.0.0.2:8080/down")
    const runDir = /touch (\S+)\/down\/127\.0\.0\.2/.exec(stderr)?.[1]
    expect(runDir).toBeDefined()

    const res = await fetch("http://127.0.0.2:8080/down", { method: "POST" })
    expect(await res.text()).toBe("127.0.0.2 down\n")
    expect((await fetch("http://127.0.0.2:8080/")).status).toBe(503)
    const drained = await waitFor((r) => r.event === "vpp-lbsync-as-weight" && r.as === "127.0.0.2", "127.0.0.2 drained")
    expect(drained).toMatchObject({ weight: 0, flush: true, frontend: "web", backend: "web2" })
    // Drained with flush: every new connection through the VIP now goes to 127.0.0.1.
    const after = await Promise.all(Array.from({ length: 12 }, () => servedBy(VIP)))
    expect(new Set(after)).toEqual(new Set(["200 127.0.0.1"]))
    // The flush took web2's flows (lb_flush_vip_as); the VIP's flows are now pinned to web1, in the API and in /metrics.
    await until("web2's flows flushed", async () => {
      const f = await flowsByBackend()
      return f["web2"] === 0 && (f["web1"] ?? 0) > 0 ? f : undefined
    })
    await until("web2's flows flushed in /metrics", async () => {
      const text = await (await fetch("http://127.0.0.1:9091/metrics")).text()
      const flows = (backend: string) => Number(new RegExp(`^maglev_vip_as_flows\\{frontend="web",backend="${backend}",[^}]*\\} (\\d+)$`, "m").exec(text)?.[1])
      return flows("web2") === 0 && flows("web1") > 0 ? true : undefined
    })

    // examples/client.ts against the daemon npm start runs.
    const listed = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples/client.ts")], { cwd: repoRoot })
    expect(listed.stdout).toMatch(/backend web2 +127\.0\.0\.2 +down/)
    expect(listed.stdout).toMatch(/frontend web +127\.0\.0\.10\/32 +up \(active pool: primary\)/)
    expect(listed.stdout).toMatch(/VPP 26\.10/)

    // The dashboard, started once maglevd answers: its page serves, and it never found maglevd unreachable.
    await until("the dashboard's page", async () => ((await fetch("http://127.0.0.1:9092/view/").catch(() => undefined))?.status === 200 ? true : undefined))
    expect(logs.filter((r) => r.annotations?.event === "upstream-down").map((r) => r.annotations)).toEqual([])

    child.kill("SIGINT")
    expect(await exited).toBe(0)
    expect(stderr).toContain("stopping")
    expect(fs.existsSync(runDir!)).toBe(false)
  } finally {
    // A test that failed half-way still stops npm start the way Ctrl-C does: its children run in process
    // groups of their own, so a SIGKILL of npm start alone would leave vppsim, the backends, maglevd and the
    // dashboard running, holding the VIP's and the API's ports for the next run. SIGKILL only if it hangs.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))])
      child.kill("SIGKILL")
    }
  }
}, 300_000)

it("examples/embed.ts runs the health checker alone, then the whole daemon in its own runtime against the simulator", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples/embed.ts")], { cwd: repoRoot, timeout: 240_000 })
  expect(stdout).toContain("health checker: app1 unknown -> up (L7OK)")
  expect(stdout).toContain("VPP holds 192.0.2.80/32 with 127.0.0.1 weight 100")
  expect(stdout).toContain("frontend app: up")
}, 300_000)

it("examples/client.ts says so, and exits 1, when no daemon answers", async () => {
  // Its normal output is checked against the daemon npm start runs (above).
  const failed = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples/client.ts"), "http://127.0.0.1:1"], { cwd: repoRoot })
    .then(() => undefined, (e: { code: number; stderr: string }) => e)
  expect(failed?.code).toBe(1)
  expect(failed?.stderr).toContain("examples/client.ts:")
}, 120_000)
