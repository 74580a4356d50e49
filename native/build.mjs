#!/usr/bin/env node
// Builds native/build/Release/vppmaglev_native.node with node-gyp, offline.
//
//   node native/build.mjs [node-gyp command, default "rebuild"] [extra node-gyp args]
//
// - node-gyp: the one npm runs lifecycle scripts with ($npm_config_node_gyp),
//   else a local node_modules/node-gyp, else the one bundled with npm; so no
//   devDependency is needed.
// - Node headers: $npm_config_nodedir if set, else the installation running
//   this script when it ships include/node/node_api.h (Debian/NodeSource/
//   official tarballs do), so node-gyp never tries to download headers.
// - On anything but Linux it does nothing (the addon is Linux-only).
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const nativeDir = path.dirname(fileURLToPath(import.meta.url))

if (process.platform !== "linux") {
  console.warn(`vppmaglev_native: skipped, ${process.platform} is not Linux`)
  process.exit(0)
}

const exists = (p) => {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

const findNodeGyp = () => {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp)
  try {
    candidates.push(createRequire(path.join(nativeDir, "..", "package.json")).resolve("node-gyp/bin/node-gyp.js"))
  } catch {
    // no local node-gyp
  }
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp/bin/node-gyp.js
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"))
  }
  // npm installed beside this node: <prefix>/lib/node_modules/npm
  const prefix = path.resolve(path.dirname(process.execPath), "..")
  candidates.push(path.join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"))
  const found = candidates.find(exists)
  if (found) return found
  const r = spawnSync("npm", ["root", "-g"], { encoding: "utf8" })
  if (r.status === 0) {
    const p = path.join(r.stdout.trim(), "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")
    if (exists(p)) return p
  }
  return undefined
}

const findNodeDir = () => {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir
  const prefix = path.resolve(path.dirname(process.execPath), "..")
  if (exists(path.join(prefix, "include", "node", "node_api.h"))) return prefix
  return undefined
}

const gyp = findNodeGyp()
if (gyp === undefined) {
  console.error("vppmaglev_native: node-gyp not found (neither from npm nor in node_modules)")
  process.exit(1)
}
const args = process.argv.slice(2)
const command = args.length > 0 && !args[0].startsWith("-") ? args.shift() : "rebuild"
const nodedir = findNodeDir()
const gypArgs = [gyp, command, `--directory=${nativeDir}`, ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...args]
console.log(`vppmaglev_native: node ${gypArgs.join(" ")}`)
const r = spawnSync(process.execPath, gypArgs, { stdio: "inherit" })
if (r.error) {
  console.error(`vppmaglev_native: ${r.error.message}`)
  process.exit(1)
}
process.exit(r.status ?? 1)
