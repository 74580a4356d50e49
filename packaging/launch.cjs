// Starts a bundled program (packaging/bundle.mjs): NAME.js, the file a bin
// links to, calls this with "NAME", which runs NAME.cjs (the CommonJS bundle)
// compiled with V8's code cache NAME.v8cache when there is one that fits.
//
// Why: most of a one-shot maglevc's start is V8 compiling the 1.3 MB bundle.
// The Debian packages ship the Node binary the caches were made with, so the
// cache is accepted and the compile is skipped; anywhere else V8 rejects it
// (another Node version or other flags) and the bundle is compiled as usual.
//
// The bundle sees `import.meta.url` as the URL of NAME.js (esbuild defines it
// as __vppMaglevUrl), so code that looks beside itself (the addon, the
// configuration check's CheckWorker.js, package.json) finds what it did in an
// ES module bundle.
//
// VPP_MAGLEV_WRITE_CODE_CACHE=1 writes NAME.v8cache when the program exits
// (writeCodeCaches below runs each program once so: packaging/deb.mjs at
// build time with the Node it ships, and the npm package's install script,
// `node dist/bundle/launch.cjs --write-code-caches`, with the Node that
// installs it).
"use strict"
const { execFileSync } = require("node:child_process")
const fs = require("node:fs")
const path = require("node:path")
const v8 = require("node:v8")
const vm = require("node:vm")
const Module = require("node:module")
const { pathToFileURL } = require("node:url")

/**
 * Runs NAME.cjs. `v8Flags`: flags the program sets on itself as it starts
 * (maglevd: src/daemon/HeapTuning.ts), set here before the compile, because V8
 * accepts a code cache only under the flags it was made with, and the cache
 * is made when the program exits.
 */
module.exports = (name, v8Flags = []) => {
  for (const flag of v8Flags) v8.setFlagsFromString(flag)
  const file = path.join(__dirname, `${name}.cjs`)
  const cacheFile = path.join(__dirname, `${name}.v8cache`)
  const write = process.env.VPP_MAGLEV_WRITE_CODE_CACHE === "1"
  delete process.env.VPP_MAGLEV_WRITE_CODE_CACHE
  let cachedData
  if (!write) {
    try {
      cachedData = fs.readFileSync(cacheFile)
    } catch {
      // no cache: compile
    }
  }
  const source = fs.readFileSync(file, "utf8")
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __vppMaglevUrl) {${source}\n})`,
    { filename: file, cachedData }
  )
  if (write) process.once("exit", () => fs.writeFileSync(cacheFile, script.createCachedData()))
  const mod = new Module(file, module)
  mod.filename = file
  script.runInThisContext()(
    mod.exports,
    Module.createRequire(file),
    mod,
    file,
    __dirname,
    pathToFileURL(path.join(__dirname, `${name}.js`)).href
  )
}

/**
 * Writes each program's code cache (NAME.v8cache beside NAME.js) by running
 * it once with `node`, which must be the Node that will run it; throws when
 * one was not written.
 */
const writeCodeCaches = (dir, names, node = process.execPath) => {
  for (const name of names) {
    execFileSync(node, [path.join(dir, `${name}.js`), "--version"], {
      env: { ...process.env, VPP_MAGLEV_WRITE_CODE_CACHE: "1" },
      stdio: "ignore"
    })
    if (!fs.existsSync(path.join(dir, `${name}.v8cache`))) throw new Error(`${name}: no code cache written`)
  }
}
module.exports.writeCodeCaches = writeCodeCaches

// `node launch.cjs --write-code-caches` (the npm package's install script): the caches of every
// program beside it, with this Node. Without them a start compiles the whole bundle (maglevd at
// 1,000 backends peaks ~25 MiB higher: the parser's memory stays with malloc). Never fails the
// install: a program without its cache still runs.
if (require.main === module && process.argv[2] === "--write-code-caches") {
  const names = fs.readdirSync(__dirname).filter((f) => f.endsWith(".cjs") && f !== "launch.cjs").map((f) => f.slice(0, -4))
    .filter((name) => fs.existsSync(path.join(__dirname, `${name}.js`)))
  for (const name of names) {
    try {
      writeCodeCaches(__dirname, [name])
    } catch (e) {
      console.warn(`vpp-maglev: ${name}: no code cache (${e.message.split("\n")[0]}); it starts without one`)
    }
  }
}
