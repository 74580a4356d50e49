/** A card per frontend: state icon, VIP, active pool, and a table per pool. */
import type { BackendInfo, FrontendInfo, HealthCheckInfo, PoolBackendInfo, PoolInfo } from "../../src/api/Api.js"
import type { ServerState } from "../../src/frontend/Protocol.js"
import { formatAge } from "./age.js"
import { createContext } from "preact"
import { useContext, useEffect, useState } from "preact/hooks"
import { useFlash, useNow } from "./hooks.js"
import { frontendIcon, probeChangeIn, probeInFlight, vppBuckets, vppVip } from "./status.js"
import type { Probe, View } from "./store.js"

/** The page's live news (probes, API counts), for the components deep in the tree. */
export const Live = createContext<Pick<View, "probes" | "api">>({ probes: new Map(), api: new Map() })

export interface ActionTarget {
  readonly server: ServerState
  readonly frontend: FrontendInfo
  readonly pool: PoolInfo
  readonly row: PoolBackendInfo
}

/** A value that flashes when it changes. */
export const Flash = (props: { readonly value: string | number; readonly class?: string; readonly label?: string }) => {
  const flash = useFlash(props.value)
  return <span class={`${props.class ?? ""} ${flash}`.trim()} aria-label={props.label}>{props.value}</span>
}

const Age = (props: { readonly since: number | undefined }) => {
  const now = useNow()
  if (props.since === undefined) return <span class="muted">–</span>
  return <time dateTime={new Date(props.since).toISOString()} title={new Date(props.since).toLocaleString()}>{formatAge(now - props.since)}</time>
}

/** ❤️ while a probe is in flight: re-rendered by the probe news, and by a timer when it starts or stops by itself. */
const Heart = (props: { readonly probe: Probe | undefined; readonly hc: HealthCheckInfo | undefined }) => {
  const [, setTick] = useState(0)
  const now = Date.now()
  const on = probeInFlight(props.probe, props.hc, now)
  const changeIn = probeChangeIn(props.probe, props.hc, now)
  useEffect(() => {
    if (changeIn === undefined) return
    const t = setTimeout(() => setTick((n) => n + 1), changeIn + 1)
    return () => clearTimeout(t)
  }, [props.probe, changeIn === undefined ? undefined : Math.round(now + changeIn)])
  return (
    <span class={on ? "heart on" : "heart"} role="img" aria-label={on ? "probe in flight" : "idle"} title={on ? "probe in flight" : ""} data-due={props.probe?.due}>
      ❤️
    </span>
  )
}

const Row = (props: {
  readonly server: ServerState
  readonly frontend: FrontendInfo
  readonly pool: PoolInfo
  readonly row: PoolBackendInfo
  readonly onAction: ((t: ActionTarget) => void) | undefined
}) => {
  const { server, frontend, pool, row } = props
  const backend = server.backends.find((b) => b.name === row.backend)
  const hc = server.healthchecks.find((h) => h.name === backend?.healthcheck)
  const probe = useContext(Live).probes.get(server.id)?.get(row.backend)
  const vpp = vppBuckets(vppVip(server, frontend), row.address)
  const differs = vpp !== undefined && vpp !== row.buckets
  return (
    <tr data-backend={row.backend} data-state={row.state}>
      <th scope="row">
        <Heart probe={probe} hc={hc} /> {row.backend}
      </th>
      <td class="addr">{row.address}</td>
      <td><Flash value={row.state} class={`state state-${row.state}`} /></td>
      <td class="num">
        <Flash value={row.weight} />
        {row.fileWeight !== undefined && <span class="muted" title="the file's weight"> (file {row.fileWeight})</span>}
      </td>
      <td class="num"><Flash value={row.effectiveWeight} /></td>
      <td class={differs ? "num differs" : "num"} data-buckets={vpp ?? ""}>
        {vpp === undefined ? <span class="muted" title="VPP's lb state is not known">–</span> : <Flash value={vpp} />}
        {differs && <span class="predicted" title="what maglevd predicts once VPP matches"> (predicted {row.buckets})</span>}
      </td>
      <td class="num"><Age since={row.since} /></td>
      {props.onAction !== undefined && (
        <td>
          <button
            type="button"
            class="act"
            aria-label={`actions for ${row.backend} in ${frontend.name}/${pool.name}`}
            onClick={() => props.onAction?.({ server, frontend, pool, row })}
          >
            ⋯
          </button>
        </td>
      )}
    </tr>
  )
}

