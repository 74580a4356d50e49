/**
 * Shared ICMP sockets: one per (family, namespace, source address), used by
 * every ICMP probe at once, with one reader that hands each reply to the
 * probe waiting for it by sequence number. A thousand backends cost one
 * socket and one poll timer, not a thousand.
 *
 * The socket is a ping socket (SOCK_DGRAM, allowed by
 * net.ipv4.ping_group_range, no privilege needed) when the kernel allows one,
 * else a raw socket (CAP_NET_RAW). A ping socket's kernel sets the echo
 * identifier and only delivers replies to that identifier; ICMP errors come
 * on its error queue (IP_RECVERR). A raw socket sees every ICMP packet of the
 * namespace: replies are ours only with our identifier, sequence and source
 * address, and destination-unreachables are ours only if they quote such an
 * echo request.
 *
 * The addon's sockets are non-blocking and not watched by libuv, so the reader
 * polls: every {@link POLL_MS} ms while some probe waits, not at all
 * otherwise. A socket nobody uses is closed after {@link IDLE_MS}; one older
 * than {@link MAX_AGE_MS} takes no new probes (a namespace deleted and made
 * again is seen), and closes when its last probe is done.
 */
import * as Native from "../../../native/Native.js"
import { type SocketFailure, socketFailure } from "../Netns.js"
import {
  canonicalAddress,
  ECHO_LENGTH,
  ICMP4_ECHO_REPLY,
  ICMP4_TIME_EXCEEDED,
  ICMP4_UNREACH,
  ICMP6_ECHO_REPLY,
  ICMP6_TIME_EXCEEDED,
  ICMP6_UNREACH,
  parseIcmp,
  unreachableReason,
  writeEchoRequest
} from "./IcmpPacket.js"

export const POLL_MS = 2

/**
 * Replies to a burst of probes queue up between two polls: room for some
 * thousands of them (the kernel caps it at net.core.rmem_max without
 * CAP_NET_ADMIN).
 */
const RECEIVE_BUFFER = 4 * 1024 * 1024

/** What a raw socket lets through: echo replies, destination unreachable, time exceeded. */
const RAW_TYPES = {
  4: [ICMP4_ECHO_REPLY, ICMP4_UNREACH, ICMP4_TIME_EXCEEDED],
  6: [ICMP6_ECHO_REPLY, ICMP6_UNREACH, ICMP6_TIME_EXCEEDED]
} as const
export const IDLE_MS = 10_000
export const MAX_AGE_MS = 60_000

export type PingOutcome =
  | { readonly _tag: "Reply"; readonly detail: string }
  | { readonly _tag: "Unreachable"; readonly detail: string }
  | { readonly _tag: "Failed"; readonly detail: string }

interface Waiter {
  readonly address: string
  readonly settle: (outcome: PingOutcome) => void
}

/** Codes of a send that say the destination cannot be reached from here. */
const UNREACHABLE_ON_SEND: ReadonlySet<string> = new Set(["EHOSTUNREACH", "ENETUNREACH", "EACCES", "EPERM"])

const scratch = Buffer.alloc(ECHO_LENGTH)
const usedIds = new Set<number>()

const freshId = (): number => {
  for (;;) {
    const id = Math.floor(Math.random() * 0x10000)
    if (!usedIds.has(id)) {
      usedIds.add(id)
      return id
    }
  }
}

export class PingSocket {
  private readonly waiters = new Map<number, Waiter>()
  private nextSeq = Math.floor(Math.random() * 0x10000)
  private pollTimer: ReturnType<typeof setTimeout> | undefined
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  refs = 0
  retired = false
  private closed = false
  readonly createdAt = performance.now()

  constructor(
    readonly key: string,
    readonly family: 4 | 6,
    private readonly fd: number,
    /** SOCK_RAW rather than a ping socket. */
    readonly raw: boolean,
    /** Our echo identifier (raw sockets; a ping socket's kernel picks its own). */
    private readonly id: number
  ) {}

  /**
   * Sends one echo request to `address`; `settle` is called once with what
   * came back (possibly before this returns: a send the kernel refuses). The
   * returned sequence number cancels the wait.
   */
  ping(address: string, settle: (outcome: PingOutcome) => void): number {
    if (!this.raw) this.drainErrors()
    const seq = this.allocateSeq()
    const packet = writeEchoRequest(scratch, this.family, this.id, seq)
    try {
      Native.sendTo(this.fd, address, packet)
    } catch (e) {
      const code = Native.isNativeError(e) ? e.code : ""
      // On a ping socket a send can fail with an ICMP error that came for another probe: read it, try once more.
      if (!this.raw && code !== "" && this.drainErrors() > 0) return this.ping(address, settle)
      const detail = e instanceof Error ? e.message : String(e)
      settle(UNREACHABLE_ON_SEND.has(code) ? { _tag: "Unreachable", detail } : { _tag: "Failed", detail })
      return -1
    }
    this.waiters.set(seq, { address: canonicalAddress(address), settle })
    this.pollTimer ??= setTimeout(this.poll, POLL_MS)
    return seq
  }

  /** Stops waiting for the reply to `seq` (the probe timed out or was interrupted). */
  cancel(seq: number): void {
    this.waiters.delete(seq)
  }

  private allocateSeq(): number {
    for (let i = 0; i < 0x10000; i++) {
      const seq = this.nextSeq
      this.nextSeq = (this.nextSeq + 1) & 0xffff
      if (!this.waiters.has(seq)) return seq
    }
    // 65536 probes in flight on one socket: reuse the oldest number; its probe will time out.
    return this.nextSeq
  }

