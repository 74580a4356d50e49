import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Native from "../../src/native/Native.js"
import { repoRoot } from "../support/paths.js"

const SEGMENT_SIZE = 64 * 1024
const pattern = (i: number): number => (i * 7 + 3) & 0xff

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `f` until it returns non-null, for at most `ms` (long: it returns as soon as `f` answers, and the machine may be busy). */
const pollFor = async <A>(f: () => A | null, ms = 30_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const a = f()
    if (a !== null) return a
    if (Date.now() > deadline) throw new Error("timed out polling")
    await sleep(5)
  }
}

const thrown = (f: () => unknown): Native.NativeError => {
  try {
    f()
  } catch (e) {
    if (Native.isNativeError(e)) return e
    throw e
  }
  throw new Error("expected a throw")
}

/** Permission columns of /proc/self/maps lines whose path contains `needle`. */
const mapsPermissions = (needle: string): Array<string> =>
  fs
    .readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.includes(needle))
    .map((line) => line.split(/\s+/)[1] ?? "")

let tmp = ""
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vppmaglev-native-"))
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

describe("native addon", () => {
  it("loads from native/build", () => {
    expect(Native.isNativeAvailable()).toBe(true)
    expect(Native.addonCandidates()[0]).toMatch(/native\/build\/Release\/vppmaglev_native\.node$/)
  })
})

describe("glibc malloc", () => {
  it("reports every arena added up", () => {
    const before = Native.mallocInfo()
    expect(before).not.toBeNull()
    expect(before!.arena).toBeGreaterThan(0)
    expect(before!.inUse).toBeGreaterThan(0)
    expect(before!.inUse).toBeLessThanOrEqual(before!.arena)
    for (const k of ["mmapped", "mmappedBlocks", "free", "topFree"] as const) expect(before![k]).toBeGreaterThanOrEqual(0)
  })

  it("takes the settings maglevd's start gives, and trims", () => {
    // glibc's own starting values: the test process keeps behaving as before.
    expect(Native.mallocSetting("mmap-threshold", 128 * 1024)).toBe(true)
    expect(Native.mallocSetting("trim-threshold", 128 * 1024)).toBe(true)
    expect(typeof Native.mallocTrim(0)).toBe("boolean")
  })

  it("rejects an unknown setting and a bad value", () => {
    const native = Native.loadNative()
    expect(() => native.mallocSetting("arenas" as Native.MallocSetting, 2)).toThrow(RangeError)
    expect(() => native.mallocSetting("arena-max", -1)).toThrow(RangeError)
    expect(() => native.mallocSetting("arena-max", 2 ** 31)).toThrow(RangeError)
    expect(() => native.mallocSetting("arena-max", "2" as unknown as number)).toThrow(TypeError)
    expect(() => native.mallocTrim(-1)).toThrow(RangeError)
  })
})

describe("discardPages", () => {
  it("drops the whole pages inside a buffer (read back as zeros), not its partial first and last pages", () => {
    const page = 4096
    const b = Buffer.allocUnsafeSlow(64 * page + 123).fill(0xab)
    const ab = b.buffer as ArrayBuffer
    const discarded = Native.discardPages(ab)
    expect(discarded % page).toBe(0)
    expect(discarded).toBeGreaterThanOrEqual(62 * page)
    expect(discarded).toBeLessThanOrEqual(ab.byteLength)
    // Where the whole pages are (the buffer's address is not known here): a run of `discarded` zeros, 0xab around it.
    const first = b.indexOf(0)
    expect(first).toBeGreaterThanOrEqual(0)
    expect(first).toBeLessThan(page)
    expect(b.subarray(first, first + discarded).every((x) => x === 0)).toBe(true)
    expect(b.subarray(0, first).every((x) => x === 0xab)).toBe(true)
    expect(b.subarray(first + discarded).every((x) => x === 0xab)).toBe(true)
    // Written again, it holds what was written.
    b.fill(7)
    expect(b.every((x) => x === 7)).toBe(true)
  })

  it("discards nothing of a buffer under a page or a detached one, and refuses what is not an ArrayBuffer", () => {
    expect(Native.discardPages(new ArrayBuffer(100))).toBe(0)
    const gone = new ArrayBuffer(1 << 20)
    structuredClone(undefined, { transfer: [gone] })
    expect(Native.discardPages(gone)).toBe(0)
    expect(() => Native.discardPages(new Uint8Array(8192) as unknown as ArrayBuffer)).toThrow(TypeError)
  })
})

