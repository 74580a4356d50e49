/**
 * Building configurations for the config tests: a small valid one whose
 * sections a case replaces one at a time, so each case shows only what it
 * breaks.
 */
import { checkConfigText, type CheckOptions } from "../../src/config/Check.js"
import type { CheckResult, ConfigIssue } from "../../src/config/Issue.js"

export interface Sections {
  readonly healthchecker?: string
  readonly lb?: string
  readonly healthchecks?: string
  readonly backends?: string
  readonly frontends?: string
}

export const base = {
  lb: "ipv4-src-address: 192.0.2.1",
  healthchecks: "hc: { type: tcp, port: 80 }",
  backends: ["b1: { address: 10.0.0.1, healthcheck: hc }", "b2: { address: 10.0.0.2, healthcheck: hc }"].join("\n"),
  frontends: [
    "web:",
    "  address: 192.0.2.10",
    "  protocol: tcp",
    "  port: 80",
    "  pools:",
    "    - name: main",
    "      backends: { b1: , b2: }"
  ].join("\n")
} as const

const indent = (text: string, by: number): string =>
  text
    .split("\n")
    .map((line) => (line === "" ? line : " ".repeat(by) + line))
    .join("\n")

/** The YAML of the base configuration with some sections replaced (a section of "" is left out). */
export const configYaml = (sections: Sections = {}): string => {
  const s = { ...base, ...sections }
  const out = ["maglev:"]
  if (s.healthchecker !== undefined && s.healthchecker !== "") out.push("  healthchecker:", indent(s.healthchecker, 4))
  if (s.lb !== "") out.push("  vpp:", "    lb:", indent(s.lb, 6))
  for (const key of ["healthchecks", "backends", "frontends"] as const) {
    if (s[key] !== "") out.push(`  ${key}:`, indent(s[key], 4))
  }
  return out.join("\n") + "\n"
}

export const check = (yaml: string, options?: CheckOptions): CheckResult => checkConfigText(yaml, options)

export const errorsOf = (result: CheckResult): ReadonlyArray<ConfigIssue> => (result._tag === "Valid" ? [] : result.errors)

export const warningsOf = (result: CheckResult): ReadonlyArray<ConfigIssue> =>
  result._tag === "ParseError" ? [] : result.warnings
