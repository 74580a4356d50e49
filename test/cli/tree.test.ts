/**
 * maglevc's command tree (src/cli/Tree.ts) walked over the real commands
 * (src/cli/Commands.ts), with a fake session whose client answers the name
 * lookups from fixtures: what a line parses to (canonical words, values,
 * flags), how a wrong line fails, what `?` and Tab offer, and what help lists.
 * The matching rules are also checked as properties: every abbreviation the
 * rules allow resolves to the full command, on the real tree and on small
 * generated ones.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import type * as Api from "../../src/api/Api.js"
import { NotFound } from "../../src/api/Api.js"
import type { MaglevClientShape } from "../../src/api/Client.js"
import * as Commands from "../../src/cli/Commands.js"
import * as Tree from "../../src/cli/Tree.js"

// --- Fixtures ------------------------------------------------------------------------------

const member = (backend: string, n: number): Api.PoolBackendInfo => ({
  backend,
  address: `10.0.0.${n}`,
  state: "up",
  weight: 100,
  effectiveWeight: 100,
  buckets: 0
})

const frontend = (name: string, n: number, pools: ReadonlyArray<Api.PoolInfo>): Api.FrontendInfo => ({
  name,
  description: "",
  address: `192.0.2.${n}/32`,
  protocol: "tcp",
  port: 80,
  vip: `192.0.2.${n}/32 6 80`,
  srcIpSticky: false,
  flushOnDown: false,
  newFlowsTableLength: 1024,
  state: "up",
  activePool: pools[0]?.name,
  pools
})

const FRONTENDS: ReadonlyArray<Api.FrontendInfo> = [
  frontend("web", 1, [
    { name: "primary", active: true, backends: [member("web1", 1), member("web2", 2)] },
    { name: "fallback", active: false, backends: [member("web3", 3)] }
  ]),
  frontend("api", 2, [{ name: "main", active: true, backends: [member("nginx0", 4)] }])
]

const BACKEND_NAMES = ["web1", "web2", "web3", "nginx0", "nginx01"]

const backend = (name: string, n: number): Api.BackendInfo => ({
  name,
  address: `10.0.0.${n}`,
  healthcheck: "http-check",
  enabled: true,
  state: "up",
  counter: 2,
  rise: 2,
  fall: 3,
  transitions: [],
  memberships: []
})

const healthcheck = (name: string, type: "http" | "tcp"): Api.HealthCheckInfo => ({
  name,
  type,
  interval: "1s",
  fastInterval: "1s",
  downInterval: "1s",
  timeout: "1s",
  rise: 2,
  fall: 3,
  backends: []
})

interface Stub {
  readonly ListFrontends: () => Effect.Effect<ReadonlyArray<Api.FrontendInfo>, unknown>
  readonly ListBackends: () => Effect.Effect<ReadonlyArray<Api.BackendInfo>, unknown>
  readonly ListHealthChecks: () => Effect.Effect<ReadonlyArray<Api.HealthCheckInfo>, unknown>
  readonly GetFrontend: (payload: { readonly name: string }) => Effect.Effect<Api.FrontendInfo, unknown>
}

/** A client answering only the RPCs the live slots call. */
const stub = (overrides: Partial<Stub> = {}): MaglevClientShape => {
  const base: Stub = {
    ListFrontends: () => Effect.succeed(FRONTENDS),
    ListBackends: () => Effect.succeed(BACKEND_NAMES.map(backend)),
    ListHealthChecks: () => Effect.succeed([healthcheck("http-check", "http"), healthcheck("tcp-check", "tcp")]),
    GetFrontend: ({ name }) => {
      const f = FRONTENDS.find((x) => x.name === name)
      return f === undefined ? Effect.fail(new NotFound({ kind: "frontend", name })) : Effect.succeed(f)
    }
  }
  return { ...base, ...overrides } as unknown as MaglevClientShape
}

const sessionFor = (client: MaglevClientShape) => Commands.makeSession({ client, url: "http://maglevd.test:9090", color: false, json: false })

const provide = <A, E>(self: Effect.Effect<A, E, Commands.Session>, client: MaglevClientShape = stub()): Effect.Effect<A, E> =>
  Effect.flatMap(sessionFor(client), (session) => Effect.provideService(self, Commands.Session, session))

const parse = (line: string | ReadonlyArray<string>, client?: MaglevClientShape) => provide(Tree.parse(Commands.tree, line), client)

/** What a line resolves to, in comparable form. */
const resolved = (line: string | ReadonlyArray<string>, client?: MaglevClientShape) =>
  Effect.map(parse(line, client), (p) => ({ path: p.path.join(" "), values: p.bound.values, flags: [...p.bound.flags].sort() }))

const failure = (line: string | ReadonlyArray<string>, client?: MaglevClientShape) => Effect.flip(parse(line, client))

const choicesAt = (line: string, client?: MaglevClientShape) => provide(Tree.choices(Commands.tree, line), client)

