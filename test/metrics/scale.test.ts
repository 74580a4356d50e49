/**
 * /metrics at 10,000 backends, over real HTTP: the daemon's services (VPP
 * disabled, a scripted prober, the clock held: no probe runs, every backend
 * stays unknown) and the probe recorders fed as the probe loops feed them
 * (scale.ts). The whole body goes through the strict parser, and through
 * `promtool check metrics` (Debian's prometheus package; .ci/run installs
 * it): a missing promtool fails the test rather than skipping it.
 *
 * This file's worker has a metric store of its own: counts are exact. The
 * scrape worker's body is compared with the in-process render, and a scrape
 * while this thread is blocked is answered.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import { spawnSync } from "node:child_process"
import * as Daemon from "../../src/daemon/Daemon.js"
import * as Prober from "../../src/health/Prober.js"
import { probeResult } from "../../src/health/ProbeResult.js"
import * as MetricsServer from "../../src/metrics/Server.js"
import { oneBlank, parse } from "./exposition.js"
import { feed, scaleConfig } from "./scale.js"

const N = 10_000
const PREFIX = "m10k-"

const promtool = (text: string) => {
  const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", maxBuffer: 64 * 2 ** 20 })
  if (run.error !== undefined) throw new Error(`promtool check metrics could not run (apt-get install prometheus): ${run.error.message}`)
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

describe("/metrics at 10,000 backends", () => {
  it.scoped("the whole exposition passes the strict parser and promtool, every backend's series as counted", () =>
    Effect.gen(function*() {
      const config = scaleConfig(N, PREFIX)
      const prober = Prober.layerFrom(() => Effect.succeed(probeResult("L7OK", 1, "HTTP 200")))
      const daemon = Daemon.layer(config, { apiSocket: "", statsSocket: "" }).pipe(Layer.provide(prober))
      const context = yield* Layer.build(MetricsServer.layer({ port: 0 }).pipe(Layer.provideMerge(daemon)))
      const server = Context.get(context, MetricsServer.MetricsServer)
      // 12 probes per backend: every duration bucket once, +Inf once; L7OK 6, L7STS 2, L4CON 2, L7TOUT 2 (scale.ts).
      yield* feed(config, 12)

      const text = yield* Effect.promise(async () => {
        const r = await fetch(server.url)
        expect(r.status).toBe(200)
        return r.text()
      })
      const m = parse(text)

      const lint = promtool(text)
      expect(lint.output).toBe("")
      expect(lint.status).toBe(0)

      const mine = (family: string) => m.get(family)!.samples.filter((s) => s.labels["backend"]?.startsWith(PREFIX))
      expect(m.get("maglev_backend_state")!.type).toBe("gauge")
      expect(mine("maglev_backend_state")).toHaveLength(N * 6)
      expect(mine("maglev_backend_state").filter((s) => s.value === 1).every((s) => s.labels["state"] === "unknown")).toBe(true)
      expect(mine("maglev_backend_health")).toHaveLength(N)
      expect(mine("maglev_backend_enabled").every((s) => s.value === 1)).toBe(true)
      const weights = mine("maglev_frontend_pool_backend_weight")
      expect(weights).toHaveLength(N)
      expect(weights.every((s) => s.value === 0)).toBe(true)

      const probes = mine("maglev_probe_total")
      expect(m.get("maglev_probe_total")!.type).toBe("counter")
      expect(probes).toHaveLength(N * 4)
      const byCode = new Map<string, number>()
      for (const s of probes) byCode.set(`${s.labels["result"]}/${s.labels["code"]}`, (byCode.get(`${s.labels["result"]}/${s.labels["code"]}`) ?? 0) + s.value)
      expect(Object.fromEntries(byCode)).toEqual({
        "success/L7OK": 6 * N,
        "failure/L7STS": 2 * N,
        "failure/L4CON": 2 * N,
        "failure/L7TOUT": 2 * N
      })

      // The parser checked every histogram (rising le, cumulative, +Inf = _count); here, the counts themselves.
      const durations = mine("maglev_probe_duration_seconds")
      expect(durations).toHaveLength(N * 14)
      const b0 = `${PREFIX}0`
      const first = durations.filter((s) => s.labels["backend"] === b0 && s.name.endsWith("_bucket")).map((s) => [s.labels["le"], s.value])
      expect(first).toEqual([
        ["0.001", 1], ["0.0025", 2], ["0.005", 3], ["0.01", 4], ["0.025", 5], ["0.05", 6], ["0.1", 7], ["0.25", 8], ["0.5", 9], ["1", 10],
        ["2.5", 11], ["+Inf", 12]
      ])
      expect(durations.filter((s) => s.name.endsWith("_count")).every((s) => s.value === 12)).toBe(true)
      expect(durations.find((s) => s.labels["backend"] === b0 && s.name.endsWith("_sum"))!.value).toBeCloseTo(6.5534, 9)

      const transitions = mine("maglev_backend_transitions_total")
      expect(transitions).toHaveLength(N)
      expect(transitions.every((s) => s.labels["from"] === "unknown" && s.labels["to"] === "up" && s.value === 1)).toBe(true)

      // Effect's registry comes along, counters named ..._total; and the endpoint's own.
      for (const [name, family] of m) {
        if (family.type === "counter") expect(name, name).toMatch(/_total$/)
      }
      expect(m.get("maglev_vpp_connected")!.samples[0]!.value).toBe(0)
      // The scrape itself, waiting for the render (which counts itself only when done).
      expect(m.get("maglev_metrics_scrapes_waiting")!.samples[0]!.value).toBe(1)

      // The scrape worker's body is the in-process render's, byte for byte but for the blanks before values, and for what moves by itself (the clock is
      // held: only the process's figures, the event loop's delay and the registry's fiber counts) and the endpoint's own.
      const inProcess = (yield* MetricsServer.render().pipe(Effect.provide(context))).toString("utf8")
      const moving = /^(# (HELP|TYPE) )?(effect_fiber_|process_|maglev_metrics_|maglev_event_loop_delay_seconds)/
      // One blank before each value: the worker writes its store series' values in fields with room to grow.
      const still = (t: string) => oneBlank(t).split("\n").filter((l) => !moving.test(l)).join("\n")
      const worker = still(text)
      expect(worker.length).toBeGreaterThan(15_000_000)
      // Not toBe: a mismatch of 18 MB would print both.
      expect(worker === still(inProcess), "the worker's body equals the in-process render").toBe(true)
      // Again: the worker now writes every series from the blocks its first render kept, the values' digits written over.
      const again = yield* Effect.promise(async () => (await fetch(server.url)).text())
      expect(still(again) === worker, "the render from kept blocks equals the first (nothing moved)").toBe(true)
      // (This thread's first part may have come late: the second render then took it at once, as stale.)
      const staleBefore = (yield* server.stats).stale

      // This thread blocked (a synchronous child process scraping): the worker answers anyway, with this thread's last
      // part (the first scrape's); counted, and its age said.
      const script = `fetch(${JSON.stringify(server.url)}).then(async (r) => process.stdout.write(r.status + "\\n" + await r.text()))`
      const blocked = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", maxBuffer: 64 * 2 ** 20 })
      expect(blocked.stdout.slice(0, 4)).toBe("200\n")
      const stale = parse(blocked.stdout.slice(4))
      expect(stale.get("maglev_metrics_stale_renders_total")!.samples[0]!.value).toBe(staleBefore + 1)
      expect(stale.get("maglev_metrics_part_age_seconds")!.samples[0]!.value).toBeGreaterThan(0)
      expect(stale.get("maglev_probe_total")!.samples.filter((s) => s.labels["backend"]?.startsWith(PREFIX))).toHaveLength(N * 4)
      expect(stale.get("maglev_backend_state")!.samples.filter((s) => s.labels["backend"]?.startsWith(PREFIX))).toHaveLength(N * 6)
      expect((yield* server.stats).stale).toBe(staleBefore + 1)

      // A server that never waits for this thread's part: every render after the first takes the last part there is,
      // and this thread's answers come in while renders write (the store's half takes several slices here); each
      // scrape is whole.
      const eager = Context.get(yield* Layer.build(MetricsServer.layer({ port: 0, partWaitMs: 0 }).pipe(Layer.provide(daemon))), MetricsServer.MetricsServer)
      const sizes: Array<number> = []
      for (let i = 0; i < 6; i++) {
        const body = yield* Effect.promise(async () => {
          const r = await fetch(eager.url)
          expect(r.status).toBe(200)
          return r.text()
        })
        expect(body.endsWith("\n")).toBe(true)
        sizes.push(body.length)
      }
      expect(sizes.every((n) => n > 15_000_000), `${sizes}`).toBe(true)
      expect((yield* eager.stats).stale).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))), 180_000)
})
