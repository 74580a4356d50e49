/**
 * The terminal, for the full-screen view: the alternate screen buffer with
 * the cursor hidden and standard input in raw mode, restored when the scope
 * closes (quit, Ctrl-C, or a failure); the keys typed; its size and resizes.
 */
import { Effect, type Scope, Stream } from "effect"

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"
const LEAVE = "\x1b[?25h\x1b[?1049l"

export interface Size {
  readonly width: number
  readonly height: number
}

export const size = (): Size => ({ width: process.stdout.columns || 80, height: process.stdout.rows || 24 })

/** Takes over the screen until the scope closes. */
export const fullScreen: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    process.stdout.write(ENTER)
    if (process.stdin.isTTY === true) {
      process.stdin.setRawMode(true)
      process.stdin.resume()
    }
  }),
  () =>
    Effect.sync(() => {
      if (process.stdin.isTTY === true) {
        process.stdin.setRawMode(false)
        process.stdin.pause()
      }
      process.stdout.write(LEAVE)
    })
)

/** `q`, `Q` or Ctrl-C (a byte in raw mode, not a signal). */
export const isQuit = (data: string): boolean => /[qQ\x03]/.test(data)

/** What was typed, as text chunks; nothing when standard input is not a terminal. */
export const keys: Stream.Stream<string> = Stream.suspend(() =>
  process.stdin.isTTY !== true
    ? Stream.never
    : Stream.async<string>((emit) => {
      const onData = (d: Buffer) => void emit.single(d.toString("utf8"))
      process.stdin.on("data", onData)
      return Effect.sync(() => void process.stdin.off("data", onData))
    })
)

/** One element each time the terminal is resized. */
export const resizes: Stream.Stream<void> = Stream.async<void>((emit) => {
  const onResize = () => void emit.single(undefined)
  process.stdout.on("resize", onResize)
  return Effect.sync(() => void process.stdout.off("resize", onResize))
})
