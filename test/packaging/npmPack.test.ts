/**
 * What `npm pack` ships (package.json `files`, `man`, `bin`): the built
 * library and the bundled programs, the native addon's sources (the package's
 * install script builds it), the man pages, the guides, the example
 * configuration and the dashboard's browser app; never the tests, benchmarks,
 * TypeScript sources or build scripts. Listed with `--dry-run
 * --ignore-scripts`, so nothing is built: what dist/ holds at the time does not
 * matter, only which paths may go in.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { repoRoot } from "../support/paths.js"

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
  readonly bin: Record<string, string>
  readonly man: ReadonlyArray<string>
}

const SHIPPED = [/^dist\//, /^native\/(binding\.gyp|build\.mjs|src\/[\w.]+\.c)$/, /^docs\/[\w-]+\.(md|1|8)$/, /^examples\/maglev\.yaml$/,
  /^web\/dist\//, /^(package\.json|README\.md)$/]

describe("the npm package", () => {
  it("ships only what a user needs", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
    const files = (JSON.parse(out) as ReadonlyArray<{ readonly files: ReadonlyArray<{ readonly path: string }> }>)[0]!.files.map((f) => f.path)
    expect(files.filter((f) => !SHIPPED.some((re) => re.test(f)))).toEqual([])
    expect(files.filter((f) => f.endsWith(".map") || f.startsWith("dist/start."))).toEqual([])
    for (const needed of ["native/binding.gyp", "native/build.mjs", "examples/maglev.yaml", ...pkg.man.map((m) => m.replace(/^\.\//, ""))]) {
      expect(files).toContain(needed)
    }
  })

  it("runs its programs from the bundles and lists every man page that exists", () => {
    for (const [name, bin] of Object.entries(pkg.bin)) expect(bin, name).toBe(`./dist/bundle/${name}.js`)
    const pages = fs.readdirSync(path.join(repoRoot, "docs")).filter((f) => /\.[18]$/.test(f)).map((f) => `./docs/${f}`)
    expect([...pkg.man].sort(), "package.json \"man\" lists every docs/*.1 and docs/*.8").toEqual(pages.sort())
  })
})
