/**
 * The log writer on stdout (src/internal/Log.ts): a reader that does not keep
 * up (a busy journald, a bench behind) neither holds the writer's event loop
 * nor loses a line, also when the process exits right after a burst; a file
 * is written synchronously. Real sockets and a real child process.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { makeStdoutWriter } from "../../src/internal/Log.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const line = (i: number) => JSON.stringify({ i, pad: "x".repeat(200) })
/** Lines "0..n-1" as the child and the tests write them, each checked in order. */
const expectLines = (text: string, n: number) => {
  const lines = text.split("\n")
  expect(lines.pop()).toBe("")
  expect(lines).toHaveLength(n)
  lines.forEach((l, i) => {
    if (l !== line(i)) expect(l, `line ${i}`).toBe(line(i))
  })
}

const withTempDir = async <A>(f: (dir: string) => Promise<A>): Promise<A> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "log-writer-"))
  try {
    return await f(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Resolves with the first line of `stream` that matches, as it comes (no polling). */
const lineOf = (stream: NodeJS.ReadableStream, re: RegExp): Promise<RegExpExecArray> =>
  new Promise((resolve, reject) => {
    let text = ""
    const onData = (d: Buffer) => {
      text += d.toString()
      const m = re.exec(text)
      if (m !== null) {
        stream.off("data", onData)
        resolve(m)
      }
    }
    stream.on("data", onData)
    stream.once("end", () => reject(new Error(`no line matching ${re} in ${JSON.stringify(text)}`)))
  })

describe("the log writer", () => {
  it("queues what a socket's reader has not taken, the event loop free meanwhile, and writes every line in order once it reads", async () => {
    await withTempDir(async (dir) => {
      const server = net.createServer()
      const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve))
      await new Promise<void>((resolve) => server.listen(path.join(dir, "log.sock"), resolve))
      const client = net.connect(path.join(dir, "log.sock"))
      await new Promise<void>((resolve) => client.once("connect", resolve))
      const reader = await accepted
      reader.pause()
      try {
        const fd = (client as unknown as { readonly _handle: { readonly fd: number } })._handle.fd
        const writer = makeStdoutWriter(fd)
        const n = 20_000 // 4 MB: far more than a socket holds
        for (let i = 0; i < n; i++) writer.line(line(i))
        writer.flush()
        // The reader took nothing: the rest is queued, not waited for, and the loop turns.
        const queued = writer.queued()
        expect(queued).toBeGreaterThan(1_000_000)
        await new Promise((resolve) => setImmediate(resolve))
        expect(writer.queued()).toBeGreaterThan(0)
        // The reader reads: every line arrives, once, in order (the writer's retries write the rest).
        let text = ""
        const bytes = Buffer.byteLength(Array.from({ length: n }, (_, i) => line(i) + "\n").join(""))
        const all = new Promise<void>((resolve) =>
          reader.on("data", (d: Buffer) => {
            text += d.toString()
            if (Buffer.byteLength(text) >= bytes) resolve()
          })
        )
        reader.resume()
        await all
        expectLines(text, n)
        expect(writer.queued()).toBe(0)
      } finally {
        client.destroy()
        reader.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    })
  })

  it("a process that exits right after a burst loses no line: into a pipe whose reader is behind, and into a file", async () => {
    const run = async (stdout: "pipe" | number) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "logBurst.ts"), "20000", "5000"], {
        stdio: ["pipe", stdout, "pipe"]
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      // Nothing of stdout is read until the child has exited its first burst's turn and began to exit.
      child.stdout?.pause()
      const turned = await lineOf(child.stderr!, /turned (\d+)\n/)
      const exiting = lineOf(child.stderr!, /exiting\n/)
      child.stdin!.write("go\n")
      await exiting
      let text = ""
      const read = child.stdout === null ? Promise.resolve() : new Promise<void>((resolve) => {
        child.stdout!.on("data", (d: Buffer) => (text += d.toString()))
        child.stdout!.once("end", resolve)
        child.stdout!.resume()
      })
      await read
      expect(await exited).toBe(0)
      return { queued: Number(turned[1]), text }
    }
    // A pipe (a socket pair, as journald's stream is): the first burst still queued a turn later, every line there.
    const piped = await run("pipe")
    expect(piped.queued).toBeGreaterThan(1_000_000)
    expectLines(piped.text, 25_000)
    // A file: written as logged, nothing queued.
    await withTempDir(async (dir) => {
      const file = path.join(dir, "out")
      const fd = fs.openSync(file, "w")
      try {
        const filed = await run(fd)
        expect(filed.queued).toBe(0)
      } finally {
        fs.closeSync(fd)
      }
      expectLines(fs.readFileSync(file, "utf8"), 25_000)
    })
  }, 60_000)
})
