/**
 * `show frontend NAME flow SRC-IP [SRC-PORT [PROTO]]` as text: the flow, its
 * hash and bucket, and the backend (or, without a source port on a VIP that
 * hashes ports, each backend's share of source ports).
 */
import type * as Api from "../api/Api.js"
import { paint, type Style, table } from "./Format.js"

const PROTOCOLS: Readonly<Record<number, string>> = { 6: "tcp", 17: "udp" }

/** `tcp`, `udp`, or the protocol number. */
export const protocolName = (p: number): string => PROTOCOLS[p] ?? String(p)

/** A PROTO word: `tcp`, `udp` or a number 0..255; undefined when it is none of them. */
export const parseProtocol = (word: string): number | undefined => {
  const named = Object.entries(PROTOCOLS).find(([, name]) => name === word.toLowerCase())
  if (named !== undefined) return Number(named[0])
  return /^\d+$/.test(word) && Number(word) <= 255 ? Number(word) : undefined
}

const endpoint = (address: string, port: number | undefined): string =>
  port === undefined ? address : address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`

export const flowText = (f: Api.FlowInfo, style: Style): string => {
  const rows: Array<readonly [string, string]> = [
    ["frontend", f.frontend],
    ["vip", f.vip],
    ["flow", `${endpoint(f.src, f.srcPort)} -> ${endpoint(f.dst, f.dstPort)} ${protocolName(f.protocol)}`],
    ["hashed on", f.portsHashed ? "addresses and ports" : f.srcIpSticky ? "addresses (src-ip-sticky)" : "addresses (no ports for this protocol)"]
  ]
  if (f.hash !== undefined) {
    rows.push(
      ["hash", `0x${f.hash.toString(16).padStart(8, "0")}`],
      ["bucket", `${f.bucket} of ${f.newFlowsTableLength}`],
      ["backend", f.backend === undefined ? paint.bad("none: the bucket drops (no backend takes new flows)", style) : `${f.backend} (${f.address})`]
    )
  }
  rows.push(["active pool", f.activePool ?? paint.bad("none", style)])
  const width = rows.reduce((n, [k]) => Math.max(n, k.length), 0)
  let text = rows.map(([k, v]) => `${paint.label(k.padEnd(width), style)}  ${v}\n`).join("")
  if (f.spread !== undefined) {
    text += `\nno source port given: the backend depends on it; over source ports 1024-65535:\n`
    text += f.spread.length === 0
      ? `  ${paint.bad("every bucket drops (no backend takes new flows)", style)}\n`
      : table(
        ["BACKEND", "ADDRESS", "PORTS", "SHARE"],
        f.spread.map((s) => [s.backend, s.address, String(s.ports), `${(s.share * 100).toFixed(1)}%`]),
        style,
        "  "
      )
  }
  return text
}
