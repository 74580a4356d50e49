/**
 * Encode and decode rates of the generated codecs on one core. Target: at
 * least 1,000,000 encode+decode round trips per second for the fixed-size LB
 * messages.
 */
import { Either } from "effect"
import { lb, memclnt } from "../src/vpp/binapi/index.js"
import * as Codec from "../src/vpp/codec/Codec.js"
import { measure, type Row } from "./measure.js"

const asV2: lb.LbAddDelAsV2 = {
  client_index: 0x80000001,
  context: 65539,
  pfx: "192.0.2.0/24",
  protocol: 6,
  port: 80,
  as_address: "10.0.0.1",
  weight: 100,
  is_del: false,
  is_flush: false
}

const asV2Details: lb.LbAsV2Details = {
  context: 196613,
  vip: { pfx: "2001:db8:1::/64", protocol: 6, port: 443 },
  app_srv: "2001:db8:2::17",
  flags: 1,
  in_use_since: 0,
  weight: 100,
  num_buckets: 1024
}

const asV2Details4: lb.LbAsV2Details = {
  ...asV2Details,
  vip: { pfx: "192.0.2.0/24", protocol: 6, port: 80 },
  app_srv: "10.0.0.1"
}

const table = Array.from({ length: 150 }, (_, i) => ({ index: 29 + i, name: `lb_some_message_number_${i}_0123abcd` }))
const createReply: memclnt.SockclntCreateReply = {
  client_index: 0,
  context: 123,
  response: 0,
  index: 0x80000001,
  count: table.length,
  message_table: table
}

const cases = [
  { name: "lb_add_del_as_v2", codec: Codec.of(lb.LbAddDelAsV2.schema), value: asV2 },
  { name: "lb_as_v2_details (IPv4)", codec: Codec.of(lb.LbAsV2Details.schema), value: asV2Details4 },
  { name: "lb_as_v2_details (IPv6)", codec: Codec.of(lb.LbAsV2Details.schema), value: asV2Details },
  { name: "sockclnt_create_reply (150 entries)", codec: Codec.of(memclnt.SockclntCreateReply.schema), value: createReply }
] as const

export const run = (): Array<Row> =>
  cases.flatMap(({ name, codec, value }) => {
    const c = codec as Codec.Codec<unknown>
    const bytes = Either.getOrThrow(c.encode(value))
    let sink = 0
    const encode = measure(`${name}: encode`, () => {
      const r = c.encode(value)
      if (Either.isRight(r)) sink += r.right.length
    })
    const decode = measure(`${name}: decode`, () => {
      const r = c.decode(bytes)
      if (Either.isRight(r)) sink++
    })
    const roundTrip = measure(`${name}: encode+decode`, () => {
      const r = c.encode(value)
      if (Either.isRight(r) && Either.isRight(c.decode(r.right))) sink++
    })
    if (sink === 0) throw new Error("benchmark did no work")
    return [encode, decode, roundTrip].map((row) => ({ ...row, note: `${bytes.length} bytes` }))
  })
