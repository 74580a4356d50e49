/**
 * A fast reader for the plain YAML that configurations are written in, in
 * front of the `yaml` package: block mappings and sequences by indentation,
 * one-line flow mappings and sequences (`{address: 10.0.0.1, healthcheck:
 * http}`), plain and quoted one-line scalars, comments. It builds the same
 * nodes the package's `parseDocument` builds (`YAMLMap`, `YAMLSeq`, `Pair`,
 * `Scalar` with the same values, `source` and start offsets, scalars typed by
 * the same core-schema tags), so the walk cannot tell which one read a file.
 *
 * Anything else, or anything it is not sure of (anchors, aliases, tags,
 * block scalars, multi-line scalars, escapes beyond the common ones, tabs,
 * CR, directives, several documents, complex keys, odd indentation, deep
 * nesting, a syntax error), makes it give up at once: `read` (Raw.ts) then
 * parses the text with the package, which says exactly what is wrong. Its
 * equivalence to the package on every text it accepts is tested
 * (test/config/simple.test.ts).
 *
 * Why: the package reads ~1 MB/s cold (lexer, CST, composer, and the
 * garbage of all three); a 10,000-backend file took most of a second of
 * `maglevd --check` (issue 13). This reads it in a few tens of milliseconds.
 */
import { Document, isScalar, LineCounter, type Node, Pair, Scalar, Schema, YAMLMap, YAMLSeq } from "yaml"

/** The core schema's scalar tags, as the package's composer tries them on a plain scalar. */
interface ScalarTag {
  readonly default?: boolean | "key"
  readonly test?: RegExp
  readonly resolve: (value: string, onError: (message: string) => void, options: { readonly intAsBigInt: boolean }) => unknown
}

const schema = new Schema({})
const TAGS = (schema.tags as ReadonlyArray<ScalarTag & { readonly collection?: string }>).filter((t) => t.collection === undefined)
const RESOLVE_OPTIONS = { intAsBigInt: false }

class GiveUp {}
const GIVE_UP = new GiveUp()

const giveUp = (): never => {
  throw GIVE_UP
}

/** The first characters of every plain scalar the core schema's tags can take for null, a boolean or a number. */
const MAYBE_NOT_STRING = new Uint8Array(128)
for (const c of "-+.0123456789~nNtTfF") MAYBE_NOT_STRING[c.charCodeAt(0)] = 1

/** The core schema's decimal integer (`/^[-+]?[0-9]+$/`), which takes every text of digits (undefined: every tag is tried). */
const INT = TAGS.find((t) => t.default === true && t.test?.source === "^[-+]?[0-9]+$")

const DOT = 46

/**
 * Whether a text is digits only (`DIGITS`: a port, a weight), or digits and
 * more than one dot (`DOTTED`: an IPv4 address, which no core tag takes, a
 * float having one dot at most); `OTHER` otherwise.
 */
const DIGITS = 1
const DOTTED = 2
const OTHER = 0
const digitsShape = (text: string): number => {
  let dots = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === DOT) dots++
    else if (c < 48 || c > 57) return OTHER
  }
  return dots === 0 ? DIGITS : dots > 1 ? DOTTED : OTHER
}

/** The value `tag` gives `text`; a text it cannot resolve is the package's. */
const resolve = (tag: ScalarTag, text: string): unknown => {
  let failed = false
  const value = tag.resolve(text, () => (failed = true), RESOLVE_OPTIONS)
  if (failed) giveUp()
  // null, booleans and floats resolve to a Scalar of their value, as the composer takes it.
  return isScalar(value) ? value.value : value
}

/** A plain scalar as the package types it (null, boolean, integer, float or string). */
const plainValue = (text: string): unknown => {
  // Names (`web1`, `http`) cannot be null, a boolean or a number: only those start otherwise than the core schema's tests.
  const first = text.charCodeAt(0)
  if (text !== "" && !(first < 128 && MAYBE_NOT_STRING[first] === 1)) return text
  // The commonest others without trying every tag in turn.
  const shape = text === "" ? OTHER : digitsShape(text)
  if (shape === DOTTED) return text
  if (shape === DIGITS && INT !== undefined) return resolve(INT, text)
  for (const tag of TAGS) {
    if (tag.default === true && tag.test !== undefined && tag.test.test(text)) return resolve(tag, text)
  }
  return text
}

