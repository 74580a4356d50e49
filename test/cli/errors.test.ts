/**
 * What maglevc says when maglevd cannot be used, with real sockets in
 * process: something that is not maglevd, nothing listening (on a port
 * fetch would call bad), and a server that never answers. One line each,
 * naming the URL.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as Client from "../../src/api/Client.js"
import { serverError } from "../../src/cli/Commands.js"

const listening = <S extends net.Server>(server: S) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
    }),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** The one line maglevc prints for a call to `url`. */
const failure = (url: string, timeout?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const client = yield* Client.make({ url, timeout })
    const e = yield* Effect.flip(client.ListFrontends())
    return serverError(url)(e).message
  })

describe("maglevc's errors", () => {
  it.scopedLive("a server that is not maglevd: what answered", () =>
    Effect.gen(function*() {
      const port = yield* listening(http.createServer((_, res) => {
        res.setHeader("content-type", "text/html")
        res.end("<html>hello</html>")
      }))
      const message = yield* failure(`http://127.0.0.1:${port}`)
      expect(message).toBe(
        `http://127.0.0.1:${port}/rpc is not maglevd's RPC API: it answered HTTP 200 text/html (--server, or MAGLEV_SERVER, names maglevd's RPC address)`
      )
    }))

  it.scopedLive("nothing listening, on a port the Fetch standard calls bad: refused, is maglevd running?", () =>
    Effect.gen(function*() {
      const message = yield* failure("http://127.0.0.1:9")
      expect(message).toBe(
        "cannot reach maglevd at http://127.0.0.1:9: connection refused; is maglevd running, with its RPC API on that address (--rpc-addr)?"
      )
    }))

  it.scopedLive("a server that never answers: no answer within the timeout", () =>
    Effect.gen(function*() {
      const sockets = new Set<net.Socket>()
      const silent = net.createServer((s) => void sockets.add(s))
      const port = yield* listening(silent)
      // Before the server's close, which waits for its connections.
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
      const message = yield* failure(`http://127.0.0.1:${port}`, "300 millis")
      expect(message).toBe(`no answer from http://127.0.0.1:${port}/rpc within 300ms (--server, or MAGLEV_SERVER, names maglevd's RPC address)`)
    }))
})
