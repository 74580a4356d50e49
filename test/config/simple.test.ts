/**
 * Simple.ts, the fast reader of plain YAML in front of the `yaml` package:
 * whatever it accepts, the check must say exactly what it says through the
 * package (the same configuration, the same errors and warnings at the same
 * lines and columns), and what it cannot read it must leave to the package.
 * Compared on the shipped files, the YAML of the configuration guide, and
 * texts made of configuration lines in many spellings and then damaged at
 * random (a property).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { checkConfigText } from "../../src/config/Check.js"
import { readSimple } from "../../src/config/internal/Simple.js"
import { repoRoot } from "../support/paths.js"
import { bigConfig } from "./bigConfig.js"
import { configYaml } from "./support.js"

const readable = () => undefined

/** The check through Simple.ts (when it reads the text) and through the package alone. */
const both = (text: string) => ({
  simple: checkConfigText(text, { checkReadable: readable }),
  yaml: checkConfigText(text, { checkReadable: readable, simple: false })
})

const expectSame = (text: string): void => {
  const { simple, yaml } = both(text)
  expect(simple, text).toEqual(yaml)
}

const file = (...parts: Array<string>) => fs.readFileSync(path.join(repoRoot, ...parts), "utf8")

/** The ```yaml blocks of the configuration guide: real spellings, valid and not. */
const guideBlocks = (): ReadonlyArray<string> =>
  [...file("docs", "config-guide.md").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)

