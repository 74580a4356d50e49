#!/usr/bin/env node
// Bundles the programs with esbuild: one file per program, every dependency
// inside it and tree-shaken, so a start compiles one file instead of
// resolving and loading ~1,200 modules (npm run bench -- cli has the figures).
//
//   node packaging/bundle.mjs [--outdir DIR] [--node PATH]
//
// - --outdir: where the bundles go (default dist/bundle, the npm package's bin).
// - --node: the interpreter line of the programs (default `/usr/bin/env node`;
//   the Debian packages give their private Node, /usr/lib/vpp-maglev/node).
//
// Written into DIR, per program (maglevd, maglevc, maglevt, maglevd-frontend
// when src/frontend/main.ts exists): NAME.cjs, the CommonJS bundle, and
// NAME.js, the executable that runs it through launch.cjs (with V8's code
// cache NAME.v8cache when writeCodeCaches made one: the Debian packages do);
// then CheckWorker.js, ProbeWorker.js and ScrapeWorker.js (maglevd's configuration check,
// its probe threads and its /metrics server run on worker threads, found beside the module that
// starts them: src/internal/WorkerEntry.ts), launch.cjs and build-info.json.
//
// The version and the commit are embedded: Version.ts reads
// VPP_MAGLEV_COMMIT and VPP_MAGLEV_COMMIT_DATE, which are replaced here by
// the commit being built (git, "+dirty" when the checkout has changes), so an
// installed `maglevd --version` names its commit without a checkout.
//
// Barrels: `import { NodeRuntime } from "@effect/platform-node"` loads the
// package's index, and with it undici (1 MB; @effect/platform's barrel loads the
// Swagger and Scalar UIs, ~24 MB). The plugin below rewrites such named imports
// of the @effect/* barrels to the deep modules (`import * as NodeRuntime from
// "@effect/platform-node/NodeRuntime"`), and the build fails if a barrel is
// still in a bundle.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import * as esbuild from "esbuild"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "..")

/** The @effect/* packages whose index is a list of `export * as Module from "./Module.js"`. */
const BARRELS = ["@effect/platform", "@effect/platform-node", "@effect/platform-node-shared", "@effect/rpc", "@effect/cli"]

/**
 * V8 flags a program sets on itself as it starts, which launch.cjs sets before
 * compiling so that the code cache (made at exit, under them) is accepted:
 * keep in step with src/daemon/HeapTuning.ts (a mismatch only costs the cache).
 */
const V8_FLAGS = { maglevd: ["--optimize-for-size", "--no-allocation-site-pretenuring"] }

/**
 * Node flags on a program's `#!` line, read as node starts: the only way to
 * size the main isolate's young generation, which V8 sizes as it creates the
 * isolate (set at run time, as HeapTuning.ts does its flags, it changes
 * nothing for it). V8's code cache does not depend on it (a cache written
 * without it, as writeCodeCaches runs the program, is accepted with it).
 */
export const LAUNCH_FLAGS = { maglevd: ["--max-semi-space-size=4"] }

/**
 * The launcher's `#!` line: `node` with `flags`. Linux hands everything after
 * the interpreter to it as one argument, so more than one flag, or a `node`
 * that is `/usr/bin/env node`, goes through `env -S` (coreutils 8.30).
 */
export const interpreterLine = (node, flags = []) => {
  if (flags.length === 0) return `#!${node}`
  const words = node.trim().split(/\s+/)
  if (words.length === 1) return flags.length === 1 ? `#!${node} ${flags[0]}` : `#!/usr/bin/env -S ${node} ${flags.join(" ")}`
  if (path.basename(words[0]) === "env" && !words[1].startsWith("-")) return `#!${words[0]} -S ${words.slice(1).join(" ")} ${flags.join(" ")}`
  throw new Error(`--node ${node}: give the interpreter's path (or /usr/bin/env NAME) for a launcher with flags`)
}

/** The programs: output name -> entry point (relative to the repository). */
export const programs = () => {
  const entries = {
    maglevd: "src/daemon/main.ts",
    maglevc: "src/cli/main.ts",
    maglevt: "src/maglevt/main.ts",
    CheckWorker: "src/config/internal/CheckWorker.ts",
    ProbeWorker: "src/health/probes/ProbeWorker.ts",
    ScrapeWorker: "src/metrics/ScrapeWorker.ts"
  }
  // The dashboard daemon, when its entry point exists (issue 17).
  if (fs.existsSync(path.join(root, "src/frontend/main.ts"))) entries["maglevd-frontend"] = "src/frontend/main.ts"
  return entries
}

