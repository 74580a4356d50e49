/** Which frontends maglevt probes, and how, from real maglev.yaml text through the project's checker. */
import { describe, expect, it } from "vitest"
import { checkConfigText } from "../../src/config/index.js"
import { targets } from "../../src/maglevt/Targets.js"

const load = (frontends: string, file = "a.yaml") => {
  const text = `maglev:
  vpp:
    lb: {ipv4-src-address: 192.0.2.1, ipv6-src-address: "2001:db8::1"}
  healthchecks:
    web-check: {type: http, port: 8080}
    tls-check: {type: https, port: 8443}
    tcp-check: {type: tcp, port: 5432}
  backends:
    web: {address: 127.0.0.1, healthcheck: web-check}
    tls: {address: 127.0.0.2, healthcheck: tls-check}
    db: {address: 127.0.0.3, healthcheck: tcp-check}
    db6: {address: "::1", healthcheck: tcp-check}
  frontends:
${frontends}`
  const result = checkConfigText(text, { checkReadable: () => undefined })
  if (result._tag !== "Valid") throw new Error(JSON.stringify(result))
  return { file, config: result.config }
}

const fe = (name: string, address: string, port: number, backend: string, protocol = "tcp") =>
  `    ${name}: {address: "${address}", protocol: ${protocol}, port: ${port}, pools: [{name: p, backends: {${backend}: {}}}]}\n`

describe("maglevt targets", () => {
  it("HTTP(S) when the backends' checks are, else by port 80/443, else TCP", () => {
    const c = load(
      fe("web", "192.0.2.10", 8080, "web") + fe("tls", "192.0.2.11", 8443, "tls") + fe("db", "192.0.2.12", 5432, "db") +
        fe("plain80", "192.0.2.13", 80, "db") + fe("plain443", "192.0.2.14", 443, "db") + fe("v6", "2001:db8::10", 5432, "db6")
    )
    expect(targets([c], undefined).targets.map((t) => [t.name, t.endpoint, t.kind])).toEqual([
      ["web", "192.0.2.10:8080", "http"],
      ["tls", "192.0.2.11:8443", "https"],
      ["db", "192.0.2.12:5432", "tcp"],
      ["plain80", "192.0.2.13:80", "http"],
      ["plain443", "192.0.2.14:443", "https"],
      ["v6", "[2001:db8::10]:5432", "tcp"]
    ])
  })

  it("leaves out what one TCP connection cannot reach, saying why", () => {
    const c = load(
      fe("dns", "192.0.2.10", 53, "db", "udp") + fe("net", "192.0.2.0/24", 80, "web") +
        `    every: {address: 192.0.2.20, protocol: any, port: 0, pools: [{name: p, backends: {web: {}}}]}\n`
    )
    const r = targets([c], undefined)
    expect(r.targets).toEqual([])
    expect(r.skipped.map((s) => [s.name, s.reason])).toEqual([
      ["dns", "protocol udp: maglevt probes TCP"],
      ["net", "192.0.2.0/24 is a prefix, not one address"],
      ["every", "all ports (port 0): no port to probe"]
    ])
  })

  it("several files: each VIP once; a name used again for another VIP gets its file", () => {
    const a = load(fe("web", "192.0.2.10", 80, "web"), "a.yaml")
    const b = load(fe("web", "192.0.2.10", 80, "web") + fe("www", "192.0.2.11", 80, "web"), "b.yaml")
    const c = load(fe("web", "192.0.2.12", 80, "web"), "c.yaml")
    expect(targets([a, b, c], undefined).targets.map((t) => [t.name, t.endpoint])).toEqual([
      ["web", "192.0.2.10:80"],
      ["www", "192.0.2.11:80"],
      ["web@c.yaml", "192.0.2.12:80"]
    ])
  })

  it("--filter matches the name or address:port", () => {
    const c = load(fe("web", "192.0.2.10", 80, "web") + fe("db", "192.0.2.12", 5432, "db"))
    expect(targets([c], /^we/).targets.map((t) => t.name)).toEqual(["web"])
    expect(targets([c], /:5432$/).targets.map((t) => t.name)).toEqual(["db"])
    expect(targets([c], /nothing/).targets).toEqual([])
  })
})
