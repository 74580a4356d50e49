/**
 * maglevc's interactive shell, and its script mode (commands read from a
 * pipe, one per line).
 *
 * The shell is Node's readline (editing, history, Tab through `completer`)
 * behind a key router: readline reads its keys from a private stream that
 * the router feeds from the terminal's keypresses, so the shell can take
 * some keys for itself:
 * - `?` prints the help for the word at the cursor and leaves the line as it
 *   was (birdc-style: the line stays on screen, `?` is not inserted);
 * - Ctrl-C abandons the line, and whatever is in progress: the running
 *   command, or the server's answer a `?` or a Tab waits for;
 * - while `watch events` runs, any key stops it;
 * - keys typed while a command runs wait for the next prompt.
 *
 * History is kept in `~/.maglevc_history`, oldest first, at most 1,000 lines.
 */
import { Deferred, Effect, Exit, type Fiber, FiberId, Queue, Runtime } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { PassThrough } from "node:stream"
import * as Version from "../Version.js"
import * as Commands from "./Commands.js"
import { type CommandError, serverError, Session, styleOf } from "./Commands.js"
import * as Format from "./Format.js"
import { errorText, execute, render, runLine, stdout } from "./Run.js"
import * as Tree from "./Tree.js"

export const PROMPT = "maglev> "
export const HISTORY_SIZE = 1000

export const historyFile = (): string => path.join(os.homedir(), ".maglevc_history")

/** The saved history, newest first (as readline wants it); none when the file is missing or unreadable. */
export const loadHistory = (file: string): Array<string> => {
  try {
    return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").slice(-HISTORY_SIZE).reverse()
  } catch {
    return []
  }
}

/** Writes readline's history (newest first) to the file, oldest first; a failure costs only the history. */
export const saveHistory = (file: string, newestFirst: ReadonlyArray<string>): void => {
  try {
    fs.writeFileSync(file, [...newestFirst].slice(0, HISTORY_SIZE).reverse().join("\n") + "\n", { mode: 0o600 })
  } catch {
    // a read-only home: the shell works without history
  }
}

/** The help at the cursor: what may come there, and whether the line may end. */
export const helpAt = (choices: Tree.Choices<Commands.ServerError>, style: Format.Style): string => {
  if (choices.error !== undefined) {
    return errorText(Tree.describeError(choices.error, (e) => e.message), style.color)
  }
  const rows = choices.entries.map((e) => [e.label, e.help])
  if (choices.canEnd && choices.partial === "") rows.push(["<cr>", "run the command"])
  if (rows.length === 0) return Format.paint.dim(`nothing here starts with "${choices.partial}"`, style) + "\n"
  let text = Format.table(["", ""], rows, style).split("\n").slice(1).join("\n")
  const values = choices.completions.filter((c) => !choices.entries.some((e) => e.label === c))
  if (values.length > 0) {
    const shown = values.slice(0, 40).join(" ") + (values.length > 40 ? ` ... (${values.length})` : "")
    text += Format.paint.label("values:", style) + " " + shown + "\n"
  }
  return text
}

/** A caret under the word a usage error points at. */
const caret = (line: string, index: number | undefined): string => {
  if (index === undefined) return ""
  const w = Tree.words(line)[index]
  const column = PROMPT.length + (w === undefined ? line.trimEnd().length + 1 : w.start)
  return " ".repeat(column) + "^\n"
}

type Key = { readonly name?: string; readonly ctrl?: boolean; readonly meta?: boolean; readonly sequence?: string }

/** The terminal's input as the router sees it. */
type Mode =
  | { readonly _tag: "Edit" }
  | { readonly _tag: "Busy"; readonly interrupt: () => void; readonly pending: Array<[string | undefined, Key]> }
  | { readonly _tag: "Watch"; readonly stop: () => void }

const isCtrlC = (key: Key) => key.ctrl === true && key.name === "c"

