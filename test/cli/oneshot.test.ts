/**
 * maglevc one-shot mode against a real maglevd programming vppsim, with real
 * HTTP backends: the output of each command, and the exit status (0 done,
 * 1 the server failed or could not be reached, 2 usage).
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { repoRoot } from "../support/paths.js"
import { type Lab, maglevc, startLab, until } from "./lab.js"

const ESC = /\x1b\[[0-9;]*m/g
const strip = (s: string) => s.replace(ESC, "")

let lab: Lab
const run = (...args: Array<string>) => maglevc(["--server", lab.url, ...args])

/** The rows of a table in the output, split on runs of two or more spaces. */
const rows = (text: string) => text.split("\n").map((l) => l.trim().split(/\s{2,}/))

// Real processes: on a busy machine (2 cores at load 20) each `node --import tsx` (every maglevc
// run) takes 10-15 s to start, and a test runs up to a dozen.
describe("maglevc one-shot (real maglevd, vppsim and backends)", { timeout: 300_000 }, () => {
  beforeAll(async () => {
    lab = await startLab()
    // Every backend up and warm-up over: VPP has the VIP.
    await until("warm-up done", () => lab.log.find((r) => r.annotations.event === "vpp-lbsync-warmup-done"))
    await until("backends up", async () => {
      const r = await run("--json", "show", "backends")
      const bs = JSON.parse(r.stdout) as Array<{ state: string }>
      return bs.every((b) => b.state === "up") ? true : undefined
    })
  }, 300_000)
  afterAll(() => lab?.stop())

  it("show version: both versions and the server's URL", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }
    const r = await run("show", "version")
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^maglevc\\s+${pkg.version.replace(/\./g, "\\.")} \\(commit `, "m"))
    expect(r.stdout).toMatch(new RegExp(`^maglevd\\s+${pkg.version.replace(/\./g, "\\.")} .* at ${lab.url}, up \\d+`, "m"))
    expect(r.stdout).toContain(lab.configFile)
  })

  it("prefixes: sh fr web is show frontend web, with pools, weights and buckets", async () => {
    const r = await run("sh", "fr", "web")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("pool primary (active)")
    expect(r.stdout).toContain("pool fallback\n")
    const table = rows(r.stdout)
    const web1 = table.find((row) => row[0] === "web1")!
    const web2 = table.find((row) => row[0] === "web2")!
    const web3 = table.find((row) => row[0] === "web3")!
    // BACKEND ADDRESS STATE WEIGHT EFFECTIVE BUCKETS SINCE
    expect(web1.slice(0, 5)).toEqual(["web1", "127.0.0.1", "up", "100", "100"])
    expect(web2.slice(0, 5)).toEqual(["web2", "127.0.0.2", "up", "50", "50"])
    expect(Number(web1[5]) + Number(web2[5])).toBe(1024)
    expect(Number(web1[5])).toBeGreaterThan(Number(web2[5]))
    // Buckets are VPP's: the standby pool's rows have none of their own.
    expect(r.stdout).toMatch(/^buckets\s+from VPP$/m)
    expect(web3.slice(0, 6)).toEqual(["web3", "127.0.0.3", "up", "100", "0", "-"])
    expect(web1[6]).toMatch(/^\d+(s|m\d\ds)$/)
  })

  it("show backends lists every backend; show backend has the transition with its probe result", async () => {
    const [list, one] = await Promise.all([run("show", "backends"), run("sh", "ba", "web1")])
    expect(list.code).toBe(0)
    expect(rows(list.stdout).map((r) => r[0])).toEqual(expect.arrayContaining(["BACKEND", "web1", "web2", "web3"]))
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/^state\s+up$/m)
    expect(one.stdout).toMatch(/unknown\s+up\s+probe\s+L7OK [\d.]+ms HTTP 200/)
    expect(one.stdout).toMatch(/^\s+web\s+primary\s+100\s+100\s+yes$/m)
  })

  it("show healthchecks and show vpp info", async () => {
    const [hcs, vpp] = await Promise.all([run("show", "healthchecks"), run("show", "vpp", "info")])
    expect(hcs.code).toBe(0)
    expect(rows(hcs.stdout).map((r) => r[0])).toEqual(["HEALTHCHECK", "http-check", "tcp-check", ""])
    expect(vpp.code).toBe(0)
    expect(vpp.stdout).toMatch(/^version\s+26\.10/m)
  })

  it("usage errors exit 2 and name the word and the candidates", async () => {
    // Independent runs (usage errors change nothing), started together.
    const [ambiguous, unknown, name, weight, member, incomplete] = await Promise.all([
      run("s", "ba"),
      run("show", "bogus"),
      run("show", "backend", "web"),
      run("set", "frontend", "web", "pool", "primary", "backend", "web2", "weight", "101"),
      run("set", "frontend", "web", "pool", "primary", "backend", "web3", "weight", "1"),
      run("set", "backend", "web1")
    ])
    expect(ambiguous.code).toBe(2)
    expect(ambiguous.stderr).toContain(`word 1: "s" is ambiguous: show, sync, set`)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/word 2: unknown "bogus"; expected one of version, frontends/)
    expect(name.code).toBe(2)
    expect(name.stderr).toContain(`word 3: <backend>: no backend is called "web"; did you mean web1, web2, web3?`)
    expect(weight.code).toBe(2)
    expect(weight.stderr).toContain("word 9: <0-100>: expected a whole number from 0 to 100")
    expect(member.code).toBe(2)
    expect(member.stderr).toContain(`no backend in the pool is called "web3"`)
    expect(incomplete.code).toBe(2)
    expect(incomplete.stderr).toContain("expected one of pause, resume, enable, disable")
    expect(incomplete.stdout).toBe("")
  })

  it("server errors exit 1: a refused action, and no server at all", async () => {
    expect((await run("set", "backend", "web3", "disable")).code).toBe(0)
    const refused = await run("set", "backend", "web3", "pause")
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error: .*disabled; enable it first/m)
    expect((await run("set", "backend", "web3", "enable")).code).toBe(0)
    const port = await freePort()
    const [nobody, badUrl] = await Promise.all([
      maglevc(["--server", `127.0.0.1:${port}`, "show", "version"]),
      maglevc(["--server", "http://[nope", "show", "version"])
    ])
    expect(nobody.code).toBe(1)
    expect(nobody.stderr).toContain(`cannot reach maglevd at http://127.0.0.1:${port}: connection refused; is maglevd running`)
    expect(badUrl.code).toBe(2)
  })

  it("MAGLEV_SERVER chooses the server; --server wins over it", async () => {
    const elsewhere = `127.0.0.1:${await freePort()}`
    const [viaEnv, flagWins] = await Promise.all([
      maglevc(["show", "version"], { env: { MAGLEV_SERVER: lab.url } }),
      maglevc(["--server", lab.url, "show", "version"], { env: { MAGLEV_SERVER: elsewhere } })
    ])
    expect(viaEnv.code).toBe(0)
    expect(flagWins.code).toBe(0)
  })

  it("--json prints the API's response", async () => {
    const [r, counters] = await Promise.all([run("--json", "show", "frontends"), run("--json", "show", "vpp", "lb", "counters")])
    expect(r.code).toBe(0)
    const fs = JSON.parse(r.stdout) as Array<{ name: string; pools: Array<{ name: string }> }>
    expect(fs.map((f) => f.name)).toEqual(["web"])
    expect(fs[0]!.pools.map((p) => p.name)).toEqual(["primary", "fallback"])
    expect(counters.code).toBe(0)
    const cs = JSON.parse(counters.stdout) as Array<{ frontend: string; nextPacket: unknown }>
    expect(cs.map((c) => c.frontend)).toEqual(["web"])
    expect(typeof cs[0]!.nextPacket).toBe("string") // bigints as decimal strings
  })

  it("colour: escapes only when asked, and columns line up either way", async () => {
    const [plain, colour, byDefault, error] = await Promise.all([
      run("--color=false", "show", "backends"),
      run("--color", "show", "backends"),
      run("show", "backends"), // not a terminal
      run("--color", "show", "bogus")
    ])
    expect(plain.stdout).not.toMatch(ESC)
    expect(byDefault.stdout).not.toMatch(ESC)
    expect(colour.stdout).toMatch(ESC)
    // Once the escapes are gone, every row's cells start where the header's do.
    const lines = strip(colour.stdout).trimEnd().split("\n")
    const header = lines[0]!
    for (const column of ["HEALTHCHECK", "STATE", "COUNTER", "POOLS"]) {
      const at = header.indexOf(column)
      for (const line of lines.slice(1)) expect(line.slice(at - 2, at + 1)).toMatch(/^  \S$/)
    }
    expect(lines).toHaveLength(4)
    expect(error.stderr).toContain("\x1b[31m")
  })

  it("set backend pause/resume, and a weight override with flush, then reload drops it", async () => {
    const paused = await run("set", "backend", "web3", "pause")
    expect(paused.code).toBe(0)
    expect(paused.stdout).toMatch(/web3.*paused/)
    expect((await run("show", "backend", "web3")).stdout).toMatch(/^state\s+paused$/m)
    expect((await run("set", "backend", "web3", "resume")).code).toBe(0)

    const set = await run("set", "frontend", "web", "pool", "primary", "backend", "web2", "weight", "0", "flush")
    expect(set.code).toBe(0)
    expect(set.stdout).toMatch(/web2/)
    // The daemon syncs the VIP on the change; VPP then has weight 0 for 127.0.0.2.
    await until("VPP has weight 0", async () => {
      const state = await run("show", "vpp", "lb", "state")
      return /^\s+127\.0\.0\.2\s+0\s/m.test(state.stdout) ? true : undefined
    })
    const shown = await run("show", "frontend", "web")
    const web2 = rows(shown.stdout).find((r) => r[0] === "web2")!
    expect(web2.slice(3, 6)).toEqual(["0 (file 50)", "0", "0"])
    const web1 = rows(shown.stdout).find((r) => r[0] === "web1")!
    expect(web1[5]).toBe("1024")
    const dry = await run("sync", "vpp", "lb", "state", "web", "dry-run")
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/nothing would be sent/)

    const reload = await run("config", "reload")
    expect(reload.code).toBe(0)
    expect(reload.stdout).toMatch(/valid/)
    const after = rows((await run("show", "frontend", "web")).stdout).find((r) => r[0] === "web2")!
    expect(after[3]).toBe("50")
  })

  it("config check: exit 0 on a valid file, 1 (after printing the errors) on a broken one", async () => {
    const ok = await run("config", "check")
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain(lab.configFile)
    const good = fs.readFileSync(lab.configFile, "utf8")
    try {
      fs.writeFileSync(lab.configFile, good.replace("healthcheck: http-check}", "healthcheck: nope}"))
      const bad = await run("config", "check")
      expect(bad.code).toBe(1)
      expect(bad.stdout).toContain("maglev.backends.web1.healthcheck")
      expect(bad.stderr).toContain("the configuration has errors")
      const json = await run("--json", "config", "check")
      expect(json.code).toBe(1)
      expect(JSON.parse(json.stdout).result._tag).toBe("SemanticError")
    } finally {
      fs.writeFileSync(lab.configFile, good)
    }
  })

  it("watch events num 2 backend: prints transitions as they happen, then exits 0", async () => {
    const watching = run("watch", "events", "num", "2", "backend")
    let done = false
    void watching.then(() => (done = true))
    // Flip web1 until the watcher has seen two transitions (it may subscribe after the first flip).
    // Each flip waits for maglevd's transition (one that comes after the flip), not for time.
    let healthy = true
    while (!done) {
      healthy = !healthy
      const from = lab.log.length
      lab.setHealthy("127.0.0.1", healthy)
      const want = healthy ? "up" : "down"
      const transitions = () => JSON.stringify(lab.log.filter((r) => r.annotations.backend === "web1").map((r) => r.annotations))
      await until(() => `web1 ${want}: ${transitions()}`, () =>
        lab.log.slice(from).find((r) => r.annotations.event === "backend-transition" && r.annotations.backend === "web1" && r.annotations.to === want))
    }
    lab.setHealthy("127.0.0.1", true)
    const r = await watching
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split("\n")
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z backend web1 (up -> down|down -> up) \(probe: L7(STS|OK) /)
    await until("web1 up again", async () => (/^state\s+up$/m.test((await run("show", "backend", "web1")).stdout) ? true : undefined))
  })

  it("script mode: commands on stdin, comments skipped, the worst status", async () => {
    const r = await maglevc(["--server", lab.url], { input: "# a comment\nshow version\n\nshow bogus\nshow frontends\n" })
    expect(r.code).toBe(2)
    expect(r.stdout).toMatch(/^maglevd /m)
    expect(r.stdout).toMatch(/^web\s+192\.0\.2\.10\/32/m)
    expect(r.stderr).toContain("line 4: word 2: unknown \"bogus\"")
  })

  it("help lists every command", async () => {
    const r = await run("help")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("set frontend <frontend> pool <pool> backend <backend> weight <0-100> [flush]")
    expect(r.stdout).toContain("watch events [num <n>] [log [level debug|info|warn|error]] [backend] [frontend]")
  })
})

