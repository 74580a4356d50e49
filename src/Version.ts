/**
 * What this build is: the package version (from the nearest package.json,
 * from src/ and dist/ alike), and the commit and its date. The commit comes
 * from `VPP_MAGLEV_COMMIT` / `VPP_MAGLEV_COMMIT_DATE` when a packager sets
 * them, else from git when running from a checkout, else "unknown".
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { root, VERSION } from "./PackageVersion.js"

const git = (...args: ReadonlyArray<string>): string | undefined => {
  if (root === undefined || !fs.existsSync(path.join(root, ".git"))) return undefined
  try {
    return execFileSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

export { VERSION }
/** The commit this code is (short hash, "+dirty" when the checkout has changes), or "unknown". */
export const COMMIT: string = process.env.VPP_MAGLEV_COMMIT ??
  (() => {
    const hash = git("rev-parse", "--short=12", "HEAD")
    if (hash === undefined) return "unknown"
    return git("status", "--porcelain", "--untracked-files=no") === "" ? hash : `${hash}+dirty`
  })()
/** The commit's date (ISO 8601), or "unknown". */
export const COMMIT_DATE: string = process.env.VPP_MAGLEV_COMMIT_DATE ?? git("log", "-1", "--format=%cI") ?? "unknown"
/** One line for `--version`. */
export const VERSION_LINE: string = `${VERSION} (commit ${COMMIT}, ${COMMIT_DATE})`
