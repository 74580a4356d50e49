/**
 * What vppsim's API connections may buffer (src/sim/ApiServer.ts): a client
 * that floods requests without reading its replies is backpressured (its
 * requests wait, then its socket is not read), and all connections together
 * stay under the cap; past the cap the connection holding the most is closed.
 *
 * VPP itself has no cap: vl_socket_api_send (src/vlibmemory/socket_api.c)
 * appends every reply to the registration's output_vector, vl_socket_write_ready
 * sends it 4 KiB at a time until EAGAIN, and vl_socket_read_ready keeps reading
 * into unprocessed_input; a registration is removed only on a read error or a
 * failed send (vl_socket_request_remove_reg_index). The simulator closes the
 * connection the same way, for the cap.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { describe, expect } from "vitest"
import { tempDir } from "./tempDir.js"
import { highWaterOf } from "../../src/sim/ApiServer.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { lb, vpe } from "../../src/vpp/binapi/index.js"
import * as Frame from "../../src/vpp/codec/Frame.js"
import * as VppApi from "../../src/vpp/transport/VppApi.js"
import { waitFor } from "../support/wait.js"
import { encode, idOf, rawClient } from "./rawClient.js"


const VIPS = 20
const REQUESTS = 6000

/** A simulator with VIPS VIPs, so that each lb_vip_dump is answered with VIPS details (about 1 KiB). */
const setup = (maxBufferedBytes: number) =>
  Effect.gen(function*() {
    const d = yield* tempDir("vppsim-buffers-")
    const s = yield* Simulator.make({ apiSocket: path.join(d, "api.sock"), maxBufferedBytes })
    const admin = yield* VppApi.connect({ path: s.api.path })
    for (let i = 1; i <= VIPS; i++) {
      yield* admin.request(lb.LbAddDelVipV2, lb.LbAddDelVipV2Reply, {
        pfx: `192.0.2.${i}/32`, protocol: 6, port: 80, encap: "LB_API_ENCAP_TYPE_GRE4", dscp: 0, type: "LB_API_SRV_TYPE_CLUSTERIP",
        target_port: 0, node_port: 0, new_flows_table_length: 1024, src_ip_sticky: false, is_del: false
      })
    }
    return { s, admin }
  })

/** A client that stops reading, then sends REQUESTS lb_vip_dump requests in one write. */
const flood = (socketPath: string) =>
  Effect.gen(function*() {
    const c = yield* rawClient(socketPath, "flooder")
    c.socket.pause()
    const id = c.ids.get(lb.LbVipDump.name)!
    const frames = Array.from({ length: REQUESTS }, (_, i) =>
      encode(id, lb.LbVipDump.schema, {
        client_index: c.handle, context: i + 1, pfx: "0.0.0.0/0", pfx_matcher: { le: 0, ge: 0 }, protocol: 255, port: 0
      }))
    c.socket.write(Buffer.concat(frames))
    return c
  })

describe("vppsim caps what its connections buffer", () => {
  it.live("a client that does not read is backpressured, the others are served, and once it reads it gets every reply", () =>
    Effect.scoped(Effect.gen(function*() {
      const cap = 512 * 1024
      const { s, admin } = yield* setup(cap)
      const c = yield* flood(s.api.path)
      // wait for the event: the flooder's connection holds replies and is held back
      const held = yield* waitFor("the flooder backpressured with its input paused", Effect.map(s.api.buffers, (bs) =>
        bs.find((b) => b.handle === c.handle && b.backpressured && b.output > 0 && b.input > highWaterOf(cap))))
      expect(held.input + held.output).toBeLessThanOrEqual(cap)
      const total = (yield* s.api.buffers).reduce((n, b) => n + b.input + b.output, 0)
      expect(total).toBeLessThanOrEqual(cap)
      // another client is answered meanwhile
      expect((yield* admin.request(vpe.ShowVersion, vpe.ShowVersionReply, {})).program).toBe("vpe")
      expect(yield* s.api.overflows).toBe(0)

      // the flooder reads: every request is answered, in order, nothing lost
      c.socket.resume()
      const detailsId = c.ids.get(lb.LbVipDetails.name)!
      const bodies = yield* c.take(REQUESTS * VIPS)
      expect(bodies.every((b) => idOf(b) === detailsId)).toBe(true)
      const contexts = bodies.map((b) => new DataView(b.buffer, b.byteOffset).getUint32(2))
      expect(contexts.every((x, i) => i === 0 || x >= contexts[i - 1]!)).toBe(true)
      const lastContext = contexts[contexts.length - 1]
      expect(lastContext).toBe(REQUESTS)
      expect(yield* s.api.overflows).toBe(0)
    })))

  it.live("past the cap the connection holding the most is closed (as VPP closes a registration), and the others go on", () =>
    Effect.scoped(Effect.gen(function*() {
      const cap = 20_000
      const { s, admin } = yield* setup(cap)
      const c = yield* flood(s.api.path)
      yield* Effect.async<void>((resume) => {
        if (c.socket.destroyed || c.socket.readyState === "closed") resume(Effect.void)
        else c.socket.once("close", () => resume(Effect.void))
      })
      expect(yield* s.api.overflows).toBe(1)
      yield* waitFor("the flooder's connection gone", Effect.map(s.api.buffers, (bs) => (bs.some((b) => b.handle === c.handle) ? undefined : true)))
      expect((yield* admin.request(vpe.ShowVersion, vpe.ShowVersionReply, {})).program).toBe("vpe")
      expect((yield* s.api.registrations).map((r) => r.name)).toEqual(["vpp-maglev"])
    })))
})

describe("vppsim closes a connection whose stream cannot be trusted", () => {
  it.live("a header announcing more than a body may hold: that connection closed (read in its own callback, nothing thrown out of it), the others served", () =>
    Effect.scoped(Effect.gen(function*() {
      const d = yield* tempDir("vppsim-buffers-")
      const s = yield* Simulator.make({ apiSocket: path.join(d, "api.sock") })
      const admin = yield* VppApi.connect({ path: s.api.path })
      const c = yield* rawClient(s.api.path, "liar")
      const closed = Effect.async<void>((resume) => {
        if (c.socket.destroyed || c.socket.readyState === "closed") resume(Effect.void)
        else c.socket.once("close", () => resume(Effect.void))
      })
      const header = new Uint8Array(16)
      Frame.writeHeader(header, 0, 0x7fffffff)
      c.socket.write(header)
      yield* closed
      yield* waitFor("the liar's registration gone", Effect.map(s.api.registrations, (rs) => (rs.some((r) => r.name === "liar") ? undefined : true)))
      expect((yield* admin.request(vpe.ShowVersion, vpe.ShowVersionReply, {})).program).toBe("vpe")
      expect((yield* s.api.registrations).map((r) => r.name)).toEqual(["vpp-maglev"])
    })))
})
