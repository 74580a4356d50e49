/**
 * `npm start`: the embedded default. Runs, in one process tree,
 *
 * - vppsim (the VPP simulator) on sockets in a fresh temporary directory,
 *   with its traffic model (synthetic flows) and its data plane (real TCP
 *   connections to a loopback VIP such as 127.0.0.10:8080, proxied to the
 *   backend the lb plugin's Maglev table picks; docs/vppsim.md),
 * - three example backends: small HTTP servers on 127.0.0.1, 127.0.0.2 and
 *   127.0.0.3, port 8080 (what examples/maglev.yaml names),
 * - maglevd with examples/maglev.yaml (or the file given as the argument),
 *   pointed at the simulator,
 *
 * and stops everything on Ctrl-C (SIGINT), SIGTERM or SIGHUP (its terminal closed), exiting 0.
 *
 * A backend is taken down and brought back through its own HTTP endpoint:
 *
 *   curl -X POST http://127.0.0.2:8080/down    # now answers 503
 *   curl -X POST http://127.0.0.2:8080/up      # 200 again
 *
 * or by creating the file `<run dir>/down/<backend address>` (removing it
 * brings the backend back); the run directory is printed at start.
 *
 * How to try it (maglevc, curl, maglevt, metrics) is printed once maglevd's
 * RPC API answers, not before: one line per topic (`hints`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { WIDTH, wrap } from "./internal/Wrap.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const configFile = path.resolve(process.argv[2] ?? path.join(root, "examples", "maglev.yaml"))
const BACKENDS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"] as const
const PORT = 8080
/** vppsim's synthetic packets per second over the VIPs (its traffic model), besides the real connections its data plane proxies. */
const TRAFFIC = 200

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "vpp-maglev-"))
const downDir = path.join(runDir, "down")
fs.mkdirSync(downDir)
const apiSocket = path.join(runDir, "api.sock")
const statsSocket = path.join(runDir, "stats.sock")

const say = (line: string) => process.stderr.write(`npm start: ${line}\n`)

const children: Array<ChildProcess> = []
const servers: Array<http.Server> = []
let stopping = false

const stop = (code: number) => {
  if (stopping) return
  stopping = true
  say("stopping")
  for (const s of servers) s.close()
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null)
  let left = alive.length
  const done = () => {
    fs.rmSync(runDir, { recursive: true, force: true })
    process.exit(code)
  }
  if (left === 0) return done()
  const timer = setTimeout(() => {
    for (const c of alive) c.kill("SIGKILL")
    done()
  }, 5000)
  // vppsim (the first started) last: stopped first, it would have maglevd log VPP going away.
  const [first, ...rest] = alive
  const others = rest
  let othersLeft = others.length
  for (const c of alive) {
    c.once("exit", () => {
      if (c !== first && --othersLeft === 0) first?.kill("SIGTERM")
      if (--left === 0) {
        clearTimeout(timer)
        done()
      }
    })
  }
  if (others.length === 0) first?.kill("SIGTERM")
  for (const c of others) c.kill("SIGTERM")
}
process.on("SIGINT", () => stop(0))
process.on("SIGTERM", () => stop(0))
// The terminal went away (a closed window, a dropped ssh session): the children run in process groups of
// their own and would not be told, so stop them as Ctrl-C does rather than leave them holding the ports.
process.on("SIGHUP", () => stop(0))

const node = (script: string, args: ReadonlyArray<string>, name: string) => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, script), ...args], {
    cwd: root,
    // Our own group for Ctrl-C: the terminal's SIGINT reaches this process, which stops the children in order.
    detached: true,
    stdio: ["ignore", "pipe", "inherit"]
  })
  children.push(child)
  child.on("exit", (code, signal) => {
    if (stopping) return
    say(`${name} exited (${signal ?? code}); stopping everything`)
    stop(1)
  })
  return child
}

