import type * as net from "node:net"
import type { Sink } from "../codec/Frame.js"

/** The frames encoded for a socket in this tick, written to it on the next one. */
export interface Batch extends Sink {
  bytes: Buffer
  /** Bytes of `bytes` in use; set it back to drop what was reserved since (a request that failed to encode). */
  used: number
}

const batches = new WeakMap<net.Socket, Batch>()

const FIRST_SIZE = 2048

const flush = (socket: net.Socket): void => {
  const batch = batches.get(socket)
  batches.delete(socket)
  if (batch === undefined || batch.used === 0 || socket.destroyed) return
  socket.write(batch.bytes.subarray(0, batch.used))
}

/**
 * Where frames for `socket` are encoded in this tick (`Frame.encodeFrameOverInto`):
 * one buffer, written to the socket on the next tick in one `socket.write`. A
 * pipelined burst then costs no buffer of its own per message, one stream
 * write and one system call (a write per message was a request object, a
 * buffer-list entry and an off-heap buffer each: at 33,000 messages they
 * showed in the profile, and in the collector's time).
 */
export const batchOf = (socket: net.Socket): Batch => {
  let batch = batches.get(socket)
  if (batch === undefined) {
    const b: Batch = {
      bytes: Buffer.allocUnsafe(FIRST_SIZE),
      used: 0,
      reserve: (size) => {
        const at = b.used
        if (at + size > b.bytes.length) {
          const bigger = Buffer.allocUnsafe(Math.max(2 * b.bytes.length, at + size))
          b.bytes.copy(bigger, 0, 0, at)
          b.bytes = bigger
        }
        b.used = at + size
        return at
      }
    }
    batch = b
    batches.set(socket, batch)
    process.nextTick(flush, socket)
  }
  return batch
}

/**
 * Writes `frame` to a corked socket, uncorked on the next tick: one system call
 * for the tick's frames, each still its own stream write, so `writableLength`
 * and 'drain' count it at once (vppsim's buffer caps and backpressure read them).
 */
export const writeCorked = (socket: net.Socket, frame: Uint8Array): void => {
  if (socket.writableCorked === 0) {
    socket.cork()
    process.nextTick(() => socket.uncork())
  }
  socket.write(frame)
}
