/**
 * The Debian packages as an operator gets them: `npm run deb` (here without
 * compression, to a temporary directory), `dpkg -i` of both, the shipped
 * configuration checked by the installed maglevd, the unit's ExecStart run as
 * the `maglevd` user with only the unit's capabilities (setpriv) against
 * vppsim: an ICMP and an HTTP backend come up, VPP is programmed through the
 * `vpp` group's access to its sockets, and the installed maglevc reads it;
 * then `dpkg --purge` of both leaves no file, unit link or user behind.
 *
 * It installs into this machine, so it runs only as root (CI runs as root)
 * and not where the packages are already installed (it would remove them);
 * it says why when it skips.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { jsonLines, type LogRecord } from "../support/jsonLines.js"
import { repoRoot } from "../support/paths.js"
import { program } from "../support/programs.js"
import { waitFor } from "../support/wait.js"

const PACKAGES = ["vpp-maglevd", "vpp-maglev"] as const
const UNIT = "/lib/systemd/system/vpp-maglevd.service"

const sh = (cmd: string, args: ReadonlyArray<string>, options: { readonly env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...options })
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error }
}
const has = (tool: string) => sh("sh", ["-c", `command -v ${tool}`]).code === 0
const isInstalled = (pkg: string) => sh("dpkg-query", ["-W", "-f=${Status}", pkg]).stdout.includes("ok installed")
const getent = (db: "passwd" | "group", name: string) => sh("getent", [db, name]).stdout.trim()

const skipReason = process.getuid?.() !== 0
  ? "it installs packages into this machine: run as root (CI does)"
  : !["dpkg", "dpkg-deb", "setpriv", "getent", "groupadd"].every(has)
  ? "dpkg, dpkg-deb, setpriv, getent or groupadd is missing"
  : PACKAGES.some(isInstalled)
  ? "vpp-maglev(d) is already installed here and the test would purge it"
  : undefined
if (skipReason !== undefined) console.warn(`test/packaging/install.test.ts skipped: ${skipReason}`)

/** `KEY=value` lines of an EnvironmentFile (quotes removed), as systemd reads them. */
const environmentFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text.split("\n").flatMap((line) => {
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
      return m ? [[m[1]!, m[2]!.trim().replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1")]] : []
    })
  )

/** The unit's `[Service]` settings (the last of each key wins, as for these single-valued ones). */
const unitSettings = (text: string): Record<string, string> =>
  Object.fromEntries(text.split("\n").flatMap((line) => {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
    return m ? [[m[1]!, m[2]!]] : []
  }))

/** ExecStart's words: `$VAR` expands to the value's words, `${VAR}` to one word (systemd.service(5)). */
const execStartWords = (execStart: string, env: Record<string, string>): Array<string> =>
  execStart.trim().split(/\s+/).flatMap((word) => {
    const braced = /^\$\{(\w+)\}$/.exec(word)
    if (braced) return [env[braced[1]!] ?? ""]
    const bare = /^\$(\w+)$/.exec(word)
    if (bare) return (env[bare[1]!] ?? "").split(/\s+/).filter((w) => w !== "")
    return [word]
  })

/** `CAP_NET_RAW CAP_SYS_ADMIN` -> `-all,+net_raw,+sys_admin`, setpriv's spelling. */
const setprivCaps = (caps: string) =>
  ["-all", ...caps.split(/\s+/).filter((c) => c !== "").map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)].join(",")

