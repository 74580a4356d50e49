/**
 * Other processes, for the benchmarks that run real daemons: their CPU and
 * memory from /proc, and a way to start them that cannot outlive a bound (a
 * `timeout -s KILL` between us and the process, so a benchmark killed hard
 * leaves nothing running for long) with a raised open-file limit.
 */
import { type ChildProcess, spawn, type StdioOptions } from "node:child_process"
import * as fs from "node:fs"
import * as readline from "node:readline"

/** utime and stime of a process and all its threads, in seconds, from /proc (clock ticks of 1/100 s). */
export const cpuTimes = (pid: number): { readonly user: number; readonly system: number } => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }
}

/** VmRSS (now) and VmHWM (the peak so far) of a process, in MiB. */
export const rssMiB = (pid: number): { readonly rss: number; readonly peak: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
}

/** The machine's CPU time so far, all cores, in clock ticks: busy and total (from the `cpu` line of /proc/stat). */
export const machineTicks = (): { readonly busy: number; readonly total: number } => {
  const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal; guest is inside user
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0) // idle + iowait
  return { busy: total - idle, total }
}

/** The 1, 5 and 15 minute load averages. */
export const loadAverage = (): string => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

export interface Bounded {
  /** The `timeout` process between us and the program (its stdio are the program's). */
  readonly child: ChildProcess
  /** The program itself: the pid to measure, and to kill. */
  readonly pid: number
  /** The last lines the program wrote to stdout and stderr, for error messages. */
  readonly tail: () => string
  /**
   * With a `channel`: the program's next message, in order (kept from the
   * spawn on, so none is missed); fails once the program has exited.
   */
  readonly next: () => Promise<unknown>
  /** With a `channel`: sends a message (a line on stdin, or an IPC message). */
  readonly send: (message: string) => void
  /** Kills the program and its `timeout` (SIGKILL, by pid). */
  readonly kill: () => void
}

const TAIL_LINES = 20

/**
 * Starts `command args` with at most `nofile` open files (raised as far as
 * the hard limit allows when it cannot be raised to that), killed after
 * `seconds` whatever happens to us. Resolves once the program runs, with its
 * own pid (the child of `timeout`, from /proc/PID/task/PID/children).
 *
 * `channel`: how to talk to it, if at all: Node IPC (`process.send`), or
 * "lines": commands one a line on its stdin, answers one JSON value a line
 * on its stdout.
 */
export const spawnBounded = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly seconds: number; readonly nofile: number; readonly channel?: "ipc" | "lines"; readonly cwd?: string }
): Promise<Bounded> => {
  const script = `ulimit -n ${options.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec timeout -s KILL ${Math.ceil(options.seconds)} "$@"`
  const stdio: StdioOptions = options.channel === "ipc"
    ? ["ignore", "pipe", "pipe", "ipc"]
    : [options.channel === "lines" ? "pipe" : "ignore", "pipe", "pipe"]
  const child = spawn("sh", ["-c", script, "sh", command, ...args], { stdio, cwd: options.cwd })
  const lines: Array<string> = []
  const keep = (d: Buffer) => {
    lines.push(...d.toString().split("\n").filter((l) => l !== ""))
    if (lines.length > TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES)
  }
  child.stdout!.on("data", keep)
  child.stderr!.on("data", keep)
  // A command to a program that has died fails with EPIPE: its exit says what happened (next() rejects), not a crash of ours.
  child.stdin?.on("error", () => {})
  const tail = () => lines.join("\n")
  const received: Array<unknown> = []
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void }> = []
  let exited: Error | undefined
  const receive = (m: unknown) => {
    const w = waiting.shift()
    if (w !== undefined) w.resolve(m)
    else received.push(m)
  }
  if (options.channel === "ipc") child.on("message", receive)
  if (options.channel === "lines") {
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        receive(JSON.parse(line))
      } catch {
        // not an answer
      }
    })
  }
  child.once("exit", (code, signal) => {
    exited = new Error(`${command} exited (${code ?? signal}):\n${tail()}`)
    for (const w of waiting.splice(0)) w.reject(exited)
  })
  const next = () =>
    received.length > 0
      ? Promise.resolve(received.shift())
      : exited !== undefined
      ? Promise.reject(exited)
      : new Promise<unknown>((resolve, reject) => waiting.push({ resolve, reject }))
  const send = (message: string) => {
    if (options.channel === "ipc") child.send(message)
    else child.stdin?.write(`${message}\n`)
  }
  const outer = child.pid
  if (outer === undefined) throw new Error(`cannot start ${command}`)
  let pid: number | undefined
  for (let tries = 0; pid === undefined; tries++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${command} exited at once (${child.exitCode ?? child.signalCode})${lines.length > 0 ? `:\n${tail()}` : ""}`)
    }
    if (tries > 500) {
      child.kill("SIGKILL")
      throw new Error(`${command} did not start within 5 s`)
    }
    // sh execs timeout (same pid), which forks the program.
    const children = (() => {
      try {
        return fs.readFileSync(`/proc/${outer}/task/${outer}/children`, "utf8").trim()
      } catch {
        return ""
      }
    })()
    const comm = (() => {
      try {
        return fs.readFileSync(`/proc/${outer}/comm`, "utf8").trim()
      } catch {
        return ""
      }
    })()
    if (comm === "timeout" && children !== "") pid = Number(children.split(" ")[0])
    else await new Promise((r) => setTimeout(r, 10))
  }
  const program = pid
  return {
    child,
    pid: program,
    tail,
    next,
    send,
    kill: () => {
      for (const p of [program, outer]) {
        try {
          process.kill(p, "SIGKILL")
        } catch {
          // already gone
        }
      }
    }
  }
}
