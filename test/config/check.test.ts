/**
 * The configuration as a whole: every default, canonical forms, valid
 * corner cases, several errors at once, warnings, the shipped example, the
 * printed output of `maglevd --check`, and the Effect entry points.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, HashMap, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { checkConfigFile, checkConfigText, loadConfig } from "../../src/config/Check.js"
import { healthCheckEquals } from "../../src/config/Equality.js"
import type { Config, HealthCheck } from "../../src/config/Config.js"
import { ConfigError, ConfigFileError } from "../../src/config/Errors.js"
import { type CheckResult, exitCode, formatCheckResult, formatIssue } from "../../src/config/Issue.js"
import { repoRoot } from "../support/paths.js"
import { bigConfig } from "./bigConfig.js"
import { base, check, configYaml, errorsOf, warningsOf } from "./support.js"

const valid = (yaml: string): Config => {
  const result = check(yaml)
  if (result._tag !== "Valid") throw new Error(formatCheckResult(result))
  return result.config
}

const seconds = (s: number): Duration.Duration => Duration.millis(s * 1000)

describe("defaults", () => {
  const config = valid(`
maglev:
  vpp:
    lb: { ipv4-src-address: 192.0.2.1 }
  healthchecks:
    h: { type: http, port: 80 }
    s: { type: https, port: 443, http: { host: "www.example.com:8443" } }
    t: { type: tcp, port: 22 }
    i: { type: icmp }
  backends:
    b: { address: 10.0.0.1, healthcheck: h }
  frontends:
    f:
      address: 192.0.2.10
      protocol: any
      pools:
        - name: p
          backends: { b: }
`)

  it("healthchecker: transition-history 5, netns empty", () => {
    expect(config.healthchecker).toEqual({ transitionHistory: 5, netns: "" })
  })

  it("vpp.lb: 30s sync, 65536 sticky buckets, 40s flow timeout, 5s/30s startup delays", () => {
    expect(config.vpp.lb).toEqual({
      ipv4SrcAddress: "192.0.2.1",
      ipv6SrcAddress: undefined,
      syncInterval: seconds(30),
      stickyBucketsPerCore: 65536,
      flowTimeoutSeconds: 40,
      startupMinDelay: seconds(5),
      startupMaxDelay: seconds(30)
    })
  })

  it("a healthcheck: 2s interval, interval/2 fast, 2×interval down, 1s timeout, rise 2, fall 3", () => {
    const h = config.healthchecks.get("h")!
    expect(h).toMatchObject({ name: "h", type: "http", port: 80, rise: 2, fall: 3, probeIpv4Src: undefined, probeIpv6Src: undefined, tcp: undefined })
    expect(h.interval).toStrictEqual(seconds(2))
    expect(h.fastInterval).toStrictEqual(seconds(1))
    expect(h.downInterval).toStrictEqual(seconds(4))
    expect(h.timeout).toStrictEqual(seconds(1))
  })

  it("http params are filled in even without an http block", () => {
    expect(config.healthchecks.get("h")!.http).toEqual({
      method: "GET",
      path: "/",
      host: undefined,
      headers: [],
      expectedCodes: [{ from: 200, to: 399 }],
      responseRegex: undefined,
      serverName: undefined,
      insecure: false,
      caFile: undefined
    })
  })

  it("https takes its SNI from a host name", () => {
    expect(config.healthchecks.get("s")!.http).toMatchObject({ host: "www.example.com:8443", serverName: "www.example.com" })
  })

  it("tcp params are filled in for tcp checks, and only for them", () => {
    const t = config.healthchecks.get("t")!
    expect(t.tcp).toEqual({ send: undefined, expect: undefined, tls: false, serverName: undefined, insecure: false })
    expect(t.http).toBeUndefined()
  })

  it("icmp has neither a port nor params", () => {
    expect(config.healthchecks.get("i")).toMatchObject({ type: "icmp", port: undefined, http: undefined, tcp: undefined })
  })

  it("a backend is enabled", () => {
    expect(config.backends.get("b")).toEqual({ name: "b", address: "10.0.0.1", family: 4, healthcheck: "h", enabled: true })
  })

  it("a frontend: empty description, host prefix, port 0, weight 100, not sticky, flush on down, 1024 buckets", () => {
    expect(config.frontends.get("f")).toEqual({
      name: "f",
      description: "",
      address: "192.0.2.10/32",
      family: 4,
      protocol: "any",
      port: 0,
      pools: [{ name: "p", backends: [{ backend: "b", weight: 100 }] }],
      srcIpSticky: false,
      flushOnDown: true,
      newFlowsTableLength: 1024
    })
  })

  it("maglev with nothing under it is a valid, empty configuration", () => {
    const empty = valid("maglev:\n")
    expect(empty.frontends.size + empty.backends.size + empty.healthchecks.size).toBe(0)
    expect(empty.vpp.lb.syncInterval).toStrictEqual(seconds(30))
    expect(valid("maglev: {}\n").healthchecker.transitionHistory).toBe(5)
  })
})

describe("valid configurations", () => {
  it("canonicalises addresses and keeps every map in file order", () => {
    const config = valid(
      configYaml({
        lb: "ipv6-src-address: 2001:DB8:0:0::1",
        backends: ['"2": { address: 2001:DB8::0:10, healthcheck: hc }', '"10": { address: "2001:db8:0:0:0:0:0:11", healthcheck: hc }'].join("\n"),
        frontends: [
          "v6: { address: 2001:db8:ffff::/48, protocol: udp, port: 53, pools: [{ name: main, backends: { \"2\": , \"10\": } }] }",
          "v6-host: { address: \"2001:db8::a\", protocol: any, pools: [{ name: main, backends: { \"10\": } }] }"
        ].join("\n")
      })
    )
    expect(config.vpp.lb.ipv6SrcAddress).toBe("2001:db8::1")
    expect([...config.backends.values()].map((b) => [b.name, b.address, b.family])).toEqual([
      ["2", "2001:db8::10", 6],
      ["10", "2001:db8::11", 6]
    ])
    expect([...config.frontends.values()].map((f) => f.address)).toEqual(["2001:db8:ffff::/48", "2001:db8::a/128"])
  })

  it("an IPv6 VIP with IPv4 backends needs only ipv4-src-address (GRE4 follows the backends)", () => {
    const config = valid(configYaml({ frontends: 'v6: { address: "2001:db8::10", protocol: tcp, port: 443, pools: [{ name: main, backends: { b1: } }] }' }))
    expect(config.frontends.get("v6")).toMatchObject({ family: 6, address: "2001:db8::10/128" })
  })

  it("needs no source address at all without frontends", () => {
    expect(check(configYaml({ lb: "", frontends: "" }))._tag).toBe("Valid")
  })

  it("takes durations in every form, and the timeout may equal the shortest interval", () => {
    const hc = valid(configYaml({ healthchecks: "hc: { type: tcp, port: 80, interval: 1m30s, fast-interval: 1.5s, down-interval: 2h, timeout: 1500ms }" })).healthchecks.get("hc")!
    expect([hc.interval, hc.fastInterval, hc.downInterval, hc.timeout].map(Duration.toMillis)).toEqual([90_000, 1_500, 7_200_000, 1_500])
  })

  it("accepts status codes as integers, strings and ranges", () => {
    const http = valid(configYaml({ healthchecks: 'hc: { type: http, port: 80, http: { expected-codes: [200, "204", "300-308", 404-404] } }' })).healthchecks.get("hc")!.http!
    expect(http.expectedCodes).toEqual([
      { from: 200, to: 200 },
      { from: 204, to: 204 },
      { from: 300, to: 308 },
      { from: 404, to: 404 }
    ])
  })

  it("keeps headers in file order", () => {
    const http = valid(configYaml({ healthchecks: "hc: { type: http, port: 80, http: { headers: { X-B: b, X-A: a } } }" })).healthchecks.get("hc")!.http!
    expect(http.headers).toEqual([
      ["X-B", "b"],
      ["X-A", "a"]
    ])
  })

  it("follows YAML anchors and aliases", () => {
    const config = valid(configYaml({ healthchecks: "hc: &tcp80 { type: tcp, port: 80, rise: 4 }\nhc2: *tcp80" }))
    expect(config.healthchecks.get("hc2")).toMatchObject({ name: "hc2", type: "tcp", rise: 4 })
  })

  it("resolves a relative ca-file against the configuration file's directory", () => {
    const result = checkConfigText(configYaml({ healthchecks: "hc: { type: https, port: 443, http: { ca-file: certs/ca.pem } }" }), {
      file: "/etc/vpp-maglev/maglev.yaml",
      checkReadable: (p) => (p === "/etc/vpp-maglev/certs/ca.pem" ? undefined : `${p} not found`)
    })
    expect(result._tag === "Valid" && result.config.healthchecks.get("hc")!.http!.caFile).toBe("/etc/vpp-maglev/certs/ca.pem")
  })

  it("tcp with tls takes server-name and insecure", () => {
    const tcp = valid(configYaml({ healthchecks: 'hc: { type: tcp, port: 443, tcp: { send: "PING\\r\\n", expect: "^\\\\+PONG", tls: true, server-name: db.example.com, insecure: true } }' })).healthchecks.get("hc")!.tcp!
    expect(tcp).toEqual({ send: "PING\r\n", expect: "^\\+PONG", tls: true, serverName: "db.example.com", insecure: true })
  })
})

describe("several errors at once", () => {
  it("reports every structural error, not just the first, in file order", () => {
    const result = check(
      configYaml({
        healthchecker: "transition-history: many\nnet-ns: x",
        healthchecks: 'hc: { type: tcp, port: "80", interval: 2 }'
      })
    )
    expect(result._tag).toBe("ParseError")
    expect(errorsOf(result).map((e) => [e.path, e.rule])).toEqual([
      ["maglev.healthchecker.transition-history", "expected an integer"],
      ["maglev.healthchecker.net-ns", 'unknown key (did you mean "netns"?)'],
      ["maglev.healthchecks.hc.port", "expected an integer"],
      ["maglev.healthchecks.hc.interval", "missing unit in duration (use ns, us, ms, s, m or h, e.g. 2s)"]
    ])
  })

  it("a duplicate key does not hide the errors of the other keys of its mapping", () => {
    const result = check(configYaml({ backends: "b1: { address: 10.0.0.1, healthcheck: hc, enabled: yes }\nb1: { address: 10.0.0.2, healthcheck: hc }" }))
    expect(errorsOf(result).map((e) => [e.path, e.rule])).toEqual([
      ["maglev.backends.b1.enabled", "expected a boolean (true or false)"],
      ["maglev.backends.b1", "duplicate key (first defined at line 8)"]
    ])
  })

  it("reports every semantic error, each once, with its position", () => {
    const result = check(
      configYaml({
        lb: "flow-timeout: 300s",
        healthchecks: "hc: { type: tcp, port: 0 }",
        backends: `${base.backends}\nb3: { address: 10.0.0.300, healthcheck: hc }`,
        frontends: [
          "web:",
          "  address: 192.0.2.10",
          "  protocol: tcp",
          "  port: 80",
          "  pools:",
          "    - name: main",
          "      backends: { b1: , b2: }",
          "    - name: spare",
          "      backends:",
          "        b3:",
          "        nginx3: { weight: 10 }"
        ].join("\n")
      })
    )
    expect(result._tag).toBe("SemanticError")
    expect(errorsOf(result).map((e) => [e.path, e.line, e.column])).toEqual([
      ["maglev.vpp.lb.ipv4-src-address", 3, 5], // not in the file: at its section
      ["maglev.vpp.lb.flow-timeout", 4, 21],
      ["maglev.healthchecks.hc.port", 6, 28],
      ["maglev.backends.b3.address", 10, 20],
      ["maglev.frontends.web.pools[1].backends.nginx3", 22, 13]
    ])
    // Values are shown as the file writes them.
    expect(errorsOf(result).map((e) => e.value)).toEqual([undefined, '"300s"', "0", '"10.0.0.300"', undefined])
  })
})

describe("warnings", () => {
  const manyBackends = Array.from({ length: 11 }, (_, i) => `b${i}: { address: 10.0.0.${i + 1}, healthcheck: hc }`).join("\n")
  const members = Array.from({ length: 11 }, (_, i) => `b${i}: `).join(", ")

  it("a table under 100 entries per backend is valid, with a warning", () => {
    const result = check(configYaml({ backends: manyBackends, frontends: `web: { address: 192.0.2.10, protocol: tcp, port: 80, pools: [{ name: main, backends: { ${members} } }] }` }))
    expect(result._tag).toBe("Valid")
    expect(warningsOf(result)).toEqual([
      {
        path: "maglev.frontends.web.new-flows-table-length",
        rule: "is less than 100 × 11 backends, so Maglev spreads new flows unevenly; use 2048 or more",
        value: "1024",
        // The key is not in the file: the warning points at the frontend.
        line: 20,
        column: 5
      }
    ])
  })

  it("counts distinct backends across pools", () => {
    const result = check(configYaml({ frontends: "web: { address: 192.0.2.10, protocol: tcp, port: 80, new-flows-table-length: 128, pools: [{ name: a, backends: { b1: } }, { name: b, backends: { b1: , b2: } }] }" }))
    expect(warningsOf(result).map((w) => w.rule)).toEqual(["is less than 100 × 2 backends, so Maglev spreads new flows unevenly; use 256 or more"])
  })

  it("an unused backend, a pool that can never be active, and tcp on port 0", () => {
    const result = check(
      configYaml({
        backends: `${base.backends}\nspare: { address: 10.0.0.9, healthcheck: hc }`,
        frontends: "web: { address: 192.0.2.10, protocol: tcp, pools: [{ name: main, backends: { b1: } }, { name: off, backends: { b2: { weight: 0 } } }] }"
      })
    )
    expect(result._tag).toBe("Valid")
    expect(warningsOf(result).map((w) => [w.path, w.rule])).toEqual([
      ["maglev.backends.spare", "is not used by any frontend (it is still health-checked)"],
      ["maglev.frontends.web.protocol", "with port 0 this is an all-port VIP, which VPP applies to every protocol; write protocol: any to say so, or set a port"],
      ["maglev.frontends.web.pools[1].backends", "every backend of this pool has weight 0, so the pool can never be active"]
    ])
  })

  it("many unused backends: one warning at backends: with the count and the first five names", () => {
    const spares = (n: number) => Array.from({ length: n }, (_, i) => `spare${i}: { address: 10.1.${i >> 8}.${i & 255}, healthcheck: hc }`).join("\n")
    const five = check(configYaml({ backends: `${base.backends}\n${spares(5)}` }))
    expect(warningsOf(five).map((w) => w.path)).toEqual(["maglev.backends.spare0", "maglev.backends.spare1", "maglev.backends.spare2", "maglev.backends.spare3", "maglev.backends.spare4"])
    const text = configYaml({ backends: `${base.backends}\n${spares(1200)}` })
    const many = check(text)
    expect(many._tag).toBe("Valid")
    expect(warningsOf(many)).toEqual([{
      path: "maglev.backends",
      rule: "1,200 backends are not used by any frontend (they are still health-checked): spare0, spare1, spare2, spare3, spare4 and 1,195 more",
      line: text.split("\n").indexOf("  backends:") + 1,
      column: 3
    }])
  })

  it("come with semantic errors too", () => {
    const result = check(configYaml({ lb: "", backends: `${base.backends}\nspare: { address: 10.0.0.9, healthcheck: hc }` }))
    expect(result._tag).toBe("SemanticError")
    expect(warningsOf(result).map((w) => w.path)).toEqual(["maglev.backends.spare"])
  })
})

describe("scale", () => {
  /**
   * The check of `text`, with the number of elements its searches (`find`,
   * `some`, `includes`...) went over: a count, not a time. A lookup by search
   * in a per-item loop (each pool member looked up in the list of backends)
   * makes it grow with the square of the file; Maps and Sets keep it linear.
   */
  const searched = (text: string): { readonly result: CheckResult; readonly elements: number } => {
    const methods = ["find", "findIndex", "findLast", "findLastIndex", "some", "every", "includes", "indexOf", "lastIndexOf", "filter"]
    const proto = Array.prototype as unknown as Record<string, (...args: Array<unknown>) => unknown>
    const originals = methods.map((m) => proto[m]!)
    let elements = 0
    methods.forEach((m, i) => {
      proto[m] = function(this: ReadonlyArray<unknown>, ...args: Array<unknown>) {
        elements += this.length
        return originals[i]!.apply(this, args)
      }
    })
    try {
      const result = checkConfigText(text, { checkReadable: () => undefined })
      return { result, elements }
    } finally {
      methods.forEach((m, i) => {
        proto[m] = originals[i]!
      })
    }
  }

  it("the searches of a check grow linearly with the file, valid or with an error in every tenth backend", () => {
    // Every backend whose name ends in 0 gets an address that is none.
    const texts = (n: number) => {
      const { text } = bigConfig(n)
      return [text, text.replace(/^( {4}b\d*0: \{address: )10\./gm, "$1300.")]
    }
    const [small, big] = [1_000, 4_000].map((n) => texts(n).map(searched))
    expect(small![0]!.result._tag).toBe("Valid")
    expect(big![1]!.result._tag).toBe("SemanticError")
    expect(errorsOf(big![1]!.result)).toHaveLength(400)
    // Four times the backends: four times the elements when linear, sixteen when quadratic.
    for (const k of [0, 1]) expect(big![k]!.elements / small![k]!.elements).toBeLessThan(6)
  })
})

