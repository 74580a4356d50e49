/**
 * maglevc's command tree: fixed keywords and dynamic slots, walked word by
 * word. The same walk parses a command, completes the word under the cursor
 * and lists what may come next (`?`).
 *
 * Matching a word at one position, in this order:
 * 1. a keyword spelled exactly;
 * 2. a slot that accepts the word as it is (a live name, a number in range);
 * 3. keywords the word is a prefix of: one is taken, and of several, the
 *    shortest when it is a prefix of all the others (`ba` is `backend`, not
 *    `backends`: an exact match wins over a longer candidate); otherwise the
 *    word is ambiguous;
 * 4. otherwise the word is unknown (or a slot refuses it, saying why).
 *
 * Optional parts in any order (`watch events [num <n>] [log] [backend]`) are
 * `options`: after the keyword that owns them, each option subtree may come
 * once, in any order, and the walk returns to the remaining ones whenever an
 * option's subtree may end.
 *
 * The tree is generic in what a command does (`A`); slots that list live
 * names do it with an Effect, so the walk is an Effect too.
 */
import { Effect } from "effect"

/** What the walk has bound so far: slot values by key, and the flags of keywords met. */
export interface Bound {
  readonly values: Readonly<Record<string, string>>
  readonly flags: ReadonlySet<string>
}

export interface Keyword<A, E, R> {
  readonly _tag: "Keyword"
  readonly word: string
  readonly help: string
  /** What may follow. */
  readonly next: ReadonlyArray<Node<A, E, R>>
  /** Optional parts after this keyword, in any order, each once. */
  readonly options?: ReadonlyArray<Node<A, E, R>>
  /** The command, when the line may end after this keyword (or after its options). */
  readonly run?: A
  /** In an option subtree: the option may end here. */
  readonly end?: boolean
  /** Recorded in `Bound.flags` when the keyword is met. */
  readonly flag?: string
  /** Recorded in `Bound.values` when the keyword is met: a choice among keywords (`level debug`). */
  readonly set?: readonly [key: string, value: string]
}

export interface Slot<A, E, R> {
  readonly _tag: "Slot"
  /** How help shows it: `<name>`, `<0-100>`. */
  readonly label: string
  /** Where `Bound.values` keeps the word. */
  readonly key: string
  readonly help: string
  /** The values it takes, when it has a list (live names); completion offers them. */
  readonly values?: (bound: Bound) => Effect.Effect<ReadonlyArray<string>, E, R>
  /** Checks a word against the slot: undefined when fine, else why not. Without it, `values` decides. */
  readonly check?: (word: string) => string | undefined
  /** What a value is called in errors: `backend "x" is not defined`. */
  readonly noun?: string
  readonly next: ReadonlyArray<Node<A, E, R>>
  readonly run?: A
  readonly end?: boolean
}

export type Node<A, E = never, R = never> = Keyword<A, E, R> | Slot<A, E, R>

// --- Building -------------------------------------------------------------------------

type Rest<A, E, R> = Omit<Keyword<A, E, R>, "_tag" | "word" | "help" | "next"> & { readonly next?: ReadonlyArray<Node<A, E, R>> }

export const keyword = <A, E = never, R = never>(word: string, help: string, rest: Rest<A, E, R> = {}): Keyword<A, E, R> => ({
  _tag: "Keyword",
  word,
  help,
  next: rest.next ?? [],
  ...rest
})

export const slot = <A, E = never, R = never>(
  label: string,
  key: string,
  help: string,
  rest: Omit<Slot<A, E, R>, "_tag" | "label" | "key" | "help" | "next"> & { readonly next?: ReadonlyArray<Node<A, E, R>> }
): Slot<A, E, R> => ({ _tag: "Slot", label, key, help, next: rest.next ?? [], ...rest })

/** A slot for a whole number in [min, max]. */
export const intSlot = <A, E = never, R = never>(
  label: string,
  key: string,
  help: string,
  min: number,
  max: number,
  rest: Omit<Slot<A, E, R>, "_tag" | "label" | "key" | "help" | "next" | "check"> & { readonly next?: ReadonlyArray<Node<A, E, R>> } = {}
): Slot<A, E, R> =>
  slot(label, key, help, {
    ...rest,
    check: (word) => {
      if (!/^\d+$/.test(word)) return `expected a whole number from ${min} to ${max}`
      const n = Number(word)
      return n < min || n > max ? `expected a whole number from ${min} to ${max}` : undefined
    }
  })

// --- Splitting a line -------------------------------------------------------------------

export interface Word {
  readonly text: string
  /** Offset of the word's first character in the line. */
  readonly start: number
}

/** The words of a line, split on whitespace, with where each starts. */
export const words = (line: string): Array<Word> => [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], start: m.index }))

