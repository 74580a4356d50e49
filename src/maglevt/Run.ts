/**
 * maglevt running: one probe fiber per VIP (Cadence.ts) feeding a queue, and
 * one fiber that owns the model (Monitor.ts) and shows it, full-screen on a
 * terminal or as plain lines. Every fiber belongs to the caller's scope.
 */
import { Clock, Duration, Effect, Queue, Stream } from "effect"
import { probeForever } from "./Cadence.js"
import { Monitor } from "./Monitor.js"
import type { Outcome } from "./Outcome.js"
import { PlainEvents, reportLine } from "./Plain.js"
import * as Probe from "./Probe.js"
import type { Target } from "./Targets.js"
import * as Terminal from "./Terminal.js"
import { frame } from "./View.js"

/** How often plain mode reports every VIP. */
export const REPORT_PERIOD = Duration.seconds(1)
/** How often the full-screen view is redrawn (also at once on a resize). */
export const REDRAW_PERIOD = Duration.millis(200)

export interface RunOptions {
  readonly targets: ReadonlyArray<Target>
  readonly interval: Duration.Duration
  readonly probe: Probe.ProbeOptions
  readonly color: boolean
  readonly title: string
}

interface Probed {
  readonly index: number
  readonly outcome: Outcome
  readonly at: number
}

/** Starts the probes; their outcomes arrive on the queue. */
const startProbes = Effect.fn("maglevt.startProbes")(function*(o: RunOptions) {
  const queue = yield* Queue.unbounded<Probed>()
  yield* Effect.forEach(o.targets, (target, index) =>
    Effect.flatMap(Probe.make(target, o.probe), (probe) =>
      probeForever(probe, o.interval, (outcome, at) => Queue.offer(queue, { index, outcome, at })).pipe(Effect.forkScoped)))
  return queue
})

const write = (text: string) =>
  Effect.sync(() => {
    if (process.stdout.writable) process.stdout.write(text)
  })

/** Ends when standard output fails: its reader went away (`maglevt | head`, EPIPE). */
const stdoutClosed: Effect.Effect<void> = Effect.async<void>((resume) => {
  const onError = () => resume(Effect.void)
  process.stdout.on("error", onError)
  return Effect.sync(() => void process.stdout.off("error", onError))
})

/** Plain lines, until interrupted or no one reads them. */
export const plain = Effect.fn("maglevt.plain")(function*(o: RunOptions) {
  const monitor = new Monitor(o.targets)
  const events = new PlainEvents()
  const lines = (ls: ReadonlyArray<string>) => write(ls.map((l) => l + "\n").join(""))
  const queue = yield* startProbes(o)
  const probes = Stream.fromQueue(queue).pipe(Stream.map((p) => ({ _tag: "Probed" as const, ...p })))
  const reports = Stream.tick(REPORT_PERIOD).pipe(Stream.drop(1), Stream.map(() => ({ _tag: "Report" as const })))
  yield* Stream.merge(probes, reports).pipe(
    Stream.runForEach((input) =>
      input._tag === "Probed"
        ? lines(events.lines(monitor.record(input.index, input.outcome, input.at)))
        : Effect.flatMap(Clock.currentTimeMillis, (now) => lines([...events.lines(monitor.tick(now)), ...monitor.vips.map((v) => reportLine(v, now))]))
    ),
    Effect.raceFirst(stdoutClosed)
  )
})

type ScreenInput = { readonly _tag: "Probed"; readonly p: Probed } | { readonly _tag: "Redraw" } | { readonly _tag: "Quit" }

/** The full-screen view, until `q` or Ctrl-C. */
export const screen = Effect.fn("maglevt.screen")(function*(o: RunOptions) {
  const monitor = new Monitor(o.targets)
  const queue = yield* startProbes(o)
  yield* Terminal.fullScreen
  const inputs: Stream.Stream<ScreenInput> = Stream.mergeAll(
    [
      Stream.fromQueue(queue).pipe(Stream.map((p): ScreenInput => ({ _tag: "Probed", p }))),
      Stream.tick(REDRAW_PERIOD).pipe(Stream.map((): ScreenInput => ({ _tag: "Redraw" }))),
      Terminal.resizes.pipe(Stream.map((): ScreenInput => ({ _tag: "Redraw" }))),
      Terminal.keys.pipe(Stream.filter(Terminal.isQuit), Stream.map((): ScreenInput => ({ _tag: "Quit" })))
    ],
    { concurrency: "unbounded" }
  )
  yield* inputs.pipe(
    Stream.takeWhile((i) => i._tag !== "Quit"),
    Stream.runForEach((input) => {
      if (input._tag === "Probed") return Effect.sync(() => void monitor.record(input.p.index, input.p.outcome, input.p.at))
      return Effect.flatMap(Clock.currentTimeMillis, (now) => write(frame(monitor, { now, ...Terminal.size(), color: o.color, title: o.title })))
    })
  )
})
