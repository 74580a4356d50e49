/**
 * A probe thread (ProbeThreads.ts has the why and the protocol): an Effect
 * runtime whose one job is to start the probes the main thread asks for at
 * their due time, with this thread's own loop-lag monitor, and to send their
 * outcomes back, batched per event-loop turn.
 */
import { Effect } from "effect"
import { parentPort } from "node:worker_threads"
import type { HealthCheck } from "../../config/Config.js"
import type { ProbeOutcome } from "../SelfLate.js"
import { ScheduledStart } from "./internal/Deadline.js"
import { LoopLag, type ProbeTarget, startProbe } from "./Probe.js"
import {
  BIND_SLOTS,
  CANCEL_SLOTS,
  checkFromWire,
  encodeOutcome,
  type FromWorker,
  REQUEST_SLOTS,
  type ToWorker
} from "./ProbeThreads.js"

const LAG_WINDOW_MS = 10_000

const ignore = (): void => {}

/**
 * A slot of the main thread's (one backend's target, ProbeThreads.ts): its
 * target and its round's state, reused round after round, so that a round
 * allocates nothing here that outlives its probe.
 */
class Slot {
  target: ProbeTarget | undefined = undefined
  /** The main thread's number for the round in flight. */
  round = -1
  readonly scheduled: ScheduledStart

  constructor(
    readonly id: number,
    lag: LoopLag,
    private readonly report: (slot: Slot, outcome: ProbeOutcome) => void
  ) {
    // The start's lateness stays in `scheduled.startLateMs` and goes back with the outcome.
    this.scheduled = new ScheduledStart((deliver) => startProbe(this.target!, deliver, lag), ignore)
  }

  readonly deliver = (outcome: ProbeOutcome): void => this.report(this, outcome)
}

const serve = Effect.gen(function*() {
  const port = parentPort
  if (port === null) return yield* Effect.dieMessage("ProbeWorker runs on a worker thread")
  const lag = new LoopLag()
  yield* Effect.acquireRelease(Effect.sync(() => lag.start()), () => Effect.sync(() => lag.stop()))
  const checks = new Map<number, HealthCheck>()
  const slots: Array<Slot | undefined> = []
  let done: Array<number | string> = []
  let flushScheduled = false
  const flush = () => {
    flushScheduled = false
    const message: FromWorker = { done }
    done = []
    port.postMessage(message)
  }
  const report = (slot: Slot, outcome: ProbeOutcome) => {
    encodeOutcome(done, slot.id, slot.round, outcome, slot.scheduled.startLateMs)
    slot.round = -1
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }
  const bind = (id: number, check: number, address: string, netns: string) => {
    const healthcheck = checks.get(check)
    if (healthcheck === undefined) throw new Error(`slot ${id}: no check ${check}`)
    let slot = slots[id]
    if (slot === undefined) {
      slot = new Slot(id, lag, report)
      slots[id] = slot
    }
    slot.scheduled.cancel()
    slot.round = -1
    slot.target = { address, netns, healthcheck }
  }
  const start = (id: number, round: number, due: number, skipIfLateMs: number) => {
    const slot = slots[id]
    if (slot === undefined || slot.target === undefined) throw new Error(`probe of slot ${id}: no target`)
    // One round of a slot at a time: the main thread has cancelled the one before.
    slot.scheduled.cancel()
    slot.round = round
    slot.scheduled.schedule(due - Date.now(), skipIfLateMs < 0 ? undefined : skipIfLateMs, slot.deliver)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const onMessage = (m: ToWorker) => {
        if (m.checks !== undefined) for (const [id, wire] of m.checks) checks.set(id, checkFromWire(wire))
        const c = m.cancel
        if (c !== undefined) {
          for (let at = 0; at < c.length; at += CANCEL_SLOTS) {
            const slot = slots[c[at]!]
            if (slot !== undefined && slot.round === c[at + 1]) {
              slot.scheduled.cancel()
              slot.round = -1
            }
          }
        }
        const b = m.bind
        if (b !== undefined) {
          for (let at = 0; at < b.length; at += BIND_SLOTS) {
            bind(b[at] as number, b[at + 1] as number, b[at + 2] as string, b[at + 3] as string)
          }
        }
        const s = m.start
        if (s !== undefined) {
          for (let at = 0; at < s.length; at += REQUEST_SLOTS) {
            // -1: cancelled before it was sent.
            if (s[at + 1]! >= 0) start(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!)
          }
        }
      }
      port.on("message", onMessage)
      const lagReport = setInterval(() => port.postMessage({ lagMs: lag.maxSince(performance.now() - LAG_WINDOW_MS) } satisfies FromWorker), 1000)
      return { onMessage, lagReport }
    }),
    ({ lagReport, onMessage }) =>
      Effect.sync(() => {
        clearInterval(lagReport)
        port.off("message", onMessage)
      })
  )
  return yield* Effect.never
})

Effect.runFork(Effect.scoped(serve))
