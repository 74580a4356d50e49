import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import * as path from "node:path"
import type { HttpParams } from "../../../src/config/Config.js"
import { runProbe } from "../../../src/health/probes/Probe.js"
import { type Certificates, certificates, GRACE_MS, httpCheck, listen, tcpServer } from "../../support/probes.js"

/** An HTTPS server with the test certificate, recording the SNI names clients send (in their hello). */
const httpsServer = (certs: Certificates, options: { expired?: boolean; host?: string } = {}) =>
  Effect.gen(function* () {
    const servernames: Array<string> = []
    const server = https.createServer(
      {
        cert: options.expired === true ? certs.expiredCert : certs.cert,
        key: certs.key,
        SNICallback: (name, cb) => {
          servernames.push(name)
          cb(null, undefined)
        }
      },
      (req, res) => {
        res.statusCode = req.url === "/down" ? 503 : 200
        res.end("ok")
      }
    )
    const s = yield* listen(server, options.host ?? "127.0.0.1")
    return { ...s, servernames }
  })

const probe = (port: number, over: Partial<HttpParams> = {}, address = "127.0.0.1", timeoutMs = 10_000) =>
  runProbe({ address, healthcheck: httpCheck(port, over, { https: true, timeoutMs }), netns: "" })

describe("HTTPS probe", () => {
  it.scoped("verifies the certificate: fails without the CA, passes with ca-file, passes insecure", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs)
      const untrusted = yield* probe(server.port)
      expect(untrusted.code).toBe("L6RSP")
      expect(untrusted.detail).toBe("unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)")
      const trusted = yield* probe(server.port, { caFile: certs.caFile })
      expect(trusted).toMatchObject({ ok: true, code: "L7OK", detail: "HTTP 200 OK" })
      const insecure = yield* probe(server.port, { insecure: true })
      expect(insecure.code).toBe("L7OK")
      // The address is the identity (IP:127.0.0.1 in the certificate); no SNI for an address.
      expect(server.accepted()).toBe(3)
      expect(server.servernames).toEqual([])
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.scoped("sends the Host header's name as SNI and checks the certificate against it", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs)
      const byHost = yield* probe(server.port, { host: "backend.test", caFile: certs.caFile })
      expect(byHost.code).toBe("L7OK")
      const withPort = yield* probe(server.port, { host: "backend.test:8443", caFile: certs.caFile })
      expect(withPort.code).toBe("L7OK")
      const byName = yield* probe(server.port, { host: "www.example", serverName: "backend.test", caFile: certs.caFile })
      expect(byName.code).toBe("L7OK")
      expect(server.servernames).toEqual(["backend.test", "backend.test", "backend.test"])
    })
  )

  it.scoped("fails with L6RSP on a hostname mismatch, unless insecure", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs)
      const mismatch = yield* probe(server.port, { serverName: "other.test", caFile: certs.caFile })
      expect(mismatch.code).toBe("L6RSP")
      expect(mismatch.detail).toContain("ERR_TLS_CERT_ALTNAME_INVALID")
      expect(mismatch.detail).toContain("other.test")
      expect(server.servernames).toEqual(["other.test"])
      const insecure = yield* probe(server.port, { serverName: "other.test", insecure: true })
      expect(insecure.code).toBe("L7OK")
    })
  )

  it.scoped("fails with L6RSP on an expired certificate", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs, { expired: true })
      const result = yield* probe(server.port, { caFile: certs.caFile })
      expect(result).toMatchObject({ code: "L6RSP", detail: "certificate has expired (CERT_HAS_EXPIRED)" })
    })
  )

  it.scoped("checks an IPv6 backend against its address", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs, { host: "::1" })
      const result = yield* probe(server.port, { caFile: certs.caFile }, "::1")
      expect(result.code).toBe("L7OK")
    })
  )

  it.scoped("reports the status over TLS", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const server = yield* httpsServer(certs)
      const result = yield* probe(server.port, { path: "/down", caFile: certs.caFile })
      expect(result).toMatchObject({ code: "L7STS", detail: "HTTP 503 Service Unavailable" })
    })
  )

  it.scoped("fails with L6RSP against a plain HTTP server", () =>
    Effect.gen(function* () {
      const server = yield* listen(http.createServer((_, res) => res.end("ok")))
      const result = yield* probe(server.port, { insecure: true })
      expect(result.code).toBe("L6RSP")
      expect(result.detail).toMatch(/wrong version number|packet length too long|ECONNRESET/)
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.scoped("times out with L6TOUT when the server never answers the handshake", () =>
    Effect.gen(function* () {
      const server = yield* tcpServer(() => {})
      const result = yield* probe(server.port, { insecure: true }, "127.0.0.1", 300)
      expect(result).toMatchObject({ code: "L6TOUT", detail: "TLS handshake timed out after 300 ms" })
      expect(result.durationMs).toBeLessThan(300 + GRACE_MS)
      expect(yield* server.awaitIdle()).toBe(0)
    })
  )

  it.scoped("fails with L6RSP naming a ca-file it cannot read", () =>
    Effect.gen(function* () {
      const certs = yield* certificates()
      const missing = path.join(certs.dir, "missing.pem")
      const result = yield* probe(1, { caFile: missing })
      expect(result.code).toBe("L6RSP")
      expect(result.detail).toContain(`ca-file ${missing}: ENOENT`)
    })
  )
})
