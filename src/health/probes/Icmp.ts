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
import { Effect } from "effect"
import { type ProbeResult, probeResult } from "../ProbeResult.js"
import { isSocketFailure } from "./Netns.js"
import { awaitWithin } from "./internal/Deadline.js"
import * as PingSockets from "./internal/PingSockets.js"

export interface IcmpTarget {
  readonly address: string
  readonly family: 4 | 6
  readonly netns: string
  /** Source address to bind, if configured for this family. */
  readonly source: string | undefined
}

const CODES = { Reply: "L3OK", Unreachable: "L3UNREACH", Failed: "L4CON" } as const

/** One ICMP echo probe. */
export const probeIcmp = (target: IcmpTarget, timeoutMs: number): Effect.Effect<ProbeResult> =>
  Effect.suspend(() => {
    const started = performance.now()
    let seq = -1
    const result = (code: ProbeResult["code"], detail: string): ProbeResult =>
      probeResult(code, performance.now() - started, detail)
    return Effect.acquireUseRelease(
      Effect.sync(() => PingSockets.lease(target.family, target.netns, target.source)),
      (socket) =>
        isSocketFailure(socket)
          ? Effect.succeed(result("L4CON", socket.detail))
          : awaitWithin(
              timeoutMs,
              (done) => {
                seq = socket.ping(target.address, (outcome) => done(result(CODES[outcome._tag], outcome.detail)))
              },
              () => result("L3TOUT", `no echo reply within ${timeoutMs} ms`)
            ),
      // Forgetting the sequence number on every exit: a reply after the timeout finds nobody.
      (socket) =>
        Effect.sync(() => {
          if (isSocketFailure(socket)) return
          socket.cancel(seq)
          PingSockets.release(socket)
        })
    )
  })
