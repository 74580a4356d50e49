/**
 * The LB sync's tests against the simulator: the daemon's three services (the
 * real HealthChecker with scripted probe results, the VPP supervisor, LbSync)
 * over one in-process simulator on fresh Unix sockets, and TestClock moved in
 * steps until something happens (socket replies arrive in wall time, so each
 * step lets them through).
 */
import { Effect, Layer, TestClock } from "effect"
import * as path from "node:path"
import type { Config } from "../../src/config/Config.js"
import * as HealthChecker from "../../src/health/HealthChecker.js"
import * as Prober from "../../src/health/Prober.js"
import { type ProbeResult, probeResult } from "../../src/health/ProbeResult.js"
import { pollDelay } from "../../src/internal/WallClock.js"
import * as LbSync from "../../src/lb/LbSync.js"
import * as Simulator from "../../src/sim/Simulator.js"
import * as Supervisor from "../../src/vpp/Supervisor.js"
import { tempDir } from "../sim/tempDir.js"

export const PASS = probeResult("L7OK", 1, "HTTP 200")
export const FAIL = probeResult("L4CON", 1, "refused")

/** A fixed start time, and a simulator on fresh sockets (removed with the scope). */
export const simulatorAt = (prefix: string) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(1_760_000_000_000)
    const dir = yield* tempDir(prefix)
    const apiSocket = path.join(dir, "api.sock")
    const statsSocket = path.join(dir, "stats.sock")
    const sim = yield* Simulator.make({ apiSocket, statsSocket })
    return { apiSocket, statsSocket, sim }
  })

/** The daemon's services over the simulator; a backend's probes answer `answers.get(backend)`, else PASS. */
export const daemon = (cfg: Config, sockets: { readonly apiSocket: string; readonly statsSocket: string }, answers: ReadonlyMap<string, ProbeResult>) => {
  const prober = Prober.layerFrom(({ target }) => Effect.succeed(answers.get(target.backend) ?? PASS))
  const checker = HealthChecker.layer(cfg).pipe(Layer.provide(prober))
  const vpp = Supervisor.layer({ ...sockets, requestTimeout: "1 hour", statsConnectTimeout: "1 hour", pingTimeout: "1 hour" })
  return LbSync.layer.pipe(Layer.provideMerge(Layer.merge(checker, vpp)))
}

/** The clock in 500 ms steps until `probe` yields a value (at most `maxSteps`), the socket work of each step let through. */
export const advanceUntil = <A, E, R>(what: string, probe: Effect.Effect<A | undefined, E, R>, maxSteps = 120) =>
  Effect.gen(function*() {
    for (let i = 0; i <= maxSteps; i++) {
      const a = yield* probe
      if (a !== undefined) return a
      yield* TestClock.adjust("500 millis")
      yield* pollDelay(10)
    }
    return yield* Effect.dieMessage(`${what} did not happen`)
  })

/** Weight of every active AS in the simulator, by address. */
export const asWeights = (sim: Simulator.SimulatorShape): Record<string, number> =>
  Object.fromEntries(
    sim.lb.asV2Dump({ pfx: "0.0.0.0/0", protocol: 0, port: 0 } as never, undefined).filter((a) => (a.flags & 1) !== 0).map((a) => [a.app_srv, a.weight])
  )
