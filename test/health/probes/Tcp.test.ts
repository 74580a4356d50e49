import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as tls from "node:tls"
import type { TcpParams } from "../../../src/config/Config.js"
import { runProbe } from "../../../src/health/probes/Probe.js"
import {
  blackholeNetns,
  certificates,
  type CheckOptions,
  closedPort,
  eventually,
  GRACE_MS,
  listen,
  tcpCheck,
  tcpServer
} from "../../support/probes.js"

const probe = (port: number, over: Partial<TcpParams> = {}, o: CheckOptions = {}, address = "127.0.0.1", netns = "") =>
  runProbe({ address, healthcheck: tcpCheck(port, over, o), netns })

/** A line server: answers each line it reads with `answer(line)`; records what it read. */
const lineServer = (answer: (line: string) => string | undefined) =>
  Effect.gen(function* () {
    const received: Array<string> = []
    const server = yield* tcpServer((socket) => {
      let buf = ""
      socket.on("data", (d: Buffer) => {
        buf += d.toString()
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          received.push(line)
          const reply = answer(line)
          if (reply !== undefined) socket.write(reply)
        }
      })
    })
    return { ...server, received }
  })

describe("TCP probe", () => {
  it.scoped("passes with L4OK once connected, and hangs up", () =>
    Effect.gen(function* () {
      const server = yield* tcpServer(() => {})
      const result = yield* probe(server.port)
      expect(result).toMatchObject({ ok: true, code: "L4OK", detail: "connected" })
      expect(server.accepted()).toBe(1)
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.live("fails with L4CON on a refused connection", () =>
    Effect.gen(function* () {
      const port = yield* closedPort()
      const result = yield* probe(port)
      expect(result).toMatchObject({ ok: false, code: "L4CON", detail: `connect ECONNREFUSED 127.0.0.1:${port}` })
    })
  )

  it.scoped("sends, then passes with L7OK when the answer matches expect", () =>
    Effect.gen(function* () {
      const server = yield* lineServer((line) => (line === "PING\r" ? "+PONG\r\n" : "-ERR\r\n"))
      const result = yield* probe(server.port, { send: "PING\r\n", expect: "^\\+PONG" })
      expect(result).toMatchObject({ ok: true, code: "L7OK", detail: "response matches /^\\+PONG/" })
      expect(server.received).toEqual(["PING\r"])
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.scoped("fails with L7RSP when the peer closes without a match", () =>
    Effect.gen(function* () {
      const server = yield* tcpServer((socket) => socket.end("220 wrong banner\r\n"))
      const result = yield* probe(server.port, { expect: "^\\+PONG" })
      expect(result.code).toBe("L7RSP")
      expect(result.detail).toBe("response does not match /^\\+PONG/ (18 bytes)")
    })
  )

  it.scoped("fails with L7TOUT when what came does not match (yet) at the timeout", () =>
    Effect.gen(function* () {
      const server = yield* tcpServer((socket) => socket.write("-LOADING\r\n"))
      const result = yield* probe(server.port, { expect: "PONG" }, { timeoutMs: 300 })
      expect(result).toMatchObject({
        code: "L7TOUT",
        detail: "10 bytes received, no match for /PONG/ within 300 ms"
      })
      const silent = yield* tcpServer(() => {})
      const nothing = yield* probe(silent.port, { send: "PING\r\n", expect: "PONG" }, { timeoutMs: 300 })
      expect(nothing).toMatchObject({ code: "L7TOUT", detail: "no data within 300 ms" })
      expect(nothing.durationMs).toBeGreaterThanOrEqual(299)
      expect(nothing.durationMs).toBeLessThan(300 + GRACE_MS)
      expect(yield* server.awaitIdle()).toBe(0)
      expect(yield* silent.awaitIdle()).toBe(0)
    })
  )

  it.scoped("matches an answer trickled byte by byte", () =>
    Effect.gen(function* () {
      const server = yield* tcpServer((socket) => {
        const text = "x".repeat(5000) + "READY"
        let i = 0
        const timer = setInterval(() => {
          if (!socket.destroyed && i < text.length) socket.write(text.slice(i, (i += 250)))
        }, 1)
        socket.on("close", () => clearInterval(timer))
      })
      const result = yield* probe(server.port, { expect: "READY" })
      expect(result.code).toBe("L7OK")
    })
  )

  it.scoped("gives up with L7RSP after 64 KiB without a match", () =>
    Effect.gen(function* () {
      let closed = false
      const server = yield* tcpServer((socket) => {
        const junk = Buffer.alloc(1024 * 1024, "z")
        socket.write(junk)
        socket.on("close", () => (closed = true))
      })
      // L7RSP, not L7TOUT: decided at 64 KiB, not at the timeout.
      const result = yield* probe(server.port, { expect: "never" }, { timeoutMs: 30_000 })
      expect(result).toMatchObject({ code: "L7RSP", detail: "no match for /never/ in the first 64 KiB" })
      expect(yield* eventually(() => closed)).toBe(true)
    })
  )

  it.scoped("talks TLS: L6OK after the handshake, L7OK on expect, L6RSP on an untrusted certificate", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const names: Array<string> = []
      const server = yield* listen(
        tls.createServer(
          {
            cert: certs.cert,
            key: certs.key,
            SNICallback: (name, cb) => {
              names.push(name)
              cb(null, undefined)
            }
          },
          (socket) => {
            socket.on("error", () => {})
            socket.write("* OK IMAP ready\r\n")
          }
        )
      )
      const handshake = yield* probe(server.port, { tls: true, insecure: true })
      expect(handshake.code).toBe("L6OK")
      expect(handshake.detail).toMatch(/^TLS handshake done \(TLSv1\.[23]\)$/)
      const banner = yield* probe(server.port, { tls: true, insecure: true, serverName: "backend.test", expect: "^\\* OK" })
      expect(banner.code).toBe("L7OK")
      expect(names).toEqual(["backend.test"])
      // The system CAs do not know the test CA.
      const untrusted = yield* probe(server.port, { tls: true, serverName: "backend.test" })
      expect(untrusted.code).toBe("L6RSP")
      expect(untrusted.detail).toContain("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.scoped("comes from probe-ipv4-src", () =>
    Effect.gen(function* () {
      const peers: Array<string | undefined> = []
      const server = yield* tcpServer((socket) => peers.push(socket.remoteAddress))
      const result = yield* probe(server.port, {}, { probeIpv4Src: "127.0.0.3" })
      expect(result.code).toBe("L4OK")
      expect(peers).toEqual(["127.0.0.3"])
    })
  )

  it.scoped("comes from probe-ipv6-src for an IPv6 backend", () =>
    Effect.gen(function* () {
      const peers: Array<string | undefined> = []
      const server = yield* tcpServer((socket) => peers.push(socket.remoteAddress), "::1")
      const result = yield* probe(server.port, {}, { probeIpv6Src: "::1", probeIpv4Src: "192.0.2.1" }, "::1")
      expect(result.code).toBe("L4OK")
      expect(peers).toEqual(["::1"])
    })
  )

  it.scoped("times out with L4TOUT connecting to a black hole", () =>
    Effect.gen(function* () {
      const { ns, address } = yield* blackholeNetns()
      const result = yield* probe(80, {}, { timeoutMs: 300 }, address, ns)
      expect(result).toMatchObject({ code: "L4TOUT", detail: "connect to 10.254.0.2:80 timed out after 300 ms" })
      expect(result.durationMs).toBeGreaterThanOrEqual(299)
      expect(result.durationMs).toBeLessThan(300 + GRACE_MS)
    })
  )
})