/*
 * The nodes: the package's own prototypes (so `isScalar`, `instanceof Scalar`
 * and its methods hold), with the node type on a prototype between. The
 * package's constructors define that type (and a collection's schema) with
 * `Object.defineProperty` on every node, which at ~100,000 nodes cost more
 * than all the reading here.
 */
const NODE_TYPE = Symbol.for("yaml.node.type")

const between = (proto: object, type: string): object =>
  Object.create(proto, { [NODE_TYPE]: { value: Symbol.for(type) } }) as object

/*
 * A node keeps where it starts (and a collection where it ends) as numbers;
 * `range`, the package's array, is made when asked for (an issue's
 * position): an array per node was a third of what a 10,000-backend file's
 * tree kept alive. A scalar keeps no more than it must (most are a plain
 * string: its value, which is its source, and its start); its type is its
 * class's.
 */
abstract class LightScalar {
  declare readonly type: Scalar.Type
  abstract readonly source: string
  abstract readonly end: number
  constructor(readonly value: unknown, readonly start: number) {}

  get range(): [number, number, number] {
    return [this.start, this.end, this.end]
  }
}
Object.setPrototypeOf(LightScalar.prototype, between(Scalar.prototype, "yaml.scalar"))

const ofType = <C extends abstract new(...args: Array<any>) => LightScalar>(type: Scalar.Type, c: C): C => {
  Object.defineProperty(c.prototype, "type", { value: type })
  return c
}

/** A plain scalar the core schema takes for a string: `web1`, `10.0.0.1`. */
const PlainString = ofType("PLAIN", class PlainString extends LightScalar {
  declare readonly value: string
  get source(): string {
    return this.value
  }
  get end(): number {
    return this.start + this.value.length
  }
})

/** A plain scalar the core schema takes for null, a boolean or a number: `~`, `true`, `8080`. */
const PlainOther = ofType("PLAIN", class PlainOther extends LightScalar {
  constructor(value: unknown, readonly source: string, start: number) {
    super(value, start)
  }
  get end(): number {
    return this.start + this.source.length
  }
})

/** A quoted scalar: its source (as the package's composer gives it) is its value. */
abstract class Quoted extends LightScalar {
  constructor(value: string, start: number, readonly end: number) {
    super(value, start)
  }
  get source(): string {
    return this.value as string
  }
}
const DoubleQuoted = ofType("QUOTE_DOUBLE", class DoubleQuoted extends Quoted {})
const SingleQuoted = ofType("QUOTE_SINGLE", class SingleQuoted extends Quoted {})

/** A collection's items come in an array of their number (the reader's stack sliced), not one grown by pushes (17 slots for 1 item). */
class LightMap {
  constructor(readonly flow: boolean, readonly items: Array<Pair>, readonly start: number, readonly end: number) {}

  get range(): [number, number, number] {
    return [this.start, this.end, this.end]
  }
}
Object.setPrototypeOf(LightMap.prototype, between(YAMLMap.prototype, "yaml.map"))

class LightSeq {
  constructor(readonly flow: boolean, readonly items: Array<Node>, readonly start: number, readonly end: number) {}

  get range(): [number, number, number] {
    return [this.start, this.end, this.end]
  }
}
Object.setPrototypeOf(LightSeq.prototype, between(YAMLSeq.prototype, "yaml.seq"))

class LightPair {
  constructor(readonly key: Node, readonly value: Node | null) {}
}
Object.setPrototypeOf(LightPair.prototype, between(Pair.prototype, "yaml.pair"))

/** Where a node starts in the text (what `node.range[0]` says), without making its `range`; undefined when it has none. */
export const startOf = (node: Node): number | undefined =>
  node instanceof LightScalar || node instanceof LightMap || node instanceof LightSeq ? node.start : node.range?.[0]