const git = (...args) => {
  try {
    return execFileSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

/** What is being built: the package version, the commit (+dirty) and its date. */
export const buildInfo = () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
  const hash = process.env.VPP_MAGLEV_COMMIT ?? git("rev-parse", "--short=12", "HEAD")
  const dirty = process.env.VPP_MAGLEV_COMMIT === undefined && hash !== undefined &&
    git("status", "--porcelain", "--untracked-files=no") !== ""
  return {
    version: pkg.version,
    commit: hash === undefined ? "unknown" : dirty ? `${hash}+dirty` : hash,
    commitDate: process.env.VPP_MAGLEV_COMMIT_DATE ?? git("log", "-1", "--format=%cI") ?? "unknown"
  }
}

/** `import { A, B as C } from "@effect/x"` -> `import * as A from "@effect/x/A"; import * as C from "@effect/x/B"`. */
export const deepenImports = (source) =>
  source.replace(
    /import\s*\{([^}]*)\}\s*from\s*"(@effect\/[a-z-]+)"/g,
    (whole, names, pkg) => {
      if (!BARRELS.includes(pkg)) return whole
      const parts = names.split(",").map((s) => s.trim()).filter((s) => s !== "")
      // `import { type X }` names only types; esbuild drops them, so do we.
      const values = parts.filter((p) => !p.startsWith("type "))
      return values.map((p) => {
        const [name, alias] = p.split(/\s+as\s+/)
        return `import * as ${alias ?? name} from "${pkg}/${name}"`
      }).join("; ") || ""
    }
  )

const deepImportsPlugin = {
  name: "deep-imports",
  setup(build) {
    build.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, "utf8")
      // The entry points' own `#!/usr/bin/env node`: the launchers have theirs.
      return { contents: deepenImports(source.replace(/^#!.*/, "")), loader: "ts" }
    })
  }
}

export const bundle = async ({ outdir, node = "/usr/bin/env node" }) => {
  const info = buildInfo()
  fs.mkdirSync(outdir, { recursive: true })
  const { CheckWorker, ProbeWorker, ScrapeWorker, ...entries } = programs()
  const common = {
    absWorkingDir: root,
    outdir,
    bundle: true,
    platform: "node",
    target: "node20",
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [deepImportsPlugin],
    define: {
      "process.env.VPP_MAGLEV_COMMIT": JSON.stringify(info.commit),
      "process.env.VPP_MAGLEV_COMMIT_DATE": JSON.stringify(info.commitDate)
    }
  }
  // The programs: CommonJS, run by launch.cjs with V8's code cache; import.meta.url is NAME.js's.
  const programsResult = await esbuild.build({
    ...common,
    entryPoints: entries,
    format: "cjs",
    outExtension: { ".js": ".cjs" },
    define: { ...common.define, "import.meta.url": "__vppMaglevUrl" }
  })
  // The worker threads (the configuration check, the probes): ES modules started by their path
  // (NAME.js, found beside the module that starts them: src/internal/WorkerEntry.ts).
  const workerResult = await esbuild.build({
    ...common,
    entryPoints: { CheckWorker, ProbeWorker, ScrapeWorker },
    format: "esm",
    // Dependencies published as CommonJS (yaml) call require().
    banner: { js: `import { createRequire as __vppMaglevRequire } from "node:module"; const require = __vppMaglevRequire(import.meta.url);` }
  })
  const inputs = { ...programsResult.metafile.inputs, ...workerResult.metafile.inputs }
  const barrels = Object.keys(inputs).filter((f) => BARRELS.some((b) => f.startsWith(`node_modules/${b}/dist/`) && f.endsWith("/index.js")))
  if (barrels.length > 0) throw new Error(`a bundle loads a package barrel: ${barrels.join(", ")}`)
  fs.copyFileSync(path.join(here, "launch.cjs"), path.join(outdir, "launch.cjs"))
  for (const name of Object.keys(entries)) {
    // A cache of an earlier bundle would be rejected (and shipped by npm pack): gone with it.
    fs.rmSync(path.join(outdir, `${name}.v8cache`), { force: true })
    const launcher = path.join(outdir, `${name}.js`)
    const args = [name, ...(V8_FLAGS[name] ? [V8_FLAGS[name]] : [])].map((a) => JSON.stringify(a)).join(", ")
    fs.writeFileSync(launcher, `${interpreterLine(node, LAUNCH_FLAGS[name] ?? [])}\nimport { createRequire } from "node:module"\ncreateRequire(import.meta.url)("./launch.cjs")(${args})\n`)
    fs.chmodSync(launcher, 0o755)
  }
  fs.writeFileSync(path.join(outdir, "build-info.json"), JSON.stringify(info, null, 2) + "\n")
  return { info, programs: Object.keys(entries), metafile: { inputs } }
}

/**
 * Writes each program's V8 code cache (NAME.v8cache) by running it once with
 * `node`, which must be the Node that will run it (the Debian packages ship it):
 * launch.cjs' writeCodeCaches, which the npm package's install script runs too.
 */
export const writeCodeCaches = (outdir, names, node = process.execPath) =>
  createRequire(import.meta.url)("./launch.cjs").writeCodeCaches(outdir, names, node)

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { outdir: { type: "string", default: path.join(root, "dist", "bundle") }, node: { type: "string" } }
  })
  const { info } = await bundle({ outdir: path.resolve(values.outdir), node: values.node })
  console.log(`bundled vpp-maglev ${info.version} (commit ${info.commit}) into ${path.relative(process.cwd(), values.outdir) || "."}`)
}
