import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { expect, it } from "vitest"
import { repoRoot } from "./support/paths.js"

const run = promisify(execFile)

it("examples/codec.ts runs and prints the frame, the value and a typed encode error", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples/codec.ts")], { cwd: repoRoot })
  expect(stdout).toContain(
    "lb_add_del_as_v2_2f1d3b0e: 0000000000000000000000330000000003f2800000010000002a00c0000200000000000000000000000000180600" +
      "50000a000001000000000000000000000000640000"
  )
  expect(stdout).toContain("as_address: '10.0.0.1'")
  expect(stdout).toContain("cannot encode lb_add_del_as_v2.weight: expected an integer u8 (0..255), got 300")
})

it("npm start (a placeholder for now) says plainly that the daemon is not built yet", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(repoRoot, "src/start.ts")], { cwd: repoRoot })
  expect(stdout).toMatch(/not built yet; npm start is a placeholder/)
})
