/**
 * Why a configuration could not be loaded. Both stay inside the daemon; the
 * `CheckConfig` RPC reports a `CheckResult` instead of failing.
 */
import { Data } from "effect"
import { formatCheckResult, type ParseError, type SemanticError } from "./Issue.js"

/** The file itself could not be read (missing, unreadable, not a file). */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot read ${this.path}: ${this.reason}`
  }
}

/** The file was read but is not a valid configuration. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly result: ParseError | SemanticError
  /** The file it came from, for the message. */
  readonly file?: string
}> {
  override get message(): string {
    return formatCheckResult(this.result, this.file).trimEnd()
  }
}
