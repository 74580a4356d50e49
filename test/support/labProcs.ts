/**
 * The processes of the test labs that run the real daemons (test/cli/lab.ts,
 * test/api/lab.ts): vppsim on Unix sockets in the lab's directory, and
 * maglevd programming it with its RPC API on an ephemeral loopback port, each
 * waited for by its own log line, not by time; and a program run to its end.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import type * as net from "node:net"
import * as path from "node:path"
import { jsonLines, type LogRecord } from "./jsonLines.js"
import { repoRoot } from "./paths.js"
import { waitFor } from "./wait.js"
import { program, type ProgramName } from "./programs.js"

/**
 * `waitFor` for the labs' promise-based tests: polls until `probe` gives a value (wall time: these
 * are real processes). The bound only says what never came, so it is long: on a busy machine (2
 * cores at load 20) starting one `node --import tsx` process takes 10-15 s, and a wait may span several.
 */
export const until = <A>(what: string | (() => string), probe: () => A | undefined | Promise<A | undefined>, timeoutMs = 120_000): Promise<A> =>
  Effect.runPromise(waitFor(what, Effect.promise(async () => probe()), timeoutMs, 50))

/** Listens on host:port (0: any free port); the port. */
export const listen = (server: net.Server, host: string, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve((server.address() as net.AddressInfo).port)
    })
  })

/** The simulator's sockets in a lab's directory. */
export const simSockets = (dir: string) => ({ apiSocket: path.join(dir, "api.sock"), statsSocket: path.join(dir, "stats.sock") })

/** vppsim on the sockets in `dir`, once it is ready; the child joins `children` (the lab kills them). */
export const startVppsim = async (dir: string, children: Array<ChildProcess>) => {
  const sockets = simSockets(dir)
  const sim = spawn(process.execPath, [...program("vppsim"), "--api-socket", sockets.apiSocket, "--stats-socket", sockets.statsSocket], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"]
  })
  children.push(sim)
  const log = jsonLines(sim)
  await until("vppsim-ready", () => log.find((r) => r.annotations.event === "vppsim-ready"))
  return sockets
}

export interface MaglevdOptions {
  readonly configFile: string
  /** The simulator's API socket; "": VPP disabled. */
  readonly apiSocket: string
  readonly statsSocket: string
  /** Node's flags, before the program. */
  readonly nodeFlags?: ReadonlyArray<string>
  /** maglevd's own extra flags. */
  readonly flags?: ReadonlyArray<string>
}

/**
 * maglevd with the config, on the simulator's sockets, its RPC API on an ephemeral loopback port and
 * no metrics endpoint; once it listens: the child (joining `children`), its log so far and its RPC URL.
 */
export const startMaglevd = async (
  o: MaglevdOptions,
  children: Array<ChildProcess>
): Promise<{ readonly child: ChildProcess; readonly log: ReadonlyArray<LogRecord>; readonly url: string }> => {
  const child = spawn(process.execPath, [
    ...(o.nodeFlags ?? []),
    ...program("maglevd"),
    "--config",
    o.configFile,
    "--vpp-api-addr",
    o.apiSocket,
    "--vpp-stats-addr",
    o.statsSocket,
    "--rpc-addr",
    "127.0.0.1:0",
    "--metrics-addr",
    "",
    ...(o.flags ?? [])
  ], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
  children.push(child)
  const log = jsonLines(child)
  const listening = await until("rpc-listen", () => log.find((r) => r.annotations.event === "rpc-listen"))
  return { child, log, url: String(listening.annotations.url) }
}

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs one of the programs to its end: its exit status and all it wrote. `env`: its whole
 * environment; `input`: what it reads on stdin (none: stdin closed).
 */
export const runToEnd = (
  name: ProgramName,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {}
): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...program(name), ...args], {
      cwd: repoRoot,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    child.stdin?.end(options.input)
  })
