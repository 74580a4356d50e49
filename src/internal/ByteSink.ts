/**
 * A growing byte buffer that frames are encoded into back to back
 * (`Frame.encodeFrameOverInto`'s `Sink`): the client's per-tick batch
 * (`vpp/transport/Coalesce.ts`) and vppsim's per-connection output
 * (`sim/ApiServer.ts`). It doubles when full, copying what it holds.
 */
export class ByteSink {
  bytes: Buffer
  /** bytes of `bytes` in use; set it back to drop what was reserved since (a frame that failed to encode) */
  used = 0

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafe(size)
  }

  /** Makes room for `size` more bytes; returns their offset in `bytes`. */
  reserve(size: number): number {
    const at = this.used
    if (at + size > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, at + size))
      this.bytes.copy(bigger, 0, 0, at)
      this.bytes = bigger
    }
    this.used = at + size
    return at
  }
}
