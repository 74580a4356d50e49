/**
 * Embedding vpp-maglev in another Effect program: every part is a Layer.
 *
 *   node --import tsx examples/embed.ts
 *
 * 1. Only the health checker: probe a backend (a local HTTP server started
 *    here) and print its transitions.
 * 2. The whole daemon (health checker, VPP supervisor, LB sync, RPC server)
 *    inside this program's runtime, against the VPP simulator also run
 *    in-process; then ask the embedded daemon's own API what it did.
 *
 * Outside this repository, import from "vpp-maglev" instead of "../src/index.js".
 */
import { Effect, Layer, Logger, LogLevel, Queue } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { ApiClient, ApiControl, ApiServer, Config, Daemon, HealthChecker, LogHub, Prober } from "../src/index.js"
import * as Simulator from "../src/sim/Simulator.js"

const configText = (port: number) => `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 0s
  healthchecks:
    web: {type: http, port: ${port}, interval: 200ms, timeout: 100ms, rise: 1, fall: 1}
  backends:
    app1: {address: 127.0.0.1, healthcheck: web}
  frontends:
    app:
      address: 192.0.2.80/32
      protocol: tcp
      port: 443
      pools: [{name: main, backends: {app1: {weight: 100}}}]
`

const backendServer = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    const server = http.createServer((_, res) => res.end("ok"))
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed(server))
    })
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const program = Effect.gen(function*() {
  const server = yield* backendServer
  const port = (server.address() as AddressInfo).port
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-embed-"))
  const file = path.join(dir, "maglev.yaml")
  fs.writeFileSync(file, configText(port))
  const config = yield* Config.loadConfig(file)

  // 1. Only the health checker, with the live prober.
  yield* Effect.scoped(Effect.gen(function*() {
    const checker = yield* HealthChecker.HealthChecker
    const events = yield* checker.subscribe
    const event = yield* Queue.take(events)
    console.log(`health checker: ${event.backend} ${event.transition.from} -> ${event.transition.to} (${event.transition.result?.code ?? event.transition.cause})`)
  }).pipe(Effect.provide(HealthChecker.layer(config).pipe(Layer.provide(Prober.layer)))))

  // 2. The whole daemon, and the simulator standing in for VPP.
  const apiSocket = path.join(dir, "api.sock")
  const statsSocket = path.join(dir, "stats.sock")
  yield* Simulator.make({ apiSocket, statsSocket })
  const daemon = ApiServer.layer({ port: 0 }).pipe(
    Layer.provideMerge(ApiControl.layer({ configFile: file })),
    Layer.provideMerge(Daemon.layer(config, { apiSocket, statsSocket }).pipe(Layer.provide(Prober.layer))),
    Layer.provideMerge(LogHub.layer())
  )
  yield* Effect.scoped(Effect.gen(function*() {
    const api = yield* ApiServer.ApiServer
    const client = yield* ApiClient.make({ url: api.url })
    // Wait until the embedded daemon has programmed the VIP.
    for (;;) {
      const state = yield* Effect.either(client.GetVPPLBState())
      if (state._tag === "Right" && state.right.vips.some((v) => v.ases.some((a) => a.weight > 0))) {
        for (const v of state.right.vips) {
          console.log(`VPP holds ${v.prefix} with ${v.ases.map((a) => `${a.address} weight ${a.weight}`).join(", ")}`)
        }
        break
      }
      yield* Effect.sleep("100 millis")
    }
    const [frontend] = yield* client.ListFrontends()
    console.log(`frontend ${frontend?.name}: ${frontend?.state}`)
  }).pipe(Effect.provide(daemon)))
  fs.rmSync(dir, { recursive: true, force: true })
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))).catch((e) => {
  console.error(`examples/embed.ts: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
