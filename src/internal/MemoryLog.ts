/**
 * A diagnostic of where maglevd's memory goes, off unless asked for: with
 * `VPP_MAGLEV_MEMORY_LOG=FILE` in the environment, each isolate that starts
 * it (the main thread, each probe thread) appends one JSON line to FILE every
 * `VPP_MAGLEV_MEMORY_LOG_EVERY` seconds (default 10): the time, which thread,
 * its V8 heap (`v8.getHeapStatistics()`: committed, physical, used; each
 * space's physical size) and, from the main thread, the process's RSS and
 * malloc's figures (`mallinfo2` through the native addon, every arena added
 * up). docs/health.md ("Scale") shows what it was used for; `maglevd(8)`
 * documents the variables. A line is written synchronously (a few hundred
 * bytes every few seconds); the timer does not keep the thread alive; a
 * failed write stops the log and says so once on stderr.
 *
 * Plain Node only (no Effect): a probe thread loads it.
 */
import * as fs from "node:fs"
import * as v8 from "node:v8"
import { threadId } from "node:worker_threads"

export const MEMORY_LOG_ENV = "VPP_MAGLEV_MEMORY_LOG"
export const MEMORY_LOG_EVERY_ENV = "VPP_MAGLEV_MEMORY_LOG_EVERY"

const MiB = 1024 * 1024
const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10

/** One line of the log, for `thread` (extra: what only that thread can tell, e.g. malloc's figures). */
export const memoryLine = (thread: string, extra: () => Record<string, unknown> = () => ({})): string => {
  const h = v8.getHeapStatistics()
  const spaces: Record<string, number> = {}
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name.replace(/_space$/, "")] = mib(s.physical_space_size)
  return JSON.stringify({
    time: new Date().toISOString(),
    thread,
    threadId,
    heapCommitted: mib(h.total_heap_size),
    heapPhysical: mib(h.total_physical_size),
    heapUsed: mib(h.used_heap_size),
    external: mib(h.external_memory),
    mallocedByV8: mib(h.malloced_memory),
    spaces,
    ...extra()
  }) + "\n"
}

/**
 * Starts the log for this thread when the environment asks for it (its first
 * line at once); returns what stops it, or undefined when it is off. `extra`
 * adds fields to each line (the main thread's RSS and malloc figures).
 */
export const startMemoryLog = (
  thread: string,
  extra?: () => Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env
): (() => void) | undefined => {
  const file = env[MEMORY_LOG_ENV]
  if (file === undefined || file === "") return undefined
  const every = Number(env[MEMORY_LOG_EVERY_ENV] ?? "10")
  if (!Number.isFinite(every) || every <= 0) {
    process.stderr.write(`${MEMORY_LOG_EVERY_ENV}: expected a positive number of seconds, got "${env[MEMORY_LOG_EVERY_ENV]}"; memory log off\n`)
    return undefined
  }
  const write = () => {
    try {
      fs.appendFileSync(file, memoryLine(thread, extra))
    } catch (e) {
      clearInterval(timer)
      process.stderr.write(`${MEMORY_LOG_ENV}: cannot append to ${file} (${e instanceof Error ? e.message : String(e)}); memory log off\n`)
    }
  }
  const timer = setInterval(write, every * 1000)
  timer.unref()
  write()
  return () => clearInterval(timer)
}