  private readonly poll = (): void => {
    this.pollTimer = undefined
    if (this.closed) return
    if (!this.raw) this.drainErrors()
    this.drainReplies()
    if (this.waiters.size > 0) this.pollTimer = setTimeout(this.poll, POLL_MS)
  }

  private settle(seq: number, from: string, outcome: PingOutcome): void {
    const waiter = this.waiters.get(seq)
    if (waiter === undefined || waiter.address !== canonicalAddress(from)) return
    this.waiters.delete(seq)
    waiter.settle(outcome)
  }

  private drainReplies(): void {
    // Bounded, so one flood cannot hold the event loop; the rest waits for the next poll.
    for (let n = 0; n < 4096 && this.waiters.size > 0; n++) {
      let datagram: Native.ReceivedDatagram | null
      try {
        datagram = Native.recvFrom(this.fd, 1024)
      } catch {
        // A ping socket's pending ICMP error surfaces here once: its entry is on the error queue.
        if (!this.raw) this.drainErrors()
        continue
      }
      if (datagram === null) return
      const message = parseIcmp(this.family, datagram.data, this.raw && this.family === 4)
      if (message === undefined) continue
      if (this.raw && message.id !== this.id) continue
      if (message._tag === "EchoReply") {
        this.settle(message.seq, datagram.address, { _tag: "Reply", detail: `echo reply from ${datagram.address}` })
      } else {
        this.settle(message.seq, message.destination, {
          _tag: "Unreachable",
          detail: `ICMP ${message.reason} from ${datagram.address}`
        })
      }
    }
  }

  /** Reads a ping socket's error queue: ICMP errors quoting our echo requests. Returns how many it read. */
  private drainErrors(): number {
    let n = 0
    for (; n < 4096; n++) {
      let entry: Native.QueuedError | null
      try {
        entry = Native.recvErr(this.fd, 64)
      } catch {
        return n
      }
      if (entry === null) return n
      // The quoted packet starts at our echo request's ICMP header.
      if (entry.data.length < 8) continue
      const seq = entry.data.readUInt16BE(6)
      const reason =
        entry.origin === 2 || entry.origin === 3
          ? unreachableReason(this.family, entry.icmpType, entry.icmpCode)
          : `${entry.code} (local)`
      if (reason === undefined) continue
      const from = entry.offender !== "" ? ` from ${entry.offender}` : ""
      this.settle(seq, entry.address, { _tag: "Unreachable", detail: `ICMP ${reason}${from}` })
    }
    return n
  }

  lease(): void {
    this.refs++
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
  }

  release(): void {
    this.refs--
    if (this.refs > 0) return
    if (this.retired) return this.close()
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.refs === 0) {
        if (sockets.get(this.key) === this) sockets.delete(this.key)
        this.close()
      }
    }, IDLE_MS)
    this.idleTimer.unref()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer)
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.pollTimer = undefined
    this.idleTimer = undefined
    if (this.raw) usedIds.delete(this.id)
    try {
      Native.close(this.fd)
    } catch {
      // Already closed: nothing to release.
    }
  }

  get isClosed(): boolean {
    return this.closed
  }
}

const sockets = new Map<string, PingSocket>()

/** What to say when neither a ping socket nor a raw socket may be made. */
export const NO_PERMISSION = "ICMP needs root or CAP_NET_RAW (or net.ipv4.ping_group_range)"

const isPermission = (f: SocketFailure): boolean => !f.netns && (f.code === "EACCES" || f.code === "EPERM")

const open = (key: string, family: 4 | 6, netns: string, source: string | undefined): PingSocket | SocketFailure => {
  const options = netns === "" ? {} : { netns: Native.netnsPath(netns) }
  let fd: number
  let raw = false
  try {
    fd = Native.icmpSocket(family, { ...options, raw: false })
  } catch (e) {
    const f = socketFailure(netns, e)
    if (!isPermission(f)) return f
    try {
      fd = Native.icmpSocket(family, { ...options, raw: true })
      raw = true
    } catch (e2) {
      const f2 = socketFailure(netns, e2)
      return isPermission(f2) ? { ...f2, detail: NO_PERMISSION } : f2
    }
  }
  try {
    if (raw) Native.setIcmpFilter(fd, family, RAW_TYPES[family])
    else Native.enableRecvErr(fd, family)
    Native.setReceiveBuffer(fd, RECEIVE_BUFFER)
    if (source !== undefined) Native.bind(fd, source)
  } catch (e) {
    Native.close(fd)
    return socketFailure(netns, e)
  }
  return new PingSocket(key, family, fd, raw, raw ? freshId() : 0)
}

/** The shared socket for these parameters, leased: {@link release} it when the probe is done. */
export const lease = (family: 4 | 6, netns: string, source: string | undefined): PingSocket | SocketFailure => {
  const key = `${family}|${netns}|${source ?? ""}`
  let socket = sockets.get(key)
  if (socket !== undefined && performance.now() - socket.createdAt > MAX_AGE_MS) {
    socket.retired = true
    sockets.delete(key)
    if (socket.refs === 0) socket.close()
    socket = undefined
  }
  if (socket === undefined) {
    const opened = open(key, family, netns, source)
    if (!(opened instanceof PingSocket)) return opened
    socket = opened
    sockets.set(key, socket)
  }
  socket.lease()
  return socket
}

export const release = (socket: PingSocket): void => socket.release()

/** How many shared sockets are open (for tests). */
export const openSockets = (): number => sockets.size
