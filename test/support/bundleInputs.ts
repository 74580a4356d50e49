/**
 * The source files a bundle of `entry` (a path relative to the repository's
 * `src/`) takes in, as esbuild resolves them for Node: what a worker thread
 * built from it would load, for tests that keep a thread's code free of
 * packages (a thread's heap carries every module it loads).
 */
import * as esbuild from "esbuild"
import { fileURLToPath } from "node:url"

export const bundleInputs = async (entry: string): Promise<ReadonlyArray<string>> => {
  const built = await esbuild.build({
    entryPoints: [fileURLToPath(new URL(`../../src/${entry}`, import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent"
  })
  return Object.keys(built.metafile.inputs)
}
