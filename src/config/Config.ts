/**
 * The validated configuration: what `maglev.yaml` means once both validation
 * stages have passed. Everything downstream (health checker, desired LB state,
 * API) reads this and never the raw YAML. Defaults are filled in, addresses are
 * canonical text (IPv6 in RFC 5952 form), durations are `Duration`s, and every
 * map keeps the order of the file.
 */
import type { Duration } from "effect"

export type AddressFamily = 4 | 6

export interface HealthCheckerConfig {
  /** How many transitions are kept per backend (>= 1). */
  readonly transitionHistory: number
  /** Network namespace name under /var/run/netns; "" = the daemon's own namespace. */
  readonly netns: string
}

export interface LbConfig {
  /** Source address of GRE4 encapsulation; required when any frontend is IPv4. */
  readonly ipv4SrcAddress: string | undefined
  /** Source address of GRE6 encapsulation; required when any frontend is IPv6. */
  readonly ipv6SrcAddress: string | undefined
  readonly syncInterval: Duration.Duration
  /** Power of two. */
  readonly stickyBucketsPerCore: number
  /** Whole seconds, 1..120. */
  readonly flowTimeoutSeconds: number
  /** Zero disables. */
  readonly startupMinDelay: Duration.Duration
  /** Zero disables. */
  readonly startupMaxDelay: Duration.Duration
}

export interface VppConfig {
  readonly lb: LbConfig
}

export type HealthCheckType = "http" | "https" | "tcp" | "icmp"

/** An inclusive range of HTTP status codes; a single code has from === to. */
export interface StatusRange {
  readonly from: number
  readonly to: number
}

export interface HttpParams {
  readonly method: "GET" | "HEAD"
  /** Starts with "/"; default "/". */
  readonly path: string
  /** Host header; default: the backend address (bracketed for IPv6) and port. */
  readonly host: string | undefined
  /** Extra request headers, in file order. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>
  /** Default [{from: 200, to: 399}]. */
  readonly expectedCodes: ReadonlyArray<StatusRange>
  /** Source of a JavaScript RegExp (validated); matched against at most the first 64 KiB of the body. */
  readonly responseRegex: string | undefined
  /** TLS SNI (https only); default: `host` when it is a name, none for an address. */
  readonly serverName: string | undefined
  /** Skip certificate verification (https only). */
  readonly insecure: boolean
  /** PEM file of CA certificates to trust instead of the system ones (https only). */
  readonly caFile: string | undefined
}

export interface TcpParams {
  /** Bytes to send after connecting (the string as UTF-8). */
  readonly send: string | undefined
  /** Source of a RegExp the received data must match. */
  readonly expect: string | undefined
  readonly tls: boolean
  readonly serverName: string | undefined
  readonly insecure: boolean
}

export interface HealthCheck {
  readonly name: string
  readonly type: HealthCheckType
  /** Required except for icmp (undefined there). */
  readonly port: number | undefined
  readonly interval: Duration.Duration
  /** Used while the state is changing; default interval / 2. */
  readonly fastInterval: Duration.Duration
  /** Used once fully down; default 2 x interval. */
  readonly downInterval: Duration.Duration
  /** Default 1s; never more than the shortest of the three intervals. */
  readonly timeout: Duration.Duration
  readonly rise: number
  readonly fall: number
  readonly probeIpv4Src: string | undefined
  readonly probeIpv6Src: string | undefined
  /** Present (with defaults) for http and https, undefined otherwise. */
  readonly http: HttpParams | undefined
  /** Present (with defaults) for tcp, undefined otherwise. */
  readonly tcp: TcpParams | undefined
  /** Ramp of a backend that comes up to its weight (SlowStart.ts), >= 1s; undefined = none. Not part of probing. */
  readonly slowStart?: Duration.Duration | undefined
}

export interface Backend {
  readonly name: string
  /** Canonical text form. */
  readonly address: string
  readonly family: AddressFamily
  readonly healthcheck: string
  readonly enabled: boolean
}

export interface PoolMember {
  readonly backend: string
  /** 0..100, default 100. */
  readonly weight: number
}

export interface Pool {
  readonly name: string
  /** In file order. */
  readonly backends: ReadonlyArray<PoolMember>
  /** Overrides the health checks' `slowStart` for this pool's members; undefined = theirs. */
  readonly slowStart?: Duration.Duration | undefined
}

export type FrontendProtocol = "tcp" | "udp" | "any"

export interface Frontend {
  readonly name: string
  readonly description: string
  /** Canonical prefix text, e.g. "192.0.2.1/32" or "2001:db8::/64" (a bare address gets /32 or /128). */
  readonly address: string
  readonly family: AddressFamily
  readonly protocol: FrontendProtocol
  /** 0 = all ports (always 0 for protocol any). */
  readonly port: number
  /** Ordered: the first pool with an up backend of weight > 0 is active. */
  readonly pools: ReadonlyArray<Pool>
  readonly srcIpSticky: boolean
  readonly flushOnDown: boolean
  /** Power of two. */
  readonly newFlowsTableLength: number
  /** The min-healthy guard (lb/Panic.ts); undefined = off. */
  readonly minHealthy?: MinHealthy | undefined
}

/** `min-healthy`: a number of backends (`2`), or a percentage (`50%`, 1..100) of a pool's backends with weight > 0. */
export type MinHealthy = { readonly kind: "count"; readonly value: number } | { readonly kind: "percent"; readonly value: number }

export interface Config {
  readonly healthchecker: HealthCheckerConfig
  readonly vpp: VppConfig
  readonly healthchecks: ReadonlyMap<string, HealthCheck>
  readonly backends: ReadonlyMap<string, Backend>
  readonly frontends: ReadonlyMap<string, Frontend>
}
