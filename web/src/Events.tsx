/** The admin event stream: maglevd log records as they come, following the tail or paused. */
import { useEffect, useRef, useState } from "preact/hooks"
import type { LogLine, PanicLine } from "./store.js"

const time = (at: number) => new Date(at).toISOString().slice(11, 23)

const fields = (a: Readonly<Record<string, unknown>>) =>
  Object.entries(a)
    .filter(([k]) => k !== "event")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ")

const panicText = (p: PanicLine): string =>
  p.panic
    ? `${p.frontend} in panic: pool ${p.pool} has ${p.up} up, fewer than min-healthy ${p.minHealthy ?? ""} (${p.threshold}); keeping the last good weights of pool ${p.keptPool ?? p.pool}`
    : `${p.frontend} out of panic (${p.reason ?? "healthy"}): pool ${p.pool} has ${p.up} up (threshold ${p.threshold})${p.durationMs === undefined ? "" : `, after ${Math.round(p.durationMs / 1000)} s`}`

/** Panic starts and ends (min-healthy) since the page opened, newest last; on every page. */
export const PanicList = (props: { readonly panics: ReadonlyArray<PanicLine> }) =>
  props.panics.length === 0 ? null : (
    <section class="panics" aria-labelledby="panics-h">
      <h2 id="panics-h">Panics</h2>
      <ol aria-live="polite">
        {props.panics.map((p) => (
          <li key={p.id} class={p.panic ? "start" : "end"} data-frontend={p.frontend} data-panic={p.panic ? "start" : "end"}>
            <span class="muted">{time(p.at)}</span> <strong>{p.server}</strong> {panicText(p)}
          </li>
        ))}
      </ol>
    </section>
  )

export const EventStream = (props: { readonly log: ReadonlyArray<LogLine> }) => {
  const [paused, setPaused] = useState<ReadonlyArray<LogLine> | undefined>(undefined)
  const box = useRef<HTMLDivElement>(null)
  const shown = paused ?? props.log
  useEffect(() => {
    if (paused === undefined && box.current !== null) box.current.scrollTop = box.current.scrollHeight
  }, [props.log, paused])
  const waiting = paused === undefined ? 0 : props.log.length - paused.length
  return (
    <section class="events" aria-labelledby="events-h">
      <h2 id="events-h">Event stream</h2>
      <div class="toolbar">
        <button type="button" aria-pressed={paused !== undefined} onClick={() => setPaused(paused === undefined ? props.log : undefined)}>
          {paused === undefined ? "⏸ pause" : "▶ follow"}
        </button>
        <span class="muted" aria-live="polite">
          {paused === undefined ? "following" : `paused${waiting > 0 ? `, ${waiting} new` : ""}`}
        </span>
      </div>
      <div class="log" ref={box} role="log" aria-live={paused === undefined ? "polite" : "off"} tabIndex={0} aria-label="maglevd log records">
        <ol>
        {shown.map((l) => (
          <li key={l.id} class={`lvl-${l.level}`} data-event={String(l.annotations["event"] ?? "")}>
            <span class="muted">{time(l.at)}</span> <strong>{l.server}</strong> <span class="lvl">{l.level}</span>{" "}
            <span class="ev">{String(l.annotations["event"] ?? l.message)}</span> <span class="muted">{fields(l.annotations)}</span>
          </li>
        ))}
        </ol>
      </div>
    </section>
  )
}
