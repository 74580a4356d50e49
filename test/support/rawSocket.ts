/**
 * A deliberately dumb VPP client for tests: writes raw frames cut into small
 * random pieces and collects the bodies the server sends back, with none of
 * our client's logic in between.
 */
import { Effect } from "effect"
import * as net from "node:net"

export interface RawExchange {
  /** frames to send, back to back, cut into random pieces of 1..maxPiece bytes */
  readonly frames: ReadonlyArray<Uint8Array>
  readonly maxPiece: number
  /** stop after this many bodies; otherwise when the server closes */
  readonly expect?: number
}

export const rawExchange = (path: string, x: RawExchange): Effect.Effect<Array<Uint8Array>, Error> =>
  Effect.async<Array<Uint8Array>, Error>((resume) => {
    const socket = net.createConnection({ path })
    const got: Array<Uint8Array> = []
    let buf = Buffer.alloc(0)
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 16 && buf.length >= 16 + buf.readUInt32BE(8)) {
        const end = 16 + buf.readUInt32BE(8)
        got.push(Uint8Array.from(buf.subarray(16, end)))
        buf = buf.subarray(end)
      }
      if (x.expect !== undefined && got.length >= x.expect) {
        socket.destroy()
        resume(Effect.succeed(got))
      }
    })
    socket.on("close", () => resume(Effect.succeed(got)))
    socket.on("error", (e) => resume(Effect.fail(e)))
    socket.on("connect", async () => {
      const all = Buffer.concat(x.frames.map((f) => Buffer.from(f)))
      for (let i = 0; i < all.length;) {
        const n = 1 + Math.floor(Math.random() * x.maxPiece)
        socket.write(all.subarray(i, i + n))
        i += n
        await new Promise((r) => setImmediate(r))
      }
    })
    return Effect.sync(() => socket.destroy())
  })
