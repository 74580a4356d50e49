import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  HEADER_CAP,
  ResponseParser,
  type ResponseEvent
} from "../../../src/health/probes/internal/HttpResponse.js"

interface Parsed {
  readonly parser: ResponseParser
  /** The final event: "done", "error", or "more" if the bytes ran out first. */
  readonly last: ResponseEvent
  readonly events: ReadonlyArray<ResponseEvent>
  readonly body: Buffer
}

/** Feeds the chunks one by one, pulling events after each, then (unless `end: false`) says the connection closed. */
const parse = (
  chunks: ReadonlyArray<Uint8Array | string>,
  o: { readonly head?: boolean; readonly cap?: number; readonly end?: boolean } = {}
): Parsed => {
  const parser = new ResponseParser(o.head ?? false, o.cap)
  const events: Array<ResponseEvent> = []
  const bodies: Array<Buffer> = []
  let last: ResponseEvent = "more"
  const drain = (): boolean => {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const e = parser.next()
      if (e === "more") return false
      events.push(e)
      if (e === "body") bodies.push(Buffer.from(parser.body))
      if (e === "done" || e === "error") {
        last = e
        return true
      }
    }
    throw new Error("the parser does not stop")
  }
  let finished = false
  for (const c of chunks) {
    parser.feed(typeof c === "string" ? Buffer.from(c, "latin1") : Buffer.from(c))
    if (drain()) {
      finished = true
      break
    }
  }
  if (!finished && o.end !== false) {
    parser.end()
    drain()
  }
  return { parser, last, events, body: Buffer.concat(bodies) }
}

/** `bytes` cut at the given positions (taken modulo its length). */
const split = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  if (bytes.length === 0) return [bytes]
  const at = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b)
  const parts: Array<Buffer> = []
  let from = 0
  for (const c of at) {
    parts.push(bytes.subarray(from, c))
    from = c
  }
  parts.push(bytes.subarray(from))
  return parts
}

/** Each byte on its own. */
const bytewise = (s: string): Array<string> => [...s]

// ---------------------------------------------------------------------------
// generated responses

const FRAMING_NAMES = new Set(["content-length", "transfer-encoding"])
const token = fc
  .stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
  .filter((n) => !FRAMING_NAMES.has(n.toLowerCase()))
/** A field value: visible ASCII and obs-text, inner spaces and tabs, none at the ends. */
const fieldValue = fc.oneof(
  fc.constant(""),
  fc.stringMatching(/^[\x21-\x7e\xa0-\xff]([\x20-\x7e\x80-\xff\t]{0,30}[\x21-\x7e\xa0-\xff])?$/)
)
const reason = fc.oneof(fc.constant(""), fc.stringMatching(/^[A-Za-z]([A-Za-z -]{0,20}[A-Za-z])?$/))

const responseSpec = fc.record({
  interim: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
  status: fc.oneof(fc.integer({ min: 200, max: 599 }), fc.constantFrom(200, 204, 304)),
  reason,
  minor: fc.constantFrom(0, 1),
  headers: fc.array(fc.tuple(token, fieldValue), { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 3000 }),
  framing: fc.constantFrom("length" as const, "chunked" as const, "close" as const),
  chunkCuts: fc.array(fc.nat(), { maxLength: 8 }),
  extensions: fc.boolean(),
  upperHex: fc.boolean(),
  trailers: fc.array(fc.tuple(token, fieldValue), { maxLength: 3 }),
  bareLf: fc.boolean(),
  spaces: fc.constantFrom("", " ", "  ", "\t")
})

type Spec = typeof responseSpec extends fc.Arbitrary<infer T> ? T : never

