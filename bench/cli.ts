/**
 * maglevc: how long an operator waits. The parse of a command line (with the
 * live names cached, as they are for a second), the text of `show backends`
 * and `show frontend` at 10,000 backends, and the start of a one-shot process
 * (`--version`, so no server is involved: the rest of a command is one HTTP
 * request on loopback).
 *
 * `npm run bench -- check` (`runCheck`): maglevd --check of a generated file
 * of 3 and of 10,000 backends (with frontends whose pools use them), checked
 * in this process (the first, cold check, as a one-shot `--check` does it,
 * then warm ones) and by the whole program as it ships (the esbuild bundle,
 * with its V8 flags). The figure that matters is the difference between the
 * two files (issue 13: 10,000 backends add at most 0.3 s); the process's own
 * start-up is the same for both.
 */
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Api from "../src/api/Api.js"
import type { MaglevClientShape } from "../src/api/Client.js"
import * as Commands from "../src/cli/Commands.js"
import * as Format from "../src/cli/Format.js"
import * as Tree from "../src/cli/Tree.js"
import { checkConfigText } from "../src/config/Check.js"
import { bigConfig } from "../test/config/bigConfig.js"

const N = 10_000
const now = Date.now()

const backend = (i: number): Api.BackendInfo => ({
  name: `web${i}`,
  address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  healthcheck: "http-check",
  enabled: true,
  state: i % 10 === 0 ? "down" : "up",
  counter: 4,
  rise: 2,
  fall: 3,
  lastResult: { ok: true, code: "L7OK", durationMs: 1.234, detail: "HTTP 200 OK" },
  lastProbeAt: now - 500,
  transitions: [{ at: now - 60_000, from: "unknown", to: "up", cause: "probe", result: { ok: true, code: "L7OK", durationMs: 1.5, detail: "HTTP 200 OK" } }],
  memberships: [{ frontend: "web", pool: "primary", weight: 100, effectiveWeight: 100, active: true }]
})

const backends = Array.from({ length: N }, (_, i) => backend(i))
const frontend: Api.FrontendInfo = {
  name: "web",
  description: "",
  address: "192.0.2.1/32",
  protocol: "tcp",
  port: 80,
  vip: "192.0.2.1/32 6 80",
  srcIpSticky: false,
  flushOnDown: true,
  newFlowsTableLength: 65536,
  state: "up",
  activePool: "primary",
  pools: [{
    name: "primary",
    active: true,
    backends: backends.map((b) => ({
      backend: b.name,
      address: b.address,
      state: b.state,
      weight: 100,
      effectiveWeight: b.state === "up" ? 100 : 0,
      buckets: 6,
      since: now - 60_000
    }))
  }]
}

const time = (f: () => void, runs: number): number => {
  f()
  const start = performance.now()
  for (let i = 0; i < runs; i++) f()
  return (performance.now() - start) / runs
}

export const run = async (): Promise<void> => {
  const client = {
    ListBackends: () => Effect.succeed(backends),
    ListFrontends: () => Effect.succeed([frontend]),
    GetFrontend: () => Effect.succeed(frontend)
  } as unknown as MaglevClientShape
  const session = Effect.runSync(Commands.makeSession({ client, url: "http://127.0.0.1:9090", color: true, json: false }))
  const parse = (line: string) => Effect.runSync(Effect.provideService(Tree.parse(Commands.tree, line), Commands.Session, session))
  const style = { color: true, now }

  console.log(`\nmaglevc (src/cli), ${N.toLocaleString("en-US")} backends`)
  const parseMs = time(() => parse("sh ba web9999"), 200)
  console.log(`  parse "sh ba web9999" (names cached)       ${(parseMs * 1000).toFixed(0).padStart(7)} µs`)
  const setMs = time(() => parse("set fr web pool primary backend web5000 weight 0 flush"), 200)
  console.log(`  parse "set fr web pool ... weight 0 flush" ${(setMs * 1000).toFixed(0).padStart(7)} µs`)
  const choicesMs = time(() => Effect.runSync(Effect.provideService(Tree.choices(Commands.tree, "show backend web99"), Commands.Session, session)), 50)
  console.log(`  Tab after "show backend web99"             ${(choicesMs * 1000).toFixed(0).padStart(7)} µs`)
  console.log(`  show backends text (colour)                ${time(() => Format.backendsText(backends, style), 5).toFixed(1).padStart(7)} ms`)
  console.log(`  show frontend text, one pool of ${N.toLocaleString("en-US")}     ${time(() => Format.frontendText(frontend, style), 5).toFixed(1).padStart(7)} ms`)

  const startup = (args: ReadonlyArray<string>): number => {
    const runs = 5
    const start = performance.now()
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, [...args, "--version"], { encoding: "utf8" })
      if (r.status !== 0) throw new Error(`maglevc --version failed: ${r.stderr}`)
    }
    return (performance.now() - start) / runs
  }
  console.log(`  one-shot start, through tsx (npm run maglevc) ${startup(["--import", "tsx", "src/cli/main.ts"]).toFixed(0).padStart(5)} ms`)
  const built = path.join("dist", "cli", "main.js")
  if (fs.existsSync(built)) console.log(`  one-shot start, built (dist/, the package bin) ${startup([built]).toFixed(0).padStart(4)} ms`)
  else console.log("  one-shot start, built: run npm run build first")

  await runBundled()
}

