/**
 * The operator's changes to the running configuration, serialised by one
 * lock: reloading the file (the `ReloadConfig` RPC, and SIGHUP once main.ts
 * calls `reloadFile`) and runtime weight overrides
 * (`SetFrontendPoolBackendWeight`).
 *
 * Both go to `RunningConfig`, the configuration's one owner: a reload
 * replaces it whole (the health checker and the LB sync follow it), a weight
 * override is an override, not a new configuration: it lasts until the next
 * reload of the file, the health checker never sees it, and the LB sync
 * recomputes only that frontend's VIP. VPP is changed only by the LB sync.
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { Frontend } from "../config/Config.js"
import { checkConfigFile } from "../config/Check.js"
import { formatIssue } from "../config/Issue.js"
import * as RunningConfig from "../config/RunningConfig.js"
import * as HealthChecker from "../health/HealthChecker.js"
import * as LbSync from "../lb/LbSync.js"
import type * as Panic from "../lb/Panic.js"
import { type ConfigCheck, InvalidArgument, NotFound } from "./Api.js"
import { checkResultInfo, type Snapshot, unreadable } from "./Info.js"

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
  /** Every change of the running configuration from now on (a reload, a weight override). */
  readonly configChanges: Stream.Stream<void>
  /** The frontends of each slow-start step from now on (`LbSync.rampSteps`). */
  readonly rampSteps?: Stream.Stream<ReadonlyArray<string>> | undefined
  /** Every panic (min-healthy) start and end from now on (`LbSync.panicEvents`). */
  readonly panicEvents?: Stream.Stream<Panic.PanicEvent> | undefined
  /** Checks a file (default: the daemon's); applies nothing. */
  readonly checkFile: (path?: string | undefined) => Effect.Effect<ConfigCheck>
  /**
   * Re-reads the daemon's file and, when it is valid, applies it
   * (`RunningConfig.replace`): weight overrides are dropped. An invalid file leaves the
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

export const make = Effect.fn("Control.make")(function*(options: ControlOptions) {
  const running = yield* RunningConfig.RunningConfig
  const checker = yield* HealthChecker.HealthChecker
  const sync = yield* LbSync.LbSync
  const lock = yield* Effect.makeSemaphore(1)

  const snapshot = Effect.gen(function*() {
    const r = yield* running.get
    const health = yield* checker.health
    const fileWeights = new Map<string, number>()
    for (const key of r.weights.keys()) {
      const [frontend, pool, backend] = key.split("/")
      const m = r.file.frontends.get(frontend!)?.pools.find((p) => p.name === pool)?.backends.find((m) => m.backend === backend)
      if (m !== undefined) fileWeights.set(key, m.weight)
    }
    return { config: r.effective, health, fileWeights, ramps: yield* sync.ramps, panics: yield* sync.panics } satisfies Snapshot
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
      yield* running.replace(valid.config)
      yield* Effect.logInfo("configuration reloaded").pipe(Effect.annotateLogs({ event: "config-reload", file, trigger }))
      return { file, result: checkResultInfo(valid) }
    }))
  })

  const setWeight = Effect.fn("Control.setWeight")(function*(request: SetWeightRequest) {
    return yield* lock.withPermits(1)(Effect.gen(function*() {
      const { backend, frontend, pool, weight } = request
      if (request.flush === true && weight !== 0) {
        return yield* new InvalidArgument({ reason: "flush applies only when setting weight 0" })
      }
      const set = yield* running.setWeight(frontend, pool, backend, weight).pipe(
        Effect.mapError((e) => new NotFound({ kind: e.kind, name: e.name }))
      )
      if (set.changed) {
        yield* Effect.logInfo("pool member weight set until the next reload").pipe(
          Effect.annotateLogs({ event: "frontend-weight-set", frontend, pool, backend, weight, file_weight: set.fileWeight })
        )
      }
      if (set.changed || request.flush === true) {
        // The LB sync applies it (VPP's one writer); the caller waits for VPP's answer.
        yield* sync.reconcileFrontend(frontend, { flush: request.flush === true ? backend : undefined, reason: "weight override" }).pipe(
          Effect.catchAll((e) =>
            Effect.zipRight(
              (e._tag === "VppUnavailable" ? Effect.logDebug : Effect.logWarning)("weight set; VPP follows at the next sync").pipe(
                Effect.annotateLogs({ event: "frontend-weight-sync-failed", frontend, error: e.message })
              ),
              request.flush === true
                ? Effect.logWarning("flush failed").pipe(
                  Effect.annotateLogs({ event: "frontend-weight-flush-failed", frontend, backend, error: e.message })
                )
                : Effect.void
            )
          )
        )
      }
      return set.frontend
    }))
  })

  return Control.of({
    configFile: options.configFile,
    snapshot,
    configChanges: running.changes.pipe(Stream.drop(1), Stream.as(undefined)),
    rampSteps: sync.rampSteps,
    panicEvents: sync.panicEvents,
    checkFile,
    reloadFile,
    setWeight
  })
})

export const layer = (
  options: ControlOptions
): Layer.Layer<Control, never, RunningConfig.RunningConfig | HealthChecker.HealthChecker | LbSync.LbSync> =>
  Layer.effect(Control, make(options))