/** A plain scalar of `source` (the text at `start`), typed as the core schema types it. */
const plain = (source: string, start: number): Scalar => {
  const value = plainValue(source)
  return (value === source ? new PlainString(source, start) : new PlainOther(value, source, start)) as unknown as Scalar
}
const pair = (key: Node, value: Node | null): Pair => new LightPair(key, value) as unknown as Pair

const SPACE = 32
const HASH = 35
const COLON = 58
const DASH = 45

/** Characters a plain scalar may not start with (YAML's indicators, and the quotes it reads itself). */
const INDICATOR = new Uint8Array(128)
for (const c of "-?:,[]{}#&*!|>'\"%@`") INDICATOR[c.charCodeAt(0)] = 1
const isIndicator = (c: number): boolean => c < 128 && INDICATOR[c] === 1

/** Plain scalars' texts remembered (`Reader.plainText`), a power of two. */
const RECENT = 4096

/** Deeper than this (blocks and flows), the package reads it (and bounds it). */
const MAX_DEPTH = 32

/**
 * The lines that say something (not blank, not only a comment), three
 * numbers each in one array rather than an object each: the offset of the
 * line's first character, of its first non-space character, and of its end
 * (its `\n`, or the text's end).
 */
class Lines {
  private readonly data: Int32Array
  count = 0

  /** `capacity`: the lines of the text, which are at least as many. */
  constructor(capacity: number) {
    this.data = new Int32Array(3 * capacity)
  }

  push(start: number, content: number, end: number): void {
    const at = 3 * this.count++
    this.data[at] = start
    this.data[at + 1] = content
    this.data[at + 2] = end
  }

  start(i: number): number {
    return this.data[3 * i]!
  }

  content(i: number): number {
    return this.data[3 * i + 1]!
  }

  end(i: number): number {
    return this.data[3 * i + 2]!
  }
}

class Reader {
  /** The current line. */
  private i = 0
  /** Where the last scalar or flow collection read ends (what `key`, `quoted`, `flow` and `flowScalar` read up to). */
  private after = 0
  /** The items of the collections being read, innermost last; a collection takes its own off the top when it ends. */
  private readonly stack: Array<Pair | Node> = []
  private readonly recent = new Array<string | undefined>(RECENT).fill(undefined)
  nodes = 0

  constructor(private readonly text: string, private readonly lines: Lines) {}

  private get more(): boolean {
    return this.i < this.lines.count
  }

  private indent(i: number): number {
    return this.lines.content(i) - this.lines.start(i)
  }

  document(): Node | null {
    if (!this.more) return null
    if (this.indent(0) !== 0) giveUp()
    const node = this.block(0, 0)
    if (this.more) giveUp()
    return node
  }

  /** A block mapping or sequence whose first line is the current one, at `indent`. */
  private block(indent: number, depth: number): Node {
    if (depth > MAX_DEPTH) giveUp()
    const content = this.lines.content(this.i)
    return this.isSeqItem(content) ? this.seq(indent, depth) : this.map(indent, content, depth)
  }

  private isSeqItem(at: number): boolean {
    const c = this.text.charCodeAt(at + 1)
    return this.text.charCodeAt(at) === DASH && (c === SPACE || at + 1 === this.lineEnd())
  }

  private lineEnd(): number {
    return this.lines.end(this.i)
  }

  /** A block mapping at `indent`; its first key at `from` on the current line (after `- ` for a sequence's item). */
  private map(indent: number, from: number, depth: number): Node {
    const base = this.stack.length
    let at = from
    for (;;) {
      const key = this.key(at)
      const end = this.lineEnd()
      const rest = this.skipSpaces(this.after, end)
      let value: Node | null
      if (rest === end || this.text.charCodeAt(rest) === HASH) {
        this.i++
        if (this.more && this.indent(this.i) > indent) value = this.block(this.indent(this.i), depth + 1)
        else if (this.more && this.indent(this.i) === indent && this.isSeqItem(this.lines.content(this.i))) value = this.seq(indent, depth + 1)
        else value = null
      } else {
        value = this.inline(rest, end, depth)
        this.i++
      }
      this.stack.push(pair(key, value))
      if (!this.more || this.indent(this.i) < indent) break
      if (this.indent(this.i) > indent || this.isSeqItem(this.lines.content(this.i))) giveUp()
      at = this.lines.content(this.i)
    }
    return new LightMap(false, this.items(base) as Array<Pair>, from, this.lastEnd()) as unknown as Node
  }

