/**
 * The configuration module: `maglev.yaml` checked in two stages into the
 * validated `Config` (see docs/config-guide.md).
 */
export type * from "./Config.js"
export {
  checkConfigFile,
  checkConfigText,
  checkReadable,
  DEFAULT_MAX_BYTES,
  type CheckOptions,
  type FileOptions,
  loadConfig
} from "./Check.js"
export { healthCheckEquals } from "./Equality.js"
export { formatDuration, parseDuration } from "./Duration.js"
export { ConfigError, ConfigFileError } from "./Errors.js"
export {
  type CheckResult,
  ConfigIssue,
  exitCode,
  formatCheckResult,
  formatIssue,
  type ParseError,
  type SemanticError,
  type Valid
} from "./Issue.js"
export { Defaults } from "./Validate.js"
