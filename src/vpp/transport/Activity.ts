/**
 * The binary-API messages this process sent to VPP and received from it,
 * counted as they cross the socket (VppApi.ts), over every connection since
 * the start: what the dashboard's "API activity" shows (WatchEvents' `vppApi`
 * option, src/api/Watch.ts). A counter increment and a Map update per
 * message, nothing else: no event, no allocation once a name was seen.
 */

export interface ApiActivity {
  /** Messages sent (a dump is its request and a `control_ping`). */
  sent: number
  /** Messages received (replies, details, events, and ones this client does not bind). */
  received: number
  /** Per message name (`lb_as_add_del`, `lb_as_add_del_reply`, …; `unknown` for ids not bound), both directions. */
  readonly messages: Map<string, number>
}

export const activity: ApiActivity = { sent: 0, received: 0, messages: new Map() }

const count = (name: string): void => {
  activity.messages.set(name, (activity.messages.get(name) ?? 0) + 1)
}

/** One message put on the wire. */
export const countSent = (name: string): void => {
  activity.sent++
  count(name)
}

/** One message read from the wire. */
export const countReceived = (name: string): void => {
  activity.received++
  count(name)
}
