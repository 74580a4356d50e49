/**
 * The page's state: the state document (GET api/state) kept current by the
 * server-sent events (api/events). EventSource reconnects by itself after a
 * drop and sends `Last-Event-ID`, so the server replays what was missed; a
 * `resync` (too much missed, or the server restarted) refetches the document
 * and reopens the stream from its `eventId`. Nothing is kept across reloads.
 */
import type { BackendInfo, FrontendInfo } from "../../src/api/Api.js"
import type { FleetVip, LogEventData, ServerState, SseEventName, StateDocument, VppPanel } from "../../src/frontend/Protocol.js"

export type LogLine = typeof LogEventData.Type & { readonly id: string }

export interface View {
  /** The last state document with every event since folded in; undefined until the first fetch. */
  readonly doc: StateDocument | undefined
  /** The stream is open (false while EventSource reconnects). */
  readonly live: boolean
  /** Why the state document could not be fetched (the page shows it instead of the servers). */
  readonly error: string | undefined
  /** Admin streams: the last log lines, oldest first. */
  readonly log: ReadonlyArray<LogLine>
  /** Bumped on every event received (the "API activity" pulse). */
  readonly events: number
}

const LOG_KEEP = 500

type Listener = (v: View) => void

/** Data of each SSE event as decoded JSON (the server encodes with the Protocol.ts schemas; numbers and strings only). */
interface EventData {
  readonly server: { readonly id: string } & ServerState
  readonly backend: { readonly server: string; readonly backend: BackendInfo; readonly transition: { readonly at: number } }
  readonly frontend: { readonly server: string; readonly info: FrontendInfo }
  readonly vpp: { readonly server: string; readonly vpp: VppPanel }
  readonly fleet: { readonly fleet: ReadonlyArray<FleetVip> }
  readonly log: typeof LogEventData.Type
  readonly resync: { readonly reason: string }
}

const mapServer = (doc: StateDocument, id: string, f: (s: ServerState) => ServerState): StateDocument => ({
  ...doc,
  servers: doc.servers.map((s) => (s.id === id ? f(s) : s))
})

/** A backend's transition also shows in every pool row that lists it (state, since, effective weight). */
const withBackend = (s: ServerState, b: BackendInfo, at: number): ServerState => ({
  ...s,
  backends: s.backends.some((x) => x.name === b.name) ? s.backends.map((x) => (x.name === b.name ? b : x)) : [...s.backends, b],
  frontends: s.frontends.map((f) => ({
    ...f,
    pools: f.pools.map((p) => ({
      ...p,
      backends: p.backends.map((row) => {
        if (row.backend !== b.name) return row
        const m = b.memberships.find((m) => m.frontend === f.name && m.pool === p.name)
        return { ...row, state: b.state, since: at, effectiveWeight: m?.effectiveWeight ?? row.effectiveWeight }
      })
    }))
  }))
})

export const apply = <K extends SseEventName>(doc: StateDocument, name: K, data: EventData[K]): StateDocument => {
  switch (name) {
    case "server": {
      const s = data as EventData["server"]
      return doc.servers.some((x) => x.id === s.id) ? mapServer(doc, s.id, () => s) : { ...doc, servers: [...doc.servers, s] }
    }
    case "backend": {
      const e = data as EventData["backend"]
      return mapServer(doc, e.server, (s) => withBackend(s, e.backend, e.transition.at))
    }
    case "frontend": {
      const e = data as EventData["frontend"]
      return mapServer(doc, e.server, (s) => ({ ...s, frontends: s.frontends.map((f) => (f.name === e.info.name ? e.info : f)) }))
    }
    case "vpp": {
      const e = data as EventData["vpp"]
      return mapServer(doc, e.server, (s) => ({ ...s, vpp: e.vpp }))
    }
    case "fleet":
      return { ...doc, fleet: (data as EventData["fleet"]).fleet }
    default:
      return doc
  }
}

export class Store {
  private view: View = { doc: undefined, live: false, error: undefined, log: [], events: 0 }
  private readonly listeners = new Set<Listener>()
  private source: EventSource | undefined
  private fetching = false

  private watchdog: ReturnType<typeof setInterval> | undefined

  constructor(private readonly base: string) {}

  get current(): View {
    return this.view
  }

  subscribe(f: Listener): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  private set(v: Partial<View>) {
    this.view = { ...this.view, ...v }
    for (const f of this.listeners) f(this.view)
  }

  /** Fetches the state document and (re)opens the stream from its `eventId`. */
  async start(): Promise<void> {
    this.watch()
    if (this.fetching) return
    this.fetching = true
    this.source?.close()
    this.source = undefined
    try {
      const res = await fetch(`${this.base}api/state`, { cache: "no-store", credentials: "same-origin" })
      if (!res.ok) throw new Error(`GET api/state: ${res.status} ${res.statusText}`)
      const doc = (await res.json()) as StateDocument
      this.set({ doc, error: undefined })
      this.open(doc.eventId)
    } catch (e) {
      this.set({ error: e instanceof Error ? e.message : String(e), live: false })
      setTimeout(() => void this.start(), 3000)
    } finally {
      this.fetching = false
    }
  }

  private open(since: string) {
    const es = new EventSource(`${this.base}api/events?since=${encodeURIComponent(since)}`)
    this.source = es
    es.onopen = () => this.set({ live: true })
    es.onerror = () => {
      // EventSource retries by itself (with Last-Event-ID) unless the server answered with an error status.
      this.set({ live: false })
      if (es.readyState === EventSource.CLOSED && this.source === es) setTimeout(() => void this.start(), 3000)
    }
    const on = <K extends SseEventName>(name: K) =>
      es.addEventListener(name, (m: MessageEvent<string>) => {
        if (this.source !== es) return
        const data = JSON.parse(m.data) as EventData[K]
        if (name === "resync") return void this.start()
        if (name === "log") {
          const line = { ...(data as EventData["log"]), id: m.lastEventId }
          const log = this.view.log.length >= LOG_KEEP ? [...this.view.log.slice(1 - LOG_KEEP), line] : [...this.view.log, line]
          return this.set({ log, events: this.view.events + 1 })
        }
        const doc = this.view.doc
        if (doc !== undefined) this.set({ doc: { ...apply(doc, name, data), eventId: m.lastEventId }, events: this.view.events + 1 })
      })
    for (const name of ["server", "backend", "frontend", "vpp", "fleet", "log", "resync"] as const) on(name)
  }

  /**
   * A laptop that slept kept a stream that looks open but is dead, and a
   * document that is old: when the clock jumps (a 5 s timer fired 30 s late),
   * start over.
   */
  private watch() {
    if (this.watchdog !== undefined) return
    let last = Date.now()
    this.watchdog = setInterval(() => {
      const now = Date.now()
      if (now - last > 30_000) void this.start()
      last = now
    }, 5000)
  }

  /** Closes the stream (page unload). */
  stop() {
    if (this.watchdog !== undefined) clearInterval(this.watchdog)
    this.watchdog = undefined
    this.source?.close()
    this.source = undefined
  }
}
