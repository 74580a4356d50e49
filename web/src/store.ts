/**
 * The page's state: the state document (GET api/state) kept current by the
 * server-sent events (api/events). EventSource reconnects by itself after a
 * drop and sends `Last-Event-ID`, so the server replays what was missed; a
 * `resync` (too much missed, or the server restarted) refetches the document
 * and reopens the stream from its `eventId`. Nothing is kept across reloads.
 *
 * `probe` and `api` events are live news (no id, never replayed): they keep
 * `probes` (each backend's last probe: when due, when ended) and `api` (each
 * maglevd's binary-API counts and rate), seeded from the document's
 * `probing` and `api`.
 */
import type { BackendInfo, FrontendInfo } from "../../src/api/Api.js"
import type { ApiCounts, FleetVip, LogEventData, PanicEventData, ProbeEventData, ServerState, SseEventName, StateDocument, VppPanel } from "../../src/frontend/Protocol.js"

export type LogLine = typeof LogEventData.Type & { readonly id: string }

/** A frontend's panic start or end (min-healthy), as the page received it. */
export type PanicLine = typeof PanicEventData.Type & { readonly id: string }

/** A backend's last probe as the page knows it: due (it starts then), and when it ended, once it did. */
export interface Probe {
  readonly due: number
  readonly ended?: number | undefined
}

/** A maglevd's binary-API counts, and the messages a second between its last two counts. */
export interface ApiView {
  readonly counts: ApiCounts
  readonly rate: number
}

export interface View {
  /** The last state document with every event since folded in; undefined until the first fetch. */
  readonly doc: StateDocument | undefined
  /** The stream is open (false while EventSource reconnects). */
  readonly live: boolean
  /** Why the state document could not be fetched (the page shows it instead of the servers). */
  readonly error: string | undefined
  /** Admin streams: the last log lines, oldest first. */
  readonly log: ReadonlyArray<LogLine>
  /** The panic starts and ends since the page opened (the last few), oldest first. */
  readonly panics: ReadonlyArray<PanicLine>
  /** Bumped on every event received. */
  readonly events: number
  /** Per maglevd, per backend: its last probe. */
  readonly probes: ReadonlyMap<string, ReadonlyMap<string, Probe>>
  /** Per maglevd: its binary-API counts. */
  readonly api: ReadonlyMap<string, ApiView>
}

const LOG_KEEP = 500
const PANIC_KEEP = 50

type Listener = (v: View) => void

/** Data of each SSE event as decoded JSON (the server encodes with the Protocol.ts schemas; numbers and strings only). */
interface EventData {
  readonly server: { readonly id: string } & ServerState
  readonly backend: { readonly server: string; readonly backend: BackendInfo; readonly transition: { readonly at: number } }
  readonly frontend: { readonly server: string; readonly info: FrontendInfo }
  readonly vpp: { readonly server: string; readonly vpp: VppPanel }
  readonly fleet: { readonly fleet: ReadonlyArray<FleetVip> }
  readonly log: typeof LogEventData.Type
  readonly panic: typeof PanicEventData.Type
  readonly resync: { readonly reason: string }
  readonly probe: typeof ProbeEventData.Type
  readonly api: { readonly server: string; readonly api: ApiCounts }
}

/** The probes in flight in a state document. */
const probesOf = (doc: StateDocument): ReadonlyMap<string, ReadonlyMap<string, Probe>> =>
  new Map(doc.servers.map((s) => [s.id, new Map((s.probing ?? []).map((p) => [p.backend, { due: p.due }]))]))

const apiOf = (doc: StateDocument): ReadonlyMap<string, ApiView> =>
  new Map(doc.servers.flatMap((s) => (s.api === undefined ? [] : [[s.id, { counts: s.api, rate: 0 }] as const])))

/** A batch of probe news folded into a maglevd's probes. */
export const withProbes = (
  probes: ReadonlyMap<string, ReadonlyMap<string, Probe>>,
  e: EventData["probe"]
): ReadonlyMap<string, ReadonlyMap<string, Probe>> => {
  const mine = new Map(probes.get(e.server))
  for (const p of e.probes) {
    // An end whose start came before the page did: a probe seen only as it ended.
    if (p.due !== undefined) mine.set(p.backend, { due: p.due, ended: p.ended })
    else if (p.ended !== undefined) mine.set(p.backend, { due: mine.get(p.backend)?.due ?? p.ended, ended: p.ended })
  }
  return new Map(probes).set(e.server, mine)
}

/** New counts of a maglevd, with the rate since its previous ones. */
export const withApi = (api: ReadonlyMap<string, ApiView>, e: EventData["api"]): ReadonlyMap<string, ApiView> => {
  const before = api.get(e.server)?.counts
  const rate = before === undefined || e.api.at <= before.at
    ? 0
    : ((e.api.sent + e.api.received - before.sent - before.received) * 1000) / (e.api.at - before.at)
  return new Map(api).set(e.server, { counts: e.api, rate })
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
  private view: View = { doc: undefined, live: false, error: undefined, log: [], panics: [], events: 0, probes: new Map(), api: new Map() }
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
      this.set({ doc, error: undefined, probes: probesOf(doc), api: apiOf(doc) })
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
        // Live news: no id (m.lastEventId is still the last state event's).
        if (name === "probe") return this.set({ probes: withProbes(this.view.probes, data as EventData["probe"]) })
        if (name === "api") return this.set({ api: withApi(this.view.api, data as EventData["api"]) })
        if (name === "log") {
          const line = { ...(data as EventData["log"]), id: m.lastEventId }
          const log = this.view.log.length >= LOG_KEEP ? [...this.view.log.slice(1 - LOG_KEEP), line] : [...this.view.log, line]
          return this.set({ log, events: this.view.events + 1 })
        }
        if (name === "panic") {
          const line = { ...(data as EventData["panic"]), id: m.lastEventId }
          // A replayed event (Last-Event-ID after a drop) is not shown twice.
          if (this.view.panics.some((p) => p.id === line.id)) return
          return this.set({ panics: [...this.view.panics, line].slice(-PANIC_KEEP), events: this.view.events + 1 })
        }
        const doc = this.view.doc
        if (doc === undefined) return
        // A maglevd that is not up has no probes in flight.
        const gone = name === "server" && (data as EventData["server"]).connection !== "up"
        this.set({
          doc: { ...apply(doc, name, data), eventId: m.lastEventId },
          events: this.view.events + 1,
          ...(gone ? { probes: new Map(this.view.probes).set((data as EventData["server"]).id, new Map()) } : {})
        })
      })
    for (const name of ["server", "backend", "frontend", "panic", "vpp", "fleet", "log", "resync", "probe", "api"] as const) on(name)
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
