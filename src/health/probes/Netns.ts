/**
 * Network namespaces for probes. A probe with a namespace sends its packets
 * from there: its socket is created inside the namespace (the addon enters it
 * with setns(2) on the calling thread around socket(2) and comes straight
 * back), and a socket keeps the namespace it was born in for its whole life.
 * Everything after creation - bind, connect, TLS, HTTP, reading, closing - is
 * ordinary Node on the main thread: `new net.Socket({ fd })` adopts the fd
 * (libuv's uv_tcp_open), and connect(2) on it routes inside the namespace.
 *
 * Entering a namespace needs CAP_SYS_ADMIN; a namespace is named as
 * `ip netns add NAME` names it, a file under /var/run/netns.
 */
import * as net from "node:net"
import * as Native from "../../native/Native.js"
import { describeSystemError } from "./internal/SystemError.js"

/** The file of a named namespace, as `ip netns` makes it. */
export const netnsPath = (name: string): string => Native.netnsPath(name)

/** A socket could not be made: what to tell the operator. */
export interface SocketFailure {
  readonly _tag: "SocketFailure"
  readonly detail: string
  /** errno name, e.g. "EPERM"; "" when unknown. */
  readonly code: string
  /** Whether entering the namespace failed (rather than creating the socket inside it). */
  readonly netns: boolean
}

const failure = (detail: string, code: string, netns: boolean): SocketFailure => ({
  _tag: "SocketFailure",
  detail,
  code,
  netns
})

/**
 * What a failed native socket call means for a probe: `enter netns "blue":
 * operation not permitted` when the namespace could not be entered (opening
 * its file or setns), else the system call's own message.
 */
export const socketFailure = (netns: string, e: unknown): SocketFailure => {
  if (!Native.isNativeError(e)) return failure(e instanceof Error ? e.message : String(e), "", false)
  if (netns !== "" && (e.syscall === "setns" || (e.syscall === "open" && e.path === netnsPath(netns)))) {
    return failure(`enter netns "${netns}": ${describeSystemError(e.code, e.errno)}`, e.code, true)
  }
  return failure(e.message, e.code, false)
}

/**
 * An unconnected TCP socket for `family` that lives in `netns` ("" = ours).
 * Connect it at once (same tick): an adopted fd that is not connecting would
 * otherwise be read, and a read on an unconnected socket fails ENOTCONN.
 */
export const tcpSocket = (family: 4 | 6, netns: string): net.Socket | SocketFailure => {
  if (netns === "") return new net.Socket()
  let fd: number
  try {
    fd = Native.tcpSocket(family, { netns: netnsPath(netns) })
  } catch (e) {
    return socketFailure(netns, e)
  }
  try {
    // manualStart: Node's own (undocumented) option not to start reading an adopted fd before
    // it is connected; reading starts on connect as for any socket.
    return new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts)
  } catch (e) {
    Native.close(fd)
    return socketFailure(netns, e)
  }
}

export const isSocketFailure = (u: unknown): u is SocketFailure =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "SocketFailure"