/** The interactive shell on the terminal: its exit status (always 0: errors were shown). */
export const interactive: Effect.Effect<number, never, Session> = Effect.gen(function*() {
  const session = yield* Session
  const runtime = yield* Effect.runtime<Session>()
  const runFork = Runtime.runFork(runtime)
  const style = () => styleOf(session)
  const out = stdout

  const [client, banner] = yield* Effect.all([Version.build, Effect.either(Effect.mapError(session.client.GetVersion(), serverError(session.url)))], {
    concurrency: 2
  })
  yield* out.write(Format.versionText(client, banner._tag === "Right" ? banner.right : undefined, session.url, style()))
  if (banner._tag === "Left") yield* out.write(errorText(banner.left.message, session.color))
  yield* out.write(Format.paint.dim("Tab completes, ? shows what may come next, help lists the commands, Ctrl-D leaves.", style()) + "\n")

  const lines = yield* Queue.unbounded<string | null>()
  const file = historyFile()
  const stdin = process.stdin

  let mode: Mode = { _tag: "Edit" }
  /** Tab's lookups in progress (a live slot asks the server): Ctrl-C abandons them. */
  const completing = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  const editorInput = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: (raw: boolean) => {
      if (stdin.isTTY) stdin.setRawMode(raw)
    }
  })

  const rl = yield* Effect.acquireRelease(
    Effect.sync(() =>
      readline.createInterface({
        input: editorInput,
        output: process.stdout,
        terminal: true,
        prompt: PROMPT,
        history: loadHistory(file),
        historySize: HISTORY_SIZE,
        removeHistoryDuplicates: true,
        completer: (line: string, callback: (err: Error | null, result: [Array<string>, string]) => void) => {
          const lookup = runFork(Tree.choices(Commands.tree, line))
          completing.add(lookup)
          lookup.addObserver((exit) => {
            completing.delete(lookup)
            // Abandoned by Ctrl-C (or failed): nothing to insert.
            if (Exit.isFailure(exit)) return callback(null, [[], line])
            const c = exit.value
            const hits = c.completions.length === 1 ? [c.completions[0] + " "] : [...c.completions]
            callback(null, [hits, c.partial])
          })
        }
      })
    ),
    (rl) => Effect.sync(() => rl.close())
  )
  rl.on("history", (h: Array<string>) => saveHistory(file, h))
  rl.on("line", (line: string) => {
    mode = { _tag: "Busy", interrupt: () => {}, pending: [] }
    lines.unsafeOffer(line)
  })
  rl.on("close", () => lines.unsafeOffer(null))

  const toEditor = (s: string | undefined, key: Key) => editorInput.emit("keypress", s, key)

  /** Back to editing: the prompt, with the line kept, and the keys typed meanwhile. */
  const resume = (preserve: boolean) => {
    const pending = mode._tag === "Busy" ? mode.pending : []
    mode = { _tag: "Edit" }
    rl.prompt(preserve)
    for (const [s, key] of pending) route(s, key)
  }

  /** Ctrl-C at the prompt: the line is dropped, and a fresh prompt follows. */
  const dropLine = () => {
    toEditor(undefined, { name: "e", ctrl: true, sequence: "\x05" })
    process.stdout.write("^C\n")
    toEditor(undefined, { name: "u", ctrl: true, sequence: "\x15" })
  }

  /**
   * `?`: the help for the word at the cursor, which may ask the server (a
   * live slot). The `?` shows at once; until the answer, the shell is busy,
   * and Ctrl-C abandons the lookup and the line, as at the prompt.
   */
  const help = () => {
    const before = rl.line.slice(0, rl.cursor)
    toEditor(undefined, { name: "e", ctrl: true, sequence: "\x05" })
    process.stdout.write("?")
    const lookup = runFork(Tree.choices(Commands.tree, before))
    const busy: Mode = {
      _tag: "Busy",
      interrupt: () => {
        lookup.unsafeInterruptAsFork(FiberId.none)
        dropLine()
        resume(false)
      },
      pending: []
    }
    mode = busy
    lookup.addObserver((exit) => {
      if (mode !== busy) return // abandoned by Ctrl-C
      process.stdout.write("\n")
      if (Exit.isSuccess(exit)) process.stdout.write(helpAt(exit.value, style()))
      resume(true)
    })
  }

  const route = (s: string | undefined, key: Key) => {
    switch (mode._tag) {
      case "Watch":
        return mode.stop()
      case "Busy":
        if (isCtrlC(key)) return mode.interrupt()
        mode.pending.push([s, key])
        return
      case "Edit":
        if (s === "?" && key.ctrl !== true && key.meta !== true) return help()
        if (isCtrlC(key)) {
          for (const f of completing) f.unsafeInterruptAsFork(FiberId.none)
          return dropLine()
        }
        return toEditor(s, key)
    }
  }

  yield* Effect.acquireRelease(
    Effect.sync(() => {
      readline.emitKeypressEvents(stdin)
      if (stdin.isTTY) stdin.setRawMode(true)
      stdin.on("keypress", route)
      stdin.resume()
    }),
    () =>
      Effect.sync(() => {
        stdin.off("keypress", route)
        if (stdin.isTTY) stdin.setRawMode(false)
        stdin.pause()
      })
  )

  rl.prompt()
  for (;;) {
    const line = yield* Queue.take(lines)
    if (line === null) {
      yield* out.write("\n")
      return 0
    }
    if (line.trim() === "") {
      resume(false)
      continue
    }
    const interrupted = yield* Deferred.make<void>()
    if (mode._tag === "Busy") {
      const pending: Array<[string | undefined, Key]> = mode.pending
      mode = { _tag: "Busy", interrupt: () => Deferred.unsafeDone(interrupted, Exit.void), pending }
    }
    const run = execute(line).pipe(
      Effect.flatMap((outcome) => {
        if (outcome._tag !== "Watch") return render(outcome, out)
        const stopped = Deferred.unsafeMake<void>(FiberId.none)
        return Effect.zipRight(
          Effect.sync(() => {
            mode = { _tag: "Watch", stop: () => Deferred.unsafeDone(stopped, Exit.void) }
          }),
          render(outcome, out, {
            stop: Deferred.await(stopped),
            watching: Effect.sync(() => process.stdout.write(Format.paint.dim("watching; any key stops", style()) + "\n"))
          })
        )
      }),
      Effect.catchAll((e: CommandError) =>
        Effect.as(out.write(caret(line, e._tag === "UsageError" ? e.index : undefined) + errorText(e.message, session.color)), "done" as const)
      )
    )
    const result = yield* Effect.raceFirst(run, Effect.as(Deferred.await(interrupted), "interrupted" as const))
    if (result === "quit") return 0
    if (result === "interrupted") yield* out.write("^C\n")
    if ((mode as Mode)._tag === "Watch") mode = { _tag: "Busy", interrupt: () => {}, pending: [] }
    resume(false)
  }
}).pipe(Effect.scoped)

/**
 * Commands from a pipe, one per line (blank lines and `#` comments skipped):
 * each runs as in one-shot mode; the exit status is the worst of them.
 */
export const script: Effect.Effect<number, never, Session> = Effect.gen(function*() {
  const text = yield* Effect.promise(async () => {
    const chunks: Array<Buffer> = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString("utf8")
  })
  let status = 0
  for (const [n, raw] of text.split("\n").entries()) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const result = yield* runLine(line, { context: `line ${n + 1}` })
    if (result === "quit") break
    status = Math.max(status, result)
  }
  return status
})
