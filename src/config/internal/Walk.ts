/**
 * Decoders over the `yaml` package's AST (not over `toJS()` output), so that
 * every issue carries the line and column of the node it is about, all issues
 * are collected in one pass, duplicate keys are reported with the path where
 * they occur, and maps keep the order of the file whatever their keys look like.
 *
 * A decoder either returns its value or records issues and returns `Invalid`;
 * it never stops at the first problem. Along the way the walk remembers the
 * position of every path it visits, which the semantic stage uses to place its
 * own issues.
 */
import { type Duration, Either } from "effect"
import * as Yaml from "yaml"
import type { Alias, Document, LineCounter, Node, Pair, Scalar, YAMLMap } from "yaml"
import { parseDuration } from "../Duration.js"
import type { ConfigIssue } from "../Issue.js"
import { Path } from "./Path.js"
import { startOf } from "./Simple.js"
import { grouped } from "./Grouped.js"

/*
 * Taken once: the programs' bundles (esbuild) reach a CommonJS package's
 * exports through a getter at every use, and the walk asks these of every node.
 */
const { isAlias, isMap, isNode, isScalar, isSeq, visit } = Yaml

export const Invalid: unique symbol = Symbol.for("vpp-maglev/config/Invalid")
export type Invalid = typeof Invalid

/** `null` is an empty value (`key:` or `key: ~`) or a missing one. */
export type Decoder<A> = (node: Node | null, path: Path, walk: Walk) => A | Invalid

export interface Position {
  readonly line: number
  readonly column: number
}

/** Above this many alias expansions the document is refused ("billion laughs"). */
const MAX_ALIASES = 1000
/**
 * Alias expansion may add at most this many values to what the file itself
 * says: a few expansions of a big anchor would otherwise cost as much as a
 * file far over the size limit.
 */
export const MAX_EXPANDED = 100_000

/** The printable form of a node for `ConfigIssue.value`: short, one line. */
export const show = (node: Node | null): string => {
  if (node === null) return "null"
  if (isMap(node)) return "{…}"
  if (isSeq(node)) return "[…]"
  if (isAlias(node)) return `*${node.source}`
  return showValue(node.value)
}

export const showValue = (value: unknown): string => {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value)
  return text.length > 60 ? text.slice(0, 57) + "…" : text
}

export class Walk {
  readonly issues: Array<ConfigIssue> = []
  /** The root of every path of this file (paths carry the nodes that say them). */
  readonly root: Path = Path.root()
  private aliases = 0
  private visits = 0
  /** How many values the walk may visit: twice the nodes the lexer counted (an empty value is a node too), plus MAX_EXPANDED. */
  private readonly maxVisits: number

  constructor(
    readonly doc: Document.Parsed,
    readonly lineCounter: LineCounter,
    /** The scalars and collections in the file (Raw.ts counts them as it parses). */
    nodes: number
  ) {
    this.maxVisits = 2 * nodes + MAX_EXPANDED
  }

  positionOf(node: unknown): Position | undefined {
    const start = isNode(node) ? startOf(node) : undefined
    if (start === undefined) return undefined
    const { line, col } = this.lineCounter.linePos(start)
    return { line, column: col }
  }

  /** The position of `path`, or of its nearest ancestor the file mentions. */
  locate(path: Path): Position | undefined {
    for (let p: Path | undefined = path; p !== undefined; p = p.parent) {
      if (p.at !== undefined) return this.positionOf(p.at)
    }
    return undefined
  }

  /** A scalar's value as written, so the semantic stage shows `300s` and not `5m0s`. */
  written(path: Path): string | undefined {
    return path.scalar === undefined ? undefined : show(path.scalar)
  }

  /** Remembers where `path` is (`Path.mark`). */
  mark(path: Path, key: unknown, value: Node | null | Invalid): void {
    path.mark(key, value === Invalid ? null : value)
  }

  issue(
    path: Path,
    rule: string,
    options?: { readonly node?: unknown; readonly value?: string | undefined }
  ): ConfigIssue {
    const at = this.positionOf(options?.node) ?? this.locate(path)
    return {
      path: path.text,
      rule,
      ...(options?.value !== undefined ? { value: options.value } : {}),
      ...(at !== undefined ? { line: at.line, column: at.column } : {})
    }
  }

