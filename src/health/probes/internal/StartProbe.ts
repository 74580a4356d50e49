/**
 * One probe of one address, callback-style, from a check's settings as plain
 * data ({@link ProbeCheck}: what crosses to a probe thread). Like
 * Scheduled.ts it imports nothing of Effect: a probe thread (ProbeWorker.ts)
 * runs this path without loading Effect. Probe.ts's `startProbe` is the same
 * from a configured `HealthCheck`.
 */
import * as net from "node:net"
import type { HealthCheck } from "../../../config/Config.js"
import { probeResult } from "../../ProbeResult.js"
import { startHttp } from "../Http.js"
import { startIcmp } from "../Icmp.js"
import { startTcp } from "../Tcp.js"
import type { LoopLag } from "./LoopLag.js"
import type { Deliver } from "./Scheduled.js"
import type { Endpoint } from "./StreamProbe.js"

/** The settings of a check a probe reads, as plain data (no Durations: they do not survive the structured clone). */
export interface ProbeCheck {
  readonly name: string
  readonly type: HealthCheck["type"]
  readonly port: number | undefined
  readonly timeoutMs: number
  readonly probeIpv4Src: string | undefined
  readonly probeIpv6Src: string | undefined
  readonly http: HealthCheck["http"]
  readonly tcp: HealthCheck["tcp"]
}

const none = () => {}

const failed = (deliver: Deliver, detail: string) => {
  deliver(probeResult("L4CON", 0, detail))
  return none
}

/** Starts one probe of `address` (from namespace `netns`, "" = ours) now; returns its cancel function. */
export const startCheckProbe = (
  address: string,
  netns: string,
  check: ProbeCheck,
  deliver: Deliver,
  lag?: LoopLag | undefined
): (() => void) => {
  const family = net.isIP(address)
  if (family !== 4 && family !== 6) return failed(deliver, `not an IP address: "${address}"`)
  const source = family === 4 ? check.probeIpv4Src : check.probeIpv6Src
  if (check.type === "icmp") {
    return startIcmp({ address, family, netns, source }, check.timeoutMs, deliver, lag)
  }
  if (check.port === undefined) return failed(deliver, `health check "${check.name}" has no port`)
  const endpoint: Endpoint = { address, family, port: check.port, localAddress: source, netns }
  switch (check.type) {
    case "http":
    case "https":
      if (check.http === undefined) return failed(deliver, `health check "${check.name}" has no http settings`)
      return startHttp(endpoint, check.http, check.type === "https", check.timeoutMs, deliver, lag)
    case "tcp":
      if (check.tcp === undefined) return failed(deliver, `health check "${check.name}" has no tcp settings`)
      return startTcp(endpoint, check.tcp, check.timeoutMs, deliver, lag)
  }
}
