/**
 * The handlers of VPP's core API modules that vppsim announces besides the lb
 * plugin: memclnt (`src/vlibmemory/memclnt_api.c`, `memory_api.c`,
 * `socket_api.c`), vlib (`src/vlibmemory/vlib_api.c`) and vpe
 * (`src/vpp/api/api.c`), as read at VPP b575ec2c56d7. Every request message
 * in the table gets what VPP sends back on the *socket*:
 *
 * - a reply, with values from the simulated machine where VPP reports machine
 *   state (threads, node graph, time);
 * - or nothing, where VPP sends nothing to a socket client: `memclnt_keepalive`
 *   (VPP answers on its own shared-memory input queue), `rpc_call` (answered,
 *   if at all, on the registration's shared-memory queue, which a socket client
 *   has none of), `memclnt_create[_v2]` / `memclnt_delete` (shared-memory
 *   registrations: the reply goes to the queue the request names),
 *   `trace_plugin_msg_ids` and `memclnt_keepalive_reply` (no reply by design),
 *   and the client-side messages VPP has no handler for (`rx_thread_exit`,
 *   `memclnt_rx_thread_suspend`, `memclnt_read_timeout`, every `*_reply` and
 *   `*_details`).
 *
 * `control_ping`, `get_first_msg_id`, `show_version` and the socket handshake
 * need the server's state and stay in ApiServer.ts; `cli_inband` is the
 * Simulator's (Cli.ts).
 */
import { Clock, Effect } from "effect"
import { memclnt, vlib, vpe } from "../vpp/binapi/index.js"
import type { Module } from "../vpp/codec/Wire.js"
import type { Handler, Reply } from "./ApiServer.js"

/** `vnet/api_errno.h` */
export const ApiError = {
  NO_SUCH_ENTRY: -6,
  NO_SUCH_NODE: -63,
  NO_SUCH_NODE2: -64,
  API_ENDIAN_FAILED: -159
} as const

/** `svm/ssvm.h` */
export const SsvmError = { NO_SIZE: -101, CREATE_FAILURE: -102 } as const

/** Request messages VPP handles without sending anything to a socket client (see the module comment). */
export const silentOnSocket: ReadonlyArray<string> = [
  memclnt.MemclntCreate.name,
  memclnt.MemclntCreateV2.name,
  memclnt.MemclntDelete.name,
  memclnt.MemclntKeepalive.name,
  memclnt.MemclntKeepaliveReply.name,
  memclnt.RpcCall.name,
  memclnt.RpcCallReply.name,
  memclnt.TracePluginMsgIds.name
]

const reply = (message: Reply["message"], fields: Record<string, unknown>): ReadonlyArray<Reply> => [{ message, fields }]

// ---------------------------------------------------------------------------
// memclnt

/**
 * `get_api_json_reply.json`: `[` + each module's JSON + `]`, as
 * `vl_api_get_api_json_t_handler` joins `am->json_api_repr`. VPP's per-module
 * text is vppapigen's whole `.api.json`; the simulator writes the part its
 * bindings hold (module, version, CRCs, services), which is what a client
 * checking compatibility reads.
 */
export const apiJson = (modules: ReadonlyArray<Module>): string =>
  `[${
    modules.filter((m) => Object.keys(m.messages).length > 0).map((m) =>
      JSON.stringify({
        module: m.name,
        options: { version: m.version },
        vl_api_version: m.crc,
        messages: Object.values(m.messages).map((msg) => [msg.name, { crc: msg.crc }]),
        services: Object.fromEntries(
          m.services.map((s) => [s.request, { reply: s.reply ?? "null", ...(s.stream ? { stream: true } : {}) }])
        )
      })
    ).join(",")
  }]`

