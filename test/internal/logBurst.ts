/**
 * A child for test/internal/log-writer.test.ts: logs a burst of lines to
 * stdout (src/internal/Log.ts), says on stderr once the event loop has
 * turned how many bytes are still queued for the reader, then, told to go on
 * (a line on stdin), logs a second burst and exits at once (`process.exit`,
 * as `NodeRuntime.runMain` does on SIGTERM).
 */
import * as fs from "node:fs"
import { stdoutQueued, writeStdoutLine } from "../../src/internal/Log.js"

const first = Number(process.argv[2])
const second = Number(process.argv[3])
const line = (i: number) => JSON.stringify({ i, pad: "x".repeat(200) })
for (let i = 0; i < first; i++) writeStdoutLine(line(i))
setImmediate(() =>
  setImmediate(() => {
    fs.writeSync(2, `turned ${stdoutQueued()}\n`)
    process.stdin.once("data", () => {
      for (let i = first; i < first + second; i++) writeStdoutLine(line(i))
      fs.writeSync(2, "exiting\n")
      process.exit(0)
    })
  })
)
