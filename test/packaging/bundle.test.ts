/**
 * The code caches of the npm package, which its install script writes with
 * the Node that installs it (`node dist/bundle/launch.cjs
 * --write-code-caches`; the Debian package's are made at build time,
 * install.test.ts).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { repoRoot } from "../support/paths.js"

// packaging/bundle.mjs is plain JavaScript (no declarations): its one export tested here, typed.
const { interpreterLine } = (await import(pathToFileURL(path.join(repoRoot, "packaging", "bundle.mjs")).href)) as {
  readonly interpreterLine: (node: string, flags?: ReadonlyArray<string>) => string
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-launch-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("the code caches the npm package's install script writes (launch.cjs --write-code-caches)", () => {
  it("writes one beside each program with this Node, the programs run as before, and one that fails is named and fails neither the rest nor the install", () => {
    const pkg = path.join(dir, "npm")
    fs.mkdirSync(pkg)
    fs.copyFileSync(path.join(repoRoot, "packaging", "launch.cjs"), path.join(pkg, "launch.cjs"))
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ type: "module" }))
    for (const [name, body] of [["hello", `console.log("hello " + process.argv.slice(2).join(" "))`], ["broken", `throw new Error("broken")`]] as const) {
      fs.writeFileSync(path.join(pkg, `${name}.cjs`), body)
      fs.writeFileSync(path.join(pkg, `${name}.js`), `import { createRequire } from "node:module"\ncreateRequire(import.meta.url)("./launch.cjs")(${JSON.stringify(name)})\n`)
    }
    const r = spawnSync(process.execPath, [path.join(pkg, "launch.cjs"), "--write-code-caches"], { encoding: "utf8" })
    expect(r.status).toBe(0)
    expect(r.stderr).toContain("broken: no code cache")
    expect(fs.existsSync(path.join(pkg, "hello.v8cache"))).toBe(true)
    expect(execFileSync(process.execPath, [path.join(pkg, "hello.js"), "a", "b"], { encoding: "utf8" })).toBe("hello a b\n")
  })
})

describe("the launchers' #! line (interpreterLine): node flags maglevd is started with", () => {
  it("names the interpreter alone without flags, one flag after a path, env -S otherwise, and refuses what it cannot write", () => {
    expect(interpreterLine("/usr/bin/env node")).toBe("#!/usr/bin/env node")
    expect(interpreterLine("/usr/lib/vpp-maglev/node", ["--max-semi-space-size=4"])).toBe("#!/usr/lib/vpp-maglev/node --max-semi-space-size=4")
    expect(interpreterLine("/usr/bin/env node", ["--max-semi-space-size=4"])).toBe("#!/usr/bin/env -S node --max-semi-space-size=4")
    expect(interpreterLine("/usr/lib/vpp-maglev/node", ["--a", "--b"])).toBe("#!/usr/bin/env -S /usr/lib/vpp-maglev/node --a --b")
    expect(() => interpreterLine("/usr/bin/env -i node", ["--a"])).toThrow(/--node/)
  })

  it("each form starts node with its flags when the kernel runs the file", () => {
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env["PATH"] ?? ""}` }
    const lines = [
      interpreterLine(process.execPath, ["--max-semi-space-size=4"]),
      interpreterLine("/usr/bin/env node", ["--max-semi-space-size=4"]),
      interpreterLine(process.execPath, ["--max-semi-space-size=4", "--stack-size=900"])
    ]
    lines.forEach((line, i) => {
      const file = path.join(dir, `flags-${i}.mjs`)
      fs.writeFileSync(file, `${line}\nconsole.log(JSON.stringify(process.execArgv))\n`, { mode: 0o755 })
      const flags = i === 2 ? ["--max-semi-space-size=4", "--stack-size=900"] : ["--max-semi-space-size=4"]
      expect(JSON.parse(execFileSync(file, [], { encoding: "utf8", env }))).toEqual(flags)
    })
  })
})