/** Median wall time of `runs` runs of a command (ms); a failing run throws with its output. */
const wall = (cmd: string, args: ReadonlyArray<string>, runs = 7): number =>
  median(Array.from({ length: runs }, () => {
    const start = performance.now()
    const r = spawnSync(cmd, args, { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}`)
    return performance.now() - start
  }))

/**
 * The programs as they ship (issue 16: esbuild bundles, packaging/bundle.mjs):
 * a one-shot `maglevc show frontends` against a running maglevd and
 * `maglevd --check` of the example, beside `node -e 0` (the floor), without
 * V8 code caches (as npm installs them) and with (as the Debian packages ship
 * them). The bundles are built into node_modules/.cache (the package.json and the addon
 * are found from there as from dist/bundle); the installed Debian package's
 * programs are measured too when they are installed.
 * Targets on a quiet machine: maglevc <= 300 ms, maglevd --check <= 500 ms.
 */
const runBundled = (): Promise<void> => {
  const started = performance.now()
  return withBundles(async (dir, programs) => {
    const daemon = { child: undefined as ReturnType<typeof spawn> | undefined }
    try {
      const { writeCodeCaches } = await packaging()
      console.log(`\nThe programs as they ship (esbuild bundles, built in ${((performance.now() - started) / 1000).toFixed(1)} s), median of 7`)
      const example = path.join("examples", "maglev.yaml")
      daemon.child = spawn(process.execPath, [path.join(dir, "maglevd.js"), "--config", example, "--vpp-api-addr", "", "--rpc-addr", "127.0.0.1:0", "--metrics-addr", ""], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      const url = await new Promise<string>((resolve, reject) => {
        let buffer = ""
        daemon.child!.stdout!.on("data", (d: Buffer) => {
          buffer += d.toString()
          const m = /"event":"rpc-listen"[^\n]*?"url":"([^"]+)"|"url":"([^"]+)"[^\n]*?"event":"rpc-listen"/.exec(buffer)
          if (m) resolve(m[1] ?? m[2]!)
        })
        daemon.child!.on("exit", (code) => reject(new Error(`maglevd exited ${code} before listening`)))
      })
      const rows: Array<[string, number, string]> = [["node -e 0 (the floor)", wall(process.execPath, ["-e", "0"]), ""]]
      const measure = (label: string, node: string, js: (p: string) => string) => {
        rows.push([`${label} maglevc show frontends`, wall(node, [js("maglevc"), "--server", url, "show", "frontends"]), "<= 300 ms"])
        rows.push([`${label} maglevc --version`, wall(node, [js("maglevc"), "--version"]), ""])
        rows.push([`${label} maglevd --check (example)`, wall(node, [js("maglevd"), "--check", "--config", example]), "<= 500 ms"])
      }
      measure("bundle (npm):", process.execPath, (p) => path.join(dir, `${p}.js`))
      writeCodeCaches(dir, programs)
      measure("bundle + code cache (.deb):", process.execPath, (p) => path.join(dir, `${p}.js`))
      const installed = { maglevc: "/usr/bin/maglevc", maglevd: "/usr/sbin/maglevd" } as const
      if (fs.existsSync(installed.maglevc) && fs.existsSync(installed.maglevd)) {
        measure("installed .deb:", "/usr/lib/vpp-maglev/node", (p) => fs.realpathSync(installed[p as keyof typeof installed]))
      } else {
        console.log("  (the Debian packages are not installed: apt install ./build/vpp-maglev*.deb to measure them too)")
      }
      for (const [label, ms, target] of rows) console.log(`  ${label.padEnd(54)} ${ms.toFixed(0).padStart(6)} ms   ${target}`)
    } finally {
      daemon.child?.kill("SIGTERM")
    }
  })
}

const packaging = () =>
  // @ts-expect-error: packaging/bundle.mjs is plain JavaScript (it runs before any TypeScript is built)
  import("../packaging/bundle.mjs") as Promise<{
    bundle: (o: { outdir: string }) => Promise<{ programs: ReadonlyArray<string> }>
    writeCodeCaches: (outdir: string, names: ReadonlyArray<string>) => void
  }>

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Builds the programs' bundles into a directory of node_modules/.cache (where they find package.json and the addon as from dist/bundle), removed after `use`. */
const withBundles = async <A>(use: (dir: string, programs: ReadonlyArray<string>) => Promise<A>): Promise<A> => {
  const cache = path.join("node_modules", ".cache")
  fs.mkdirSync(cache, { recursive: true })
  const dir = fs.mkdtempSync(path.join(cache, "vpp-maglev-bench-bundle-"))
  try {
    const { programs } = await (await packaging()).bundle({ outdir: dir })
    return await use(dir, programs)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** GNU time, for a child's CPU (user + system); absent, only wall time is printed. */
const TIME = "/usr/bin/time"

/** One run of a command: wall ms, and CPU ms when GNU time is there; a failing run throws with its output. */
const runOnce = (cmd: string, args: ReadonlyArray<string>): { readonly wall: number; readonly cpu: number | undefined } => {
  const timed = fs.existsSync(TIME)
  const start = performance.now()
  const r = timed
    ? spawnSync(TIME, ["-f", "cpu %U %S", cmd, ...args], { encoding: "utf8" })
    : spawnSync(cmd, args, { encoding: "utf8" })
  const wall = performance.now() - start
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}`)
  const m = timed ? /^cpu (\S+) (\S+)$/m.exec(r.stderr) : null
  return { wall, cpu: m === null ? undefined : 1000 * (Number(m[1]) + Number(m[2])) }
}

/**
 * `maglevd --check` of 3 and 10,000 backends: the cold check in this process,
 * warm ones, and the whole program as it ships, side by side (the two files
 * in turn, so that a busy machine weighs on both alike).
 */
export const runCheck = async (): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-bench-check-"))
  try {
    const sizes = [3, 10_000] as const
    const files = sizes.map((n) => {
      const file = path.join(dir, `b${n}.yaml`)
      const c = bigConfig(n)
      fs.writeFileSync(file, c.text)
      return { n, file, text: c.text }
    })
    console.log("\nmaglevd --check of a generated file (backends, frontends of 100 with two pools)")
    // Cold: the first check in a fresh process is what --check pays; run each in its own child.
    const inProcess = files.map(({ n, file }) => {
      const cold: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const r = spawnSync(process.execPath, ["--import", "tsx", "-e", `
          import("./src/config/Check.ts").then(({ checkConfigText }) => {
            const text = require("node:fs").readFileSync(${JSON.stringify(file)}, "utf8")
            const t0 = performance.now(); const r = checkConfigText(text)
            if (r._tag !== "Valid") throw new Error(r._tag)
            console.log(performance.now() - t0)
          })`], { encoding: "utf8" })
        if (r.status !== 0) throw new Error(`in-process check failed: ${r.stderr}`)
        cold.push(Number(r.stdout.trim()))
      }
      return { n, cold: median(cold) }
    })
    const warm = files.map(({ n, text }) => ({ n, ms: time(() => checkConfigText(text), n > 100 ? 3 : 50) }))
    const row = (label: string, xs: ReadonlyArray<{ readonly n: number; readonly ms: number }>) => {
      const [small, big] = [xs[0]!.ms, xs[1]!.ms]
      console.log(`  ${label.padEnd(42)} ${small.toFixed(0).padStart(6)} ms ${big.toFixed(0).padStart(7)} ms ${(big - small).toFixed(0).padStart(7)} ms`)
    }
    console.log(`  ${"backends".padEnd(42)} ${"3".padStart(6)}    ${"10,000".padStart(7)}    ${"added".padStart(7)}      (target: added <= 300 ms)`)
    row("check in-process, cold (median of 3)", inProcess.map(({ n, cold }) => ({ n, ms: cold })))
    row("check in-process, warm", warm)
    await withBundles(async (bundles) => {
      const runs = files.map(() => [] as Array<ReturnType<typeof runOnce>>)
      for (let i = 0; i < 7; i++) {
        files.forEach(({ file }, k) => runs[k]!.push(runOnce(process.execPath, [path.join(bundles, "maglevd.js"), "--check", "--config", file])))
      }
      row("whole --check (bundle), wall, median of 7", runs.map((r, k) => ({ n: sizes[k]!, ms: median(r.map((x) => x.wall)) })))
      if (runs[0]![0]!.cpu !== undefined) {
        row("whole --check (bundle), CPU, median of 7", runs.map((r, k) => ({ n: sizes[k]!, ms: median(r.map((x) => x.cpu!)) })))
      }
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
