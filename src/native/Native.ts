/**
 * Typed access to the `vppmaglev_native` addon (native/src/vppmaglev_native.c):
 * the Linux system calls vpp-maglev needs and Node has no API for.
 *
 * - AF_UNIX SOCK_SEQPACKET sockets with fds passed as SCM_RIGHTS (VPP's stats
 *   socket, /run/vpp/stats.sock, hands out its shared-memory segment so);
 * - shared memory: memfd_create, ftruncate, fstat size, mmap of an fd into an
 *   ArrayBuffer aliasing the mapping (read-only by default), munmap, close;
 * - ICMP echo sockets and TCP sockets, optionally created inside a network
 *   namespace; bind; the error queue of a socket (ICMP errors a ping socket got).
 *
 * Every call is synchronous and never blocks: sockets are non-blocking, and
 * "nothing yet" is `null` (accept, receive) for the caller to poll on a timer.
 * Failures throw {@link NativeError}s shaped like Node's system errors
 * (`code` "ENOENT", `errno` -2, `syscall` "connect", `path` ...).
 *
 * The addon is loaded on first use, so importing this module never fails on a
 * machine where it has not been built; build it with
 * `node native/build.mjs` (or `cd native && node-gyp rebuild`).
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** A failed system call, as thrown by every function here. */
export interface NativeError extends Error {
  /** errno name, e.g. "ENOENT", "ECONNREFUSED", "EAGAIN". */
  readonly code: string
  /** Negative errno, as in Node's own system errors. */
  readonly errno: number
  readonly syscall: string
  readonly path?: string
  readonly address?: string
}

export const isNativeError = (u: unknown): u is NativeError =>
  u instanceof Error &&
  typeof (u as { code?: unknown }).code === "string" &&
  typeof (u as { syscall?: unknown }).syscall === "string"

/** One message received from a SOCK_SEQPACKET socket. */
export interface ReceivedMessage {
  readonly data: Buffer
  /** fds received as SCM_RIGHTS, close-on-exec; the caller owns and must close all of them. */
  readonly fds: ReadonlyArray<number>
  /** The message was longer than `maxBytes`; the rest is lost. */
  readonly truncated: boolean
  /** More fds came than `maxFds`; the kernel closed the extra ones. */
  readonly controlTruncated: boolean
}

/** A datagram received on an ICMP socket. */
export interface ReceivedDatagram {
  readonly data: Buffer
  /** Source address, e.g. "192.0.2.1" or "fe80::1%2". */
  readonly address: string
}

/** One entry of a socket's error queue (IP_RECVERR / IPV6_RECVERR). */
export interface QueuedError {
  /** What the error quotes of our packet; for a ping socket, our echo request from its ICMP header on. */
  readonly data: Buffer
  /** Where our packet was going. */
  readonly address: string
  /** Who reported the error (the router or host sending the ICMP error); "" when unknown. */
  readonly offender: string
  /** errno name, e.g. "EHOSTUNREACH". */
  readonly code: string
  /** SO_EE_ORIGIN_*: 1 local, 2 ICMP, 3 ICMPv6. */
  readonly origin: number
  readonly icmpType: number
  readonly icmpCode: number
}

