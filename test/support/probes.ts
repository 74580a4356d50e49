/**
 * Fixtures for the probe tests: health checks with defaults, servers that
 * count their open connections (to show probes leave none behind), network
 * namespaces and processes inside them, a CA and certificates made with
 * openssl. Everything is scoped: finalizers close servers, kill processes and
 * delete namespaces.
 */
import { Duration, Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { HealthCheck, HttpParams, TcpParams } from "../../src/config/Config.js"
import type { ProbeResult } from "../../src/health/ProbeResult.js"
import { pollDelay } from "../../src/internal/WallClock.js"
import { repoRoot } from "./paths.js"
import type { ChildSpec } from "./probeChild.js"
import { program } from "./programs.js"
import { tempDir as scopedTempDir } from "../sim/tempDir.js"

// ---------------------------------------------------------------------------
// health checks

/**
 * The probe timeout of a test that does not set one: generous, so a probe of a server in the same
 * busy process still gets its answer. A test of the timeout itself sets a short one.
 */
const DEFAULT_TIMEOUT_MS = 10_000

const base = (timeoutMs: number): Omit<HealthCheck, "type" | "port" | "http" | "tcp"> => ({
  name: "test",
  interval: Duration.seconds(5),
  fastInterval: Duration.seconds(2),
  downInterval: Duration.seconds(10),
  timeout: Duration.millis(timeoutMs),
  rise: 2,
  fall: 3,
  probeIpv4Src: undefined,
  probeIpv6Src: undefined
})

export const httpParams = (over: Partial<HttpParams> = {}): HttpParams => ({
  method: "GET",
  path: "/",
  host: undefined,
  headers: [],
  expectedCodes: [{ from: 200, to: 399 }],
  responseRegex: undefined,
  serverName: undefined,
  insecure: false,
  caFile: undefined,
  ...over
})

export const tcpParams = (over: Partial<TcpParams> = {}): TcpParams => ({
  send: undefined,
  expect: undefined,
  tls: false,
  serverName: undefined,
  insecure: false,
  ...over
})

export interface CheckOptions {
  readonly timeoutMs?: number
  readonly probeIpv4Src?: string
  readonly probeIpv6Src?: string
}

const sources = (o: CheckOptions) => ({
  probeIpv4Src: o.probeIpv4Src,
  probeIpv6Src: o.probeIpv6Src
})

export const httpCheck = (
  port: number,
  over: Partial<HttpParams> = {},
  o: CheckOptions & { readonly https?: boolean } = {}
): HealthCheck => ({
  ...base(o.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  ...sources(o),
  type: o.https === true ? "https" : "http",
  port,
  http: httpParams(over),
  tcp: undefined
})

export const tcpCheck = (port: number, over: Partial<TcpParams> = {}, o: CheckOptions = {}): HealthCheck => ({
  ...base(o.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  ...sources(o),
  type: "tcp",
  port,
  http: undefined,
  tcp: tcpParams(over)
})

export const icmpCheck = (o: CheckOptions = {}): HealthCheck => ({
  ...base(o.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  ...sources(o),
  type: "icmp",
  port: undefined,
  http: undefined,
  tcp: undefined
})

// ---------------------------------------------------------------------------
// root

/** Fails the test (never skips it) when not root: CI runs as root, and these tests need it. */
export const requireRoot: Effect.Effect<void> = Effect.sync(() => {
  if (process.getuid?.() !== 0) {
    throw new Error("this test needs root (network namespaces, raw sockets): run the suite as root, as CI does")
  }
})

// ---------------------------------------------------------------------------
// servers

export interface Server {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** Connections still open on the server's side. */
  readonly open: () => number
  /** Waits (real time, at most `ms`: 30 s by default) until the server has no open connection; returns how many are still open. */
  readonly awaitIdle: (ms?: number) => Effect.Effect<number>
}

/**
 * How late a timer may fire, or an answer come, on a busy machine (2 cores at load 20): the margin
 * of a "fired at its time" bound. Such a bound only tells a timeout that fired from one that never
 * did (the kernel's minutes, the next probe's seconds), so it can be generous.
 */
export const GRACE_MS = 3_000

/**
 * Polls `f` on a real timer until it is true or `ms` passed; returns its last value. The bound only
 * says what never came: it returns as soon as `f` holds, so it is long enough for a busy machine.
 */
export const eventually = (f: () => boolean, ms = 30_000): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const deadline = performance.now() + ms
    while (!f()) {
      if (performance.now() > deadline) return false
      yield* pollDelay(5)
    }
    return true
  })

/** Starts `server` on an ephemeral port of `host`, tracking its connections; closed with the scope. */
export const listen = (server: net.Server, host = "127.0.0.1"): Effect.Effect<Server, never, Scope.Scope> => {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  server.on("connection", (s: net.Socket) => {
    accepted++
    sockets.add(s)
    s.on("error", () => {})
    s.on("close", () => sockets.delete(s))
  })
  // TLS servers: a failed handshake is the client's doing, not the test's.
  server.on("tlsClientError", () => {})
  return Effect.acquireRelease(
    Effect.async<Server>((resume) => {
      server.listen(0, host, () => {
        const port = (server.address() as net.AddressInfo).port
        resume(
          Effect.succeed({
            port,
            accepted: () => accepted,
            open: () => sockets.size,
            awaitIdle: (ms = 30_000) => Effect.map(eventually(() => sockets.size === 0, ms), () => sockets.size)
          })
        )
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const s of sockets) s.destroy()
      })
  )
}

/**
 * A TCP server calling `onConnection` for each connection. It reads (and
 * drops, unless the handler listens) whatever comes, so it sees the client's
 * FIN: a server that never reads never learns the client went away.
 */
export const tcpServer = (
  onConnection: (socket: net.Socket) => void,
  host = "127.0.0.1"
): Effect.Effect<Server, never, Scope.Scope> =>
  listen(
    net.createServer((socket) => {
      socket.resume()
      onConnection(socket)
    }),
    host
  )

/** A port on `host` that nobody listens on (bound, then released). */
export const closedPort = (host = "127.0.0.1"): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const s = net.createServer()
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resume(Effect.succeed(port)))
    })
  })

