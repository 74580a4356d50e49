/**
 * The HTTP edge of the RPC server: bearer-token auth (mutating calls only,
 * or every call), the `rpc-insecure` warning, and what raw HTTP clients can
 * send: oversize bodies, malformed NDJSON, payloads that do not decode,
 * unknown RPCs, wrong methods and paths. None of it may crash the server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, HashMap, Logger, Stream } from "effect"
import { check } from "../../src/api/internal/Gate.js"
import { isLoopback, parseListenAddress } from "../../src/api/Server.js"
import { MaglevApi } from "../../src/api/Api.js"
import { settled, withApi } from "./support.js"

const TOKEN = "s3cret"

interface Reply {
  readonly status: number
  readonly text: string
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", body, headers: { "content-type": "application/ndjson", ...headers } })
      .then(async (r): Promise<Reply> => ({ status: r.status, text: await r.text() }))
  )

const request = (id: string, tag: string, payload?: unknown) =>
  JSON.stringify({ _tag: "Request", id, tag, payload, headers: [] }) + "\n"

const lines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>)

describe("RPC API: auth", () => {
  it.scopedLive("with a token, mutating calls need it; read-only ones do not", () =>
    withApi({ server: { token: TOKEN } }, (f) =>
      Effect.gen(function*() {
        yield* settled(f)
        const anonymous = yield* f.client()
        expect(yield* anonymous.ListFrontends()).toHaveLength(1)
        expect((yield* anonymous.CheckConfig({})).result._tag).toBe("Valid")
        expect((yield* anonymous.SyncVPPLBState({ dryRun: true })).applied).toBe(false)
        const refused = yield* Effect.flip(anonymous.PauseBackend({ name: "a" }))
        expect(refused).toMatchObject({ _tag: "Unauthorized" })
        expect(refused.message).toContain("Bearer")
        expect((yield* Effect.flip(anonymous.SyncVPPLBState({})))._tag).toBe("Unauthorized")
        expect((yield* Effect.flip(anonymous.ReloadConfig()))._tag).toBe("Unauthorized")
        // CheckConfig on a path of the caller's choosing counts as mutating.
        expect((yield* Effect.flip(anonymous.CheckConfig({ path: "/etc/passwd" })))._tag).toBe("Unauthorized")
        expect((yield* f.checker.backend("a")).status).toBe("up")

        const wrong = yield* f.client("guess")
        expect(yield* Effect.flip(wrong.DisableBackend({ name: "a" }))).toMatchObject({ _tag: "Unauthorized", reason: "wrong token" })

        const operator = yield* f.client(TOKEN)
        expect((yield* operator.PauseBackend({ name: "a" })).state).toBe("paused")
        expect((yield* operator.CheckConfig({ path: f.file })).result._tag).toBe("Valid")

        // Raw HTTP: the header on the request itself.
        const raw = yield* post(f.server.url, request("1", "ResumeBackend", { name: "a" }), { authorization: `Bearer ${TOKEN}` })
        expect(raw.status).toBe(200)
        expect(lines(raw.text)[0]).toMatchObject({ _tag: "Exit", requestId: "1", exit: { _tag: "Success", value: { name: "a", state: "unknown" } } })
      })), 30_000)

  it.scopedLive("readonlyToo: every call needs the token, streams included", () =>
    withApi({ server: { token: TOKEN, readonlyToo: true } }, (f) =>
      Effect.gen(function*() {
        const anonymous = yield* f.client()
        expect((yield* Effect.flip(anonymous.ListBackends()))._tag).toBe("Unauthorized")
        expect((yield* Effect.flip(Stream.runHead(anonymous.WatchEvents({}))))._tag).toBe("Unauthorized")
        const operator = yield* f.client(TOKEN)
        expect(yield* operator.ListBackends()).toHaveLength(3)
        const first = yield* Stream.runHead(operator.WatchEvents({}))
        expect(first._tag === "Some" && first.value._tag).toBe("Hydrate")
      })), 30_000)

  it.scopedLive("rpc-insecure: a warning when listening beyond loopback without a token", () => {
    const events: Array<string> = []
    const collect = Logger.make(({ annotations }) => {
      const e = HashMap.get(annotations, "event")
      if (e._tag === "Some") events.push(String(e.value))
    })
    return Effect.gen(function*() {
      yield* withApi({ server: { host: "0.0.0.0" } }, (f) =>
        Effect.gen(function*() {
          const api = yield* f.client()
          expect(yield* api.ListFrontends()).toHaveLength(1)
        }))
      expect(events).toContain("rpc-listen")
      expect(events).toContain("rpc-insecure")
      events.length = 0
      yield* withApi({ server: { host: "0.0.0.0", token: TOKEN } }, () => Effect.void)
      yield* withApi({}, () => Effect.void)
      expect(events.filter((e) => e === "rpc-listen")).toHaveLength(2)
      expect(events).not.toContain("rpc-insecure")
    }).pipe(Effect.provide(Logger.add(collect)))
  }, 30_000)
})

describe("RPC API: what raw HTTP clients can send", () => {
  it.scopedLive("oversize, malformed, undecodable and unknown requests are refused, and the server goes on", () =>
    withApi({ server: { maxBodyBytes: 64 * 1024 } }, (f) =>
      Effect.gen(function*() {
        const url = f.server.url
        const ok = yield* post(url, request("7", "ListFrontends"))
        expect(ok.status).toBe(200)
        expect(lines(ok.text)).toEqual([expect.objectContaining({ _tag: "Exit", requestId: "7", exit: expect.objectContaining({ _tag: "Success" }) })])

        // Too large: 413 from its Content-Length, before the body is read.
        const big = yield* post(url, request("1", "GetBackend", { name: "x".repeat(100 * 1024) }))
        expect(big.status).toBe(413)
        expect(lines(big.text)[0]).toMatchObject({ _tag: "Defect", defect: expect.stringContaining("larger than 65536") })
        // Too large without a Content-Length (chunked): the connection is dropped once the cap is passed.
        const chunked = new ReadableStream<Uint8Array>({
          start(c) {
            for (let i = 0; i < 32; i++) c.enqueue(new TextEncoder().encode("x".repeat(8 * 1024)))
            c.close()
          }
        })
        const streamed = yield* Effect.either(
          Effect.tryPromise(() => fetch(url, { method: "POST", body: chunked, duplex: "half" } as RequestInit).then((r) => r.status))
        )
        if (streamed._tag === "Right") expect(streamed.right).toBe(413) // else: the connection was dropped

        // Not NDJSON.
        const garbage = yield* post(url, "this is not json\n")
        expect(garbage.status).toBe(400)
        expect(lines(garbage.text)[0]).toMatchObject({ _tag: "Defect", defect: expect.stringContaining("malformed") })
        expect((yield* post(url, request("1", "ListFrontends").trimEnd())).status).toBe(400) // no final newline
        expect((yield* post(url, "[1,2,3]\n")).status).toBe(400)
        expect((yield* post(url, JSON.stringify({ _tag: "Request", id: "x1", tag: "ListFrontends", headers: [] }) + "\n")).status).toBe(400)
        expect((yield* post(url, JSON.stringify({ _tag: "Request", id: "1", tag: "ListFrontends" }) + "\n")).status).toBe(400)
        expect((yield* post(url, JSON.stringify({ _tag: "Interrupt", requestId: "zz" }) + "\n")).status).toBe(400)

        // A payload its schema refuses: InvalidArgument for that request, typed.
        const weight = yield* post(url, request("3", "SetFrontendPoolBackendWeight", { frontend: "web", pool: "primary", backend: "a", weight: 150 }))
        expect(weight.status).toBe(400)
        const [exit] = lines(weight.text)
        expect(exit).toMatchObject({
          _tag: "Exit",
          requestId: "3",
          exit: { _tag: "Failure", cause: { _tag: "Fail", error: { _tag: "InvalidArgument", reason: expect.stringContaining("150") } } }
        })
        const missing = lines((yield* post(url, request("4", "GetBackend", {}))).text)[0]
        expect(missing?.["exit"]?.cause?.error?.reason).toContain("name")
        const unknown = lines((yield* post(url, request("5", "DropTables", {}))).text)[0]
        expect(unknown?.["exit"]?.cause?.error).toEqual({ _tag: "InvalidArgument", reason: "unknown RPC \"DropTables\"" })
        // All or nothing: the good request of a body with a bad one is not run.
        const mixed = lines((yield* post(url, request("8", "PauseBackend", { name: "a" }) + request("9", "GetBackend", { name: 1 }))).text)
        expect(mixed.map((m) => [m["requestId"], m["exit"]?.cause?.error?._tag])).toEqual([["8", "InvalidArgument"], ["9", "InvalidArgument"]])
        expect((yield* f.checker.backend("a")).status).not.toBe("paused")

        const get = yield* Effect.promise(() => fetch(url).then((r) => r.status))
        expect(get).toBe(405)
        expect((yield* post(url.replace("/rpc", "/other"), request("1", "ListFrontends"))).status).toBe(404)

        // The typed client checks payloads before sending: a defect in the caller, nothing on the wire.
        const api = yield* f.client()
        const local = yield* Effect.exit(api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "a", weight: 150 }))
        expect(Exit.isFailure(local) && Cause.isDie(local.cause)).toBe(true)

        // Still serving.
        expect(yield* api.ListFrontends()).toHaveLength(1)
      })), 30_000)

  it("the gate is pure: messages other than requests pass, and so does a good body", () => {
    const good = request("1", "GetBackend", { name: "a" }) + JSON.stringify({ _tag: "Ack", requestId: "1" }) + "\n"
    expect(check(MaglevApi, good)).toEqual({ _tag: "Pass" })
    expect(check(MaglevApi, "")).toEqual({ _tag: "Pass" })
    expect(check(MaglevApi, request("1", "WatchEvents", { logLevel: "trace" }))._tag).toBe("Reject")
    expect(check(MaglevApi, request("1", "WatchEvents", { logLevel: "debug" }))).toEqual({ _tag: "Pass" })
  })

  it("listen addresses and loopback", () => {
    expect(parseListenAddress("127.0.0.1:9090")).toEqual({ host: "127.0.0.1", port: 9090 })
    expect(parseListenAddress(":9090")).toEqual({ host: "0.0.0.0", port: 9090 })
    expect(parseListenAddress("[::1]:0")).toEqual({ host: "::1", port: 0 })
    expect(parseListenAddress("localhost:80")).toEqual({ host: "localhost", port: 80 })
    for (const bad of ["9090", "::1:9090", "host:", "host:99999", "[::1]"]) expect(parseListenAddress(bad)).toBeUndefined()
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"].every(isLoopback)).toBe(true)
    expect(["0.0.0.0", "::", "192.0.2.1", "2001:db8::1"].some(isLoopback)).toBe(false)
  })
})
