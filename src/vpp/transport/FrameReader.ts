/**
 * Reassembles socket reads into message bodies (vpp-wire.md §1.2): a read may
 * hold part of a header, several messages, or a slice of one large message
 * (`sockclnt_create_reply` is ~10 KB, `get_api_json_reply` megabytes). Bytes
 * are appended to one growing buffer, consumed from its front, and compacted
 * only when the free space runs out, so a large message costs O(size).
 */
import { HEADER_SIZE, bodyLength } from "../codec/Frame.js"

/** A header announcing more than this is treated as a broken stream rather than allocated. */
export const DEFAULT_MAX_BODY = 64 * 1024 * 1024

export class FrameTooLarge extends Error {
  constructor(readonly length: number, readonly max: number) {
    super(`a frame announces ${length} body bytes, more than the ${max} accepted`)
  }
}

export class FrameReader {
  private buf = new Uint8Array(8192)
  private start = 0
  private end = 0

  constructor(private readonly maxBody = DEFAULT_MAX_BODY) {}

  /** Bytes received but not yet returned as a body. */
  get buffered(): number {
    return this.end - this.start
  }

  push(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start
      if (live + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end)
      } else {
        let size = this.buf.length * 2
        while (size < live + chunk.length) size *= 2
        const grown = new Uint8Array(size)
        grown.set(this.buf.subarray(this.start, this.end))
        this.buf = grown
      }
      this.start = 0
      this.end = live
    }
    this.buf.set(chunk, this.end)
    this.end += chunk.length
  }

  /**
   * The next complete body (u16 message id + payload), copied out, or
   * undefined until enough bytes have arrived. Throws FrameTooLarge for a
   * length beyond the limit: the stream cannot be trusted past that point.
   */
  next(): Uint8Array | undefined {
    if (this.end - this.start < HEADER_SIZE) return undefined
    const length = bodyLength(this.buf, this.start)
    if (length > this.maxBody) throw new FrameTooLarge(length, this.maxBody)
    const total = HEADER_SIZE + length
    if (this.end - this.start < total) return undefined
    const body = this.buf.slice(this.start + HEADER_SIZE, this.start + total)
    this.start += total
    if (this.start === this.end) {
      this.start = 0
      this.end = 0
    }
    return body
  }
}