  /** The items pushed since `base`, off the stack. */
  private items(base: number): Array<Pair | Node> {
    const items = this.stack.slice(base)
    this.stack.length = base
    return items
  }

  /** A block sequence at `indent`, from the current line. */
  private seq(indent: number, depth: number): Node {
    const base = this.stack.length
    const from = this.lines.content(this.i)
    for (;;) {
      const line = this.i
      this.nodes++
      const end = this.lines.end(line)
      const at = this.skipSpaces(this.lines.content(line) + 1, end)
      if (at === end || this.text.charCodeAt(at) === HASH) {
        this.i++
        // An empty item (`-` alone) is the package's: it gives it a position of its own.
        if (!this.more || this.indent(this.i) <= indent) giveUp()
        this.stack.push(this.block(this.indent(this.i), depth + 1))
      } else if (this.isSeqItem(at)) {
        giveUp()
      } else if (this.startsPair(at, end)) {
        // `- name: primary`: a mapping whose keys line up under the first.
        this.stack.push(this.map(at - this.lines.start(line), at, depth + 1))
      } else {
        this.stack.push(this.inline(at, end, depth))
        this.i++
      }
      // A line at this indentation that is no item ends a sequence under a key at the same indentation (`key:` then `- a`).
      if (!this.more || this.indent(this.i) < indent || !this.isSeqItem(this.lines.content(this.i))) break
      if (this.indent(this.i) > indent) giveUp()
    }
    return new LightSeq(false, this.items(base) as Array<Node>, from, this.lastEnd()) as unknown as Node
  }

  /**
   * The text of a plain scalar, the same string as the last one of its
   * length and first and last characters when it is equal: a file says its
   * keys and names again and again (`address`, `healthcheck`, `hc0`), and one
   * string serves them all (10,000 backends kept 30,000 copies).
   */
  private plainText(at: number, end: number): string {
    const length = end - at
    if (length === 0 || length > 32) return this.text.slice(at, end)
    const slot = ((length << 10) ^ (this.text.charCodeAt(at) << 5) ^ this.text.charCodeAt(end - 1)) & (RECENT - 1)
    const seen = this.recent[slot]
    if (seen !== undefined && seen.length === length && this.text.startsWith(seen, at)) return seen
    const text = this.text.slice(at, end)
    this.recent[slot] = text
    return text
  }

  private lastEnd(): number {
    return this.i > 0 ? this.lines.end(this.i - 1) : 0
  }

  private skipSpaces(at: number, end: number): number {
    while (at < end && this.text.charCodeAt(at) === SPACE) at++
    return at
  }

  /** Whether the line from `at` is `key:` or `key: ...` (a plain or quoted key). */
  private startsPair(at: number, end: number): boolean {
    const c = this.text.charCodeAt(at)
    if (c === 34 || c === 39) {
      const close = this.text.indexOf(String.fromCharCode(c), at + 1)
      return close > 0 && close < end && this.text.charCodeAt(close + 1) === COLON
    }
    for (let k = at; k < end; k++) {
      const ch = this.text.charCodeAt(k)
      if (ch === COLON && (k + 1 === end || this.text.charCodeAt(k + 1) === SPACE)) return true
      if (ch === HASH && this.text.charCodeAt(k - 1) === SPACE) return false
    }
    return false
  }

