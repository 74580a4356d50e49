/**
 * The daemon's services as one layer: the running configuration, the health
 * checker, the VPP supervisor and the LB sync loop over them. `maglevd` runs
 * it with the live prober; the simulation harness (`vpp-maglev/testing`) and
 * embedding programs run the same layer with their own prober or VPP sockets.
 *
 *   RunningConfig ─┬─▶ HealthChecker (Prober) ─┐
 *                  │                           ├─▶ LbSync ─▶ VPP (binary API)
 *                  └──────── VppSupervisor ────┘
 */
import { Effect, Layer } from "effect"
import type { Config } from "../config/Config.js"
import * as RunningConfig from "../config/RunningConfig.js"
import * as HealthChecker from "../health/HealthChecker.js"
import type { Prober } from "../health/Prober.js"
import * as LbSync from "../lb/LbSync.js"
import * as Supervisor from "../vpp/Supervisor.js"

export type DaemonServices =
  | RunningConfig.RunningConfig
  | HealthChecker.HealthChecker
  | Supervisor.VppSupervisor
  | LbSync.LbSync

/** The services for a configuration already validated; probes go through the `Prober` provided. */
export const layer = (
  config: Config,
  vpp: Supervisor.VppSupervisorOptions
): Layer.Layer<DaemonServices, never, Prober> =>
  LbSync.layer.pipe(
    Layer.provideMerge(Layer.merge(HealthChecker.layerRunning, Supervisor.layer(vpp))),
    Layer.provideMerge(RunningConfig.layer(config))
  )

/**
 * Applies a new configuration (already validated) to the running services:
 * `RunningConfig.replace`, which the health checker (unchanged backends keep
 * their state) and the LB sync (the new lb_conf, then a full sync) follow.
 * This is what SIGHUP and the ReloadConfig RPC do.
 */
export const reload = Effect.fn("Daemon.reload")(function*(config: Config) {
  const running = yield* RunningConfig.RunningConfig
  yield* running.replace(config)
})
