/**
 * The operator's changes to the running configuration, serialised by one
 * lock: reloading the file (the `ReloadConfig` RPC, and SIGHUP once main.ts
 * calls `reloadFile`) and runtime weight overrides
 * (`SetFrontendPoolBackendWeight`).
 *
 * A weight override is a modified Config (the same shape, one pool member's
 * weight replaced) applied with `HealthChecker.reload`, which keeps every
 * unchanged backend's state and probe schedule, followed by a sync of that
 * frontend. It lasts until the next reload of the file: the file's weights
 * come back then. Which weights are overridden is remembered here only for
 * display (`fileWeights`), and only while the running configuration is the
 * one this service produced.
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { Config, Frontend } from "../config/Config.js"
import { checkConfigFile } from "../config/Check.js"
import { formatIssue } from "../config/Issue.js"
import * as Daemon from "../daemon/Daemon.js"
import * as HealthChecker from "../health/HealthChecker.js"
import { desiredVip } from "../lb/Desired.js"
import { describeOp, type LbOp } from "../lb/Diff.js"
import * as LbSync from "../lb/LbSync.js"
import * as Requests from "../lb/Requests.js"
import { keyOf } from "../lb/VipKey.js"
import * as Supervisor from "../vpp/Supervisor.js"
import { type ConfigCheck, InvalidArgument, NotFound } from "./Api.js"
import { checkResultInfo, memberKey, type Snapshot, statusIn, unreadable } from "./Info.js"

export interface SetWeightRequest {
  readonly frontend: string
  readonly pool: string
  readonly backend: string
  /** 0..100 (the schema checks it). */
  readonly weight: number
  /** Only with weight 0: evict the AS's sessions in VPP once its weight is 0. */
  readonly flush?: boolean | undefined
}

export interface ControlShape {
  /** The daemon's configuration file. */
  readonly configFile: string
  /** The running configuration, the health map and the overridden weights, read together. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** Checks a file (default: the daemon's); applies nothing. */
  readonly checkFile: (path?: string | undefined) => Effect.Effect<ConfigCheck>
  /**
   * Re-reads the daemon's file and, when it is valid, applies it
   * (`Daemon.reload`): weight overrides are dropped. An invalid file leaves the
   * running configuration. `trigger` is logged (`rpc`, `sighup`).
   */
  readonly reloadFile: (trigger: string) => Effect.Effect<ConfigCheck>
  /** Replaces one pool member's weight until the next reload of the file, then syncs the frontend. */
  readonly setWeight: (request: SetWeightRequest) => Effect.Effect<Frontend, NotFound | InvalidArgument>
}

export class Control extends Context.Tag("vpp-maglev/api/Control")<Control, ControlShape>() {}

export interface ControlOptions {
  readonly configFile: string
  /** Files over this size are refused (`--config-max-bytes`); default 4 MiB. */
  readonly configMaxBytes?: number | undefined
}

/** The configuration with one pool member's weight replaced; every other object is shared. */
export const withMemberWeight = (config: Config, frontend: string, pool: string, backend: string, weight: number): Config => {
  const f = config.frontends.get(frontend)
  if (f === undefined) return config
  const next: Frontend = {
    ...f,
    pools: f.pools.map((p) =>
      p.name !== pool ? p : { ...p, backends: p.backends.map((m) => (m.backend === backend ? { ...m, weight } : m)) }
    )
  }
  return { ...config, frontends: new Map([...config.frontends].map(([k, v]) => [k, k === frontend ? next : v])) }
}

interface Overrides {
  /** The configuration this service last applied; the file weights below hold only while it runs. */
  readonly applied: Config | undefined
  readonly fileWeights: ReadonlyMap<string, number>
}

const NONE: Overrides = { applied: undefined, fileWeights: new Map() }