export const memclntHandlers = (modules: ReadonlyArray<Module>): Record<string, Handler> => {
  const json = apiJson(modules)
  const silent = Object.fromEntries(silentOnSocket.map((name): [string, Handler] => [name, () => []]))
  return {
    ...silent,
    // vl_api_api_versions_t_handler: one entry per `am->api_version_list`, which
    // nothing in VPP fills any more (`vl_msg_api_add_version` has no caller at
    // the pinned commit), so VPP answers count 0.
    [memclnt.ApiVersions.name]: () => reply(memclnt.ApiVersionsReply, { retval: 0, count: 0, api_versions: [] }),
    [memclnt.GetApiJson.name]: () => reply(memclnt.GetApiJsonReply, { retval: 0, json }),
    // vl_api_sock_init_shm_t_handler: ssvm_server_init_memfd fails with
    // SSVM_API_ERROR_NO_SIZE (-101) for size 0; otherwise VPP would create the
    // segment and pass its fd. The simulator has no shared-memory transport and
    // answers as a failed memfd_create does (SSVM_API_ERROR_CREATE_FAILURE,
    // -102), so a client stays on the socket.
    [memclnt.SockInitShm.name]: (req: memclnt.SockInitShm) =>
      reply(memclnt.SockInitShmReply, { retval: req.requested_size === 0 ? SsvmError.NO_SIZE : SsvmError.CREATE_FAILURE })
  }
}

// ---------------------------------------------------------------------------
// vpe

/** The time-based vpe handlers; `now` is the Unix time in seconds. */
export const vpeHandlers = (): Record<string, Handler> => ({
  // vl_api_show_vpe_system_time_t_handler: unix_time_now ()
  [vpe.ShowVpeSystemTime.name]: () =>
    Effect.map(Clock.currentTimeMillis, (ms) => reply(vpe.ShowVpeSystemTimeReply, { retval: 0, vpe_system_time: ms / 1000 })),
  // vl_api_log_dump_t_handler: one log_details per entry of VPP's log at or
  // after start_timestamp, no closing reply (the client's control_ping ends
  // it). The simulator keeps no VPP log, so there are none.
  [vpe.LogDump.name]: () => []
})

// ---------------------------------------------------------------------------
// vlib: threads and the node graph

/**
 * The nodes `vlib_get_node_by_name` finds, in index order, with their next
 * arcs: a few core nodes and the lb plugin's (`src/plugins/lb/node.c`, each
 * with next 0 = "error-drop"). VPP has hundreds more; the indices are the
 * simulator's own, stable for a run.
 */
const CORE_NODES = ["null-node", "error-drop", "error-punt", "ip4-input", "ip4-lookup", "ip4-rewrite", "ip6-input", "ip6-lookup", "ip6-rewrite"]
const LB_NODES = [
  "lb6-gre6", "lb6-gre4", "lb4-gre6", "lb4-gre4", "lb6-gre6-port", "lb6-gre4-port", "lb4-gre6-port", "lb4-gre4-port",
  "lb4-l3dsr-port", "lb4-l3dsr", "lb6-nat6-port", "lb4-nat4-port", "lb4-nodeport", "lb6-nodeport", "lb-nat4-in2out", "lb-nat6-in2out"
]

export class NodeGraph {
  private readonly names: Array<string> = [...CORE_NODES, ...LB_NODES]
  private readonly index = new Map<string, number>(this.names.map((n, i) => [n, i]))
  /** node index → next node indices (slot = position) */
  private readonly nexts = new Map<number, Array<number>>(LB_NODES.map((n) => [this.index.get(n)!, [this.index.get("error-drop")!]]))

  /** `vlib_get_node_by_name` (the name up to its first NUL, as `format "%s"` reads it) */
  find(name: string): number | undefined {
    return this.index.get(name.split("\0")[0]!)
  }

  /** `vlib_node_add_next`: the arc's slot, appended when new. */
  addNext(node: number, next: number): number {
    const arcs = this.nexts.get(node) ?? []
    this.nexts.set(node, arcs)
    const at = arcs.indexOf(next)
    if (at >= 0) return at
    arcs.push(next)
    return arcs.length - 1
  }

  /** `hash_get (node->next_slot_by_node, next)` */
  nextSlot(node: number, next: number): number | undefined {
    const at = this.nexts.get(node)?.indexOf(next) ?? -1
    return at >= 0 ? at : undefined
  }
}

export interface VlibOptions {
  /** worker threads besides the main one */
  readonly workers: number
  /** VPP's pid now: the main thread's lwp */
  readonly pid: Effect.Effect<number>
}

/**
 * `show_threads` as `get_thread_data` fills it: the main thread ("vpp_main",
 * no registration so an empty type) and one "vpp_wk_<n>" of type "workers" per
 * worker; lwp ids follow the pid, cpus 0.. in order on one socket.
 */
