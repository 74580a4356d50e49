/**
 * Runs one probe described by argv[2] (JSON) and prints its result as JSON:
 * for tests that need the probe in a process with fewer capabilities
 * (`setpriv --bounding-set -net_raw ...`). Run as `program("probe-child")` (test/support/programs.ts).
 */
import { Effect } from "effect"
import { runProbe } from "../../src/health/probes/Probe.js"
import { httpCheck, icmpCheck, tcpCheck } from "./probes.js"

export interface ChildSpec {
  readonly type: "http" | "tcp" | "icmp"
  readonly address: string
  readonly port?: number
  readonly netns?: string
  readonly timeoutMs?: number
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ChildSpec
const o = { timeoutMs: spec.timeoutMs ?? 1000 }
const healthcheck =
  spec.type === "icmp" ? icmpCheck(o) : spec.type === "tcp" ? tcpCheck(spec.port ?? 1, {}, o) : httpCheck(spec.port ?? 1, {}, o)
const result = await Effect.runPromise(runProbe({ address: spec.address, healthcheck, netns: spec.netns ?? "" }))
process.stdout.write(`${JSON.stringify(result)}\n`)
