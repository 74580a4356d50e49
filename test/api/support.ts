/**
 * The RPC API end to end: the daemon's services (scripted prober) against the
 * in-process simulator, the RPC server on an ephemeral port of 127.0.0.1, and
 * the HTTP client. Everything runs on the live clock: the HTTP server and
 * fetch live in wall time, so the configuration uses 100 ms probe intervals
 * and no warm-up instead of TestClock.
 */
import { Context, Effect, Layer, Logger, LogLevel, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../../src/api/Client.js"
import * as Control from "../../src/api/Control.js"
import * as LogHub from "../../src/api/LogHub.js"
import * as Server from "../../src/api/Server.js"
import { loadConfig } from "../../src/config/Check.js"
import * as Daemon from "../../src/daemon/Daemon.js"
import * as FrontendState from "../../src/health/FrontendState.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import * as LbSync from "../../src/lb/LbSync.js"
import * as Simulator from "../../src/sim/Simulator.js"
import { waitFor } from "../support/wait.js"

export const PASS = probeResult("L4OK", 1, "connected")
export const FAIL = probeResult("L4CON", 1, "refused")

export const yaml = (weights: { readonly a?: number; readonly b?: number } = {}, extra = "") => `
maglev:
  healthchecker:
    transition-history: 5
  vpp:
    lb:
      ipv4-src-address: 192.0.2.254
      sync-interval: 30s
      startup-min-delay: 0s
      startup-max-delay: 0s
  healthchecks:
    hc:
      type: tcp
      port: 80
      interval: 100ms
      fast-interval: 100ms
      down-interval: 100ms
      timeout: 50ms
      rise: 1
      fall: 1
  backends:
    a: { address: 10.0.0.1, healthcheck: hc }
    b: { address: 10.0.0.2, healthcheck: hc }
    c: { address: 10.0.0.3, healthcheck: hc }
  frontends:
    web:
      description: the web site
      address: 192.0.2.10/32
      protocol: tcp
      port: 80
      pools:
        - name: primary
          backends:
            b: { weight: ${weights.b ?? 100} }
            a: { weight: ${weights.a ?? 50} }
        - name: backup
          backends:
            c:
${extra}`

export interface Fixture {
  readonly dir: string
  readonly file: string
  readonly sim: Simulator.SimulatorShape | undefined
  /** Probe results by backend name (PASS when absent). */
  readonly answers: Map<string, ProbeResult>
  readonly server: Server.ApiServerShape
  readonly hub: LogHub.LogHubShape
  readonly checker: HealthChecker.HealthCheckerShape
  readonly sync: LbSync.LbSyncShape
  /** A client with this token (none by default). */
  readonly client: (token?: string) => Effect.Effect<Client.MaglevClientShape, never, Scope.Scope>
}

export interface FixtureOptions {
  readonly server?: Server.ServerOptions
  /** No VPP at all (apiSocket ""). */
  readonly vppDisabled?: boolean
  /** The level a (pretend) stdout logger prints from, for the LogDemand; default All. */
  readonly printed?: LogLevel.LogLevel
  /** Also the frontend-transition log lines (FrontendState.layer, as maglevd runs it). */
  readonly frontendState?: boolean
}

export { waitFor }

/**
 * The daemon's services over the simulator (unless VPP is disabled), with the
 * configuration `yaml()` in a fresh directory and a scripted prober: every
 * backend passes unless `answers` says otherwise.
 */
export const scriptedDaemon = (prefix: string, options: { readonly vppDisabled?: boolean | undefined }) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const file = path.join(dir, "maglev.yaml")
    fs.writeFileSync(file, yaml())
    const apiSocket = options.vppDisabled === true ? "" : path.join(dir, "api.sock")
    const statsSocket = path.join(dir, "stats.sock")
    const sim = options.vppDisabled === true ? undefined : yield* Simulator.make({ apiSocket, statsSocket })
    const answers = new Map<string, ProbeResult>()
    const prober = Prober.layerFrom(({ target }) => Effect.sync(() => answers.get(target.backend) ?? PASS))
    const daemon = Daemon.layer(yield* loadConfig(file), { apiSocket, statsSocket, countersInterval: "100 millis" }).pipe(
      Layer.provide(prober)
    )
    return { dir, file, sim, answers, daemon }
  })

/**
 * Runs `body` against a running daemon with the API, all stopped when it
 * returns. Debug records reach the
 * log hub (the fiber minimum is Debug, as maglevd must run it); nothing is
 * printed.
 */
export const withApi = <A, E>(options: FixtureOptions, body: (f: Fixture) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const { answers, daemon, dir, file, sim } = yield* scriptedDaemon("api-", options)
    const stack = Layer.merge(Server.layer({ port: 0, ...options.server }), options.frontendState === true ? FrontendState.layer : Layer.empty).pipe(
      Layer.provideMerge(Control.layer({ configFile: file })),
      Layer.provideMerge(daemon)
    )
    const context = yield* Layer.build(stack)
    const server = Context.get(context, Server.ApiServer)
    return yield* body({
      dir,
      file,
      sim,
      answers,
      server,
      hub: yield* LogHub.LogHub,
      checker: Context.get(context, HealthChecker.HealthChecker),
      sync: Context.get(context, LbSync.LbSync),
      client: (token) => Client.make({ url: `http://127.0.0.1:${server.port}`, token })
    })
  }).pipe(
    Effect.scoped,
    Effect.provide(LogHub.layerInstalled({ printed: options.printed ?? LogLevel.All })),
    Effect.provide(Logger.remove(Logger.defaultLogger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )

/** The weights of the active ASes in the simulator, by address. */
export const weights = (sim: Simulator.SimulatorShape | undefined): Record<string, number> =>
  sim === undefined
    ? {}
    : Object.fromEntries(
      sim.lb.asV2Dump({ pfx: "0.0.0.0/0", protocol: 0, port: 0 } as never, undefined)
        .filter((a) => (a.flags & 1) !== 0)
        .map((a) => [a.app_srv, a.weight])
    )

/** Every backend up and the VIP programmed with the primary pool's weights. */
export const settled = (f: Fixture) =>
  waitFor("the VIP programmed", Effect.sync(() => {
    const w = weights(f.sim)
    return w["10.0.0.1"] === 50 && w["10.0.0.2"] === 100 && w["10.0.0.3"] === 0 ? w : undefined
  }))