export const make = Effect.fn("Control.make")(function*(options: ControlOptions) {
  const checker = yield* HealthChecker.HealthChecker
  const sync = yield* LbSync.LbSync
  const vpp = yield* Supervisor.VppSupervisor
  const services = yield* Effect.context<HealthChecker.HealthChecker | LbSync.LbSync>()
  const lock = yield* Effect.makeSemaphore(1)
  const overrides = yield* Ref.make<Overrides>(NONE)

  /** The overrides that still apply to `config` (none once something else replaced the configuration). */
  const current = (config: Config) => Effect.map(Ref.get(overrides), (o) => (o.applied === config ? o : NONE))

  const snapshot = Effect.gen(function*() {
    const config = yield* checker.config
    const health = yield* checker.health
    const o = yield* current(config)
    return { config, health, fileWeights: o.fileWeights } satisfies Snapshot
  })

  // The same file checks as the daemon's (a regular file, the size limit), and a big file is read off the event loop.
  const fileOptions = { maxBytes: options.configMaxBytes, offThread: true }

  const checkFile = (path?: string) => {
    const file = path ?? options.configFile
    return checkConfigFile(file, fileOptions).pipe(
      Effect.map((result) => ({ file, result: checkResultInfo(result) })),
      Effect.catchTag("ConfigFileError", (e) => Effect.succeed({ file, result: unreadable(file, e.reason) }))
    )
  }

  const reloadFile = Effect.fn("Control.reloadFile")(function*(trigger: string) {
    return yield* lock.withPermits(1)(Effect.gen(function*() {
      const file = options.configFile
      const checked = yield* checkConfigFile(file, fileOptions).pipe(Effect.either)
      if (checked._tag === "Left" || checked.right._tag !== "Valid") {
        const result = checked._tag === "Left" ? unreadable(file, checked.left.reason) : checkResultInfo(checked.right)
        yield* Effect.logError("configuration reload refused; the running configuration stays").pipe(
          Effect.annotateLogs({
            event: "config-reload-failed",
            file,
            trigger,
            error: result._tag === "Valid" ? "" : result.errors.map((e) => formatIssue(e, file)).join("\n")
          })
        )
        return { file, result }
      }
      const valid = checked.right
      for (const warning of valid.warnings) {
        yield* Effect.logWarning(formatIssue(warning, file)).pipe(
          Effect.annotateLogs({ event: "config-warning", file, key: warning.path })
        )
      }
      yield* Daemon.reload(valid.config).pipe(Effect.provide(services))
      yield* Ref.set(overrides, NONE)
      yield* Effect.logInfo("configuration reloaded").pipe(Effect.annotateLogs({ event: "config-reload", file, trigger }))
      return { file, result: checkResultInfo(valid) }
    }))
  })

  /** Evicts the sessions of the member's AS, when its desired weight is 0 now (best effort: logged when it fails). */
  const flush = (config: Config, frontend: Frontend, backend: string) =>
    Effect.gen(function*() {
      const health = yield* checker.health
      const vip = desiredVip(frontend, config, statusIn(health))
      const as = vip.ases.find((a) => a.backend === backend)
      if (as === undefined || as.weight !== 0) {
        return yield* Effect.logWarning("flush skipped: the AS still takes traffic through another pool").pipe(
          Effect.annotateLogs({ event: "frontend-weight-flush-skipped", frontend: frontend.name, backend, weight: as?.weight ?? -1 })
        )
      }
      const op: LbOp = {
        _tag: "AsWeight",
        vip: keyOf(vip),
        frontend: frontend.name,
        address: as.address,
        backend,
        weight: 0,
        flush: true
      }
      const connected = yield* vpp.connected
      yield* Effect.flatten(Requests.start(connected.connection, op))
      const d = describeOp(op)
      yield* Effect.logInfo(d.event).pipe(Effect.annotateLogs({ event: d.event, ...d.fields, reason: "operator flush" }))
    }).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning("flush failed").pipe(
          Effect.annotateLogs({ event: "frontend-weight-flush-failed", frontend: frontend.name, backend, error: e.message })
        )
      )
    )

  const setWeight = Effect.fn("Control.setWeight")(function*(request: SetWeightRequest) {
    return yield* lock.withPermits(1)(Effect.gen(function*() {
      const { backend, frontend, pool, weight } = request
      if (request.flush === true && weight !== 0) {
        return yield* new InvalidArgument({ reason: "flush applies only when setting weight 0" })
      }
      const config = yield* checker.config
      const f = config.frontends.get(frontend)
      if (f === undefined) return yield* new NotFound({ kind: "frontend", name: frontend })
      const p = f.pools.find((p) => p.name === pool)
      if (p === undefined) return yield* new NotFound({ kind: "pool", name: `${frontend}/${pool}` })
      const m = p.backends.find((m) => m.backend === backend)
      if (m === undefined) return yield* new NotFound({ kind: "pool-member", name: memberKey(frontend, pool, backend) })

      let running = config
      if (m.weight !== weight) {
        const o = yield* current(config)
        const key = memberKey(frontend, pool, backend)
        const fileWeight = o.fileWeights.get(key) ?? m.weight
        const fileWeights = new Map(o.fileWeights)
        if (weight === fileWeight) fileWeights.delete(key)
        else fileWeights.set(key, fileWeight)
        running = withMemberWeight(config, frontend, pool, backend, weight)
        yield* checker.reload(running)
        yield* Ref.set(overrides, { applied: running, fileWeights })
        yield* Effect.logInfo("pool member weight set until the next reload").pipe(
          Effect.annotateLogs({ event: "frontend-weight-set", frontend, pool, backend, weight, file_weight: fileWeight })
        )
        yield* sync.sync({ frontend }).pipe(
          Effect.catchAll((e) =>
            (e._tag === "VppUnavailable" ? Effect.logDebug : Effect.logWarning)("weight set; VPP follows at the next sync").pipe(
              Effect.annotateLogs({ event: "frontend-weight-sync-failed", frontend, error: e.message })
            )
          )
        )
      }
      const after = running.frontends.get(frontend) ?? f
      if (request.flush === true) yield* flush(running, after, backend)
      return after
    }))
  })

  return Control.of({ configFile: options.configFile, snapshot, checkFile, reloadFile, setWeight })
})

export const layer = (
  options: ControlOptions
): Layer.Layer<Control, never, HealthChecker.HealthChecker | LbSync.LbSync | Supervisor.VppSupervisor> =>
  Layer.effect(Control, make(options))