describe("examples/maglev.yaml", () => {
  const file = path.join(repoRoot, "examples/maglev.yaml")
  const result = checkConfigText(fs.readFileSync(file, "utf8"), { file })

  it("is valid, without warnings", () => {
    expect(formatCheckResult(result, "examples/maglev.yaml")).toBe("examples/maglev.yaml: valid: 1 frontend, 3 backends, 2 healthchecks\n")
    expect(warningsOf(result)).toEqual([])
  })

  it("is the loopback VIP 127.0.0.10 tcp/8080 (npm start's data plane) with pools primary (web1, web2) and fallback (web3)", () => {
    if (result._tag !== "Valid") throw new Error("invalid")
    const web = result.config.frontends.get("web")!
    expect([web.address, web.protocol, web.port]).toEqual(["127.0.0.10/32", "tcp", 8080])
    expect(web.pools.map((p) => [p.name, p.backends.map((m) => m.backend)])).toEqual([
      ["primary", ["web1", "web2"]],
      ["fallback", ["web3"]]
    ])
    expect([...result.config.backends.values()].map((b) => b.address)).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3"])
  })
})

describe("printing", () => {
  it("formats an issue as file:line:column: path: rule (value)", () => {
    const issue = { path: "maglev.frontends.web.pools[1].backends.nginx3", rule: 'backend "nginx3" is not defined', value: "{…}", line: 12, column: 7 }
    expect(formatIssue(issue, "maglev.yaml")).toBe('maglev.yaml:12:7: maglev.frontends.web.pools[1].backends.nginx3: backend "nginx3" is not defined (value: {…})')
    expect(formatIssue(issue)).toBe('12:7: maglev.frontends.web.pools[1].backends.nginx3: backend "nginx3" is not defined (value: {…})')
    expect(formatIssue({ path: "", rule: "the file is empty" }, "maglev.yaml", "error")).toBe("maglev.yaml: error: the file is empty")
  })

  it("prints what maglevd --check prints, and its exit code", () => {
    const results: ReadonlyArray<readonly [CheckResult, string, number]> = [
      [check("maglev:\n  frontends: []\n"), "m.yaml:2:14: error: maglev.frontends: expected a mapping of frontend names (value: […])\nm.yaml: invalid: 1 error reading the YAML (structural check)\n", 1],
      [
        check(configYaml({ lb: "", backends: `${base.backends}\nspare: { address: 10.0.0.9, healthcheck: hc }` })),
        "m.yaml:1:1: error: maglev.vpp.lb.ipv4-src-address: is required: frontend \"web\" has IPv4 backends, and VPP uses this address as the source of its GRE4 tunnels to them\n" +
          "m.yaml:7:5: warning: maglev.backends.spare: is not used by any frontend (it is still health-checked)\n" +
          "m.yaml: invalid: 1 error, 1 warning (semantic check)\n",
        2
      ],
      [check(configYaml()), "m.yaml: valid: 1 frontend, 2 backends, 1 healthcheck\n", 0]
    ]
    for (const [result, text, code] of results) {
      expect(formatCheckResult(result, "m.yaml")).toBe(text)
      expect(exitCode(result)).toBe(code)
    }
  })
})

