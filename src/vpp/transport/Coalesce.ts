import type * as net from "node:net"

/**
 * Writes `frame`, coalescing every frame written in the same tick into one
 * send: the socket is corked on the first write and uncorked on the next
 * tick. A pipelined burst then costs one system call instead of one per
 * message, on the client and in the simulator alike.
 */
export const writeCoalesced = (socket: net.Socket, frame: Uint8Array): void => {
  if (socket.writableCorked === 0) {
    socket.cork()
    process.nextTick(() => socket.uncork())
  }
  socket.write(frame)
}
