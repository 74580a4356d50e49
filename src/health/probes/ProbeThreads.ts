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
 * flushed by setImmediate), as flat arrays of numbers and strings, which the
 * structured clone copies cheaply. A check's settings go to a worker once,
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
import { Duration } from "effect"
import type { Worker } from "node:worker_threads"
import type { HealthCheck } from "../../config/Config.js"
import { spawnBeside } from "../../internal/WorkerEntry.js"
import { PROBE_CODES, probeResult, type ProbeResult } from "../ProbeResult.js"
import type { ProbeRequest } from "../Prober.js"
import { type ProbeOutcome, skipped } from "../SelfLate.js"

// --- The protocol (ProbeWorker.ts is the other side) -----------------------------

/** The settings of a check a probe needs, as plain data (Durations do not survive the structured clone). */
export interface CheckWire {
  readonly name: string
  readonly type: HealthCheck["type"]
  readonly port: number | undefined
  readonly timeoutMs: number
  readonly probeIpv4Src: string | undefined
  readonly probeIpv6Src: string | undefined
  readonly http: HealthCheck["http"]
  readonly tcp: HealthCheck["tcp"]
}

/** Main → worker, one per turn. */
export interface ToWorker {
  /** New checks: [id, settings]. */
  readonly checks?: ReadonlyArray<readonly [number, CheckWire]>
  /** Probes to start, {@link REQUEST_SLOTS} slots each: id, check id, address, netns, due (epoch ms), skip-if-late ms (-1: never). */
  readonly start?: ReadonlyArray<number | string>
  /** Probes to cancel, by id. */
  readonly cancel?: ReadonlyArray<number>
}

/** Worker → main, one per turn. */
export interface FromWorker {
  /**
   * Outcomes, {@link OUTCOME_SLOTS} slots each: id, code index (-1: skipped),
   * duration ms (skipped: how late), detail, self-late ms (-1: not measured),
   * start lateness ms.
   */
  readonly done?: ReadonlyArray<number | string>
  /** The worker's largest loop delay over the last 10 s, ms (sent once a second). */
  readonly lagMs?: number
}

export const REQUEST_SLOTS = 6
export const OUTCOME_SLOTS = 6

export const checkWire = (hc: HealthCheck): CheckWire => ({
  name: hc.name,
  type: hc.type,
  port: hc.port,
  timeoutMs: Math.max(1, Duration.toMillis(hc.timeout)),
  probeIpv4Src: hc.probeIpv4Src,
  probeIpv6Src: hc.probeIpv6Src,
  http: hc.http,
  tcp: hc.tcp
})

/** A check again from its wire form (the probes read only these fields and the timeout). */
export const checkFromWire = (w: CheckWire): HealthCheck => {
  const timeout = Duration.millis(w.timeoutMs)
  return {
    name: w.name,
    type: w.type,
    port: w.port,
    interval: timeout,
    fastInterval: timeout,
    downInterval: timeout,
    timeout,
    rise: 1,
    fall: 1,
    probeIpv4Src: w.probeIpv4Src,
    probeIpv6Src: w.probeIpv6Src,
    http: w.http,
    tcp: w.tcp
  }
}

export const encodeOutcome = (out: Array<number | string>, id: number, outcome: ProbeOutcome, startLateMs: number): void => {
  if ("_tag" in outcome) {
    out.push(id, -1, outcome.lateMs, "", -1, startLateMs)
    return
  }
  out.push(id, PROBE_CODES.indexOf(outcome.code), outcome.durationMs, outcome.detail, outcome.selfLateMs ?? -1, startLateMs)
}

const decodeOutcome = (done: ReadonlyArray<number | string>, at: number): ProbeOutcome => {
  const code = done[at + 1] as number
  if (code < 0) return skipped(done[at + 2] as number)
  const result: ProbeResult = probeResult(PROBE_CODES[code]!, done[at + 2] as number, done[at + 3] as string)
  const selfLate = done[at + 4] as number
  return selfLate >= 0 ? { ...result, selfLateMs: selfLate } : result
}

// --- The main thread's side --------------------------------------------------------

interface Thread {
  worker: Worker
  readonly index: number
  checks: Set<number>
  pendingChecks: Array<readonly [number, CheckWire]>
  start: Array<number | string>
  cancel: Array<number>
  /** Probes sent and not answered, by id. */
  readonly live: Set<number>
  lagMs: number
}


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
  const pending = new Map<number, (outcome: ProbeOutcome) => void>()
  const checkIds = new WeakMap<HealthCheck, number>()
  const checkByText = new Map<string, readonly [number, CheckWire]>()
  const checkById = new Map<number, CheckWire>()
  let nextId = 1
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
        ...(t.start.length > 0 ? { start: t.start } : {}),
        ...(t.cancel.length > 0 ? { cancel: t.cancel } : {})
      }
      t.pendingChecks = []
      t.start = []
      t.cancel = []
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
    for (let at = 0; at < done.length; at += OUTCOME_SLOTS) {
      const id = done[at] as number
      const p = pending.get(id)
      // Cancelled meanwhile: the fiber that wanted it is gone.
      if (p === undefined) continue
      pending.delete(id)
      t.live.delete(id)
      options.observeLate(done[at + 5] as number)
      p(decodeOutcome(done, at))
    }
  }

  const spawn = (index: number): Thread => {
    const t: Thread = {
      worker: undefined as unknown as Worker,
      index,
      checks: new Set(),
      pendingChecks: [],
      start: [],
      cancel: [],
      live: new Set(),
      lagMs: 0
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
        // Its rounds in flight are not the backends' fault: skipped, each round reschedules itself.
        const lost = [...t.live]
        t.live.clear()
        t.checks = new Set()
        t.pendingChecks = []
        t.start = []
        t.cancel = []
        attach()
        for (const id of lost) {
          const p = pending.get(id)
          if (p === undefined) continue
          pending.delete(id)
          p(skipped(0))
        }
      })
      t.worker = worker
    }
    attach()
    return t
  }
  for (let i = 0; i < options.threads; i++) threads.push(spawn(i))

  return {
    size: threads.length,
    lagMs: () => threads.reduce((max, t) => Math.max(max, t.lagMs), 0),
    workers: () => threads.map((t) => t.worker),
    start: (request, deliver) => {
      const t = threads[next]!
      next = (next + 1) % threads.length
      const id = nextId++
      const check = checkOf(request.target.healthcheck)
      if (!t.checks.has(check)) {
        t.checks.add(check)
        t.pendingChecks.push([check, checkById.get(check)!])
      }
      t.start.push(id, check, request.target.address, request.target.netns, request.scheduledAt, request.skipIfLateMs ?? -1)
      t.live.add(id)
      pending.set(id, deliver)
      scheduleFlush()
      return () => {
        if (!pending.delete(id)) return
        t.live.delete(id)
        t.cancel.push(id)
        scheduleFlush()
      }
    },
    close: async () => {
      closed = true
      pending.clear()
      await Promise.all(threads.map((t) => t.worker.terminate()))
    }
  }
}
