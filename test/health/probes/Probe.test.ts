import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runProbe } from "../../../src/health/probes/Probe.js"
import { dnsName } from "../../../src/health/probes/internal/Tls.js"
import { httpCheck, tcpCheck } from "../../support/probes.js"

describe("runProbe", () => {
  it.effect("turns what cannot be probed into an L4CON result", () =>
    Effect.gen(function* () {
      const notAnAddress = yield* runProbe({ address: "backend.example", healthcheck: httpCheck(80), netns: "" })
      expect(notAnAddress).toMatchObject({ ok: false, code: "L4CON", detail: 'not an IP address: "backend.example"' })
      const noPort = yield* runProbe({ address: "127.0.0.1", healthcheck: { ...tcpCheck(1), port: undefined }, netns: "" })
      expect(noPort).toMatchObject({ code: "L4CON", detail: 'health check "test" has no port' })
    })
  )
})

describe("TLS names", () => {
  it("takes SNI from host names only, without the port", () => {
    expect(dnsName("backend.test")).toBe("backend.test")
    expect(dnsName("backend.test:8443")).toBe("backend.test")
    expect(dnsName("192.0.2.1")).toBeUndefined()
    expect(dnsName("192.0.2.1:443")).toBeUndefined()
    expect(dnsName("[2001:db8::1]:443")).toBeUndefined()
    expect(dnsName("2001:db8::1")).toBeUndefined()
    expect(dnsName("")).toBeUndefined()
    expect(dnsName(undefined)).toBeUndefined()
  })
})