const describe_ = (e: Tree.WalkError<Commands.ServerError>) => Tree.describeError(e, (l) => l.message)

// The property tests need the runnable lines before they run: the stub answers
// synchronously, so one session serves them all.
const SESSION = Effect.runSync(sessionFor(stub()))
const runSync = <A, E>(self: Effect.Effect<A, E, Commands.Session>): Either.Either<A, E> =>
  Effect.runSync(Effect.either(Effect.provideService(self, Commands.Session, SESSION)))

// --- Enumerating the tree ---------------------------------------------------------------------

/** A valid fixture value for each slot label; `set frontend web pool primary backend web1` holds together. */
const FILL: Readonly<Record<string, string>> = {
  "<frontend>": "web",
  "<pool>": "primary",
  "<backend>": "web1",
  "<healthcheck>": "http-check",
  "<0-100>": "50",
  "<n>": "3",
  "<src-ip>": "198.51.100.7",
  "<src-port>": "40000",
  "<proto>": "tcp"
}

const fill = (label: string): string => {
  const v = FILL[label]
  if (v === undefined) throw new Error(`no fixture value for the slot ${label}`)
  return v
}

interface LineWord {
  readonly word: string
  /** The keywords that may come at this word's position (none for a slot's value). */
  readonly siblings: ReadonlyArray<string>
  /** The live values a slot at this position takes (a keyword's abbreviation must not be one). */
  readonly slotValues: ReadonlyArray<string>
  readonly isKeyword: boolean
}

/**
 * Every runnable line of the tree (slots filled from FILL), found by asking
 * `choices` what may come after each prefix: the same thing the shell's `?`
 * shows, followed to every end.
 */
const enumerate = (): Effect.Effect<ReadonlyArray<ReadonlyArray<LineWord>>, never, Commands.Session> =>
  Effect.gen(function*() {
    const out: Array<ReadonlyArray<LineWord>> = []
    const visit = (prefix: ReadonlyArray<LineWord>): Effect.Effect<void, never, Commands.Session> =>
      Effect.gen(function*() {
        if (prefix.length > 16) throw new Error(`the tree does not end: ${prefix.map((w) => w.word).join(" ")}`)
        const line = prefix.map((w) => w.word).join(" ")
        const c = yield* Tree.choices(Commands.tree, line === "" ? "" : line + " ")
        if (c.error !== undefined) throw new Error(`"${line}" does not walk: ${describe_(c.error)}`)
        if (c.canEnd) out.push(prefix)
        const siblings = c.entries.filter((e) => !e.label.startsWith("<")).map((e) => e.label)
        const slotValues = c.completions.filter((v) => !siblings.includes(v))
        for (const e of c.entries) {
          const isKeyword = !e.label.startsWith("<")
          yield* visit([...prefix, { word: isKeyword ? e.label : fill(e.label), siblings, slotValues, isKeyword }])
        }
      })
    yield* visit([])
    return out
  })

/**
 * The keyword a word resolves to among its siblings, by the rules in Tree.ts's
 * header: exact, else the one keyword it is a prefix of, else the shortest of
 * several when it is a prefix of all of them; "ambiguous" or "none" otherwise.
 */
const resolveAmong = (word: string, keywords: ReadonlyArray<string>): string | "ambiguous" | "none" => {
  if (keywords.includes(word)) return word
  const prefixed = keywords.filter((k) => k.startsWith(word))
  if (prefixed.length === 0) return "none"
  if (prefixed.length === 1) return prefixed[0]!
  const shortest = [...prefixed].sort((a, b) => a.length - b.length)[0]!
  return prefixed.every((k) => k.startsWith(shortest)) ? shortest : "ambiguous"
}

/** Each way a word of a line may be spelled: the prefixes of a keyword that resolve to it (slot values as they are). */
const spellings = (w: LineWord): ReadonlyArray<string> =>
  w.isKeyword
    ? [...Array(w.word.length).keys()]
      .map((n) => w.word.slice(0, n + 1))
      .filter((p) => !w.slotValues.includes(p) && resolveAmong(p, w.siblings) === w.word)
    : [w.word]

const RUNNABLE = (() => {
  const r = runSync(enumerate())
  if (Either.isLeft(r)) throw new Error("the enumeration failed")
  return r.right
})()

// --- Synopsis lines as lines --------------------------------------------------------------------

/** Every line a synopsis line stands for: `[x]` with and without x, `a|b` as a or b, slots filled. */
const expand = (syntax: string): Array<Array<string>> => {
  const tokens = syntax.match(/\[|\]|[^\s[\]]+/g) ?? []
  let i = 0
  const sequence = (): Array<Array<string>> => {
    let lines: Array<Array<string>> = [[]]
    while (i < tokens.length && tokens[i] !== "]") {
      const t = tokens[i++]!
      let alternatives: Array<Array<string>>
      if (t === "[") {
        alternatives = [[], ...sequence()]
        if (tokens[i++] !== "]") throw new Error(`unbalanced brackets in "${syntax}"`)
      } else {
        alternatives = t.split("|").map((a) => [a.startsWith("<") ? fill(a) : a])
      }
      lines = lines.flatMap((l) => alternatives.map((a) => [...l, ...a]))
    }
    return lines
  }
  const lines = sequence()
  if (i !== tokens.length) throw new Error(`unbalanced brackets in "${syntax}"`)
  return lines
}

