/**
 * vppsim answers every request message it announces in its table as VPP does
 * on a socket (src/sim/Core.ts): a reply, details, or (for the few VPP answers
 * elsewhere) nothing. Each message is followed by a control_ping, so "nothing"
 * is proven by the ping's reply arriving first, without waiting out a timeout.
 */
import { it } from "@effect/vitest"
import { Arbitrary, Effect, FastCheck, TestClock } from "effect"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { tempDir } from "./tempDir.js"
import * as Core from "../../src/sim/Core.js"
import * as Simulator from "../../src/sim/Simulator.js"
import * as binapi from "../../src/vpp/binapi/index.js"
import { memclnt, vlib, vpe } from "../../src/vpp/binapi/index.js"
import * as Codec from "../../src/vpp/codec/Codec.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { allMessages, decode, idOf, rawClient } from "./rawClient.js"


const sim = (workers = 0) =>
  Effect.flatMap(tempDir("vppsim-core-"), (d) => Simulator.make({ apiSocket: path.join(d, "api.sock"), workers, pid: 4242 }))

/** What VPP sends a socket client for each request, by the module's service definition. */
const services = new Map(binapi.modules.flatMap((m) => m.services.map((s) => [s.request, s] as const)))
const isRequestName = (n: string) => !n.endsWith("_reply") && !n.endsWith("_details")

