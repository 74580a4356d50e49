/**
 * What a configuration check reports, and how `maglevd --check` prints it.
 *
 * The same values back the `CheckConfig` RPC later, so `ConfigIssue` is a
 * Schema and holds only printable data: the offending value is already its
 * short text form.
 */
import { Schema } from "effect"
import type { Config } from "./Config.js"

export const ConfigIssue = Schema.Struct({
  /** `maglev.frontends.web.pools[1].backends.web3`; "" for YAML syntax errors and the document itself. */
  path: Schema.String,
  /** The offending value in short printable form (strings JSON-quoted, collections as `{…}` / `[…]`). */
  value: Schema.optional(Schema.String),
  /** The rule that was broken, in words: `expected an integer`, `backend "web9" is not defined`. */
  rule: Schema.String,
  /** 1-based, when the issue can be pinned to a place in the file. */
  line: Schema.optional(Schema.Int),
  column: Schema.optional(Schema.Int)
})
export interface ConfigIssue extends Schema.Schema.Type<typeof ConfigIssue> {}

export interface Valid {
  readonly _tag: "Valid"
  readonly config: Config
  readonly warnings: ReadonlyArray<ConfigIssue>
}

/** The YAML could not be read into the configuration's shape (syntax, keys, types). */
export interface ParseError {
  readonly _tag: "ParseError"
  readonly errors: ReadonlyArray<ConfigIssue>
}

/** The shape is right but what it says is not (references, ranges, families, ...). */
export interface SemanticError {
  readonly _tag: "SemanticError"
  readonly errors: ReadonlyArray<ConfigIssue>
  readonly warnings: ReadonlyArray<ConfigIssue>
}

export type CheckResult = Valid | ParseError | SemanticError

/** `maglevd --check`'s exit status: 0 valid, 1 YAML or structural error, 2 semantic error. */
export const exitCode = (result: CheckResult): 0 | 1 | 2 =>
  result._tag === "Valid" ? 0 : result._tag === "ParseError" ? 1 : 2

/**
 * One issue as a line: `maglev.yaml:12:7: maglev.frontends.web.pools[1].backends.web9:
 * backend "web9" is not defined`. The `file:line:column:` prefix is what editors
 * and CI log viewers turn into a link; `severity`, when given, follows it.
 */
export const formatIssue = (issue: ConfigIssue, file?: string, severity?: "error" | "warning"): string => {
  const where = [file, issue.line, issue.line === undefined ? undefined : issue.column].filter((p) => p !== undefined)
  let out = where.length > 0 ? `${where.join(":")}: ` : ""
  if (severity !== undefined) out += `${severity}: `
  if (issue.path !== "") out += `${issue.path}: `
  out += issue.rule
  if (issue.value !== undefined) out += ` (value: ${issue.value})`
  return out
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`

/**
 * What `maglevd --check` prints: every error, then every warning, one per line
 * (`checkConfigText` puts each list in file order), then a summary line.
 */
export const formatCheckResult = (result: CheckResult, file?: string): string => {
  const lines: Array<string> = []
  const label = file ?? "configuration"
  if (result._tag !== "Valid") for (const e of result.errors) lines.push(formatIssue(e, file, "error"))
  const warnings = result._tag === "ParseError" ? [] : result.warnings
  for (const w of warnings) lines.push(formatIssue(w, file, "warning"))
  const warned = warnings.length > 0 ? `, ${plural(warnings.length, "warning")}` : ""
  switch (result._tag) {
    case "Valid": {
      const c = result.config
      lines.push(
        `${label}: valid: ${plural(c.frontends.size, "frontend")}, ${plural(c.backends.size, "backend")}, ` +
          `${plural(c.healthchecks.size, "healthcheck")}${warned}`
      )
      break
    }
    case "ParseError":
      lines.push(`${label}: invalid: ${plural(result.errors.length, "error")} reading the YAML (structural check)`)
      break
    case "SemanticError":
      lines.push(`${label}: invalid: ${plural(result.errors.length, "error")}${warned} (semantic check)`)
      break
  }
  return lines.join("\n") + "\n"
}
