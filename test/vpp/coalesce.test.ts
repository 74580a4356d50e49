/**
 * The tick's batch of frames for a socket (src/vpp/transport/Coalesce.ts):
 * `flush` puts it on the socket at once, and the tick's own
 * write then finds nothing left, so every byte is written exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { batchOf, flush } from "../../src/vpp/transport/Coalesce.js"
import { tempDir } from "../sim/tempDir.js"
import { waitFor } from "../support/wait.js"

/** A connected pair over a Unix socket in a temp dir; `received` is what the server side has read. */
const pair = Effect.gen(function*() {
  const dir = yield* tempDir("coalesce-")
  const socketPath = path.join(dir, "s.sock")
  const chunks: Array<Buffer> = []
  const server = net.createServer((s) => s.on("data", (d: Buffer) => chunks.push(d)))
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => void server.listen(socketPath, () => resume(Effect.void))),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  const client = yield* Effect.acquireRelease(
    Effect.async<net.Socket>((resume) => {
      const c = net.createConnection(socketPath, () => resume(Effect.succeed(c)))
    }),
    (c) => Effect.sync(() => c.destroy())
  )
  return { client, received: () => Buffer.concat(chunks) }
})

const put = (socket: net.Socket, bytes: ReadonlyArray<number>) => {
  const batch = batchOf(socket)
  const at = batch.reserve(bytes.length)
  batch.bytes.set(bytes, at)
}

/** Until the server side has read `n` bytes (wall time: a real socket). */
const receivedAtLeast = (received: () => Buffer, n: number) =>
  waitFor(`${n} bytes read by the server side`, Effect.sync(() => (received().length >= n ? received() : undefined)))

describe("Coalesce", () => {
  it.live("flush writes the tick's batch now, once; what is encoded after it goes in a batch of its own", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client, received } = yield* pair
      const written = client.bytesWritten
      put(client, [1, 2, 3])
      expect(client.bytesWritten).toBe(written) // held for the next tick
      flush(client)
      expect(client.bytesWritten).toBe(written + 3) // on the socket before this tick ends
      put(client, [4, 5])
      flush(client)
      flush(client) // nothing left: no second write
      expect(client.bytesWritten).toBe(written + 5)
      put(client, [6])
      const all = yield* receivedAtLeast(received, 6) // the last one by the tick's own write
      expect([...all]).toEqual([1, 2, 3, 4, 5, 6])
      expect(client.bytesWritten).toBe(written + 6)
    })))
})
