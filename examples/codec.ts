/**
 * Encoding and decoding a VPP message with the generated bindings:
 *
 *   node --import tsx examples/codec.ts
 */
import { Either } from "effect"
import { lb } from "../src/vpp/binapi/index.js"
import * as Codec from "../src/vpp/codec/Codec.js"
import * as Frame from "../src/vpp/codec/Frame.js"

const codec = Codec.of(lb.LbAddDelAsV2.schema)

const request: lb.LbAddDelAsV2 = {
  client_index: 0x80000001, // the handle from sockclnt_create_reply.index
  context: 42,
  pfx: "192.0.2.0/24",
  protocol: 6,
  port: 80,
  as_address: "10.0.0.1",
  weight: 100,
  is_del: false,
  is_flush: false
}

// 1010 stands for the id VPP assigned to lb_add_del_as_v2_2f1d3b0e in its message table.
const frame = Either.getOrThrow(Frame.encodeFrame(1010, codec, request))
console.log(`${lb.LbAddDelAsV2.nameCrc}: ${Buffer.from(frame).toString("hex")}`)

const decoded = Either.flatMap(Frame.decodeFrame(frame), (f) => codec.decode(f.payload))
console.log(decoded)

const tooHeavy = codec.encode({ ...request, weight: 300 })
if (Either.isLeft(tooHeavy)) console.log(tooHeavy.left.message)
