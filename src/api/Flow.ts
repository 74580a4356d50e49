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
import { type Snapshot, statusIn } from "./Info.js"

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

/**
 * Where the flow goes, by the desired VIP. Pure: fails with InvalidArgument
 * for a source that is not an address of the VIP's family, or a protocol the
 * VIP does not take.
 */
export const flowChoice = (frontend: Frontend, vip: DesiredVip, request: Omit<FlowRequest, "name">): FlowInfo | InvalidArgument => {
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
  const table = tableOf(vip)
  const mask = vip.newFlowsTableLength - 1
  const base = {
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
  }
  if (request.srcPort === undefined && portsHashed) {
    const counts = new Array<number>(vip.ases.length).fill(0)
    for (let port = EPHEMERAL_PORTS.from; port <= EPHEMERAL_PORTS.to; port++) {
      const k = table[flowHash({ src, dst, srcPort: port, dstPort, protocol }, vip.srcIpSticky) & mask]!
      if (k !== Maglev.DROP) counts[k]!++
    }
    const total = EPHEMERAL_PORTS.to - EPHEMERAL_PORTS.from + 1
    const spread = vip.ases
      .map((a, i) => ({ backend: a.backend, address: a.address, ports: counts[i]!, share: counts[i]! / total }))
      .filter((s) => s.ports > 0)
    return { ...base, spread }
  }
  const hash = flowHash({ src, dst, srcPort: request.srcPort ?? 0, dstPort, protocol }, vip.srcIpSticky)
  const bucket = hash & mask
  const k = table[bucket]!
  const as = k === Maglev.DROP ? undefined : vip.ases[k]
  return { ...base, hash, bucket, backend: as?.backend, address: as?.address }
}

/** The `GetFrontendFlow` handler over the daemon's current snapshot (`Control.snapshot`). */
export const getFrontendFlow = (snapshot: Effect.Effect<Snapshot>) =>
  Effect.fn("Flow.getFrontendFlow")(function*(request: FlowRequest) {
    const s = yield* snapshot
    const frontend = s.config.frontends.get(request.name)
    if (frontend === undefined) return yield* new NotFound({ kind: "frontend", name: request.name })
    const answer = flowChoice(frontend, desiredVip(frontend, s.config, statusIn(s.health)), request)
    return answer instanceof InvalidArgument ? yield* answer : answer
  })
