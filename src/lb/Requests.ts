/**
 * Each LB sync operation as the binary-API request that performs it. AS adds
 * and deletes use `lb_add_del_as_v2`, which carries the weight, so a new AS
 * starts with its weight in one request.
 */
import { lb } from "../vpp/binapi/index.js"
import type { VppConnection } from "../vpp/transport/VppApi.js"
import type { LbOp } from "./Diff.js"
import type { VipKey } from "./VipKey.js"

const keyFields = (k: VipKey) => ({ pfx: k.prefix, protocol: k.protocol, port: k.port })

/** The request fields of an op, with the message pair that carries it. */
export const send = (conn: VppConnection, op: LbOp) => {
  switch (op._tag) {
    case "VipAdd":
    case "VipDel": {
      const add = op._tag === "VipAdd"
      return conn.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, {
        ...keyFields(op.vip),
        encap: add ? op.vip.encap : "LB_API_ENCAP_TYPE_GRE4",
        dscp: 0,
        type: "LB_API_SRV_TYPE_CLUSTERIP",
        target_port: 0,
        node_port: 0,
        // Always explicit: 0 would mean "VPP's default", which is not ours to assume.
        new_flows_table_length: add ? op.vip.newFlowsTableLength : 0,
        src_ip_sticky: add ? op.vip.srcIpSticky : false,
        is_del: !add
      })
    }
    case "AsAdd":
    case "AsDel":
      return conn.request(lb.LbAddDelAsV2, lb.LbAddDelAsV2Reply, {
        ...keyFields(op.vip),
        as_address: op.address,
        weight: op._tag === "AsAdd" ? op.weight : 0,
        is_del: op._tag === "AsDel",
        is_flush: op.flush
      })
    case "AsWeight":
      return conn.request(lb.LbAsSetWeight, lb.LbAsSetWeightReply, {
        ...keyFields(op.vip),
        as_address: op.address,
        weight: op.weight,
        is_flush: op.flush
      })
  }
}