/** A loopback port nobody listens on (just released). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

describe("maglevc against a daemon with a token and no VPP", { timeout: 300_000 }, () => {
  let secured: Lab
  let dir: string
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglevc-token-"))
    fs.writeFileSync(path.join(dir, "token"), "s3cret\n")
    secured = await startLab({ noVpp: true, flags: ["--rpc-token-file", path.join(dir, "token")] })
    fs.writeFileSync(path.join(secured.dir, "client-token"), "s3cret\n")
    fs.writeFileSync(path.join(secured.dir, "wrong-token"), "nope\n")
  }, 300_000)
  afterAll(async () => {
    await secured?.stop()
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
  })

  it("a mutating command needs the token: exit 1 without it, 0 with --token-file or MAGLEV_RPC_TOKEN_FILE", async () => {
    // The refused ones change nothing: started together.
    const [without, wrong, missing] = await Promise.all([
      maglevc(["--server", secured.url, "set", "backend", "web1", "disable"]),
      maglevc(["--server", secured.url, "--token-file", path.join(secured.dir, "wrong-token"), "set", "backend", "web1", "disable"]),
      maglevc(["--server", secured.url, "--token-file", path.join(secured.dir, "missing"), "show", "version"])
    ])
    expect(without.code).toBe(1)
    expect(without.stderr).toContain("unauthorized")
    expect(without.stderr).toContain("--token-file")
    expect(wrong.code).toBe(1)
    const flag = await maglevc(["--server", secured.url, "--token-file", path.join(secured.dir, "client-token"), "set", "backend", "web1", "disable"])
    expect(flag.code).toBe(0)
    expect(flag.stdout).toMatch(/web1.*disabled/)
    const env = await maglevc(["--server", secured.url, "set", "backend", "web1", "enable"], {
      env: { MAGLEV_RPC_TOKEN_FILE: path.join(secured.dir, "client-token") }
    })
    expect(env.code).toBe(0)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("ENOENT")
  })

  it("show vpp info without VPP: exit 1, saying why", async () => {
    const r = await maglevc(["--server", secured.url, "show", "vpp", "info"])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/VPP is not available/)
  })
})
