/**
 * The daemon's services as one layer: the health checker, the VPP supervisor
 * and the LB sync loop over them. `maglevd` runs it with the live prober; the
 * simulation harness (`vpp-maglev/testing`) and embedding programs run the same
 * layer with their own prober or VPP sockets.
 *
 *   Prober ─▶ HealthChecker ─┐
 *                            ├─▶ LbSync ─▶ VPP (binary API)
 *   VppSupervisor ───────────┘
 */
import { Effect, Layer } from "effect"
import type { Config } from "../config/Config.js"
import * as HealthChecker from "../health/HealthChecker.js"
import type { Prober } from "../health/Prober.js"
import * as LbSync from "../lb/LbSync.js"
import * as Supervisor from "../vpp/Supervisor.js"

export type DaemonServices = HealthChecker.HealthChecker | Supervisor.VppSupervisor | LbSync.LbSync

/** The three services for a configuration already validated; probes go through the `Prober` provided. */
export const layer = (
  config: Config,
  vpp: Supervisor.VppSupervisorOptions
): Layer.Layer<DaemonServices, never, Prober> =>
  LbSync.layer.pipe(Layer.provideMerge(Layer.merge(HealthChecker.layer(config), Supervisor.layer(vpp))))

/**
 * Applies a new configuration (already validated) to the running services:
 * the health checker first (unchanged backends keep their state), then the
 * new lb_conf and a full sync. This is what SIGHUP and the ReloadConfig RPC do.
 */
export const reload = Effect.fn("Daemon.reload")(function*(config: Config) {
  const checker = yield* HealthChecker.HealthChecker
  const sync = yield* LbSync.LbSync
  yield* checker.reload(config)
  yield* sync.requestFull("reload")
})
