import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import type { HealthCheck } from "../../src/config/Config.js"
import { sameProbing } from "../../src/config/Equality.js"
import { backend, config, healthCheck } from "../support/config.js"

const hc = healthCheck("hc", {
  type: "http",
  http: {
    method: "GET",
    path: "/health",
    host: undefined,
    headers: [["x-a", "1"]],
    expectedCodes: [{ from: 200, to: 299 }],
    responseRegex: undefined,
    serverName: undefined,
    insecure: false,
    caFile: undefined
  }
})
const other = healthCheck("other")
const b = backend("b", "10.0.0.1", "hc")
const c = backend("c", "10.0.0.2", "other")
const cfg = (check: HealthCheck, extra: { readonly netns?: string } = {}) =>
  config({ healthchecks: [check, other], backends: [b, c], ...extra })

/** One variation per field a health check has: each must be seen as a change of probing. */
const variations: ReadonlyArray<readonly [string, Partial<HealthCheck>]> = [
  ["type", { type: "https" }],
  ["port", { port: 81 }],
  ["interval", { interval: Duration.seconds(3) }],
  ["fastInterval", { fastInterval: Duration.millis(999) }],
  ["downInterval", { downInterval: Duration.seconds(5) }],
  ["timeout", { timeout: Duration.millis(1001) }],
  ["rise", { rise: 3 }],
  ["fall", { fall: 4 }],
  ["probeIpv4Src", { probeIpv4Src: "192.0.2.9" }],
  ["probeIpv6Src", { probeIpv6Src: "2001:db8::9" }],
  ["http.path", { http: { ...hc.http!, path: "/other" } }],
  ["http.headers", { http: { ...hc.http!, headers: [["x-a", "2"]] } }],
  ["http.expectedCodes", { http: { ...hc.http!, expectedCodes: [{ from: 200, to: 200 }] } }],
  ["tcp.send", { tcp: { ...hc.tcp!, send: "PING" } }]
]

describe("sameProbing", () => {
  it("a fresh decode of the same check keeps probing; slowStart alone is not probing", () => {
    const same = sameProbing(cfg(hc), cfg({ ...hc, http: { ...hc.http!, headers: [["x-a", "1"]] } }))
    expect(same(b, { ...b })).toBe(true)
    expect(sameProbing(cfg(hc), cfg({ ...hc, slowStart: Duration.seconds(10) }))(b, b)).toBe(true)
  })

  it("every field of the check, the address, the check's name and the netns are seen", () => {
    // A field added to HealthCheck needs its variation here.
    expect(new Set(variations.map(([field]) => field.split(".")[0]))).toEqual(
      new Set(Object.keys(hc).filter((k) => k !== "name" && k !== "slowStart"))
    )
    for (const [field, change] of variations) {
      expect([field, sameProbing(cfg(hc), cfg({ ...hc, ...change }))(b, b)]).toEqual([field, false])
    }
    expect(sameProbing(cfg(hc), cfg(hc))(b, { ...b, address: "10.0.0.9" })).toBe(false)
    expect(sameProbing(cfg(hc), cfg(hc))(b, { ...b, healthcheck: "other" })).toBe(false)
    expect(sameProbing(cfg(hc), cfg(hc, { netns: "blue" }))(b, b)).toBe(false)
  })

  it("compares each check once per reload, by name: a changed check does not taint another", () => {
    const same = sameProbing(cfg(hc), cfg({ ...hc, port: 81 }))
    expect(same(b, b)).toBe(false)
    expect(same(c, c)).toBe(true)
    expect(same(b, b)).toBe(false)
  })
})
