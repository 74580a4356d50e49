/**
 * Running one command line, in either mode: parse it against the tree
 * (Commands.ts), run what it names, and write the outcome — text, JSON, or a
 * stream of events — to the terminal. The shell and one-shot mode share this,
 * so a command prints the same in both, and fails the same way.
 */
import { Effect, Option, Stream } from "effect"
import * as Commands from "./Commands.js"
import { type CommandError, type Outcome, Session, UsageError } from "./Commands.js"
import * as Format from "./Format.js"
import { wrap } from "../internal/CommandLine.js"
import * as Tree from "./Tree.js"

const usage = (e: Tree.WalkError<Commands.ServerError>): CommandError =>
  e._tag === "Lookup" ? e.error : new UsageError({ message: Tree.describeError(e, (l: Commands.ServerError) => l.message), index: e.index })

/** Parses and runs one command line. */
export const execute = (line: string | ReadonlyArray<string>): Effect.Effect<Outcome, CommandError, Session> =>
  Tree.parse(Commands.tree, line).pipe(
    Effect.mapError(usage),
    Effect.flatMap((p) => p.run(p.bound))
  )

/** Where `help` starts what a command does; a longer command has it on the next line. */
const HELP_COLUMN = 36

/** `help`: every command with what it does, within 80 columns. */
export const helpText = (style: Format.Style): string =>
  Tree.synopsis(Commands.tree).map((s) => {
    const what = wrap(s.help, HELP_COLUMN)
    const command = Format.paint.label(s.line, style)
    return s.line.length + 2 <= HELP_COLUMN
      ? [command + " ".repeat(HELP_COLUMN - s.line.length) + what[0]!.trimStart(), ...what.slice(1)]
      : [...wrap(s.line, 0).map((l) => (l === s.line ? command : l)), ...what]
  }).flat().join("\n") + "\n"

/** JSON as scripts read it: bigints as decimal strings, as the API sends them. */
export const toJson = (value: unknown, indent?: number): string =>
  JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), indent)

export interface Output {
  readonly write: (text: string) => Effect.Effect<void>
}

/** Standard output. */
export const stdout: Output = { write: (text) => Effect.sync(() => void process.stdout.write(text)) }

/**
 * Completes when a key is pressed on the terminal (Ctrl-C included: the
 * terminal is raw meanwhile); never when standard input is not a terminal.
 */
export const anyKey: Effect.Effect<void> = Effect.suspend(() => {
  const stdin = process.stdin
  if (stdin.isTTY !== true) return Effect.never
  return Effect.acquireUseRelease(
    Effect.sync(() => {
      stdin.setRawMode(true)
      stdin.resume()
    }),
    () => Effect.async<void>((resume) => {
      const onData = () => resume(Effect.void)
      stdin.once("data", onData)
      return Effect.sync(() => void stdin.off("data", onData))
    }),
    () =>
      Effect.sync(() => {
        stdin.setRawMode(false)
        stdin.pause()
      })
  )
})

/** An error as one (red) line. */
export const errorText = (message: string, color: boolean): string =>
  Format.paint.error(`error: ${message}`, { color, now: Date.now() }) + "\n"

/** Writes an error on standard error. */
export const fail = (message: string, color: boolean): Effect.Effect<void> =>
  Effect.sync(() => void process.stderr.write(errorText(message, color)))

/** The exit status for a failed command: 2 for the command line, 1 for the server. */
export const exitStatus = (e: CommandError): number => (e._tag === "UsageError" ? 2 : 1)

/**
 * Writes an outcome. A `Watch` runs until `num` events were written or
 * `stop` completes (a key, Ctrl-C); `failed` (a check that found errors)
 * becomes a ServerError after the text is out.
 */
export const render = (
  outcome: Outcome,
  out: Output,
  options: {
    /** Ends a watch (a key, Ctrl-C). */
    readonly stop?: Effect.Effect<void> | undefined
    /** Runs once the server has taken the watch (its snapshot came), before any event. */
    readonly watching?: Effect.Effect<void> | undefined
  } = {}
): Effect.Effect<"quit" | "done", CommandError, Session> =>
  Effect.gen(function*() {
    const session = yield* Session
    const style = () => Commands.styleOf(session)
    switch (outcome._tag) {
      case "Quit":
        return "quit"
      case "Help":
        yield* out.write(session.json ? toJson(Tree.synopsis(Commands.tree), 2) + "\n" : helpText(style()))
        return "done"
      case "Print":
        yield* out.write(session.json ? toJson(outcome.json, 2) + "\n" : outcome.text)
        if (outcome.failed !== undefined) return yield* new Commands.ServerError({ message: outcome.failed })
        return "done"
      case "Watch": {
        const lines = outcome.events.pipe(
          // The snapshot is not shown: it only says the watch is on.
          Stream.tap((e) => (e._tag === "Hydrate" ? (options.watching ?? Effect.void) : Effect.void)),
          Stream.filterMap((e) =>
            e._tag === "Hydrate"
              ? Option.none()
              : session.json
              ? Option.some(toJson(e))
              : Option.fromNullable(Format.watchEventText(e, style()))
          ),
          outcome.num === undefined ? (s) => s : Stream.take(outcome.num)
        )
        yield* Effect.raceFirst(Stream.runForEach(lines, (l) => out.write(l + "\n")), options.stop ?? Effect.never)
        return "done"
      }
    }
  })

/**
 * Runs one line as one-shot mode does: the outcome on stdout, a failure as one
 * error line on stderr (after `context`, e.g. the script's line number).
 * Answers the exit status, or "quit".
 */
export const runLine = (
  line: string | ReadonlyArray<string>,
  options: { readonly stop?: Effect.Effect<void>; readonly context?: string } = {}
): Effect.Effect<number | "quit", never, Session> =>
  Effect.flatMap(Session, (session) =>
    execute(line).pipe(
      Effect.flatMap((outcome) => render(outcome, stdout, { stop: options.stop })),
      Effect.map((done) => (done === "quit" ? "quit" : 0)),
      Effect.catchAll((e) =>
        Effect.as(fail(options.context === undefined ? e.message : `${options.context}: ${e.message}`, session.color), exitStatus(e))
      )
    ))
