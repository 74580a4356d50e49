/**
 * maglevt against an HTTPS VIP (a frontend whose backend has an https
 * check) with a certificate from a test CA: refused as TLS errors when the
 * CA is not trusted, answered with --insecure, and verified against the
 * --host name when the CA is trusted (NODE_EXTRA_CA_CERTS).
 */
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, it } from "vitest"
import { type Certificates, certificates } from "../support/probes.js"
import { line, type Run, run } from "./lab.js"

const VIP = "127.0.77.50"

let scope: Scope.CloseableScope
let certs: Certificates
let server: https.Server
let configFile: string
const runs: Array<Run> = []

describe("maglevt over HTTPS", () => {
  beforeAll(async () => {
    scope = await Effect.runPromise(Scope.make())
    certs = await Effect.runPromise(Scope.extend(certificates(), scope))
    server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      res.setHeader("X-Served-By", `tls1 ${req.headers.host}`)
      res.end("ok\n")
    })
    await new Promise<void>((r) => server.listen(0, VIP, () => r()))
    const port = (server.address() as AddressInfo).port
    configFile = path.join(certs.dir, "maglev.yaml")
    fs.writeFileSync(configFile, `maglev:
  vpp:
    lb: {ipv4-src-address: 192.0.2.1}
  healthchecks:
    tls-check: {type: https, port: 443}
  backends:
    tls1: {address: ${VIP}, healthcheck: tls-check}
  frontends:
    secure: {address: ${VIP}, protocol: tcp, port: ${port}, pools: [{name: p, backends: {tls1: {}}}]}
`)
  })
  afterAll(async () => {
    for (const r of runs) r.child.kill("SIGKILL")
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("an untrusted certificate is a TLS error; --insecure gets the answer", async () => {
    const strict = run(["--config", configFile, "--interval", "50ms"])
    runs.push(strict)
    await line(strict, /^\S+ secure error network tls: /)
    await line(strict, /^\S+ secure report \S+ https n=\d+ fail=\d+ ok=0\.00% .* last=tls errors=network:\d+$/)
    const insecure = run(["--config", configFile, "--interval", "50ms", "--insecure", "--header", "x-served-by"])
    runs.push(insecure)
    await line(insecure, /^\S+ secure report \S+ https n=\d+ fail=0 ok=100\.00% .* last=200\/tls1 127\.0\.77\.50:\d+ serving=tls1 127\.0\.77\.50:\d+:\d+/)
    strict.child.kill("SIGTERM")
    insecure.child.kill("SIGTERM")
    await Promise.all([strict.exit, insecure.exit])
  }, 300_000)

  it("with the CA trusted, the certificate is checked against --host, which is also the Host header", async () => {
    const r = run(["--config", configFile, "--interval", "50ms", "--host", "backend.test"], { NODE_EXTRA_CA_CERTS: certs.caFile })
    runs.push(r)
    await line(r, /^\S+ secure report \S+ https n=\d+ fail=0 ok=100\.00% .* last=200\/tls1 backend\.test serving=tls1 backend\.test:\d+/)
    const wrong = run(["--config", configFile, "--interval", "50ms", "--host", "other.test"], { NODE_EXTRA_CA_CERTS: certs.caFile })
    runs.push(wrong)
    await line(wrong, /^\S+ secure error network tls: Hostname\/IP does not match certificate's altnames/)
    r.child.kill("SIGTERM")
    wrong.child.kill("SIGTERM")
    await Promise.all([r.exit, wrong.exit])
  }, 300_000)
})
