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
    this.reserve(chunk.length)
    this.buf.set(chunk, this.end)
    this.end += chunk.length
  }

  /** At least `size` bytes free after `end`: the live bytes moved to the front, or a bigger buffer. */
  private reserve(size: number): void {
    if (this.end + size <= this.buf.length) return
    const live = this.end - this.start
    if (live + size <= this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end)
    } else {
      let grown = this.buf.length * 2
      while (grown < live + size) grown *= 2
      const bigger = new Uint8Array(grown)
      bigger.set(this.buf.subarray(this.start, this.end))
      this.buf = bigger
    }
    this.start = 0
    this.end = live
  }

  /**
   * Where the next read goes, straight into the buffer (a socket's `onread`):
   * the free bytes after what is buffered, at least `min`. `wrote` then says
   * how many the read filled. No chunk is allocated or copied per read.
   */
  space(min: number): Uint8Array {
    this.reserve(min)
    return this.buf.subarray(this.end)
  }

  /** `n` bytes were read into the last `space`. */
  wrote(n: number): void {
    this.end += n
  }

  /**
   * The next complete body (u16 message id + payload), copied out, or
   * undefined until enough bytes have arrived. Throws FrameTooLarge for a
   * length beyond the limit: the stream cannot be trusted past that point.
   */
  next(): Uint8Array | undefined {
    const at = this.take()
    return at === undefined ? undefined : this.buf.slice(at, this.taken)
  }

  /**
   * `next` without the copy: a view of the buffer, valid until the next
   * `push` or `space` (for a caller that decodes it at once: the body of a
   * 2 MB listing is not copied).
   */
  nextView(): Uint8Array | undefined {
    const at = this.take()
    return at === undefined ? undefined : this.buf.subarray(at, this.taken)
  }

  /** Where the body `take` found ends. */
  private taken = 0

  /** Consumes the next complete frame; where its body starts (it ends at `taken`), or undefined. */
  private take(): number | undefined {
    if (this.end - this.start < HEADER_SIZE) return undefined
    const length = bodyLength(this.buf, this.start)
    if (length > this.maxBody) throw new FrameTooLarge(length, this.maxBody)
    const total = HEADER_SIZE + length
    if (this.end - this.start < total) return undefined
    const at = this.start + HEADER_SIZE
    this.start += total
    this.taken = this.start
    if (this.start === this.end) {
      // Empty: the next bytes go to the front (what was taken stays there until they come).
      this.start = 0
      this.end = 0
    }
    return at
  }
}