/** The addon's exports, exactly as the C code defines them. */
export interface NativeBinding {
  seqpacketListen(path: string, backlog: number): number
  seqpacketAccept(listenFd: number): number | null
  seqpacketConnect(path: string): number
  sendWithFds(fd: number, data: Uint8Array | ArrayBuffer | DataView, fds: ReadonlyArray<number>): number
  recvWithFds(fd: number, maxBytes: number, maxFds: number): ReceivedMessage | null
  close(fd: number): void
  memfdCreate(name: string): number
  ftruncate(fd: number, size: number): void
  fstatSize(fd: number): number
  mmap(fd: number, length: number, writable: boolean, offset: number): ArrayBuffer
  munmap(buffer: ArrayBuffer): boolean
  icmpSocket(family: 4 | 6, raw: boolean, netnsPath: string | null): number
  sendTo(fd: number, address: string, data: Uint8Array | ArrayBuffer | DataView): number
  recvFrom(fd: number, maxBytes: number): ReceivedDatagram | null
  tcpSocket(family: 4 | 6, netnsPath: string | null): number
  bind(fd: number, address: string, port: number): void
  enableRecvErr(fd: number, family: 4 | 6): void
  recvErr(fd: number, maxBytes: number): QueuedError | null
  setReceiveBuffer(fd: number, bytes: number): number
  setIcmpFilter(fd: number, family: 4 | 6, types: ReadonlyArray<number>): void
  probeInit(callback: ProbeEventCallback): void
  probeOpen(id: number, family: 4 | 6, address: string, port: number, localAddress: string | null, netnsPath: string | null): void
  probeWrite(id: number, data: Uint8Array): void
  probeClose(id: number, reset: boolean): void
  probePending(id: number): number
  mallocSetting(name: MallocSetting, value: number): boolean
  mallocTrim(pad: number): boolean
  mallocInfo(): MallocInfo | null
  discardPages(buffer: ArrayBuffer): number
  schedSlice(tid: number): number
  setSchedSlice(tid: number, ns: number): number
}

/** The glibc malloc settings {@link mallocSetting} gives (mallopt(3): M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD). */
export type MallocSetting = "arena-max" | "mmap-threshold" | "trim-threshold"

/** glibc's mallinfo2(3), every arena added up, in bytes. */
export interface MallocInfo {
  /** From the system in arenas (sbrk'd and mmapped heaps): what malloc manages. */
  readonly arena: number
  /** In blocks mmapped on their own (each of at least the mmap threshold). */
  readonly mmapped: number
  readonly mmappedBlocks: number
  /** Allocated in the arenas. */
  readonly inUse: number
  /** Free in the arenas (kept, fragmented or not yet trimmed). */
  readonly free: number
  /** Free at the top of the main arena: what trimming it could release. */
  readonly topFree: number
}

/** Events of the probe connections (native/src/probe_engine.c). */
export const PROBE_CONNECTED = 1
export const PROBE_DATA = 2
export const PROBE_END = 3
export const PROBE_ERROR = 4

/** (id, kind, value): value is the data (PROBE_DATA), else an errno (PROBE_ERROR) or 0. */
export type ProbeEventCallback = (id: number, kind: number, value: Buffer | number) => void

export const ADDON_NAME = "vppmaglev_native"

/** Environment variable naming the .node file to load instead of the built one. */
export const ADDON_PATH_ENV = "VPP_MAGLEV_NATIVE_ADDON"

/**
 * The repository root: the nearest directory above this module holding
 * native/binding.gyp. Works from src/native/ (tsx, vitest) and dist/native/.
 */
