/**
 * Socket framing (vpp-wire.md §1.2): every message is preceded by a 16-byte
 * header of which only the u32 big-endian length at bytes 8..11 means
 * anything; the body is the u16 big-endian message id followed by the
 * message's encoded fields.
 */
import { Either } from "effect"
import type { Codec } from "./Codec.js"
import { VppDecodeError, type VppEncodeError } from "./Errors.js"

export const HEADER_SIZE = 16
export const MSG_ID_SIZE = 2

/** Body length announced by the header at `offset` (the caller checks that 16 bytes are there). */
export const bodyLength = (bytes: Uint8Array, offset = 0): number =>
  ((bytes[offset + 8]! << 24) | (bytes[offset + 9]! << 16) | (bytes[offset + 10]! << 8) | bytes[offset + 11]!) >>> 0

/** Writes a header announcing `length` body bytes; bytes 0..7 and 12..15 are zero, as papi writes them. */
export const writeHeader = (target: Uint8Array, offset: number, length: number): void => {
  target.fill(0, offset, offset + HEADER_SIZE)
  target[offset + 8] = length >>> 24
  target[offset + 9] = (length >>> 16) & 0xff
  target[offset + 10] = (length >>> 8) & 0xff
  target[offset + 11] = length & 0xff
}

/** Header + message id + payload, in one buffer ready for the socket. */
export const encodeFrame = <A>(msgId: number, codec: Codec<A>, value: A): Either.Either<Uint8Array, VppEncodeError> =>
  Either.flatMap(codec.sizeOf(value), (size) => {
    const out = new Uint8Array(HEADER_SIZE + MSG_ID_SIZE + size)
    writeHeader(out, 0, MSG_ID_SIZE + size)
    out[HEADER_SIZE] = msgId >>> 8
    out[HEADER_SIZE + 1] = msgId & 0xff
    return Either.map(codec.encodeInto(value, out, HEADER_SIZE + MSG_ID_SIZE), () => out)
  })

/** Where frames are encoded: `reserve` makes room for `size` bytes and returns their offset in `bytes`. */
export interface Sink {
  readonly bytes: Uint8Array
  readonly reserve: (size: number) => number
}

/**
 * `encodeFrame` of `{ ...value, ...over }`, without that copy (`Codec.encodeIntoOver`: a
 * request's header fields), into the room `sink` reserves for it.
 */
export const encodeFrameOverInto = <A>(
  msgId: number,
  codec: Codec<A>,
  value: object,
  over: Readonly<Record<string, unknown>>,
  sink: Sink
): Either.Either<number, VppEncodeError> =>
  Either.flatMap(codec.sizeOf(value as A), (size) => {
    const at = sink.reserve(HEADER_SIZE + MSG_ID_SIZE + size)
    const out = sink.bytes
    writeHeader(out, at, MSG_ID_SIZE + size)
    out[at + HEADER_SIZE] = msgId >>> 8
    out[at + HEADER_SIZE + 1] = msgId & 0xff
    return codec.encodeIntoOver(value, over, out, at + HEADER_SIZE + MSG_ID_SIZE)
  })

/** `encodeFrameOverInto` a buffer of its own. */
export const encodeFrameOver = <A>(
  msgId: number,
  codec: Codec<A>,
  value: object,
  over: Readonly<Record<string, unknown>>
): Either.Either<Uint8Array, VppEncodeError> => {
  const sink = {
    bytes: new Uint8Array(0),
    reserve: (size: number) => {
      sink.bytes = new Uint8Array(size)
      return 0
    }
  }
  return Either.map(encodeFrameOverInto(msgId, codec, value, over, sink), () => sink.bytes)
}

export interface Frame {
  readonly msgId: number
  /** the message's fields, after the id */
  readonly payload: Uint8Array
}

/** Splits one complete body (message id + payload) as announced by a header. */
export const splitBody = (body: Uint8Array): Either.Either<Frame, VppDecodeError> =>
  body.length < MSG_ID_SIZE
    ? Either.left(
      new VppDecodeError({ type: "frame", field: "_vl_msg_id", offset: 0, reason: `body of ${body.length} bytes has no message id` })
    )
    : Either.right({ msgId: (body[0]! << 8) | body[1]!, payload: body.subarray(MSG_ID_SIZE) })

/** Parses exactly one framed message (header + body), refusing a length that disagrees with the bytes. */
export const decodeFrame = (bytes: Uint8Array): Either.Either<Frame, VppDecodeError> => {
  if (bytes.length < HEADER_SIZE) {
    return Either.left(
      new VppDecodeError({ type: "frame", field: "header", offset: 0, reason: `${bytes.length} bytes, a header needs 16` })
    )
  }
  const length = bodyLength(bytes)
  if (length !== bytes.length - HEADER_SIZE) {
    return Either.left(
      new VppDecodeError({
        type: "frame",
        field: "header.data_len",
        offset: 8,
        reason: `header announces ${length} body bytes, ${bytes.length - HEADER_SIZE} follow`
      })
    )
  }
  return splitBody(bytes.subarray(HEADER_SIZE))
}
