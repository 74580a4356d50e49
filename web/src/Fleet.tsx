/**
 * The fleet view: for each VIP, whether every connected maglevd programs the
 * same Maglev table (same fingerprint of the predicted table), with the ones
 * that differ, or lack the VIP, highlighted.
 */
import type { FleetVip } from "../../src/frontend/Protocol.js"

const short = (fp: string) => fp.slice(0, 12)

export const Fleet = (props: { readonly fleet: ReadonlyArray<FleetVip>; readonly servers: number }) => (
  <section class="fleet" aria-labelledby="fleet-h">
    <h2 id="fleet-h">Fleet: does every maglevd program the same table?</h2>
    {props.fleet.length === 0 ? (
      <p class="muted">No VIPs yet.</p>
    ) : (
      <table>
        <thead>
          <tr>
            <th scope="col">VIP</th>
            <th scope="col">agree</th>
            <th scope="col">maglevd: frontend, table fingerprint (ASes:weight)</th>
          </tr>
        </thead>
        <tbody>
          {props.fleet.map((v) => {
            const agree = v.agree && v.missing.length === 0
            return (
              <tr key={v.vip} data-vip={v.vip} data-agree={agree ? "yes" : "no"} class={agree ? "" : "disagree"}>
                <th scope="row" class="addr">{v.vip}</th>
                <td>
                  {agree ? (
                    <span class="badge ok">✅ all {v.members.length}</span>
                  ) : (
                    <span class="badge bad">✖ {v.differing.length + v.missing.length} differ</span>
                  )}
                </td>
                <td>
                  <ul class="members">
                    {v.members.map((m) => {
                      const differs = v.differing.includes(m.server)
                      return (
                        <li key={m.server} data-server={m.server} data-differs={differs ? "yes" : "no"} class={differs ? "differs" : ""}>
                          <strong>{m.server}</strong> {m.frontend} <code title={m.fingerprint}>{short(m.fingerprint)}</code>
                          {m.vppFingerprint !== undefined && m.vppFingerprint !== m.fingerprint && (
                            <span class="badge warn" title={`VPP's table: ${m.vppFingerprint}`}> VPP differs</span>
                          )}
                          <span class="muted"> ({m.ases.map((a) => `${a.address}:${a.weight}`).join(" ")}; {m.newFlowsTableLength})</span>
                          {differs && <span class="sr-only"> differs from the others</span>}
                        </li>
                      )
                    })}
                    {v.missing.map((s) => (
                      <li key={s} data-server={s} data-differs="yes" class="differs">
                        <strong>{s}</strong> <em>does not have this VIP</em>
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    )}
    {props.servers < 2 && <p class="muted">Only one maglevd: give maglevd-frontend several --server URLs to compare them.</p>}
  </section>
)
