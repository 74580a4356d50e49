/**
 * The structural stage: can the file be read into the shape of a configuration
 * at all? It answers what Go's `yaml.Unmarshal` into typed structs (with unknown
 * fields refused) answers for the Go maglevd: YAML syntax, the top level,
 * unknown and duplicate keys, and the kind of every value (mapping, list,
 * string, integer, boolean, duration). What the values *mean* (ranges,
 * enumerations, addresses, references, required keys) is the semantic stage's
 * (`Validate.ts`), so that one rule is never checked in two places.
 *
 * The raw types mirror the file: every field may be absent (`undefined`), keys
 * are the file's kebab-case ones in camelCase, and named maps are lists of
 * entries in file order.
 */
import { Composer, CST, type Document, isMap, isScalar, Lexer, LineCounter, Parser, YAMLParseError } from "yaml"
import type { ConfigIssue } from "./Issue.js"
import { readSimple, type SimpleDocument } from "./internal/Simple.js"
import * as W from "./internal/Walk.js"
import { grouped } from "./internal/Grouped.js"

type Decoded<D> = D extends W.Decoder<infer A> ? A : never

const httpParams = W.struct({
  method: W.field("method", W.string),
  path: W.field("path", W.string),
  host: W.field("host", W.string),
  headers: W.field("headers", W.entries(W.string, "a mapping of header names to values")),
  expectedCodes: W.field("expected-codes", W.list(W.stringOrInteger, "a list of status codes or ranges like 200-399")),
  responseRegex: W.field("response-regex", W.string),
  serverName: W.field("server-name", W.string),
  insecure: W.field("insecure", W.boolean),
  caFile: W.field("ca-file", W.string)
})

const tcpParams = W.struct({
  send: W.field("send", W.string),
  expect: W.field("expect", W.string),
  tls: W.field("tls", W.boolean),
  serverName: W.field("server-name", W.string),
  insecure: W.field("insecure", W.boolean)
})

const healthCheck = W.struct({
  type: W.field("type", W.string),
  port: W.field("port", W.integer),
  interval: W.field("interval", W.duration),
  fastInterval: W.field("fast-interval", W.duration),
  downInterval: W.field("down-interval", W.duration),
  timeout: W.field("timeout", W.duration),
  rise: W.field("rise", W.integer),
  fall: W.field("fall", W.integer),
  probeIpv4Src: W.field("probe-ipv4-src", W.string),
  probeIpv6Src: W.field("probe-ipv6-src", W.string),
  http: W.field("http", httpParams),
  tcp: W.field("tcp", tcpParams),
  slowStart: W.field("slow-start", W.duration)
})

const backend = W.struct({
  address: W.field("address", W.string),
  healthcheck: W.field("healthcheck", W.string),
  enabled: W.field("enabled", W.boolean)
})

/** `web1:` (empty) and `web1: { weight: 50 }` are both members. */
const poolMember = W.struct({ weight: W.field("weight", W.integer) }, "a mapping like { weight: 50 }, or nothing")

const pool = W.struct({
  name: W.field("name", W.string),
  backends: W.field("backends", W.entries(poolMember, "a mapping of backend names")),
  slowStart: W.field("slow-start", W.duration)
})

const frontend = W.struct({
  description: W.field("description", W.string),
  address: W.field("address", W.string),
  protocol: W.field("protocol", W.string),
  port: W.field("port", W.integer),
  pools: W.field("pools", W.list(pool, "a list of pools")),
  srcIpSticky: W.field("src-ip-sticky", W.boolean),
  flushOnDown: W.field("flush-on-down", W.boolean),
  minHealthy: W.field("min-healthy", W.stringOrInteger),
  newFlowsTableLength: W.field("new-flows-table-length", W.integer)
})

const lb = W.struct({
  ipv4SrcAddress: W.field("ipv4-src-address", W.string),
  ipv6SrcAddress: W.field("ipv6-src-address", W.string),
  syncInterval: W.field("sync-interval", W.duration),
  stickyBucketsPerCore: W.field("sticky-buckets-per-core", W.integer),
  flowTimeout: W.field("flow-timeout", W.duration),
  startupMinDelay: W.field("startup-min-delay", W.duration),
  startupMaxDelay: W.field("startup-max-delay", W.duration)
})

const maglev = W.struct({
  healthchecker: W.field(
    "healthchecker",
    W.struct({
      transitionHistory: W.field("transition-history", W.integer),
      netns: W.field("netns", W.string)
    })
  ),
  vpp: W.field("vpp", W.struct({ lb: W.field("lb", lb) })),
  healthchecks: W.field("healthchecks", W.entries(healthCheck, "a mapping of healthcheck names")),
  backends: W.field("backends", W.entries(backend, "a mapping of backend names")),
  frontends: W.field("frontends", W.entries(frontend, "a mapping of frontend names"))
})

export type RawHttpParams = Decoded<typeof httpParams>
export type RawTcpParams = Decoded<typeof tcpParams>
export type RawHealthCheck = Decoded<typeof healthCheck>
export type RawBackend = Decoded<typeof backend>
export type RawPool = Decoded<typeof pool>
export type RawFrontend = Decoded<typeof frontend>
export type RawLb = Decoded<typeof lb>
export type RawConfig = Decoded<typeof maglev>

