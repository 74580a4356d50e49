/**
 * maglevc's output (src/cli/Format.ts) on fixed responses and a fixed clock:
 * what each command prints, and the layout rules every printer keeps —
 * columns aligned whether or not cells are coloured, no escape codes without
 * colour, no trailing whitespace.
 */
import { describe, expect, it } from "vitest"
import type * as Api from "../../src/api/Api.js"
import * as F from "../../src/cli/Format.js"

const NOW = Date.parse("2026-11-21T10:00:00.000Z")
const plain: F.Style = { color: false, now: NOW }
const color: F.Style = { color: true, now: NOW }

const ESC = "\x1b"
const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, "")
const linesOf = (s: string): Array<string> => s.replace(/\n$/, "").split("\n")

// --- Fixtures ------------------------------------------------------------------------------

const web: Api.FrontendInfo = {
  name: "web",
  description: "the web site",
  address: "192.0.2.1/32",
  protocol: "tcp",
  port: 80,
  vip: "192.0.2.1/32 6 80",
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 1024,
  state: "up",
  activePool: "primary",
  pools: [
    {
      name: "primary",
      active: true,
      backends: [
        { backend: "web1", address: "10.0.0.1", state: "up", weight: 40, fileWeight: 100, effectiveWeight: 40, buckets: 341, since: NOW - 192_000 },
        { backend: "web2", address: "10.0.0.2", state: "up", weight: 100, effectiveWeight: 100, buckets: 683, since: NOW - 7_500_000 },
        { backend: "web3", address: "10.0.0.3", state: "down", weight: 100, effectiveWeight: 0, buckets: 0 }
      ]
    },
    {
      name: "backup",
      active: false,
      backends: [{ backend: "web1", address: "10.0.0.1", state: "up", weight: 100, effectiveWeight: 0, buckets: 0, since: NOW - 192_000 }]
    }
  ]
}

const dns: Api.FrontendInfo = {
  name: "dns",
  description: "",
  address: "2001:db8::53/128",
  protocol: "udp",
  port: 53,
  vip: "2001:db8::53/128 17 53",
  srcIpSticky: true,
  flushOnDown: false,
  newFlowsTableLength: 65536,
  state: "down",
  pools: [{ name: "main", active: false, backends: [{ backend: "ns1", address: "2001:db8::1", state: "down", weight: 100, effectiveWeight: 0, buckets: 0 }] }]
}

const timeout: Api.ProbeResultInfo = { ok: false, code: "L7TOUT", durationMs: 2001, detail: "timeout after 2s" }

const web3: Api.BackendInfo = {
  name: "web3",
  address: "10.0.0.3",
  healthcheck: "http",
  enabled: true,
  state: "down",
  counter: 0,
  rise: 2,
  fall: 3,
  lastResult: { ok: false, code: "L4CON", durationMs: 1, detail: "connect ECONNREFUSED 10.0.0.3:80" },
  lastProbeAt: NOW - 2_000,
  transitions: [
    { at: NOW - 600_000, from: "unknown", to: "up", cause: "probe", result: { ok: true, code: "L7OK", durationMs: 3, detail: "HTTP 200" } },
    { at: NOW - 300_000, from: "up", to: "paused", cause: "pause" },
    { at: NOW - 240_000, from: "paused", to: "up", cause: "resume" },
    { at: NOW - 192_000, from: "up", to: "down", cause: "probe", result: timeout }
  ],
  memberships: [{ frontend: "web", pool: "primary", weight: 100, effectiveWeight: 0, active: true }]
}

const web1: Api.BackendInfo = {
  name: "web1",
  address: "10.0.0.1",
  healthcheck: "http",
  enabled: true,
  state: "up",
  counter: 4,
  rise: 2,
  fall: 3,
  lastResult: { ok: true, code: "L7OK", durationMs: 2, detail: "HTTP 200" },
  lastProbeAt: NOW - 1_000,
  transitions: [{ at: NOW - 192_000, from: "unknown", to: "up", cause: "probe", result: { ok: true, code: "L7OK", durationMs: 2, detail: "HTTP 200" } }],
  memberships: [
    { frontend: "web", pool: "primary", weight: 40, effectiveWeight: 40, active: true },
    { frontend: "web", pool: "backup", weight: 100, effectiveWeight: 0, active: false }
  ]
}

