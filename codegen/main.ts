/**
 * npm run codegen -- [--api-dir DIR]... [--out DIR] [--check] [--update-manifest]
 *
 * Reads the modules listed in api-defs/manifest.json from the `.api.json`
 * directories (default ../shared/vpp-api; on a VPP host
 * /usr/share/vpp/api, whose core/ and plugins/ are searched too) and writes
 * src/vpp/binapi/. Exit codes: 0 done, 1 stale (--check) or definitions that
 * differ from the manifest, 2 bad usage or unreadable input.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { ApiJsonError } from "./ApiJson.js"
import { generate, GenerateError } from "./Generate.js"
import {
  compareWithManifest,
  defaultApiDir,
  defaultOutDir,
  loadApis,
  manifestFor,
  manifestPath,
  readManifest,
  readOverrides,
  SourceError,
  staleFiles
} from "./Sources.js"

const usage = `usage: npm run codegen -- [--api-dir DIR]... [--out DIR] [--check] [--update-manifest]

  --api-dir DIR        directory of VPP .api.json files (repeatable; its direct
                       subdirectories are searched too). Default: ${path.relative(process.cwd(), defaultApiDir)}
  --out DIR            output directory. Default: src/vpp/binapi
  --check              write nothing; exit 1 if the output directory is stale
  --update-manifest    accept definitions that differ from api-defs/manifest.json
                       and rewrite it (review the listed changes first)
`

const main = (): number => {
  let args
  try {
    args = parseArgs({
      options: {
        "api-dir": { type: "string", multiple: true },
        out: { type: "string" },
        check: { type: "boolean", default: false },
        "update-manifest": { type: "boolean", default: false },
        help: { type: "boolean", default: false }
      },
      strict: true
    }).values
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`)
    return 2
  }
  if (args.help) {
    process.stdout.write(usage)
    return 0
  }
  const dirs = (args["api-dir"] ?? [defaultApiDir]).map((d) => path.resolve(d))
  const out = path.resolve(args.out ?? defaultOutDir)
  try {
    const manifest = readManifest()
    const apis = loadApis(manifest, dirs)
    const differences = compareWithManifest(manifest, apis)
    if (differences.length > 0) {
      if (!args["update-manifest"]) {
        process.stderr.write(
          `the definitions in ${dirs.join(", ")} differ from api-defs/manifest.json:\n` +
            differences.map((d) => `  ${d}\n`).join("") +
            `rerun with --update-manifest to bind these definitions instead\n`
        )
        return 1
      }
      fs.writeFileSync(manifestPath, JSON.stringify(manifestFor(manifest.source, apis), null, 2) + "\n")
      process.stdout.write(`api-defs/manifest.json updated (${differences.length} changes)\n`)
    }
    const { files, warnings } = generate(apis, readOverrides())
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`)
    if (args.check) {
      const stale = staleFiles(out, files)
      if (stale.length > 0) {
        process.stderr.write(`${out} is stale:\n${stale.map((s) => `  ${s}\n`).join("")}run npm run codegen\n`)
        return 1
      }
      process.stdout.write(`${out} is up to date (${files.size} files)\n`)
      return 0
    }
    fs.mkdirSync(out, { recursive: true })
    for (const old of fs.readdirSync(out)) {
      if (old.endsWith(".ts") && !files.has(old)) fs.rmSync(path.join(out, old))
    }
    for (const [name, text] of files) fs.writeFileSync(path.join(out, name), text)
    process.stdout.write(`wrote ${files.size} files to ${path.relative(process.cwd(), out) || "."}\n`)
    return 0
  } catch (e) {
    if (e instanceof ApiJsonError || e instanceof GenerateError || e instanceof SourceError) {
      process.stderr.write(`codegen: ${e.message}\n`)
      return e instanceof GenerateError ? 1 : 2
    }
    throw e
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  process.exitCode = main()
}
