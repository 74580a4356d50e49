/**
 * Probes on worker threads: when one event loop cannot probe every backend
 * on time (10,000 backends a second saturate it), the probes' network work -
 * the due-time timer, the socket, TLS, the HTTP parse, the deadline - runs on
 * `threads` worker threads (ProbeWorker.ts), each an Effect runtime with its
 * own event loop, heap and loop-lag monitor. Everything else stays on the main
 * thread: each backend's fiber, its rounds (Rounds.ts decides what a result
 * means), its cell, the metrics and the state machine. So the design's shape
 * is kept: a supervised fiber per backend, state shared through Refs; only the
 * callback that sends one probe (`StartRound`) crosses a thread.
 *
 * Per probe, one request goes to a worker and one outcome comes back; both
 * are batched per event-loop turn (one postMessage per turn and direction,
 * flushed by setImmediate): small integers only (times in microseconds,
 * internal/ProbeWire.ts says why), and an outcome's detail only when it is
 * not its slot's last. A check's settings go to a worker once,
 * with the first probe that needs them (identical settings share one entry,
 * so reloads do not grow it).
 *
 * The rules stay where they were: a worker enforces the probe's deadline and
 * measures its own loop's lateness (a timeout while the worker was late is
 * not counted: SelfLate.ts), skips a round that starts too late, and sends
 * the start's lateness back for `maglev_probe_start_lateness_seconds`. A
 * worker that dies (a bug) is replaced; its rounds in flight come back as
 * skipped (never counted as failures: the backend did nothing wrong), so
 * each is rescheduled by the usual rule.
 *
 * ICMP probes stay on the main thread (its raw sockets are shared per
 * namespace there: PingSockets.ts).
 */
import type { Worker } from "node:worker_threads"
import type { HealthCheck } from "../../config/Config.js"
import { spawnBeside } from "../../internal/WorkerEntry.js"
import { isPass, PROBE_CODES, probeResult, type ProbeResult } from "../ProbeResult.js"
import type { ProbeRequest } from "../Prober.js"
import { type ProbeOutcome, skipped } from "../SelfLate.js"
import { type CheckWire, fromMicros, OUTCOME_SLOTS, toMicros, type ToWorker, type FromWorker } from "./internal/ProbeWire.js"
import { probeCheckOf } from "./Probe.js"

// --- The protocol (internal/ProbeWire.ts; ProbeWorker.ts is the other side) ---------

export {
  BIND_SLOTS,
  CANCEL_SLOTS,
  type CheckWire,
  type FromWorker,
  OUTCOME_SLOTS,
  REQUEST_SLOTS,
  type ToWorker
} from "./internal/ProbeWire.js"

/** A check's settings as they cross to a probe thread: Probe.ts's plain form, made once per check. */
export const checkWire = (hc: HealthCheck): CheckWire => probeCheckOf(hc)

/**
 * Details as seen before: the structured clone makes a new string of each
 * outcome's detail, and the detail lives in the backend's state until its
 * next round, which at 10,000 backends is long enough to be promoted. The
 * same few texts ("HTTP 200 OK") come back every round: keep one of each.
 */
const DETAILS_KEPT = 4096
const details = new Map<string, string>()
const intern = (detail: string): string => {
  const known = details.get(detail)
  if (known !== undefined) return known
  if (details.size >= DETAILS_KEPT) details.clear()
  details.set(detail, detail)
  return detail
}

/** An outcome from its numbers and the slot's detail (sent only when it changed: the slot keeps it). */
const decodeOutcome = (done: ReadonlyArray<number>, at: number, detail: string): ProbeOutcome => {
  const code = done[at + 2]!
  const ms = fromMicros(done[at + 3]!)
  if (code < 0) return skipped(ms)
  const name = PROBE_CODES[code]!
  const selfLate = done[at + 5]!
  if (selfLate < 0) return probeResult(name, ms, detail)
  // One literal (a spread adding selfLateMs gave every such object a hidden class of its own).
  const result: ProbeResult = { ok: isPass(name), code: name, durationMs: ms, detail, selfLateMs: fromMicros(selfLate) }
  return result
}

// --- The main thread's side --------------------------------------------------------

/**
 * One target's place on a thread, for as long as the target lives (a
 * backend's rounds use one target until its settings change): the worker
 * keeps the target under the slot's id, so a round sends four numbers, and
 * the slot's fields carry the round in flight, so nothing is allocated per
 * round on this side either. Rounds of one slot come one at a time.
 */
