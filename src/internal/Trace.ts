/**
 * Trace points: instants on a path through the process (issue 14's reaction:
 * the verdict, its publication, the LB sync taking it, planning, the request
 * written, VPP's answer read, the mutation logged), for a measurement at
 * sub-millisecond resolution. A point publishes `{ stage, detail }` on the
 * diagnostics channel `vpp-maglev:trace`; with no subscriber it costs a
 * property read and nothing is made. `bench/reconcileTrace.ts` subscribes
 * from a preload (`node --import`) and stamps each point with
 * `performance.timeOrigin + performance.now()`, which two processes on one
 * machine share.
 */
import * as dc from "node:diagnostics_channel"

export interface Point {
  readonly stage: string
  readonly detail: string | number | undefined
}

export const CHANNEL = "vpp-maglev:trace"

const channel = dc.channel(CHANNEL)

/** Whether anyone listens (to skip building a detail). */
export const tracing = (): boolean => channel.hasSubscribers

/** Publishes a point when anyone listens. */
export const trace = (stage: string, detail?: string | number): void => {
  if (channel.hasSubscribers) channel.publish({ stage, detail } satisfies Point)
}
