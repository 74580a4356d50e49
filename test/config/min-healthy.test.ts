/**
 * `min-healthy` in the configuration: a count or a percentage, what is refused
 * (with the path, the rule and the value as written) and what only warns.
 */
import { describe, expect, it } from "@effect/vitest"
import { check, configYaml, errorsOf, warningsOf } from "./support.js"

const backends = ["b1", "b2", "b3", "b4", "b5"].map((b, i) => `${b}: { address: 10.0.0.${i + 1}, healthcheck: hc }`).join("\n")
const web = (minHealthy: string, pools = "[{ name: main, backends: { b1: , b2: , b3: , b4: } }, { name: spare, backends: { b5: } }]") =>
  configYaml({ backends, frontends: `web: { address: 192.0.2.10, protocol: tcp, port: 80, min-healthy: ${minHealthy}, pools: ${pools} }` })

const frontendOf = (yaml: string) => {
  const r = check(yaml)
  if (r._tag !== "Valid") throw new Error(JSON.stringify(r))
  return r.config.frontends.get("web")!
}

describe("min-healthy", () => {
  it("a count, a percentage (decimals allowed), or left out (off)", () => {
    expect(frontendOf(web("2")).minHealthy).toEqual({ kind: "count", value: 2 })
    expect(frontendOf(web("50%")).minHealthy).toEqual({ kind: "percent", value: 50 })
    expect(frontendOf(web('"33.3%"')).minHealthy).toEqual({ kind: "percent", value: 33.3 })
    expect(frontendOf(web("100%")).minHealthy).toEqual({ kind: "percent", value: 100 })
    expect("minHealthy" in frontendOf(configYaml({ backends, frontends: "web: { address: 192.0.2.10, protocol: tcp, port: 80, pools: [{ name: main, backends: { b1: } }] }" }))).toBe(false)
  })

  const refused: ReadonlyArray<readonly [written: string, rule: string]> = [
    ["0", "must be at least 1 (leave min-healthy out to turn the guard off)"],
    ["-1", "must be at least 1 (leave min-healthy out to turn the guard off)"],
    ["0%", "must be a percentage above 0% and at most 100% (leave min-healthy out to turn the guard off)"],
    ["150%", "must be a percentage above 0% and at most 100% (leave min-healthy out to turn the guard off)"],
    ["half", "must be a number of backends like 2 or a percentage like 50%"],
    ['"2"', "must be a number of backends like 2 or a percentage like 50%"],
    ["5", "is more than the backends with weight > 0 of every pool (the largest has 4): the frontend could never leave panic"]
  ]
  for (const [written, rule] of refused) {
    it(`refuses ${written}, naming the field and the value`, () => {
      const r = check(web(written))
      expect(r._tag).toBe("SemanticError")
      expect(errorsOf(r).map((e) => ({ path: e.path, rule: e.rule, value: e.value }))).toEqual([
        // A string is shown quoted, as every string value of an issue is.
        { path: "maglev.frontends.web.min-healthy", rule, value: /^(-?\d+|".*")$/.test(written) ? written : JSON.stringify(written) }
      ])
    })
  }

  it("a count above a pool's size warns, naming the pool; weight-0 members do not count", () => {
    const r = check(web("2", "[{ name: main, backends: { b1: , b2: , b3: , b4: { weight: 0 } } }, { name: spare, backends: { b5: } }]"))
    expect(r._tag).toBe("Valid")
    expect(warningsOf(r).map((w) => [w.path, w.rule, w.value])).toEqual([
      ["maglev.frontends.web.min-healthy", 'is more than the 1 backends with weight > 0 of pool "spare": while that pool is the active one, the frontend is in panic', "2"]
    ])
    expect(errorsOf(check(web("4", "[{ name: main, backends: { b1: , b2: , b3: , b4: { weight: 0 } } }]")))[0]?.rule).toContain("the largest has 3")
  })

  it("is a structural error when it is neither a number nor a string", () => {
    const r = check(web("[1]"))
    expect(r._tag).toBe("ParseError")
    expect(errorsOf(r)[0]).toMatchObject({ path: "maglev.frontends.web.min-healthy", rule: "expected an integer or a string" })
  })
})
