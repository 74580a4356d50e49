/**
 * npm run bench -- reload: what a configuration reload costs maglevd's main
 * thread at N backends (N/10 frontends; `--backends 10000` by default, a list
 * allowed): the daemon's services in process (RunningConfig, the health
 * checker, the LB sync with no VPP), a prober that never answers, and
 * `RunningConfig.replace` (what SIGHUP and the ReloadConfig RPC do after the
 * check) of fresh decodes: the same file, one weight changed, 100 backends
 * (and their 10 frontends) out and 100 in, and back. For each: the longest
 * hold of the event loop from the reload to 300 ms after (this thread's CPU
 * between two ticks of a 1 ms timer, and wall time, as metrics-part measures
 * it), the time `replace` took, and this thread's CPU in all.
 * Each N in a fresh process.
 */
import { Context, Effect, Layer, Logger } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Config, Frontend } from "../src/config/Config.js"
import * as RunningConfig from "../src/config/RunningConfig.js"
import * as Daemon from "../src/daemon/Daemon.js"
import * as Prober from "../src/health/Prober.js"
import { threadCpuNs } from "../src/metrics/internal/Endpoint.js"
import { scaleConfig } from "../test/metrics/scale.js"
import { holds } from "./metricsPart.js"

const PREFIX = "b"

/** A fresh decode with the first pool member of the first frontend at another weight. */
const oneWeight = (n: number): Config => {
  const config = scaleConfig(n, PREFIX)
  const [name, f] = config.frontends.entries().next().value as [string, Frontend]
  const [pool, ...pools] = f.pools
  const [member, ...members] = pool!.backends
  const changed: Frontend = { ...f, pools: [{ ...pool!, backends: [{ ...member!, weight: member!.weight + 1 }, ...members] }, ...pools] }
  return { ...config, frontends: new Map([...config.frontends].map(([k, v]) => [k, k === name ? changed : v])) }
}

/** A fresh decode of N + 100 backends without the first 100 (and the 10 frontends that use them). */
const churn = (n: number): Config => {
  const config = scaleConfig(n + 100, PREFIX)
  const out = new Set(Array.from({ length: 100 }, (_, i) => `${PREFIX}${i}`))
  return {
    ...config,
    backends: new Map([...config.backends].filter(([name]) => !out.has(name))),
    frontends: new Map([...config.frontends].filter(([, f]) => !f.pools.some((p) => p.backends.some((m) => out.has(m.backend)))))
  }
}

const child = (n: number) =>
  Effect.gen(function*() {
    const base = scaleConfig(n, PREFIX)
    const steps: ReadonlyArray<readonly [string, Config]> = [
      ["the same file", scaleConfig(n, PREFIX)],
      ["one weight changed", oneWeight(n)],
      ["back", scaleConfig(n, PREFIX)],
      ["100 backends out, 100 in", churn(n)],
      ["back", scaleConfig(n, PREFIX)]
    ]
    const daemon = Daemon.layer(base, { apiSocket: "", statsSocket: "" }).pipe(Layer.provide(Prober.layerFrom(() => Effect.never)))
    const running = Context.get(yield* Layer.build(daemon), RunningConfig.RunningConfig)
    const h = holds()
    yield* Effect.addFinalizer(() => Effect.sync(h.stop))
    const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
    yield* pause(1500)
    console.log(`\nA reload: ${n.toLocaleString("en-US")} backends, ${Math.ceil(n / 10).toLocaleString("en-US")} frontends (the daemon in process, no VPP)`)
    console.log("  the longest hold of the main thread's event loop from the reload to 300 ms after (its CPU: /proc/thread-self/schedstat)")
    for (let round = 1; round <= 2; round++) {
      for (const [label, config] of steps) {
        yield* pause(300)
        h.reset()
        const cpu0 = threadCpuNs()
        const t0 = performance.now()
        yield* running.replace(config)
        const took = performance.now() - t0
        yield* pause(300)
        const { cpu, wall } = h.longest()
        console.log(`  ${round} ${label.padEnd(26)} ${cpu.toFixed(1).padStart(6)} ms CPU ${wall.toFixed(1).padStart(7)} ms wall   (replace ${took.toFixed(0)} ms, this thread's CPU in all ${((threadCpuNs() - cpu0) / 1e6).toFixed(0)} ms)`)
      }
    }
  }).pipe(Effect.scoped, Effect.provide(Logger.remove(Logger.defaultLogger)))

export const run = (flags: ReadonlyArray<string>): void => {
  const at = flags.indexOf("--backends")
  const ns = at < 0 ? [10_000] : flags[at + 1]!.split(",").map(Number)
  for (const n of ns) {
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--reload-child", String(n)], { stdio: "inherit" })
    if (r.status !== 0) console.error(`reload at ${n} backends exited with ${r.status}`)
  }
  console.log("  (target: no hold of more than a few ms; the wall figures include waits for a core)")
}

if (process.argv[2] === "--reload-child") {
  await Effect.runPromise(child(Number(process.argv[3])))
  process.exit(0)
}
