import { Data } from "effect"
import { vnetErrorName } from "./ApiErrors.js"

/** The API socket could not be opened (VPP not running, wrong path, permissions). */
export class VppConnectError extends Data.TaggedError("VppConnectError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot connect to VPP at ${this.path}: ${this.reason}`
  }
}

/**
 * VPP does not speak every message we bind: its version differs from the one
 * our bindings were generated from (or a plugin is not loaded).
 */
export class IncompatibleApi extends Data.TaggedError("IncompatibleApi")<{
  readonly missing: ReadonlyArray<string>
  readonly mismatched: ReadonlyArray<{ readonly message: string; readonly expected: string; readonly actual: string }>
}> {
  override get message(): string {
    const parts = [
      ...this.mismatched.map((m) => `${m.message} has crc ${m.actual} in VPP, ${m.expected} in our bindings`),
      ...this.missing.map((m) => `${m} is not in VPP's message table`)
    ]
    return `VPP's binary API is incompatible with this build (${parts.length} messages): ${parts.join("; ")}`
  }
}

/** The connection is gone (closed by VPP, restarted, or declared dead after a timeout). */
export class VppDisconnected extends Data.TaggedError("VppDisconnected")<{
  readonly reason: string
}> {
  override get message(): string {
    return `VPP connection lost: ${this.reason}`
  }
}

/** No reply within the request's timeout. VPP answers in order, so the whole connection is then considered dead. */
export class VppTimeout extends Data.TaggedError("VppTimeout")<{
  readonly request: string
  readonly context: number
  readonly millis: number
}> {
  override get message(): string {
    return `no reply to ${this.request} (context ${this.context}) within ${this.millis} ms`
  }
}

/** VPP answered with a non-zero `retval`. */
export class VppApiError extends Data.TaggedError("VppApiError")<{
  readonly request: string
  readonly retval: number
}> {
  get errorName(): string {
    return vnetErrorName(this.retval)
  }
  override get message(): string {
    return `${this.request} failed: ${this.errorName} (${this.retval})`
  }
}

/** Something arrived that cannot be what we asked for: an undecodable reply, a wrong message for a context. */
export class VppProtocolError extends Data.TaggedError("VppProtocolError")<{
  readonly request: string
  readonly reason: string
}> {
  override get message(): string {
    return `protocol error on ${this.request}: ${this.reason}`
  }
}

/** A request whose fields do not encode, or a message this VPP's table does not have. */
export class VppRequestInvalid extends Data.TaggedError("VppRequestInvalid")<{
  readonly request: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot send ${this.request}: ${this.reason}`
  }
}

export type VppRequestError = VppDisconnected | VppTimeout | VppApiError | VppProtocolError | VppRequestInvalid