  fail(path: Path, rule: string, node?: Node | null, value?: string): Invalid {
    this.issues.push(this.issue(path, rule, { node, value: value ?? (node === undefined ? undefined : show(node)) }))
    return Invalid
  }

  /** Anchor name → its nodes in file order, built at the first alias. */
  private anchors: Map<string, Array<Node>> | undefined

  /**
   * What `alias.resolve(doc)` finds, the last node with the anchor before the
   * alias, without its walk over the whole document at every alias.
   */
  anchored(alias: Alias): Node | undefined {
    if (this.anchors === undefined) {
      const anchors = new Map<string, Array<Node>>()
      visit(this.doc, {
        Node: (_, node) => {
          if (node.anchor === undefined || node.range == null) return
          const list = anchors.get(node.anchor)
          if (list === undefined) anchors.set(node.anchor, [node])
          else list.push(node)
        }
      })
      this.anchors = anchors
    }
    const before = alias.range?.[0] ?? Infinity
    const list = this.anchors.get(alias.source) ?? []
    let found: Node | undefined
    for (const node of list) {
      if (node.range![0] >= before) break
      found = node
    }
    return found
  }

  /** Counts a value visited: false (and, the first time, an issue) past the bound. */
  private visit(value: Node, path: Path): boolean {
    if (++this.visits <= this.maxVisits) return true
    // One issue says it; everything after it is left unread.
    if (this.visits === this.maxVisits + 1) {
      this.fail(path, `aliases expand to more than ${grouped(MAX_EXPANDED)} values beyond what the file says`, value)
    }
    return false
  }

  /** Follows an alias to its anchor; `null` for an empty value. */
  resolve(value: unknown, path: Path): Node | null | Invalid {
    if (value === null || value === undefined) return null
    if (!isNode(value)) return null
    if (!this.visit(value, path)) return Invalid
    if (!isAlias(value)) return isScalar(value) && value.value === null ? null : value
    if (++this.aliases > MAX_ALIASES) return this.fail(path, `more than ${MAX_ALIASES} alias expansions`, value)
    const target = this.anchored(value)
    if (target === undefined) return this.fail(path, `alias *${value.source} refers to no anchor`, value)
    return isScalar(target) && target.value === null ? null : target
  }

  /** `resolve` of a scalar (no alias), for the walk's commonest value. */
  resolveScalar(value: Scalar, path: Path): Scalar | null | Invalid {
    if (!this.visit(value, path)) return Invalid
    return value.value === null ? null : value
  }
}

// --- Scalars ---------------------------------------------------------------

const scalar =
  <A>(expected: string, accept: (node: Scalar) => A | undefined): Decoder<A> =>
  (node, path, walk) => {
    if (node !== null && isScalar(node)) {
      const value = accept(node)
      if (value !== undefined) return value
    }
    return walk.fail(path, expected, node)
  }

export const string: Decoder<string> = scalar("expected a string", (n) =>
  typeof n.value === "string" ? n.value : undefined
)

export const boolean: Decoder<boolean> = scalar("expected a boolean (true or false)", (n) =>
  typeof n.value === "boolean" ? n.value : undefined
)