// --- The walk ---------------------------------------------------------------------------

/** Where the walk stands between two words. */
interface State<A, E, R> {
  /** What may come next. */
  readonly candidates: ReadonlyArray<Node<A, E, R>>
  /** The line may end here, running this. */
  readonly run: A | undefined
  readonly bound: Bound
  /** The canonical words so far (`show backend web1` for `sh ba web1`). */
  readonly path: ReadonlyArray<string>
}

export type WalkError<E> =
  /** A word no candidate takes. `expected` names what would have been taken. */
  | { readonly _tag: "Unknown"; readonly index: number; readonly word: string; readonly expected: ReadonlyArray<string> }
  | { readonly _tag: "Ambiguous"; readonly index: number; readonly word: string; readonly candidates: ReadonlyArray<string> }
  /** A slot refused the word. */
  | { readonly _tag: "Invalid"; readonly index: number; readonly word: string; readonly slot: string; readonly reason: string }
  /** The line ended where more is needed. */
  | { readonly _tag: "Incomplete"; readonly index: number; readonly expected: ReadonlyArray<string> }
  /** A slot's live values could not be had (the server is down, ...). */
  | { readonly _tag: "Lookup"; readonly index: number; readonly error: E }

export interface Parsed<A> {
  readonly run: A
  readonly bound: Bound
  readonly path: ReadonlyArray<string>
}

/** A node as help and errors name it. */
export const nodeLabel = <A, E, R>(n: Node<A, E, R>): string => n._tag === "Keyword" ? n.word : n.label

/** Options of a frame still to come, and whether we are inside one. */
interface Frame<A, E, R> {
  /** The command the options belong to. */
  readonly run: A | undefined
  readonly remaining: ReadonlyArray<Node<A, E, R>>
}

interface Position<A, E, R> {
  readonly state: State<A, E, R>
  readonly frame: Frame<A, E, R> | undefined
}

const start = <A, E, R>(roots: ReadonlyArray<Node<A, E, R>>): Position<A, E, R> => ({
  state: { candidates: roots, run: undefined, bound: { values: {}, flags: new Set() }, path: [] },
  frame: undefined
})

/** The position after `node` took `word`: entering an option uses it up; the end of an option's subtree returns to the options left. */
const after = <A, E, R>(pos: Position<A, E, R>, node: Node<A, E, R>, word: string, bound: Bound): Position<A, E, R> => {
  const path = [...pos.state.path, word]
  let frame = pos.frame
  // Entering an option at the top of the frame uses it up.
  if (frame !== undefined && frame.remaining.includes(node)) {
    frame = { run: frame.run, remaining: frame.remaining.filter((o) => o !== node) }
  }
  if (node._tag === "Keyword" && node.options !== undefined) {
    // A keyword owning options: they follow, with the keyword's own `next`.
    const f: Frame<A, E, R> = { run: node.run, remaining: node.options }
    return {
      state: { candidates: [...node.next, ...f.remaining], run: node.run, bound, path },
      frame: f
    }
  }
  if (frame !== undefined) {
    const ends = node.end === true || node.next.length === 0
    return {
      state: {
        candidates: ends ? [...node.next, ...frame.remaining] : node.next,
        run: ends ? frame.run : undefined,
        bound,
        path
      },
      frame
    }
  }
  return { state: { candidates: node.next, run: node.run, bound, path }, frame }
}

const bind = (bound: Bound, node: Node<unknown, unknown, unknown>, word: string): Bound => {
  if (node._tag === "Slot") return { values: { ...bound.values, [node.key]: word }, flags: bound.flags }
  const values = node.set === undefined ? bound.values : { ...bound.values, [node.set[0]]: node.set[1] }
  const flags = node.flag === undefined ? bound.flags : new Set([...bound.flags, node.flag])
  return { values, flags }
}

/** The shortest of several keywords, when it is a prefix of every other one. */
const shortestPrefixOfAll = <A, E, R>(ks: ReadonlyArray<Keyword<A, E, R>>): Keyword<A, E, R> | undefined => {
  const shortest = ks.reduce((a, b) => (b.word.length < a.word.length ? b : a))
  return ks.every((k) => k.word.startsWith(shortest.word)) ? shortest : undefined
}

type Step<A, E, R> =
  | { readonly _tag: "Matched"; readonly node: Node<A, E, R>; readonly word: string }
  | { readonly _tag: "Failed"; readonly error: WalkError<E> }

