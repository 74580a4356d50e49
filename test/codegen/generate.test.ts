import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { describe, expect, it } from "vitest"
import { ApiJsonError, parseApiJson, type ApiFile } from "../../codegen/ApiJson.js"
import { messageCrc } from "../../codegen/Crc.js"
import { generate, GenerateError } from "../../codegen/Generate.js"
import { compareWithManifest, findApiFile, manifestFor, SourceError } from "../../codegen/Sources.js"

type Entry = ReadonlyArray<unknown>

/** A minimal `.api.json`; message CRCs are computed unless given. */
const apiJson = (module: string, parts: {
  types?: Array<Entry>; unions?: Array<Entry>; enums?: Array<Entry>; enumflags?: Array<Entry>
  aliases?: Record<string, { type: string; length?: number }>; messages?: Array<Entry>; imports?: Array<string>
  crcs?: Record<string, string>
}): ApiFile => {
  const json = {
    module,
    types: parts.types ?? [], unions: parts.unions ?? [], enums: parts.enums ?? [], enumflags: parts.enumflags ?? [],
    aliases: parts.aliases ?? {}, services: {}, options: { version: "1.0.0" }, vl_api_version: "0x12345678",
    imports: parts.imports ?? [], counters: [], paths: [],
    messages: (parts.messages ?? []).map((m) => [m[0], ["u16", "_vl_msg_id"], ...m.slice(1), { crc: "0x00000000" }])
  }
  const first = parseApiJson(`${module}.api.json`, JSON.stringify(json))
  const defs = {
    structs: new Map(first.structs.map((s) => [s.name, s])),
    enums: new Map(first.enums.map((e) => [e.name, e])),
    aliases: new Map(first.aliases.map((a) => [a.name, a]))
  }
  json.messages = json.messages.map((m) => {
    const name = m[0] as string
    const crc = parts.crcs?.[name] ?? messageCrc(first.messages.find((x) => x.name === name)!, defs)
    return [...m.slice(0, -1), { crc }]
  })
  return parseApiJson(`${module}.api.json`, JSON.stringify(json))
}

const family = ["address_family", ["ADDRESS_IP4", 0], ["ADDRESS_IP6", 1], { enumtype: "u8" }]
const ipAliases = { ip4_address: { type: "u8", length: 4 }, ip6_address: { type: "u8", length: 16 } }
const addressUnion = ["address_union", ["vl_api_ip4_address_t", "ip4", { case: "ADDRESS_IP4" }], ["vl_api_ip6_address_t", "ip6", { case: "ADDRESS_IP6" }]]

