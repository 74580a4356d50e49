/**
 * An incremental HTTP/1.x response parser for the HTTP probe: pure, no I/O.
 *
 * Feed it the bytes as they come ({@link ResponseParser.feed}), say when the
 * connection closed ({@link ResponseParser.end}), and pull what they made
 * with {@link ResponseParser.next} until it says "more":
 *
 * - "status": the status line of the final response is in (`status`,
 *   `reason`); interim 1xx responses (100 Continue, 103 Early Hints) are
 *   skipped, their heads read and dropped. 101 is taken as final, bodiless;
 * - "head": the head is complete; `framing` says how the body is delimited;
 * - "body": `body` holds the next bytes of the body (a view of the input);
 * - "done": the response is complete, or `bodyCap` bytes of body were
 *   delivered (`truncated`);
 * - "error": `failure` says why: malformed, head over {@link HEADER_CAP},
 *   closed before the head or in the middle of the body.
 *
 * "done" and "error" are final: `next` keeps returning them. Nothing throws.
 *
 * Allocation-light: bytes are scanned in place; only the status reason is
 * decoded (a short string), and only the framing headers (Content-Length,
 * Transfer-Encoding) are looked at, without making objects for them. A line
 * split across chunks is the only copy (the unfinished part is joined to the
 * next chunk).
 */

/** Largest response head (status line, headers and the empty line) accepted; also the trailers' limit. */
export const HEADER_CAP = 16 * 1024

export type ResponseEvent = "more" | "status" | "head" | "body" | "done" | "error"

export type Framing = "none" | "length" | "chunked" | "close"

export interface ResponseFailure {
  readonly kind: "malformed" | "head-too-large" | "closed-before-head" | "closed-mid-body"
  readonly reason: string
}

// States.
const STATUS = 0 // expecting a status line
const HEADERS = 1 // header lines of the current head
const BODY_LENGTH = 2
const BODY_CLOSE = 3
const CHUNK_SIZE = 4
const CHUNK_DATA = 5
const CHUNK_END = 6 // the CRLF after a chunk's data
const TRAILERS = 7
const DONE = 8
const FAILED = 9

const LF = 10
const CR = 13
const SP = 32
const HTAB = 9

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1

/** Hex digit values, 255 for anything else. */
const HEX = new Uint8Array(256).fill(255)
for (let i = 0; i < 16; i++) HEX["0123456789abcdef".charCodeAt(i)] = i
for (let i = 10; i < 16; i++) HEX["ABCDEF".charCodeAt(i - 10)] = i

/** A field value or reason byte: HTAB, SP, VCHAR, obs-text (no controls, no DEL). */
const textByte = (c: number): boolean => c === HTAB || (c >= SP && c !== 127)

const HTTP_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e] // "HTTP/1."
const CONTENT_LENGTH = "content-length"
const TRANSFER_ENCODING = "transfer-encoding"
const CHUNKED = "chunked"

const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER

const EMPTY = Buffer.alloc(0)

export class ResponseParser {
  /** Final status code, once "status" was returned. */
  status = 0
  /** Its reason phrase, possibly "". */
  reason = ""
  /** The minor version of the final response: HTTP/1.0 or 1.1. */
  minor = 1
  /** How the body is delimited, once "head" was returned. */
  framing: Framing = "none"
  /** Content-Length, or -1 when absent. */
  contentLength = -1
  /** The bytes of the last "body" event. */
  body: Buffer = EMPTY
  /** Body bytes delivered so far. */
  bodyBytes = 0
  /** "done" came because `bodyCap` bytes of body were delivered, not at the end of the body. */
  truncated = false
  /** Why, after "error". */
  failure: ResponseFailure | undefined = undefined

  private state = STATUS
  private buf: Buffer = EMPTY
  private pos = 0
  /** Up to where `buf` is known to hold no LF (from `pos`). */
  private scanned = 0
  private ended = false
  /** Bytes of the current head (or trailer section) so far. */
  private sectionBytes = 0
  private interim = false
  private chunked = false
  private transferEncoding = false
  /** Body bytes left: of the Content-Length, or of the current chunk. */
  private remaining = 0

  /**
   * @param headRequest the request was HEAD: no body, whatever the headers say.
   * @param bodyCap at most this many body bytes are delivered; then "done", `truncated`.
   */
  constructor(
    private readonly headRequest: boolean,
    private readonly bodyCap: number = Number.POSITIVE_INFINITY
  ) {}

