/**
 * One health-check probe of one backend, whatever its kind: the entry point
 * of the health checker into the network.
 *
 * A probe is an Effect that never fails and never takes (much) longer than
 * the check's timeout: every outcome - a 200, a refused connection, a bad
 * certificate, silence - is a {@link ProbeResult}, and the socket is closed
 * whatever happened, interruption included. See docs/probes.md for the codes
 * each kind produces.
 */
import { Duration, Effect } from "effect"
import * as net from "node:net"
import type { HealthCheck } from "../../config/Config.js"
import { type ProbeResult, probeResult } from "../ProbeResult.js"
import { probeHttp } from "./Http.js"
import { probeIcmp } from "./Icmp.js"
import { waitReal } from "./internal/Deadline.js"
import type { Endpoint } from "./internal/StreamProbe.js"
import { probeTcp } from "./Tcp.js"

export { USER_AGENT } from "./internal/UserAgent.js"

export interface ProbeTarget {
  /** The backend's address, IPv4 or IPv6 text. */
  readonly address: string
  readonly healthcheck: HealthCheck
  /** Network namespace the probe comes from: a name under /var/run/netns; "" = our own. */
  readonly netns: string
}

const failed = (detail: string): Effect.Effect<ProbeResult> => Effect.succeed(probeResult("L4CON", 0, detail))

export interface ProbeOptions {
  /**
   * When to start (epoch milliseconds, wall clock); the probe waits for it
   * with the same timer machinery as its timeout, so waiting for the due time
   * and probing cost the calling fiber one wake-up. Default: now.
   */
  readonly startAt?: number | undefined
}

/** Probes one backend once. */
export const runProbe = (target: ProbeTarget, options?: ProbeOptions): Effect.Effect<ProbeResult> =>
  Effect.suspend(() => {
    const delayMs = options?.startAt === undefined ? 0 : Math.max(0, options.startAt - Date.now())
    const hc = target.healthcheck
    const family = net.isIP(target.address)
    if (family !== 4 && family !== 6) return failed(`not an IP address: "${target.address}"`)
    const timeoutMs = Math.max(1, Duration.toMillis(hc.timeout))
    const source = family === 4 ? hc.probeIpv4Src : hc.probeIpv6Src
    if (hc.type === "icmp") {
      return Effect.zipRight(
        waitReal(delayMs),
        probeIcmp({ address: target.address, family, netns: target.netns, source }, timeoutMs)
      )
    }
    if (hc.port === undefined) return failed(`health check "${hc.name}" has no port`)
    const endpoint: Endpoint = {
      address: target.address,
      family,
      port: hc.port,
      localAddress: source,
      netns: target.netns,
      delayMs
    }
    switch (hc.type) {
      case "http":
      case "https":
        if (hc.http === undefined) return failed(`health check "${hc.name}" has no http settings`)
        return probeHttp(endpoint, hc.http, hc.type === "https", timeoutMs)
      case "tcp":
        if (hc.tcp === undefined) return failed(`health check "${hc.name}" has no tcp settings`)
        return probeTcp(endpoint, hc.tcp, timeoutMs)
    }
  })
