/** Builds validated Config values directly, for tests of what consumes a Config. */
import { Duration } from "effect"
import type { Backend, Config, Frontend, HealthCheck, LbConfig } from "../../src/config/Config.js"

export const healthCheck = (name: string, overrides: Partial<HealthCheck> = {}): HealthCheck => {
  const interval = overrides.interval ?? Duration.seconds(2)
  return {
    name,
    type: "tcp",
    port: 80,
    interval,
    fastInterval: Duration.unsafeDivide(interval, 2),
    downInterval: Duration.times(interval, 2),
    timeout: Duration.seconds(1),
    rise: 2,
    fall: 3,
    probeIpv4Src: undefined,
    probeIpv6Src: undefined,
    http: undefined,
    tcp: { send: undefined, expect: undefined, tls: false, serverName: undefined, insecure: false },
    ...overrides
  }
}

export const backend = (name: string, address: string, healthcheck: string, enabled = true): Backend => ({
  name,
  address,
  family: address.includes(":") ? 6 : 4,
  healthcheck,
  enabled
})

/** The documented defaults, with an IPv4 GRE source. */
export const lbConfig = (extra: Partial<LbConfig> = {}): LbConfig => ({
  ipv4SrcAddress: "192.0.2.254",
  ipv6SrcAddress: undefined,
  syncInterval: Duration.seconds(30),
  stickyBucketsPerCore: 65536,
  flowTimeoutSeconds: 40,
  startupMinDelay: Duration.seconds(5),
  startupMaxDelay: Duration.seconds(30),
  ...extra
})

export const config = (parts: {
  readonly healthchecks?: ReadonlyArray<HealthCheck>
  readonly backends?: ReadonlyArray<Backend>
  readonly frontends?: ReadonlyArray<Frontend>
  readonly transitionHistory?: number
  readonly netns?: string
}): Config => ({
  healthchecker: { transitionHistory: parts.transitionHistory ?? 5, netns: parts.netns ?? "" },
  vpp: { lb: lbConfig() },
  healthchecks: new Map((parts.healthchecks ?? []).map((h) => [h.name, h])),
  backends: new Map((parts.backends ?? []).map((b) => [b.name, b])),
  frontends: new Map((parts.frontends ?? []).map((f) => [f.name, f]))
})

/** An IPv4 TCP frontend on port 80 with the documented defaults. */
export const tcpFrontend = (name: string, address: string, pools: Frontend["pools"], extra: Partial<Frontend> = {}): Frontend => ({
  name,
  description: "",
  address,
  family: 4,
  protocol: "tcp",
  port: 80,
  pools,
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 1024,
  ...extra
})
