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
 * and stops everything on Ctrl-C (SIGINT) or SIGTERM, exiting 0.
 *
 * A backend is taken down and brought back through its own HTTP endpoint:
 *
 *   curl -X POST http://127.0.0.2:8080/down    # now answers 503
 *   curl -X POST http://127.0.0.2:8080/up      # 200 again
 *
 * or by creating the file `<run dir>/down/<backend address>` (removing it
 * brings the backend back); the run directory is printed at start.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

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
  for (const c of alive) {
    c.once("exit", () => {
      if (--left === 0) {
        clearTimeout(timer)
        done()
      }
    })
    c.kill("SIGTERM")
  }
}
process.on("SIGINT", () => stop(0))
process.on("SIGTERM", () => stop(0))

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

const waitForSocket = async (file: string, child: ChildProcess) => {
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(file)) return
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`vppsim did not create ${file}`)
}

try {
  await Promise.all(BACKENDS.map(backend))
  const sim = node("src/sim/main.ts", ["--api-socket", apiSocket, "--stats-socket", statsSocket, "--traffic", String(TRAFFIC), "--data-plane", "--log-level", "warn"], "vppsim")
  sim.stdout!.pipe(process.stdout)
  await waitForSocket(apiSocket, sim)
  const daemon = node(
    "src/daemon/main.ts",
    ["--config", configFile, "--vpp-api-addr", apiSocket, "--vpp-stats-addr", statsSocket],
    "maglevd"
  )
  daemon.stdout!.pipe(process.stdout)
  say(`running: vppsim (${apiSocket}), backends ${BACKENDS.map((a) => `${a}:${PORT}`).join(" ")}, maglevd (${configFile})`)
  say(`take a backend down: curl -X POST http://127.0.0.2:${PORT}/down  (or: touch ${downDir}/127.0.0.2); back: .../up`)
  say(`RPC API: http://127.0.0.1:9090/rpc (docs/api.md); in another terminal: npm run maglevc  (the shell; or one command: npm run maglevc -- show frontend web)`)
  say(`traffic: the VIP of examples/maglev.yaml is 127.0.0.10:${PORT} (vppsim proxies it): curl -i http://127.0.0.10:${PORT}/ ; npm run maglevt -- --config ${path.relative(process.cwd(), configFile) || configFile} ; npm run maglevc -- show vpp lb counters`)
  say(`metrics: http://127.0.0.1:9091/metrics`)
  say(`maglevd logs JSON lines below; Ctrl-C stops everything`)
} catch (e) {
  say(e instanceof Error ? e.message : String(e))
  stop(1)
}
