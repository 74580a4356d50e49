/**
 * What maglevt probes: every frontend of the configurations it was given, as
 * a client reaches it (the VIP's address and port), and how.
 *
 * A frontend is probed over HTTP when the health checks of its backends say
 * the service speaks HTTP: any `https` check makes it HTTPS, else any `http`
 * check makes it HTTP. Without such a check, port 443 means HTTPS and port 80
 * HTTP; anything else gets a TCP connect. Frontends that no client can reach
 * with one TCP connection are left out, each with its reason: `udp`, all
 * ports (`port: 0`), a VIP that is a prefix rather than one address.
 */
import type { AddressFamily, Config, Frontend } from "../config/Config.js"

export type ProbeKind = "http" | "https" | "tcp"

export interface Target {
  /** The frontend's name; suffixed with its file when two files name different VIPs alike. */
  readonly name: string
  /** The bare VIP address (canonical text). */
  readonly address: string
  readonly family: AddressFamily
  readonly port: number
  readonly kind: ProbeKind
  /** `address:port`, IPv6 bracketed. */
  readonly endpoint: string
}

export interface Skipped {
  readonly name: string
  readonly file: string
  readonly reason: string
}

export interface LoadedConfig {
  readonly file: string
  readonly config: Config
}

export const endpointText = (address: string, port: number): string =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`

/** How a frontend is probed; see the module comment. */
export const probeKind = (config: Config, frontend: Frontend): ProbeKind => {
  const types = new Set<string>()
  for (const pool of frontend.pools) {
    for (const member of pool.backends) {
      const backend = config.backends.get(member.backend)
      const check = backend === undefined ? undefined : config.healthchecks.get(backend.healthcheck)
      if (check !== undefined) types.add(check.type)
    }
  }
  if (types.has("https")) return "https"
  if (types.has("http")) return "http"
  if (frontend.port === 443) return "https"
  if (frontend.port === 80) return "http"
  return "tcp"
}

/** Why a frontend cannot be probed, or undefined when it can. */
const unprobeable = (frontend: Frontend): string | undefined => {
  if (frontend.protocol === "udp") return "protocol udp: maglevt probes TCP"
  if (frontend.port === 0) return "all ports (port 0): no port to probe"
  const [, length] = frontend.address.split("/")
  const full = frontend.family === 4 ? "32" : "128"
  if (length !== undefined && length !== full) return `${frontend.address} is a prefix, not one address`
  return undefined
}

/**
 * The targets of the configurations, in file order, each VIP (address and
 * port) once; `filter` keeps those whose name or `address:port` it matches.
 */
export const targets = (
  configs: ReadonlyArray<LoadedConfig>,
  filter: RegExp | undefined
): { readonly targets: ReadonlyArray<Target>; readonly skipped: ReadonlyArray<Skipped> } => {
  const out: Array<Target & { readonly file: string }> = []
  const skipped: Array<Skipped> = []
  for (const { config, file } of configs) {
    for (const frontend of config.frontends.values()) {
      const address = frontend.address.split("/")[0]!
      const endpoint = endpointText(address, frontend.port)
      if (filter !== undefined && !filter.test(frontend.name) && !filter.test(endpoint)) continue
      const reason = unprobeable(frontend)
      if (reason !== undefined) {
        skipped.push({ name: frontend.name, file, reason })
        continue
      }
      if (out.some((t) => t.endpoint === endpoint)) continue
      const clash = out.find((t) => t.name === frontend.name)
      const name = clash === undefined ? frontend.name : `${frontend.name}@${file}`
      out.push({ name, address, family: frontend.family, port: frontend.port, kind: probeKind(config, frontend), endpoint, file })
    }
  }
  return { targets: out.map(({ file: _file, ...t }) => t), skipped }
}