// --- Parsing the real tree ----------------------------------------------------------------------

describe("Tree.parse on maglevc's commands", () => {
  it.effect("show: abbreviations, the exact name over a longer one, lists without a name", () =>
    Effect.gen(function*() {
      // nginx0 is a prefix of nginx01: the exact name is taken.
      expect(yield* resolved("sh ba nginx0")).toEqual({ path: "show backend nginx0", values: { backend: "nginx0" }, flags: [] })
      expect(yield* resolved("sh ba nginx01")).toEqual({ path: "show backend nginx01", values: { backend: "nginx01" }, flags: [] })
      expect(yield* resolved("sh ba")).toEqual({ path: "show backend", values: {}, flags: [] })
      expect(yield* resolved("show backends web1")).toEqual({ path: "show backends web1", values: { backend: "web1" }, flags: [] })
      expect(yield* resolved(["show", "backend", "web2"])).toEqual({ path: "show backend web2", values: { backend: "web2" }, flags: [] })
      expect(yield* resolved("  show   frontend\tweb  ")).toEqual({ path: "show frontend web", values: { frontend: "web" }, flags: [] })
      expect(yield* resolved("sh h tcp-check")).toEqual({ path: "show healthcheck tcp-check", values: { healthcheck: "tcp-check" }, flags: [] })
      expect((yield* resolved("sh vp l c")).path).toBe("show vpp lb counters")
      expect((yield* resolved("sh ve")).path).toBe("show version")

      // `show backend` without a name lists, as `show backends` does; with one it shows that one.
      const list = yield* parse("show backend")
      expect(list.run).toBe((yield* parse("show backends")).run)
      const one = yield* parse("sh ba web1")
      expect(one.run).toBe((yield* parse("show backends web3")).run)
      expect(one.run).not.toBe(list.run)
    }))

  it.effect("an ambiguous, an unknown and a refused word say where and why", () =>
    Effect.gen(function*() {
      expect(yield* failure("s ba")).toEqual({ _tag: "Ambiguous", index: 0, word: "s", candidates: ["show", "sync", "set"] })
      expect(yield* failure("show v")).toEqual({ _tag: "Ambiguous", index: 1, word: "v", candidates: ["version", "vpp"] })
      expect(yield* failure("show bogus")).toEqual({
        _tag: "Unknown",
        index: 1,
        word: "bogus",
        expected: ["version", "frontends", "frontend", "backends", "backend", "healthchecks", "healthcheck", "vpp"]
      })
      expect(yield* failure("show backend nope")).toEqual({
        _tag: "Invalid",
        index: 2,
        word: "nope",
        slot: "<backend>",
        reason: "no backend is called \"nope\""
      })
      const web = yield* failure("show backend web")
      expect(web).toMatchObject({ _tag: "Invalid", index: 2, word: "web", slot: "<backend>" })
      expect(web._tag === "Invalid" && web.reason).toContain("did you mean web1, web2, web3")
      expect(yield* failure("show healthcheck http")).toMatchObject({
        _tag: "Invalid",
        index: 2,
        reason: "no health check is called \"http\"; did you mean http-check?"
      })
      expect(yield* failure("show frontend nope")).toMatchObject({ _tag: "Invalid", index: 2, reason: "no frontend is called \"nope\"" })
      // A command that has ended takes no more words.
      expect(yield* failure("show version extra")).toEqual({ _tag: "Unknown", index: 2, word: "extra", expected: [] })
    }))

  it.effect("set backend: the action by prefix, and an incomplete line lists the actions", () =>
    Effect.gen(function*() {
      expect(yield* resolved("set backend web1 pa")).toEqual({ path: "set backend web1 pause", values: { backend: "web1" }, flags: [] })
      expect(yield* resolved("set ba web1 dis")).toEqual({ path: "set backend web1 disable", values: { backend: "web1" }, flags: [] })
      expect((yield* resolved("se b nginx01 r")).path).toBe("set backend nginx01 resume")
      expect((yield* resolved("set backend web3 e")).path).toBe("set backend web3 enable")
      const runs = yield* Effect.forEach(["pause", "resume", "enable", "disable"], (a) => Effect.map(parse(`set backend web1 ${a}`), (p) => p.run))
      expect(new Set(runs).size).toBe(4)
      expect(yield* failure("set backend web1")).toEqual({ _tag: "Incomplete", index: 3, expected: ["pause", "resume", "enable", "disable"] })
      expect(yield* failure("set backend")).toEqual({ _tag: "Incomplete", index: 2, expected: ["<backend>"] })
      expect(yield* failure("set backend nope pause")).toMatchObject({ _tag: "Invalid", index: 2, word: "nope" })
      expect(yield* failure("set backend web1 stop")).toMatchObject({ _tag: "Unknown", index: 3, word: "stop" })
    }))

  it.effect("set frontend: pools per frontend, members per pool, weights 0 to 100", () =>
    Effect.gen(function*() {
      expect(yield* resolved("set fr web pool primary backend web2 weight 0 flush")).toEqual({
        path: "set frontend web pool primary backend web2 weight 0 flush",
        values: { frontend: "web", pool: "primary", backend: "web2", weight: "0" },
        flags: ["flush"]
      })
      expect(yield* resolved("set f web p fallback b web3 w 100")).toEqual({
        path: "set frontend web pool fallback backend web3 weight 100",
        values: { frontend: "web", pool: "fallback", backend: "web3", weight: "100" },
        flags: []
      })
      expect((yield* resolved("set frontend api pool main backend nginx0 weight 7")).values).toEqual({
        frontend: "api",
        pool: "main",
        backend: "nginx0",
        weight: "7"
      })

      expect(yield* failure("set frontend web pool nope")).toMatchObject({ _tag: "Invalid", index: 4, word: "nope", slot: "<pool>", reason: "no pool is called \"nope\"" })
      // web's pools are not api's.
      expect(yield* failure("set frontend api pool primary")).toMatchObject({ _tag: "Invalid", index: 4, slot: "<pool>" })
      // web3 is a backend, but not in the pool primary.
      expect(yield* failure("set frontend web pool primary backend web3 weight 1")).toMatchObject({
        _tag: "Invalid",
        index: 6,
        word: "web3",
        slot: "<backend>",
        reason: "no backend in the pool is called \"web3\""
      })
      expect(yield* failure("set frontend web pool fallback backend web1")).toMatchObject({ _tag: "Invalid", index: 6, word: "web1" })
      for (const w of ["101", "-1", "abc", "1.5"]) {
        expect(yield* failure(`set frontend web pool primary backend web1 weight ${w}`)).toEqual({
          _tag: "Invalid",
          index: 8,
          word: w,
          slot: "<0-100>",
          reason: "expected a whole number from 0 to 100"
        })
      }
      expect(yield* failure("set frontend web pool primary backend web1 weight")).toEqual({ _tag: "Incomplete", index: 8, expected: ["<0-100>"] })
      expect(yield* failure("set frontend web pool primary backend web1 weight 5 flush now")).toMatchObject({ _tag: "Unknown", index: 10 })
    }))

  it.effect("sync vpp lb state: every frontend or one, dry-run either way", () =>
    Effect.gen(function*() {
      expect(yield* resolved("sync vpp lb state")).toEqual({ path: "sync vpp lb state", values: {}, flags: [] })
      expect(yield* resolved("sync vpp lb state web")).toEqual({ path: "sync vpp lb state web", values: { frontend: "web" }, flags: [] })
      expect(yield* resolved("sync vpp lb state web dry-run")).toEqual({
        path: "sync vpp lb state web dry-run",
        values: { frontend: "web" },
        flags: ["dry-run"]
      })
      expect(yield* resolved("sy v l s dry")).toEqual({ path: "sync vpp lb state dry-run", values: {}, flags: ["dry-run"] })
      expect(yield* resolved("sy v l s api d")).toEqual({ path: "sync vpp lb state api dry-run", values: { frontend: "api" }, flags: ["dry-run"] })
      expect(yield* failure("sync vpp lb state nope")).toMatchObject({ _tag: "Invalid", index: 4, word: "nope", slot: "<frontend>" })
      expect(yield* failure("sync vpp lb state dry-run web")).toMatchObject({ _tag: "Unknown", index: 5, expected: [] })
    }))

  it.effect("watch events: options in any order, each once", () =>
    Effect.gen(function*() {
      expect(yield* resolved("watch events")).toEqual({ path: "watch events", values: {}, flags: [] })
      expect(yield* resolved("watch events num 5 log level debug backend")).toEqual({
        path: "watch events num 5 log level debug backend",
        values: { num: "5", level: "debug" },
        flags: ["backend", "log"]
      })
      expect(yield* resolved("wa ev backend log num 3")).toEqual({
        path: "watch events backend log num 3",
        values: { num: "3" },
        flags: ["backend", "log"]
      })
      expect(yield* resolved("watch events log")).toEqual({ path: "watch events log", values: {}, flags: ["log"] })
      expect(yield* resolved("watch events f l le w")).toEqual({
        path: "watch events frontend log level warn",
        values: { level: "warn" },
        flags: ["frontend", "log"]
      })
      expect((yield* parse("watch events num 2 frontend")).run).toBe((yield* parse("watch events")).run)

      expect(yield* failure("watch events num 1 num 2")).toEqual({
        _tag: "Unknown",
        index: 4,
        word: "num",
        expected: ["log", "backend", "frontend"]
      })
      expect(yield* failure("watch events backend log backend")).toMatchObject({ _tag: "Unknown", index: 4, word: "backend" })
      expect(yield* failure("watch events num 0")).toEqual({
        _tag: "Invalid",
        index: 3,
        word: "0",
        slot: "<n>",
        reason: "expected a whole number from 1 to 1000000"
      })
      expect(yield* failure("watch events num")).toEqual({ _tag: "Incomplete", index: 3, expected: ["<n>"] })
      expect(yield* failure("watch events log level")).toEqual({ _tag: "Incomplete", index: 4, expected: ["debug", "info", "warn", "error"] })
      // `level` belongs to `log`: once another option came between, it is gone.
      expect(yield* failure("watch events log backend level debug")).toMatchObject({ _tag: "Unknown", index: 4, word: "level" })
    }))

  it.effect("help, quit, exit, config; an empty line is incomplete", () =>
    Effect.gen(function*() {
      expect((yield* resolved("help")).path).toBe("help")
      expect((yield* resolved("h")).path).toBe("help")
      expect((yield* resolved("quit")).path).toBe("quit")
      expect((yield* resolved("exit")).path).toBe("exit")
      expect((yield* parse("exit")).run).toBe((yield* parse("quit")).run)
      expect((yield* resolved("c ch")).path).toBe("config check")
      expect((yield* resolved("con rel")).path).toBe("config reload")
      const all = ["show", "sync", "set", "config", "watch", "help", "quit", "exit"]
      expect(yield* failure("")).toEqual({ _tag: "Incomplete", index: 0, expected: all })
      expect(yield* failure("   ")).toEqual({ _tag: "Incomplete", index: 0, expected: all })
      expect(yield* failure([])).toEqual({ _tag: "Incomplete", index: 0, expected: all })
    }))

  it.effect("a lookup that fails is a Lookup error carrying the server's error", () =>
    Effect.gen(function*() {
      const down = new Commands.ServerError({ message: "cannot reach maglevd at http://maglevd.test:9090: ECONNREFUSED" })
      const client = stub({ ListBackends: () => Effect.fail(down) })
      const e = yield* failure("sh ba web1", client)
      expect(e).toEqual({ _tag: "Lookup", index: 2, error: down })
      expect(e._tag === "Lookup" && e.error).toBeInstanceOf(Commands.ServerError)
      // Lines that touch no backend slot do not ask.
      expect((yield* resolved("show backend", client)).path).toBe("show backend")
      expect((yield* resolved("sync vpp lb state web", client)).path).toBe("sync vpp lb state web")

      // The pool slot asks GetFrontend; its NotFound is described as the operator reads it.
      const gone = stub({ GetFrontend: ({ name }) => Effect.fail(new NotFound({ kind: "frontend", name })) })
      const g = yield* failure("set frontend web pool primary", gone)
      expect(g).toMatchObject({ _tag: "Lookup", index: 4, error: { _tag: "ServerError", message: "frontend \"web\" is not defined" } })
    }))
})