describe("files and loading", () => {
  it.effect("checkConfigFile reads the file and resolves ca-file next to it", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      fs.writeFileSync(path.join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n")
      fs.writeFileSync(path.join(dir, "maglev.yaml"), configYaml({ healthchecks: "hc: { type: https, port: 443, http: { ca-file: ca.pem } }" }))
      const result = yield* checkConfigFile(path.join(dir, "maglev.yaml"))
      expect(result._tag === "Valid" && result.config.healthchecks.get("hc")!.http!.caFile).toBe(path.join(dir, "ca.pem"))
    }).pipe(Effect.scoped)
  )

  it.effect("offThread unless-plain (the daemon's start-up): plain YAML and YAML only the package reads give the in-thread result", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const plain = bigConfig(300).text
      // An anchor: Simple.ts leaves it to the package, so the check goes to a worker thread.
      const anchored = plain.replace("    hc0: {", "    hc0: &hc0 {").replace("  backends:\n", "  backends:\n    alias: { address: 10.9.0.1, healthcheck: *hc0 }\n")
      for (const [name, text] of [["plain.yaml", plain], ["anchored.yaml", anchored]] as const) {
        const file = path.join(dir, name)
        fs.writeFileSync(file, text)
        expect(text.length).toBeGreaterThan(16 * 1024)
        const result = yield* checkConfigFile(file, { offThread: "unless-plain" })
        expect(result).toEqual(checkConfigText(text, { file }))
      }
    }).pipe(Effect.scoped)
  )

  it.effect("checkConfigFile fails with ConfigFileError for a missing file", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(checkConfigFile("/nonexistent/maglev.yaml"))
      expect(error).toBeInstanceOf(ConfigFileError)
      expect(error.path).toBe("/nonexistent/maglev.yaml")
      expect(error.message).toMatch(/^cannot read \/nonexistent\/maglev.yaml: ENOENT/)
    })
  )

  it.effect("loadConfig returns the config and logs each warning as a config-warning", () =>
    Effect.gen(function* () {
      const logs: Array<{ message: unknown; level: string; event: unknown }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({ message, level: logLevel.label, event: HashMap.get(annotations, "event").pipe((o) => (o._tag === "Some" ? o.value : undefined)) })
      })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, configYaml({ backends: `${base.backends}\nspare: { address: 10.0.0.9, healthcheck: hc }` }))
      const config = yield* loadConfig(file).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect([...config.backends.keys()]).toEqual(["b1", "b2", "spare"])
      expect(logs).toEqual([
        { message: [`${file}:10:5: maglev.backends.spare: is not used by any frontend (it is still health-checked)`], level: "WARN", event: "config-warning" }
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("loadConfig fails with ConfigError holding the whole result", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-config-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "maglev.yaml")
      fs.writeFileSync(file, "maglev:\n  frontends: { web: { address: 192.0.2.10/24, protocol: tcp, pools: [] } }\n")
      const exit = yield* Effect.exit(loadConfig(file))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(loadConfig(file))
      expect(error).toBeInstanceOf(ConfigError)
      if (!(error instanceof ConfigError)) return
      expect(error.result._tag).toBe("SemanticError")
      expect(error.result.errors.map((e) => e.path)).toEqual(["maglev.frontends.web.address", "maglev.frontends.web.pools"])
      expect(error.message).toContain(`${file}: invalid: 2 errors`)
    }).pipe(Effect.scoped)
  )
})

describe("healthCheckEquals", () => {
  const checkOf = (body: string): HealthCheck => valid(configYaml({ healthchecks: `hc: { ${body} }` })).healthchecks.get("hc")!

  it("is true for the same check written differently (durations by value)", () => {
    expect(healthCheckEquals(checkOf("type: http, port: 80, interval: 2s"), checkOf("type: http, port: 80, interval: 2000ms, timeout: 1s, http: { path: / }"))).toBe(true)
  })

  it("is false when anything a probe uses changes", () => {
    const a = checkOf("type: http, port: 80, http: { headers: { X-A: a, X-B: b } }")
    for (const body of [
      "type: http, port: 81, http: { headers: { X-A: a, X-B: b } }",
      "type: http, port: 80, timeout: 900ms, http: { headers: { X-A: a, X-B: b } }",
      "type: http, port: 80, http: { headers: { X-B: b, X-A: a } }",
      "type: http, port: 80, http: { headers: { X-A: a } }",
      "type: http, port: 80, http: { headers: { X-A: a, X-B: b }, expected-codes: [200] }"
    ]) {
      expect(healthCheckEquals(a, checkOf(body)), body).toBe(false)
    }
  })
})
