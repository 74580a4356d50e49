/**
 * The package version (from the nearest package.json, from src/ and dist/
 * alike), apart from Version.ts: a probe thread (health/probes/ProbeWorker.ts)
 * needs it for its User-Agent, and loading Version.ts ran git three times in
 * every thread started from a checkout.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = (): string | undefined => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown }
      if (pkg.name === "vpp-maglev") return dir
    } catch {
      // not here; look further up
    }
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** The directory of vpp-maglev's package.json, if found. */
export const root: string | undefined = packageDir()

const readVersion = (): string => {
  if (root === undefined) return "0.0.0"
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version?: unknown }
  return typeof pkg.version === "string" ? pkg.version : "0.0.0"
}

export const VERSION: string = readVersion()