// --- Properties -----------------------------------------------------------------------------------

describe("Tree.parse: abbreviations (properties)", () => {
  it("the tree has the commands the properties walk", () => {
    const lines = new Set(RUNNABLE.map((l) => l.map((w) => w.word).join(" ")))
    for (
      const l of [
        "show backend web1",
        "set frontend web pool primary backend web1 weight 50 flush",
        "sync vpp lb state web dry-run",
        "watch events frontend num 3 log level error backend",
        "exit"
      ]
    ) expect(lines).toContain(l)
    expect(lines).not.toContain("show")
    expect(lines).not.toContain("set backend web1")
  })

  it("every runnable line, in full words, parses to itself", () => {
    for (const line of RUNNABLE) {
      const ws = line.map((w) => w.word)
      const r = runSync(Tree.parse(Commands.tree, ws))
      expect(Either.isRight(r) ? r.right.path : r.left).toEqual(ws)
    }
  })

  const abbreviated = fc.constantFrom(...RUNNABLE).chain((line) =>
    fc.tuple(...line.map((w) => fc.constantFrom(...spellings(w)))).map((spelled) => ({ full: line.map((w) => w.word), spelled }))
  )

  it.prop("any unambiguous prefix of each keyword parses to the same command", [abbreviated], ([{ full, spelled }]) => {
    const a = runSync(Tree.parse(Commands.tree, spelled))
    const b = runSync(Tree.parse(Commands.tree, full))
    if (Either.isLeft(a) || Either.isLeft(b)) {
      expect.fail(`"${spelled.join(" ")}" or "${full.join(" ")}" does not parse`)
      return
    }
    expect(a.right.path).toEqual(full)
    expect(a.right.run).toBe(b.right.run)
    expect(a.right.bound.values).toEqual(b.right.bound.values)
    expect([...a.right.bound.flags].sort()).toEqual([...b.right.bound.flags].sort())
  }, { fastCheck: { numRuns: 500 } })

  it("the shortest spelling of every command parses to it; a prefix the rules call ambiguous is refused", () => {
    let ambiguous = 0
    for (const line of RUNNABLE) {
      const full = line.map((w) => w.word)
      const shortest = line.map((w) => spellings(w)[0]!)
      const r = runSync(Tree.parse(Commands.tree, shortest))
      expect(Either.isRight(r) ? r.right.path : r.left).toEqual(full)
      line.forEach((w, i) => {
        if (!w.isKeyword) return
        for (let n = 1; n < w.word.length; n++) {
          const p = w.word.slice(0, n)
          if (resolveAmong(p, w.siblings) !== "ambiguous" || w.slotValues.includes(p)) continue
          ambiguous++
          const e = runSync(Tree.parse(Commands.tree, full.map((x, j) => (j === i ? p : x))))
          expect(Either.isLeft(e) ? e.left : e.right.path).toEqual({
            _tag: "Ambiguous",
            index: i,
            word: p,
            candidates: w.siblings.filter((s) => s.startsWith(p))
          })
        }
      })
    }
    expect(ambiguous).toBeGreaterThan(0)
  })
})

