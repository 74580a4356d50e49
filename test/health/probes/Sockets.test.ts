/**
 * The two carriers of plain probes (internal/NativeSocket.ts): the native
 * addon's probe engine, the default, and Node's sockets
 * (VPP_MAGLEV_PROBE_SOCKETS=node). Each is loaded fresh with its setting and
 * must give the same results, worded the same, against the same real servers,
 * and leave no file descriptor behind.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import { vi } from "vitest"
import type * as ProbeModule from "../../../src/health/probes/Probe.js"
import { closedPort, eventually, httpCheck, tcpCheck, tcpServer } from "../../support/probes.js"

const load = (sockets: "native" | "node") =>
  Effect.promise(async () => {
    vi.resetModules()
    vi.stubEnv("VPP_MAGLEV_PROBE_SOCKETS", sockets)
    try {
      const probes = (await import("../../../src/health/probes/Probe.js")) as typeof ProbeModule
      const carrier = (await import("../../../src/health/probes/internal/NativeSocket.js")).nativeProbes
      return { probes, carrier }
    } finally {
      vi.unstubAllEnvs()
    }
  })

const openFds = () => fs.readdirSync("/proc/self/fd").length

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

describe.each(["native", "node"] as const)("plain probes over %s sockets", (sockets) => {
  it.scopedLive("same results and words, and no descriptor left", () =>
    Effect.gen(function*() {
      const { carrier, probes } = yield* load(sockets)
      expect(carrier).toBe(sockets === "native")
      const run = (port: number, check = httpCheck(port)) =>
        probes.runProbe({ address: "127.0.0.1", healthcheck: check, netns: "" })

      const ok = yield* tcpServer((s) => s.once("data", () => s.end(OK)))
      const refused = yield* closedPort()
      const closer = yield* tcpServer((s) => s.end())
      const resetter = yield* tcpServer((s) => s.once("data", () => s.resetAndDestroy()))
      const silent = yield* tcpServer(() => {})
      const status = yield* tcpServer((s) => s.once("data", () => s.end("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")))

      const before = openFds()
      expect(yield* run(ok.port)).toMatchObject({ ok: true, code: "L7OK", detail: "HTTP 200 OK" })
      expect(yield* run(refused)).toMatchObject({ code: "L4CON", detail: `connect ECONNREFUSED 127.0.0.1:${refused}` })
      expect(yield* run(closer.port)).toMatchObject({ code: "L7RSP" })
      expect((yield* run(resetter.port)).detail).toMatch(/ECONNRESET|connection closed/)
      expect(yield* run(status.port)).toMatchObject({ code: "L7STS", detail: "HTTP 503 Busy" })
      expect(yield* run(silent.port, httpCheck(silent.port, {}, { timeoutMs: 200 }))).toMatchObject({ code: "L7TOUT" })
      expect(yield* run(ok.port, tcpCheck(ok.port))).toMatchObject({ ok: true, code: "L4OK" })
      expect(yield* run(ok.port, tcpCheck(ok.port, { send: "GET / HTTP/1.0\r\n\r\n", expect: "200 OK" }))).toMatchObject({ ok: true, code: "L7OK" })

      // Hundreds at once, then every descriptor is closed again (the server saw them all go). One loop
      // serves the 300 requests and runs the 300 probes: on a busy machine the last answers come
      // seconds after the first (with a 2 s timeout 30 of 300 ended L7TOUT at load 16), so a
      // timeout no test machine reaches; how fast is not the point.
      const many = yield* Effect.all(Array.from({ length: 300 }, () => run(ok.port, httpCheck(ok.port, {}, { timeoutMs: 120_000 }))), { concurrency: "unbounded" })
      expect(many.filter((r) => r.code !== "L7OK").map((r) => `${r.code} ${r.detail}`)).toEqual([])
      expect(yield* ok.awaitIdle()).toBe(0)
      // Node closes a destroyed socket's descriptor on its next turn; the engine at the end of this one.
      yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      expect(openFds()).toBeLessThanOrEqual(before)
    }))

  it.scopedLive("an interrupted probe closes its connection at once", () =>
    Effect.gen(function*() {
      const { probes } = yield* load(sockets)
      const silent = yield* tcpServer(() => {})
      const fiber = yield* Effect.fork(probes.runProbe({ address: "127.0.0.1", healthcheck: httpCheck(silent.port, {}, { timeoutMs: 60_000 }), netns: "" }))
      expect(yield* eventually(() => silent.accepted() > 0)).toBe(true)
      yield* Fiber.interrupt(fiber)
      expect(yield* silent.awaitIdle()).toBe(0)
    }))
})

describe("the native engine's own checks", () => {
  it.scopedLive("a source address that is not ours fails the probe with EADDRNOTAVAIL, no socket left", () =>
    Effect.gen(function*() {
      const { probes } = yield* load("native")
      const before = openFds()
      const r = yield* probes.runProbe({ address: "127.0.0.1", healthcheck: httpCheck(80, {}, { probeIpv4Src: "192.0.2.1" }), netns: "" })
      expect(r.code).toBe("L4CON")
      expect(r.detail).toContain("EADDRNOTAVAIL")
      expect(openFds()).toBe(before)
    }))
})
