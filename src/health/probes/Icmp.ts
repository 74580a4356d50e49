/**
 * ICMP echo probes, over the shared sockets of internal/PingSockets.
 *
 * - L3OK: an echo reply came from the backend;
 * - L3UNREACH: an ICMP destination-unreachable (or time-exceeded) quoting our
 *   echo came back, or the kernel refused the send (no route: EHOSTUNREACH,
 *   ENETUNREACH; a prohibit route or a firewall: EACCES, EPERM);
 * - L3TOUT: nothing within the timeout;
 * - L4CON: no ICMP socket could be made: the namespace could not be entered,
 *   or neither a ping socket nor a raw socket is allowed ("ICMP needs root or
 *   CAP_NET_RAW (or net.ipv4.ping_group_range)"), or the source address
 *   cannot be bound.
 */
import { type ProbeResult, probeResult } from "../ProbeResult.js"
import { isSocketFailure } from "./Netns.js"
import { type Deliver, finishedAt, timedOutAt } from "./internal/Scheduled.js"
import type { LoopLag } from "./internal/LoopLag.js"
import * as PingSockets from "./internal/PingSockets.js"

export interface IcmpTarget {
  readonly address: string
  readonly family: 4 | 6
  readonly netns: string
  /** Source address to bind, if configured for this family. */
  readonly source: string | undefined
}

const CODES = { Reply: "L3OK", Unreachable: "L3UNREACH", Failed: "L4CON" } as const

/** Starts one ICMP echo probe now (see Deadline.ts); returns its cancel function. */
export const startIcmp = (
  target: IcmpTarget,
  timeoutMs: number,
  deliver: Deliver,
  lag: LoopLag | undefined
): (() => void) => {
  const started = performance.now()
  const socket = PingSockets.lease(target.family, target.netns, target.source)
  if (isSocketFailure(socket)) {
    deliver(probeResult("L4CON", performance.now() - started, socket.detail))
    return () => {}
  }
  let settled = false
  let seq = -1
  // Forgetting the sequence number on every exit: a reply after the timeout finds nobody.
  const end = () => {
    settled = true
    clearTimeout(timer)
    socket.cancel(seq)
    PingSockets.release(socket)
  }
  const timer = setTimeout(() => {
    if (settled) return
    end()
    deliver(timedOutAt("L3TOUT", `no echo reply within ${timeoutMs} ms`, started, timeoutMs, lag))
  }, timeoutMs)
  seq = socket.ping(target.address, (outcome) => {
    if (settled) return
    end()
    const result: ProbeResult = probeResult(CODES[outcome._tag], performance.now() - started, outcome.detail)
    deliver(finishedAt(result, started, timeoutMs, lag))
  })
  return () => {
    if (!settled) end()
  }
}
