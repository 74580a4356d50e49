/**
 * The messages between the main thread (Server.ts) and the scrape worker
 * (ScrapeWorker.ts). Types only: both sides import it without loading
 * anything.
 */
import type { Columns, LayoutData } from "../Columns.js"
import type { Groups } from "../Exposition.js"
import type { Update } from "../Store.js"

export interface WorkerSettings {
  readonly host: string
  readonly port: number
  /** How long a render waits for the main thread's part before it uses the last one it has, ms. */
  readonly partWaitMs: number
  /** How often the worker asks for a part between scrapes, while scraped (ms; 0: never). */
  readonly prefetchMs: number
  /** Longest stretch of writing between two turns of the worker's event loop, ms. */
  readonly sliceMs: number
}

/** The endpoint's own counts (`maglev_metrics_*`), kept by the worker. */
export interface EndpointStats {
  readonly completed: number
  readonly abandoned: number
  readonly shared: number
  readonly waiting: number
  /** Renders that used an earlier part because the main thread did not answer within `partWaitMs`. */
  readonly stale: number
}

export type FromWorker =
  | { readonly _tag: "Listening"; readonly host: string; readonly port: number }
  | { readonly _tag: "ListenFailed"; readonly message: string }
  /** The main thread's part for render `id`, please. */
  | { readonly _tag: "PartRequest"; readonly id: number }
  /** Render `id` was abandoned: its part is no longer wanted. */
  | { readonly _tag: "Abandoned"; readonly id: number }
  | { readonly _tag: "Stats"; readonly reply: number; readonly stats: EndpointStats }
  /**
   * A part's buffers, no longer read, transferred back: its groups' buffer, and its columns' arrays (absent when they
   * cannot be transferred), for the main thread to write its next part into.
   */
  | { readonly _tag: "PartBuffer"; readonly buffer: ArrayBuffer | undefined; readonly columns: Columns | undefined }

export type ToWorker =
  | {
    readonly _tag: "Part"
    readonly id: number
    /** When the part was read (Unix ms). */
    readonly takenAt: number
    /** Its body's buffer is transferred, not cloned. */
    readonly groups: Groups
    /**
     * The per-backend gauges, and their configuration's layout when the worker does not have it yet. The columns'
     * arrays are transferred, not cloned (`Columns.transferable`), and given back when no render reads them: a clone
     * is a new backing store in the worker's malloc arena per part, ~210 KB at 10,000 backends every 2 s while it
     * prefetches, which its seldom-collecting heap let pile up (+10 MiB of arena over 5 minutes).
     */
    readonly columns: Columns
    readonly layout: LayoutData | undefined
    /** The metric store's new slabs and series since the last part. */
    readonly update: Update
  }
  | { readonly _tag: "StatsRequest"; readonly reply: number }
  /** The metric store's new slabs and series since the last update, told ahead of the parts (in slices, in order). */
  | { readonly _tag: "Series"; readonly update: Update }
  /** A configuration's layout, told ahead of the parts that use it (made when the configuration appears). */
  | { readonly _tag: "Layout"; readonly layout: LayoutData }
