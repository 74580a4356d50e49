/**
 * `GetFrontendFlow` (`maglevc show frontend NAME flow SRC-IP [SRC-PORT [PROTO]]`):
 * which backend a new flow to a frontend's VIP would be sent to, computed the
 * way VPP's lb plugin picks it, from the desired state (Desired.ts: the
 * weights maglevd programs now) rather than from VPP:
 *
 * - the flow hash of `lb_node_get_hash` (src/lb/FlowHash.ts): source and
 *   destination address, and the ports for TCP and UDP unless the VIP is
 *   src-ip-sticky;
 * - bucket `hash & (new-flows-table-length - 1)` of the Maglev new-flow table
 *   (src/lb/Maglev.ts) built from the VIP's ASes and their desired weights.
 *
 * A flow that VPP already holds in a sticky table keeps its backend whatever
 * this says: the answer is for a new flow. It equals VPP's (and vppsim's)
 * choice once VPP matches the desired state; `test/api/flow.test.ts` checks
 * it against the simulator for random flows.
 * The other half of "where does traffic go", the flows VPP has pinned to
 * each AS now, is src/lb/AsFlows.ts (in `GetVPPLBCounters` and /metrics).
 */
import { Effect } from "effect"
import type { Frontend } from "../config/Config.js"
import { type DesiredVip, desiredVip } from "../lb/Desired.js"
import { flowHash, hasPorts } from "../lb/FlowHash.js"
import * as Maglev from "../lb/Maglev.js"
import { frontendVipKey, PROTOCOL_NUMBER, vipKeyString } from "../lb/VipKey.js"
import * as Ip from "../vpp/codec/Ip.js"
import { type FlowInfo, type FlowRequest, InvalidArgument, NotFound } from "./Api.js"
import { desiredIn, type Snapshot, statusIn } from "./Info.js"

/** Source ports a client's stack picks from, for the spread when no source port is given. */
export const EPHEMERAL_PORTS = { from: 1024, to: 65535 } as const

const bytesOf = (address: string, family: 4 | 6): Uint8Array | undefined => {
  const b = new Uint8Array(family === 4 ? 4 : 16)
  return (family === 4 ? Ip.parseIp4Into(address, b, 0) : Ip.parseIp6Into(address, b, 0)) ? b : undefined
}

/** The new-flow table of the desired VIP: bucket → index into `vip.ases`, or Maglev.DROP. */
const tableOf = (vip: DesiredVip): ReadonlyArray<number> =>
  vip.ases.length === 0
    ? new Array<number>(vip.newFlowsTableLength).fill(Maglev.DROP)
    : Maglev.newFlowTable(vip.ases.map((a) => ({ address: a.address, weight: a.weight })), vip.newFlowsTableLength)

/** A flow request checked against its frontend, ready to be hashed (`flowChoice`, or in slices by the handler). */
export interface PreparedFlow {
  readonly base: Omit<FlowInfo, "hash" | "bucket" | "backend" | "address" | "spread">
  readonly vip: DesiredVip
  /** bucket → index into `vip.ases`, or Maglev.DROP */
  readonly table: ReadonlyArray<number>
  /** `lb_node_get_hash` of the flow from this source port */
  readonly hashOf: (srcPort: number) => number
  /** no source port given, and the VIP hashes ports: the answer is the spread over source ports */
  readonly needsSpread: boolean
}

/**
 * Checks the request against the frontend: InvalidArgument for a source that
 * is not an address of the VIP's family, or a protocol or destination port
 * that does not reach the VIP.
 */
