/**
 * npm run bench -- soak [--seconds N] [--attack-seconds N]
 *
 * A real maglevd programming a real vppsim (4 VIPs × 8 TCP backends on
 * 127.0.1.x, test/api/lab.ts), in two phases:
 *
 * 1. Soak: every read RPC in a loop, one client, for `--seconds` (default
 *    180). maglevd's RSS every 5 s, and its live JS heap (a heap snapshot on
 *    SIGUSR2, which collects garbage first) after the first minute and at the
 *    end: that growth is the figure (target <= 16 MB). RSS is printed too, but
 *    it follows V8's sizing of its heap to the allocation rate and swings by
 *    tens of MB either way.
 * 2. Attack: 200 raw clients ask for a debug-level WatchEvents and never read,
 *    for `--attack-seconds` (default 30), while one client calls GetVPPLBState
 *    (binary-API traffic, so debug records) and GetVersion in turn: GetVersion
 *    p50/p99 (target p50 <= 50 ms), RSS growth (target <= 64 MB), refusals,
 *    drops, and transitions of the (healthy) backends (target none).
 */
import { Effect } from "effect"
import { type DaemonLab, nonReadingWatchers, startDaemonLab } from "../test/api/lab.js"

const MiB = 1024 * 1024

const flag = (flags: ReadonlyArray<string>, name: string, fallback: number): number => {
  const i = flags.indexOf(`--${name}`)
  const v = i < 0 ? undefined : Number(flags[i + 1])
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

/** Every read RPC once (CheckConfig of the daemon's own file; SyncVPPLBState as a dry run). */
const everyRead = (lab: DaemonLab, until: number) =>
  lab.withClient((api) =>
    Effect.gen(function*() {
      let rounds = 0
      while (Date.now() < until) {
        yield* api.GetVersion()
        const frontends = yield* api.ListFrontends()
        yield* api.GetFrontend({ name: frontends[0]!.name })
        const backends = yield* api.ListBackends()
        yield* api.GetBackend({ name: backends[rounds % backends.length]!.name })
        const checks = yield* api.ListHealthChecks()
        yield* api.GetHealthCheck({ name: checks[0]!.name })
        yield* api.CheckConfig({})
        yield* api.GetVPPInfo()
        yield* api.GetVPPLBState()
        yield* api.GetVPPLBCounters()
        yield* api.SyncVPPLBState({ dryRun: true })
        rounds++
      }
      return rounds
    })
  )

export const run = async (flags: ReadonlyArray<string>): Promise<void> => {
  const seconds = flag(flags, "seconds", 180)
  const attackSeconds = flag(flags, "attack-seconds", 30)
  const lab = await startDaemonLab({ heapSnapshots: true })
  try {
    console.log(`\nSoak: every read RPC in a loop against a real maglevd + vppsim (4 VIPs x 8 backends), ${seconds} s`)
    const start = Date.now()
    const samples: Array<{ readonly t: number; readonly rss: number }> = [{ t: 0, rss: lab.rss() }]
    const sampler = setInterval(() => samples.push({ t: (Date.now() - start) / 1000, rss: lab.rss() }), 5000)
    // The live heap (a snapshot collects garbage first) after the first minute and at the end: RSS
    // follows V8's sizing of its heap to the allocation rate, which swings by tens of MB.
    const firstMinute = Math.min(60, seconds / 2)
    let rounds = await everyRead(lab, start + firstMinute * 1000)
    const heapAtMinute = await lab.liveHeap()
    // RSS is compared from here on: writing the snapshot made V8 take memory it keeps.
    const afterSnapshot = { t: (Date.now() - start) / 1000, rss: lab.rss() }
    samples.push(afterSnapshot)
    rounds += await everyRead(lab, Date.now() + (seconds - firstMinute) * 1000)
    clearInterval(sampler)
    samples.push({ t: (Date.now() - start) / 1000, rss: lab.rss() })
    const heapAtEnd = await lab.liveHeap()
    const line = samples.filter((_, i) => i % 3 === 0 || i === samples.length - 1)
      .map((s) => `${s.t.toFixed(0)}s ${(s.rss / MiB).toFixed(0)}`).join(", ")
    console.log(`  rounds of 12 calls          ${rounds.toLocaleString("en-US")} (${(rounds * 12 / seconds).toFixed(0)} calls/s; the snapshots pause maglevd)`)
    console.log(`  maglevd RSS (MB) over time  ${line}`)
    console.log(`  (from ${afterSnapshot.t.toFixed(0)} s on, RSS includes what V8 took to write the first-minute heap snapshot)`)
    const atMinute = afterSnapshot
    const last = samples.at(-1)!
    const peakAfter = Math.max(...samples.filter((s) => s.t >= atMinute.t).map((s) => s.rss))
    console.log(
      `  RSS growth after the first minute   ${((last.rss - atMinute.rss) / MiB).toFixed(1)} MB at the end, ` +
        `${((peakAfter - atMinute.rss) / MiB).toFixed(1)} MB at the peak`
    )
    console.log(
      `  live JS heap (after GC)             ${(heapAtMinute / MiB).toFixed(1)} MB after the first minute, ` +
        `${(heapAtEnd / MiB).toFixed(1)} MB at the end: growth ${((heapAtEnd - heapAtMinute) / MiB).toFixed(1)} MB   (target <= 16 MB)`
    )

    console.log(`\nAttack: 200 non-reading debug-level WatchEvents for ${attackSeconds} s, GetVPPLBState and GetVersion in turn`)
    const quiet: Array<number> = []
    await lab.withClient((api) =>
      Effect.gen(function*() {
        for (let i = 0; i < 200; i++) {
          yield* api.GetVPPLBState()
          const t0 = performance.now()
          yield* api.GetVersion()
          quiet.push(performance.now() - t0)
        }
      })
    )
    const before = lab.rss()
    const unhealthyBefore = lab.unhealthy().length
    const attack = nonReadingWatchers(lab.host, lab.port, 200)
    const latencies: Array<number> = []
    let peak = before
    const end = Date.now() + attackSeconds * 1000
    await lab.withClient((api) =>
      Effect.gen(function*() {
        while (Date.now() < end) {
          yield* api.GetVPPLBState()
          const t0 = performance.now()
          yield* api.GetVersion()
          latencies.push(performance.now() - t0)
          peak = Math.max(peak, lab.rss())
        }
      })
    )
    attack.stop()
    quiet.sort((a, b) => a - b)
    latencies.sort((a, b) => a - b)
    const count = (event: string) => lab.log.filter((r) => r.annotations.event === event)
    const suppressed = (event: string) => count(event).reduce((n, r) => n + Number(r.annotations.suppressed ?? 1), 0)
    console.log(`  GetVersion before the attack   p50 ${percentile(quiet, 0.5).toFixed(1)} ms, p99 ${percentile(quiet, 0.99).toFixed(1)} ms`)
    console.log(
      `  GetVersion during the attack   p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms ` +
        `(${latencies.length} calls)   (target p50 <= 50 ms)`
    )
    console.log(`  RSS growth during the attack   ${((peak - before) / MiB).toFixed(1)} MB at the peak   (target <= 64 MB)`)
    console.log(
      `  watches refused (Busy)         ${suppressed("rpc-watch-refused")} in ${count("rpc-watch-refused").length} log lines; ` +
        `dropped (Overflow) ${suppressed("rpc-watch-overflow")} in ${count("rpc-watch-overflow").length} lines`
    )
    console.log(`  backends leaving up            ${lab.unhealthy().length - unhealthyBefore}   (target 0)`)
  } finally {
    await lab.stop()
  }
}
