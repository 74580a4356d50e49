import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import * as path from "node:path"
import { runProbe } from "../../../src/health/probes/Probe.js"
import type { HealthCheck } from "../../../src/config/Config.js"
import {
  certificates,
  httpCheck,
  icmpCheck,
  ip,
  listen,
  netns,
  nodeIn,
  probeInChild,
  requireRoot,
  tcpCheck
} from "../../support/probes.js"

/** An HTTP server (node -e) inside `ns` on 127.0.0.1:`port`, answering "inside <peer address>". */
const httpServerIn = (ns: string, port: number, host = "127.0.0.1") =>
  nodeIn(
    ns,
    `require("http").createServer((q, r) => r.end("inside " + q.socket.remoteAddress))` +
      `.listen(${port}, ${JSON.stringify(host)}, () => console.log("ready"))`
  )

const probe = (address: string, healthcheck: HealthCheck, ns: string) => runProbe({ address, healthcheck, netns: ns })

describe("probes from a network namespace", () => {
  it.scoped("HTTP: the namespace's server answers inside, another one outside", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      // Outside, on the same port, a server that is down.
      const outside = yield* listen(
        http.createServer((_, res) => {
          res.statusCode = 503
          res.end("outside")
        })
      )
      yield* httpServerIn(ns, outside.port)
      const check = httpCheck(outside.port, { responseRegex: "^inside 127\\.0\\.0\\.1$" })
      expect(yield* probe("127.0.0.1", check, ns)).toMatchObject({ ok: true, code: "L7OK" })
      expect(yield* probe("127.0.0.1", check, "")).toMatchObject({
        ok: false,
        code: "L7STS",
        detail: "HTTP 503 Service Unavailable"
      })
      // The source address is one of the namespace's, too.
      const fromSrc = httpCheck(outside.port, { responseRegex: "^inside 127\\.0\\.0\\.9$" }, { probeIpv4Src: "127.0.0.9" })
      expect((yield* probe("127.0.0.1", fromSrc, ns)).code).toBe("L7OK")
    })
  )

  it.scoped("HTTP over IPv6 inside the namespace", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      yield* httpServerIn(ns, 8080, "::1")
      const result = yield* probe("::1", httpCheck(8080, { responseRegex: "^inside ::1$" }), ns)
      expect(result.code).toBe("L7OK")
    })
  )

  it.scoped("HTTPS with SNI and a CA file inside the namespace", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      const certs = yield* certificates()
      const server = yield* nodeIn(
        ns,
        `const fs = require("fs"), dir = ${JSON.stringify(certs.dir)};` +
          `require("https").createServer({ cert: fs.readFileSync(dir + "/server.pem"), key: fs.readFileSync(dir + "/server.key"),` +
          `  SNICallback: (name, cb) => { console.log("sni " + name); cb(null, undefined) } },` +
          `  (q, r) => r.end("tls inside")).listen(8443, "127.0.0.1", () => console.log("ready"))`
      )
      const check = httpCheck(8443, { host: "backend.test", caFile: path.join(certs.dir, "ca.pem"), responseRegex: "tls inside" }, { https: true })
      expect(yield* probe("127.0.0.1", check, ns)).toMatchObject({ code: "L7OK", detail: "HTTP 200 OK" })
      expect(server.output()).toContain("sni backend.test")
      // Nobody listens on 8443 in our own namespace.
      expect((yield* probe("127.0.0.1", check, "")).code).toBe("L4CON")
    })
  )

  it.scoped("TCP send/expect inside the namespace", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      yield* nodeIn(
        ns,
        `require("net").createServer((s) => s.on("data", (d) => s.write(String(d).trim() === "PING" ? "+PONG\\r\\n" : "-ERR\\r\\n")))` +
          `.listen(6379, "127.0.0.1", () => console.log("ready"))`
      )
      const check = tcpCheck(6379, { send: "PING\r\n", expect: "^\\+PONG" })
      expect(yield* probe("127.0.0.1", check, ns)).toMatchObject({ code: "L7OK" })
      expect((yield* probe("127.0.0.1", tcpCheck(6379), ns)).code).toBe("L4OK")
    })
  )

  it.scoped("ICMP: an address only the namespace has answers inside only", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      yield* ip("-n", ns, "addr", "add", "10.123.45.67/32", "dev", "lo")
      expect(yield* probe("10.123.45.67", icmpCheck(), ns)).toMatchObject({
        code: "L3OK",
        detail: "echo reply from 10.123.45.67"
      })
      const outside = yield* probe("10.123.45.67", icmpCheck({ timeoutMs: 300 }), "")
      expect(outside.ok).toBe(false)
    })
  )

  it.live("fails with L4CON naming a namespace that does not exist, for every kind", () =>
    Effect.gen(function* () {
      yield* requireRoot
      const ns = "vmtest-missing"
      const detail = `enter netns "${ns}": no such file or directory`
      for (const check of [httpCheck(80), httpCheck(443, {}, { https: true }), tcpCheck(80), icmpCheck()]) {
        expect(yield* probe("127.0.0.1", check, ns)).toMatchObject({ ok: false, code: "L4CON", detail })
      }
    })
  )

  it.scoped("fails with L4CON when not allowed to enter the namespace (no CAP_SYS_ADMIN)", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      const prefix = ["setpriv", "--bounding-set", "-sys_admin", "--"]
      const tcp = yield* probeInChild(prefix, { type: "tcp", address: "127.0.0.1", port: 80, netns: ns })
      expect(tcp).toMatchObject({ code: "L4CON", detail: `enter netns "${ns}": operation not permitted` })
      const icmp = yield* probeInChild(prefix, { type: "icmp", address: "127.0.0.1", netns: ns })
      expect(icmp).toMatchObject({ code: "L4CON", detail: `enter netns "${ns}": operation not permitted` })
    })
  )
})