export const findRepoRoot = (from: string = path.dirname(fileURLToPath(import.meta.url))): string | undefined => {
  let dir = path.resolve(from)
  for (;;) {
    if (fs.existsSync(path.join(dir, "native", "binding.gyp"))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** Where the addon is looked for, in order. */
export const addonCandidates = (): ReadonlyArray<string> => {
  const fromEnv = process.env[ADDON_PATH_ENV]
  if (fromEnv !== undefined && fromEnv !== "") return [path.resolve(fromEnv)]
  // Beside this module: the Debian packages put the addon next to the bundled maglevd.
  const beside = path.join(path.dirname(fileURLToPath(import.meta.url)), `${ADDON_NAME}.node`)
  const root = findRepoRoot()
  if (root === undefined) return [beside]
  return [...["Release", "Debug"].map((mode) => path.join(root, "native", "build", mode, `${ADDON_NAME}.node`)), beside]
}

let cached: NativeBinding | undefined

/** Loads the addon once; throws an Error saying how to build it when it is missing. */
export const loadNative = (): NativeBinding => {
  if (cached !== undefined) return cached
  const candidates = addonCandidates()
  const found = candidates.find((p) => fs.existsSync(p))
  if (found === undefined) {
    throw new Error(
      `${ADDON_NAME}.node not found (looked in: ${candidates.join(", ") || "no repository root found"}); ` +
        "build it with `node native/build.mjs` from the repository root"
    )
  }
  const require = createRequire(import.meta.url)
  cached = require(found) as NativeBinding
  return cached
}

/** True when the addon can be loaded on this machine. */
export const isNativeAvailable = (): boolean => {
  try {
    loadNative()
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------
// AF_UNIX SOCK_SEQPACKET

/**
 * A non-blocking listening SOCK_SEQPACKET socket bound at `socketPath`.
 * A stale socket already at that path is removed first (anything else there
 * makes bind fail with EADDRINUSE).
 */
export const seqpacketListen = (socketPath: string, backlog = 16): number =>
  loadNative().seqpacketListen(socketPath, backlog)

/** The fd of one pending connection (non-blocking), or null if none is pending. */
export const seqpacketAccept = (listenFd: number): number | null => loadNative().seqpacketAccept(listenFd)

/**
 * A non-blocking SOCK_SEQPACKET socket connected to `socketPath`. A local
 * connect completes at once: ENOENT (no socket there), ECONNREFUSED (nobody
 * listening), EAGAIN (listener's backlog full) are thrown.
 */
export const seqpacketConnect = (socketPath: string): number => loadNative().seqpacketConnect(socketPath)

/**
 * Sends one message, with `fds` as SCM_RIGHTS ancillary data. Never blocks:
 * EAGAIN is thrown when the peer's queue is full; EPIPE when it is gone.
 */
export const sendWithFds = (
  fd: number,
  data: Uint8Array | ArrayBuffer | DataView,
  fds: ReadonlyArray<number> = []
): number => loadNative().sendWithFds(fd, data, fds)

export interface RecvOptions {
  /** Largest message accepted (default 65536). */
  readonly maxBytes?: number
  /** Most fds accepted (default 16; the kernel may deliver a few more, up to the control buffer's alignment). */
  readonly maxFds?: number
}

/**
 * Receives one message and any fds it carries, or null if none is pending.
 * On SOCK_SEQPACKET, a message of 0 bytes with no fds means the peer closed.
 */
export const recvWithFds = (fd: number, options: RecvOptions = {}): ReceivedMessage | null =>
  loadNative().recvWithFds(fd, options.maxBytes ?? 65536, options.maxFds ?? 16)

/** Whether a received message is the peer's end of stream. */
export const isEndOfStream = (message: ReceivedMessage): boolean =>
  message.data.length === 0 && message.fds.length === 0 && !message.truncated

// ---------------------------------------------------------------------------
// fds and shared memory

/** close(2). */
export const close = (fd: number): void => loadNative().close(fd)

/**
 * A new anonymous shared-memory file (memfd_create, close-on-exec, sealing
 * allowed), of `size` bytes (ftruncate) when given.
 */
export const memfdCreate = (name: string, size?: number): number => {
  const native = loadNative()
  const fd = native.memfdCreate(name)
  if (size !== undefined) {
    try {
      native.ftruncate(fd, size)
    } catch (e) {
      native.close(fd)
      throw e
    }
  }
  return fd
}

/** ftruncate(2). */
export const ftruncate = (fd: number, size: number): void => loadNative().ftruncate(fd, size)

/** The size of the file behind `fd` (fstat st_size). */
export const fstatSize = (fd: number): number => loadNative().fstatSize(fd)

export interface MmapOptions {
  /** PROT_READ|PROT_WRITE instead of PROT_READ (default false: read-only). */
  readonly writable?: boolean
  /** Page-aligned file offset (default 0). */
  readonly offset?: number
}

/**
 * Maps `length` bytes of `fd` MAP_SHARED and returns an ArrayBuffer aliasing
 * the mapping: writes by the other side show through at once. Read-only
 * (PROT_READ) unless `writable`; a JS write into a read-only view kills the
 * process with SIGSEGV, so readers must only read. The fd may be closed right
 * after. The mapping lasts until {@link munmap} or until the ArrayBuffer is
 * garbage-collected.
 */
export const mmap = (fd: number, length: number, options: MmapOptions = {}): ArrayBuffer =>
  loadNative().mmap(fd, length, options.writable ?? false, options.offset ?? 0)

/**
 * Unmaps a buffer returned by {@link mmap} and detaches it (its views become
 * empty). True if this call unmapped it, false if it already was.
 */
export const munmap = (buffer: ArrayBuffer): boolean => loadNative().munmap(buffer)

// ---------------------------------------------------------------------------
// ICMP sockets, network namespaces

/** The path `ip netns add NAME` creates for a named network namespace. */
export const netnsPath = (name: string): string => path.join("/var/run/netns", name)

export interface IcmpSocketOptions {
  /** SOCK_RAW (needs CAP_NET_RAW) instead of SOCK_DGRAM (needs net.ipv4.ping_group_range). */
  readonly raw?: boolean
  /**
   * Create the socket inside the network namespace at this path (see
   * {@link netnsPath}); it stays in that namespace. Needs CAP_SYS_ADMIN.
   */
  readonly netns?: string
}

/**
 * A non-blocking ICMP (4) or ICMPv6 (6) socket. With SOCK_DGRAM the kernel
 * fills the echo identifier and receives carry no IP header; with SOCK_RAW
 * IPv4 receives start with the IP header.
 */
export const icmpSocket = (family: 4 | 6, options: IcmpSocketOptions = {}): number =>
  loadNative().icmpSocket(family, options.raw ?? false, options.netns ?? null)

/** sendto(2), non-blocking (EAGAIN thrown). `address` may carry a scope: "fe80::1%eth0". */
export const sendTo = (fd: number, address: string, data: Uint8Array | ArrayBuffer | DataView): number =>
  loadNative().sendTo(fd, address, data)

/** recvfrom(2), non-blocking: null when nothing is pending. */
export const recvFrom = (fd: number, maxBytes = 65536): ReceivedDatagram | null =>
  loadNative().recvFrom(fd, maxBytes)

export interface TcpSocketOptions {
  /** Create the socket inside the network namespace at this path (see {@link netnsPath}). Needs CAP_SYS_ADMIN. */
  readonly netns?: string
}

/**
 * A fresh, unconnected, non-blocking TCP socket (AF_INET for 4, AF_INET6 for
 * 6). Made inside `netns` when given, it stays in that namespace: wrap it in
 * `new net.Socket({ fd })` and connect it as usual, and its traffic leaves
 * from that namespace.
 */
export const tcpSocket = (family: 4 | 6, options: TcpSocketOptions = {}): number =>
  loadNative().tcpSocket(family, options.netns ?? null)

/** bind(2) to `address` (and `port`, default 0: any), e.g. an ICMP socket's source address. */
export const bind = (fd: number, address: string, port = 0): void => loadNative().bind(fd, address, port)

/**
 * Sets IP_RECVERR (4) or IPV6_RECVERR (6): ICMP errors about what the socket
 * sent are queued for {@link recvErr}. The only way a ping (SOCK_DGRAM)
 * socket learns which echo a destination-unreachable answers.
 */
export const enableRecvErr = (fd: number, family: 4 | 6): void => loadNative().enableRecvErr(fd, family)

/** One entry of the socket's error queue (recvmsg MSG_ERRQUEUE), or null when it is empty. */
export const recvErr = (fd: number, maxBytes = 2048): QueuedError | null => loadNative().recvErr(fd, maxBytes)

/**
 * Asks for a receive buffer of `bytes` (SO_RCVBUFFORCE with CAP_NET_ADMIN,
 * else SO_RCVBUF, capped by net.core.rmem_max); returns what the kernel
 * granted as it reports it (twice the payload size, for its bookkeeping).
 */
export const setReceiveBuffer = (fd: number, bytes: number): number => loadNative().setReceiveBuffer(fd, bytes)

/**
 * Lets a raw ICMP (4: ICMP_FILTER, types 0..31) or ICMPv6 (6: ICMP6_FILTER)
 * socket receive only these message types.
 */
export const setIcmpFilter = (fd: number, family: 4 | 6, types: ReadonlyArray<number>): void =>
  loadNative().setIcmpFilter(fd, family, types)

/**
 * Probe connections on Node's own event loop without net.Socket (see
 * native/src/probe_engine.c and src/health/probes/internal/NativeSocket.ts):
 * one callback receives every connection's events.
 */
export const probeInit = (callback: ProbeEventCallback): void => loadNative().probeInit(callback)

/**
 * Opens probe connection `id`: a non-blocking TCP socket (inside `netnsPath`
 * when given, bound to `localAddress` when given) connecting to
 * address:port. Throws a NativeError (syscall socket, setns, open, bind or
 * connect) when it cannot even start; later failures come as events.
 */
export const probeOpen = (
  id: number,
  family: 4 | 6,
  address: string,
  port: number,
  localAddress: string | undefined,
  netnsPath: string | undefined
): void => loadNative().probeOpen(id, family, address, port, localAddress ?? null, netnsPath ?? null)

/** Sends on connection `id` (now, or as soon as it is connected and writable). */
export const probeWrite = (id: number, data: Uint8Array): void => loadNative().probeWrite(id, data)

/** Closes connection `id`, with an RST when `reset`; no event follows. */
export const probeClose = (id: number, reset: boolean): void => loadNative().probeClose(id, reset)
/** -1 while the connection's connect has not completed, else the bytes the kernel holds unread. */
export const probePending = (id: number): number => loadNative().probePending(id)

// ---------------------------------------------------------------------------
// glibc malloc

/**
 * mallopt(3): sets one of glibc's malloc settings for the whole process;
 * false when malloc refused it or the C library is not glibc. A process-wide
 * choice, for a daemon's start to make, never a library embedding
 * vpp-maglev; maglevd makes none today (docs/health.md "Scale": a fixed mmap
 * threshold was measured and dropped).
 */
export const mallocSetting = (name: MallocSetting, value: number): boolean => loadNative().mallocSetting(name, value)

/** malloc_trim(3): gives free memory of every arena back to the system, keeping `pad` bytes at the top; true if any went back. */
export const mallocTrim = (pad = 0): boolean => loadNative().mallocTrim(pad)

/**
 * madvise(MADV_DONTNEED) over the whole pages inside `buffer`: their contents
 * dropped (read back as zeros) and their memory given back to the system
 * until written again; the bytes discarded. Only for a buffer whose contents
 * nobody reads any more.
 */
export const discardPages = (buffer: ArrayBuffer): number => loadNative().discardPages(buffer)

/** mallinfo2(3), or null where the C library has none (glibc before 2.33, musl). */
export const mallocInfo = (): MallocInfo | null => loadNative().mallocInfo()

// ---------------------------------------------------------------------------
// the scheduler's time slice

/**
 * The thread's time slice in ns (sched_getattr(2)'s sched_runtime; `tid` 0:
 * the calling thread): under EEVDF (Linux 6.6 on) the kernel's base slice
 * unless the thread asked for its own; 0 on kernels that report none.
 * Throws a NativeError (ESRCH: no such thread).
 */
export const schedSlice = (tid = 0): number => loadNative().schedSlice(tid)

/**
 * Asks the kernel for a time slice of `ns` for a SCHED_OTHER thread (`tid`
 * 0: the calling one), its policy and nice value kept; 0 gives it the base
 * slice back. Linux 6.12 on takes it (clamped to 0.1-100 ms): not a larger
 * share of the CPU, but a core sooner when the thread wakes, in shorter
 * turns. Threads the thread creates afterwards inherit it. Returns the slice
 * the thread has afterwards; where that is not what was asked (older kernels
 * accept the call and ignore it), the kernel has no custom slices. Throws a
 * NativeError (sched_setattr EINVAL for a real-time thread, EPERM for
 * another user's).
 */
export const setSchedSlice = (tid: number, ns: number): number => loadNative().setSchedSlice(tid, ns)
