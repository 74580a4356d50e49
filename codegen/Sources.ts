/**
 * Finding the `.api.json` files of the modules the manifest binds, and
 * checking them against the manifest, so that regenerating against another
 * VPP's definitions shows exactly which messages changed before anything is
 * written.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type ApiFile, parseApiJson } from "./ApiJson.js"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
export const defaultApiDir = path.resolve(repoRoot, "../shared/vpp-api")
export const defaultOutDir = path.join(repoRoot, "src/vpp/binapi")
export const manifestPath = path.join(repoRoot, "api-defs/manifest.json")
export const overridesPath = path.join(repoRoot, "api-defs/overrides.json")

/** api-defs/overrides.json as `<type>.<field>` -> type name. */
export const readOverrides = (file = overridesPath): Record<string, string> => {
  if (!fs.existsSync(file)) return {}
  let json: { fields?: Record<string, { type?: unknown }> }
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new SourceError(`${file}: ${(e as Error).message}`)
  }
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(json.fields ?? {})) {
    if (typeof value?.type !== "string") throw new SourceError(`${file}: fields.${key} needs a "type"`)
    out[key] = value.type
  }
  return out
}

export interface ManifestModule {
  readonly name: string
  readonly version: string
  readonly crc: string
  /** message name -> crc */
  readonly messages: Readonly<Record<string, string>>
}

export interface Manifest {
  readonly source: string
  readonly modules: ReadonlyArray<ManifestModule>
}

export class SourceError extends Error {}

export const readManifest = (file = manifestPath): Manifest => {
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (e) {
    throw new SourceError(`${file}: ${(e as Error).message}`)
  }
  const m = json as Partial<Manifest>
  if (typeof m !== "object" || m === null || !Array.isArray(m.modules)) {
    throw new SourceError(`${file}: expected { "source": ..., "modules": [...] }`)
  }
  m.modules.forEach((mod, i) => {
    if (typeof mod?.name !== "string" || typeof mod.messages !== "object") {
      throw new SourceError(`${file}: modules[${i}] needs a name and a messages map`)
    }
  })
  return m as Manifest
}

/** Looks for `<module>.api.json` in each directory and its direct subdirectories (VPP installs core/ and plugins/). */
export const findApiFile = (module: string, dirs: ReadonlyArray<string>): string => {
  const name = `${module}.api.json`
  const searched: Array<string> = []
  for (const dir of dirs) {
    const candidates = [dir]
    if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        if (entry.isDirectory()) candidates.push(path.join(dir, entry.name))
      }
    }
    for (const c of candidates) {
      searched.push(c)
      const file = path.join(c, name)
      if (fs.existsSync(file)) return file
    }
  }
  throw new SourceError(`${name} not found; searched ${searched.join(", ") || "(no directories)"}`)
}

export const loadApis = (manifest: Manifest, dirs: ReadonlyArray<string>): Array<ApiFile> =>
  manifest.modules.map((m) => {
    const file = findApiFile(m.name, dirs)
    const api = parseApiJson(path.basename(file), fs.readFileSync(file, "utf8"))
    if (api.module !== m.name) throw new SourceError(`${file}: declares module ${api.module}, expected ${m.name}`)
    return api
  })

/** Every way the definitions differ from what the manifest pins; empty when they match. */
export const compareWithManifest = (manifest: Manifest, apis: ReadonlyArray<ApiFile>): Array<string> => {
  const out: Array<string> = []
  for (const m of manifest.modules) {
    const api = apis.find((a) => a.module === m.name)
    if (api === undefined) {
      out.push(`${m.name}: not loaded`)
      continue
    }
    if (api.version !== m.version) out.push(`${m.name}: version ${api.version}, manifest has ${m.version}`)
    if (api.crc !== m.crc) out.push(`${m.name}: file crc ${api.crc}, manifest has ${m.crc}`)
    const seen = new Set<string>()
    for (const msg of api.messages) {
      seen.add(msg.name)
      const pinned = m.messages[msg.name]
      if (pinned === undefined) out.push(`${m.name}: new message ${msg.name} (${msg.crc})`)
      else if (pinned !== msg.crc) out.push(`${m.name}: message ${msg.name} crc ${msg.crc}, manifest has ${pinned}`)
    }
    for (const name of Object.keys(m.messages)) {
      if (!seen.has(name)) out.push(`${m.name}: message ${name} is gone`)
    }
  }
  return out
}

export const manifestFor = (source: string, apis: ReadonlyArray<ApiFile>): Manifest => ({
  source,
  modules: apis.map((a) => ({
    name: a.module,
    version: a.version,
    crc: a.crc,
    messages: Object.fromEntries(a.messages.map((m) => [m.name, m.crc]))
  }))
})

/** Files that differ, are missing, or should not be there. */
export const staleFiles = (dir: string, files: ReadonlyMap<string, string>): Array<string> => {
  const stale: Array<string> = []
  for (const [name, text] of files) {
    const file = path.join(dir, name)
    if (!fs.existsSync(file)) stale.push(`${name} missing`)
    else if (fs.readFileSync(file, "utf8") !== text) stale.push(`${name} differs`)
  }
  if (fs.existsSync(dir)) {
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".ts") && !files.has(name)) stale.push(`${name} is not generated`)
  }
  return stale
}