describe("Tree.parse: the matching rules on generated trees (properties)", () => {
  const name = fc.array(fc.constantFrom("a", "b"), { minLength: 1, maxLength: 3 }).map((cs) => cs.join(""))
  type SlotKind = { readonly kind: "none" } | { readonly kind: "any" } | { readonly kind: "list"; readonly values: ReadonlyArray<string> }
  const slotKind: fc.Arbitrary<SlotKind> = fc.oneof(
    fc.constant({ kind: "none" } as const),
    fc.constant({ kind: "any" } as const),
    fc.uniqueArray(name, { maxLength: 4 }).map((values) => ({ kind: "list", values }) as const)
  )

  const build = (keywords: ReadonlyArray<string>, s: SlotKind, at: number): ReadonlyArray<Tree.Node<string>> => {
    const nodes: Array<Tree.Node<string>> = keywords.map((w) => Tree.keyword<string>(w, `the ${w}`, { run: `keyword ${w}` }))
    if (s.kind === "any") nodes.splice(at % (nodes.length + 1), 0, Tree.slot<string>("<x>", "x", "anything", { run: "slot" }))
    if (s.kind === "list") {
      nodes.splice(at % (nodes.length + 1), 0, Tree.slot<string>("<x>", "x", "a listed x", { values: () => Effect.succeed(s.values), run: "slot" }))
    }
    return nodes
  }

  const accepts = (s: SlotKind, word: string) => s.kind === "any" || (s.kind === "list" && s.values.includes(word))

  it.prop(
    "one word resolves as the header says: exact keyword, slot, unique or shortest-of-all prefix, else an error",
    [fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), slotKind, fc.nat(), name],
    ([keywords, s, at, word]) => {
      const roots = build(keywords, s, at)
      const got = Effect.runSync(Effect.either(Tree.parse(roots, [word])))
      const error = Either.isLeft(got) ? got.left : undefined
      const r = resolveAmong(word, keywords)
      if (keywords.includes(word)) {
        expect(Either.getOrThrow(got).run).toBe(`keyword ${word}`)
      } else if (accepts(s, word)) {
        expect(Either.getOrThrow(got)).toMatchObject({ run: "slot", path: [word], bound: { values: { x: word } } })
      } else if (r === "ambiguous") {
        expect(error).toEqual({ _tag: "Ambiguous", index: 0, word, candidates: keywords.filter((k) => k.startsWith(word)) })
      } else if (r !== "none") {
        expect(Either.getOrThrow(got)).toMatchObject({ run: `keyword ${r}`, path: [r] })
      } else if (s.kind === "list") {
        expect(error).toMatchObject({ _tag: "Invalid", index: 0, word, slot: "<x>" })
      } else {
        expect(error).toEqual({ _tag: "Unknown", index: 0, word, expected: roots.map(Tree.nodeLabel) })
      }
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "an exact keyword wins over longer keywords and over a slot that takes the word",
    [fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat(), fc.boolean()],
    ([keywords, pick, at, listed]) => {
      const word = keywords[pick % keywords.length]!
      // Longer keywords the word is a prefix of, and a slot that would take the word.
      const all = [...new Set([...keywords, word + "a", word + "ab"])]
      const s: SlotKind = listed ? { kind: "list", values: [word] } : { kind: "any" }
      const p = Effect.runSync(Tree.parse(build(all, s, at), [word]))
      expect(p).toMatchObject({ run: `keyword ${word}`, path: [word], bound: { values: {} } })
    }
  )

  const options = ["alpha", "beta", "gamma"] as const
  const go = Tree.keyword<string>("go", "with options", {
    run: "go",
    options: options.map((o) => Tree.keyword<string>(o, o, { flag: o, end: true }))
  })

  it.prop(
    "options come in any order, each at most once",
    [fc.shuffledSubarray([...options]), fc.option(fc.constantFrom(...options), { nil: undefined })],
    ([order, again]) => {
      const ok = Effect.runSync(Tree.parse([go], ["go", ...order]))
      expect(ok.run).toBe("go")
      expect(ok.path).toEqual(["go", ...order])
      expect([...ok.bound.flags].sort()).toEqual([...order].sort())
      if (again !== undefined && order.includes(again)) {
        const e = Effect.runSync(Effect.flip(Tree.parse([go], ["go", ...order, again])))
        expect(e).toEqual({ _tag: "Unknown", index: order.length + 1, word: again, expected: options.filter((o) => !order.includes(o)) })
      }
    }
  )
})