describe("the scheduler's time slice", () => {
  /** Linux 6.12 and later take a thread's own slice (EEVDF's custom slices); older ones accept the call and ignore it. */
  const [major = 0, minor = 0] = os.release().split(/[.-]/).map(Number)
  const customSlices = major > 6 || (major === 6 && minor >= 12)

  it("sets a thread's slice and gives the base slice back, and threads started afterwards inherit it", async () => {
    const base = Native.schedSlice(0)
    try {
      const now = Native.setSchedSlice(0, 300_000)
      expect(Native.schedSlice(process.pid)).toBe(now)
      if (customSlices) expect(now).toBe(300_000)
      else expect(now).not.toBe(300_000)
      // The kernel clamps to 0.1-100 ms.
      if (customSlices) expect(Native.setSchedSlice(0, 1_000)).toBe(100_000)
      Native.setSchedSlice(0, 250_000)
      // A thread started now: its own slice, read from inside it, and its id, not the process's.
      const { Worker } = await import("node:worker_threads")
      const worker = new Worker(
        `const { parentPort } = require("node:worker_threads")
         const n = require(${JSON.stringify(path.join(repoRoot, "native/build/Release/vppmaglev_native.node"))})
         const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop())
         parentPort.postMessage({ tid, slice: n.schedSlice(tid) })`,
        { eval: true }
      )
      const seen = await new Promise<{ tid: number; slice: number }>((resolve, reject) => {
        worker.once("message", resolve)
        worker.once("error", reject)
      })
      await worker.terminate()
      expect(seen.tid).not.toBe(process.pid)
      expect(seen.slice).toBe(Native.schedSlice(0))
      if (customSlices) expect(seen.slice).toBe(250_000)
    } finally {
      // 0: the kernel's base slice again, as the thread had.
      expect(Native.setSchedSlice(0, 0)).toBe(base)
    }
  })

  it("refuses a thread that does not exist and arguments that are no thread id or duration", () => {
    expect(thrown(() => Native.schedSlice(2 ** 30))).toMatchObject({ code: "ESRCH", syscall: "sched_getattr" })
    expect(thrown(() => Native.setSchedSlice(2 ** 30, 300_000))).toMatchObject({ code: "ESRCH", syscall: "sched_getattr" })
    expect(() => Native.setSchedSlice(-1, 300_000)).toThrow(RangeError)
    expect(() => Native.setSchedSlice(0, 0.5)).toThrow(RangeError)
    expect(() => Native.schedSlice("0" as unknown as number)).toThrow(TypeError)
  })
})