/** One example backend: 200 "<address> ok", or 503 while it is down. */
const backend = (address: string) =>
  new Promise<void>((resolve, reject) => {
    let down = false
    const isDown = () => down || fs.existsSync(path.join(downDir, address))
    const server = http.createServer((req, res) => {
      if (req.method === "POST" && (req.url === "/down" || req.url === "/up")) {
        down = req.url === "/down"
        if (!down) fs.rmSync(path.join(downDir, address), { force: true })
        say(`backend ${address} is now ${down ? "down" : "up"}`)
        res.end(`${address} ${down ? "down" : "up"}\n`)
        return
      }
      // Names the backend for maglevt's tally and curl -i through the VIP.
      res.setHeader("X-Served-By", address)
      res.statusCode = isDown() ? 503 : 200
      res.end(isDown() ? `${address} down\n` : `${address} ok\n`)
    })
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${address}:${PORT}: ${e.code ?? e.message}`)))
    server.listen(PORT, address, () => {
      servers.push(server)
      resolve()
    })
  })

/** Until vppsim has created its socket (however long a busy machine takes to start it), or has exited. */
const waitForSocket = async (file: string, child: ChildProcess) => {
  while (child.exitCode === null && child.signalCode === null && !stopping) {
    if (fs.existsSync(file)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`vppsim exited before creating ${file}`)
}

const RPC_URL = "http://127.0.0.1:9090/rpc"
const METRICS_URL = "http://127.0.0.1:9091/metrics"
const DASHBOARD_URL = "http://127.0.0.1:9092/"
const adminPasswordFile = path.join(runDir, "admin-password")

/** Whether maglevd's RPC API answers HTTP at all (any status: it is listening and serving). */
const answers = (url: string) =>
  new Promise<boolean>((resolve) => {
    const req = http.get(url, (res) => {
      res.resume()
      resolve(true)
    })
    req.setTimeout(2000, () => req.destroy())
    req.once("error", () => resolve(false))
  })

/** Until maglevd's RPC API answers, or maglevd is gone. */
const waitForApi = async (daemon: ChildProcess) => {
  while (!stopping && daemon.exitCode === null && daemon.signalCode === null) {
    if (await answers(RPC_URL)) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}

/**
 * What to try once maglevd answers: one line per topic, `[topic, how]`,
 * printed under each other. A new part of the demo adds its line here.
 */
const hints = (): ReadonlyArray<readonly [string, string]> => [
  ["maglevc", "npm run maglevc   (the shell; or one command: npm run maglevc -- show frontend web)"],
  ["backend", `curl -X POST http://127.0.0.2:${PORT}/down   (back: .../up)`],
  ["", `or: touch ${downDir}/127.0.0.2   (back: rm it)`],
  ["traffic", `curl -i http://127.0.0.10:${PORT}/   (the VIP, through vppsim)`],
  ["maglevt", `npm run maglevt -- --config ${path.relative(process.cwd(), configFile) || configFile}`],
  ["counters", "npm run maglevc -- show vpp lb counters   (packets per VIP, flows per backend)"],
  ["flow", "npm run maglevc -- show frontend web flow 198.51.100.7 40000   (which backend a new flow gets)"],
  ["dashboard", `${DASHBOARD_URL}view/   (admin: ${DASHBOARD_URL}admin/, user admin, password in ${adminPasswordFile})`],
  ["metrics", `curl ${METRICS_URL}`],
  ["api", `${RPC_URL}   (docs/api.md)`],
  ["stop", "Ctrl-C stops everything"]
]

/**
 * The hints under each other, within 80 columns where they can be: a hint
 * too long for its line has its parenthesis wrapped on the next lines, under
 * the text; the command itself stays whole, to be copied.
 */
const banner = () => {
  const width = Math.max(...hints().map(([topic]) => topic.length))
  const indent = " ".repeat(2 + width + 2)
  say(`ready; maglevd answers (${path.relative(process.cwd(), configFile) || configFile}). To try:`)
  for (const [topic, how] of hints()) {
    const paren = how.indexOf("   (")
    const lines = indent.length + how.length <= WIDTH
      ? [how]
      : paren < 0
      ? [how]
      // The command stays whole (to be copied); the explanation is wrapped under it.
      : [how.slice(0, paren), ...wrap(how.slice(paren + 3), indent.length)]
    lines.forEach((line, i) => process.stderr.write(i === 0 ? `  ${topic.padEnd(width)}  ${line}\n` : `${line}\n`))
  }
}

try {
  await Promise.all(BACKENDS.map(backend))
  // Readable lines on a terminal, JSON lines into a pipe (as the programs would choose for their own stdout).
  const logFormat = process.stdout.isTTY === true ? "text" : "json"
  const sim = node(
    "src/sim/main.ts",
    ["--api-socket", apiSocket, "--stats-socket", statsSocket, "--traffic", String(TRAFFIC), "--data-plane", "--log-level", "warn", "--log-format", logFormat],
    "vppsim"
  )
  sim.stdout!.pipe(process.stdout)
  await waitForSocket(apiSocket, sim)
  const daemon = node(
    "src/daemon/main.ts",
    ["--config", configFile, "--vpp-api-addr", apiSocket, "--vpp-stats-addr", statsSocket, "--log-format", logFormat],
    "maglevd"
  )
  daemon.stdout!.pipe(process.stdout)
  say(`starting vppsim, backends and maglevd; run dir ${runDir}`)
  // Not answering means maglevd exited, or Ctrl-C: everything is being stopped already.
  const answered = await waitForApi(daemon)
  if (answered) {
    // The dashboard (docs/dashboard.md), its /admin/ behind a password made for this run; started once
    // maglevd answers (before, its first look at maglevd logged "maglevd unreachable" on every start).
    fs.writeFileSync(adminPasswordFile, `${crypto.randomBytes(9).toString("base64url")}\n`, { mode: 0o600 })
    const dashboard = node(
      "src/frontend/main.ts",
      ["--server", RPC_URL, "--admin-user", "admin", "--admin-password-file", adminPasswordFile, "--log-level", "warn", "--log-format", logFormat],
      "maglevd-frontend"
    )
    dashboard.stdout!.pipe(process.stdout)
    // Optional: if it cannot run (its port taken), the rest goes on.
    dashboard.removeAllListeners("exit")
    dashboard.on("exit", (code, signal) => {
      if (!stopping) say(`maglevd-frontend exited (${signal ?? code}); the rest runs on without the dashboard`)
    })
    banner()
  }
} catch (e) {
  say(e instanceof Error ? e.message : String(e))
  stop(1)
}