// --- Choices (? and Tab) -------------------------------------------------------------------------

describe("Tree.choices", () => {
  it.effect("after `show `: its words with their help, and the line may not end there", () =>
    Effect.gen(function*() {
      const c = yield* choicesAt("show ")
      expect(c.before).toEqual(["show"])
      expect(c.partial).toBe("")
      expect(c.error).toBeUndefined()
      expect(c.canEnd).toBe(false)
      expect(c.entries.map((e) => e.label)).toEqual(["version", "frontends", "frontend", "backends", "backend", "healthchecks", "healthcheck", "vpp"])
      expect(c.entries.every((e) => e.help.length > 0)).toBe(true)
      expect(c.entries.find((e) => e.label === "vpp")?.help).toBe("VPP, as maglevd sees it")
      expect(c.entries.map((e) => e.label)).not.toContain("<cr>")
      expect(c.completions).toEqual(c.entries.map((e) => e.label))
    }))

  it.effect("a partial word filters by prefix", () =>
    Effect.gen(function*() {
      const c = yield* choicesAt("show ba")
      expect(c).toMatchObject({ before: ["show"], partial: "ba", completions: ["backends", "backend"], canEnd: false })
      expect(c.entries.map((e) => e.label)).toEqual(["backends", "backend"])
      expect(Tree.commonPrefix(c.completions)).toBe("backend")
      const top = yield* choicesAt("s")
      expect(top).toMatchObject({ before: [], partial: "s", completions: ["show", "sync", "set"] })
      expect(Tree.commonPrefix(top.completions)).toBe("s")
      const none = yield* choicesAt("show zz")
      expect(none).toMatchObject({ partial: "zz", entries: [], completions: [] })
    }))

  it.effect("a live slot completes to the server's names", () =>
    Effect.gen(function*() {
      const c = yield* choicesAt("show backend ")
      expect(c.entries).toEqual([{ label: "<backend>", help: "a backend" }])
      expect(c.completions).toEqual(BACKEND_NAMES)
      expect(c.canEnd).toBe(true)
      const ng = yield* choicesAt("show backend ng")
      expect(ng.completions).toEqual(["nginx0", "nginx01"])
      expect(Tree.commonPrefix(ng.completions)).toBe("nginx0")
      expect((yield* choicesAt("set frontend web pool ")).completions).toEqual(["primary", "fallback"])
      expect((yield* choicesAt("set frontend api pool ")).completions).toEqual(["main"])
      expect((yield* choicesAt("set frontend web pool fallback backend ")).completions).toEqual(["web3"])
      expect((yield* choicesAt("sync vpp lb state ")).completions).toEqual(["web", "api", "dry-run"])
      expect((yield* choicesAt("show healthcheck ")).completions).toEqual(["http-check", "tcp-check"])
      // A number slot has no list: it shows, but completes nothing.
      const w = yield* choicesAt("set frontend web pool primary backend web1 weight ")
      expect(w).toMatchObject({ entries: [{ label: "<0-100>" }], completions: [], canEnd: false })
    }))

  it.effect("options still to come, and whether the line may end", () =>
    Effect.gen(function*() {
      const all = yield* choicesAt("watch events ")
      expect(all).toMatchObject({ completions: ["num", "log", "backend", "frontend"], canEnd: true })
      const rest = yield* choicesAt("watch events num 5 log ")
      expect(rest).toMatchObject({ completions: ["level", "backend", "frontend"], canEnd: true })
      expect(yield* choicesAt("watch events num ")).toMatchObject({ completions: [], canEnd: false })
    }))

  it.effect("words before the cursor that do not walk: the error, nothing offered", () =>
    Effect.gen(function*() {
      const c = yield* choicesAt("show bogus ")
      expect(c.error).toMatchObject({ _tag: "Unknown", index: 1, word: "bogus" })
      expect(c).toMatchObject({ entries: [], completions: [], canEnd: false })
      expect((yield* choicesAt("s ba ")).error).toMatchObject({ _tag: "Ambiguous", index: 0 })
      // A failed lookup behind a slot offers no values, and is no error.
      const down = stub({ ListBackends: () => Effect.fail(new Commands.ServerError({ message: "down" })) })
      const d = yield* choicesAt("show backend ", down)
      expect(d).toMatchObject({ entries: [{ label: "<backend>" }], completions: [], canEnd: true })
      expect(d.error).toBeUndefined()
    }))
})

