import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Native from "../../../src/native/Native.js"
import { runProbe } from "../../../src/health/probes/Probe.js"
import * as PingSockets from "../../../src/health/probes/internal/PingSockets.js"
import {
  blackholeNetns,
  type CheckOptions,
  GRACE_MS,
  icmpCheck,
  ip,
  netns,
  probeInChild,
  requireRoot,
  routedNetns,
  sysctlIn
} from "../../support/probes.js"
import { pollDelay } from "../../../src/internal/WallClock.js"

const ping = (address: string, netns = "", o: CheckOptions = {}) =>
  runProbe({ address, healthcheck: icmpCheck(o), netns })

/** Whether the shared socket for (family, netns) is a raw one. */
const isRaw = (family: 4 | 6, ns: string): boolean => {
  const s = PingSockets.lease(family, ns, undefined)
  if (!(s instanceof PingSockets.PingSocket)) throw new Error(s.detail)
  PingSockets.release(s)
  return s.raw
}

describe("ICMP probe", () => {
  it.live("gets an echo reply from 127.0.0.1 and ::1", () =>
    Effect.gen(function* () {
      yield* requireRoot
      const v4 = yield* ping("127.0.0.1")
      expect(v4).toMatchObject({ ok: true, code: "L3OK", detail: "echo reply from 127.0.0.1" })
      expect(v4.durationMs).toBeGreaterThan(0)
      const v6 = yield* ping("::1")
      expect(v6).toMatchObject({ ok: true, code: "L3OK", detail: "echo reply from ::1" })
    })
  )

  it.live("shares one socket among a thousand concurrent probes", () =>
    Effect.gen(function* () {
      yield* requireRoot
      const addresses = Array.from({ length: 1000 }, (_, i) => `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`)
      const results = yield* Effect.forEach(addresses, (a) => ping(a, "", { timeoutMs: 30_000 }), {
        concurrency: "unbounded"
      })
      expect(results.filter((r) => r.code === "L3OK")).toHaveLength(1000)
      // Each reply went to the probe that pinged its address.
      expect(results.map((r) => r.detail)).toEqual(addresses.map((a) => `echo reply from ${a}`))
      expect(PingSockets.openSockets()).toBeLessThanOrEqual(3)
    })
  )

  it.live("sends from probe-ipv4-src", () =>
    Effect.gen(function* () {
      yield* requireRoot
      // A raw socket of our own sees the request on lo, IP header and all.
      const sniffer = Native.icmpSocket(4, { raw: true })
      try {
        const result = yield* ping("127.0.0.1", "", { probeIpv4Src: "127.0.0.7" })
        expect(result.code).toBe("L3OK")
        const sources: Array<string> = []
        for (let d = Native.recvFrom(sniffer); d !== null; d = Native.recvFrom(sniffer)) {
          const ihl = ((d.data[0] ?? 0) & 0x0f) * 4
          if (d.data[ihl] === 8) sources.push([...d.data.subarray(12, 16)].join("."))
        }
        expect(sources).toContain("127.0.0.7")
      } finally {
        Native.close(sniffer)
      }
      const bad = yield* ping("127.0.0.1", "", { probeIpv4Src: "192.0.2.77" })
      expect(bad.code).toBe("L4CON")
      expect(bad.detail).toContain("bind EADDRNOTAVAIL 192.0.2.77")
    })
  )

  it.scoped("fails with L3UNREACH at once when there is no route", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      // At once: well before the (long) timeout.
      const noRoute = yield* ping("10.255.255.1", ns, { timeoutMs: 30_000 })
      expect(noRoute.code).toBe("L3UNREACH")
      expect(noRoute.detail).toContain("ENETUNREACH")
      expect(noRoute.durationMs).toBeLessThan(GRACE_MS)
      yield* ip("-n", ns, "route", "add", "unreachable", "10.66.0.0/16")
      const rejected = yield* ping("10.66.0.1", ns)
      expect(rejected.code).toBe("L3UNREACH")
      expect(rejected.detail).toContain("EHOSTUNREACH")
    })
  )

  it.scoped("times out with L3TOUT when nothing answers", () =>
    Effect.gen(function* () {
      const { ns, address } = yield* blackholeNetns()
      const result = yield* ping(address, ns, { timeoutMs: 300 })
      expect(result).toMatchObject({ code: "L3TOUT", detail: "no echo reply within 300 ms" })
      expect(result.durationMs).toBeGreaterThanOrEqual(299)
      expect(result.durationMs).toBeLessThan(300 + GRACE_MS)
    })
  )

  it.scoped("recognizes a destination unreachable from a router, on a raw socket", () =>
    Effect.gen(function* () {
      const net = yield* routedNetns()
      expect(isRaw(4, net.ns)).toBe(true) // a new namespace's ping_group_range is "1 0": nobody
      expect((yield* ping(net.router4, net.ns)).code).toBe("L3OK")
      const v4 = yield* ping(net.unreachable4, net.ns)
      expect(v4).toMatchObject({ code: "L3UNREACH", detail: `ICMP host unreachable from ${net.router4}` })
      expect((yield* ping(net.router6, net.ns)).code).toBe("L3OK")
      const v6 = yield* ping(net.unreachable6, net.ns)
      expect(v6).toMatchObject({ code: "L3UNREACH", detail: `ICMP no route to destination from ${net.router6}` })
    })
  )

  it.scoped("recognizes a destination unreachable from a router, on a ping socket", () =>
    Effect.gen(function* () {
      const net = yield* routedNetns()
      yield* sysctlIn(net.ns, "net.ipv4.ping_group_range", "0 2147483647")
      expect(isRaw(4, net.ns)).toBe(false)
      expect(isRaw(6, net.ns)).toBe(false)
      expect((yield* ping(net.router4, net.ns)).code).toBe("L3OK")
      const v4 = yield* ping(net.unreachable4, net.ns)
      expect(v4).toMatchObject({ code: "L3UNREACH", detail: `ICMP host unreachable from ${net.router4}` })
      expect((yield* ping(net.router6, net.ns)).code).toBe("L3OK")
      const v6 = yield* ping(net.unreachable6, net.ns)
      expect(v6).toMatchObject({ code: "L3UNREACH", detail: `ICMP no route to destination from ${net.router6}` })
      // Several at once: each error goes to the probe whose echo it quotes.
      const many = yield* Effect.forEach(
        [net.router4, net.unreachable4, net.router4, "10.252.1.1"],
        (a) => ping(a, net.ns),
        { concurrency: "unbounded" }
      )
      expect(many.map((r) => r.code)).toEqual(["L3OK", "L3UNREACH", "L3OK", "L3UNREACH"])
    })
  )

  it.scoped("says what it needs when it may make neither a ping socket nor a raw socket", () =>
    Effect.gen(function* () {
      const ns = yield* netns()
      const result = yield* probeInChild(["ip", "netns", "exec", ns, "setpriv", "--bounding-set", "-net_raw", "--"], {
        type: "icmp",
        address: "127.0.0.1"
      })
      expect(result).toMatchObject({
        code: "L4CON",
        detail: "ICMP needs root or CAP_NET_RAW (or net.ipv4.ping_group_range)"
      })
    })
  )

  it.live("fails with L4CON naming a namespace that does not exist", () =>
    Effect.gen(function* () {
      yield* requireRoot
      const result = yield* ping("127.0.0.1", "vmtest-no-such-ns")
      expect(result).toMatchObject({ code: "L4CON", detail: 'enter netns "vmtest-no-such-ns": no such file or directory' })
    })
  )

  it.live("ignores a late reply after its probe timed out", () =>
    Effect.gen(function* () {
      yield* requireRoot
      // A 1 ms timeout usually loses to the reply: either way the next probe is not confused.
      yield* Effect.forEach(Array.from({ length: 20 }), () => ping("127.0.0.1", "", { timeoutMs: 1 }))
      yield* pollDelay(20)
      const after = yield* ping("127.0.0.1")
      expect(after.code).toBe("L3OK")
    })
  )
})