/** The response's bytes and the body it carries. */
const render = (spec: Spec): { readonly bytes: Buffer; readonly body: Buffer } => {
  const eol = spec.bareLf ? "\n" : "\r\n"
  const parts: Array<Buffer> = []
  const text = (s: string) => parts.push(Buffer.from(s, "latin1"))
  for (const code of spec.interim) text(`HTTP/1.1 ${code} Interim${eol}X-Interim: ${code}${eol}${eol}`)
  text(`HTTP/1.${spec.minor} ${spec.status}${spec.reason === "" ? "" : ` ${spec.reason}`}${eol}`)
  const field = (name: string, value: string) => text(`${name}:${spec.spaces}${value}${spec.spaces}${eol}`)
  const headers = [...spec.headers]
  const body = Buffer.from(spec.body)
  if (spec.framing === "length") headers.splice(headers.length >> 1, 0, ["Content-Length", String(body.length)])
  if (spec.framing === "chunked") headers.splice(headers.length >> 1, 0, ["Transfer-Encoding", "chunked"])
  for (const [name, value] of headers) field(name, value)
  text(eol)
  const bodiless = spec.status === 204 || spec.status === 304
  if (bodiless) return { bytes: Buffer.concat(parts), body: Buffer.alloc(0) }
  if (spec.framing === "chunked") {
    const pieces = split(body, spec.chunkCuts).filter((p) => p.length > 0)
    pieces.forEach((piece, i) => {
      const size = spec.upperHex ? piece.length.toString(16).toUpperCase() : piece.length.toString(16)
      text(`${i % 2 === 0 ? "" : "00"}${size}${spec.extensions ? `;ext${i}=v ; q="a b"` : ""}${eol}`)
      parts.push(piece)
      text(eol)
    })
    text(`0${spec.extensions ? ";last" : ""}${eol}`)
    for (const [name, value] of spec.trailers) field(name, value)
    text(eol)
  } else {
    parts.push(body)
  }
  return { bytes: Buffer.concat(parts), body }
}

