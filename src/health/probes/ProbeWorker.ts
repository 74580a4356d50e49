/**
 * A probe thread (ProbeThreads.ts has the why and the protocol): it starts
 * the probes the main thread asks for at their due time, with this thread's
 * own loop-lag monitor, and sends their outcomes back, batched per event-loop
 * turn.
 *
 * Plain callbacks, not an Effect runtime: nothing here needs one (a probe is
 * callbacks all the way: internal/Scheduled.ts), and a thread that loads
 * Effect carries its modules in a heap of its own: 20-22 MB of RSS per
 * thread, a tenth of the daemon's at 10,000 backends (docs/health.md,
 * "Scale"). The thread lives as long as the main thread keeps it (it
 * terminates it at close), so there is no scope to close here.
 */
import { parentPort } from "node:worker_threads"
import { startMemoryLog } from "../../internal/MemoryLog.js"
import { LoopLag } from "./internal/LoopLag.js"
import {
  BIND_SLOTS,
  CANCEL_SLOTS,
  type CheckWire,
  encodeOutcome,
  type FromWorker,
  fromMicros,
  REQUEST_SLOTS,
  type ToWorker
} from "./internal/ProbeWire.js"
import { ScheduledStart } from "./internal/Scheduled.js"
import { startCheckProbe } from "./internal/StartProbe.js"
import type { ProbeOutcome } from "../SelfLate.js"

const LAG_WINDOW_MS = 10_000

const ignore = (): void => {}

interface Target {
  readonly address: string
  readonly netns: string
  readonly check: CheckWire
}

/**
 * A slot of the main thread's (one backend's target, ProbeThreads.ts): its
 * target and its round's state, reused round after round, so that a round
 * allocates nothing here that outlives its probe.
 */
class Slot {
  target: Target | undefined = undefined
  /** The main thread's number for the round in flight. */
  round = -1
  /** The detail last sent for this slot (since its target was bound): the main thread keeps it too. */
  detail: string | undefined = undefined
  readonly scheduled: ScheduledStart

  constructor(
    readonly id: number,
    lag: LoopLag,
    private readonly report: (slot: Slot, outcome: ProbeOutcome) => void
  ) {
    // The start's lateness stays in `scheduled.startLateMs` and goes back with the outcome.
    this.scheduled = new ScheduledStart((deliver) => {
      const t = this.target!
      return startCheckProbe(t.address, t.netns, t.check, deliver, lag)
    }, ignore)
  }

  readonly deliver = (outcome: ProbeOutcome): void => this.report(this, outcome)
}

const serve = (port: NonNullable<typeof parentPort>): void => {
  const lag = new LoopLag()
  lag.start()
  const checks = new Map<number, CheckWire>()
  const slots: Array<Slot | undefined> = []
  let done: Array<number> = []
  let details: Array<string> = []
  let flushScheduled = false
  const flush = () => {
    flushScheduled = false
    const message: FromWorker = details.length > 0 ? { done, details } : { done }
    done = []
    details = []
    port.postMessage(message)
  }
  const report = (slot: Slot, outcome: ProbeOutcome) => {
    let detailAt = -1
    if (!("_tag" in outcome) && outcome.detail !== slot.detail) {
      slot.detail = outcome.detail
      detailAt = details.push(outcome.detail) - 1
    }
    encodeOutcome(done, slot.id, slot.round, outcome, detailAt, slot.scheduled.startLateMs)
    slot.round = -1
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }
  const bind = (id: number, checkId: number, address: string, netns: string) => {
    const check = checks.get(checkId)
    if (check === undefined) throw new Error(`slot ${id}: no check ${checkId}`)
    let slot = slots[id]
    if (slot === undefined) {
      slot = new Slot(id, lag, report)
      slots[id] = slot
    }
    slot.scheduled.cancel()
    slot.round = -1
    slot.detail = undefined
    slot.target = { address, netns, check }
  }
  const start = (id: number, round: number, due: number, skipIfLateMs: number) => {
    const slot = slots[id]
    if (slot === undefined || slot.target === undefined) throw new Error(`probe of slot ${id}: no target`)
    // One round of a slot at a time: the main thread has cancelled the one before.
    slot.scheduled.cancel()
    slot.round = round
    slot.scheduled.schedule(due - Date.now(), skipIfLateMs < 0 ? undefined : skipIfLateMs, slot.deliver)
  }
  port.on("message", (m: ToWorker) => {
    if (m.checks !== undefined) for (const [id, wire] of m.checks) checks.set(id, wire)
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
      const base = m.base ?? 0
      for (let at = 0; at < s.length; at += REQUEST_SLOTS) {
        // -1: cancelled before it was sent.
        if (s[at + 1]! >= 0) start(s[at]!, s[at + 1]!, base + fromMicros(s[at + 2]!), s[at + 3]! < 0 ? -1 : fromMicros(s[at + 3]!))
      }
    }
  })
  setInterval(() => port.postMessage({ lagMs: lag.maxSince(performance.now() - LAG_WINDOW_MS) } satisfies FromWorker), 1000)
}

if (parentPort === null) throw new Error("ProbeWorker runs on a worker thread")
serve(parentPort)
// VPP_MAGLEV_MEMORY_LOG: this thread's heap, beside the main thread's lines.
startMemoryLog("probe-thread")
