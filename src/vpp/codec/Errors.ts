import { Data } from "effect"

/**
 * Bytes that do not decode as the named VPP type: truncated, too long, or
 * holding a value the definition does not allow (an enum value it does not
 * declare, an address family other than IPv4/IPv6, a prefix length beyond the
 * family). `field` is the path inside the type (`pfx.len`,
 * `message_table[3].name`; empty for the whole value) and `offset` the byte
 * offset, from the start of the decoded buffer, where the problem was found.
 */
export class VppDecodeError extends Data.TaggedError("VppDecodeError")<{
  readonly type: string
  readonly field: string
  readonly offset: number
  readonly reason: string
}> {
  override get message(): string {
    const where = this.field === "" ? this.type : `${this.type}.${this.field}`
    return `cannot decode ${where} at byte ${this.offset}: ${this.reason}`
  }
}

/**
 * A value that cannot be put on the wire as the named VPP type: out of range
 * for its integer type, too long for its fixed size, not an address, an enum
 * name the definition does not declare. Encoding never truncates silently.
 */
export class VppEncodeError extends Data.TaggedError("VppEncodeError")<{
  readonly type: string
  readonly field: string
  readonly value: unknown
  readonly reason: string
}> {
  override get message(): string {
    const where = this.field === "" ? this.type : `${this.type}.${this.field}`
    return `cannot encode ${where}: ${this.reason}`
  }
}
