/**
 * A daemon's worth of metrics at scale, for the /metrics test at 10,000
 * backends and `npm run bench -- metrics`: a configuration of N backends
 * (checked like an operator's file), N/10 frontends of two pools each, and
 * probe results fed to one probe recorder per backend as the health checker
 * does (a mix of codes and durations over every bucket).
 */
import { Effect, HashMap } from "effect"
import { checkConfigText, type Config, formatCheckResult } from "../../src/config/index.js"
import type { BackendHealth, HealthMap } from "../../src/health/HealthChecker.js"
import { type ProbeCode, probeResult } from "../../src/health/ProbeResult.js"
import * as Metrics from "../../src/metrics/Metrics.js"

const HEALTHCHECKS = 100

/** N backends named `${prefix}${i}` on 10.x.y.z, 100 http checks, a frontend per 10 backends (8 primary, 2 backup). */
export const scaleConfig = (n: number, prefix: string): Config => {
  const lines = ["maglev:", "  vpp:", "    lb:", "      ipv4-src-address: 192.0.2.254", "  healthchecks:"]
  for (let h = 0; h < Math.min(n, HEALTHCHECKS); h++) {
    lines.push(`    http-${h}: {type: http, port: ${8000 + h}, interval: 1s, fast-interval: 1s, down-interval: 1s, timeout: 900ms, rise: 2, fall: 3}`)
  }
  lines.push("  backends:")
  for (let i = 0; i < n; i++) {
    lines.push(`    ${prefix}${i}: {address: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}, healthcheck: http-${i % HEALTHCHECKS}}`)
  }
  lines.push("  frontends:")
  for (let f = 0; f * 10 < n; f++) {
    const members = Array.from({ length: Math.min(10, n - f * 10) }, (_, k) => `${prefix}${f * 10 + k}`)
    lines.push(`    ${prefix}fe${f}:`)
    lines.push(`      address: 192.${(f >> 8) & 255}.${f & 255}.1/32`, "      protocol: tcp", "      port: 80", "      pools:")
    lines.push("        - name: primary", "          backends:")
    for (const m of members.slice(0, 8)) lines.push(`            ${m}: { weight: 100 }`)
    if (members.length > 8) {
      lines.push("        - name: backup", "          backends:")
      for (const m of members.slice(8)) lines.push(`            ${m}: { weight: 100 }`)
    }
  }
  const result = checkConfigText(lines.join("\n") + "\n")
  if (result._tag !== "Valid") throw new Error(formatCheckResult(result))
  return result.config
}

/** Every backend of `config` up, as the health checker would hold it. */
export const allUp = (config: Config): HealthMap =>
  HashMap.fromIterable(
    [...config.backends.values()].map((b): [string, BackendHealth] => [b.name, {
      name: b.name,
      address: b.address,
      healthcheck: b.healthcheck,
      status: "up",
      counter: 4,
      rise: 2,
      fall: 3,
      transitions: [],
      lastResult: undefined,
      lastProbeAt: undefined
    }])
  )

const DURATIONS_MS = [0.4, 2, 4, 7, 20, 40, 80, 200, 400, 800, 2000, 3000]
const CODES: ReadonlyArray<ProbeCode> = ["L7OK", "L7OK", "L7OK", "L7STS", "L4CON", "L7TOUT"]

/**
 * Feeds `probes` results to each backend's probe recorder (made once, as a
 * probe loop does), and counts its unknown -> up transition.
 */
export const feed = (config: Config, probes: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    let k = 0
    for (const b of config.backends.values()) {
      const recorder = Metrics.probeRecorder(b.name, "http")
      for (let p = 0; p < probes; p++, k++) {
        const code = CODES[k % CODES.length]!
        recorder.record(probeResult(code, DURATIONS_MS[k % DURATIONS_MS.length]!, ""))
      }
      yield* Metrics.countTransition(b.name, "unknown", "up")
    }
  })
