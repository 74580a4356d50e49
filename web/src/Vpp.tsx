/** One maglevd's VPP panel: connected or not, version, uptime, and the binary-API activity (messages maglevd sends and receives). */
import { useContext } from "preact/hooks"
import type { ServerState } from "../../src/frontend/Protocol.js"
import { formatAgo, formatUptime } from "./age.js"
import { Flash, Live } from "./Frontends.js"
import { useFlash, useNow } from "./hooks.js"

/** The rate shown drops to 0 when no new count came for this long (counts come only when they move). */
const RATE_STALE_MS = 1500

const ApiActivity = (props: { readonly server: ServerState; readonly now: number }) => {
  const api = useContext(Live).api.get(props.server.id)
  const total = api === undefined ? 0 : api.counts.sent + api.counts.received
  const pulse = useFlash(total)
  if (api === undefined) return null
  const rate = props.now - api.counts.at > RATE_STALE_MS ? 0 : api.rate
  const messages = Object.entries(api.counts.messages).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return (
    <>
      <dt>API</dt>
      <dd data-api-sent={api.counts.sent} data-api-received={api.counts.received}>
        <span class={`api ${pulse}`} role="img" aria-label="VPP API activity" title="pulses when maglevd sends or receives binary-API messages">↑↓</span>{" "}
        <span data-api-rate={Math.round(rate)}>{Math.round(rate)} msg/s</span>
        <details>
          <summary>
            {api.counts.sent} sent, {api.counts.received} received
          </summary>
          <table class="messages">
            <caption class="sr-only">binary-API messages by name</caption>
            <tbody>
              {messages.map(([name, n]) => (
                <tr key={name} data-message={name} data-count={n}>
                  <th scope="row">{name}</th>
                  <td class="num"><Flash value={n} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </dd>
    </>
  )
}

export const VppPanel = (props: { readonly server: ServerState }) => {
  const now = useNow()
  const { vpp } = props.server
  const packets = (vpp.counters ?? []).reduce((n, c) => n + BigInt(c.firstPacket) + BigInt(c.nextPacket), 0n)
  return (
    <section class="vpp" aria-label={`VPP of ${props.server.id}`} data-vpp={vpp.connected ? "connected" : "disconnected"}>
      <h3>
        VPP <span class={vpp.connected ? "badge ok" : "badge bad"}>{vpp.connected ? "connected" : "disconnected"}</span>
      </h3>
      {vpp.info !== undefined ? (
        <dl class="facts">
          <dt>version</dt>
          <dd>{vpp.info.version}</dd>
          <dt>uptime</dt>
          <dd>{formatUptime(now - vpp.info.bootTime)}</dd>
          <dt>connected</dt>
          <dd>
            {formatAgo(now - vpp.info.connectedAt)}{vpp.info.connectCount > 1 ? ` (connection ${vpp.info.connectCount})` : ""}
          </dd>
          <ApiActivity server={props.server} now={now} />
          <dt>lb read</dt>
          <dd>{vpp.lbAt === undefined ? "–" : formatAgo(now - vpp.lbAt)}</dd>
          <dt>VIPs</dt>
          <dd>{vpp.lb?.vips.length ?? "–"}</dd>
          {vpp.counters !== undefined && (
            <>
              <dt>packets</dt>
              <dd><Flash value={packets.toString()} /></dd>
            </>
          )}
        </dl>
      ) : (
        <p class="muted">{vpp.reason ?? "no VPP information yet"}</p>
      )}
    </section>
  )
}
