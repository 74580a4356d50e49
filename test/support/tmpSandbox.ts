/**
 * Vitest global setup: the run's own temporary directory. TMPDIR points at a
 * fresh /tmp/vpp-maglev-tests-XXXXXX for the test workers and every process
 * they start (maglevd, vppsim, npm start, tsx's compile cache, chromium), and
 * the directory is removed when the run ends: a test that forgets a file does
 * not leave it in /tmp. Such a file is still a defect (tests remove what they
 * make): the teardown names what was left behind.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** Left by tools rather than by tests: tsx's compile cache. */
const TOOLS = /^tsx-\d+$/

export default function setup() {
  const previous = process.env["TMPDIR"]
  const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), "vpp-maglev-tests-"))
  // As /tmp is: tests run programs as other users too (the packaging tests' unprivileged maglevd).
  fs.chmodSync(sandbox, 0o1777)
  process.env["TMPDIR"] = sandbox
  return () => {
    const left = fs.readdirSync(sandbox).filter((name) => !TOOLS.test(name))
    if (left.length > 0) process.stderr.write(`tests left in their temporary directory (removed now): ${left.join(", ")}\n`)
    fs.rmSync(sandbox, { recursive: true, force: true })
    if (previous === undefined) delete process.env["TMPDIR"]
    else process.env["TMPDIR"] = previous
  }
}
