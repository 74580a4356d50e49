/**
 * The fleet view: for each VIP, whether every connected maglevd would have VPP
 * build the same Maglev new-flow table. Routers behind ECMP may rehash a flow
 * to any load balancer; only identical tables keep it on the same backend.
 *
 * A table is named by a fingerprint: a digest of the predicted table
 * (src/lb/Maglev.ts, VPP's own algorithm) over the VIP's ASes with the
 * weights maglevd wants (effective weights) and its table length. Two
 * maglevds agree on a VIP when their fingerprints are equal. Pure.
 */
import * as crypto from "node:crypto"
import type { FrontendInfo, LbState } from "../api/Api.js"
import * as Maglev from "../lb/Maglev.js"
import type { FleetMember, FleetVip, ServerState } from "./Protocol.js"

export interface WeightedAs {
  readonly address: string
  readonly weight: number
  readonly used?: boolean
}

// Tables are recomputed on every refresh of every maglevd; most inputs repeat.
const CACHE_LIMIT = 4096
const cache = new Map<string, string>()

/**
 * Hex digest (16 chars) of the new-flow table VPP builds for these ASes and
 * table length: which AS (by address) every bucket points at. Independent of
 * the order of `ases`. ASes with weight 0 or unused take no bucket, so they do
 * not change it: a balancer that drains a backend and one that does not list
 * it send every new flow to the same place.
 */
export const fingerprint = (ases: ReadonlyArray<WeightedAs>, tableLength: number): string => {
  const owners = ases
    .filter((a) => a.used !== false && a.weight > 0)
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  const key = `${tableLength}|${owners.map((a) => `${a.address}:${a.weight}`).join(",")}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const table = Maglev.newFlowTable(owners.map((a) => ({ address: a.address, weight: a.weight })), tableLength)
  const hash = crypto.createHash("sha256")
  // The addresses that own buckets, then the table as indices into that list (-1: VPP's drop AS).
  hash.update(owners.map((a) => a.address).join(","))
  hash.update(Buffer.from(Int32Array.from(table).buffer))
  const digest = hash.digest("hex").slice(0, 16)
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(key, digest)
  return digest
}

/** The ASes of a frontend with the weight maglevd wants in VPP: each distinct address once, its effective weight. */
export const desiredAses = (frontend: FrontendInfo): ReadonlyArray<{ readonly address: string; readonly weight: number }> => {
  const byAddress = new Map<string, number>()
  for (const pool of frontend.pools) {
    for (const row of pool.backends) byAddress.set(row.address, Math.max(byAddress.get(row.address) ?? 0, row.effectiveWeight))
  }
  return [...byAddress].map(([address, weight]) => ({ address, weight })).sort((a, b) => (a.address < b.address ? -1 : 1))
}

/** VPP reports `new_flows_table_length` modulo 2^16 (a u16): 0 is 65536. */
const vppTableLength = (reported: number | undefined): number | undefined =>
  reported === undefined ? undefined : reported === 0 ? 65536 : reported

const vppFingerprint = (lb: LbState | undefined, vip: string): string | undefined => {
  const v = lb?.vips.find((x) => x.vip === vip)
  const length = vppTableLength(v?.newFlowsTableLength)
  if (v === undefined || length === undefined) return undefined
  try {
    return fingerprint(v.ases.map((a) => ({ address: a.address, weight: a.weight, used: a.active })), length)
  } catch {
    // A state VPP should not be able to hold (a length that is not a power of two): no fingerprint.
    return undefined
  }
}

const member = (server: ServerState, frontend: FrontendInfo): FleetMember => {
  const ases = desiredAses(frontend)
  const vpp = vppFingerprint(server.vpp.lb, frontend.vip)
  return {
    server: server.id,
    frontend: frontend.name,
    newFlowsTableLength: frontend.newFlowsTableLength,
    ases,
    fingerprint: fingerprint(ases, frontend.newFlowsTableLength),
    ...(vpp !== undefined ? { vppFingerprint: vpp } : {})
  }
}

/**
 * The fleet view over the maglevds that are `up`, one entry per VIP any of
 * them has, sorted by VIP key. The majority's fingerprint is the reference
 * (a tie goes to the server listed first); the others are `differing`.
 */
export const fleet = (servers: ReadonlyArray<ServerState>): ReadonlyArray<FleetVip> => {
  const connected = servers.filter((s) => s.connection === "up")
  const byVip = new Map<string, Array<FleetMember>>()
  for (const server of connected) {
    for (const frontend of server.frontends) {
      const list = byVip.get(frontend.vip) ?? []
      list.push(member(server, frontend))
      byVip.set(frontend.vip, list)
    }
  }
  return [...byVip.keys()].sort().map((vip) => {
    const members = byVip.get(vip)!
    const counts = new Map<string, number>()
    for (const m of members) counts.set(m.fingerprint, (counts.get(m.fingerprint) ?? 0) + 1)
    let reference = members[0]!.fingerprint
    for (const m of members) if (counts.get(m.fingerprint)! > counts.get(reference)!) reference = m.fingerprint
    const differing = members.filter((m) => m.fingerprint !== reference).map((m) => m.server)
    const present = new Set(members.map((m) => m.server))
    const missing = connected.filter((s) => !present.has(s.id)).map((s) => s.id)
    return { vip, agree: differing.length === 0 && missing.length === 0, missing, members, differing }
  })
}