class Slot {
  /** The round in flight (a number unique to this process), or -1. */
  round = -1
  deliver: ((outcome: ProbeOutcome) => void) | undefined = undefined
  /** The worker has this slot's target (a new worker has none). */
  bound = false
  /** The detail of this slot's last outcome: the worker sends one only when it changed. */
  detail = ""
  /** Where the round's start waits in `thread.start` (flush `thread.flushes`), to take it back if cancelled before it goes. */
  startAt = -1
  startFlush = -1

  constructor(
    readonly thread: Thread,
    readonly id: number,
    readonly check: number,
    readonly address: string,
    readonly netns: string
  ) {}

  readonly cancel = (): void => {
    if (this.deliver === undefined) return
    const t = this.thread
    this.deliver = undefined
    if (this.startFlush === t.flushes) {
      // Not sent yet: the worker skips it.
      t.start[this.startAt + 1] = -1
    } else {
      t.cancel.push(this.id, this.round)
      scheduleFlushOf(t)
    }
    this.round = -1
  }
}

interface Thread {
  worker: Worker
  readonly index: number
  checks: Set<number>
  pendingChecks: Array<readonly [number, CheckWire]>
  bind: Array<number | string>
  start: Array<number>
  /** The origin of `start`'s due times (epoch ms): the first's, rounded down. */
  startBase: number
  cancel: Array<number>
  /** Messages sent so far. */
  flushes: number
  /** Slots by id; ids of targets gone are reused. */
  readonly slots: Array<Slot | undefined>
  readonly freeIds: Array<number>
  lagMs: number
  /** Asks for a flush at the end of this turn. */
  readonly scheduleFlush: () => void
}

const scheduleFlushOf = (t: Thread): void => t.scheduleFlush()


export interface ProbeThreads {
  /** Starts a probe on a worker (a `StartRound`); returns what cancels it. */
  readonly start: (request: ProbeRequest, deliver: (outcome: ProbeOutcome) => void) => () => void
  /** The largest loop delay any worker reported for the last 10 s, ms. */
  readonly lagMs: () => number
  readonly size: number
  /** The worker threads now (diagnostics and tests). */
  readonly workers: () => ReadonlyArray<Worker>
  /** Stops the workers; rounds in flight are dropped (their fibers are being interrupted). */
  readonly close: () => Promise<void>
}

export interface ProbeThreadsOptions {
  readonly threads: number
  /** A start's lateness, reported by a worker (the main thread's histogram). */
  readonly observeLate: (lateMs: number) => void
  /** A worker exited unexpectedly (it is replaced). */
  readonly onExit: (thread: number, reason: string) => void
  /** Starts one worker; default ProbeWorker beside this module (internal/WorkerEntry.ts). Tests start the bundled one. */
  readonly spawn?: (() => Worker) | undefined
}