const web9: Api.BackendInfo = {
  name: "web9",
  address: "2001:db8::9",
  healthcheck: "tcp",
  enabled: false,
  state: "disabled",
  counter: 0,
  rise: 2,
  fall: 3,
  transitions: [],
  memberships: []
}

const httpCheck: Api.HealthCheckInfo = {
  name: "http",
  type: "http",
  port: 80,
  interval: "2s",
  fastInterval: "1s",
  downInterval: "5s",
  timeout: "2s",
  rise: 2,
  fall: 3,
  http: {
    method: "GET",
    path: "/health",
    host: "www.example.com",
    headers: [["X-Probe", "maglev"]],
    expectedCodes: [{ from: 200, to: 299 }, { from: 301, to: 301 }],
    insecure: false
  },
  backends: ["web1", "web2", "web3"]
}

const tcpCheck: Api.HealthCheckInfo = {
  name: "redis",
  type: "tcp",
  interval: "10s",
  fastInterval: "1s",
  downInterval: "30s",
  timeout: "500ms",
  rise: 3,
  fall: 2,
  tcp: { send: "PING\r\n", expect: "+PONG", tls: false, insecure: false },
  backends: []
}

const vpp: Api.VppInfo = {
  version: "24.10-release",
  buildDate: "2024-10-30T12:00:00",
  pid: 4242,
  bootTime: NOW - 90_000_000,
  connectedAt: NOW - 60_000,
  connectCount: 2
}

const lbState: Api.LbState = {
  conf: { ip4SrcAddress: "192.0.2.254", ip6SrcAddress: "2001:db8::fe", stickyBucketsPerCore: 1024, flowTimeout: 40 },
  vips: [
    {
      vip: "192.0.2.1/32 6 80",
      prefix: "192.0.2.1/32",
      protocol: 6,
      port: 80,
      encap: "gre4",
      srcIpSticky: false,
      newFlowsTableLength: 1024,
      frontend: "web",
      ases: [
        { address: "10.0.0.1", weight: 40, active: true, numBuckets: 341, backend: "web1" },
        { address: "10.0.0.7", weight: 0, active: false }
      ]
    },
    { vip: "198.51.100.1/32 17 53", prefix: "198.51.100.1/32", protocol: 17, port: 53, encap: "gre4", ases: [] }
  ]
}

const counters: ReadonlyArray<Api.FrontendCounters> = [
  { frontend: "web", vip: "192.0.2.1/32 6 80", nextPacket: 12345678901234567890n, firstPacket: 42n, untrackedPacket: 0n, noServer: 7n },
  { frontend: "dns", vip: "2001:db8::53/128 17 53", nextPacket: 5n, firstPacket: 1n, untrackedPacket: 18446744073709551615n, noServer: 0n }
]

const asAdd: Api.LbOpInfo = {
  op: "AsAdd",
  event: "vpp-lbsync-as-add",
  vip: "192.0.2.1/32 6 80",
  address: "10.0.0.1",
  weight: 100,
  flush: false,
  frontend: "web",
  backend: "web1"
}
const asDel: Api.LbOpInfo = {
  op: "AsDel",
  event: "vpp-lbsync-as-del",
  vip: "192.0.2.1/32 6 80",
  address: "10.0.0.7",
  flush: true,
  frontend: "web",
  backend: "web7"
}
const vipAdd: Api.LbOpInfo = { op: "VipAdd", event: "vpp-lbsync-vip-add", vip: "192.0.2.1/32 6 80", frontend: "web" }

const version: Api.VersionInfo = {
  version: "0.1.0",
  commit: "def5678",
  date: "2026-11-19",
  startedAt: NOW - 11_100_000,
  configFile: "/etc/vpp-maglev/maglev.yaml"
}
const client = { version: "0.1.0", commit: "abc1234", date: "2026-11-20" }

const valid: Api.ConfigCheck = {
  file: "/etc/vpp-maglev/maglev.yaml",
  result: {
    _tag: "Valid",
    warnings: [{ path: "maglev.backends.web7", rule: "not used by any frontend", line: 40, column: 5 }],
    frontends: 3,
    backends: 5,
    healthchecks: 2
  }
}
const parseError: Api.ConfigCheck = {
  file: "bad.yaml",
  result: { _tag: "ParseError", errors: [{ path: "", rule: "unexpected end of the stream within a flow collection", line: 3, column: 1 }] }
}
const semanticError: Api.ConfigCheck = {
  file: "m.yaml",
  result: {
    _tag: "SemanticError",
    errors: [
      { path: "maglev.frontends.web.pools[0].backends.web9", rule: "backend \"web9\" is not defined", line: 12, column: 7 },
      { path: "maglev.healthchecks.http.rise", value: "0", rule: "expected an integer from 1", line: 20, column: 13 }
    ],
    warnings: [{ path: "maglev.backends.web2", rule: "not used by any frontend" }]
  }
}