describe("Simple.ts reads plain YAML as the yaml package does", () => {
  it("reads the shipped files and generated big ones itself, with the package's result", () => {
    for (const text of [file("examples", "maglev.yaml"), file("packaging", "etc", "maglev.yaml"), bigConfig(300).text, configYaml()]) {
      expect(readSimple(text, 1_000_000)).toBeDefined()
      expectSame(text)
    }
  })

  it("reads plain YAML of the wrong shape itself, with the package's errors", () => {
    for (const text of ["maglev:\n- a\n- b\n", "maglev:\n  backends: [a, {b: c}]\n", "maglev: 3\n", "maglev:\n  backends:\n    b1: yes\n    2: no\n"]) {
      expect(readSimple(text, 1_000_000), text).toBeDefined()
      expectSame(text)
    }
  })

  it("gives the package's result on every YAML block of the configuration guide", () => {
    const blocks = guideBlocks()
    expect(blocks.length).toBeGreaterThan(3)
    for (const text of blocks) expectSame(text)
  })

  it("leaves what it does not read to the package: anchors, block scalars, tags, tabs, documents, multi-line scalars", () => {
    const texts = [
      "maglev:\n  healthchecks:\n    h: &h { type: tcp, port: 80 }\n    g: *h\n",
      "maglev:\n  frontends:\n    f:\n      description: |\n        two\n        lines\n",
      "maglev:\n  backends:\n    b: !!map { address: 10.0.0.1 }\n",
      "maglev:\n\tbackends: {}\n",
      "---\nmaglev: {}\n",
      "maglev:\n  frontends:\n    f:\n      description: a plain scalar\n        on two lines\n",
      "maglev:\n  frontends:\n    f:\n      description: \"a quoted\n        one\"\n",
      "maglev:\r\n  backends: {}\r\n",
      "? maglev\n: {}\n"
    ]
    for (const text of texts) {
      expect(readSimple(text, 1_000_000), text).toBeUndefined()
      expectSame(text)
    }
  })

  it("types digits and dots as the package does: integers, floats, addresses, and what only looks like them", () => {
    const values = ["80", "0080", "0", "+80", "-1", "1.5", "1.", ".5", "1.2.3.4", "1..2", "..", ".", "1.2.3e4", "10.0.0.1x", "0x50", "0o17", "1e3", "080.1"]
    for (const v of values) {
      for (const text of [
        `maglev:\n  frontends:\n    f:\n      description: ${v}\n      port: ${v}\n`,
        `maglev:\n  backends: { b: { address: ${v}, healthcheck: ${v} } }\n`
      ]) {
        // `-` starts a sequence's item: that one is the package's.
        if (!v.startsWith("-")) expect(readSimple(text, 1_000_000), text).toBeDefined()
        expectSame(text)
      }
    }
  })

  // Lines of a configuration in several spellings; a text is some of them, in order, then damaged.
  const spellings: ReadonlyArray<ReadonlyArray<string>> = [
    ["maglev:", "maglev:  # the top", "\"maglev\":", "maglev: {}", "maglev: ~"],
    ["  healthchecker: { transition-history: 5 }", "  healthchecker:\n    transition-history: 0x10\n    netns: \"\"", ""],
    ["  vpp:\n    lb:\n      ipv4-src-address: 192.0.2.1", "  vpp: { lb: { ipv4-src-address: '192.0.2.1', sync-interval: 30s } }", ""],
    ["  healthchecks:", "  healthchecks: # checks"],
    [
      "    hc: { type: http, port: 80, interval: 2s, http: { path: /health, expected-codes: [200, \"300-399\"] } }",
      "    hc:\n      type: tcp\n      port: 0o120\n      rise: 2\n      fall: 3.0",
      "    'hc': { type: http, port: 80, http: { headers: { X-A: \"b\\\"c\" }, response-regex: 'it''s ok' } }",
      "    hc: {type: icmp, timeout: 1.5s, enabled: true}",
      "    hc: { type: tcp, port: 80, }"
    ],
    ["  backends:"],
    [
      "    b1: { address: 10.0.0.1, healthcheck: hc }\n    b2: { address: 10.0.0.2, healthcheck: hc, enabled: false }",
      "    b1:\n      address: 10.0.0.1\n      healthcheck: hc\n    b2: {address: 2001:db8::2, healthcheck: hc}",
      "    b1: { address: 10.0.0.1, healthcheck: hc }\n    b1: { address: 10.0.0.3, healthcheck: hc }",
      "    b1: { address: 10.0.0.1, healthcheck: hc, weight: 3 }"
    ],
    ["  frontends:"],
    [
      "    web:\n      address: 192.0.2.10\n      protocol: tcp\n      port: 80\n      pools:\n        - name: main\n          backends: { b1: , b2: }",
      "    web:\n      address: 192.0.2.10/32\n      port: 443\n      pools:\n      - name: main\n        backends:\n          b1: { weight: 50 }\n          b2:\n      - name: spare\n        backends: { b1 }",
      "    web: { address: 192.0.2.10, protocol: udp, port: 53, pools: [{ name: main, backends: { b1: {weight: 1} } }] }",
      "    web:\n      pools:\n        -\n          name: main\n          backends: {b2: {}}"
    ]
  ]

  const text = fc.tuple(...spellings.map((choices) => fc.constantFrom(...choices))).map((lines) =>
    lines.filter((l) => l !== "").join("\n") + "\n"
  )

  /** A text with a few characters replaced, inserted or deleted: what a typo makes of it. */
  const damaged = fc.tuple(
    text,
    fc.array(
      fc.tuple(fc.nat(), fc.constantFrom("insert", "delete", "replace"), fc.constantFrom(..." :-#{}[],\"'\n\tab0.~&*|>!?%@`\\")),
      { maxLength: 3 }
    )
  ).map(([t, edits]) => {
    let s = t
    for (const [at, kind, c] of edits) {
      const i = at % (s.length + 1)
      s = kind === "insert" ? s.slice(0, i) + c + s.slice(i) : kind === "delete" ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + c + s.slice(i + 1)
    }
    return s
  })

  it.prop("a configuration in any of these spellings: the package's result", [text], ([t]) => {
    expectSame(t)
  }, { fastCheck: { numRuns: 200 } })

  it.prop("the same, damaged: the package's result (errors at the same places), or left to the package", [damaged], ([t]) => {
    expectSame(t)
  }, { fastCheck: { numRuns: 600 } })
})
