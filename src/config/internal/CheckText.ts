/**
 * The check of a configuration's text, in the daemon's thread or a worker's
 * (CheckWorker.ts imports this and not Check.ts, which would bring the worker
 * launcher along).
 *
 *   text ─▶ Raw.read (YAML syntax, shape, kinds) ─▶ Validate.validate (meaning, defaults)
 *             │ errors: ParseError (exit 1)            │ errors: SemanticError (exit 2)
 *                                                     ▼
 *                                               Valid { config, warnings }
 */
import * as fs from "node:fs"
import { type CheckResult, type ConfigIssue } from "../Issue.js"
import { read, readPlain } from "../Raw.js"
import { validate } from "../Validate.js"

export interface CheckOptions {
  /** The file the text came from: a relative `ca-file` is resolved against its directory. */
  readonly file?: string | undefined
  /**
   * Why a file the configuration names (`ca-file`) cannot be read, or undefined
   * when it can. Defaults to opening it with `node:fs`.
   */
  readonly checkReadable?: (path: string) => string | undefined
  /** false: read the YAML with the `yaml` package even when Simple.ts could (for the tests that compare the two). */
  readonly simple?: boolean | undefined
}

/** Opening is the test that counts: `access(R_OK)` says yes to root for anything. */
export const checkReadable = (path: string): string | undefined => {
  try {
    if (!fs.statSync(path).isFile()) return "not a regular file"
    fs.closeSync(fs.openSync(path, "r"))
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/** File order, as a compiler lists its errors; issues about the whole file first. */
const inFileOrder = (issues: ReadonlyArray<ConfigIssue>): ReadonlyArray<ConfigIssue> =>
  [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))

/** Checks a configuration's text; reads no file but the ones it names (`ca-file`). */
export const checkConfigText = (text: string, options: CheckOptions = {}): CheckResult =>
  checkRead(read(text, { simple: options.simple !== false }), options)

/**
 * Checks a configuration's text if it is plain YAML (Simple.ts reads it: the
 * check is then linear in the text and quick, 10,000 backends add ~0.25 s of
 * CPU to a one-shot --check: npm run bench -- check); undefined when it is
 * not, for the caller to check it elsewhere.
 */
export const checkPlainText = (text: string, options: CheckOptions = {}): CheckResult | undefined => {
  const plain = readPlain(text)
  return plain === undefined ? undefined : checkRead(read(text, { simple: plain }), options)
}

const checkRead = (raw: ReturnType<typeof read>, options: CheckOptions): CheckResult => {
  if (raw._tag === "Unreadable") return { _tag: "ParseError", errors: inFileOrder(raw.errors) }
  const { config, errors, warnings } = validate(raw.raw, raw.walk, {
    file: options.file,
    checkReadable: options.checkReadable ?? checkReadable
  })
  if (config === undefined) return { _tag: "SemanticError", errors: inFileOrder(errors), warnings: inFileOrder(warnings) }
  return { _tag: "Valid", config, warnings: inFileOrder(warnings) }
}