  /** More bytes from the connection. */
  feed(chunk: Buffer): void {
    if (this.state >= DONE || chunk.length === 0) return
    if (this.pos >= this.buf.length) {
      this.buf = chunk
      this.scanned = 0
    } else {
      // Only an unfinished line is ever left over: join it to the new bytes.
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk])
      this.scanned -= this.pos
    }
    this.pos = 0
  }

  /** The connection closed (no more bytes will come). */
  end(): void {
    this.ended = true
  }

  /** What the bytes so far made; "more" when they are used up. */
  next(): ResponseEvent {
    for (;;) {
      switch (this.state) {
        case STATUS: {
          const lf = this.lineEnd()
          if (lf < 0) return this.headMissing()
          const e = this.headLine(lf)
          if (e < 0) return "error"
          if (e === this.pos) {
            this.pos = lf + 1 // an empty line before the status line: tolerated
            continue
          }
          const ev = this.statusLine(this.pos, e)
          this.pos = lf + 1
          if (ev !== undefined) return ev
          continue
        }
        case HEADERS: {
          const lf = this.lineEnd()
          if (lf < 0) return this.headMissing()
          const e = this.headLine(lf)
          if (e < 0) return "error"
          const s = this.pos
          this.pos = lf + 1
          if (e === s) {
            if (this.interim) {
              this.state = STATUS
              this.sectionBytes = 0
              continue
            }
            return this.headDone()
          }
          if (!this.headerLine(s, e, !this.interim)) return "error"
          continue
        }
        case BODY_LENGTH:
          return this.remaining === 0 ? this.done() : this.counted()
        case BODY_CLOSE: {
          const avail = this.buf.length - this.pos
          if (avail > 0 && this.bodyBytes >= this.bodyCap) return this.capped()
          if (this.take(avail) > 0) return "body"
          return this.ended ? this.done() : "more"
        }
        case CHUNK_SIZE: {
          if (this.bodyBytes >= this.bodyCap) return this.capped()
          const lf = this.lineEnd()
          if (lf < 0) {
            if (this.buf.length - this.pos > HEADER_CAP) return this.malformed("chunk size line too long")
            return this.ended ? this.closedMidBody() : "more"
          }
          const e = this.bodyLine(lf)
          if (e < 0) return "error"
          const s = this.pos
          this.pos = lf + 1
          if (!this.chunkSize(s, e)) return "error"
          if (this.remaining === 0) {
            this.state = TRAILERS
            this.sectionBytes = 0
          } else {
            this.state = CHUNK_DATA
          }
          continue
        }
        case CHUNK_DATA: {
          if (this.remaining === 0) {
            this.state = CHUNK_END
            continue
          }
          return this.counted()
        }
        case CHUNK_END: {
          const avail = this.buf.length - this.pos
          if (avail === 0) return this.ended ? this.closedMidBody() : "more"
          const c = this.buf[this.pos]
          if (c === LF) {
            this.pos++
          } else if (c === CR) {
            if (avail === 1) return this.ended ? this.closedMidBody() : "more"
            if (this.buf[this.pos + 1] !== LF) return this.malformed("no CRLF after the chunk data")
            this.pos += 2
          } else {
            return this.malformed("no CRLF after the chunk data")
          }
          this.state = CHUNK_SIZE
          continue
        }
        case TRAILERS: {
          const lf = this.lineEnd()
          if (lf < 0) {
            if (this.sectionBytes + this.buf.length - this.pos > HEADER_CAP) {
              return this.malformed(`trailers larger than ${HEADER_CAP / 1024} KiB`)
            }
            return this.ended ? this.closedMidBody() : "more"
          }
          this.sectionBytes += lf + 1 - this.pos
          if (this.sectionBytes > HEADER_CAP) return this.malformed(`trailers larger than ${HEADER_CAP / 1024} KiB`)
          const e = this.bodyLine(lf)
          if (e < 0) return "error"
          const s = this.pos
          this.pos = lf + 1
          if (e === s) return this.done()
          if (!this.headerLine(s, e, false)) return "error"
          continue
        }
        case DONE:
          return "done"
        default:
          return "error"
      }
    }
  }

  // -------------------------------------------------------------------------
  // lines

  /** The index of the next LF from `pos`, or -1 (remembering how far it looked). */
  private lineEnd(): number {
    const from = this.scanned > this.pos ? this.scanned : this.pos
    const lf = this.buf.indexOf(LF, from)
    if (lf < 0) this.scanned = this.buf.length
    return lf
  }

  /** A head line ending at `lf`: counts it against the cap; its end without the CR, or -1 (failed). */
  private headLine(lf: number): number {
    this.sectionBytes += lf + 1 - this.pos
    if (this.sectionBytes > HEADER_CAP) return this.fail("head-too-large", `response headers larger than ${HEADER_CAP / 1024} KiB`)
    return this.bodyLine(lf)
  }

  /** The end of the line ending at `lf`, without its CR. */
  private bodyLine(lf: number): number {
    return lf > this.pos && this.buf[lf - 1] === CR ? lf - 1 : lf
  }

  /** No whole line in the head: wait for more, or fail (over the cap, not HTTP, closed). */
  private headMissing(): ResponseEvent {
    const avail = this.buf.length - this.pos
    if (this.sectionBytes + avail > HEADER_CAP) {
      this.fail("head-too-large", `response headers larger than ${HEADER_CAP / 1024} KiB`)
      return "error"
    }
    if (this.state === STATUS && avail > 0 && this.buf[this.pos] !== CR) {
      // Not HTTP at all: say so now rather than wait for a line end that may never come.
      const n = avail < HTTP_1.length ? avail : HTTP_1.length
      for (let i = 0; i < n; i++) {
        if (this.buf[this.pos + i] !== HTTP_1[i]) return this.badStatusLine(this.pos, this.buf.length)
      }
    }
    if (this.ended) {
      this.fail("closed-before-head", "connection closed before a response")
      return "error"
    }
    return "more"
  }

  /** Parses `HTTP/1.x SSS reason`; "status" for a final response, undefined for an interim one. */
  private statusLine(s: number, e: number): ResponseEvent | undefined {
    const b = this.buf
    if (e - s < 12) return this.badStatusLine(s, e)
    for (let i = 0; i < HTTP_1.length; i++) if (b[s + i] !== HTTP_1[i]) return this.badStatusLine(s, e)
    const minor = b[s + 7]! - 48
    const d1 = b[s + 9]! - 48
    const d2 = b[s + 10]! - 48
    const d3 = b[s + 11]! - 48
    if (minor < 0 || minor > 9 || b[s + 8] !== SP) return this.badStatusLine(s, e)
    if (d1 < 1 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return this.badStatusLine(s, e)
    if (e > s + 12 && b[s + 12] !== SP) return this.badStatusLine(s, e)
    let re = e
    while (re > s + 13 && (b[re - 1] === SP || b[re - 1] === HTAB)) re--
    for (let i = s + 13; i < re; i++) if (!textByte(b[i]!)) return this.badStatusLine(s, e)
    const status = d1 * 100 + d2 * 10 + d3
    this.state = HEADERS
    if (status < 200 && status !== 101) {
      this.interim = true
      return undefined
    }
    this.interim = false
    this.status = status
    this.minor = minor
    this.reason = re > s + 13 ? b.toString("latin1", s + 13, re) : ""
    return "status"
  }

  private badStatusLine(s: number, e: number): ResponseEvent {
    return this.malformed(`invalid status line ${excerpt(this.buf, s, e)}`)
  }

  /** A `name: value` line; framing headers are noted when `framing`. False when it failed. */
  private headerLine(s: number, e: number, framing: boolean): boolean {
    const b = this.buf
    const first = b[s]!
    if (first === SP || first === HTAB) {
      this.malformed("obsolete line folding in a header")
      return false
    }
    let i = s
    while (i < e && TCHAR[b[i]!] === 1) i++
    if (i === s || i === e || b[i] !== 0x3a) {
      this.malformed(`invalid header line ${excerpt(b, s, e)}`)
      return false
    }
    const nameEnd = i
    let vs = i + 1
    while (vs < e && (b[vs] === SP || b[vs] === HTAB)) vs++
    let ve = e
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--
    for (let j = vs; j < ve; j++) {
      if (!textByte(b[j]!)) {
        this.malformed(`invalid character in header ${excerpt(b, s, nameEnd)}`)
        return false
      }
    }
    if (!framing) return true
    const n = nameEnd - s
    if (n === CONTENT_LENGTH.length && sameLower(b, s, CONTENT_LENGTH)) return this.contentLengthValue(vs, ve)
    if (n === TRANSFER_ENCODING.length && sameLower(b, s, TRANSFER_ENCODING)) {
      // The codings add up over the headers; the last one decides whether the body is chunked.
      let ls = ve
      while (ls > vs && b[ls - 1] !== 0x2c) ls--
      while (ls < ve && (b[ls] === SP || b[ls] === HTAB)) ls++
      if (ls === ve && ls === vs) return true // an empty Transfer-Encoding adds no coding
      this.transferEncoding = true
      this.chunked = ve - ls === CHUNKED.length && sameLower(b, ls, CHUNKED)
    }
    return true
  }

  /** `Content-Length: 123`, or a list of the same value; anything else is malformed. */
  private contentLengthValue(vs: number, ve: number): boolean {
    const b = this.buf
    let i = vs
    for (;;) {
      let value = 0
      const start = i
      while (i < ve && b[i]! >= 48 && b[i]! <= 57) {
        value = value * 10 + (b[i]! - 48)
        i++
      }
      if (i === start || i - start > 15) {
        this.malformed(`invalid Content-Length ${excerpt(b, vs, ve)}`)
        return false
      }
      if (this.contentLength >= 0 && this.contentLength !== value) {
        this.malformed("conflicting Content-Length values")
        return false
      }
      this.contentLength = value
      while (i < ve && (b[i] === SP || b[i] === HTAB)) i++
      if (i === ve) return true
      if (b[i] !== 0x2c) {
        this.malformed(`invalid Content-Length ${excerpt(b, vs, ve)}`)
        return false
      }
      i++
      while (i < ve && (b[i] === SP || b[i] === HTAB)) i++
    }
  }

  /** The head is whole: choose the framing. */
  private headDone(): ResponseEvent {
    const status = this.status
    if (this.headRequest || status === 204 || status === 304 || status < 200) {
      this.framing = "none"
      this.state = DONE
    } else if (this.transferEncoding) {
      // Transfer-Encoding overrides Content-Length (RFC 9112 6.3); not chunked last: until close.
      this.framing = this.chunked ? "chunked" : "close"
      this.state = this.chunked ? CHUNK_SIZE : BODY_CLOSE
    } else if (this.contentLength >= 0) {
      this.framing = "length"
      this.remaining = this.contentLength
      this.state = BODY_LENGTH
    } else {
      this.framing = "close"
      this.state = BODY_CLOSE
    }
    return "head"
  }

  // -------------------------------------------------------------------------
  // body

  /** `hex-size [; extensions]`; sets `remaining`. False when it failed. */
  private chunkSize(s: number, e: number): boolean {
    const b = this.buf
    let i = s
    let size = 0
    while (i < e && HEX[b[i]!] !== 255) {
      if (size > (MAX_CHUNK_SIZE - 15) / 16) {
        this.malformed("chunk size too large")
        return false
      }
      size = size * 16 + HEX[b[i]!]!
      i++
    }
    if (i === s) {
      this.malformed(`invalid chunk size ${excerpt(b, s, e)}`)
      return false
    }
    while (i < e && (b[i] === SP || b[i] === HTAB)) i++
    if (i < e) {
      if (b[i] !== 0x3b) {
        this.malformed(`invalid chunk size ${excerpt(b, s, e)}`)
        return false
      }
      for (let j = i + 1; j < e; j++) {
        if (!textByte(b[j]!)) {
          this.malformed("invalid character in a chunk extension")
          return false
        }
      }
    }
    this.remaining = size
    return true
  }

  /** Hands out up to `max` available body bytes (and no more than the cap) as `body`; how many. */
  private take(max: number): number {
    const avail = this.buf.length - this.pos
    const room = this.bodyCap - this.bodyBytes
    let n = avail < max ? avail : max
    if (room < n) n = room
    if (n <= 0) return 0
    this.body = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    this.bodyBytes += n
    return n
  }

  // -------------------------------------------------------------------------
  // ends

  private done(): ResponseEvent {
    this.state = DONE
    this.release()
    return "done"
  }

  /** Body bytes of a counted stretch (the Content-Length, or one chunk), `remaining` > 0. */
  private counted(): ResponseEvent {
    if (this.bodyBytes >= this.bodyCap) return this.capped()
    const n = this.take(this.remaining)
    if (n > 0) {
      this.remaining -= n
      return "body"
    }
    return this.ended ? this.closedMidBody() : "more"
  }

  private capped(): ResponseEvent {
    this.truncated = true
    return this.done()
  }

  private closedMidBody(): ResponseEvent {
    this.fail("closed-mid-body", "connection closed in the middle of the body")
    return "error"
  }

  private malformed(reason: string): ResponseEvent {
    this.fail("malformed", reason)
    return "error"
  }

  private fail(kind: ResponseFailure["kind"], reason: string): -1 {
    this.failure = { kind, reason }
    this.state = FAILED
    this.release()
    return -1
  }

  private release(): void {
    this.buf = EMPTY
    this.pos = 0
    this.scanned = 0
  }
}

/** Whether the bytes at `s` are `lower` (lower-case ASCII), case-insensitively. */
const sameLower = (b: Buffer, s: number, lower: string): boolean => {
  for (let i = 0; i < lower.length; i++) {
    const c = b[s + i]!
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false
  }
  return true
}

/** A short quoted excerpt of the bytes, for people. */
const excerpt = (b: Buffer, s: number, e: number): string => {
  const end = e - s > 40 ? s + 40 : e
  return JSON.stringify(b.toString("latin1", s, end)) + (end < e ? "..." : "")
}