describe("stats segment over SOCK_SEQPACKET + SCM_RIGHTS", () => {
  it("hands a memfd to the client, which maps it read-only and sees the writer's changes", async () => {
    const name = `vppmaglev-test-${process.pid}-${Math.random().toString(36).slice(2)}`
    const socketPath = path.join(tmp, "stats.sock")

    // Server (simulator) side: the segment, written through a RW mapping.
    const memfd = Native.memfdCreate(name, SEGMENT_SIZE)
    expect(Native.fstatSize(memfd)).toBe(SEGMENT_SIZE)
    const rw = Native.mmap(memfd, SEGMENT_SIZE, { writable: true })
    expect(rw.byteLength).toBe(SEGMENT_SIZE)
    const writer = new Uint8Array(rw)
    for (let i = 0; i < SEGMENT_SIZE; i++) writer[i] = pattern(i)

    const listenFd = Native.seqpacketListen(socketPath)
    expect(fs.statSync(socketPath).isSocket()).toBe(true)
    expect(Native.seqpacketAccept(listenFd)).toBeNull()

    // Client connects; the server accepts and sends one message carrying the fd,
    // with an empty payload as VPP does.
    const client = Native.seqpacketConnect(socketPath)
    expect(Native.recvWithFds(client)).toBeNull()
    const conn = await pollFor(() => Native.seqpacketAccept(listenFd))
    expect(Native.sendWithFds(conn, new Uint8Array(0), [memfd])).toBe(0)
    Native.close(conn)

    const message = await pollFor(() => Native.recvWithFds(client))
    expect(message.data.length).toBe(0)
    expect(message.fds).toHaveLength(1)
    expect(message.truncated).toBe(false)
    expect(message.controlTruncated).toBe(false)
    expect(Native.isEndOfStream(message)).toBe(false)
    const segFd = message.fds[0]!
    expect(segFd).not.toBe(memfd)

    // After the fd message the server has closed: end of stream.
    const eof = await pollFor(() => Native.recvWithFds(client))
    expect(Native.isEndOfStream(eof)).toBe(true)
    Native.close(client)

    // Client (reader): map read-only, fd may be closed right away.
    const size = Native.fstatSize(segFd)
    expect(size).toBe(SEGMENT_SIZE)
    const ro = Native.mmap(segFd, size)
    Native.close(segFd)
    const reader = new Uint8Array(ro)
    let mismatches = 0
    for (let i = 0; i < SEGMENT_SIZE; i++) if (reader[i] !== pattern(i)) mismatches++
    expect(mismatches).toBe(0)

    // The mapping is shared: the writer's change shows through at once.
    writer[12345] = 0x5a
    new DataView(rw).setBigUint64(4096, 0x0123456789abcdefn, true)
    expect(reader[12345]).toBe(0x5a)
    expect(new DataView(ro).getBigUint64(4096, true)).toBe(0x0123456789abcdefn)

    // The reader's mapping is PROT_READ, MAP_SHARED; the writer's is RW shared.
    const perms = mapsPermissions(`/memfd:${name}`)
    expect(perms.filter((p) => p === "r--s")).toHaveLength(1)
    expect(perms.filter((p) => p === "rw-s")).toHaveLength(1)

    // munmap detaches the buffer and is safe to repeat.
    expect(Native.munmap(ro)).toBe(true)
    expect(ro.byteLength).toBe(0)
    expect(reader.length).toBe(0)
    expect(Native.munmap(ro)).toBe(false)
    expect(mapsPermissions(`/memfd:${name}`)).toEqual(["rw-s"])

    expect(Native.munmap(rw)).toBe(true)
    expect(Native.munmap(rw)).toBe(false)
    expect(mapsPermissions(`/memfd:${name}`)).toEqual([])

    Native.close(memfd)
    Native.close(listenFd)
  })

  it("passes a payload and several fds in one message", async () => {
    const socketPath = path.join(tmp, "multi.sock")
    const listenFd = Native.seqpacketListen(socketPath)
    const client = Native.seqpacketConnect(socketPath)
    const conn = await pollFor(() => Native.seqpacketAccept(listenFd))
    const a = Native.memfdCreate("a", 4096)
    const b = Native.memfdCreate("b", 8192)
    expect(Native.sendWithFds(conn, Buffer.from("hello"), [a, b])).toBe(5)
    const message = await pollFor(() => Native.recvWithFds(client))
    expect(message.data.toString()).toBe("hello")
    expect(message.fds.map((fd) => Native.fstatSize(fd))).toEqual([4096, 8192])
    for (const fd of [...message.fds, a, b, conn, client, listenFd]) Native.close(fd)
  })

  it("reports a truncated message and truncated fds", async () => {
    const socketPath = path.join(tmp, "trunc.sock")
    const listenFd = Native.seqpacketListen(socketPath)
    const client = Native.seqpacketConnect(socketPath)
    const conn = await pollFor(() => Native.seqpacketAccept(listenFd))
    const sent = [1, 2, 3].map((i) => Native.memfdCreate(`fd${i}`))
    Native.sendWithFds(conn, Buffer.from("0123456789"), sent)
    // Room for 1 fd is rounded up to the control buffer's alignment (2 on 64-bit).
    const message = await pollFor(() => Native.recvWithFds(client, { maxBytes: 4, maxFds: 1 }))
    expect(message.data.toString()).toBe("0123")
    expect(message.truncated).toBe(true)
    expect(message.controlTruncated).toBe(true)
    expect(message.fds.length).toBeGreaterThanOrEqual(1)
    expect(message.fds.length).toBeLessThan(3)
    for (const fd of [...message.fds, ...sent, conn, client, listenFd]) Native.close(fd)
  })

  it("fails to connect to a missing path with ENOENT", () => {
    const missing = path.join(tmp, "nope", "stats.sock")
    const e = thrown(() => Native.seqpacketConnect(missing))
    expect(e.code).toBe("ENOENT")
    expect(e.errno).toBe(-2)
    expect(e.syscall).toBe("connect")
    expect(e.path).toBe(missing)
    expect(e.message).toContain("ENOENT")
  })

  it("fails to connect with ECONNREFUSED when nobody listens", () => {
    const socketPath = path.join(tmp, "dead.sock")
    Native.close(Native.seqpacketListen(socketPath))
    expect(fs.statSync(socketPath).isSocket()).toBe(true)
    expect(thrown(() => Native.seqpacketConnect(socketPath)).code).toBe("ECONNREFUSED")
  })

  it("replaces a stale socket but never a regular file", () => {
    const socketPath = path.join(tmp, "stale.sock")
    Native.close(Native.seqpacketListen(socketPath))
    const fd = Native.seqpacketListen(socketPath)
    Native.close(Native.seqpacketConnect(socketPath))
    Native.close(fd)

    const filePath = path.join(tmp, "regular-file")
    fs.writeFileSync(filePath, "keep me")
    const e = thrown(() => Native.seqpacketListen(filePath))
    expect(e.code).toBe("EADDRINUSE")
    expect(e.syscall).toBe("bind")
    expect(fs.readFileSync(filePath, "utf8")).toBe("keep me")
  })

  it("rejects a path too long for sun_path", () => {
    const e = thrown(() => Native.seqpacketConnect(path.join(tmp, "x".repeat(200))))
    expect(e.code).toBe("ENAMETOOLONG")
  })

  it("accept with nothing pending returns null", () => {
    const listenFd = Native.seqpacketListen(path.join(tmp, "idle.sock"))
    expect(Native.seqpacketAccept(listenFd)).toBeNull()
    expect(Native.seqpacketAccept(listenFd)).toBeNull()
    Native.close(listenFd)
  })

  it("throws EBADF for a closed fd and EINVAL for an empty mapping", () => {
    const fd = Native.memfdCreate("closed")
    Native.close(fd)
    expect(thrown(() => Native.close(fd)).code).toBe("EBADF")
    expect(thrown(() => Native.fstatSize(fd)).code).toBe("EBADF")
    const empty = Native.memfdCreate("empty")
    expect(thrown(() => Native.mmap(empty, 0)).code).toBe("EINVAL")
    Native.close(empty)
  })

  it("refuses a writable mapping of a read-only fd", () => {
    const filePath = path.join(tmp, "ro-file")
    fs.writeFileSync(filePath, Buffer.alloc(4096, 1))
    const fd = fs.openSync(filePath, "r")
    expect(thrown(() => Native.mmap(fd, 4096, { writable: true })).code).toBe("EACCES")
    const ro = Native.mmap(fd, 4096)
    expect(new Uint8Array(ro)[100]).toBe(1)
    expect(Native.munmap(ro)).toBe(true)
    fs.closeSync(fd)
  })

  it("rejects bad arguments with TypeErrors", () => {
    expect(() => Native.close(-1)).toThrow(RangeError)
    expect(() => Native.munmap(new ArrayBuffer(8))).not.toThrow()
    expect(Native.munmap(new ArrayBuffer(8))).toBe(false)
    expect(() => (Native.seqpacketConnect as (p: unknown) => number)(42)).toThrow(TypeError)
  })
})