/** Takes one word at one position. */
const step = <A, E, R>(state: State<A, E, R>, word: string, index: number): Effect.Effect<Step<A, E, R>, never, R> =>
  Effect.gen(function*() {
    const keywords = state.candidates.filter((n): n is Keyword<A, E, R> => n._tag === "Keyword")
    const slots = state.candidates.filter((n): n is Slot<A, E, R> => n._tag === "Slot")
    const exact = keywords.find((k) => k.word === word)
    if (exact !== undefined) return { _tag: "Matched", node: exact, word: exact.word } as const
    const prefixed = keywords.filter((k) => k.word.startsWith(word))
    let refusal: WalkError<E> | undefined
    for (const s of slots) {
      const verdict = yield* checkSlot(s, state.bound, word, index)
      if (verdict === undefined) return { _tag: "Matched", node: s, word } as const
      // Without the live names, a keyword the word abbreviates still counts.
      if (verdict._tag === "Lookup" && prefixed.length === 0) return { _tag: "Failed", error: verdict } as const
      refusal ??= verdict
    }
    if (prefixed.length > 0) {
      const chosen = prefixed.length === 1 ? prefixed[0] : shortestPrefixOfAll(prefixed)
      if (chosen !== undefined) return { _tag: "Matched", node: chosen, word: chosen.word } as const
      return { _tag: "Failed", error: { _tag: "Ambiguous", index, word, candidates: prefixed.map((k) => k.word) } } as const
    }
    if (refusal !== undefined) return { _tag: "Failed", error: refusal } as const
    return {
      _tag: "Failed",
      error: { _tag: "Unknown", index, word, expected: state.candidates.map(nodeLabel) }
    } as const
  })

/** Undefined when the slot takes the word; else why not. */
const checkSlot = <A, E, R>(
  s: Slot<A, E, R>,
  bound: Bound,
  word: string,
  index: number
): Effect.Effect<WalkError<E> | undefined, never, R> => {
  if (s.check !== undefined) {
    const reason = s.check(word)
    return Effect.succeed(reason === undefined ? undefined : { _tag: "Invalid", index, word, slot: s.label, reason })
  }
  if (s.values === undefined) return Effect.succeed(undefined)
  return s.values(bound).pipe(
    Effect.map((values): WalkError<E> | undefined => {
      if (values.includes(word)) return undefined
      const like = values.filter((v) => v.startsWith(word))
      const noun = s.noun ?? s.key
      const reason = like.length > 0
        ? `no ${noun} is called "${word}"; did you mean ${like.slice(0, 8).join(", ")}${like.length > 8 ? ", ..." : ""}?`
        : values.length === 0
        ? `no ${noun} is called "${word}" (there are none)`
        : `no ${noun} is called "${word}"`
      return { _tag: "Invalid", index, word, slot: s.label, reason }
    }),
    Effect.catchAll((error) => Effect.succeed<WalkError<E>>({ _tag: "Lookup", index, error }))
  )
}

/** Walks whole words from the root; the position after the last, or why a word was not taken. */
const walkWords = <A, E, R>(
  roots: ReadonlyArray<Node<A, E, R>>,
  ws: ReadonlyArray<string>
): Effect.Effect<{ readonly _tag: "At"; readonly pos: Position<A, E, R> } | { readonly _tag: "Failed"; readonly error: WalkError<E> }, never, R> =>
  Effect.gen(function*() {
    let pos = start(roots)
    for (let i = 0; i < ws.length; i++) {
      const s = yield* step(pos.state, ws[i]!, i)
      if (s._tag === "Failed") return s
      pos = after(pos, s.node, s.word, bind(pos.state.bound, s.node as Node<unknown, unknown, unknown>, s.word))
    }
    return { _tag: "At", pos } as const
  })

/** Parses a whole command line. */
export const parse = <A, E, R>(
  roots: ReadonlyArray<Node<A, E, R>>,
  line: string | ReadonlyArray<string>
): Effect.Effect<Parsed<A>, WalkError<E>, R> =>
  Effect.flatMap(walkWords(roots, typeof line === "string" ? words(line).map((w) => w.text) : line), (r) => {
    if (r._tag === "Failed") return Effect.fail(r.error)
    const { state } = r.pos
    if (state.run === undefined) {
      return Effect.fail<WalkError<E>>({
        _tag: "Incomplete",
        index: state.path.length,
        expected: state.candidates.map(nodeLabel)
      })
    }
    return Effect.succeed({ run: state.run, bound: state.bound, path: state.path })
  })

// --- Help and completion ----------------------------------------------------------------------

export interface HelpEntry {
  /** The keyword, or the slot's label. */
  readonly label: string
  readonly help: string
}

export interface Choices<E> {
  /** The words before the one under the cursor. */
  readonly before: ReadonlyArray<string>
  /** The (partial) word under the cursor: "" after a space. */
  readonly partial: string
  /** What may come at the cursor's position, matching `partial`, with help. */
  readonly entries: ReadonlyArray<HelpEntry>
  /** The full words completion may put in place of `partial`: keywords and live values. */
  readonly completions: ReadonlyArray<string>
  /** The line as it stands (before the cursor's word) may end here. */
  readonly canEnd: boolean
  /** Why the words before the cursor do not walk (then nothing is offered). */
  readonly error?: WalkError<E>
}

