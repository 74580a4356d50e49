import type * as net from "node:net"

/** The frames written to a socket in this tick, not yet handed to it. */
const batches = new WeakMap<net.Socket, Array<Uint8Array>>()

const flush = (socket: net.Socket): void => {
  const frames = batches.get(socket)
  batches.delete(socket)
  if (frames === undefined || socket.destroyed) return
  if (frames.length === 1) {
    socket.write(frames[0]!)
    return
  }
  let size = 0
  for (const f of frames) size += f.length
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const f of frames) {
    out.set(f, at)
    at += f.length
  }
  socket.write(out)
}

/**
 * Writes `frame`, coalescing every frame written in the same tick into one
 * buffer and one `socket.write` on the next tick (in the order written). A
 * pipelined burst then costs one system call and one stream write instead of
 * a write per message (a stream write is a request object and a buffer-list
 * entry each: at 33,000 messages a burst of them showed in the profile), on
 * the client and in the simulator alike.
 */
export const writeCoalesced = (socket: net.Socket, frame: Uint8Array): void => {
  const frames = batches.get(socket)
  if (frames !== undefined) {
    frames.push(frame)
    return
  }
  batches.set(socket, [frame])
  process.nextTick(flush, socket)
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
