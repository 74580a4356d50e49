/**
 * Each LB sync operation as the binary-API request that performs it, in one
 * place: the sync loop sends these, and the tests feed the same requests to
 * the simulator's lb plugin model. AS adds and deletes use
 * `lb_add_del_as_v2`, which carries the weight, so a new AS starts with its
 * weight in one request.
 */
import type { Exit } from "effect"
import { lb } from "../vpp/binapi/index.js"
import type { VppRequestError } from "../vpp/transport/Errors.js"
import type { VppConnection } from "../vpp/transport/VppApi.js"
import type { LbOp } from "./Diff.js"
import type { VipKey } from "./VipKey.js"

/** Request fields without the header ones (client_index, context). */
type Fields<T> = Omit<T, "client_index" | "context">

export type LbRequest =
  | { readonly name: "lb_add_del_vip_v2"; readonly fields: Fields<lb.LbAddDelVipV2> }
  | { readonly name: "lb_add_del_as_v2"; readonly fields: Fields<lb.LbAddDelAsV2> }
  | { readonly name: "lb_as_set_weight"; readonly fields: Fields<lb.LbAsSetWeight> }

const vipRequest = (
  k: VipKey,
  isDel: boolean,
  encap: lb.LbAddDelVipV2["encap"],
  newFlowsTableLength: number,
  srcIpSticky: boolean
): LbRequest => ({
  name: "lb_add_del_vip_v2",
  fields: {
    pfx: k.prefix,
    protocol: k.protocol,
    port: k.port,
    encap,
    dscp: 0,
    type: "LB_API_SRV_TYPE_CLUSTERIP",
    target_port: 0,
    node_port: 0,
    new_flows_table_length: newFlowsTableLength,
    src_ip_sticky: srcIpSticky,
    is_del: isDel
  }
})

/** Built field by field (no spread: one object of one shape per request, at 33,000 requests a sync). */
export const requestOf = (op: LbOp): LbRequest => {
  const k = op.vip
  switch (op._tag) {
    case "VipAdd":
      // Always an explicit table length: 0 would mean "VPP's default", which is not ours to assume.
      return vipRequest(k, false, op.vip.encap, op.vip.newFlowsTableLength, op.vip.srcIpSticky)
    case "VipDel":
      return vipRequest(k, true, "LB_API_ENCAP_TYPE_GRE4", 0, false)
    case "AsAdd":
    case "AsDel":
      return {
        name: "lb_add_del_as_v2",
        fields: {
          pfx: k.prefix,
          protocol: k.protocol,
          port: k.port,
          as_address: op.address,
          weight: op._tag === "AsAdd" ? op.weight : 0,
          is_del: op._tag === "AsDel",
          is_flush: op.flush
        }
      }
    case "AsWeight":
      return {
        name: "lb_as_set_weight",
        fields: { pfx: k.prefix, protocol: k.protocol, port: k.port, as_address: op.address, weight: op.weight, is_flush: op.flush }
      }
  }
}

/** Puts the op's request on the wire now; returns the wait for VPP's reply (pipelining, as `VppConnection.send`). */
export const start = (conn: VppConnection, op: LbOp) => {
  const r = requestOf(op)
  switch (r.name) {
    case "lb_add_del_vip_v2":
      return conn.send(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, r.fields)
    case "lb_add_del_as_v2":
      return conn.send(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, r.fields)
    case "lb_as_set_weight":
      return conn.send(lb.LbAsSetWeight, lb.LbAsSetWeightReply, r.fields)
  }
}

/**
 * Puts the op's request on the wire now; `done` gets VPP's answer (`VppConnection.sendWith`:
 * no fiber or Deferred per request, for LbSync's window).
 */
export const startWith = (conn: VppConnection, op: LbOp, done: (exit: Exit.Exit<unknown, VppRequestError>) => void) => {
  const r = requestOf(op)
  switch (r.name) {
    case "lb_add_del_vip_v2":
      return conn.sendWith(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, r.fields, done)
    case "lb_add_del_as_v2":
      return conn.sendWith(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, r.fields, done)
    case "lb_as_set_weight":
      return conn.sendWith(lb.LbAsSetWeight, lb.LbAsSetWeightReply, r.fields, done)
  }
}
