/** The package version, read once from the nearest package.json (works from src/ and dist/). */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const find = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown }
      if (pkg.name === "vpp-maglev" && typeof pkg.version === "string") return pkg.version
    } catch {
      // not here; look further up
    }
    const parent = path.dirname(dir)
    if (parent === dir) return "0.0.0"
    dir = parent
  }
}

export const VERSION: string = find()