export type ReadResult =
  | { readonly _tag: "Read"; readonly raw: RawConfig; readonly walk: W.Walk }
  | { readonly _tag: "Unreadable"; readonly errors: ReadonlyArray<ConfigIssue> }

const TOP = "a mapping with the single key maglev"

/**
 * Hostile input bounds. The size limit of the file (`--config-max-bytes`)
 * bounds the work of parsing except for two things that grow faster than the
 * text: nesting (the parser and composer recurse; a file of 2 MB of `[` takes
 * seconds to refuse) and alias expansion (the walk's own limits, `Walk.ts`).
 */
export const MAX_DEPTH = 64
/** Scalars and collections, counted as the lexer sees them; 4 MiB of real configuration holds a few hundred thousand. */
export const MAX_NODES = 1_000_000

class TooComplex {
  constructor(readonly rule: string, readonly offset: number) {}
}

/**
 * The parser's token stream, as `parseDocument` builds it, with the nesting
 * and the number of nodes counted on the way: an absurd document is refused
 * as soon as it gets absurd, before any tree is built.
 */
function* boundedTokens(text: string, lineCounter: LineCounter, counted: { nodes: number }): Generator<CST.Token> {
  const parser = new Parser(lineCounter.addNewLine)
  lineCounter.addNewLine(0)
  let offset = 0
  let nodes = 0
  for (const lexeme of new Lexer().lex(text)) {
    switch (CST.tokenType(lexeme)) {
      case "scalar":
      case "alias":
      case "flow-map-start":
      case "flow-seq-start":
      case "seq-item-ind":
        if (++nodes > MAX_NODES) throw new TooComplex(`the YAML has more than ${grouped(MAX_NODES)} nodes`, offset)
    }
    yield* parser.next(lexeme)
    if (parser.stack.length > MAX_DEPTH) throw new TooComplex(`the YAML is nested more than ${MAX_DEPTH} levels deep`, offset)
    offset += lexeme.length
  }
  counted.nodes = nodes
  yield* parser.end()
}

/** What `parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false })` returns, within the bounds. */
const parseBounded = (
  text: string,
  lineCounter: LineCounter,
  counted: { nodes: number }
): Document.Parsed | TooComplex => {
  // Duplicate keys are found by the walk, which can say at which path they are.
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false })
  try {
    let doc: Document.Parsed | undefined
    for (const next of composer.compose(boundedTokens(text, lineCounter, counted), true, text.length)) {
      if (doc === undefined) doc = next
      else {
        // As parseDocument says it: one document per file.
        doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], "MULTIPLE_DOCS", "Source contains multiple documents; please use YAML.parseAllDocuments()"))
        break
      }
    }
    return doc!
  } catch (e) {
    if (e instanceof TooComplex) return e
    throw e
  }
}

/** The text's document when Simple.ts reads it (plain YAML, within the bounds), for `read`; undefined otherwise. */
export const readPlain = (text: string): SimpleDocument | undefined => readSimple(text, MAX_NODES)

/**
 * YAML text → the raw configuration, or every syntax and structural error.
 * Plain YAML is read by Simple.ts, the rest by the `yaml` package (`simple:
 * false`: always by the package, for the tests that compare the two; a
 * document: what `readPlain` read of this text).
 */
export const read = (text: string, options: { readonly simple?: boolean | SimpleDocument } = {}): ReadResult => {
  const simple = options.simple === false ? undefined : options.simple === true || options.simple === undefined ? readSimple(text, MAX_NODES) : options.simple
  const lineCounter = simple?.lineCounter ?? new LineCounter()
  const counted = { nodes: simple?.nodes ?? 0 }
  const doc = simple?.doc ?? parseBounded(text, lineCounter, counted)
  if (doc instanceof TooComplex) {
    const { line, col } = lineCounter.linePos(doc.offset)
    return { _tag: "Unreadable", errors: [{ path: "", rule: doc.rule, line, column: col }] }
  }
  const yamlIssue = (e: { readonly message: string; readonly pos: readonly [number, number] }): ConfigIssue => {
    const { line, col } = lineCounter.linePos(e.pos[0])
    return { path: "", rule: `YAML syntax error: ${e.message}`, line, column: col }
  }
  // A warning (an unknown tag, a bad directive) would change what a value means: refuse it too.
  const syntax = [...doc.errors, ...doc.warnings].map(yamlIssue)
  if (syntax.length > 0) return { _tag: "Unreadable", errors: syntax }

  const walk = new W.Walk(doc, lineCounter, counted.nodes)
  const top = doc.contents
  if (top === null || (isScalar(top) && top.value === null)) {
    return { _tag: "Unreadable", errors: [{ path: "", rule: `the file is empty; expected ${TOP}` }] }
  }
  walk.mark(walk.root, top, null)
  const root = W.struct({ maglev: W.field("maglev", maglev) }, TOP)(top, walk.root, walk)
  if (isMap(top) && !top.items.some((p) => isScalar(p.key) && p.key.value === "maglev")) {
    walk.fail(walk.root.key("maglev"), `is required: the file must be ${TOP}`)
  }
  // `maglev:` with nothing under it is a valid, empty configuration.
  const raw = root === W.Invalid ? W.Invalid : (root.maglev ?? maglev(null, walk.root.key("maglev"), walk))
  if (raw === W.Invalid || walk.issues.length > 0) return { _tag: "Unreadable", errors: walk.issues }
  return { _tag: "Read", raw, walk }
}