export const threads = (workers: number, pid: number): Array<vlib.ThreadData> =>
  Array.from({ length: 1 + workers }, (_, i) => ({
    id: i,
    name: i === 0 ? "vpp_main" : `vpp_wk_${i - 1}`,
    type: i === 0 ? "" : "workers",
    pid: pid + i,
    cpu_id: i,
    core: i,
    cpu_socket: 0
  }))

/** A fixed, plausible shared-memory address for the `*_in_shmem` replies a socket client cannot dereference. */
const SHMEM_VECTOR = 0x130044000n

export const vlibHandlers = (options: VlibOptions): Record<string, Handler> => {
  const graph = new NodeGraph()
  return {
    // vl_api_show_threads_t_handler: count = vec_len (vlib_worker_threads)
    [vlib.ShowThreads.name]: () =>
      Effect.map(options.pid, (pid) => {
        const data = threads(options.workers, pid)
        return reply(vlib.ShowThreadsReply, { retval: 0, count: data.length, thread_data: data })
      }),
    // vl_api_get_node_index_t_handler: ~0 and VNET_API_ERROR_NO_SUCH_NODE for an unknown name
    [vlib.GetNodeIndex.name]: (req: vlib.GetNodeIndex) => {
      const n = graph.find(req.node_name)
      return reply(vlib.GetNodeIndexReply, { retval: n === undefined ? ApiError.NO_SUCH_NODE : 0, node_index: n ?? 0xffffffff })
    },
    // vl_api_add_node_next_t_handler
    [vlib.AddNodeNext.name]: (req: vlib.AddNodeNext) => {
      const n = graph.find(req.node_name)
      const next = n === undefined ? undefined : graph.find(req.next_name)
      const retval = n === undefined ? ApiError.NO_SUCH_NODE : next === undefined ? ApiError.NO_SUCH_NODE2 : 0
      const slot = n !== undefined && next !== undefined ? graph.addNext(n, next) : 0xffffffff
      return reply(vlib.AddNodeNextReply, { retval, next_index: slot })
    },
    // vl_api_get_next_index_t_handler
    [vlib.GetNextIndex.name]: (req: vlib.GetNextIndex) => {
      const n = graph.find(req.node_name)
      const next = n === undefined ? undefined : graph.find(req.next_name)
      const slot = n !== undefined && next !== undefined ? graph.nextSlot(n, next) : undefined
      const retval = n === undefined
        ? ApiError.NO_SUCH_NODE
        : next === undefined
        ? ApiError.NO_SUCH_NODE2
        : slot === undefined
        ? ApiError.NO_SUCH_ENTRY
        : 0
      return reply(vlib.GetNextIndexReply, { retval, next_index: slot ?? 0xffffffff })
    },
    // vl_api_get_node_graph_t_handler: a pointer into VPP's API heap (useless over a socket)
    [vlib.GetNodeGraph.name]: () => reply(vlib.GetNodeGraphReply, { retval: 0, reply_in_shmem: SHMEM_VECTOR }),
    // vl_api_cli_t_handler runs the command at a pointer into VPP's API heap; a
    // socket client has no such pointer, so the command is empty and so is the
    // output (`retval` is left unset by VPP: 0 here).
    [vlib.Cli.name]: () => reply(vlib.CliReply, { retval: 0, reply_in_shmem: SHMEM_VECTOR }),
    // vl_api_get_f64_endian_value_t_handler: f64s travel in host order; 1.0
    // back always, retval -159 when the request's value is not 1.0
    [vlib.GetF64EndianValue.name]: (req: vlib.GetF64EndianValue) =>
      reply(vlib.GetF64EndianValueReply, { retval: req.f64_one === 1.0 ? 0 : ApiError.API_ENDIAN_FAILED >>> 0, f64_one_result: 1.0 }),
    // vl_api_get_f64_increment_by_one_t_handler
    [vlib.GetF64IncrementByOne.name]: (req: vlib.GetF64IncrementByOne) =>
      reply(vlib.GetF64IncrementByOneReply, { retval: 0, f64_value: req.f64_value + 1.0 })
  }
}
