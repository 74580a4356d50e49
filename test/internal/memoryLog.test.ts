import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import * as Malloc from "../../src/daemon/Malloc.js"
import { MEMORY_LOG_ENV, MEMORY_LOG_EVERY_ENV, startMemoryLog } from "../../src/internal/MemoryLog.js"

const dirs: Array<string> = []
const tempFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memory-log-"))
  dirs.push(dir)
  return path.join(dir, "memory.jsonl")
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

const lines = (file: string) => fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)

describe("memory log (VPP_MAGLEV_MEMORY_LOG)", () => {
  it("is off without the variable", () => {
    expect(startMemoryLog("main", undefined, {})).toBeUndefined()
    expect(startMemoryLog("main", undefined, { [MEMORY_LOG_ENV]: "" })).toBeUndefined()
  })

  it("writes a first line at once: the thread, its heap and each space, and the main thread's RSS and malloc figures", () => {
    const file = tempFile()
    const stop = startMemoryLog("main", Malloc.memoryFigures, { [MEMORY_LOG_ENV]: file })
    expect(stop).toBeTypeOf("function")
    stop!()
    const [line, ...rest] = lines(file)
    expect(rest).toEqual([])
    expect(line).toMatchObject({ thread: "main", threadId: 0 })
    expect(line!["heapPhysical"]).toBeGreaterThan(0)
    expect(line!["heapUsed"]).toBeGreaterThan(0)
    expect(Object.keys(line!["spaces"] as object)).toEqual(expect.arrayContaining(["new", "old", "code", "large_object"]))
    expect(line!["rss"]).toBeGreaterThan(0)
    // glibc (Debian, the packages' target): every arena added up, more in use than nothing.
    const malloc = line!["malloc"] as Record<string, number> | null
    expect(malloc).not.toBeNull()
    expect(malloc!["arenas"]).toBeGreaterThan(0)
    expect(malloc!["inUse"]).toBeGreaterThan(0)
  })

  it("refuses an interval that is not a positive number", () => {
    const file = tempFile()
    const write = process.stderr.write
    const said: Array<string> = []
    process.stderr.write = ((s: string) => said.push(s) > 0) as typeof process.stderr.write
    try {
      expect(startMemoryLog("main", undefined, { [MEMORY_LOG_ENV]: file, [MEMORY_LOG_EVERY_ENV]: "0" })).toBeUndefined()
      expect(startMemoryLog("main", undefined, { [MEMORY_LOG_ENV]: file, [MEMORY_LOG_EVERY_ENV]: "soon" })).toBeUndefined()
    } finally {
      process.stderr.write = write
    }
    expect(fs.existsSync(file)).toBe(false)
    expect(said.join("")).toContain(`${MEMORY_LOG_EVERY_ENV}: expected a positive number of seconds, got "soon"`)
  })

  it("stops, saying so, when the file cannot be written", () => {
    const file = path.join(tempFile(), "no-such-dir", "memory.jsonl")
    const write = process.stderr.write
    const said: Array<string> = []
    process.stderr.write = ((s: string) => said.push(s) > 0) as typeof process.stderr.write
    try {
      startMemoryLog("probe-thread", undefined, { [MEMORY_LOG_ENV]: file })?.()
    } finally {
      process.stderr.write = write
    }
    expect(said.join("")).toContain(`${MEMORY_LOG_ENV}: cannot append to ${file}`)
  })
})
