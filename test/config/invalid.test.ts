/**
 * Every rule of the configuration, one broken configuration each: the stage
 * that rejects it, the exact path, the rule (a substring of it) and, where the
 * case is about where the error is, its line and column. Each case breaks one
 * thing, and each must produce exactly one error, so that a rule that cascades
 * into others shows up here.
 */
import { describe, expect, it } from "@effect/vitest"
import { base, check, configYaml, errorsOf, type Sections } from "./support.js"

interface Case {
  readonly name: string
  /** Sections replacing the base configuration's, or the whole text. */
  readonly config: Sections | string
  readonly stage: "ParseError" | "SemanticError"
  readonly path: string
  readonly rule: string
  readonly line?: number
  readonly column?: number
  /** The offending value as printed, when the case checks it. */
  readonly value?: string
  readonly checkReadable?: (path: string) => string | undefined
}

const hc = (body: string): Sections => ({ healthchecks: `hc: { ${body} }` })
const httpHc = (http: string, type = "http"): Sections => ({
  healthchecks: `hc:\n  type: ${type}\n  port: 80\n  http:\n${http.split("\n").map((l) => "    " + l).join("\n")}`
})
const tcpHc = (tcp: string): Sections => ({ healthchecks: `hc:\n  type: tcp\n  port: 80\n  tcp: { ${tcp} }` })
/** The base frontend with some of its keys replaced. */
const web = (keys: Readonly<Record<string, string>>): Sections => {
  const all: Record<string, string> = { address: "192.0.2.10", protocol: "tcp", port: "80", pools: "[{ name: main, backends: { b1: , b2: } }]", ...keys }
  const lines = Object.entries(all)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `  ${k}: ${v}`)
  return { frontends: ["web:", ...lines].join("\n") }
}
const frontends = (...lines: ReadonlyArray<string>): Sections => ({ frontends: lines.join("\n") })

