import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
/** `../shared` beside the repository, as on every developer machine and in CI. */
export const sharedDir = path.resolve(repoRoot, "../shared")
export const apiDir = path.join(sharedDir, "vpp-api")
export const goldenDir = path.join(apiDir, "golden")
