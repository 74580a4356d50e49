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
// (packaging/deb.mjs runs each program once so).
"use strict"
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