// ---------------------------------------------------------------------------
// ICMP

const checksum = (b: Uint8Array): number => {
  let sum = 0
  for (let i = 0; i < b.length; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

const echoRequest = (id: number, seq: number): Buffer => {
  const b = Buffer.alloc(16)
  b.writeUInt8(8, 0) // echo request
  b.writeUInt16BE(id, 4)
  b.writeUInt16BE(seq, 6)
  b.write("maglev!!", 8)
  b.writeUInt16BE(checksum(b), 2)
  return b
}

/** Echo replies (type 0) with our id on a raw IPv4 socket, whose reads start with the IP header. */
const awaitRawEchoReply = (fd: number, id: number) =>
  pollFor(() => {
    for (;;) {
      const d = Native.recvFrom(fd)
      if (d === null) return null
      const ihl = ((d.data[0] ?? 0) & 0x0f) * 4
      if (d.data[ihl] === 0 && d.data.readUInt16BE(ihl + 4) === id) return d
    }
  })

const hasCapNetRaw = (): boolean => {
  try {
    Native.close(Native.icmpSocket(4, { raw: true }))
    return true
  } catch {
    return false
  }
}

describe("ICMP sockets", () => {
  it.skipIf(!hasCapNetRaw())("pings 127.0.0.1 over a raw socket", async () => {
    const fd = Native.icmpSocket(4, { raw: true })
    expect(Native.recvFrom(fd)).toBeNull()
    const id = (process.pid ^ 0x5a5a) & 0xffff
    expect(Native.sendTo(fd, "127.0.0.1", echoRequest(id, 1))).toBe(16)
    const reply = await awaitRawEchoReply(fd, id)
    expect(reply.address).toBe("127.0.0.1")
    Native.close(fd)
  })

  it("makes a SOCK_DGRAM ping socket where ping_group_range allows it", () => {
    try {
      Native.close(Native.icmpSocket(4))
    } catch (e) {
      // net.ipv4.ping_group_range excludes our group (the default "1 0" excludes everyone).
      expect(Native.isNativeError(e) && e.code).toBe("EACCES")
    }
  })

  it("rejects an unparseable address", () => {
    const fd = Native.memfdCreate("not-a-socket")
    const e = thrown(() => Native.sendTo(fd, "not-an-address", Buffer.alloc(8)))
    expect(e.code).toBe("EINVAL")
    expect(e.address).toBe("not-an-address")
    Native.close(fd)
  })

  it("fails with ENOENT for a missing network namespace", () => {
    const e = thrown(() => Native.icmpSocket(4, { raw: true, netns: Native.netnsPath("vppmaglev-no-such-ns") }))
    expect(e.code).toBe("ENOENT")
    expect(e.path).toBe("/var/run/netns/vppmaglev-no-such-ns")
  })

  it.skipIf(!hasCapNetRaw())("creates the socket inside another network namespace and comes back", async () => {
    // A throwaway namespace held open by a child process: `unshare --net sleep`.
    const child = spawn("unshare", ["--net", "sleep", "30"], { stdio: "ignore" })
    const spawned = await new Promise<boolean>((resolve) => {
      child.once("spawn", () => resolve(true))
      child.once("error", () => resolve(false))
    })
    if (!spawned || child.pid === undefined) return
    try {
      const nsPath = `/proc/${child.pid}/ns/net`
      const ownNs = fs.readlinkSync("/proc/self/ns/net")
      // Wait until the child has unshared.
      const ready = await pollFor(() => {
        try {
          return fs.readlinkSync(nsPath) !== ownNs ? true : null
        } catch {
          return child.exitCode === null ? null : false
        }
      })
      if (!ready) return

      // In the new namespace even lo is down: 127.0.0.1 is unreachable.
      const inside = Native.icmpSocket(4, { raw: true, netns: nsPath })
      expect(thrown(() => Native.sendTo(inside, "127.0.0.1", echoRequest(1, 1))).code).toBe("ENETUNREACH")
      Native.close(inside)

      // The thread is back home: a socket made now reaches our own lo.
      expect(fs.readlinkSync("/proc/thread-self/ns/net")).toBe(ownNs)
      const outside = Native.icmpSocket(4, { raw: true })
      const id = (process.pid ^ 0x1234) & 0xffff
      Native.sendTo(outside, "127.0.0.1", echoRequest(id, 2))
      await awaitRawEchoReply(outside, id)
      Native.close(outside)
    } finally {
      child.kill("SIGKILL")
    }
  })
})

// ---------------------------------------------------------------------------
// TCP sockets in a namespace, bind, error queue, socket options

/** These need root (CAP_SYS_ADMIN, CAP_NET_RAW): fail loudly rather than skip; CI runs as root. */
const requireRoot = (): void => {
  if (process.getuid?.() !== 0) throw new Error("this test needs root: run the suite as root, as CI does")
}

describe("TCP sockets and socket options", () => {
  it("makes an unconnected TCP socket that node:net can adopt and connect", async () => {
    const net = await import("node:net")
    const server = net.createServer((s) => s.end("hello"))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as import("node:net").AddressInfo).port
    const fd = Native.tcpSocket(4)
    const socket = new net.Socket({ fd, manualStart: true } as import("node:net").SocketConstructorOpts)
    const data = await new Promise<string>((resolve, reject) => {
      let got = ""
      socket.on("error", reject)
      socket.on("data", (d) => (got += d))
      socket.on("end", () => resolve(got))
      socket.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.4" })
    })
    expect(data).toBe("hello")
    socket.destroy()
    server.close()
  })

  it("fails with ENOENT for a missing namespace, and makes IPv6 sockets", () => {
    const e = thrown(() => Native.tcpSocket(4, { netns: Native.netnsPath("vppmaglev-no-such-ns") }))
    expect(e.code).toBe("ENOENT")
    expect(e.path).toBe("/var/run/netns/vppmaglev-no-such-ns")
    Native.close(Native.tcpSocket(6))
    expect(() => (Native.tcpSocket as (f: number) => number)(5)).toThrow(RangeError)
  })

  it("creates the TCP socket inside another namespace, where its connect goes", async () => {
    requireRoot()
    const child = spawn("unshare", ["--net", "sleep", "30"], { stdio: "ignore" })
    await new Promise<void>((resolve) => child.once("spawn", () => resolve()))
    try {
      const nsPath = `/proc/${child.pid}/ns/net`
      const ownNs = fs.readlinkSync("/proc/self/ns/net")
      await pollFor(() => (fs.readlinkSync(nsPath) !== ownNs ? true : null))
      const net = await import("node:net")
      const server = net.createServer((s) => s.end("outside"))
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as import("node:net").AddressInfo).port
      // lo is down in the new namespace: 127.0.0.1 is unreachable from there.
      const socket = new net.Socket({
        fd: Native.tcpSocket(4, { netns: nsPath }),
        manualStart: true
      } as import("node:net").SocketConstructorOpts)
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        socket.on("error", resolve)
        socket.connect(port, "127.0.0.1")
      })
      expect(err.code).toBe("ENETUNREACH")
      socket.destroy()
      server.close()
      expect(fs.readlinkSync("/proc/thread-self/ns/net")).toBe(ownNs)
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("binds an ICMP socket's source address", async () => {
    requireRoot()
    const fd = Native.icmpSocket(4, { raw: true })
    Native.bind(fd, "127.0.0.6")
    const id = (process.pid ^ 0x6666) & 0xffff
    Native.sendTo(fd, "127.0.0.1", echoRequest(id, 9))
    const reply = await awaitRawEchoReply(fd, id)
    // The reply goes to our source address.
    expect([...reply.data.subarray(16, 20)].join(".")).toBe("127.0.0.6")
    Native.close(fd)
    const other = Native.icmpSocket(4, { raw: true })
    expect(thrown(() => Native.bind(other, "192.0.2.1")).code).toBe("EADDRNOTAVAIL")
    Native.close(other)
  })

  it("filters a raw socket's ICMP types, sizes its receive buffer, reads an empty error queue", async () => {
    requireRoot()
    const fd = Native.icmpSocket(4, { raw: true })
    // Only echo replies: the looped-back echo request (type 8) is not delivered.
    Native.setIcmpFilter(fd, 4, [0])
    expect(Native.setReceiveBuffer(fd, 1 << 20)).toBeGreaterThanOrEqual(1 << 20)
    Native.enableRecvErr(fd, 4)
    expect(Native.recvErr(fd)).toBeNull()
    const id = (process.pid ^ 0x7777) & 0xffff
    Native.sendTo(fd, "127.0.0.1", echoRequest(id, 1))
    await awaitRawEchoReply(fd, id)
    const types: Array<number> = []
    for (let d = Native.recvFrom(fd); d !== null; d = Native.recvFrom(fd)) types.push(d.data[((d.data[0] ?? 0) & 15) * 4] ?? -1)
    expect(types.filter((t) => t !== 0)).toEqual([])
    expect(() => Native.setIcmpFilter(fd, 4, [32])).toThrow(RangeError)
    Native.close(fd)
    const v6 = Native.icmpSocket(6, { raw: true })
    Native.setIcmpFilter(v6, 6, [129, 1])
    Native.enableRecvErr(v6, 6)
    Native.close(v6)
  })
})