export const prepareFlow = (frontend: Frontend, vip: DesiredVip, request: Omit<FlowRequest, "name">): PreparedFlow | InvalidArgument => {
  const family = frontend.family
  const src = bytesOf(request.src, family)
  if (src === undefined) {
    return new InvalidArgument({ reason: `source ${JSON.stringify(request.src)} is not an IPv${family} address (the family of frontend ${frontend.name}'s VIP ${frontend.address})` })
  }
  const vipProtocol = PROTOCOL_NUMBER[frontend.protocol]
  const protocol = request.protocol ?? (frontend.protocol === "any" ? 6 : vipProtocol)
  if (frontend.protocol !== "any" && protocol !== vipProtocol) {
    return new InvalidArgument({ reason: `frontend ${frontend.name} takes ${frontend.protocol} (protocol ${vipProtocol}): a protocol ${protocol} flow does not reach its VIP` })
  }
  const dstText = Ip.splitPrefix(frontend.address)?.address ?? frontend.address
  const dst = bytesOf(dstText, family)!
  const dstPort = request.dstPort ?? frontend.port
  if (frontend.port !== 0 && dstPort !== frontend.port) {
    return new InvalidArgument({ reason: `frontend ${frontend.name}'s VIP is port ${frontend.port}: a flow to port ${dstPort} does not reach it` })
  }
  const portsHashed = !vip.srcIpSticky && hasPorts(protocol)
  return {
    base: {
      frontend: frontend.name,
      vip: vipKeyString(frontendVipKey(frontend)),
      src: request.src,
      srcPort: request.srcPort,
      dst: dstText,
      dstPort,
      protocol,
      srcIpSticky: vip.srcIpSticky,
      portsHashed,
      newFlowsTableLength: vip.newFlowsTableLength,
      activePool: vip.activePool
    },
    vip,
    table: tableOf(vip),
    hashOf: (srcPort) => flowHash({ src, dst, srcPort, dstPort, protocol }, vip.srcIpSticky),
    needsSpread: request.srcPort === undefined && portsHashed
  }
}

/** Counts the source ports `from..to` into `counts` (by index into the VIP's ASes). */
export const countPorts = (p: PreparedFlow, from: number, to: number, counts: Array<number>): void => {
  const mask = p.vip.newFlowsTableLength - 1
  for (let port = from; port <= to; port++) {
    const k = p.table[p.hashOf(port) & mask]!
    if (k !== Maglev.DROP) counts[k]!++
  }
}

/** The answer: the flow's bucket and backend, or (with `counts` over all of EPHEMERAL_PORTS) the spread. */
export const flowAnswer = (p: PreparedFlow, counts?: ReadonlyArray<number>): FlowInfo => {
  if (p.needsSpread) {
    const total = EPHEMERAL_PORTS.to - EPHEMERAL_PORTS.from + 1
    const spread = p.vip.ases
      .map((a, i) => ({ backend: a.backend, address: a.address, ports: counts?.[i] ?? 0, share: (counts?.[i] ?? 0) / total }))
      .filter((s) => s.ports > 0)
    return { ...p.base, spread }
  }
  const hash = p.hashOf(p.base.srcPort ?? 0)
  const bucket = hash & (p.vip.newFlowsTableLength - 1)
  const k = p.table[bucket]!
  const as = k === Maglev.DROP ? undefined : p.vip.ases[k]
  return { ...p.base, hash, bucket, backend: as?.backend, address: as?.address }
}

/** Where the flow goes, by the desired VIP, in one go. Pure. */
export const flowChoice = (frontend: Frontend, vip: DesiredVip, request: Omit<FlowRequest, "name">): FlowInfo | InvalidArgument => {
  const p = prepareFlow(frontend, vip, request)
  if (p instanceof InvalidArgument) return p
  if (!p.needsSpread) return flowAnswer(p)
  const counts = new Array<number>(vip.ases.length).fill(0)
  countPorts(p, EPHEMERAL_PORTS.from, EPHEMERAL_PORTS.to, counts)
  return flowAnswer(p, counts)
}

/** Source ports hashed between two yields: the spread (64,512 hashes, tens of ms on a busy machine) must not hold maglevd's loop. */
const SLICE = 4096

/** The `GetFrontendFlow` handler over the daemon's current snapshot (`Control.snapshot`). */
export const getFrontendFlow = (snapshot: Effect.Effect<Snapshot>) =>
  Effect.fn("Flow.getFrontendFlow")(function*(request: FlowRequest) {
    const s = yield* snapshot
    const frontend = s.config.frontends.get(request.name)
    if (frontend === undefined) return yield* new NotFound({ kind: "frontend", name: request.name })
    const p = prepareFlow(frontend, desiredIn(s, frontend), request)
    if (p instanceof InvalidArgument) return yield* p
    if (!p.needsSpread) return flowAnswer(p)
    const counts = new Array<number>(p.vip.ases.length).fill(0)
    for (let from = EPHEMERAL_PORTS.from; from <= EPHEMERAL_PORTS.to; from += SLICE) {
      countPorts(p, from, Math.min(from + SLICE - 1, EPHEMERAL_PORTS.to), counts)
      yield* Effect.yieldNow()
    }
    return flowAnswer(p, counts)
  })