describe("Tree.words and Tree.commonPrefix", () => {
  it("splits on any whitespace, with where each word starts", () => {
    expect(Tree.words("  sh\tba  web1 ")).toEqual([{ text: "sh", start: 2 }, { text: "ba", start: 5 }, { text: "web1", start: 9 }])
    expect(Tree.words("   ")).toEqual([])
  })

  it("the longest common prefix", () => {
    expect(Tree.commonPrefix([])).toBe("")
    expect(Tree.commonPrefix(["web1"])).toBe("web1")
    expect(Tree.commonPrefix(["web1", "web2", "web3"])).toBe("web")
    expect(Tree.commonPrefix(["show", "set"])).toBe("s")
    expect(Tree.commonPrefix(["a", "b"])).toBe("")
  })
})

// --- Synopsis ---------------------------------------------------------------------------------------

describe("Tree.synopsis", () => {
  const lines = Tree.synopsis(Commands.tree)

  it("writes each command once, optional parts in brackets", () => {
    const text = lines.map((l) => l.line)
    expect(text).toContain("show frontends [<frontend>]")
    expect(text).toContain("show backend [<backend>]")
    expect(text).toContain("set frontend <frontend> pool <pool> backend <backend> weight <0-100> [flush]")
    expect(text).toContain("watch events [num <n>] [log [level debug|info|warn|error]] [backend] [frontend]")
    expect(text).toContain("sync vpp lb state")
    expect(text).toContain("sync vpp lb state <frontend> [dry-run]")
    expect(text).toContain("sync vpp lb state dry-run")
    expect(text).toContain("set backend <backend> pause")
    expect(text).toContain("show vpp lb counters")
    expect(text).toContain("show frontend <frontend> flow <src-ip> <src-port> [<proto>]")
    expect(text).not.toContain("show")
    expect(new Set(text).size).toBe(text.length)
    expect(lines.find((l) => l.line === "exit")?.help).toBe("leave the shell")
    expect(lines.every((l) => l.help.length > 0)).toBe(true)
  })

  it("every line it writes parses (help never lists a command the parser refuses)", () => {
    let n = 0
    for (const { line } of lines) {
      for (const ws of expand(line)) {
        n++
        const r = runSync(Tree.parse(Commands.tree, ws))
        expect(Either.isRight(r) ? r.right.path : r.left, line).toEqual(ws)
      }
    }
    expect(n).toBeGreaterThan(lines.length)
  })

  it("every command the tree runs is some line of it (up to the order of options)", () => {
    const sorted = (ws: ReadonlyArray<string>) => [...ws].sort().join(" ")
    const written = new Set(lines.flatMap((l) => expand(l.line)).map(sorted))
    for (const line of RUNNABLE) expect(written, line.map((w) => w.word).join(" ")).toContain(sorted(line.map((w) => w.word)))
  })
})