export const make = (options: ProbeThreadsOptions): ProbeThreads => {
  const checkIds = new WeakMap<HealthCheck, number>()
  const checkByText = new Map<string, readonly [number, CheckWire]>()
  const checkById = new Map<number, CheckWire>()
  /** Each target's slot; a slot's id goes back to its thread when the target is collected. */
  const slotOf = new WeakMap<ProbeRequest["target"], Slot>()
  const released = new FinalizationRegistry<Slot>((slot) => {
    if (slot.thread.slots[slot.id] !== slot) return
    slot.cancel()
    slot.thread.slots[slot.id] = undefined
    slot.thread.freeIds.push(slot.id)
  })
  let rounds = 0
  let next = 0
  let closed = false
  let flushScheduled = false
  const threads: Array<Thread> = []

  const checkOf = (hc: HealthCheck): number => {
    let id = checkIds.get(hc)
    if (id === undefined) {
      const wire = checkWire(hc)
      const text = JSON.stringify(wire)
      let entry = checkByText.get(text)
      if (entry === undefined) {
        entry = [checkByText.size + 1, wire]
        checkByText.set(text, entry)
        checkById.set(entry[0], wire)
      }
      id = entry[0]
      checkIds.set(hc, id)
    }
    return id
  }

  const flush = () => {
    flushScheduled = false
    for (const t of threads) {
      if (t.start.length === 0 && t.cancel.length === 0) continue
      const message: ToWorker = {
        ...(t.pendingChecks.length > 0 ? { checks: t.pendingChecks } : {}),
        ...(t.cancel.length > 0 ? { cancel: t.cancel } : {}),
        ...(t.bind.length > 0 ? { bind: t.bind } : {}),
        start: t.start,
        base: t.startBase
      }
      t.pendingChecks = []
      t.bind = []
      t.start = []
      t.cancel = []
      t.flushes++
      t.worker.postMessage(message)
    }
  }
  const scheduleFlush = () => {
    if (flushScheduled) return
    flushScheduled = true
    setImmediate(flush)
  }

  const onMessage = (t: Thread) => (message: FromWorker) => {
    if (message.lagMs !== undefined) t.lagMs = message.lagMs
    const done = message.done
    if (done === undefined) return
    const details = message.details
    for (let at = 0; at < done.length; at += OUTCOME_SLOTS) {
      const slot = t.slots[done[at]!]
      if (slot === undefined) continue
      // A new detail is the slot's from now on, whether or not its round is still wanted.
      const detailAt = done[at + 4]!
      if (detailAt >= 0 && details !== undefined) slot.detail = intern(details[detailAt]!)
      // Cancelled meanwhile: the fiber that wanted it is gone.
      if (slot.round !== done[at + 1] || slot.deliver === undefined) continue
      const deliver = slot.deliver
      slot.deliver = undefined
      slot.round = -1
      options.observeLate(fromMicros(done[at + 6]!))
      deliver(decodeOutcome(done, at, slot.detail))
    }
  }

  const spawn = (index: number): Thread => {
    const t: Thread = {
      worker: undefined as unknown as Worker,
      index,
      checks: new Set(),
      pendingChecks: [],
      bind: [],
      start: [],
      startBase: 0,
      cancel: [],
      flushes: 0,
      slots: [],
      freeIds: [],
      lagMs: 0,
      scheduleFlush
    }
    const attach = () => {
      const worker = options.spawn?.() ?? spawnBeside(import.meta.url, "ProbeWorker", {})
      // The workers keep no one alive: the daemon's fibers do.
      worker.unref()
      worker.on("message", onMessage(t))
      worker.on("error", (e) => options.onExit(index, e.message))
      worker.on("exit", (code) => {
        if (closed) return
        options.onExit(index, `exited with ${code}`)
        // The new worker knows no check and no target; what was not sent is dropped with the old one.
        t.checks = new Set()
        t.pendingChecks = []
        t.bind = []
        t.start = []
        t.cancel = []
        t.flushes++
        attach()
        // Its rounds in flight are not the backends' fault: skipped, each round reschedules itself.
        for (const slot of t.slots) {
          if (slot === undefined) continue
          slot.bound = false
          const deliver = slot.deliver
          if (deliver === undefined) continue
          slot.deliver = undefined
          slot.round = -1
          deliver(skipped(0))
        }
      })
      t.worker = worker
    }
    attach()
    return t
  }
  for (let i = 0; i < options.threads; i++) threads.push(spawn(i))

  const newSlot = (target: ProbeRequest["target"], check: number): Slot => {
    const t = threads[next]!
    next = (next + 1) % threads.length
    const id = t.freeIds.length > 0 ? t.freeIds.pop()! : t.slots.length
    const slot = new Slot(t, id, check, target.address, target.netns)
    t.slots[id] = slot
    released.register(target, slot)
    return slot
  }

  return {
    size: threads.length,
    lagMs: () => threads.reduce((max, t) => Math.max(max, t.lagMs), 0),
    workers: () => threads.map((t) => t.worker),
    start: (request, deliver) => {
      const target = request.target
      const check = checkOf(target.healthcheck)
      let slot = slotOf.get(target)
      if (slot === undefined || slot.check !== check || slot.address !== target.address || slot.netns !== target.netns) {
        slot = newSlot(target, check)
        slotOf.set(target, slot)
      }
      if (slot.deliver !== undefined) {
        // A second round of one target at once (not the health checker's way): a slot of its own.
        slot = newSlot(target, check)
      }
      const t = slot.thread
      if (!t.checks.has(check)) {
        t.checks.add(check)
        t.pendingChecks.push([check, checkById.get(check)!])
      }
      if (!slot.bound) {
        slot.bound = true
        t.bind.push(slot.id, check, slot.address, slot.netns)
      }
      slot.round = rounds
      // Kept a small integer (it crosses as one): a round's number only has to differ from its slot's last.
      rounds = (rounds + 1) & 0x3fffffff
      slot.deliver = deliver
      slot.startAt = t.start.length
      slot.startFlush = t.flushes
      if (t.start.length === 0) t.startBase = Math.floor(request.scheduledAt)
      const skip = request.skipIfLateMs
      t.start.push(slot.id, slot.round, toMicros(request.scheduledAt - t.startBase), skip === undefined ? -1 : toMicros(skip))
      scheduleFlush()
      return slot.cancel
    },
    close: async () => {
      closed = true
      for (const t of threads) for (const slot of t.slots) if (slot !== undefined) slot.deliver = undefined
      await Promise.all(threads.map((t) => t.worker.terminate()))
    }
  }
}
