/**
 * Health checking at scale: N HTTP backends (many loopback addresses x many
 * ports, served by a separate process) probed by the real HealthChecker and
 * live prober at a 1 s interval. Reports CPU seconds per 1,000 probes, peak
 * RSS, and how late probes start against their schedule.
 * Target at 10,000 backends: <= one core, p99 lateness <= 20 ms, RSS <= 300 MB.
 */
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { fork } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { checkConfigText, type Config, formatCheckResult } from "../src/config/index.js"
import * as HealthChecker from "../src/health/HealthChecker.js"
import * as Prober from "../src/health/Prober.js"
import { runProbe } from "../src/health/probes/Probe.js"

export interface HealthFigures {
  readonly backends: number
  readonly seconds: number
  readonly probes: number
  readonly failed: number
  /** Failed probes by code. */
  readonly failures: Readonly<Record<string, number>>
  /** CPU seconds the benchmark's HTTP servers used per second (their own process). */
  readonly serverCores: number
  /** RSS of this process before the health checker started. */
  readonly baseRssMiB: number
  readonly cpuSecondsPer1000: number
  readonly cores: number
  /** Share of the CPU time spent in the kernel (connect, close, loopback TCP). */
  readonly systemShare: number
  readonly peakRssMiB: number
  readonly p50LatenessMs: number
  readonly p99LatenessMs: number
  readonly maxLatenessMs: number
}

const PORTS = 100
const FIRST_PORT = 20000

/**
 * The benchmark's configuration, as an operator would write it (and checked
 * like one): 100 http checks (one per port) and N backends over 127.1.x.y.
 */
const benchConfig = (n: number): Config => {
  const lines = ["maglev:", "  healthchecks:"]
  for (let p = 0; p < Math.min(n, PORTS); p++) {
    lines.push(`    http-${FIRST_PORT + p}: {type: http, port: ${FIRST_PORT + p}, interval: 1s, fast-interval: 1s, down-interval: 1s, timeout: 900ms}`)
  }
  lines.push("  backends:")
  for (let i = 0; i < n; i++) {
    const host = Math.floor(i / PORTS)
    lines.push(`    b${i}: {address: 127.1.${host >> 8}.${(host & 255) + 1}, healthcheck: http-${FIRST_PORT + (i % PORTS)}}`)
  }
  const result = checkConfigText(lines.join("\n") + "\n")
  if (result._tag !== "Valid") throw new Error(formatCheckResult(result))
  return result.config
}

/** utime + stime of a process, from /proc (clock ticks of 1/100 s). */
const procCpuSeconds = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const startServers = (backends: number) =>
  Effect.acquireRelease(
    Effect.async<import("node:child_process").ChildProcess>((resume) => {
      const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "internal", "http-servers.mjs")
      const child = fork(script, [String(FIRST_PORT), String(PORTS), String(backends)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
      child.once("message", () => resume(Effect.succeed(child)))
      child.once("exit", (code) => resume(Effect.die(new Error(`benchmark servers exited with ${code}`))))
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

export const run = (backends: number, seconds = 30): Promise<HealthFigures> => {
  const lateness: Array<number> = []
  let probes = 0
  let failed = 0
  const failures: Record<string, number> = {}
  let measuring = false
  // The live prober, observed: a probe started durationMs before it ended.
  const prober = Layer.succeed(Prober.Prober, {
    probe: ({ scheduledAt, target }) =>
      runProbe(target, { startAt: scheduledAt }).pipe(Effect.tap((r) =>
      Effect.sync(() => {
        if (!measuring) return
        probes++
        if (!r.ok) {
          failed++
          failures[r.code] = (failures[r.code] ?? 0) + 1
        }
        lateness.push(Date.now() - r.durationMs - scheduledAt)
      })
    ))
  })
  const program = Effect.scoped(Effect.gen(function*() {
    const servers = yield* startServers(backends)
    const baseRss = process.memoryUsage.rss()
    yield* HealthChecker.make(benchConfig(backends)).pipe(Effect.provide(prober))
    // Let the first, spread-out probes and the warm-up of the JIT pass.
    yield* Effect.sleep(Duration.seconds(3))
    let peakRss = process.memoryUsage.rss()
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 200)
    const serverCpu0 = procCpuSeconds(servers.pid)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    measuring = true
    yield* Effect.sleep(Duration.seconds(seconds))
    measuring = false
    const cpu = process.cpuUsage(cpu0)
    const serverCpu = procCpuSeconds(servers.pid) - serverCpu0
    const wall = (performance.now() - t0) / 1000
    clearInterval(sampler)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    const sorted = Float64Array.from(lateness).sort()
    return {
      backends,
      seconds: wall,
      probes,
      failed,
      failures,
      serverCores: serverCpu / wall,
      baseRssMiB: baseRss / 2 ** 20,
      cpuSecondsPer1000: cpuSeconds / (probes / 1000),
      cores: cpuSeconds / wall,
      systemShare: cpu.system / (cpu.user + cpu.system),
      peakRssMiB: peakRss / 2 ** 20,
      p50LatenessMs: percentile(sorted, 0.5),
      p99LatenessMs: percentile(sorted, 0.99),
      maxLatenessMs: sorted[sorted.length - 1] ?? 0
    } satisfies HealthFigures
  }))
  return Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
}

export const print = (f: HealthFigures): void => {
  console.log(`\nHealth checking ${f.backends.toLocaleString("en-US")} HTTP backends at a 1 s interval for ${f.seconds.toFixed(0)} s`)
  const failures = Object.entries(f.failures).map(([code, n]) => `${n} ${code}`).join(", ")
  console.log(`  probes                 ${f.probes.toLocaleString("en-US")} (${f.failed} failed${failures ? `: ${failures}` : ""}), ${(f.probes / f.seconds).toFixed(0)} /s`)
  console.log(`  CPU per 1,000 probes   ${f.cpuSecondsPer1000.toFixed(3)} s   (${f.cores.toFixed(2)} cores, ${(f.systemShare * 100).toFixed(0)}% in the kernel)`)
  console.log(`  peak RSS               ${f.peakRssMiB.toFixed(0)} MiB (${f.baseRssMiB.toFixed(0)} MiB before the checker started, ~100 MiB of it tsx)`)
  console.log(`  servers' CPU           ${f.serverCores.toFixed(2)} cores (a separate process, not counted above)`)
  console.log(`  start lateness         p50 ${f.p50LatenessMs.toFixed(1)} ms, p99 ${f.p99LatenessMs.toFixed(1)} ms, max ${f.maxLatenessMs.toFixed(1)} ms`)
}

/** Runs one figure in a fresh process, so its RSS and CPU are the health checker's alone. */
export const runIsolated = (backends: number, seconds = 30): Promise<HealthFigures> =>
  new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url)
    const child = fork(self, ["--child", String(backends), String(seconds)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("message", (figures) => resolve(figures as HealthFigures))
    child.once("exit", (code) => code !== 0 && reject(new Error(`health benchmark exited with ${code}`)))
  })

if (process.argv[2] === "--child" && process.send !== undefined) {
  const figures = await run(Number(process.argv[3]), Number(process.argv[4]))
  process.send(figures, () => process.exit(0))
}
