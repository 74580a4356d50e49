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
import { LoopLag, startScheduledProbe } from "./Probe.js"
import {
  checkFromWire,
  encodeOutcome,
  type FromWorker,
  REQUEST_SLOTS,
  type ToWorker
} from "./ProbeThreads.js"

const LAG_WINDOW_MS = 10_000

const serve = Effect.gen(function*() {
  const port = parentPort
  if (port === null) return yield* Effect.dieMessage("ProbeWorker runs on a worker thread")
  const lag = new LoopLag()
  yield* Effect.acquireRelease(Effect.sync(() => lag.start()), () => Effect.sync(() => lag.stop()))
  const checks = new Map<number, HealthCheck>()
  const live = new Map<number, () => void>()
  let done: Array<number | string> = []
  let flushScheduled = false
  const flush = () => {
    flushScheduled = false
    const message: FromWorker = { done }
    done = []
    port.postMessage(message)
  }
  const start = (id: number, check: number, address: string, netns: string, due: number, skipIfLateMs: number) => {
    const healthcheck = checks.get(check)
    if (healthcheck === undefined) throw new Error(`probe ${id}: no check ${check}`)
    let startLateMs = 0
    const deliver = (outcome: ProbeOutcome) => {
      if (!live.delete(id)) return
      encodeOutcome(done, id, outcome, startLateMs)
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    }
    live.set(id, () => {})
    const cancel = startScheduledProbe({ address, netns, healthcheck }, {
      startAt: due,
      skipIfLateMs: skipIfLateMs < 0 ? undefined : skipIfLateMs,
      lag,
      observeLate: (ms) => {
        startLateMs = ms
      }
    }, deliver)
    // A probe that answered synchronously (a bad address) is already out of `live`.
    if (live.has(id)) live.set(id, cancel)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const onMessage = (m: ToWorker) => {
        if (m.checks !== undefined) for (const [id, wire] of m.checks) checks.set(id, checkFromWire(wire))
        const s = m.start
        if (s !== undefined) {
          for (let at = 0; at < s.length; at += REQUEST_SLOTS) {
            start(s[at] as number, s[at + 1] as number, s[at + 2] as string, s[at + 3] as string, s[at + 4] as number, s[at + 5] as number)
          }
        }
        if (m.cancel !== undefined) {
          for (const id of m.cancel) {
            const cancel = live.get(id)
            live.delete(id)
            cancel?.()
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
