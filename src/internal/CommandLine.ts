/**
 * The command line of every program (maglevd, vppsim, maglevc, maglevt):
 * flags declared once with what `--help` says of them (a one-line
 * description, the default, the environment variable), parsed by
 * @effect/cli's `Options`; `--help`, `--version` and usage errors are ours.
 *
 * Why not `Command.run`: it adds built-in options that cannot be turned off
 * (`--completions`, `--wizard`, and a `--log-level` taking Effect's level
 * names); `CliConfig.showBuiltIns: false` only hides them from the help, and
 * the built-in `--log-level` takes `--log-level debug` away from the
 * program's own flag before that is parsed. Its help adds "A user-defined
 * piece of text." and "This setting is optional." to every flag, is coloured
 * into pipes, and its errors do not always name the flag. Parsing with
 * `Options.processCommandLine` keeps the options (fallback to the
 * environment, defaults, validation) without the built-ins.
 *
 * A usage error is one line on stderr naming the flag (or environment
 * variable) and what it accepts, and exit status 2.
 */
import { CliConfig, HelpDoc, Options, ValidationError } from "@effect/cli"
import type { FileSystem } from "@effect/platform/FileSystem"
import type { Path } from "@effect/platform/Path"
import type { Terminal } from "@effect/platform/Terminal"
import { Config, Effect, Either, Option } from "effect"
import { stripVTControlCharacters } from "node:util"
import { ExitStatus } from "./ExitStatus.js"
import * as Log from "./Log.js"
import { wrap } from "./Wrap.js"

/** What `--help` says of a flag. */
export interface FlagDoc {
  /** Without the dashes: `config`. */
  readonly name: string
  /** The value's placeholder (`FILE`, `N`); none for a switch. */
  readonly value?: string | undefined
  /** One line. */
  readonly description: string
  /** As help shows it; a switch's is `off`. */
  readonly default?: string | undefined
  /** The environment variable read when the flag is not given. */
  readonly env?: string | undefined
  /** The values accepted, checked before parsing so that the error names the flag. */
  readonly choices?: ReadonlyArray<string> | undefined
  readonly integer?: boolean | undefined
  /** May be given more than once. */
  readonly repeated?: boolean | undefined
}

export interface Flag<A> {
  readonly doc: FlagDoc
  readonly options: Options.Options<A>
}

/** The values of a record of flags. */
export type FlagValues<F> = { readonly [K in keyof F]: F[K] extends Flag<infer A> ? A : never }

/** A flag from its doc and its parser (for a value the shorthands below do not build). */
export const flag = <A>(doc: FlagDoc, options: Options.Options<A>): Flag<A> => ({ doc, options: Options.withDescription(options, doc.description) })

const withEnv = <A>(options: Options.Options<A>, env: string | undefined, config: (name: string) => Config.Config<A>) =>
  env === undefined ? options : Options.withFallbackConfig(options, config(env))

interface ValueDoc<A> {
  readonly name: string
  readonly value: string
  readonly description: string
  readonly env?: string | undefined
  readonly default: A
  /** How help shows the default, when not the value itself (`""` shows as `none`). */
  readonly shown?: string | undefined
}

const shownDefault = (d: { readonly default: unknown; readonly shown?: string | undefined }) =>
  d.shown ?? (d.default === "" ? "none" : String(d.default))

export const text = (d: ValueDoc<string>): Flag<string> =>
  flag(
    { ...d, default: shownDefault(d) },
    withEnv(Options.text(d.name), d.env, Config.string).pipe(Options.withDefault(d.default))
  )

export const integer = (d: ValueDoc<number>): Flag<number> =>
  flag(
    { ...d, default: shownDefault(d), integer: true },
    withEnv(Options.integer(d.name), d.env, Config.integer).pipe(Options.withDefault(d.default))
  )

export const choice = <const C extends string>(d: ValueDoc<C> & { readonly choices: readonly [C, ...Array<C>] }): Flag<C> =>
  flag(
    { ...d, value: d.choices.join("|"), default: shownDefault(d) },
    withEnv(Options.choice(d.name, d.choices), d.env, (name) => Config.literal(...d.choices)(name)).pipe(
      Options.withDefault(d.default)
    )
  )

/** A switch: off unless given (or its environment variable is `true`). */
export const boolean = (d: { readonly name: string; readonly description: string; readonly env?: string | undefined }): Flag<boolean> =>
  flag({ ...d, default: "off" }, withEnv(Options.boolean(d.name), d.env, Config.boolean))

