/**
 * Whether anyone wants log records at a level right now: the stdout logger at
 * its `--log-level`, or a `WatchEvents` watcher at the level it asked for
 * (api/LogHub.ts provides this). Effect's minimum log level is fixed per
 * fiber, and maglevd runs at Debug so that a watcher can get debug records;
 * code that would build many records nobody reads (one per binary-API
 * message) asks here first, each time.
 *
 * Without a provider every level is wanted, and the fiber's minimum level
 * alone decides, as Effect does.
 */
import { Context, type LogLevel } from "effect"

export interface LogDemandShape {
  readonly wants: (level: LogLevel.LogLevel) => boolean
}

export class LogDemand extends Context.Reference<LogDemand>()("vpp-maglev/LogDemand", {
  defaultValue: (): LogDemandShape => ({ wants: () => true })
}) {}