describe("codegen", () => {
  it("emits enumflags, legacy arrays and inferred discriminators", () => {
    const api = apiJson("demo", {
      enums: [family],
      enumflags: [["if_flags", ["UP", 1], ["RUNNING", 2], { enumtype: "u16" }]],
      aliases: ipAliases,
      unions: [addressUnion],
      types: [["grp", ["vl_api_address_family_t", "af"], ["vl_api_address_union_t", "a"]]],
      messages: [
        ["demo_legacy", ["u32", "context"], ["vl_api_if_flags_t", "flags"], ["u16", "rest", 0]],
        ["demo_bytes", ["u32", "context"], ["u8", "data", 0]]
      ]
    })
    const { files, warnings } = generate([api])
    const text = files.get("demo.ts")!
    expect(warnings).toEqual([])
    expect(text).toContain(`export const IfFlags = W.enumFlags("if_flags", "u16", IfFlagsValues)`)
    expect(text).toContain(`a: W.discriminated(AddressUnion, "af")`)
    expect(text).toContain(`rest: W.varArray(W.u16)`)
    expect(text).toContain(`data: W.varBytes()`)
    expect(text).toContain(`export const Ip4Address = W.ip4Address`)
    expect(files.get("index.ts")).toContain("demo.definition")
  })

  it("warns about a union field nothing can discriminate", () => {
    const api = apiJson("demo", {
      aliases: ipAliases,
      unions: [addressUnion],
      types: [["loose", ["u8", "x"], ["vl_api_address_union_t", "a"]]]
    })
    expect(generate([api]).warnings).toEqual([
      "demo.api.json: types.loose.a: union address_union has no discriminator; decoding it needs the member named"
    ])
  })

  it("puts each type in the module that defines it and imports it elsewhere", () => {
    const base = apiJson("base", { enums: [family] })
    const user = apiJson("user", { enums: [family], imports: ["vnet/base.api"], messages: [["m", ["u32", "context"], ["vl_api_address_family_t", "af"]]] })
    const { files } = generate([base, user])
    expect(files.get("base.ts")).toContain("export const AddressFamily =")
    expect(files.get("user.ts")).not.toContain("export const AddressFamily =")
    expect(files.get("user.ts")).toContain(`import * as base from "./base.js"`)
    expect(files.get("user.ts")).toContain("af: base.AddressFamily")
  })

  it("refuses a message whose CRC does not match its fields", () => {
    const api = apiJson("demo", { messages: [["m", ["u32", "context"]]], crcs: { m: "0xdeadbeef" } })
    // zlib.crc32("[['u32', 'context']]"), the same string vppapigen hashes
    const expected = `0x${zlib.crc32("[['u32', 'context']]").toString(16).padStart(8, "0")}`
    expect(() => generate([api])).toThrow(GenerateError)
    expect(() => generate([api])).toThrow(`demo.api.json: message m declares crc 0xdeadbeef but its fields give ${expected}`)
  })

  it("refuses unknown types, late count fields, name clashes and changed well-known types", () => {
    expect(() => generate([apiJson("d", { types: [["t", ["vl_api_nope_t", "x"]]] })])).toThrow(/d.api.json: types.t.x: undefined type vl_api_nope_t/)
    expect(() => generate([apiJson("d", { types: [["t", ["u8", "x", 0, "n"], ["u8", "n"]]] })])).toThrow(/types.t.x: count field n is not an earlier field/)
    expect(() => generate([apiJson("d", { types: [["foo_bar", ["u8", "x"]], ["foo__bar", ["u8", "y"]]] })])).toThrow(/both named FooBar/)
    expect(() => generate([apiJson("d", { aliases: { ip4_address: { type: "u8", length: 5 } } })])).toThrow(
      /ip4_address is 5 bytes here, but the codec knows it as 4/
    )
  })

  it("widens the fields listed in overrides, and refuses unknown fields or other sizes", () => {
    const api = apiJson("demo", {
      enums: [["proto", ["TCP", 6], { enumtype: "u8" }], family],
      aliases: ipAliases,
      unions: [addressUnion],
      types: [
        ["address", ["vl_api_address_family_t", "af"], ["vl_api_address_union_t", "un", { discriminator: "af" }]],
        ["prefix", ["vl_api_address_t", "address"], ["u8", "len"]],
        ["vip", ["vl_api_prefix_t", "pfx"], ["vl_api_proto_t", "protocol"]]
      ],
      messages: [["details", ["u32", "context"], ["vl_api_proto_t", "p"]]]
    })
    const text = generate([api], { "vip.protocol": "u8", "vip.pfx": "loose_prefix", "details.p": "u8" }).files.get("demo.ts")!
    expect(text).toContain("protocol: W.u8")
    expect(text).toContain("pfx: W.loosePrefix")
    expect(text).toContain("p: W.u8")
    expect(() => generate([api], { "vip.nope": "u8" })).toThrow("api-defs/overrides.json: no such field: vip.nope")
    expect(() => generate([api], { "vip.protocol": "u32" })).toThrow("api-defs/overrides.json: vip.protocol is 1 bytes, u32 is 4")
    expect(() => generate([api], { "vip.protocol": "float" })).toThrow("api-defs/overrides.json: vip.protocol: unknown type float")
  })

  it("reports malformed definition files with the file and the entry", () => {
    expect(() => parseApiJson("x.api.json", "{")).toThrow(ApiJsonError)
    expect(() => parseApiJson("x.api.json", "{}")).toThrow(/x.api.json: \(structure\)/)
    const json = (messages: unknown) => JSON.stringify({ types: [], messages, unions: [], enums: [], services: {}, options: {}, aliases: {}, vl_api_version: "0x0", imports: [] })
    expect(() => parseApiJson("x.api.json", json([["m", ["u16", "_vl_msg_id"], {}]]))).toThrow(/messages.m: missing or malformed crc/)
    expect(() => parseApiJson("x.api.json", json([["m", ["u32", "context"], { crc: "0x00000000" }]]))).toThrow(/first field must be _vl_msg_id/)
    expect(() => parseApiJson("x.api.json", json([["m", ["u16", "_vl_msg_id"], ["u8", "a", -1], { crc: "0x00000000" }]]))).toThrow(/messages.m.a: array length/)
  })

  it("compares definitions with the manifest message by message", () => {
    const v1 = apiJson("demo", { messages: [["a", ["u32", "context"]], ["b", ["u32", "context"]]] })
    const v2 = apiJson("demo", { messages: [["a", ["u32", "context"], ["u8", "x"]], ["c", ["u32", "context"]]] })
    const manifest = manifestFor("test", [v1])
    expect(compareWithManifest(manifest, [v1])).toEqual([])
    expect(compareWithManifest(manifest, [v2])).toEqual([
      `demo: message a crc ${v2.messages[0]!.crc}, manifest has ${v1.messages[0]!.crc}`,
      `demo: new message c (${v2.messages[1]!.crc})`,
      "demo: message b is gone"
    ])
  })

  it("finds .api.json files in VPP's core/ and plugins/ layout", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "api-"))
    try {
      fs.mkdirSync(path.join(dir, "core"))
      fs.mkdirSync(path.join(dir, "plugins"))
      fs.writeFileSync(path.join(dir, "plugins", "lb.api.json"), "{}")
      expect(findApiFile("lb", [dir])).toBe(path.join(dir, "plugins", "lb.api.json"))
      expect(() => findApiFile("vpe", [dir])).toThrow(SourceError)
      expect(() => findApiFile("vpe", [dir])).toThrow(/vpe.api.json not found; searched .*core, .*plugins/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