describe.skipIf(skipReason !== undefined)("Debian packages: build, install, run as the unit does, purge", () => {
  let dir = ""
  let createdVppGroup = false
  const children: Array<ChildProcess> = []

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "vpp-maglev-packaging-"))
    // maglevd (not root) reads its configuration here and reaches the VPP sockets below.
    fs.chmodSync(dir, 0o755)
    const built = sh(process.execPath, [path.join(repoRoot, "packaging", "deb.mjs"), "--outdir", path.join(dir, "debs"), "--compress", "none"])
    expect(built.code, `npm run deb failed: ${built.stdout}${built.stderr}`).toBe(0)
    if (getent("group", "vpp") === "") {
      expect(sh("groupadd", ["--system", "vpp"]).code).toBe(0)
      createdVppGroup = true
    }
    const debs = fs.readdirSync(path.join(dir, "debs")).map((f) => path.join(dir, "debs", f))
    expect(debs.map((f) => path.basename(f)).sort()).toEqual([
      expect.stringMatching(/^vpp-maglev_[\d.]+_\w+\.deb$/),
      expect.stringMatching(/^vpp-maglevd_[\d.]+_\w+\.deb$/)
    ])
    const installed = sh("dpkg", ["-i", ...debs])
    expect(installed.code, `dpkg -i failed: ${installed.stdout}${installed.stderr}`).toBe(0)
  }, 300_000)

  afterAll(() => {
    for (const c of children) c.kill("SIGKILL")
    // A failed test may have left them installed: purge so the next run starts clean.
    if (PACKAGES.some(isInstalled)) sh("dpkg", ["--purge", ...PACKAGES])
    if (createdVppGroup) sh("groupdel", ["vpp"])
    if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
  }, 120_000)

  it("installs the programs, units, configuration and man pages; the shipped configuration checks; the unit verifies", () => {
    for (const f of ["/usr/sbin/maglevd", "/usr/bin/maglevc", "/usr/bin/maglevt", UNIT, "/etc/vpp-maglev/maglev.yaml", "/etc/default/vpp-maglev",
      "/usr/share/man/man8/maglevd.8.gz", "/usr/share/man/man1/maglevc.1.gz", "/usr/share/man/man1/maglevt.1.gz"]) {
      expect(fs.existsSync(f), f).toBe(true)
    }
    // The private runtime needs nothing beyond the C and C++ libraries.
    const ldd = sh("ldd", ["/usr/lib/vpp-maglev/node"]).stdout
    expect(ldd).not.toContain("not found")
    expect(ldd).toMatch(/libc\.so\.6/)

    // The programs' V8 code caches fit the Node that ships (else each start compiles its bundle).
    const rejected = sh("/usr/lib/vpp-maglev/node", ["-e", `
      const fs = require("fs"), vm = require("vm")
      const file = "/usr/lib/vpp-maglev/maglevc.cjs"
      const s = new vm.Script("(function (exports, require, module, __filename, __dirname, __vppMaglevUrl) {" + fs.readFileSync(file, "utf8") + "\\n})",
        { filename: file, cachedData: fs.readFileSync("/usr/lib/vpp-maglev/maglevc.v8cache") })
      console.log(s.cachedDataRejected)`])
    expect(rejected.stdout.trim(), rejected.stderr).toBe("false")

    const version = sh("/usr/sbin/maglevd", ["--version"])
    expect(version.code).toBe(0)
    // The commit is embedded at build time; from a git checkout it is a hash, never "unknown".
    const pkgVersion = (JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { readonly version: string }).version
    expect(version.stdout).toContain(pkgVersion)
    if (fs.existsSync(path.join(repoRoot, ".git"))) expect(version.stdout).toMatch(/commit [0-9a-f]{12}(\+dirty)?\b/)
    const commit = /commit (\S+?),/.exec(version.stdout)?.[1]
    expect(commit).toBeDefined()
    expect(sh("/usr/bin/maglevc", ["--version"]).stdout).toContain(`commit ${commit}`)

    const check = sh("/usr/sbin/maglevd", ["--check"])
    expect(check.stdout + check.stderr).toContain("/etc/vpp-maglev/maglev.yaml: valid")
    expect(check.code).toBe(0)

    // The system user, in the vpp group for VPP's sockets; the daemon's unit enabled, the dashboard's not.
    expect(getent("passwd", "maglevd")).toMatch(/^maglevd:x:\d+:\d+:.*:\/nonexistent:\/usr\/sbin\/nologin$/)
    expect(getent("group", "vpp").split(":")[3]!.split(",")).toContain("maglevd")
    expect(fs.existsSync("/etc/systemd/system/multi-user.target.wants/vpp-maglevd.service")).toBe(true)
    expect(fs.existsSync("/etc/systemd/system/multi-user.target.wants/vpp-maglevd-frontend.service")).toBe(false)

    if (!has("systemd-analyze")) {
      console.warn("systemd-analyze is missing (Debian's systemd package): the unit files are not verified; .ci/run installs it")
    } else {
      for (const unit of fs.readdirSync("/lib/systemd/system").filter((u) => u.startsWith("vpp-maglevd"))) {
        const verify = sh("systemd-analyze", ["verify", path.join("/lib/systemd/system", unit)])
        expect(verify.stdout + verify.stderr, unit).toBe("")
        expect(verify.code, unit).toBe(0)
      }
    }
  })

  it.live("runs the unit's ExecStart as maglevd with only the unit's capabilities: ICMP and HTTP probes, VPP through the vpp group, the installed maglevc", () =>
    Effect.gen(function*() {
      // VPP's sockets as a VPP host has them: owned by the vpp group, 0770, in a directory maglevd may enter only through that group.
      const vppDir = path.join(dir, "vpp")
      fs.mkdirSync(vppDir, { mode: 0o750 })
      const vppGid = Number(getent("group", "vpp").split(":")[2])
      fs.chownSync(vppDir, 0, vppGid)
      const apiSocket = path.join(vppDir, "api.sock")
      const statsSocket = path.join(vppDir, "stats.sock")
      const sim = spawn(process.execPath, [...program("vppsim"), "--api-socket", apiSocket, "--stats-socket", statsSocket], {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "inherit"]
      })
      children.push(sim)
      const simLog = jsonLines(sim)
      yield* waitFor("vppsim-ready", Effect.sync(() => simLog.find((r) => r.annotations.event === "vppsim-ready")), 120_000, 50)
      for (const s of [apiSocket, statsSocket]) {
        fs.chownSync(s, 0, vppGid)
        fs.chmodSync(s, 0o770)
      }

      const server = http.createServer((_, res) => res.end("ok"))
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((r) => server.listen(0, "127.0.0.1", r))),
        () => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
      )
      const port = (server.address() as AddressInfo).port
      const config = path.join(dir, "maglev.yaml")
      fs.writeFileSync(config, `maglev:
  vpp:
    lb:
      ipv4-src-address: 192.0.2.1
      startup-min-delay: 0s
  healthchecks:
    web: {type: http, port: ${port}, interval: 2s, fast-interval: 2s, timeout: 2s, rise: 1, fall: 3}
    ping: {type: icmp, interval: 2s, fast-interval: 2s, timeout: 2s, rise: 1, fall: 3}
  backends:
    web1: {address: 127.0.0.1, healthcheck: web}
    gw1: {address: 127.0.0.2, healthcheck: ping}
  frontends:
    web: {address: 192.0.2.10/32, protocol: tcp, port: 80, pools: [{name: main, backends: {web1: {}, gw1: {}}}]}
`, { mode: 0o644 })

      // The unit as systemd would run it: its user, its capabilities (ambient and bounding), no new
      // privileges, its EnvironmentFile, then this test's addresses in the environment.
      const unit = unitSettings(fs.readFileSync(UNIT, "utf8"))
      expect(unit.User).toBe("maglevd")
      expect(unit.NoNewPrivileges).toBe("yes")
      expect(unit.AmbientCapabilities).toBe("CAP_NET_RAW")
      const env = {
        ...environmentFile(fs.readFileSync("/etc/default/vpp-maglev", "utf8")),
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
        MAGLEV_CONFIG: config,
        MAGLEV_VPP_API_ADDR: apiSocket,
        MAGLEV_VPP_STATS_ADDR: statsSocket,
        MAGLEV_RPC_ADDR: "127.0.0.1:0",
        MAGLEV_METRICS_ADDR: "127.0.0.1:0"
      }
      const caps = setprivCaps(unit.AmbientCapabilities!)
      const bounding = setprivCaps(unit.CapabilityBoundingSet ?? unit.AmbientCapabilities!)
      const daemon = spawn("setpriv", [
        `--reuid=${unit.User}`, `--regid=${unit.Group ?? unit.User}`, "--init-groups",
        `--inh-caps=${caps}`, `--ambient-caps=${caps}`, `--bounding-set=${bounding}`, "--no-new-privs",
        "--", ...execStartWords(unit.ExecStart!, env)
      ], { env, stdio: ["ignore", "pipe", "inherit"] })
      children.push(daemon)
      const exited = new Promise<number | null>((resolve) => daemon.on("exit", (code) => resolve(code)))
      const log = jsonLines(daemon)
      const record = (what: string, pred: (r: LogRecord) => boolean) =>
        waitFor(what, Effect.sync(() => log.find(pred) ?? (daemon.exitCode !== null ? (() => {
          throw new Error(`maglevd exited ${daemon.exitCode} before ${what}: ${JSON.stringify(log)}`)
        })() : undefined)), 120_000, 50)

      const up = (backend: string) => (r: LogRecord) =>
        r.annotations.event === "backend-transition" && r.annotations.backend === backend && r.annotations.to === "up"
      yield* record("web1 up (HTTP probe)", up("web1"))
      yield* record("gw1 up (ICMP probe: CAP_NET_RAW)", up("gw1"))
      yield* record("vpp-connect (the sockets through the vpp group)", (r) => r.annotations.event === "vpp-connect")
      for (const as of ["127.0.0.1", "127.0.0.2"]) {
        yield* record(`VPP programmed with ${as}`, (r) => r.annotations.event === "vpp-lbsync-as-add" && r.annotations.as === as)
      }
      const url = String((yield* record("rpc-listen", (r) => r.annotations.event === "rpc-listen")).annotations.url)

      const shown = sh("/usr/bin/maglevc", ["--server", url, "--json", "show", "backends"])
      expect(shown.code, shown.stderr).toBe(0)
      const backends = JSON.parse(shown.stdout) as ReadonlyArray<{ readonly name: string; readonly state: string }>
      expect(backends.map((b) => [b.name, b.state]).sort()).toEqual([["gw1", "up"], ["web1", "up"]])

      // A reload checks the file on a worker thread (CheckWorker.js beside the bundle).
      daemon.kill("SIGHUP")
      yield* record("config-reload", (r) => r.annotations.event === "config-reload")

      daemon.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
      sim.kill("SIGTERM")
    }).pipe(Effect.scoped), 300_000)

  it("purges both packages and leaves nothing behind: files, unit links, the maglevd user and group", () => {
    const files = sh("dpkg", ["-L", ...PACKAGES]).stdout.split("\n").filter((f) => f !== "" && !fs.statSync(f, { throwIfNoEntry: false })?.isDirectory())
    expect(files).toContain("/usr/lib/vpp-maglev/node")
    const purged = sh("dpkg", ["--purge", ...PACKAGES])
    expect(purged.code, purged.stdout + purged.stderr).toBe(0)
    for (const p of PACKAGES) expect(isInstalled(p), p).toBe(false)
    expect(files.filter((f) => fs.existsSync(f) || fs.lstatSync(f, { throwIfNoEntry: false }) !== undefined)).toEqual([])
    for (const gone of ["/etc/vpp-maglev", "/etc/default/vpp-maglev", "/usr/lib/vpp-maglev",
      "/etc/systemd/system/multi-user.target.wants/vpp-maglevd.service",
      "/var/lib/systemd/deb-systemd-helper-enabled/vpp-maglevd.service.dsh-also",
      "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/vpp-maglevd.service"]) {
      expect(fs.existsSync(gone), gone).toBe(false)
    }
    expect(getent("passwd", "maglevd")).toBe("")
    expect(getent("group", "maglevd")).toBe("")
  })
})