describe("vppsim answers every message it announces", () => {
  // Handlers cited per message in src/sim/Core.ts: memclnt_api.c, memory_api.c,
  // socket_api.c (memclnt), vlib_api.c (vlib), src/vpp/api/api.c (vpe),
  // src/plugins/lb/api.c (lb); msg_handler_internal (src/vlibapi/api_shared.c)
  // drops a message without a handler.
  it.live("each request in the table gets VPP's reply, its details, or (where VPP answers elsewhere) nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim(1)
      const c = yield* rawClient(s.api.path, "core-test")
      const ids = c.ids
      const handle = c.handle

      const silent: Array<string> = []
      const answered: Array<string> = []
      const requests = [...ids.keys()].filter(isRequestName).sort()
      let seed = 100
      let context = 0
      for (const name of requests) {
        const message = allMessages.get(name)!
        const [sample] = FastCheck.sample(Arbitrary.make(message.schema as never), { numRuns: 1, seed: ++seed })
        const value: Record<string, unknown> = { ...(sample as Record<string, unknown>), client_index: handle, context: ++context }
        // the sample ignores count fields: make each one say its array's length
        const layout = Codec.layoutOf(message.schema.ast)
        if (layout._tag === "Struct") {
          for (const f of layout.fields) {
            if ((f.layout._tag === "Array" || f.layout._tag === "Bytes") && f.layout.countField !== undefined) {
              value[f.layout.countField] = (value[f.name] as ArrayLike<unknown>).length
            }
          }
        }
        if (name === "sockclnt_delete") value["index"] = 0 // not a live registration (ours would be closed)
        const got = yield* c.exchange(message, value)
        const service = services.get(name)
        if (got.length === 0) {
          silent.push(name)
          continue
        }
        answered.push(name)
        expect(service, name).toBeDefined()
        if (service!.stream) {
          for (const b of got) expect(idOf(b), name).toBe(ids.get(service!.reply!.replace(/_dump$/, "_details")) ?? ids.get(name.replace(/_dump$/, "_details")))
        } else {
          expect(got.map(idOf), name).toEqual([ids.get(service!.reply!)])
          expect(decode(allMessages.get(service!.reply!)!, got[0]!)["context"], name).toBe(context)
        }
      }
      // What VPP answers on no socket: Core.silentOnSocket, the client-side
      // messages without a VPP handler, and the dumps with nothing to list.
      expect(silent).toEqual([
        "lb_as_dump",
        "lb_as_v2_dump",
        "lb_vip_dump",
        "log_dump",
        "memclnt_create",
        "memclnt_create_v2",
        "memclnt_delete",
        "memclnt_keepalive",
        "memclnt_read_timeout",
        "memclnt_rx_thread_suspend",
        "rpc_call",
        "rx_thread_exit",
        "trace_plugin_msg_ids"
      ].filter((n) => ids.has(n)))
      for (const n of Core.silentOnSocket.filter(isRequestName)) expect(silent, n).toContain(n)
      expect(answered).toContain("show_threads")
    })))

  it.live("show_threads lists the main thread and one per worker (vl_api_show_threads_t_handler, get_thread_data)", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim(2)
      const c = yield* VppApi.connect({ path: s.api.path })
      const r = yield* c.request(vlib.ShowThreads, vlib.ShowThreadsReply, {})
      expect(r.count).toBe(3)
      expect(r.thread_data.map((t) => [t.id, t.name, t.type, t.pid, t.cpu_id])).toEqual([
        [0, "vpp_main", "", 4242, 0],
        [1, "vpp_wk_0", "workers", 4243, 1],
        [2, "vpp_wk_1", "workers", 4244, 2]
      ])
    })))

  it.live("api_versions: count 0, as VPP's empty api_version_list gives (vl_api_api_versions_t_handler)", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      expect(yield* c.request(memclnt.ApiVersions, memclnt.ApiVersionsReply, {})).toMatchObject({ retval: 0, count: 0, api_versions: [] })
      const json = yield* c.request(memclnt.GetApiJson, memclnt.GetApiJsonReply, {})
      expect((JSON.parse(json.json) as Array<{ module: string }>).map((m) => m.module)).toEqual(["memclnt", "vlib", "vpe", "lb"])
    })))

  it.live("get_node_index: a known node's index, ~0 and -63 (VNET_API_ERROR_NO_SUCH_NODE) otherwise (vl_api_get_node_index_t_handler)", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      const known = yield* c.request(vlib.GetNodeIndex, vlib.GetNodeIndexReply, { node_name: "lb4-gre4" })
      expect(known.node_index).toBeLessThan(0xffffffff)
      const error = yield* Effect.flip(c.request(vlib.GetNodeIndex, vlib.GetNodeIndexReply, { node_name: "no-such-node" }))
      expect(error.message).toContain("(-63)")
      // vl_api_add_node_next_t_handler / vl_api_get_next_index_t_handler
      const added = yield* c.request(vlib.AddNodeNext, vlib.AddNodeNextReply, { node_name: "lb4-gre4", next_name: "ip4-lookup" })
      expect(added.next_index).toBe(1) // slot 0 is error-drop
      expect((yield* c.request(vlib.GetNextIndex, vlib.GetNextIndexReply, { node_name: "lb4-gre4", next_name: "ip4-lookup" })).next_index).toBe(1)
      expect((yield* Effect.flip(c.request(vlib.GetNextIndex, vlib.GetNextIndexReply, { node_name: "lb4-gre4", next_name: "ip6-lookup" }))).message)
        .toContain("(-6)")
      expect((yield* Effect.flip(c.request(vlib.AddNodeNext, vlib.AddNodeNextReply, { node_name: "lb4-gre4", next_name: "nope" }))).message)
        .toContain("(-64)")
    })))

  it.live("get_f64_endian_value: 1.0 back; retval -159 when the request's value is not 1.0 (vl_api_get_f64_endian_value_t_handler)", () =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      expect(yield* c.request(vlib.GetF64EndianValue, vlib.GetF64EndianValueReply, { f64_one: 1.0 })).toMatchObject({ retval: 0, f64_one_result: 1.0 })
      // retval is a u32 in vlib.api: -159 reads as 2^32 - 159.
      expect((yield* Effect.flip(c.request(vlib.GetF64EndianValue, vlib.GetF64EndianValueReply, { f64_one: 2.5 }))).message)
        .toContain(`(${0x100000000 - 159})`)
      expect(yield* c.request(vlib.GetF64IncrementByOne, vlib.GetF64IncrementByOneReply, { f64_value: 41.5 })).toMatchObject({ f64_value: 42.5 })
    })))

  it.effect("show_vpe_system_time is the clock's Unix time in seconds (vl_api_show_vpe_system_time_t_handler, unix_time_now)", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* TestClock.setTime(1_767_225_600_250)
      const s = yield* sim()
      const c = yield* VppApi.connect({ path: s.api.path })
      expect(yield* c.request(vpe.ShowVpeSystemTime, vpe.ShowVpeSystemTimeReply, {})).toMatchObject({ retval: 0, vpe_system_time: 1_767_225_600.25 })
    })))
})