// ---------------------------------------------------------------------------
// processes and namespaces

export const run = (file: string, args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    execFile(file, [...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) resume(Effect.die(new Error(`${file} ${args.join(" ")}: ${error.message}\n${stderr}`)))
      else resume(Effect.succeed(stdout))
    })
  })

export const ip = (...args: ReadonlyArray<string>): Effect.Effect<string> => run("ip", args)

/** A fresh network namespace `vmtest-<random>` with lo up; deleted with the scope. */
export const netns = (): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      yield* requireRoot
      const name = `vmtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
      yield* ip("netns", "add", name)
      yield* ip("-n", name, "link", "set", "lo", "up")
      return name
    }),
    (name) => Effect.orDie(Effect.ignore(ip("netns", "del", name)))
  )

/** Writes a sysctl inside a namespace. */
export const sysctlIn = (ns: string, key: string, value: string): Effect.Effect<string> =>
  ip("netns", "exec", ns, "sysctl", "-q", "-w", `${key}=${value}`)

export interface Child {
  readonly process: ChildProcess
  /** Everything the child wrote to stdout so far. */
  readonly output: () => string
}

/**
 * Runs `command` and waits until it prints a line containing "ready"; killed
 * (and awaited) with the scope.
 */
export const spawnReady = (
  command: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Child>((resume) => {
      const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env })
      let out = ""
      let err = ""
      let ready = false
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString()
        if (!ready && out.includes("ready")) {
          ready = true
          resume(Effect.succeed({ process: child, output: () => out }))
        }
      })
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()))
      child.on("exit", (code) => {
        if (!ready) resume(Effect.die(new Error(`${command} exited (${code}) before ready: ${out}${err}`)))
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return resume(Effect.void)
        child.process.once("exit", () => resume(Effect.void))
        child.process.kill("SIGKILL")
      })
  )

/** Runs a Node script (`node -e`) inside a namespace; it must print "ready" once listening. */
export const nodeIn = (ns: string, script: string): Effect.Effect<Child, never, Scope.Scope> =>
  spawnReady("ip", ["netns", "exec", ns, process.execPath, "-e", script])

// ---------------------------------------------------------------------------
// files and certificates

/** A temporary directory removed with the scope (the one helper, test/sim/tempDir.ts). */
export const tempDir = (): Effect.Effect<string, never, Scope.Scope> => scopedTempDir("vmtest-probes-")

export interface Certificates {
  readonly dir: string
  /** The test CA (PEM file). */
  readonly caFile: string
  readonly ca: Buffer
  /** Server certificate for DNS:backend.test, IP:127.0.0.1, IP:::1, signed by the CA. */
  readonly cert: Buffer
  readonly key: Buffer
  /** The same names, expired. */
  readonly expiredCert: Buffer
}

const openssl = (cwd: string, ...args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    execFile("openssl", [...args], { cwd, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) resume(Effect.die(new Error(`openssl ${args.join(" ")}: ${stderr}`)))
      else resume(Effect.succeed(stdout))
    })
  })

/** A self-signed CA and server certificates signed by it, made with openssl in a temporary directory. */
export const certificates = (): Effect.Effect<Certificates, never, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir()
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    yield* openssl(dir, "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=vmtest CA")
    yield* openssl(dir, "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=backend.test")
    fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=DNS:backend.test,IP:127.0.0.1,IP:::1\n")
    const sign = (out: string, days: string) =>
      openssl(dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", out, "-days", days, "-extfile", "san.ext")
    yield* sign("server.pem", "30")
    // -days -1: notAfter a day before now (and before notBefore): expired.
    yield* sign("expired.pem", "-1")
    const read = (f: string) => fs.readFileSync(path.join(dir, f))
    return {
      dir,
      caFile: path.join(dir, "ca.pem"),
      ca: read("ca.pem"),
      cert: read("server.pem"),
      key: read("server.key"),
      expiredCert: read("expired.pem")
    }
  })

// ---------------------------------------------------------------------------
// topologies

/**
 * A namespace where `address` (10.254.0.2) is a black hole: packets to it
 * leave through a veth (its MAC is a permanent neighbour entry, so no ARP) and
 * the other end, in the same namespace and not forwarding, drops them. A TCP
 * connect there hangs until the kernel gives up (minutes); a ping gets no
 * answer and no error.
 */
export const blackholeNetns = (): Effect.Effect<{ readonly ns: string; readonly address: string }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ns = yield* netns()
    yield* ip("-n", ns, "link", "add", "bh0", "type", "veth", "peer", "name", "bh1")
    yield* ip("-n", ns, "addr", "add", "10.254.0.1/24", "dev", "bh0")
    yield* ip("-n", ns, "link", "set", "bh0", "up")
    yield* ip("-n", ns, "link", "set", "bh1", "up")
    yield* ip("-n", ns, "neigh", "add", "10.254.0.2", "lladdr", "02:00:00:00:fe:02", "dev", "bh0", "nud", "permanent")
    return { ns, address: "10.254.0.2" }
  })

/** Waits until a link is up with carrier. */
export const awaitLinkUp = (ns: string, dev: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < 400; i++) {
      const line = yield* ip("-n", ns, "-o", "link", "show", "dev", dev)
      if (line.includes("state UP") && !line.includes("NO-CARRIER")) return
      yield* pollDelay(5)
    }
    return yield* Effect.die(new Error(`${dev} in ${ns} did not come up`))
  })

export interface Routed {
  /** Where the probes come from. */
  readonly ns: string
  /** The router's namespace. */
  readonly router: string
  /** The router's addresses, on the link to `ns` (they answer pings). */
  readonly router4: string
  readonly router6: string
  /** Addresses the router has unreachable routes for: it answers with ICMP destination unreachable. */
  readonly unreachable4: string
  readonly unreachable6: string
}

/**
 * Two namespaces joined by a veth: the probing one routes 10.252.0.0/16 and
 * fd00:252::/64 via the other, a router with `unreachable` routes for both,
 * which answers with ICMP (host / address) unreachable. The kernel limits
 * the IPv4 errors of unreachable routes per source (net.ipv4.route.error_cost,
 * error_burst: global, not per namespace): five at once, then one a second -
 * a test may count on five.
 */
export const routedNetns = (): Effect.Effect<Routed, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ns = yield* netns()
    const router = yield* netns()
    yield* ip("-n", ns, "link", "add", "rt0", "type", "veth", "peer", "name", "rt1", "netns", router)
    yield* ip("-n", ns, "addr", "add", "10.253.0.1/24", "dev", "rt0")
    yield* ip("-n", ns, "-6", "addr", "add", "fd00:253::1/64", "dev", "rt0", "nodad")
    yield* ip("-n", router, "addr", "add", "10.253.0.2/24", "dev", "rt1")
    yield* ip("-n", router, "-6", "addr", "add", "fd00:253::2/64", "dev", "rt1", "nodad")
    yield* ip("-n", ns, "link", "set", "rt0", "up")
    yield* ip("-n", router, "link", "set", "rt1", "up")
    yield* sysctlIn(router, "net.ipv4.ip_forward", "1")
    yield* sysctlIn(router, "net.ipv6.conf.all.forwarding", "1")
    // ICMP errors are rate-limited per destination (1/s after a small burst): not for tests.
    yield* sysctlIn(router, "net.ipv4.icmp_ratelimit", "0")
    yield* sysctlIn(router, "net.ipv6.icmp.ratelimit", "0")
    yield* ip("-n", router, "route", "add", "unreachable", "10.252.0.0/16")
    yield* ip("-n", router, "-6", "route", "add", "unreachable", "fd00:252::/64")
    // Until the veth has carrier, the first ARP / neighbour solicitation is lost and the next comes a second later.
    yield* awaitLinkUp(ns, "rt0")
    yield* awaitLinkUp(router, "rt1")
    yield* ip("-n", ns, "route", "add", "10.252.0.0/16", "via", "10.253.0.2")
    yield* ip("-n", ns, "-6", "route", "add", "fd00:252::/64", "via", "fd00:253::2")
    return {
      ns,
      router,
      router4: "10.253.0.2",
      router6: "fd00:253::2",
      unreachable4: "10.252.0.9",
      unreachable6: "fd00:252::9"
    }
  })

// ---------------------------------------------------------------------------
// a probe in another process

/**
 * Runs one probe in a child process started by `prefix` (e.g. `ip netns exec
 * NS`, `setpriv --bounding-set -net_raw`) and returns its result.
 */
export const probeInChild = (
  prefix: ReadonlyArray<string>,
  spec: ChildSpec
): Effect.Effect<ProbeResult> =>
  Effect.async((resume) => {
    const [command, ...args] = [...prefix, process.execPath, ...program("probe-child"), JSON.stringify(spec)]
    execFile(command!, args, { encoding: "utf8", cwd: repoRoot }, (error, stdout, stderr) => {
      if (error) resume(Effect.die(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`)))
      else resume(Effect.succeed(JSON.parse(stdout.trim().split("\n").pop() ?? "null")))
    })
  })