describe("ResponseParser", () => {
  it.prop(
    "parses any valid response, cut anywhere, to its status and body",
    [responseSpec, fc.array(fc.nat(), { maxLength: 40 })],
    ([spec, cuts]) => {
      const { bytes, body } = render(spec)
      const r = parse(split(bytes, cuts))
      expect(r.last).toBe("done")
      expect(r.parser.status).toBe(spec.status)
      expect(r.parser.reason).toBe(spec.reason)
      expect(r.parser.minor).toBe(spec.minor)
      expect(r.body.equals(body)).toBe(true)
      expect(r.parser.truncated).toBe(false)
      expect(r.events.filter((e) => e === "status")).toHaveLength(1)
      expect(r.events.filter((e) => e === "head")).toHaveLength(1)
      expect(r.events.indexOf("status")).toBeLessThan(r.events.indexOf("head"))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "knows the end of a length-delimited or chunked body without the connection closing",
    [responseSpec.filter((s) => s.framing !== "close"), fc.array(fc.nat(), { maxLength: 10 })],
    ([spec, cuts]) => {
      const { bytes, body } = render(spec)
      const r = parse(split(bytes, cuts), { end: false })
      expect(r.last).toBe("done")
      expect(r.body.equals(body)).toBe(true)
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "delivers at most the cap of body, then is done",
    [responseSpec, fc.array(fc.nat(), { maxLength: 10 }), fc.integer({ min: 0, max: 3500 })],
    ([spec, cuts, cap]) => {
      const { bytes, body } = render(spec)
      const r = parse(split(bytes, cuts), { cap })
      expect(r.last).toBe("done")
      expect(r.body.equals(body.subarray(0, cap))).toBe(true)
      if (body.length > cap) expect(r.parser.truncated).toBe(true)
      if (body.length < cap) expect(r.parser.truncated).toBe(false)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "never throws on arbitrary bytes, and is decided once the connection closed",
    [fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean()],
    ([bytes, cuts, head]) => {
      const r = parse(split(Buffer.from(bytes), cuts), { head })
      expect(["done", "error"]).toContain(r.last)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "never throws on damaged responses, and is decided once the connection closed",
    [
      responseSpec,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 10 })
    ],
    ([spec, damage, cuts]) => {
      const { bytes } = render(spec)
      const damaged = Buffer.from(bytes)
      for (const [at, value] of damage) damaged[at % damaged.length] = value
      const r = parse(split(damaged, cuts))
      expect(["done", "error"]).toContain(r.last)
      if (r.last === "error") expect(r.parser.failure?.reason).toBeTruthy()
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "never throws on a valid head followed by garbage",
    [fc.constantFrom("Transfer-Encoding: chunked", "Content-Length: 5", ""), fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 })],
    ([header, garbage, cuts]) => {
      const head = Buffer.from(`HTTP/1.1 200 OK\r\n${header === "" ? "" : `${header}\r\n`}\r\n`, "latin1")
      const r = parse(split(Buffer.concat([head, garbage]), cuts))
      expect(["done", "error"]).toContain(r.last)
      expect(r.parser.status).toBe(200)
    },
    { fastCheck: { numRuns: 300 } }
  )

  describe("status line", () => {
    it("takes the reason, or none", () => {
      expect(parse(["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"]).parser.reason).toBe("Service Unavailable")
      for (const line of ["HTTP/1.1 200", "HTTP/1.1 200 ", "HTTP/1.1 200  "]) {
        const r = parse([`${line}\r\nContent-Length: 0\r\n\r\n`])
        expect(r.last).toBe("done")
        expect(r.parser.status).toBe(200)
        expect(r.parser.reason).toBe("")
      }
    })

    it("says the status as soon as the status line is in, before the headers", () => {
      const p = new ResponseParser(false)
      p.feed(Buffer.from("HTTP/1.1 503 Service Unavailable\r\nServer: x"))
      expect(p.next()).toBe("status")
      expect(p.status).toBe(503)
      expect(p.next()).toBe("more")
    })

    it("refuses what is not an HTTP/1.x status line", () => {
      for (const line of [
        "HTTP/2 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.x 200 OK",
        "http/1.1 200 OK",
        "HTTP/1.1 200 O\x01K",
        "ICY 200 OK"
      ]) {
        const r = parse([`${line}\r\n\r\n`])
        expect(r.last, line).toBe("error")
        expect(r.parser.failure?.kind, line).toBe("malformed")
        expect(r.parser.failure?.reason, line).toMatch(/^invalid status line "/)
      }
    })

    it("refuses something else than HTTP at once, without waiting for a line end", () => {
      const r = parse(["SSH-2.0-Open"], { end: false })
      expect(r.last).toBe("error")
      expect(r.parser.failure).toEqual({ kind: "malformed", reason: 'invalid status line "SSH-2.0-Open"' })
      // A prefix of "HTTP/1." is not refused.
      expect(parse(["HTTP/"], { end: false }).last).toBe("more")
    })

    it("reads HTTP/1.0 and tolerates an empty line before the status line", () => {
      const r = parse(["\r\nHTTP/1.0 200 OK\r\n\r\nbody"])
      expect(r.last).toBe("done")
      expect(r.parser.minor).toBe(0)
      expect(r.parser.framing).toBe("close")
      expect(r.body.toString()).toBe("body")
    })
  })

  describe("interim responses", () => {
    it("skips 100 Continue and 103 Early Hints, then reads the final response", () => {
      const text =
        "HTTP/1.1 100 Continue\r\n\r\n" +
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      for (const chunks of [[text], bytewise(text)]) {
        const r = parse(chunks, { end: false })
        expect(r.last).toBe("done")
        expect(r.events.filter((e) => e !== "body")).toEqual(["status", "head", "done"])
        expect(r.parser.status).toBe(200)
        expect(r.parser.reason).toBe("OK")
        expect(r.body.toString()).toBe("ok")
      }
    })

    it("does not count interim heads against the final head's cap", () => {
      const hints = `HTTP/1.1 103 Early Hints\r\nLink: <${"a".repeat(HEADER_CAP - 100)}>\r\n\r\n`
      const r = parse([hints, hints, "HTTP/1.1 204 No Content\r\n\r\n"], { end: false })
      expect(r.last).toBe("done")
      expect(r.parser.status).toBe(204)
    })

    it("takes 101 as a final response without a body", () => {
      const r = parse(["HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"], { end: false })
      expect(r.last).toBe("done")
      expect(r.parser.status).toBe(101)
      expect(r.parser.framing).toBe("none")
    })

    it("refuses a malformed interim head", () => {
      const r = parse(["HTTP/1.1 100 Continue\r\nbad line\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"])
      expect(r.parser.failure?.kind).toBe("malformed")
    })
  })

  describe("the 16 KiB head cap", () => {
    /** A head of exactly `size` bytes (status line, one filler header, empty line). */
    const headOf = (size: number): string => {
      const start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Filler: "
      return `${start}${"y".repeat(size - start.length - 4)}\r\n\r\n`
    }

    it("accepts a head of 16 KiB, refuses one byte more", () => {
      expect(headOf(HEADER_CAP)).toHaveLength(HEADER_CAP)
      expect(parse([headOf(HEADER_CAP)], { end: false }).last).toBe("done")
      const over = parse([headOf(HEADER_CAP + 1)], { end: false })
      expect(over.last).toBe("error")
      expect(over.parser.failure).toEqual({ kind: "head-too-large", reason: "response headers larger than 16 KiB" })
    })

    it("refuses as soon as the cap is passed, line end or not", () => {
      const p = new ResponseParser(false)
      p.feed(Buffer.from("HTTP/1.1 200 OK\r\n"))
      expect(p.next()).toBe("status")
      let fed = 17
      let e: ResponseEvent = "more"
      while (e === "more") {
        p.feed(Buffer.from(`X-Filler: ${"y".repeat(1000)}\r\n`))
        fed += 1012
        e = p.next()
      }
      expect(e).toBe("error")
      expect(p.failure?.kind).toBe("head-too-large")
      expect(fed).toBeLessThan(HEADER_CAP + 1012)
      const long = parse(["HTTP/1.1 200 OK\r\nX-Long: ", "z".repeat(HEADER_CAP)], { end: false })
      expect(long.parser.failure?.kind).toBe("head-too-large")
    })

    it("holds split across chunks at any byte", () => {
      const r = parse(bytewise(headOf(HEADER_CAP + 1)), { end: false })
      expect(r.parser.failure?.kind).toBe("head-too-large")
    })
  })

  describe("headers", () => {
    it("refuses obs-fold, lines without a colon, space before the colon, control characters", () => {
      for (const line of ["X-A: 1\r\n  folded", " X-A: 1", "NoColon", "X-A : 1", ": empty name", "X-A: a\rb", "X-A: a\x00b", "X@A: 1"]) {
        const r = parse([`HTTP/1.1 200 OK\r\n${line}\r\nContent-Length: 0\r\n\r\n`])
        expect(r.last, JSON.stringify(line)).toBe("error")
        expect(r.parser.failure?.kind, JSON.stringify(line)).toBe("malformed")
      }
    })

    it("accepts bare LF line ends, empty values, obs-text", () => {
      const r = parse(["HTTP/1.1 200 OK\nX-Empty:\nX-Text: caf\xe9\ncontent-LENGTH:   3  \n\nabc"], { end: false })
      expect(r.last).toBe("done")
      expect(r.body.toString()).toBe("abc")
    })
  })

  describe("framing", () => {
    it("reads no body for HEAD, 204 and 304, whatever the headers", () => {
      const head = parse(["HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"], { head: true, end: false })
      expect(head.last).toBe("done")
      expect(head.parser.framing).toBe("none")
      for (const status of [204, 304]) {
        const r = parse([`HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n`], { end: false })
        expect(r.last).toBe("done")
        expect(r.body).toHaveLength(0)
      }
    })

    it("takes equal Content-Length values, refuses different or invalid ones", () => {
      for (const headers of ["Content-Length: 3\r\nContent-Length: 3", "Content-Length: 3, 3"]) {
        const r = parse([`HTTP/1.1 200 OK\r\n${headers}\r\n\r\nabcdef`], { end: false })
        expect(r.last).toBe("done")
        expect(r.body.toString()).toBe("abc")
      }
      for (const headers of [
        "Content-Length: 3\r\nContent-Length: 4",
        "Content-Length: 3, 4",
        "Content-Length: -3",
        "Content-Length: 3x",
        "Content-Length:",
        "Content-Length: 1e3",
        "Content-Length: 12345678901234567890"
      ]) {
        const r = parse([`HTTP/1.1 200 OK\r\n${headers}\r\n\r\nabc`])
        expect(r.last, headers).toBe("error")
        expect(r.parser.failure?.kind, headers).toBe("malformed")
      }
    })

    it("lets Transfer-Encoding decide: chunked last, else until close; over Content-Length", () => {
      const chunked = parse(["HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"], { end: false })
      expect(chunked.last).toBe("done")
      expect(chunked.parser.framing).toBe("chunked")
      expect(chunked.body.toString()).toBe("ok")
      const split = parse(["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], { end: false })
      expect(split.parser.framing).toBe("chunked")
      const close = parse(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok"])
      expect(close.parser.framing).toBe("close")
      expect(close.body.toString()).toBe("2\r\nok")
    })

    it("reads chunked bodies with extensions and trailers, split at every byte", () => {
      const text =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;foo=bar\r\nhello\r\n" +
        "6 ; q=\"x y\";z\r\n world\r\n" +
        "A\r\n, 10 bytes\r\n" +
        "0;end\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
      for (const chunks of [[text], bytewise(text)]) {
        const r = parse(chunks, { end: false })
        expect(r.last).toBe("done")
        expect(r.body.toString()).toBe("hello world, 10 bytes")
      }
    })

    it("refuses bad chunk sizes, a missing CRLF after chunk data, bad trailers", () => {
      for (const body of ["zz\r\n", "\r\n", "5 x\r\nhello\r\n0\r\n\r\n", "fffffffffffffffff\r\n", "2\r\nokX\r\n0\r\n\r\n", "2\r\nok\r\n0\r\nbad trailer\r\n\r\n", "2;\x01\r\nok\r\n"]) {
        const r = parse([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`])
        expect(r.last, JSON.stringify(body)).toBe("error")
        expect(r.parser.failure?.kind, JSON.stringify(body)).toBe("malformed")
      }
    })

    it("refuses trailers over 16 KiB", () => {
      const r = parse([`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"t".repeat(HEADER_CAP)}\r\n\r\n`])
      expect(r.parser.failure).toEqual({ kind: "malformed", reason: "trailers larger than 16 KiB" })
    })
  })

  describe("a connection that closes early", () => {
    it("before the head is whole: closed before a response", () => {
      for (const text of ["", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Le", "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1."]) {
        const r = parse([text])
        expect(r.last, text).toBe("error")
        expect(r.parser.failure, text).toEqual({ kind: "closed-before-head", reason: "connection closed before a response" })
      }
    })

    it("in a Content-Length or chunked body: closed in the middle of the body", () => {
      for (const text of [
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n"
      ]) {
        const r = parse([text])
        expect(r.last, text).toBe("error")
        expect(r.parser.failure?.kind, text).toBe("closed-mid-body")
      }
    })

    it("a close-delimited body ends with the connection", () => {
      const r = parse(["HTTP/1.1 200 OK\r\n\r\nsome", " more"])
      expect(r.last).toBe("done")
      expect(r.body.toString()).toBe("some more")
    })
  })

  it("ignores what comes after it is done or failed", () => {
    const p = new ResponseParser(false)
    p.feed(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    expect([p.next(), p.next(), p.next()]).toEqual(["status", "head", "done"])
    p.feed(Buffer.from("HTTP/1.1 500 Oops\r\n\r\n"))
    expect(p.next()).toBe("done")
    expect(p.status).toBe(200)
  })
})
