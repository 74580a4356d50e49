/**
 * A text built as bytes, the way VPP's `format` appends to a `u8 *` vector:
 * `show lb vips verbose` at 1,000 VIPs × 32 ASes is 2 MB in 140,000 pieces,
 * which as string concatenation cost the simulator ~110 ms and most of its
 * garbage per call (a rope of pieces, then flattened); as bytes it is one
 * buffer and one string at the end.
 */
export class TextOut {
  private buf = takeScratch()
  private n = 0
  /** every byte written so far is below 0x80: the text is read back as latin1, which is the same string and far cheaper */
  private ascii = true

  private room(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + bytes))
    this.buf.copy(next, 0, 0, this.n)
    this.buf = next
  }

  /** Appends text (UTF-8; the CLI's is ASCII, written a character at a time). */
  str(s: string): this {
    this.room(s.length * 3)
    const b = this.buf
    let n = this.n
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) {
        this.ascii = false
        this.n += b.write(s, this.n, "utf8")
        return this
      }
      b[n++] = c
    }
    this.n = n
    return this
  }

  /**
   * Appends ASCII text already encoded (`ascii`, or `since`): an address printed on every line,
   * a constant piece, a block printed before.
   */
  bytes(t: Uint8Array): this {
    const len = t.length
    this.room(len)
    const b = this.buf
    if (len > 64) {
      b.set(t, this.n)
      this.n += len
      return this
    }
    let n = this.n
    for (let i = 0; i < len; i++) b[n++] = t[i]!
    this.n = n
    return this
  }

  /** Bytes written so far. */
  get length(): number {
    return this.n
  }

  /** A copy of what was written from `start` on (to append again later with `bytes`: it must be ASCII). */
  since(start: number): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, start, this.n)
  }

  /** Appends one byte (a "\n"). */
  byte(c: number): this {
    this.room(1)
    if (c >= 0x80) this.ascii = false
    this.buf[this.n++] = c
    return this
  }

  /** Appends a number as `%u` / `%lu` print it (a non-negative integer; anything else as JavaScript prints it). */
  num(v: number | bigint): this {
    if (typeof v === "bigint" || !Number.isSafeInteger(v) || v < 0) return this.str(String(v))
    this.room(16)
    const b = this.buf
    if (v < 10) {
      b[this.n++] = 48 + v
      return this
    }
    let digits = 0
    if (v <= 0x7fffffff) {
      // int32 arithmetic: no floating-point division per digit
      for (let x = v; x > 0; x = (x / 10) | 0) digits++
      let at = this.n + digits
      this.n = at
      for (let x = v; x > 0; x = (x / 10) | 0) b[--at] = 48 + (x % 10)
      return this
    }
    for (let x = v; x > 0; x = Math.floor(x / 10)) digits++
    let at = this.n + digits
    this.n = at
    for (let x = v; x > 0; x = Math.floor(x / 10)) b[--at] = 48 + (x % 10)
    return this
  }

  /** The text; the buffer goes back for the next TextOut (this one is done). */
  toString(): string {
    const text = this.buf.toString(this.ascii ? "latin1" : "utf8", 0, this.n)
    if (scratch === undefined) scratch = this.buf
    this.buf = Buffer.alloc(0)
    this.n = 0
    this.ascii = true
    return text
  }
}

/** ASCII text as bytes, for `TextOut.bytes`; anything else is refused (a simulator bug). */
export const ascii = (s: string): Uint8Array => {
  const b = Buffer.from(s, "latin1")
  if (b.some((c) => c >= 0x80) || b.length !== s.length) throw new RangeError(`TextOut: not ASCII: ${JSON.stringify(s)}`)
  return b
}

/**
 * The buffer the last finished TextOut wrote into, kept at its size: a 2 MB
 * listing grew a fresh 64 KB buffer five times, copying what it had each
 * time (~5 ms of the simulator's ~20 ms per listing). A TextOut made while
 * another holds it gets a buffer of its own.
 */
let scratch: Buffer | undefined = undefined
const takeScratch = (): Buffer => {
  const b = scratch ?? Buffer.allocUnsafe(1 << 16)
  scratch = undefined
  return b
}