// --- help ---------------------------------------------------------------------------------

export { WIDTH, wrap } from "./Wrap.js"

export interface Program<A> {
  readonly name: string
  /** The version line `--version` prints (a function: made only when printed; Version.ts may run git for it). */
  readonly version: string | (() => string)
  /** What the program is, one line. */
  readonly summary: string
  readonly flags: { readonly [K in keyof A]: Flag<A[K]> }
  /** Words after the flags (maglevc's command); none when the program takes none. */
  readonly positional?: { readonly name: string; readonly description: string } | undefined
  /** Paragraphs after the flags: environment, exit status, see also. */
  readonly notes?: ReadonlyArray<string> | undefined
}

const HELP: FlagDoc = { name: "help", description: "print this help and exit" }
const VERSION: FlagDoc = { name: "version", description: "print the version and the commit and exit" }

const versionLine = <A>(p: Program<A>): string => (typeof p.version === "string" ? p.version : p.version())

const label = (d: FlagDoc) => `--${d.name}${d.name === "help" ? ", -h" : ""}${d.value !== undefined ? ` ${d.value}` : ""}`

const flagLines = (d: FlagDoc): Array<string> => {
  const facts = [
    ...(d.default !== undefined ? [`default ${d.default}`] : []),
    ...(d.env !== undefined ? [`env ${d.env}`] : []),
    ...(d.repeated === true ? ["repeatable"] : [])
  ]
  return [`  ${label(d)}`, ...wrap(d.description, 6), ...(facts.length > 0 ? wrap(facts.join("; "), 6) : [])]
}

const docs = <A>(p: Program<A>): Array<FlagDoc> => Object.values<Flag<unknown>>(p.flags as Record<string, Flag<unknown>>).map((f) => f.doc)

/** The `--help` text: plain, at most 80 columns. */
export const helpText = <A>(p: Program<A>): string => {
  const usage = `Usage: ${p.name} [OPTIONS]${p.positional !== undefined ? ` [${p.positional.name}...]` : ""}`
  const lines = [
    ...wrap(`${p.name} - ${p.summary}`, 0),
    versionLine(p),
    "",
    usage,
    ...(p.positional !== undefined ? ["", ...wrap(`${p.positional.name}: ${p.positional.description}`, 2)] : []),
    "",
    "Options:",
    ...[...docs(p), HELP, VERSION].flatMap(flagLines),
    ...(p.notes ?? []).flatMap((n) => ["", ...wrap(n, 0)])
  ]
  return lines.join("\n") + "\n"
}

// --- errors --------------------------------------------------------------------------------

/** A command line that cannot run: one line, naming the flag or variable. */
export class UsageError {
  readonly _tag = "UsageError"
  constructor(readonly message: string) {}
}

const levenshtein = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]!
}

const valueProblem = (d: FlagDoc, value: string): string | undefined => {
  if (d.choices !== undefined && !d.choices.includes(value)) return `expected one of ${d.choices.join(", ")}`
  if (d.integer === true && !/^-?\d+$/.test(value)) return "expected an integer"
  return undefined
}

/**
 * What is wrong with the command line or the flags' environment variables,
 * before @effect/cli parses them: unknown flags, a missing value, a value
 * not among the choices or not an integer.
 */
export const check = (flags: ReadonlyArray<FlagDoc>, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, positional: boolean): UsageError | undefined => {
  const byName = new Map(flags.map((d) => [d.name, d]))
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") break
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=")
      const name = arg.slice(2, eq < 0 ? undefined : eq)
      const d = byName.get(name)
      if (d === undefined) {
        const near = [...byName.keys()].filter((n) => levenshtein(n, name) <= 2)
        return new UsageError(`unknown flag --${name}${near.length > 0 ? `; did you mean --${near[0]}?` : ""}`)
      }
      if (d.value === undefined) continue
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i]
      if (value === undefined) return new UsageError(`--${name} needs a value: ${d.value}`)
      const problem = valueProblem(d, value)
      if (problem !== undefined) return new UsageError(`--${name} ${JSON.stringify(value)}: ${problem}`)
    } else if (/^-[A-Za-z]/.test(arg)) {
      return new UsageError(`unknown flag ${arg}`)
    } else if (!positional) {
      return new UsageError(`unexpected argument ${JSON.stringify(arg)}`)
    } else break
  }
  for (const d of flags) {
    const value = d.env === undefined ? undefined : env[d.env]
    if (value === undefined || d.value === undefined) continue
    const problem = valueProblem(d, value)
    if (problem !== undefined) return new UsageError(`${d.env}=${JSON.stringify(value)}: ${problem} (as --${d.name})`)
  }
  return undefined
}

