/**
 * The admin actions on one backend row: pause, resume, enable, disable, set
 * weight (with flush). Choosing one asks the server for the dry-run plan (the
 * VPP lb operations and the new bucket split); "Apply" sends the same request
 * for real.
 */
import { useEffect, useRef, useState } from "preact/hooks"
import type { ActionName, ActionRequest, ActionResponse } from "../../src/frontend/Protocol.js"
import type { ActionTarget } from "./Frontends.js"

type Phase =
  | { readonly _tag: "choose" }
  | { readonly _tag: "planning"; readonly request: ActionRequest }
  | { readonly _tag: "plan"; readonly request: ActionRequest; readonly plan: ActionResponse }
  | { readonly _tag: "applying"; readonly request: ActionRequest; readonly plan: ActionResponse }
  | { readonly _tag: "done"; readonly result: ActionResponse }
  | { readonly _tag: "failed"; readonly error: string }

const post = async (request: ActionRequest): Promise<ActionResponse> => {
  const res = await fetch("api/action", {
    method: "POST",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(request)
  })
  const body = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as ActionResponse | { error: string; tag?: string }
  if (!res.ok || "error" in body) throw new Error("error" in body ? body.error : `${res.status} ${res.statusText}`)
  return body
}

const Plan = (props: { readonly plan: ActionResponse }) => (
  <div class="plan">
    <p>{props.plan.summary}</p>
    {props.plan.ops.length === 0 ? (
      <p class="muted">No VPP operation: VPP stays as it is.</p>
    ) : (
      <ol class="ops" aria-label="VPP operations">
        {props.plan.ops.map((op, i) => (
          <li key={i}>
            <code>{op.event}</code> {op.vip}
            {op.address !== undefined && <> as {op.address}</>}
            {op.weight !== undefined && <> weight {op.weight}</>}
            {op.flush === true && <> flush</>}
          </li>
        ))}
      </ol>
    )}
    {props.plan.vips.map((v) => (
      <table key={v.vip} class="split">
        <caption>
          {v.frontend} ({v.vip}){v.activePoolBefore !== v.activePoolAfter && <> active pool {v.activePoolBefore ?? "none"} → {v.activePoolAfter ?? "none"}</>}
        </caption>
        <thead>
          <tr>
            <th scope="col">backend</th>
            <th scope="col" class="num">weight</th>
            <th scope="col" class="num">buckets</th>
          </tr>
        </thead>
        <tbody>
          {v.ases.map((a) => (
            <tr key={a.address} class={a.weightBefore !== a.weightAfter || a.bucketsBefore !== a.bucketsAfter ? "changed" : ""}>
              <th scope="row">{a.backend} <span class="muted">{a.address}</span></th>
              <td class="num">{a.weightBefore} → {a.weightAfter}</td>
              <td class="num">{a.bucketsBefore} → {a.bucketsAfter}</td>
            </tr>
          ))}
        </tbody>
      </table>
    ))}
  </div>
)

export const ActionDialog = (props: { readonly target: ActionTarget; readonly onClose: () => void }) => {
  const { server, frontend, pool, row } = props.target
  const dialog = useRef<HTMLDialogElement>(null)
  const [phase, setPhase] = useState<Phase>({ _tag: "choose" })
  const [weight, setWeight] = useState(String(row.weight))
  const [flush, setFlush] = useState(false)
  useEffect(() => {
    dialog.current?.showModal()
  }, [])
  const plan = (action: ActionName) => {
    const request: ActionRequest = action === "set-weight"
      ? { server: server.id, action, backend: row.backend, frontend: frontend.name, pool: pool.name, weight: Number(weight), flush, dryRun: true }
      : { server: server.id, action, backend: row.backend, dryRun: true }
    setPhase({ _tag: "planning", request })
    post(request).then(
      (p) => setPhase({ _tag: "plan", request, plan: p }),
      (e: Error) => setPhase({ _tag: "failed", error: e.message })
    )
  }
  const apply = (request: ActionRequest, p: ActionResponse) => {
    setPhase({ _tag: "applying", request, plan: p })
    post({ ...request, dryRun: false }).then(
      (result) => setPhase({ _tag: "done", result }),
      (e: Error) => setPhase({ _tag: "failed", error: e.message })
    )
  }
  const weightValid = /^[0-9]+$/.test(weight) && Number(weight) <= 100
  return (
    <dialog ref={dialog} class="action" aria-labelledby="action-h" onClose={props.onClose}>
      <h2 id="action-h">
        {row.backend} <span class="muted">in {frontend.name}/{pool.name} on {server.id}</span>
      </h2>
      {phase._tag === "choose" && (
        <form method="dialog" onSubmit={(e) => e.preventDefault()}>
          <fieldset>
            <legend>State (now {row.state})</legend>
            <div class="buttons">
              <button type="button" onClick={() => plan("pause")}>pause</button>
              <button type="button" onClick={() => plan("resume")}>resume</button>
              <button type="button" onClick={() => plan("enable")}>enable</button>
              <button type="button" onClick={() => plan("disable")}>disable</button>
            </div>
          </fieldset>
          <fieldset>
            <legend>Weight in {pool.name} (now {row.weight})</legend>
            <label>
              weight (0-100){" "}
              <input type="number" name="weight" min={0} max={100} step={1} value={weight} onInput={(e) => setWeight(e.currentTarget.value)} required />
            </label>{" "}
            <label>
              <input type="checkbox" name="flush" checked={flush} onChange={(e) => setFlush(e.currentTarget.checked)} /> flush sessions (weight 0)
            </label>{" "}
            <button type="button" disabled={!weightValid} onClick={() => plan("set-weight")}>set weight</button>
          </fieldset>
        </form>
      )}
      {phase._tag === "planning" && <p aria-live="polite">Asking for the plan of {phase.request.action}…</p>}
      {(phase._tag === "plan" || phase._tag === "applying") && (
        <>
          <h3>Plan: {phase.request.action} (dry run, nothing changed yet)</h3>
          <Plan plan={phase.plan} />
          <div class="buttons">
            <button type="button" class="primary" disabled={phase._tag === "applying"} onClick={() => apply(phase.request, phase.plan)}>
              Apply {phase.request.action}
            </button>
            <button type="button" onClick={() => setPhase({ _tag: "choose" })}>Back</button>
          </div>
        </>
      )}
      {phase._tag === "done" && (
        <p role="status" class="done">Applied: {phase.result.summary}</p>
      )}
      {phase._tag === "failed" && (
        <>
          <p role="alert" class="error">Failed: {phase.error}</p>
          <button type="button" onClick={() => setPhase({ _tag: "choose" })}>Back</button>
        </>
      )}
      <form method="dialog">
        <button type="submit" class="close">Close</button>
      </form>
    </dialog>
  )
}
