/**
 * Work that waits for urgent exchanges (src/internal/Urgent.ts): the log
 * writer's lines and FrontendState's judging wait, after the event loop's
 * poll, for a health reaction's first answer from VPP. Turns of the event
 * loop, no clock: the checks run in the same check phase as the step they
 * follow, before any timer could fire.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterPoll } from "../../src/health/FrontendState.js"
import { makeStdoutWriter } from "../../src/internal/Log.js"
import { hold, pending, whenIdle } from "../../src/internal/Urgent.js"

/** Resolves in the check phase two turns from now (after work scheduled the same way before it). */
const twoTurns = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)))

describe("Urgent", () => {
  it("runs work at once when nothing is outstanding, else once every hold has ended (an end twice counts once)", () => {
    const ran: Array<string> = []
    whenIdle(() => ran.push("idle"))
    expect(ran).toEqual(["idle"])
    const a = hold()
    const b = hold()
    whenIdle(() => ran.push("after both"))
    a()
    a()
    expect(ran).toEqual(["idle"])
    expect(pending()).toBe(1)
    b()
    expect(ran).toEqual(["idle", "after both"])
    expect(pending()).toBe(0)
  })

  it("runs waiting work after its bound even while a hold is outstanding", async () => {
    const end = hold()
    try {
      await new Promise<void>((resolve) => whenIdle(resolve))
      expect(pending()).toBe(1)
    } finally {
      end()
    }
  })

  it("the log writer writes a line logged during a hold once the hold ends, not at the poll", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "urgent-"))
    const file = path.join(dir, "out")
    const fd = fs.openSync(file, "w")
    const end = hold()
    try {
      const writer = makeStdoutWriter(fd)
      writer.line("a line")
      await twoTurns()
      // Past the poll: held, not written.
      expect(fs.readFileSync(file, "utf8")).toBe("")
      expect(writer.queued()).toBeGreaterThan(0)
      end()
      expect(fs.readFileSync(file, "utf8")).toBe("a line\n")
    } finally {
      end()
      fs.closeSync(fd)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it.live("FrontendState's afterPoll resumes once the poll is past and the hold has ended", () =>
    Effect.gen(function*() {
      const end = hold()
      const fiber = yield* Effect.fork(afterPoll)
      // Its turns queued first (the child runs), then ours: ours come right after its own.
      yield* Effect.yieldNow()
      yield* Effect.promise(twoTurns)
      expect(fiber.unsafePoll()).toBeNull()
      end()
      yield* Fiber.join(fiber)
    }))
})