// --- Describing errors ---------------------------------------------------------------------------------

describe("Tree.describeError", () => {
  it.effect("one line per kind, words counted from 1", () =>
    Effect.gen(function*() {
      expect(describe_(yield* failure("show bogus"))).toBe(
        "word 2: unknown \"bogus\"; expected one of version, frontends, frontend, backends, backend, healthchecks, healthcheck, vpp"
      )
      expect(describe_(yield* failure("sync vpp x"))).toBe("word 3: unknown \"x\"; expected lb")
      expect(describe_(yield* failure("s ba"))).toBe("word 1: \"s\" is ambiguous: show, sync, set")
      expect(describe_(yield* failure("show backend nope"))).toBe("word 3: <backend>: no backend is called \"nope\"")
      expect(describe_(yield* failure("show backend web"))).toBe("word 3: <backend>: no backend is called \"web\"; did you mean web1, web2, web3?")
      expect(describe_(yield* failure("set frontend web pool primary backend web1 weight 101"))).toBe(
        "word 9: <0-100>: expected a whole number from 0 to 100"
      )
      expect(describe_(yield* failure("set backend web1"))).toBe("word 4: the command is incomplete; expected one of pause, resume, enable, disable")
      expect(describe_(yield* failure("sync vpp"))).toBe("word 3: the command is incomplete; expected lb")
      expect(describe_(yield* failure(""))).toBe(
        "word 1: the command is incomplete; expected one of show, sync, set, config, watch, help, quit, exit"
      )
      const down = stub({ ListFrontends: () => Effect.fail(new Commands.ServerError({ message: "cannot reach maglevd" })) })
      expect(describe_(yield* failure("show frontend web", down))).toBe("word 3: cannot reach maglevd")
    }))

  it.effect("a word after a complete command says the command has ended, not `expected one of` nothing", () =>
    Effect.gen(function*() {
      const text = describe_(yield* failure("show version extra"))
      expect(text).toMatch(/^word 3: .*"extra"/)
      expect(text).not.toMatch(/expected (one of )?$/)
    }))
})
