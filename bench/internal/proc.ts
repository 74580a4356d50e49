/**
 * Other processes, for the benchmarks that run real daemons: their CPU and
 * memory from /proc, and a way to start them that cannot outlive a bound (a
 * `timeout -s KILL` between us and the process, so a benchmark killed hard
 * leaves nothing running for long) with a raised open-file limit.
 */
import { type ChildProcess, spawn, type StdioOptions } from "node:child_process"
import * as fs from "node:fs"

/** utime + stime of a process and all its threads, from /proc (clock ticks of 1/100 s). */
export const cpuSeconds = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** VmRSS (now) and VmHWM (the peak so far) of a process, in MiB. */
export const rssMiB = (pid: number): { readonly rss: number; readonly peak: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
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
  /** With `ipc`: the program's first message (listened for from the spawn, so none is missed); fails if it exits first. */
  readonly firstMessage: Promise<unknown>
  /** Kills the program and its `timeout` (SIGKILL, by pid). */
  readonly kill: () => void
}

const TAIL_LINES = 20

/**
 * Starts `command args` with at most `nofile` open files (raised as far as
 * the hard limit allows when it cannot be raised to that), killed after
 * `seconds` whatever happens to us. Resolves once the program runs, with its
 * own pid (the child of `timeout`, from /proc/PID/task/PID/children).
 */
export const spawnBounded = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly seconds: number; readonly nofile: number; readonly ipc?: boolean; readonly cwd?: string }
): Promise<Bounded> => {
  const script = `ulimit -n ${options.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec timeout -s KILL ${Math.ceil(options.seconds)} "$@"`
  const stdio: StdioOptions = options.ipc === true ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"]
  const child = spawn("sh", ["-c", script, "sh", command, ...args], { stdio, cwd: options.cwd })
  const lines: Array<string> = []
  const keep = (d: Buffer) => {
    lines.push(...d.toString().split("\n").filter((l) => l !== ""))
    if (lines.length > TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES)
  }
  child.stdout!.on("data", keep)
  child.stderr!.on("data", keep)
  const tail = () => lines.join("\n")
  const firstMessage = new Promise<unknown>((resolve, reject) => {
    child.once("message", resolve)
    child.once("exit", (code, signal) => reject(new Error(`${command} exited (${code ?? signal}):\n${tail()}`)))
  })
  firstMessage.catch(() => {}) // only awaited with ipc
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
    firstMessage,
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