/**
 * What may come at the end of `line` (the cursor): for `?` and Tab. The word
 * being typed, if any, filters the choices by prefix.
 */
export const choices = <A, E, R>(roots: ReadonlyArray<Node<A, E, R>>, line: string): Effect.Effect<Choices<E>, never, R> =>
  Effect.gen(function*() {
    const ws = words(line).map((w) => w.text)
    const partial = /\s$/.test(line) || ws.length === 0 ? "" : ws[ws.length - 1]!
    const before = partial === "" ? ws : ws.slice(0, -1)
    const r = yield* walkWords(roots, before)
    if (r._tag === "Failed") return { before, partial, entries: [], completions: [], canEnd: false, error: r.error }
    const { state } = r.pos
    const entries: Array<HelpEntry> = []
    const completions: Array<string> = []
    for (const n of state.candidates) {
      if (n._tag === "Keyword") {
        if (!n.word.startsWith(partial)) continue
        entries.push({ label: n.word, help: n.help })
        completions.push(n.word)
        continue
      }
      entries.push({ label: n.label, help: n.help })
      if (n.values !== undefined) {
        const values = yield* Effect.orElseSucceed(n.values(state.bound), (): ReadonlyArray<string> => [])
        completions.push(...values.filter((v) => v.startsWith(partial)))
      }
    }
    return { before, partial, entries, completions: [...new Set(completions)], canEnd: state.run !== undefined }
  })

/** The longest common prefix of some words. */
export const commonPrefix = (ws: ReadonlyArray<string>): string => {
  if (ws.length === 0) return ""
  let p = ws[0]!
  for (const w of ws) {
    while (!w.startsWith(p)) p = p.slice(0, -1)
  }
  return p
}

// --- Describing errors --------------------------------------------------------------------

const list = (xs: ReadonlyArray<string>) => xs.join(", ")

/** One line saying what is wrong at which word (1-based, as an operator counts). */
export const describeError = <E>(e: WalkError<E>, describeLookup: (error: E) => string): string => {
  switch (e._tag) {
    case "Unknown":
      return e.expected.length === 0
        ? `word ${e.index + 1}: unexpected "${e.word}": the command ends at word ${e.index}`
        : `word ${e.index + 1}: unknown "${e.word}"; expected ${e.expected.length === 1 ? "" : "one of "}${list(e.expected)}`
    case "Ambiguous":
      return `word ${e.index + 1}: "${e.word}" is ambiguous: ${list(e.candidates)}`
    case "Invalid":
      return `word ${e.index + 1}: ${e.slot}: ${e.reason}`
    case "Incomplete":
      return `word ${e.index + 1}: the command is incomplete; expected ${e.expected.length === 1 ? "" : "one of "}${list(e.expected)}`
    case "Lookup":
      return `word ${e.index + 1}: ${describeLookup(e.error)}`
  }
}

// --- Synopsis ----------------------------------------------------------------------------------

export interface SynopsisLine {
  readonly line: string
  readonly help: string
}

/** A subtree as syntax: `log [level debug|info|warn|error]`. */
const syntax = <A, E, R>(n: Node<A, E, R>): string => {
  const label = nodeLabel(n)
  if (n.next.length === 0) return label
  const alternatives = n.next.map(syntax)
  const inner = alternatives.length === 1 ? alternatives[0]! : alternatives.join("|")
  return n.end === true ? `${label} [${inner}]` : `${label} ${inner}`
}

/**
 * Every command the tree runs, as a line of syntax with the help of its last
 * word: `show frontends [<frontend>]`, `watch events [num <n>] [log ...]`.
 * A runnable word with one runnable last word after it is written as one line
 * with that word in brackets.
 */
export const synopsis = <A, E, R>(roots: ReadonlyArray<Node<A, E, R>>): Array<SynopsisLine> => {
  const out: Array<SynopsisLine> = []
  const visit = (n: Node<A, E, R>, prefix: string) => {
    const line = prefix + nodeLabel(n)
    const only = n.next.length === 1 ? n.next[0]! : undefined
    if (n.run !== undefined && only !== undefined && only.run !== undefined && only.next.length === 0) {
      out.push({ line: `${line} [${nodeLabel(only)}]`, help: n.help })
      return
    }
    if (n.run !== undefined) {
      const options = n._tag === "Keyword" && n.options !== undefined ? n.options.map((o) => ` [${syntax(o)}]`).join("") : ""
      out.push({ line: line + options, help: n.help })
    }
    for (const child of n.next) visit(child, line + " ")
  }
  for (const root of roots) visit(root, "")
  return out
}
