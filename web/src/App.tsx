/** The page: a tab per maglevd and an "all" tab (with the fleet view); the admin page adds the event stream and actions. */
import { useEffect, useState } from "preact/hooks"
import type { ServerState } from "../../src/frontend/Protocol.js"
import { ActionDialog } from "./Actions.js"
import { formatAge } from "./age.js"
import { EventStream, PanicList } from "./Events.js"
import { Fleet } from "./Fleet.js"
import { type ActionTarget, FrontendCard, Live } from "./Frontends.js"
import { useNow } from "./hooks.js"
import type { Store, View } from "./store.js"
import { VppPanel } from "./Vpp.js"

const ALL = "all"

const tabFromHash = () => decodeURIComponent(location.hash.replace(/^#/, "")) || ALL

const useView = (store: Store): View => {
  const [view, setView] = useState(store.current)
  useEffect(() => store.subscribe(setView), [store])
  return view
}

const Dot = (props: { readonly server: ServerState }) => (
  <span class={`dot conn-${props.server.connection}`} role="img" aria-label={props.server.connection} />
)

const ServerStatus = (props: { readonly server: ServerState }) => {
  const now = useNow()
  const s = props.server
  if (s.connection === "up") {
    return (
      <p class="server-status">
        <Dot server={s} /> {s.url} · maglevd {s.version?.version ?? "?"} · up for {s.version === undefined ? "?" : formatAge(now - s.version.startedAt)}
      </p>
    )
  }
  return (
    <p class="server-status dead" role="alert" data-dead={s.id}>
      <Dot server={s} /> <strong>{s.id}</strong> is {s.connection === "down" ? "unreachable" : "not reached yet"} ({now - s.since < 1000 ? "just now" : `for ${formatAge(now - s.since)}`})
      {s.error !== undefined && <>: {s.error}</>}. {s.frontends.length > 0 && "Showing what it last said."}
    </p>
  )
}

const ServerSection = (props: {
  readonly server: ServerState
  readonly showServer: boolean
  readonly onAction: ((t: ActionTarget) => void) | undefined
}) => {
  const s = props.server
  return (
    <section class={`server ${s.connection === "up" ? "" : "stale"}`} aria-labelledby={`srv-${s.id}`} data-server-section={s.id}>
      <h2 id={`srv-${s.id}`} class={props.showServer ? "" : "sr-only"}>
        maglevd {s.id}
      </h2>
      <ServerStatus server={s} />
      <div class="layout">
        <div class="cards">
          {s.frontends.map((f) => (
            <FrontendCard key={f.name} server={s} frontend={f} showServer={false} onAction={s.connection === "up" ? props.onAction : undefined} />
          ))}
        </div>
        <aside>
          <VppPanel server={s} />
        </aside>
      </div>
    </section>
  )
}

const Tabs = (props: { readonly servers: ReadonlyArray<ServerState>; readonly tab: string; readonly onTab: (t: string) => void }) => {
  const ids = [ALL, ...props.servers.map((s) => s.id)]
  const onKey = (e: KeyboardEvent) => {
    const i = ids.indexOf(props.tab)
    const next = e.key === "ArrowRight" ? ids[(i + 1) % ids.length] : e.key === "ArrowLeft" ? ids[(i - 1 + ids.length) % ids.length] : undefined
    if (next === undefined) return
    e.preventDefault()
    props.onTab(next)
    document.getElementById(`tab-${next}`)?.focus()
  }
  return (
    <div role="tablist" aria-label="maglevds" class="tabs" onKeyDown={onKey}>
      {ids.map((id) => {
        const s = props.servers.find((x) => x.id === id)
        return (
          <button
            key={id}
            id={`tab-${id}`}
            type="button"
            role="tab"
            aria-selected={props.tab === id}
            aria-controls="tabpanel"
            tabIndex={props.tab === id ? 0 : -1}
            onClick={() => props.onTab(id)}
          >
            {s !== undefined && <Dot server={s} />} {id === ALL ? "all" : id}
          </button>
        )
      })}
    </div>
  )
}

export const App = (props: { readonly store: Store; readonly admin: boolean }) => {
  const view = useView(props.store)
  const [tab, setTab] = useState(tabFromHash)
  const [action, setAction] = useState<ActionTarget | undefined>(undefined)
  useEffect(() => {
    const f = () => setTab(tabFromHash())
    addEventListener("hashchange", f)
    return () => removeEventListener("hashchange", f)
  }, [])
  const onTab = (t: string) => {
    setTab(t)
    history.replaceState(null, "", t === ALL ? location.pathname : `#${encodeURIComponent(t)}`)
  }
  const doc = view.doc
  // The server says whether this is the admin page; until the first document, the path does.
  const admin = doc?.admin ?? props.admin
  const servers = doc?.servers ?? []
  const shown = tab === ALL ? servers : servers.filter((s) => s.id === tab)
  const onAction = admin ? setAction : undefined
  return (
    <Live.Provider value={view}>
      <header class="top">
        <h1>
          maglev dashboard{admin && <span class="badge warn">admin</span>}
        </h1>
        <span class={view.live ? "live on" : "live"} role="status" aria-label={view.live ? "live" : "reconnecting"} data-live={view.live ? "yes" : "no"}>
          {view.live ? "● live" : "○ reconnecting"}
        </span>
        <nav aria-label="pages">
          {admin ? <a href="../view/">read-only view</a> : <a href="../admin/">admin</a>}
        </nav>
      </header>
      {doc !== undefined && <Tabs servers={servers} tab={tab} onTab={onTab} />}
      <main id="panel">
        <div id="tabpanel" role="tabpanel" aria-labelledby={doc === undefined ? undefined : `tab-${tab}`} class="panel">
        {view.error !== undefined && <p role="alert" class="error">{view.error}</p>}
        {doc === undefined && view.error === undefined && <p>Loading…</p>}
        {doc !== undefined && tab === ALL && <Fleet fleet={doc.fleet} servers={servers.length} />}
        {doc !== undefined && shown.length === 0 && <p>No maglevd named {tab}.</p>}
        {shown.map((s) => <ServerSection key={s.id} server={s} showServer={tab === ALL} onAction={onAction} />)}
        </div>
        <PanicList panics={view.panics} />
        {admin && <EventStream log={view.log} />}
      </main>
      <footer>
        vpp-maglev · {doc === undefined ? "" : `${servers.length} maglevd${servers.length === 1 ? "" : "s"}`}
      </footer>
      {action !== undefined && <ActionDialog target={action} onClose={() => setAction(undefined)} />}
    </Live.Provider>
  )
}
