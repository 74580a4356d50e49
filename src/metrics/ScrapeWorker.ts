/**
 * The scrape worker's entry: a worker thread (started by Server.ts, `layer`)
 * serving GET /metrics itself (internal/ScrapeServer.ts), so that a scrape
 * of 10,000 backends (~18 MB) is rendered and sent on a thread of its own.
 * The main thread's event loop (probes' results, the LB sync) and its
 * garbage collections (hundreds of ms at 10,000 backends) neither delay it
 * nor are delayed by it.
 */
import { parentPort, workerData } from "node:worker_threads"
import type { WorkerSettings } from "./internal/ScrapeWire.js"
import { startMemoryLog } from "../internal/MemoryLog.js"
import { serve } from "./internal/ScrapeServer.js"
import { discardPages, isNativeAvailable } from "../native/Native.js"

if (parentPort !== null) {
  const port = parentPort
  // The last body's pages given back when nothing is scraped for a while (ScrapeServer's DISCARD_IDLE_MS).
  const discard = isNativeAvailable() ? (b: ArrayBuffer) => void discardPages(b) : undefined
  const { receive } = serve(workerData as WorkerSettings, (m, transfer) => port.postMessage(m, transfer), { discard })
  port.on("message", receive)
  // VPP_MAGLEV_MEMORY_LOG: this thread's heap, beside the main thread's lines.
  startMemoryLog("scrape-worker")
}