  /** A block mapping's key at `at`; `after` is then the offset after its `:`. */
  private key(at: number): Scalar {
    const end = this.lineEnd()
    const c = this.text.charCodeAt(at)
    let key: Scalar
    if (c === 34 || c === 39) {
      key = this.quoted(at, end)
    } else {
      if (isIndicator(c)) giveUp()
      let k = at
      while (k < end && !(this.text.charCodeAt(k) === COLON && (k + 1 === end || this.text.charCodeAt(k + 1) === SPACE))) {
        if (this.text.charCodeAt(k) === HASH && this.text.charCodeAt(k - 1) === SPACE) giveUp()
        k++
      }
      if (k === end) giveUp()
      let e = k
      while (e > at && this.text.charCodeAt(e - 1) === SPACE) e--
      const source = this.plainText(at, e)
      this.nodes++
      key = plain(source, at)
      this.after = k
    }
    if (this.text.charCodeAt(this.after) !== COLON) giveUp()
    this.after++
    if (this.after < end && this.text.charCodeAt(this.after) !== SPACE) giveUp()
    return key
  }

  /** A value on the rest of a line (from `at`, not a comment): a flow collection or a scalar, then only a comment. */
  private inline(at: number, end: number, depth: number): Node {
    const c = this.text.charCodeAt(at)
    let node: Node
    if (c === 123 || c === 91) {
      node = this.flow(at, end, depth + 1)
    } else if (c === 34 || c === 39) {
      node = this.quoted(at, end)
    } else {
      if (isIndicator(c)) giveUp()
      let k = at
      let last = at
      while (k < end) {
        const ch = this.text.charCodeAt(k)
        if (ch === HASH && this.text.charCodeAt(k - 1) === SPACE) break
        // `a: b: c` is an error, `a: b:` too: the package says so.
        if (ch === COLON && (k + 1 === end || this.text.charCodeAt(k + 1) === SPACE)) giveUp()
        if (ch !== SPACE) last = k + 1
        k++
      }
      const source = this.plainText(at, last)
      this.nodes++
      return plain(source, at)
    }
    const rest = this.skipSpaces(this.after, end)
    if (rest < end && !(this.text.charCodeAt(rest) === HASH && rest > this.after)) giveUp()
    return node
  }

  /** A quoted scalar on one line, with the escapes configurations use; `after` is then the offset after its closing quote. */
  private quoted(at: number, end: number): Scalar {
    const q = this.text.charCodeAt(at)
    let value = ""
    let k = at + 1
    let from = k
    for (;;) {
      if (k >= end) giveUp()
      const ch = this.text.charCodeAt(k)
      if (q === 39 && ch === 39) {
        if (this.text.charCodeAt(k + 1) !== 39) break
        value += this.text.slice(from, k + 1)
        k += 2
        from = k
        continue
      }
      if (q === 34 && ch === 34) break
      if (q === 34 && ch === 92) {
        const e = this.text.charCodeAt(k + 1)
        const out = e === 92 ? "\\" : e === 34 ? "\"" : e === 47 ? "/" : e === 110 ? "\n" : e === 116 ? "\t" : undefined
        if (out === undefined) giveUp()
        value += this.text.slice(from, k) + out
        k += 2
        from = k
        continue
      }
      k++
    }
    value += this.text.slice(from, k)
    this.nodes++
    this.after = k + 1
    return new (q === 34 ? DoubleQuoted : SingleQuoted)(value, at, this.after) as unknown as Scalar
  }

  /** A flow mapping or sequence that closes on this line; `after` is then the offset after it. */
  private flow(at: number, end: number, depth: number): Node {
    if (depth > MAX_DEPTH) giveUp()
    const isMap = this.text.charCodeAt(at) === 123
    const close = isMap ? 125 : 93
    const base = this.stack.length
    this.nodes++
    let k = this.skipSpaces(at + 1, end)
    while (this.text.charCodeAt(k) !== close) {
      if (k >= end) giveUp()
      if (isMap) {
        const key = this.flowScalar(k, end, true)
        k = this.after
        let value: Node | null = null
        const ch = this.text.charCodeAt(k)
        // `{ b1, b2 }` and `{ b1: , b2: }`: keys without values.
        if (ch !== 44 && ch !== close) {
          if (ch !== COLON || this.text.charCodeAt(k + 1) !== SPACE) giveUp()
          k = this.skipSpaces(k + 1, end)
          const next = this.text.charCodeAt(k)
          if (next !== 44 && next !== close) {
            value = this.flowValue(k, end, depth)
            k = this.after
          }
        }
        this.stack.push(pair(key, value))
      } else {
        this.stack.push(this.flowValue(k, end, depth))
        k = this.after
      }
      k = this.skipSpaces(k, end)
      const ch = this.text.charCodeAt(k)
      if (ch === 44) k = this.skipSpaces(k + 1, end)
      else if (ch !== close) giveUp()
    }
    this.after = k + 1
    const items = this.items(base)
    return (isMap ? new LightMap(true, items as Array<Pair>, at, k + 1) : new LightSeq(true, items as Array<Node>, at, k + 1)) as unknown as Node
  }