/** Says what is wrong with the command line, on one line on stderr, and answers exit status 2. */
export const usageFailure = (program: string, message: string): Effect.Effect<ExitStatus> =>
  Effect.sync(() => {
    process.stderr.write(`${program}: ${message} (${program} --help lists the flags)\n`)
    return new ExitStatus(2)
  })

/** @effect/cli's error text as one line. */
const oneLine = (e: ValidationError.ValidationError): string =>
  stripVTControlCharacters(HelpDoc.toAnsiText(e.error)).replace(/\s+/g, " ").trim()

// --- running -------------------------------------------------------------------------------

export type Parsed<A> =
  | { readonly _tag: "Run"; readonly flags: A; readonly positional: ReadonlyArray<string> }
  | { readonly _tag: "Exit"; readonly code: number }

const write = (stream: NodeJS.WriteStream, text: string) => Effect.sync(() => void stream.write(text))

/**
 * The flags of `args` (the command line without node and the script), or,
 * after printing help, the version or a usage error, the exit status.
 */
export const parse = <A>(p: Program<A>, args: ReadonlyArray<string>): Effect.Effect<Parsed<A>, never, FileSystem | Path | Terminal> =>
  Effect.gen(function*() {
    const end = args.indexOf("--")
    const options = end < 0 ? args : args.slice(0, end)
    if (options.includes("--help") || options.includes("-h")) {
      yield* write(process.stdout, helpText(p))
      return { _tag: "Exit", code: 0 } as const
    }
    if (options.includes("--version")) {
      yield* write(process.stdout, versionLine(p) + "\n")
      return { _tag: "Exit", code: 0 } as const
    }
    const usage = (message: string) => Effect.as(usageFailure(p.name, message), { _tag: "Exit", code: 2 } as const)
    const problem = check(docs(p), args, process.env, p.positional !== undefined)
    if (problem !== undefined) return yield* usage(problem.message)
    const record = Object.fromEntries(Object.entries<Flag<unknown>>(p.flags as Record<string, Flag<unknown>>).map(([k, f]) => [k, f.options]))
    const all = Options.all(record) as unknown as Options.Options<A>
    const parsed = yield* Effect.either(Options.processCommandLine(all, options, CliConfig.make({ isCaseSensitive: true })))
    if (Either.isLeft(parsed)) return yield* usage(oneLine(parsed.left))
    const [error, rest, flags] = parsed.right
    if (Option.isSome(error)) return yield* usage(oneLine(error.value))
    const positional = [...rest, ...(end < 0 ? [] : args.slice(end + 1))]
    if (p.positional === undefined && positional.length > 0) return yield* usage(`unexpected argument ${JSON.stringify(positional[0])}`)
    return { _tag: "Run", flags, positional } as const
  })

/**
 * Runs `main` with the flags of the command line (`process.argv`), or exits
 * after help, the version or a usage error (status 2).
 */
export const run = <A, E, R>(
  p: Program<A>,
  main: (flags: A, positional: ReadonlyArray<string>) => Effect.Effect<ExitStatus | void, E, R>,
  argv: ReadonlyArray<string> = process.argv.slice(2)
): Effect.Effect<ExitStatus | void, E, R | FileSystem | Path | Terminal> =>
  Effect.flatMap(parse(p, argv), (parsed) => parsed._tag === "Exit" ? Effect.succeed(new ExitStatus(parsed.code)) : main(parsed.flags, parsed.positional))

// --- the flags every daemon has ----------------------------------------------------------------

export const logLevelFlag = (env: string) =>
  choice({
    name: "log-level",
    value: "LEVEL",
    choices: ["debug", "info", "warn", "error"],
    description: "lowest level of the log lines written on stdout",
    env,
    default: "info"
  })

export const logFormatFlag = (env: string) =>
  choice({
    name: "log-format",
    value: "FORMAT",
    choices: ["json", "text"],
    description: "log lines as JSON objects, or as text: time level event key=value...",
    env,
    default: Log.defaultFormat(),
    shown: "text on a terminal, else json"
  })
