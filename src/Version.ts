/**
 * What this build is: the package version (PackageVersion.ts, from the
 * nearest package.json, from src/ and dist/ alike), and the commit and its
 * date. The commit comes from `VPP_MAGLEV_COMMIT` / `VPP_MAGLEV_COMMIT_DATE`
 * when a packager sets them (packaging/bundle.mjs builds them into the
 * bundle), else from git when running from a checkout, else "unknown".
 *
 * Loading this module costs nothing: git runs when the commit is first asked
 * for, not at import (three synchronous runs at import held a daemon started
 * from a checkout for up to 166 ms at start, and every vppsim, maglevt and
 * dashboard start too). `build` runs it in a child process the event loop
 * does not wait on; `buildSync`, for a caller that cannot wait (`--version`,
 * a scrape's build info), takes the answer if it is in, else runs git
 * synchronously. Either way git runs at most once per process.
 */
import { Effect } from "effect"
import { execFile, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { root, VERSION } from "./PackageVersion.js"

export { VERSION }

export interface Build {
  readonly version: string
  /** The commit (short hash, "+dirty" when the checkout has changes), or "unknown". */
  readonly commit: string
  /** The commit's date (ISO 8601), or "unknown". */
  readonly date: string
}

/**
 * git's answers in one child process (a spawn holds the event loop for a fork
 * and an exec, 1-3 ms, far more on a busy machine: one, not three): the short
 * hash and the commit's date, then the changed tracked files and a "." once
 * `git status` has answered.
 */
const SCRIPT = 'git -C "$1" log -1 --abbrev=12 --format=%h%n%cI && git -C "$1" status --porcelain --untracked-files=no && echo .'

const shArgs = (dir: string): Array<string> => ["-c", SCRIPT, "sh", dir]

/** The build from what SCRIPT wrote ("" when it could not run); a packager's values first. */
const fromGit = (out: string): Build => {
  const [hash, date, ...status] = out.split("\n").filter((l) => l !== "")
  // As `git status` answering with no changed file, not as it failing.
  const clean = status.length === 1 && status[0] === "."
  return {
    version: VERSION,
    commit: process.env.VPP_MAGLEV_COMMIT ?? (hash === undefined ? "unknown" : clean ? hash : `${hash}+dirty`),
    date: process.env.VPP_MAGLEV_COMMIT_DATE ?? date ?? "unknown"
  }
}

/** The checkout git is to be asked about, unless a packager said it all or this is no checkout. */
const checkout = (): string | undefined =>
  (process.env.VPP_MAGLEV_COMMIT !== undefined && process.env.VPP_MAGLEV_COMMIT_DATE !== undefined) ||
    root === undefined || !fs.existsSync(path.join(root, ".git"))
    ? undefined
    : root

const lookup = (): Promise<Build> => {
  const dir = checkout()
  if (dir === undefined) return Promise.resolve(fromGit(""))
  // stdout even when git failed: what it said before failing still counts.
  return new Promise((resolve) => void execFile("sh", shArgs(dir), { encoding: "utf8" }, (_, stdout) => resolve(fromGit(stdout ?? ""))))
}

const lookupSync = (): Build => {
  const dir = checkout()
  if (dir === undefined) return fromGit("")
  const r = spawnSync("sh", shArgs(dir), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
  return fromGit(r.stdout ?? "")
}

let known: Build | undefined
let pending: Promise<Build> | undefined

/** The build, asked of git (from a checkout) off the event loop the first time. */
export const build: Effect.Effect<Build> = Effect.suspend(() =>
  known !== undefined ? Effect.succeed(known) : Effect.promise(() => (pending ??= lookup().then((b) => (known ??= b))))
)

/** The build at once: the answer if it is in, else git run synchronously (a one-shot `--version`, a scrape). */
export const buildSync = (): Build => (known ??= lookupSync())

/** The line `--version` prints (and `--help` starts with): asked only when printed. */
export const VERSION_LINE = (): string => {
  const b = buildSync()
  return `${b.version} (commit ${b.commit}, ${b.date})`
}
