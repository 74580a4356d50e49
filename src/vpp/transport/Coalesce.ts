import type * as net from "node:net"
import { ByteSink } from "../../internal/ByteSink.js"
import { trace } from "../../internal/Trace.js"
import type { Sink } from "../codec/Frame.js"

/** The frames encoded for a socket in this tick, written to it on the next one. */
export interface Batch extends Sink {
  bytes: Buffer
  /** Bytes of `bytes` in use; set it back to drop what was reserved since (a request that failed to encode). */
  used: number
}

const batches = new WeakMap<net.Socket, Batch>()

const FIRST_SIZE = 2048

/**
 * Writes what was encoded for `socket` in this tick now (the tick's own flush
 * then finds nothing). A caller that has put a burst of requests on the wire
 * and will only wait for answers next calls it: the next tick comes only once
 * the microtask queue is empty, and a busy Effect runtime keeps it busy (the
 * write of a reaction's first request waited 1-3 ms for it, issue 14).
 */
export const flush = (socket: net.Socket): void => {
  const batch = batches.get(socket)
  if (batch === undefined) return
  batches.delete(socket)
  if (batch.used === 0 || socket.destroyed) return
  trace("written", batch.used)
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
    batch = new ByteSink(FIRST_SIZE)
    batches.set(socket, batch)
    process.nextTick(flush, socket)
  }
  return batch
}
