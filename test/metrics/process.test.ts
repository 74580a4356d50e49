/**
 * The process and build metrics (metrics/Process.ts): the names and values
 * the Prometheus conventions give them, and a whole exposition of them with
 * the frontend families that `promtool check metrics` finds nothing to say
 * about.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as FrontendState from "../../src/health/FrontendState.js"
import * as Process from "../../src/metrics/Process.js"
import { renderText } from "../../src/metrics/Prometheus.js"
import { buildSync } from "../../src/Version.js"

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0

const value = (text: string, series: string): number => {
  const m = new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)
  if (m === null) throw new Error(`no ${series} in\n${text}`)
  return Number(m[1])
}

describe("process metrics", () => {
  const text = renderText(Process.sources())

  it("are the process's, under the conventional names", () => {
    expect(value(text, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
    expect(value(text, "process_cpu_seconds_total")).toBeGreaterThan(0)
    const start = value(text, "process_start_time_seconds")
    expect(start).toBeLessThanOrEqual(Date.now() / 1000)
    expect(start).toBeGreaterThan(Date.now() / 1000 - 24 * 3600)
    expect(text).toContain("# TYPE process_cpu_seconds_total counter\n")
    expect(text).toContain(`maglev_build_info{version="${buildSync().version}",revision="${buildSync().commit}",`)
    if (process.platform === "linux") {
      expect(value(text, "process_open_fds")).toBeGreaterThan(2)
      expect(value(text, "process_open_fds")).toBeLessThanOrEqual(value(text, "process_max_fds"))
    }
  })

  it("reads the limits and status files as Linux writes them", () => {
    expect(Process.maxFds("Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n")).toBe(1024)
    expect(Process.maxFds(undefined)).toBeUndefined()
    expect(Process.virtualBytes("Name:\tnode\nVmSize:\t  123 kB\n")).toBe(123 * 1024)
  })

  it.skipIf(!hasPromtool)("with the frontend families, pass promtool check metrics", () => {
    const frontends = renderText(FrontendState.sources(new Map([["web", { state: "up", activePool: "primary", serving: 2 } as const]])))
    // promtool exits non-zero and names the problem when there is one.
    const out = execFileSync("promtool", ["check", "metrics"], { input: text + frontends, encoding: "utf8" })
    expect(out).toBe("")
  })
})
