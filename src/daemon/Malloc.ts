/**
 * maglevd's figures from glibc's malloc, for the memory log
 * (internal/MemoryLog.ts): every arena added up (`mallinfo2` through the
 * native addon), in MiB; nothing where the addon or mallinfo2 is missing.
 */
import * as Native from "../native/Native.js"

const mib = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10

/** The main thread's extra fields of a memory log line: RSS and malloc's figures. */
export const memoryFigures = (): Record<string, unknown> => {
  let malloc: Record<string, number> | null = null
  try {
    const m = Native.loadNative().mallocInfo()
    if (m !== null) {
      malloc = {
        arenas: mib(m.arena),
        mmapped: mib(m.mmapped),
        mmappedBlocks: m.mmappedBlocks,
        inUse: mib(m.inUse),
        free: mib(m.free),
        topFree: mib(m.topFree)
      }
    }
  } catch {
    // no addon: no malloc figures
  }
  return { rss: mib(process.memoryUsage.rss()), malloc }
}