const Pool = (props: {
  readonly server: ServerState
  readonly frontend: FrontendInfo
  readonly pool: PoolInfo
  readonly onAction: ((t: ActionTarget) => void) | undefined
}) => (
  <div class="pool">
    <table>
      <caption>
        pool <strong>{props.pool.name}</strong> {props.pool.active ? <span class="badge active">active</span> : <span class="badge">standby</span>}
      </caption>
      <thead>
        <tr>
          <th scope="col">backend</th>
          <th scope="col" class="addr">address</th>
          <th scope="col">state</th>
          <th scope="col" class="num">weight</th>
          <th scope="col" class="num">effective</th>
          <th scope="col" class="num" title="new-flow buckets VPP gives the AS">VPP buckets</th>
          <th scope="col" class="num">since</th>
          {props.onAction !== undefined && <th scope="col"><span class="sr-only">actions</span></th>}
        </tr>
      </thead>
      <tbody>
        {props.pool.backends.map((row) => (
          <Row key={row.backend} server={props.server} frontend={props.frontend} pool={props.pool} row={row} onAction={props.onAction} />
        ))}
      </tbody>
    </table>
  </div>
)

export const FrontendCard = (props: {
  readonly server: ServerState
  readonly frontend: FrontendInfo
  readonly showServer: boolean
  readonly onAction: ((t: ActionTarget) => void) | undefined
}) => {
  const { server, frontend: f } = props
  const icon = frontendIcon(server, f)
  const headingId = `fe-${server.id}-${f.name}`.replace(/[^A-Za-z0-9_-]/g, "_")
  const [open, setOpen] = useState(true)
  return (
    <article class={`card tone-${icon.tone}`} aria-labelledby={headingId} data-frontend={f.name} data-server={server.id} data-state={f.state}>
      <header>
        <h3 id={headingId}>
          <button type="button" class="fold" aria-expanded={open} aria-controls={`${headingId}-pools`} onClick={() => setOpen(!open)}>
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
            <span class="sr-only">{open ? "hide" : "show"} pools of {f.name}</span>
          </button>
          <span class="icon" role="img" aria-label={icon.label} title={icon.label}><Flash value={icon.glyph} /></span> {f.name}
          {props.showServer && <span class="on-server"> on {server.id}</span>}
        </h3>
        <dl class="facts">
          <dt>VIP</dt>
          <dd class="addr">{f.vip}</dd>
          <dt>state</dt>
          <dd><Flash value={f.state} class={`state state-${f.state}`} /></dd>
          <dt>active pool</dt>
          <dd><Flash value={f.activePool ?? "none"} /></dd>
          {f.minHealthy !== undefined && <><dt>min-healthy</dt><dd>{f.minHealthy}</dd></>}
          {f.panic !== undefined && (
            <>
              <dt>panic</dt>
              <dd class="panic" data-panic={f.panic.keptPool}>
                pool {f.panic.pool} has {f.panic.up} up, fewer than {f.panic.threshold}; keeping the last good weights of pool{" "}
                {f.panic.keptPool} since {new Date(f.panic.since).toISOString().slice(11, 19)}
              </dd>
            </>
          )}
        </dl>
        {f.description !== "" && <p class="desc">{f.description}</p>}
      </header>
      <div id={`${headingId}-pools`} hidden={!open}>
        {f.pools.map((p) => <Pool key={p.name} server={server} frontend={f} pool={p} onAction={props.onAction} />)}
      </div>
    </article>
  )
}
