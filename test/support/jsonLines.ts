/** The JSON-line logs of child processes (maglevd, vppsim), for tests that spawn them. */
import type { ChildProcess } from "node:child_process"

export interface LogRecord {
  readonly message: string
  readonly annotations: { readonly [k: string]: unknown }
}

/** The records a child writes to stdout, parsed as they come (a line that is not JSON is skipped). */
export const jsonLines = (child: ChildProcess): Array<LogRecord> => {
  const records: Array<LogRecord> = []
  let buffer = ""
  child.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString()
    let nl
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try {
        records.push(JSON.parse(line))
      } catch {
        // not a log line
      }
    }
  })
  return records
}