  private flowValue(at: number, end: number, depth: number): Node {
    const c = this.text.charCodeAt(at)
    if (c === 123 || c === 91) return this.flow(at, end, depth + 1)
    return this.flowScalar(at, end, false)
  }

  /** A scalar in a flow collection: quoted, or plain up to `,`, `]`, `}` (or a key's `: `); `after` is then where it stops. */
  private flowScalar(at: number, end: number, isKey: boolean): Scalar {
    const c = this.text.charCodeAt(at)
    if (c === 34 || c === 39) {
      const node = this.quoted(at, end)
      this.after = this.skipSpaces(this.after, end)
      return node
    }
    if (isIndicator(c) || at >= end) giveUp()
    let k = at
    let last = at
    while (k < end) {
      const ch = this.text.charCodeAt(k)
      // Where a flow scalar stops (`,`, `]`, `}`), or what it cannot hold (`{`, `[`, `#`).
      if (ch === 44 || ch === 93 || ch === 125) break
      if (ch === 123 || ch === 91 || ch === HASH) giveUp()
      if (ch === COLON) {
        const next = this.text.charCodeAt(k + 1)
        if (next === SPACE && isKey) break
        giveUp()
      }
      if (ch !== SPACE) last = k + 1
      k++
    }
    const source = this.plainText(at, last)
    this.nodes++
    this.after = k
    return plain(source, at)
  }
}

/**
 * The text's line counter, whose line starts are found when a position is
 * first asked for (an issue's): the check of a valid file without warnings
 * asks for none.
 */
const lazyLineCounter = (text: string): LineCounter => {
  const counter = new LineCounter()
  const linePos = counter.linePos
  counter.linePos = (offset) => {
    if (counter.lineStarts.length === 0) {
      counter.addNewLine(0)
      for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) counter.addNewLine(at + 1)
    }
    return linePos(offset)
  }
  return counter
}

/** What `read` (Raw.ts) takes from a parse: the document, its line counter, the nodes counted. */
export interface SimpleDocument {
  readonly doc: Document.Parsed
  readonly lineCounter: LineCounter
  readonly nodes: number
}

/**
 * The document of `text` when it is written in the plain YAML this reads (and
 * has at most `maxNodes` nodes); undefined when it is not, for the package to
 * read.
 */
export const readSimple = (text: string, maxNodes: number): SimpleDocument | undefined => {
  // Tabs, CR, a byte-order mark, NUL and other controls: the package's business.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\u007f\ufeff]/.test(text)) return undefined
  let newlines = 0
  for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) newlines++
  const lines = new Lines(newlines + 1)
  let start = 0
  for (;;) {
    let end = text.indexOf("\n", start)
    if (end < 0) end = text.length
    let content = start
    while (content < end && text.charCodeAt(content) === SPACE) content++
    const c = text.charCodeAt(content)
    if (content < end && c !== HASH) {
      // Directives and document markers: the package's.
      if (content === start && (c === 37 || text.startsWith("---", start) || text.startsWith("...", start))) return undefined
      lines.push(start, content, end)
    }
    if (end === text.length) break
    start = end + 1
  }
  const reader = new Reader(text, lines)
  try {
    const contents = reader.document()
    if (reader.nodes > maxNodes) return undefined
    // The document the package would return, without errors or warnings (any would have made this give up).
    const doc = new Document() as unknown as Document.Parsed
    doc.contents = contents as Document.Parsed["contents"]
    return { doc, lineCounter: lazyLineCounter(text), nodes: reader.nodes }
  } catch (e) {
    if (e === GIVE_UP) return undefined
    throw e
  }
}
