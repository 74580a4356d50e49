/**
 * Checking and loading `maglev.yaml`: the one entry point behind
 * `maglevd --check`, the `CheckConfig` RPC and the daemon's (re)load.
 *
 *   file ─▶ ReadFile (a regular file, within the size limit) ─▶ text
 *   text ─▶ Raw.read (YAML syntax, shape, kinds, bounds) ─▶ Validate.validate (meaning, defaults)
 *             │ errors: ParseError (exit 1)                      │ errors: SemanticError (exit 2)
 *                                                               ▼
 *                                                         Valid { config, warnings }
 *
 * A running daemon checks a big file on a worker thread (`offThread`), so that
 * its probes, API and signals go on meanwhile.
 */
import { Effect } from "effect"
import type { Config } from "./Config.js"
import { ConfigError } from "./Errors.js"
import { formatIssue } from "./Issue.js"
import { checkConfigText, checkPlainText } from "./internal/CheckText.js"
import { checkOffThread } from "./internal/OffThread.js"
import { DEFAULT_MAX_BYTES, readConfigFile } from "./internal/ReadFile.js"

export { checkConfigText, type CheckOptions, checkReadable } from "./internal/CheckText.js"
export { DEFAULT_MAX_BYTES } from "./internal/ReadFile.js"

/**
 * Texts up to this size are checked in the caller's thread: a few
 * milliseconds, less than starting a worker.
 */
export const OFF_THREAD_ABOVE = 16 * 1024

export interface FileOptions {
  /** Files over this many bytes are refused (`--config-max-bytes`); default 4 MiB. */
  readonly maxBytes?: number | undefined
  /**
   * Check a text over 16 KiB on a worker thread (the running daemon: its
   * probes, API and signals go on meanwhile); default false.
   * `"unless-plain"`: in this thread when the text is plain YAML (Simple.ts
   * reads it, and the check is quick and linear), else on a worker. For the
   * daemon's start-up, when nothing runs yet but signals: a worker's start and
   * its own loading of the modules cost more than the check of 10,000
   * backends.
   */
  readonly offThread?: boolean | "unless-plain" | undefined
}

/** Reads and checks a configuration file: `ConfigFileError` when it cannot be read (or is refused unread). */
export const checkConfigFile = Effect.fn("Config.checkConfigFile")(function*(path: string, options: FileOptions = {}) {
  const text = yield* readConfigFile(path, options.maxBytes ?? DEFAULT_MAX_BYTES)
  if (options.offThread === "unless-plain" && text.length > OFF_THREAD_ABOVE) {
    const plain = yield* Effect.sync(() => checkPlainText(text, { file: path }))
    return plain ?? (yield* checkOffThread(text, path))
  }
  if (options.offThread === true && text.length > OFF_THREAD_ABOVE) return yield* checkOffThread(text, path)
  return yield* Effect.sync(() => checkConfigText(text, { file: path }))
})

/**
 * Loads the configuration for the daemon: a valid one is returned and its
 * warnings logged (event `config-warning`); anything else fails with every
 * error in it.
 */
export const loadConfig = Effect.fn("Config.loadConfig")(function*(path: string, options: FileOptions = {}) {
  const result = yield* checkConfigFile(path, options)
  if (result._tag !== "Valid") return yield* new ConfigError({ result, file: path })
  for (const warning of result.warnings) {
    yield* Effect.logWarning(formatIssue(warning, path)).pipe(
      Effect.annotateLogs({ event: "config-warning", file: path, key: warning.path })
    )
  }
  return result.config satisfies Config
})