const cases: ReadonlyArray<Case> = [
  // --- structural: YAML syntax ---------------------------------------------------
  {
    name: "YAML syntax error (unclosed flow sequence) with line and column",
    config: "maglev:\n  backends: [1, 2\n",
    stage: "ParseError",
    path: "",
    rule: "YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
    line: 3,
    column: 1
  },
  {
    name: "a tab used as indentation",
    config: "maglev:\n\tbackends: {}\n",
    stage: "ParseError",
    path: "",
    rule: "Tabs are not allowed as indentation",
    line: 2,
    column: 1
  },
  {
    name: "an unknown tag",
    config: "maglev:\n  healthchecker: { netns: !env NS }\n",
    stage: "ParseError",
    path: "",
    rule: "Unresolved tag: !env"
  },
  {
    name: "two YAML documents",
    config: "maglev: {}\n---\nmaglev: {}\n",
    stage: "ParseError",
    path: "",
    rule: "multiple documents",
    line: 2,
    column: 1
  },
  // --- structural: the top level --------------------------------------------------
  { name: "an empty file", config: "# nothing\n", stage: "ParseError", path: "", rule: "the file is empty" },
  { name: "a list at the top", config: "- maglev\n", stage: "ParseError", path: "", rule: "expected a mapping with the single key maglev", line: 1, column: 1 },
  {
    name: "a second top-level key",
    config: "maglev: {}\nmaglevd: {}\n",
    stage: "ParseError",
    path: "maglevd",
    rule: 'unknown key (did you mean "maglev"?)',
    line: 2,
    column: 1
  },
  { name: "maglev is not a mapping", config: "maglev: [a]\n", stage: "ParseError", path: "maglev", rule: "expected a mapping", line: 1, column: 9 },
  // --- structural: keys --------------------------------------------------------
  {
    name: "a duplicate key, with both lines",
    config: configYaml({ backends: `${base.backends}\nb1: { address: 10.0.0.3, healthcheck: hc }` }),
    stage: "ParseError",
    path: "maglev.backends.b1",
    rule: "duplicate key (first defined at line 8)",
    line: 10,
    column: 5
  },
  {
    name: "a backend twice in one pool (a duplicate key)",
    config: web({ pools: "[{ name: main, backends: { b1: , b1: { weight: 5 } } }]" }),
    stage: "ParseError",
    path: "maglev.frontends.web.pools[0].backends.b1",
    rule: "duplicate key"
  },
  {
    name: "an unknown key, with a suggestion, line and column",
    config: "maglev:\n  healthchecks:\n    hc:\n      type: tcp\n      port: 80\n      fast-intervall: 1s\n",
    stage: "ParseError",
    path: "maglev.healthchecks.hc.fast-intervall",
    rule: 'unknown key (did you mean "fast-interval"?)',
    line: 6,
    column: 7
  },
  {
    name: "an unknown key, with the list of known ones",
    config: { healthchecker: "history: 3" },
    stage: "ParseError",
    path: "maglev.healthchecker.history",
    rule: "unknown key (expected one of: transition-history, netns)"
  },
  {
    name: "an unknown key in a pool member",
    config: web({ pools: "[{ name: main, backends: { b1: { wieght: 5 } } }]" }),
    stage: "ParseError",
    path: "maglev.frontends.web.pools[0].backends.b1.wieght",
    rule: 'did you mean "weight"?'
  },
  {
    name: "a number as a name",
    config: { backends: `${base.backends}\n1: { address: 10.0.0.3, healthcheck: hc }` },
    stage: "ParseError",
    path: "maglev.backends",
    rule: 'keys must be strings; quote "1"'
  },
  { name: "an alias to no anchor", config: { healthchecks: "hc: *nothing" }, stage: "ParseError", path: "maglev.healthchecks.hc", rule: "alias *nothing refers to no anchor" },
  // --- structural: kinds of values ----------------------------------------------------
  {
    name: "a quoted port",
    config: hc('type: tcp, port: "80"'),
    stage: "ParseError",
    path: "maglev.healthchecks.hc.port",
    rule: "expected an integer",
    value: '"80"',
    line: 6,
    column: 28
  },
  { name: "a fractional integer", config: hc("type: tcp, port: 80.0"), stage: "ParseError", path: "maglev.healthchecks.hc.port", rule: "expected an integer" },
  {
    name: "yes is not a boolean in YAML 1.2",
    config: { backends: "b1: { address: 10.0.0.1, healthcheck: hc, enabled: yes }" },
    stage: "ParseError",
    path: "maglev.backends.b1.enabled",
    rule: "expected a boolean (true or false)"
  },
  { name: "a duration without a unit", config: hc("type: tcp, port: 80, interval: 5"), stage: "ParseError", path: "maglev.healthchecks.hc.interval", rule: "missing unit in duration" },
  { name: "a duration with an unknown unit", config: hc("type: tcp, port: 80, interval: 5x"), stage: "ParseError", path: "maglev.healthchecks.hc.interval", rule: 'unknown unit "x"' },
  { name: "a negative duration", config: hc("type: tcp, port: 80, timeout: -1s"), stage: "ParseError", path: "maglev.healthchecks.hc.timeout", rule: "cannot be negative" },
  { name: "a duration as a string of text", config: { lb: "ipv4-src-address: 192.0.2.1\nsync-interval: soon" }, stage: "ParseError", path: "maglev.vpp.lb.sync-interval", rule: "expected a duration" },
  { name: "a section as a list", config: { healthchecks: "- hc" }, stage: "ParseError", path: "maglev.healthchecks", rule: "expected a mapping of healthcheck names" },
  { name: "pools as a mapping", config: web({ pools: "{ main: { b1: } }" }), stage: "ParseError", path: "maglev.frontends.web.pools", rule: "expected a list of pools" },
  {
    name: "a bare weight instead of { weight: n }",
    config: web({ pools: "[{ name: main, backends: { b1: 50 } }]" }),
    stage: "ParseError",
    path: "maglev.frontends.web.pools[0].backends.b1",
    rule: "expected a mapping like { weight: 50 }, or nothing"
  },
  { name: "a header value that is not a string", config: httpHc("headers: { X-Count: 3 }"), stage: "ParseError", path: "maglev.healthchecks.hc.http.headers.X-Count", rule: "expected a string" },
  { name: "expected-codes not a list", config: httpHc("expected-codes: 200"), stage: "ParseError", path: "maglev.healthchecks.hc.http.expected-codes", rule: "expected a list of status codes" },
  { name: "an address that is not a string", config: { backends: "b1: { address: [10.0.0.1], healthcheck: hc }" }, stage: "ParseError", path: "maglev.backends.b1.address", rule: "expected a string" },

  // --- semantic: healthchecker -------------------------------------------------
  { name: "transition-history below 1", config: { healthchecker: "transition-history: 0" }, stage: "SemanticError", path: "maglev.healthchecker.transition-history", rule: "must be at least 1", value: "0" },
  { name: "netns with a slash", config: { healthchecker: "netns: /var/run/netns/x" }, stage: "SemanticError", path: "maglev.healthchecker.netns", rule: "must be the name of a namespace under /var/run/netns" },
  { name: "netns ..", config: { healthchecker: 'netns: ".."' }, stage: "SemanticError", path: "maglev.healthchecker.netns", rule: 'not "." or ".."' },
  // --- semantic: vpp.lb --------------------------------------------------------
  { name: "ipv4-src-address of the wrong family", config: { lb: "ipv4-src-address: 2001:db8::1" }, stage: "SemanticError", path: "maglev.vpp.lb.ipv4-src-address", rule: "must be an IPv4 address" },
  { name: "ipv6-src-address that is no address", config: { lb: "ipv4-src-address: 192.0.2.1\nipv6-src-address: fe80::1%eth0" }, stage: "SemanticError", path: "maglev.vpp.lb.ipv6-src-address", rule: "expected an IPv6 address" },
  {
    name: "no ipv4-src-address with IPv4 backends",
    config: { lb: "sync-interval: 10s" },
    stage: "SemanticError",
    path: "maglev.vpp.lb.ipv4-src-address",
    rule: 'is required: frontend "web" has IPv4 backends',
    line: 3,
    column: 5
  },
  {
    name: "no ipv6-src-address with IPv6 backends behind an IPv4 VIP (it follows the backends)",
    config: {
      backends: "b1: { address: 2001:db8::10, healthcheck: hc }\nb2: { address: 2001:db8::11, healthcheck: hc }"
    },
    stage: "SemanticError",
    path: "maglev.vpp.lb.ipv6-src-address",
    rule: "GRE6 tunnels"
  },
  { name: "sync-interval 0", config: { lb: "ipv4-src-address: 192.0.2.1\nsync-interval: 0" }, stage: "SemanticError", path: "maglev.vpp.lb.sync-interval", rule: "must be greater than 0" },
  { name: "sticky buckets not a power of two", config: { lb: "ipv4-src-address: 192.0.2.1\nsticky-buckets-per-core: 1000" }, stage: "SemanticError", path: "maglev.vpp.lb.sticky-buckets-per-core", rule: "must be a power of two", value: "1000" },
  { name: "flow-timeout not whole seconds", config: { lb: "ipv4-src-address: 192.0.2.1\nflow-timeout: 1500ms" }, stage: "SemanticError", path: "maglev.vpp.lb.flow-timeout", rule: "must be a whole number of seconds" },
  { name: "flow-timeout above 120s", config: { lb: "ipv4-src-address: 192.0.2.1\nflow-timeout: 2m1s" }, stage: "SemanticError", path: "maglev.vpp.lb.flow-timeout", rule: "must be between 1s and 120s", value: '"2m1s"' },
  { name: "flow-timeout 0", config: { lb: "ipv4-src-address: 192.0.2.1\nflow-timeout: 0" }, stage: "SemanticError", path: "maglev.vpp.lb.flow-timeout", rule: "must be between 1s and 120s" },
  // --- semantic: healthchecks --------------------------------------------------
  { name: "a healthcheck without a type", config: hc("port: 80"), stage: "SemanticError", path: "maglev.healthchecks.hc.type", rule: "is required (one of http, https, tcp, icmp)" },
  { name: "an unknown healthcheck type", config: hc("type: udp, port: 80"), stage: "SemanticError", path: "maglev.healthchecks.hc.type", rule: "must be one of http, https, tcp, icmp", value: '"udp"' },
  { name: "a tcp check without a port", config: hc("type: tcp"), stage: "SemanticError", path: "maglev.healthchecks.hc.port", rule: "is required for tcp checks" },
  { name: "a port out of range", config: hc("type: https, port: 65536"), stage: "SemanticError", path: "maglev.healthchecks.hc.port", rule: "must be between 1 and 65535" },
  { name: "a port on an icmp check", config: hc("type: icmp, port: 80"), stage: "SemanticError", path: "maglev.healthchecks.hc.port", rule: "is not used by icmp checks" },
  {
    name: "a timeout longer than the shortest interval",
    config: hc("type: tcp, port: 80, interval: 2s, timeout: 1500ms"),
    stage: "SemanticError",
    path: "maglev.healthchecks.hc.timeout",
    rule: "must not exceed the shortest interval: fast-interval is 1s (interval / 2 by default)"
  },
  {
    name: "the default timeout longer than a short interval",
    config: hc("type: tcp, port: 80, interval: 1s"),
    stage: "SemanticError",
    path: "maglev.healthchecks.hc.timeout",
    rule: "the default timeout of 1s must not exceed the shortest interval, and fast-interval is 500ms"
  },
  { name: "timeout 0", config: hc("type: tcp, port: 80, timeout: 0s"), stage: "SemanticError", path: "maglev.healthchecks.hc.timeout", rule: "must be greater than 0" },
  { name: "fast-interval 0", config: hc("type: tcp, port: 80, fast-interval: 0"), stage: "SemanticError", path: "maglev.healthchecks.hc.fast-interval", rule: "must be greater than 0" },
  { name: "rise 0", config: hc("type: tcp, port: 80, rise: 0"), stage: "SemanticError", path: "maglev.healthchecks.hc.rise", rule: "must be at least 1" },
  { name: "fall -1", config: hc("type: tcp, port: 80, fall: -1"), stage: "SemanticError", path: "maglev.healthchecks.hc.fall", rule: "must be at least 1" },
  { name: "probe-ipv4-src of the wrong family", config: hc("type: tcp, port: 80, probe-ipv4-src: '::1'"), stage: "SemanticError", path: "maglev.healthchecks.hc.probe-ipv4-src", rule: "must be an IPv4 address" },
  { name: "probe-ipv6-src of the wrong family", config: hc("type: tcp, port: 80, probe-ipv6-src: 10.0.0.1"), stage: "SemanticError", path: "maglev.healthchecks.hc.probe-ipv6-src", rule: "must be an IPv6 address" },
  { name: "an invalid healthcheck name", config: { healthchecks: "-hc: { type: tcp, port: 80 }\nhc: { type: tcp, port: 80 }" }, stage: "SemanticError", path: "maglev.healthchecks.-hc", rule: "a healthcheck name must start with a letter or digit" },
  { name: "an http block on a tcp check", config: hc("type: tcp, port: 80, http: { path: / }"), stage: "SemanticError", path: "maglev.healthchecks.hc.http", rule: "is only used by http and https checks, and this one is tcp" },
  { name: "a tcp block on an icmp check", config: hc("type: icmp, tcp: { tls: true }"), stage: "SemanticError", path: "maglev.healthchecks.hc.tcp", rule: "is only used by tcp checks, and this one is icmp" },
  // --- semantic: http ---------------------------------------------------------------
  { name: "an HTTP method other than GET or HEAD", config: httpHc("method: POST"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.method", rule: "must be GET or HEAD" },
  { name: "a path without a leading slash", config: httpHc("path: healthz"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.path", rule: 'must start with "/"' },
  { name: "a path with a space", config: httpHc('path: "/a b"'), stage: "SemanticError", path: "maglev.healthchecks.hc.http.path", rule: "must not contain spaces" },
  { name: "a malformed host", config: httpHc("host: www.example.com:http"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.host", rule: "must be a host name or address, optionally with :port" },
  { name: "a header name that is not a token", config: httpHc('headers: { "X Bad": a }'), stage: "SemanticError", path: 'maglev.healthchecks.hc.http.headers["X Bad"]', rule: "is not a valid header name" },
  { name: "a header value with a newline", config: httpHc('headers: { X-A: "a\\r\\nX-B: b" }'), stage: "SemanticError", path: "maglev.healthchecks.hc.http.headers.X-A", rule: "must not contain CR, LF or NUL" },
  { name: "a Host header", config: httpHc("headers: { host: example.com }"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.headers.host", rule: "set the Host header with http.host" },
  { name: "a header twice in different case", config: httpHc("headers: { X-A: a, x-a: b }"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.headers.x-a", rule: "duplicate header" },
  { name: "a status code above 599", config: httpHc("expected-codes: [200, 600]"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.expected-codes[1]", rule: "status codes are between 100 and 599", value: "600" },
  { name: "a status range backwards", config: httpHc('expected-codes: ["399-200"]'), stage: "SemanticError", path: "maglev.healthchecks.hc.http.expected-codes[0]", rule: "a range must go from the lower code to the higher" },
  { name: "a status pattern", config: httpHc("expected-codes: [2xx]"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.expected-codes[0]", rule: "expected a status code or a range like 200-399" },
  { name: "no status codes", config: httpHc("expected-codes: []"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.expected-codes", rule: "must list at least one" },
  {
    name: "a response regex that does not compile, with the RegExp error",
    config: httpHc('response-regex: "ok("'),
    stage: "SemanticError",
    path: "maglev.healthchecks.hc.http.response-regex",
    rule: "is not a valid regular expression: Invalid regular expression: /ok(/: Unterminated group"
  },
  { name: "insecure on plain http", config: httpHc("insecure: true"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.insecure", rule: "is only used by https checks" },
  { name: "server-name on plain http", config: httpHc("server-name: www.example.com"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.server-name", rule: "is only used by https checks" },
  { name: "an address as SNI", config: httpHc("server-name: 10.0.0.1", "https"), stage: "SemanticError", path: "maglev.healthchecks.hc.http.server-name", rule: "TLS SNI cannot be an IP address" },
  {
    name: "a ca-file that cannot be read",
    config: httpHc("ca-file: /nonexistent/ca.pem", "https"),
    stage: "SemanticError",
    path: "maglev.healthchecks.hc.http.ca-file",
    rule: "cannot be read: ENOENT"
  },
  {
    name: "a ca-file with insecure",
    config: httpHc("ca-file: /etc/ca.pem\ninsecure: true", "https"),
    stage: "SemanticError",
    path: "maglev.healthchecks.hc.http.ca-file",
    rule: "has no effect with insecure: true",
    checkReadable: () => undefined
  },
  // --- semantic: tcp ----------------------------------------------------------------
  { name: "a tcp expect regex that does not compile", config: tcpHc('expect: "[a-"'), stage: "SemanticError", path: "maglev.healthchecks.hc.tcp.expect", rule: "is not a valid regular expression" },
  { name: "server-name without tls", config: tcpHc("server-name: www.example.com"), stage: "SemanticError", path: "maglev.healthchecks.hc.tcp.server-name", rule: "is only used with tls: true" },
  { name: "insecure without tls", config: tcpHc("tls: false, insecure: true"), stage: "SemanticError", path: "maglev.healthchecks.hc.tcp.insecure", rule: "is only used with tls: true" },
  // --- semantic: backends -------------------------------------------------------------
  { name: "a backend without an address", config: { backends: `${base.backends}\nb3: { healthcheck: hc }` }, stage: "SemanticError", path: "maglev.backends.b3.address", rule: "is required", line: 10, column: 5 },
  { name: "a backend address that is no address", config: { backends: `${base.backends}\nb3: { address: 10.0.0.256, healthcheck: hc }` }, stage: "SemanticError", path: "maglev.backends.b3.address", rule: "expected an IPv4 or IPv6 address" },
  { name: "a prefix as a backend address", config: { backends: `${base.backends}\nb3: { address: 10.0.0.3/32, healthcheck: hc }` }, stage: "SemanticError", path: "maglev.backends.b3.address", rule: "expected an address, not a prefix" },
  { name: "a backend without a healthcheck", config: { backends: `${base.backends}\nb3: { address: 10.0.0.3 }` }, stage: "SemanticError", path: "maglev.backends.b3.healthcheck", rule: "is required" },
  {
    name: "a backend naming an undefined healthcheck",
    config: { backends: `${base.backends}\nb3: { address: 10.0.0.3, healthcheck: http }` },
    stage: "SemanticError",
    path: "maglev.backends.b3.healthcheck",
    rule: 'healthcheck "http" is not defined',
    line: 10,
    column: 43
  },
  { name: "a backend name with a space", config: { backends: `${base.backends}\n"web 3": { address: 10.0.0.3, healthcheck: hc }` }, stage: "SemanticError", path: 'maglev.backends["web 3"]', rule: "a backend name must start with a letter or digit" },
  // --- semantic: frontends --------------------------------------------------------------
  { name: "a frontend without an address", config: web({ address: "" }), stage: "SemanticError", path: "maglev.frontends.web.address", rule: "is required (the VIP address or prefix)" },
  { name: "a VIP prefix with host bits", config: web({ address: "192.0.2.10/24" }), stage: "SemanticError", path: "maglev.frontends.web.address", rule: "has host bits set; the network is 192.0.2.0/24" },
  { name: "a VIP that is no address", config: web({ address: "vip.example.com" }), stage: "SemanticError", path: "maglev.frontends.web.address", rule: "expected an IPv4 or IPv6 address or prefix" },
  { name: "a VIP prefix length too long", config: web({ address: "192.0.2.10/33" }), stage: "SemanticError", path: "maglev.frontends.web.address", rule: "the prefix length of an IPv4 prefix is 0..32" },
  { name: "a frontend without a protocol", config: web({ protocol: "" }), stage: "SemanticError", path: "maglev.frontends.web.protocol", rule: "is required (one of tcp, udp, any)" },
  { name: "an unknown protocol", config: web({ protocol: "sctp" }), stage: "SemanticError", path: "maglev.frontends.web.protocol", rule: "must be one of tcp, udp, any" },
  { name: "a frontend port out of range", config: web({ port: "65536" }), stage: "SemanticError", path: "maglev.frontends.web.port", rule: "must be between 0 and 65535" },
  { name: "protocol any with a port", config: web({ protocol: "any" }), stage: "SemanticError", path: "maglev.frontends.web.port", rule: "must be 0 when protocol is any" },
  { name: "a frontend without pools", config: web({ pools: "" }), stage: "SemanticError", path: "maglev.frontends.web.pools", rule: "at least one pool is required" },
  { name: "a pool without a name", config: web({ pools: "[{ backends: { b1: , b2: } }]" }), stage: "SemanticError", path: "maglev.frontends.web.pools[0].name", rule: "is required" },
  { name: "an empty pool name", config: web({ pools: '[{ name: "", backends: { b1: , b2: } }]' }), stage: "SemanticError", path: "maglev.frontends.web.pools[0].name", rule: "a pool name cannot be empty" },
  { name: "a pool without backends", config: web({ pools: "[{ name: main, backends: { b1: , b2: } }, { name: spare }]" }), stage: "SemanticError", path: "maglev.frontends.web.pools[1].backends", rule: "a pool needs at least one backend" },
  {
    name: "two pools of one name",
    config: web({ pools: "[{ name: main, backends: { b1: } }, { name: main, backends: { b2: } }]" }),
    stage: "SemanticError",
    path: "maglev.frontends.web.pools[1].name",
    rule: "duplicate pool name (pools[0] has it too)"
  },
  {
    name: "a pool naming an undefined backend, at its line and column",
    config: frontends(
      "web:",
      "  address: 192.0.2.10",
      "  protocol: tcp",
      "  port: 80",
      "  pools:",
      "    - name: main",
      "      backends: { b1: , b2: }",
      "    - name: spare",
      "      backends:",
      "        nginx3: { weight: 10 }"
    ),
    stage: "SemanticError",
    path: "maglev.frontends.web.pools[1].backends.nginx3",
    rule: 'backend "nginx3" is not defined',
    line: 20,
    column: 13
  },
  { name: "a weight above 100", config: web({ pools: "[{ name: main, backends: { b1: { weight: 101 }, b2: } }]" }), stage: "SemanticError", path: "maglev.frontends.web.pools[0].backends.b1.weight", rule: "must be between 0 and 100" },
  {
    name: "IPv4 and IPv6 backends in one frontend",
    config: {
      lb: "ipv4-src-address: 192.0.2.1\nipv6-src-address: 2001:db8::1",
      backends: `${base.backends}\nb6: { address: 2001:db8::10, healthcheck: hc }`,
      ...web({ pools: "[{ name: main, backends: { b1: , b2: } }, { name: spare, backends: { b6: } }]" })
    },
    stage: "SemanticError",
    path: "maglev.frontends.web.pools[1].backends.b6",
    rule: 'backend "b6" is IPv6 but backend "b1" of this frontend is IPv4'
  },
  {
    name: "two backends of one address in one frontend",
    config: {
      backends: `${base.backends}\nb1-again: { address: 10.0.0.1, healthcheck: hc }`,
      ...web({ pools: "[{ name: main, backends: { b1: , b2: } }, { name: spare, backends: { b1-again: } }]" })
    },
    stage: "SemanticError",
    path: "maglev.frontends.web.pools[1].backends.b1-again",
    rule: 'has the same address (10.0.0.1) as backend "b1"'
  },
  { name: "a table length not a power of two", config: web({ "new-flows-table-length": "1000" }), stage: "SemanticError", path: "maglev.frontends.web.new-flows-table-length", rule: "must be a power of two between 1 and 1073741824" },
  { name: "a table length above 2^30", config: web({ "new-flows-table-length": "2147483648" }), stage: "SemanticError", path: "maglev.frontends.web.new-flows-table-length", rule: "must be a power of two between 1 and 1073741824" },
  { name: "an invalid frontend name", config: frontends("web/1: { address: 192.0.2.10, protocol: any, pools: [{ name: main, backends: { b1: } }] }"), stage: "SemanticError", path: 'maglev.frontends["web/1"]', rule: "a frontend name must start with a letter or digit" },
  // --- semantic: across frontends ---------------------------------------------------------
  {
    name: "two frontends with one VIP",
    config: frontends(
      "web: { address: 192.0.2.10/32, protocol: tcp, port: 80, pools: [{ name: main, backends: { b1: } }] }",
      "web-too: { address: 192.0.2.10, protocol: tcp, port: 80, pools: [{ name: main, backends: { b2: } }] }"
    ),
    stage: "SemanticError",
    path: "maglev.frontends.web-too.address",
    rule: 'frontend "web" has the same VIP (192.0.2.10/32 tcp port 80)'
  },
  {
    name: "tcp and udp on port 0 are one all-port VIP to VPP",
    config: frontends(
      "t: { address: 192.0.2.10, protocol: any, pools: [{ name: main, backends: { b1: } }] }",
      "u: { address: 192.0.2.10, protocol: udp, port: 0, pools: [{ name: main, backends: { b2: } }] }"
    ),
    stage: "SemanticError",
    path: "maglev.frontends.u.address",
    rule: 'frontend "t" has the same VIP (192.0.2.10/32, all ports)'
  },
  {
    name: "a per-port VIP next to an all-port VIP",
    config: frontends(
      "all: { address: 192.0.2.10, protocol: any, pools: [{ name: main, backends: { b1: } }] }",
      "web: { address: 192.0.2.10, protocol: tcp, port: 80, pools: [{ name: main, backends: { b2: } }] }"
    ),
    stage: "SemanticError",
    path: "maglev.frontends.web.address",
    rule: 'frontend "all" has an all-port VIP on this prefix'
  },
  {
    name: "frontends sharing a VIP address with backends of different families",
    config: {
      lb: "ipv4-src-address: 192.0.2.1\nipv6-src-address: 2001:db8::1",
      backends: `${base.backends}\nb6: { address: 2001:db8::10, healthcheck: hc }`,
      ...frontends(
        "http: { address: 192.0.2.10, protocol: tcp, port: 80, pools: [{ name: main, backends: { b1: , b2: } }] }",
        "https: { address: 192.0.2.10, protocol: tcp, port: 443, pools: [{ name: main, backends: { b6: } }] }"
      )
    },
    stage: "SemanticError",
    path: "maglev.frontends.https.address",
    rule: 'frontend "http" uses the same VIP address with IPv4 backends, and these are IPv6'
  }
]

describe("invalid configurations", () => {
  it("the table covers at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
  })

  for (const c of cases) {
    it(c.name, () => {
      const yaml = typeof c.config === "string" ? c.config : configYaml(c.config)
      const result = check(yaml, c.checkReadable === undefined ? {} : { checkReadable: c.checkReadable })
      expect(result._tag, yaml).toBe(c.stage)
      const errors = errorsOf(result)
      expect(errors, yaml).toHaveLength(1)
      const [error] = errors
      expect(error?.path).toBe(c.path)
      expect(error?.rule).toContain(c.rule)
      if (c.line !== undefined) expect({ line: error?.line, column: error?.column }).toEqual({ line: c.line, column: c.column })
      if (c.value !== undefined) expect(error?.value).toBe(c.value)
    })
  }
})
