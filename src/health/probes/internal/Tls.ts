/**
 * TLS settings of a probe: which name is sent as SNI, which name or address
 * the certificate must carry, and the secure context (trusted CAs).
 *
 * Secure contexts are expensive (an OpenSSL SSL_CTX with its trust store), so
 * there is one for the system CAs and one per CA file, reused by every probe;
 * a CA file is looked at again (stat) at most once a second and re-read only
 * when its size or modification time changed.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"

export interface TlsPlan {
  /** SNI; never an IP literal (RFC 6066). */
  readonly servername: string | undefined
  /** What the certificate must name: the server name, else the backend's address. */
  readonly identity: string
  /** Skip certificate verification (chain and name). */
  readonly insecure: boolean
  readonly context: tls.SecureContext
}

/**
 * The host part of a Host-header value or server name, if it is a DNS name:
 * "example.com:8443" -> "example.com"; "[2001:db8::1]:443", "192.0.2.1" -> undefined.
 */
export const dnsName = (host: string | undefined): string | undefined => {
  if (host === undefined || host === "" || host.startsWith("[")) return undefined
  const colon = host.indexOf(":")
  if (colon >= 0 && host.indexOf(":", colon + 1) >= 0) return undefined // a bare IPv6 address
  const name = colon >= 0 ? host.slice(0, colon) : host
  return name === "" || net.isIP(name) !== 0 ? undefined : name
}

let systemContext: tls.SecureContext | undefined

interface CaEntry {
  readonly context: tls.SecureContext
  readonly mtimeMs: number
  readonly size: number
  checkedAt: number
}

const caContexts = new Map<string, CaEntry>()
const CA_RECHECK_MS = 1000

/** The secure context trusting the system CAs, or only the CAs of `caFile`; a string says why it cannot be had. */
export const secureContext = (caFile: string | undefined): tls.SecureContext | string => {
  if (caFile === undefined) {
    systemContext ??= tls.createSecureContext()
    return systemContext
  }
  const now = performance.now()
  const cached = caContexts.get(caFile)
  if (cached !== undefined && now - cached.checkedAt < CA_RECHECK_MS) return cached.context
  try {
    const st = fs.statSync(caFile)
    if (cached !== undefined && cached.mtimeMs === st.mtimeMs && cached.size === st.size) {
      cached.checkedAt = now
      return cached.context
    }
    const context = tls.createSecureContext({ ca: fs.readFileSync(caFile) })
    caContexts.set(caFile, { context, mtimeMs: st.mtimeMs, size: st.size, checkedAt: now })
    return context
  } catch (e) {
    caContexts.delete(caFile)
    return `ca-file ${caFile}: ${e instanceof Error ? e.message : String(e)}`
  }
}

/** A TLS error as a detail: "certificate has expired (CERT_HAS_EXPIRED)". */
export const tlsErrorDetail = (e: unknown): string => {
  if (!(e instanceof Error)) return String(e)
  const code = (e as { code?: unknown }).code
  return typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message
}
