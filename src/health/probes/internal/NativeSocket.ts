/**
 * The stream a probe's conversation talks on (an HTTP exchange, a TCP
 * send/expect), whatever carries it:
 *
 * - `NativeSocket`: a plain TCP connection of the native addon's probe engine
 *   (native/src/probe_engine.c), polled on Node's own loop without
 *   net.Socket. A probe connects, writes a few hundred bytes, reads a short
 *   reply and resets; Node's socket brings a stream object, two stream states,
 *   a handle wrap, request wraps and its stream machinery to every one of
 *   them, which at 10,000 probes a second is most of the checker's CPU and of
 *   its garbage.
 * - `nodeStream(socket)`: a Node socket, for TLS (tls.connect needs one) and
 *   wherever the addon is not built, or `VPP_MAGLEV_PROBE_SOCKETS=node`.
 */
import type * as net from "node:net"
import * as os from "node:os"
import * as tls from "node:tls"
import * as Native from "../../../native/Native.js"

export interface ProbeStream {
  /** Every chunk the peer sends (one listener). */
  onData(listener: (chunk: Buffer) => void): void
  /** The peer closed its side (one listener). */
  onEnd(listener: () => void): void
  /** The stream was destroyed (one listener). */
  onClose(listener: () => void): void
  /** Sends; `done` once the data is handed to the kernel. */
  write(data: Buffer, done?: () => void): void
  readonly bytesRead: number
  /** The TLS protocol version, on a TLS stream. */
  readonly tlsProtocol: string | undefined
  /** Closes at once with an RST where the stream is plain TCP (as HAProxy ends its checks). */
  reset(): void
}

// ---------------------------------------------------------------------------
// Node sockets

/** A Node (or TLS) socket as a ProbeStream. */
export const nodeStream = (socket: net.Socket): ProbeStream => ({
  onData: (listener) => void socket.on("data", listener),
  onEnd: (listener) => void socket.on("end", listener),
  onClose: (listener) => void socket.once("close", listener),
  write: (data, done) =>
    void socket.write(data, (e) => {
      if (e === undefined || e === null) done?.()
    }),
  get bytesRead() {
    return socket.bytesRead
  },
  get tlsProtocol() {
    return socket instanceof tls.TLSSocket ? socket.getProtocol() ?? "TLS" : undefined
  },
  reset: () => {
    if (!(socket instanceof tls.TLSSocket) && typeof socket.resetAndDestroy === "function") {
      try {
        socket.resetAndDestroy()
        return
      } catch {
        // Not a TCP handle after all: destroy it normally.
      }
    }
    socket.destroy()
  }
})

// ---------------------------------------------------------------------------
// the native engine

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]))

/** A system error as Node words it: "connect ECONNREFUSED 192.0.2.1:80", "read ECONNRESET". */
const systemError = (syscall: string, errno: number, where?: string): Error => {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`
  const e = new Error(where === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${where}`) as Error & {
    code: string
    errno: number
    syscall: string
  }
  e.code = code
  e.errno = -errno
  e.syscall = syscall
  return e
}

/** Open connections by id; ids are reused, lowest first. */
const connections: Array<NativeSocket | undefined> = []
const freeIds: Array<number> = []
let initialised = false

const dispatch: Native.ProbeEventCallback = (id, kind, value) => {
  const c = connections[id]
  if (c === undefined) return
  try {
    c.event(kind, value)
  } catch (e) {
    // A conversation must not throw; if one does, its probe fails, not the process.
    c.fail(e instanceof Error ? e : new Error(String(e)))
  }
}

const allocate = (socket: NativeSocket): number => {
  if (!initialised) {
    Native.probeInit(dispatch)
    initialised = true
  }
  const id = freeIds.length > 0 ? freeIds.pop()! : connections.length
  connections[id] = socket
  return id
}

const release = (id: number): void => {
  connections[id] = undefined
  freeIds.push(id)
}

/** A plain TCP probe connection of the native engine. */
export class NativeSocket implements ProbeStream {
  private id = -1
  bytesRead = 0
  readonly tlsProtocol = undefined
  private connected = false
  private data: ((chunk: Buffer) => void) | undefined
  private end: (() => void) | undefined
  private close: (() => void) | undefined

  constructor(
    private readonly address: string,
    private readonly port: number,
    /** Connected: the stream is ready to talk. */
    private readonly onConnect: () => void,
    /** Any failure, connecting or later, as Node's error would word it. */
    private readonly onError: (e: Error) => void
  ) {}

  /** Starts connecting; throws the NativeError of a socket that cannot even start (socket, setns, bind, connect). */
  open(family: 4 | 6, localAddress: string | undefined, netnsPath: string | undefined): void {
    const id = allocate(this)
    try {
      Native.probeOpen(id, family, this.address, this.port, localAddress, netnsPath)
    } catch (e) {
      release(id)
      if (Native.isNativeError(e) && e.syscall === "connect") {
        throw systemError("connect", -e.errno, `${this.address}:${this.port}`)
      }
      throw e
    }
    this.id = id
  }

  event(kind: number, value: Buffer | number): void {
    switch (kind) {
      case Native.PROBE_CONNECTED:
        this.connected = true
        return this.onConnect()
      case Native.PROBE_DATA: {
        const chunk = value as Buffer
        this.bytesRead += chunk.length
        return this.data?.(chunk)
      }
      case Native.PROBE_END:
        return this.end?.()
      case Native.PROBE_ERROR:
        return this.connected
          ? this.onError(systemError("read", value as number))
          : this.onError(systemError("connect", value as number, `${this.address}:${this.port}`))
    }
  }

  fail(e: Error): void {
    this.onError(e)
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.data = listener
  }

  onEnd(listener: () => void): void {
    this.end = listener
  }

  onClose(listener: () => void): void {
    this.close = listener
  }

  write(data: Buffer, done?: () => void): void {
    if (this.id < 0) return
    try {
      Native.probeWrite(this.id, data)
    } catch (e) {
      return this.onError(Native.isNativeError(e) ? systemError("write", -e.errno) : (e as Error))
    }
    done?.()
  }

  reset(): void {
    this.shut(true)
  }

  /** -1 while connecting (or closed), else the bytes received and not read yet. */
  pending(): number {
    return this.id < 0 ? -1 : Native.probePending(this.id)
  }

  destroy(): void {
    this.shut(false)
  }

  private shut(reset: boolean): void {
    if (this.id < 0) return
    const id = this.id
    this.id = -1
    Native.probeClose(id, reset)
    release(id)
    this.close?.()
  }
}

/** Whether probes use the native engine (the addon is built and `VPP_MAGLEV_PROBE_SOCKETS` is not "node"). */
export const nativeProbes: boolean = process.env["VPP_MAGLEV_PROBE_SOCKETS"] !== "node" && Native.isNativeAvailable()