/** YAML 1.2 core integers only: `80`, `0x50`, `0o120`, but not `80.0` or `8e1`. */
const INTEGER_SOURCE = /^[-+]?(?:[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$/

export const integer: Decoder<number> = scalar("expected an integer", (n) =>
  typeof n.value === "number" && Number.isSafeInteger(n.value) && INTEGER_SOURCE.test(n.source ?? String(n.value))
    ? n.value
    : undefined
)

/** A string or an integer, for lists like `expected-codes: [200, "300-399"]`. */
export const stringOrInteger: Decoder<string | number> = (node, path, walk) => {
  if (node !== null && isScalar(node) && typeof node.value === "string") return node.value
  if (node !== null && isScalar(node) && typeof node.value === "number") return integer(node, path, walk)
  return walk.fail(path, "expected an integer or a string", node)
}

/** Go duration text, or a bare `0`; the reason names what is wrong with the text. */
export const duration: Decoder<Duration.Duration> = (node, path, walk) => {
  if (node !== null && isScalar(node)) {
    // A number is read as its text, so that `2` gets "missing unit" and `0` is zero.
    const text =
      typeof node.value === "string"
        ? node.value
        : typeof node.value === "number"
          ? (node.source ?? String(node.value))
          : undefined
    if (text !== undefined) {
      const parsed = parseDuration(text)
      if (Either.isRight(parsed)) return parsed.right
      return walk.fail(path, parsed.left, node)
    }
  }
  return walk.fail(path, "expected a duration like 2s, 500ms or 1m30s", node)
}

// --- Collections -----------------------------------------------------------

const SMALL_MAP = 8

/** A pair's key when it is a string (through an alias too); undefined otherwise. */
const stringKey = (pair: Pair, walk: Walk): string | undefined => {
  const keyNode = isAlias(pair.key) ? walk.anchored(pair.key) : pair.key
  return isScalar(keyNode) && typeof keyNode.value === "string" ? keyNode.value : undefined
}

/**
 * The pairs of a mapping, whose keys must be strings, each once: `next()`
 * moves to the next pair with a good key (`key`, `pair`), and reports the
 * others, which are left out (the rest are still decoded, so their errors
 * show too; `ok` is then false). A mapping of a few keys (a backend's, a
 * check's) is searched for duplicates, not hashed: 10,000 backends made
 * 10,000 Maps.
 */
class Pairs {
  key = ""
  pair!: Pair
  ok = true
  private i = -1
  private readonly seen: Map<string, Pair> | undefined

  constructor(private readonly node: YAMLMap, private readonly path: Path, private readonly walk: Walk) {
    this.seen = node.items.length > SMALL_MAP ? new Map() : undefined
  }

  next(): boolean {
    const items = this.node.items
    while (++this.i < items.length) {
      const key = this.keyAt(this.i)
      if (key !== undefined) {
        this.key = key
        this.pair = items[this.i]!
        return true
      }
      this.ok = false
    }
    return false
  }

  private keyAt(i: number): string | undefined {
    const { node, path, walk } = this
    const pair = node.items[i]!
    const key = stringKey(pair, walk)
    if (key === undefined) {
      const keyNode = isAlias(pair.key) ? walk.anchored(pair.key) : pair.key
      const text = isScalar(keyNode) ? String(keyNode.value) : show(isNode(keyNode) ? keyNode : null)
      const rule = `keys must be strings; quote ${JSON.stringify(text)} if it is a name`
      walk.issues.push(walk.issue(path, rule, { node: pair.key, value: text }))
      return undefined
    }
    const first = this.seen !== undefined ? this.seen.get(key) : this.firstBefore(i, key)
    if (first !== undefined) {
      const line = walk.positionOf(first.key)?.line
      walk.issues.push(
        walk.issue(path.key(key), `duplicate key${line !== undefined ? ` (first defined at line ${line})` : ""}`, {
          node: pair.key
        })
      )
      return undefined
    }
    this.seen?.set(key, pair)
    return key
  }

  private firstBefore(i: number, key: string): Pair | undefined {
    for (let j = 0; j < i; j++) {
      const pair = this.node.items[j]!
      if (stringKey(pair, this.walk) === key) return pair
    }
    return undefined
  }
}

const expectMap = (node: Node | null, path: Path, walk: Walk, what: string): YAMLMap | null | Invalid => {
  if (node === null) return null
  if (isMap(node)) return node
  return walk.fail(path, `expected ${what}`, node)
}

/** A field of a `struct`: its YAML key and the decoder of its value. */
export interface Field<A> {
  readonly key: string
  readonly decode: Decoder<A>
}

export const field = <A>(key: string, decode: Decoder<A>): Field<A> => ({ key, decode })

type Fields = Record<string, Field<any>>

/** Every field is optional at this stage: an absent or empty one is `undefined`. */
export type StructOf<F extends Fields> = {
  readonly [K in keyof F]: F[K] extends Field<infer A> ? A | undefined : never
}

/** Levenshtein distance, to suggest the key an operator probably meant. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

const unknownKeyRule = (key: string, known: ReadonlyArray<string>): string => {
  const near = known
    .map((k) => ({ k, d: distance(key.toLowerCase(), k) }))
    .filter(({ k, d }) => d <= Math.max(1, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)[0]
  if (near !== undefined) return `unknown key (did you mean ${JSON.stringify(near.k)}?)`
  return known.length === 0 ? "unknown key" : `unknown key (expected one of: ${known.join(", ")})`
}

/**
 * A mapping with a fixed set of keys. Unknown keys are errors (a typo must not
 * silently become a default); missing ones are left to the semantic stage.
 */
export const struct = <F extends Fields>(fields: F, what = "a mapping"): Decoder<StructOf<F>> => {
  // Built once per decoder, not once per mapping decoded (10,000 backends are 10,000 mappings).
  const byKey = new Map<string, string>(Object.entries(fields).map(([name, f]) => [f.key, name]))
  const names = Object.keys(fields)
  const known = [...byKey.keys()]
  return (node, path, walk) => {
    const map = expectMap(node, path, walk, what)
    if (map === Invalid) return Invalid
    const out: Record<string, unknown> = {}
    for (const name of names) out[name] = undefined
    if (map === null) return out as StructOf<F>
    path.map ??= map
    const pairs = new Pairs(map, path, walk)
    let ok = true
    while (pairs.next()) {
      const { key, pair } = pairs
      // A plain scalar's path is not kept (nor marked): Path.key finds it again in the mapping when asked for.
      const scalar = isScalar(pair.key) && isScalar(pair.value) ? pair.value : undefined
      const at = scalar !== undefined ? path.unkept(key) : path.key(key)
      const name = byKey.get(key)
      if (name === undefined) {
        walk.issues.push(walk.issue(at, unknownKeyRule(key, known), { node: pair.key }))
        ok = false
        continue
      }
      const value = scalar !== undefined ? walk.resolveScalar(scalar, at) : walk.resolve(pair.value, at)
      if (scalar === undefined) walk.mark(at, pair.key, value)
      if (value === Invalid) {
        ok = false
        continue
      }
      if (value === null) continue
      const decoded = fields[name]!.decode(value, at, walk)
      if (decoded === Invalid) ok = false
      else out[name] = decoded
    }
    return ok && pairs.ok ? (out as StructOf<F>) : Invalid
  }
}

/** One entry of a mapping keyed by names (`backends.web1`), in file order. */
export interface Entry<A> {
  readonly name: string
  readonly path: Path
  readonly value: A
}

/** A mapping from names the operator chooses to values; empty when absent. */
export const entries =
  <A>(value: Decoder<A>, what = "a mapping of names"): Decoder<ReadonlyArray<Entry<A>>> =>
  (node, path, walk) => {
    const map = expectMap(node, path, walk, what)
    if (map === Invalid) return Invalid
    if (map === null) return []
    const pairs = new Pairs(map, path, walk)
    let ok = true
    const out: Array<Entry<A>> = []
    while (pairs.next()) {
      const { key, pair } = pairs
      const at = path.key(key)
      const resolved = walk.resolve(pair.value, at)
      walk.mark(at, pair.key, resolved)
      const decoded = resolved === Invalid ? Invalid : value(resolved, at, walk)
      if (decoded === Invalid) ok = false
      else out.push({ name: key, path: at, value: decoded })
    }
    return ok && pairs.ok ? out : Invalid
  }

/** A sequence; empty when absent. */
export const list =
  <A>(item: Decoder<A>, what = "a list"): Decoder<ReadonlyArray<A>> =>
  (node, path, walk) => {
    if (node === null) return []
    if (!isSeq(node)) return walk.fail(path, `expected ${what}`, node)
    let ok = true
    const out: Array<A> = []
    node.items.forEach((raw, i) => {
      const at = path.index(i)
      const resolved = walk.resolve(raw, at)
      walk.mark(at, raw, resolved)
      const decoded = resolved === Invalid ? Invalid : item(resolved, at, walk)
      if (decoded === Invalid) ok = false
      else out.push(decoded)
    })
    return ok ? out : Invalid
  }