/** Every printer on the fixtures, for the layout rules all of them keep. */
const everything = (style: F.Style): Record<string, string> => ({
  version: F.versionText(client, version, "http://127.0.0.1:9090", style),
  versionDown: F.versionText(client, undefined, "http://127.0.0.1:9090", style),
  frontends: F.frontendsText([web, dns], style),
  frontend: F.frontendText(web, style),
  frontendDns: F.frontendText(dns, style),
  backends: F.backendsText([web1, web3, web9], style),
  backend: F.backendText(web3, style),
  backendEmpty: F.backendText(web9, style),
  healthchecks: F.healthchecksText([httpCheck, tcpCheck], style),
  healthcheck: F.healthcheckText(httpCheck, style),
  healthcheckTcp: F.healthcheckText(tcpCheck, style),
  vpp: F.vppInfoText(vpp, style),
  lbState: F.lbStateText(lbState, style),
  lbStateEmpty: F.lbStateText({ conf: lbState.conf, vips: [] }, style),
  counters: F.lbCountersText(counters, style),
  dryRun: F.syncReportText({ applied: false, scope: "full", ops: [asAdd, asDel] }, style),
  synced: F.syncReportText({ applied: true, scope: ["192.0.2.1/32 6 80"], ops: [vipAdd, asAdd] }, style),
  pause: F.backendActionText("pause", web3, style),
  weight: F.weightText(web, "primary", "web1", style),
  valid: F.configCheckText(valid, style),
  parse: F.configCheckText(parseError, style),
  semantic: F.configCheckText(semanticError, style)
})

// --- Layout ---------------------------------------------------------------------------------

