/**
 * The dashboard's built assets (web/dist/) are committed, so `npm ci && npm
 * start` needs no build step and the packages ship them as they are. This
 * rebuilds the app from web/src/ into a temporary directory and fails when
 * the committed files are stale: run `npm run build:web` and commit web/dist/.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { build } from "vite"
import { afterAll, describe, expect, it } from "vitest"
import { repoRoot } from "../support/paths.js"

const list = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()

describe("web/dist", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "web-build-"))
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }))

  it("is what `npm run build:web` makes of web/src (commit a fresh build)", async () => {
    await build({ configFile: path.join(repoRoot, "web", "vite.config.ts"), logLevel: "error", build: { outDir: out, emptyOutDir: true } })
    const committed = path.join(repoRoot, "web", "dist")
    expect(list(committed), "the files of web/dist").toEqual(list(out))
    for (const file of list(out)) {
      const fresh = fs.readFileSync(path.join(out, file), "utf8")
      const old = fs.readFileSync(path.join(committed, file), "utf8")
      expect(old === fresh, `web/dist/${file} is stale: run npm run build:web`).toBe(true)
    }
  })
})
