/** One maglevd's VPP panel: connected or not, version, uptime, and the API activity (lb reads, counters). */
import type { ServerState } from "../../src/frontend/Protocol.js"
import { formatAgo, formatUptime } from "./age.js"
import { Flash } from "./Frontends.js"
import { useFlash, useNow } from "./hooks.js"

export const VppPanel = (props: { readonly server: ServerState }) => {
  const now = useNow()
  const { vpp } = props.server
  const pulse = useFlash(`${vpp.lbAt ?? ""}/${vpp.refreshedAt ?? ""}`)
  const packets = (vpp.counters ?? []).reduce((n, c) => n + BigInt(c.firstPacket) + BigInt(c.nextPacket), 0n)
  return (
    <section class="vpp" aria-label={`VPP of ${props.server.id}`} data-vpp={vpp.connected ? "connected" : "disconnected"}>
      <h3>
        VPP <span class={vpp.connected ? "badge ok" : "badge bad"}>{vpp.connected ? "connected" : "disconnected"}</span>
        <span class={`api ${pulse}`} role="img" aria-label="VPP API activity" title="pulses when maglevd reads VPP's state">API ↑↓</span>
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