describe("paint and visibleWidth", () => {
  it("adds SGR codes only with colour", () => {
    expect(F.paint.bad("down", plain)).toBe("down")
    expect(F.paint.bad("down", color)).toBe(`${ESC}[31mdown${ESC}[0m`)
    for (const p of Object.values(F.paint)) {
      expect(p("x", plain)).toBe("x")
      expect(p("x", color)).toMatch(/^\x1b\[[0-9;]+mx\x1b\[0m$/)
    }
  })

  it("measures what the terminal shows", () => {
    expect(F.visibleWidth("down")).toBe(4)
    expect(F.visibleWidth(F.paint.bad("down", color))).toBe(4)
    expect(F.visibleWidth(`a ${F.paint.good("up", color)} ${F.paint.dim("b", color)}`)).toBe(6)
    expect(F.visibleWidth("")).toBe(0)
  })
})

describe("table", () => {
  const rows = (style: F.Style) => [
    ["web1", F.paint.good("up", style), "40", "3m12s"],
    ["web-backend-22", F.paint.bad("down", style), "100", "-"],
    ["w", F.paint.warn("disabled", style), "7", "2h05m"]
  ]

  it("aligns columns by visible width, the same with and without colour", () => {
    const coloured = F.table(["NAME", "STATE", "WEIGHT", "SINCE"], rows(color), color)
    const uncoloured = F.table(["NAME", "STATE", "WEIGHT", "SINCE"], rows(plain), plain)
    expect(coloured).toContain(ESC)
    expect(uncoloured).not.toContain(ESC)
    expect(strip(coloured)).toBe(uncoloured)
    expect(uncoloured).toBe(
      [
        "NAME            STATE     WEIGHT  SINCE",
        "web1            up            40  3m12s",
        "web-backend-22  down         100  -",
        "w               disabled       7  2h05m",
        ""
      ].join("\n")
    )
  })

  it("starts every left-aligned column at the header's offset and ends numeric ones at its end", () => {
    const out = linesOf(strip(F.table(["NAME", "STATE", "WEIGHT", "SINCE"], rows(color), color)))
    const header = out[0]!
    const start = (word: string) => header.indexOf(word)
    for (const line of out.slice(1)) {
      for (const word of ["STATE", "SINCE"]) {
        expect(line.slice(start(word) - 2, start(word))).toBe("  ")
        expect(line[start(word)]).not.toBe(" ")
      }
      const end = start("WEIGHT") + "WEIGHT".length
      expect(line[end - 1]).toMatch(/\d/)
      expect(line[end]).toBe(" ")
    }
  })

  it("paints headers as labels, indents, and leaves no trailing space", () => {
    const out = F.table(["A", "B"], [["x", ""], ["longer", "y"]], color, "  ")
    expect(out.startsWith(`  ${F.paint.label("A", color)}`)).toBe(true)
    for (const line of linesOf(out)) {
      expect(line).not.toMatch(/\s$/)
      expect(line.startsWith("  ")).toBe(true)
    }
    expect(linesOf(strip(out))[1]).toBe("  x")
  })

  it("right-aligns only columns that are all digits (a `-` placeholder allowed)", () => {
    const out = F.table(["N", "V", "P"], [["1", "10", "1"], ["100", "x", "-"]], plain)
    expect(out).toBe(["  N  V   P", "  1  10  1", "100  x   -", ""].join("\n"))
    // A column of placeholders only is text.
    expect(F.table(["H", "Z"], [["a", "-"]], plain)).toBe("H  Z\na  -\n")
  })
})

describe("age", () => {
  it.each([
    [-5_000, "0s"],
    [0, "0s"],
    [999, "0s"],
    [45_000, "45s"],
    [59_999, "59s"],
    [60_000, "1m00s"],
    [192_000, "3m12s"],
    [3_599_999, "59m59s"],
    [3_600_000, "1h00m"],
    [7_500_000, "2h05m"],
    [86_399_999, "23h59m"],
    [86_400_000, "1d00h"],
    [273_600_000, "3d04h"],
    [Number.NaN, "0s"]
  ])("%d ms is %s", (ms, text) => {
    expect(F.age(ms)).toBe(text)
  })
})

describe("every printer", () => {
  const withColour = everything(color)
  const without = everything(plain)

  it.each(Object.keys(without))("%s: ends in a newline, no trailing spaces, no escapes without colour", (name) => {
    const text = without[name]!
    expect(text.endsWith("\n")).toBe(true)
    expect(text).not.toContain(ESC)
    for (const line of linesOf(text)) expect(line).not.toMatch(/\s$/)
    for (const line of linesOf(withColour[name]!)) expect(line).not.toMatch(/\s$/)
    expect(strip(withColour[name]!)).toBe(text)
  })
})

// --- Commands -------------------------------------------------------------------------------

describe("show version", () => {
  it("prints both ends, or says the daemon is not reachable", () => {
    expect(F.versionText(client, version, "http://127.0.0.1:9090", plain)).toBe(
      "maglevc  0.1.0 (commit abc1234, 2026-11-20)\n" +
        "maglevd  0.1.0 (commit def5678, 2026-11-19) at http://127.0.0.1:9090, up 3h05m, config /etc/vpp-maglev/maglev.yaml\n"
    )
    expect(F.versionText(client, undefined, "http://h:9090", plain)).toBe(
      "maglevc  0.1.0 (commit abc1234, 2026-11-20)\nmaglevd  not reachable at http://h:9090\n"
    )
  })
})

describe("show frontends", () => {
  it("lists each frontend with its active pool and how many backends serve", () => {
    expect(F.frontendsText([web, dns], plain)).toBe(
      [
        "FRONTEND  ADDRESS           PROTO  PORT  STATE  POOL     BACKENDS",
        "web       192.0.2.1/32      tcp      80  up     primary  2/3 serving",
        "dns       2001:db8::53/128  udp      53  down   -        0/1 serving",
        ""
      ].join("\n")
    )
    expect(F.frontendsText([], plain)).toBe("no frontends\n")
  })
})

describe("show frontend", () => {
  const out = F.frontendText(web, plain)

  it("prints the frontend's settings, then each pool's members", () => {
    expect(out).toBe(
      [
        "frontend                web",
        "description             the web site",
        "vip                     192.0.2.1/32 tcp 80",
        "state                   up",
        "active pool             primary",
        "src-ip-sticky           no",
        "flush-on-down           yes",
        "new-flows-table-length  1024",
        "",
        "pool primary (active)",
        "  BACKEND  ADDRESS   STATE  WEIGHT         EFFECTIVE  BUCKETS  SINCE",
        "  web1     10.0.0.1  up     40 (file 100)         40      341  3m12s",
        "  web2     10.0.0.2  up     100                  100      683  2h05m",
        "  web3     10.0.0.3  down   100                    0        0  -",
        "",
        "pool backup",
        "  BACKEND  ADDRESS   STATE  WEIGHT  EFFECTIVE  BUCKETS  SINCE",
        "  web1     10.0.0.1  up        100          0        0  3m12s",
        ""
      ].join("\n")
    )
  })

  it("leaves out an empty description and says when no pool is active", () => {
    const text = F.frontendText(dns, plain)
    expect(text).not.toContain("description")
    expect(text).toContain("active pool             none\n")
    expect(text).toContain("pool main\n")
    expect(text).toContain("vip                     2001:db8::53/128 udp 53\n")
  })

  it("with VPP's state: VPP's buckets on the active pool's rows, the prediction beside any that differ", () => {
    const vpp: F.VipInVpp = { _tag: "Found", buckets: new Map([["10.0.0.1", 300], ["10.0.0.2", 683]]) }
    const text = F.frontendText(web, plain, vpp)
    expect(text).toContain("new-flows-table-length  1024\nbuckets                 from VPP\n")
    const rows = text.split("\n").filter((l) => /^  web\d/.test(l)).map((l) => l.trim().split(/\s{2,}/))
    expect(rows.map((r) => [r[0], r[5]])).toEqual([
      ["web1", "300 (want 341)"], // drift: VPP has not caught up (or someone changed it)
      ["web2", "683"],
      ["web3", "0"],
      ["web1", "-"] // not the active pool: its buckets are on the active row
    ])
    expect(strip(F.frontendText(web, color, vpp))).toBe(text)
  })

  it("without the VIP in VPP: the prediction, and the header says why", () => {
    const text = F.frontendText(web, plain, { _tag: "Missing", reason: "VPP is not available: not connected" })
    expect(text).toContain("buckets                 predicted (VPP is not available: not connected)\n")
    expect(text.split("\n").filter((l) => l.startsWith("  web")).map((l) => l.trim().split(/\s{2,}/)[5])).toEqual(["341", "683", "0", "0"])
  })

  it("colours state words and keeps the override's columns aligned", () => {
    const coloured = F.frontendText(web, color)
    expect(coloured).toContain(F.paint.good("up", color))
    expect(coloured).toContain(F.paint.bad("down", color))
    expect(coloured).toContain(`40 ${F.paint.warn("(file 100)", color)}`)
    expect(strip(coloured)).toBe(out)
  })
})

describe("show backends", () => {
  it("lists state, counter, last probe, age of the last transition and pools", () => {
    expect(F.backendsText([web1, web3, web9], plain)).toBe(
      [
        "BACKEND  ADDRESS      HEALTHCHECK  STATE     COUNTER  LAST-PROBE  SINCE  POOLS",
        "web1     10.0.0.1     http         up        4/4      L7OK 2ms    3m12s  web/primary,web/backup",
        "web3     10.0.0.3     http         down      0/4      L4CON 1ms   3m12s  web/primary",
        "web9     2001:db8::9  tcp          disabled  0/4      -           -      -",
        ""
      ].join("\n")
    )
    expect(F.backendsText([], plain)).toBe("no backends\n")
  })
})

describe("show backend", () => {
  it("prints the backend, its memberships and its transitions with the probe results that caused them", () => {
    expect(F.backendText(web3, plain)).toBe(
      [
        "backend      web3",
        "address      10.0.0.3",
        "healthcheck  http",
        "state        down",
        "enabled      yes",
        "counter      0 (rise 2, fall 3; up at 2, at most 4)",
        "last probe   L4CON 1ms (2s ago) connect ECONNREFUSED 10.0.0.3:80",
        "",
        "memberships",
        "  FRONTEND  POOL     WEIGHT  EFFECTIVE  ACTIVE",
        "  web       primary     100          0  yes",
        "",
        "transitions",
        "  AT                        AGE     FROM     TO      CAUSE   RESULT",
        "  2026-11-21T09:50:00.000Z  10m00s  unknown  up      probe   L7OK 3ms HTTP 200",
        "  2026-11-21T09:55:00.000Z  5m00s   up       paused  pause   -",
        "  2026-11-21T09:56:00.000Z  4m00s   paused   up      resume  -",
        "  2026-11-21T09:56:48.000Z  3m12s   up       down    probe   L7TOUT 2001ms timeout after 2s",
        ""
      ].join("\n")
    )
  })

  it("says when there is nothing to show yet", () => {
    const text = F.backendText(web9, plain)
    expect(text).toContain("last probe   -\n")
    expect(text).toContain("memberships\n  none\n")
    expect(text).toContain("transitions\n  no transitions yet\n")
    expect(text).toContain("enabled      no\n")
  })
})

describe("set backend / set weight", () => {
  it("confirms an action with the resulting state", () => {
    expect(F.backendActionText("pause", { ...web9, state: "paused", enabled: true }, plain)).toBe("backend web9 paused: state paused\n")
    expect(F.backendActionText("disable", web9, plain)).toBe("backend web9 disabled: state disabled\n")
    expect(F.backendActionText("resume", web1, plain)).toBe("backend web1 resumed: state up\n")
  })

  it("confirms a weight with the file's weight, the effective weight and the state", () => {
    expect(F.weightText(web, "primary", "web1", plain)).toBe(
      "frontend web pool primary backend web1: weight 40 (file 100), effective 40, state up\n"
    )
    expect(F.weightText(web, "primary", "web2", plain)).toBe(
      "frontend web pool primary backend web2: weight 100, effective 100, state up\n"
    )
    expect(F.weightText(web, "nope", "web1", plain)).toBe("frontend web has no backend web1 in pool nope\n")
  })
})

describe("show healthchecks", () => {
  it("lists the health checks, with a placeholder port right-aligned with the numbers", () => {
    expect(F.healthchecksText([httpCheck, tcpCheck], plain)).toBe(
      [
        "HEALTHCHECK  TYPE  PORT  INTERVAL  TIMEOUT  RISE  FALL  BACKENDS",
        "http         http    80  2s        2s          2     3         3",
        "redis        tcp      -  10s       500ms       3     2         0",
        ""
      ].join("\n")
    )
  })

  it("shows one health check's protocol parameters", () => {
    const http = F.healthcheckText(httpCheck, plain)
    expect(http).toContain("path            /health\n")
    expect(http).toContain("host            www.example.com\n")
    expect(http).toContain("header          X-Probe: maglev\n")
    expect(http).toContain("expected-codes  200-299, 301\n")
    expect(http).toContain("backends        web1, web2, web3\n")
    const tcp = F.healthcheckText(tcpCheck, plain)
    expect(tcp).toContain("send           \"PING\\r\\n\"\n")
    expect(tcp).toContain("port           -\n")
    expect(tcp).toContain("backends       -\n")
  })
})

describe("show vpp", () => {
  it("info: times as ISO with their age", () => {
    expect(F.vppInfoText(vpp, plain)).toBe(
      [
        "version     24.10-release",
        "build date  2024-10-30T12:00:00",
        "pid         4242",
        "boot time   2026-11-20T09:00:00.000Z (1d01h ago)",
        "connected   2026-11-21T09:59:00.000Z (1m00s ago)",
        "connects    2",
        ""
      ].join("\n")
    )
  })

  it("lb state: a source address VPP reports as all ones is unset", () => {
    const unset = { ...lbState, conf: { ...lbState.conf, ip4SrcAddress: "255.255.255.255", ip6SrcAddress: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" } }
    const text = F.lbStateText(unset, plain)
    expect(text).toContain("ip4-src-address          unset\n")
    expect(text).toContain("ip6-src-address          unset\n")
  })

  it("lb state: the conf, then each VIP and its ASes", () => {
    expect(F.lbStateText(lbState, plain)).toBe(
      [
        "ip4-src-address          192.0.2.254",
        "ip6-src-address          2001:db8::fe",
        "sticky-buckets-per-core  1024",
        "flow-timeout             40s",
        "",
        "vip 192.0.2.1/32 6 80 (frontend web) encap gre4 sticky no table 1024",
        "  ADDRESS   WEIGHT  STATE     BUCKETS  BACKEND",
        "  10.0.0.1      40  active        341  web1",
        "  10.0.0.7       0  draining        -  -",
        "",
        "vip 198.51.100.1/32 17 53 (no frontend) encap gre4",
        "  no ASes",
        ""
      ].join("\n")
    )
    expect(F.lbStateText({ conf: lbState.conf, vips: [] }, plain)).toMatch(/\n\nno VIPs\n$/)
  })

  it("lb counters: bigints in full, right-aligned", () => {
    expect(F.lbCountersText(counters, plain)).toBe(
      [
        "FRONTEND  VIP                                     NEXT  FIRST             UNTRACKED  NO-SERVER",
        "web       192.0.2.1/32 6 80       12345678901234567890     42                     0          7",
        "dns       2001:db8::53/128 17 53                     5      1  18446744073709551615          0",
        ""
      ].join("\n")
    )
    expect(F.lbCountersText([], plain)).toBe("no counters\n")
  })

  it("lb counters with each AS's established flows (show lb vips verbose flows:)", () => {
    const withFlows: ReadonlyArray<Api.FrontendCounters> = [{
      ...counters[0]!,
      ases: [
        { address: "10.0.0.1", backend: "web1", flows: 1203, active: true },
        { address: "10.0.0.2", backend: "web2", flows: 0, active: true },
        { address: "10.0.0.9", flows: 17, active: false }
      ]
    }]
    expect(F.lbCountersText(withFlows, plain)).toBe(
      [
        "FRONTEND  VIP                                NEXT  FIRST  UNTRACKED  NO-SERVER",
        "web       192.0.2.1/32 6 80  12345678901234567890     42          0          7",
        "",
        "FRONTEND  BACKEND  ADDRESS   STATE     FLOWS",
        "web       web1     10.0.0.1  active     1203",
        "web       web2     10.0.0.2  active        0",
        "web       -        10.0.0.9  draining     17",
        ""
      ].join("\n")
    )
  })
})

describe("sync vpp lb state", () => {
  it("a dry run lists what would be sent", () => {
    expect(F.syncReportText({ applied: false, scope: "full", ops: [asAdd, asDel] }, plain)).toBe(
      [
        "dry run: 2 operations would be sent (full)",
        "  vpp-lbsync-as-add 192.0.2.1/32 6 80 10.0.0.1 weight 100 (web/web1)",
        "  vpp-lbsync-as-del 192.0.2.1/32 6 80 10.0.0.7 flush (web/web7)",
        ""
      ].join("\n")
    )
  })

  it("an applied sync says what was sent, over which VIPs", () => {
    expect(F.syncReportText({ applied: true, scope: ["192.0.2.1/32 6 80"], ops: [vipAdd, asAdd] }, plain)).toBe(
      [
        "synced (192.0.2.1/32 6 80): 2 operations",
        "  vpp-lbsync-vip-add 192.0.2.1/32 6 80 (web)",
        "  vpp-lbsync-as-add 192.0.2.1/32 6 80 10.0.0.1 weight 100 (web/web1)",
        ""
      ].join("\n")
    )
    expect(F.syncReportText({ applied: true, scope: "full", ops: [asDel] }, plain)).toMatch(/^synced \(full\): 1 operation\n/)
  })

  it("nothing to do, applied or not", () => {
    expect(F.syncReportText({ applied: true, scope: "full", ops: [] }, plain)).toBe(
      "synced (full): VPP already matches, nothing sent\n"
    )
    expect(F.syncReportText({ applied: false, scope: "full", ops: [] }, plain)).toBe(
      "dry run (full): VPP already matches, nothing would be sent\n"
    )
  })
})

describe("config check", () => {
  it("valid: the counts, then the warnings", () => {
    expect(F.configCheckText(valid, plain)).toBe(
      "/etc/vpp-maglev/maglev.yaml: valid (3 frontends, 5 backends, 2 healthchecks, 1 warning)\n" +
        "/etc/vpp-maglev/maglev.yaml:40:5: warning: maglev.backends.web7: not used by any frontend\n"
    )
    const clean: Api.ConfigCheck = { file: "m.yaml", result: { _tag: "Valid", warnings: [], frontends: 1, backends: 1, healthchecks: 1 } }
    expect(F.configCheckText(clean, plain)).toBe("m.yaml: valid (1 frontend, 1 backend, 1 healthcheck)\n")
  })

  it("parse error: the YAML's errors", () => {
    expect(F.configCheckText(parseError, plain)).toBe(
      "bad.yaml: invalid: 1 error reading the YAML\n" +
        "bad.yaml:3:1: error: unexpected end of the stream within a flow collection\n"
    )
  })

  it("semantic error: every error in red, then the warnings", () => {
    expect(F.configCheckText(semanticError, plain)).toBe(
      [
        "m.yaml: invalid: 2 errors, 1 warning",
        "m.yaml:12:7: error: maglev.frontends.web.pools[0].backends.web9: backend \"web9\" is not defined",
        "m.yaml:20:13: error: maglev.healthchecks.http.rise: expected an integer from 1 (value: 0)",
        "m.yaml: warning: maglev.backends.web2: not used by any frontend",
        ""
      ].join("\n")
    )
    const lines = linesOf(F.configCheckText(semanticError, color))
    expect(lines[1]).toBe(F.paint.error(linesOf(F.configCheckText(semanticError, plain))[1]!, color))
    expect(lines[2]!.startsWith(`${ESC}[31m`)).toBe(true)
    expect(lines[3]!.startsWith(`${ESC}[33m`)).toBe(true)
  })
})

describe("watch events", () => {
  it("skips the hydrating snapshot", () => {
    expect(F.watchEventText({ _tag: "Hydrate", backends: [web1], frontends: [web] }, plain)).toBeUndefined()
  })

  it("a backend transition, at its own time, with the probe result that caused it", () => {
    expect(F.watchEventText({ _tag: "BackendEvent", transition: web3.transitions[3]!, backend: web3 }, plain)).toBe(
      "2026-11-21T09:56:48.000Z backend web3 up -> down (probe: L7TOUT 2001ms: timeout after 2s)"
    )
    expect(F.watchEventText({ _tag: "BackendEvent", transition: web3.transitions[1]!, backend: web3 }, plain)).toBe(
      "2026-11-21T09:55:00.000Z backend web3 up -> paused (pause)"
    )
  })

  it("a frontend change, at the time it arrived", () => {
    expect(F.watchEventText({ _tag: "FrontendEvent", frontend: "web", from: "up", to: "down", activePoolFrom: "primary", info: web }, plain)).toBe(
      "2026-11-21T10:00:00.000Z frontend web up -> down, active pool primary -> -"
    )
    expect(
      F.watchEventText(
        { _tag: "FrontendEvent", frontend: "web", from: "up", to: "up", activePoolFrom: "primary", activePool: "backup", info: web },
        plain
      )
    ).toBe("2026-11-21T10:00:00.000Z frontend web up, active pool primary -> backup")
  })

  it("a panic's start and end (min-healthy)", () => {
    const at = Date.parse("2026-11-21T10:00:00.000Z")
    expect(F.watchEventText({ _tag: "FrontendPanicEvent", at, frontend: "web", panic: true, pool: "primary", up: 1, threshold: 2, minHealthy: "50%", keptPool: "primary", since: at }, plain))
      .toBe("2026-11-21T10:00:00.000Z frontend web in panic: pool primary has 1 up, fewer than min-healthy 50% (2); keeping the last good weights of pool primary")
    expect(F.watchEventText({ _tag: "FrontendPanicEvent", at, frontend: "web", panic: false, pool: "primary", up: 2, threshold: 2, since: at - 72_000, reason: "healthy", durationMs: 72_000 }, plain))
      .toBe("2026-11-21T10:00:00.000Z frontend web out of panic (healthy): pool primary has 2 up (threshold 2), after 1m12s")
  })

  it("a log record with its annotations, quoting only what needs it", () => {
    const line = F.watchEventText(
      {
        _tag: "LogEvent",
        at: NOW + 123,
        level: "warn",
        message: "probe failed",
        annotations: { event: "backend-probe", backend: "web3", detail: "connect refused", weight: 40, ok: false, empty: "", obj: { a: 1 } }
      },
      plain
    )
    expect(line).toBe(
      "2026-11-21T10:00:00.123Z log warn probe failed event=backend-probe backend=web3 detail=\"connect refused\" " +
        "weight=40 ok=false empty=\"\" obj={\"a\":1}"
    )
  })

  it("stays on one line, and colours only with colour", () => {
    const event: Api.WatchEvent = {
      _tag: "LogEvent",
      at: NOW,
      level: "error",
      message: "sync failed\nretrying",
      annotations: {},
      cause: "Error: boom\n    at x"
    }
    const line = F.watchEventText(event, plain)!
    expect(line).not.toContain("\n")
    expect(line).toBe("2026-11-21T10:00:00.000Z log error sync failed\\nretrying cause=\"Error: boom\\n    at x\"")
    const coloured = F.watchEventText(event, color)!
    expect(coloured).toContain(F.paint.error("error", color))
    expect(strip(coloured)).toBe(line)
  })
})
