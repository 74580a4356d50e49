/**
 * Who may use /admin/: the holder of the admin user's password (HTTP basic
 * auth, what a browser prompts for) or of the RPC token (`Authorization:
 * Bearer`, for scripts). Without either configured, nobody: /admin/ is off.
 */
import { sameSecret } from "../api/Server.js"

export interface AuthOptions {
  readonly adminUser?: string | undefined
  readonly adminPassword?: string | undefined
  /** The bearer token (the one maglevd wants too, from `--token-file`). */
  readonly token?: string | undefined
}

export type Verdict = "ok" | "disabled" | "missing" | "wrong"

export const REALM = "maglevd-frontend"

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== ""

export const enabled = (o: AuthOptions): boolean => (nonEmpty(o.adminUser) && nonEmpty(o.adminPassword)) || nonEmpty(o.token)

/** The verdict on a request's `Authorization` header. Constant time in the secrets. */
export const check = (o: AuthOptions, header: string | undefined): Verdict => {
  if (!enabled(o)) return "disabled"
  if (header === undefined || header.trim() === "") return "missing"
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim())
  if (basic !== null && nonEmpty(o.adminUser) && nonEmpty(o.adminPassword)) {
    const text = Buffer.from(basic[1]!, "base64").toString("utf8")
    const colon = text.indexOf(":")
    if (colon < 0) return "wrong"
    // Both compared, whatever the first says: no timing hint which one was wrong.
    const user = sameSecret(text.slice(0, colon), o.adminUser)
    const password = sameSecret(text.slice(colon + 1), o.adminPassword)
    return user && password ? "ok" : "wrong"
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(header.trim())
  if (bearer !== null && nonEmpty(o.token)) return sameSecret(bearer[1]!, o.token) ? "ok" : "wrong"
  return "wrong"
}
