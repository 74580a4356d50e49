/**
 * What the HTTP server checks in a request body before @effect/rpc sees it.
 *
 * @effect/rpc answers a payload that does not decode with a defect (an
 * untyped "die"), and trusts the message framing. The API promises a typed
 * `InvalidArgument` instead, and no request can crash the server, so the body
 * is looked at here first: NDJSON lines, each a message object; each
 * `Request` with a string id, header pairs, a known RPC and a payload its
 * schema decodes. Anything else is answered here (400), and @effect/rpc
 * never runs it. Pure.
 */
import type { Rpc } from "@effect/rpc"
import { Either, Exit, ParseResult, Schema } from "effect"
import { InvalidArgument } from "../Api.js"

export type GateOutcome =
  | { readonly _tag: "Pass" }
  /** Answer with this status and NDJSON body; the RPC server does not see the request. */
  | { readonly _tag: "Reject"; readonly status: number; readonly body: string }

/** An Exit as @effect/rpc encodes it, for any RPC: every one of them can fail with InvalidArgument. */
const encodeExit = Schema.encodeSync(Schema.Exit({ success: Schema.Unknown, failure: InvalidArgument, defect: Schema.Defect }))

const line = (message: unknown): string => JSON.stringify(message) + "\n"

/** A protocol-level defect: the client fails every request it has in flight with it. */
export const defectBody = (reason: string): string => line({ _tag: "Defect", defect: reason })

const exitLine = (requestId: string, reason: string): string =>
  line({ _tag: "Exit", requestId, exit: encodeExit(Exit.fail(new InvalidArgument({ reason }))) })

const decoders = new WeakMap<object, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()

const decoderOf = (rpc: Rpc.AnyWithProps) => {
  let d = decoders.get(rpc)
  if (d === undefined) {
    d = Schema.decodeUnknownEither(rpc.payloadSchema as Schema.Schema<unknown, unknown, never>)
    decoders.set(rpc, d)
  }
  return d
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const isHeaderPairs = (u: unknown): boolean =>
  Array.isArray(u) && u.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string")

/** @effect/rpc turns ids into bigints. */
const isId = (u: unknown): u is string => typeof u === "string" && /^[0-9]{1,20}$/.test(u)

const MESSAGE_TAGS = new Set(["Request", "Ack", "Interrupt", "Ping", "Eof"])

export const check = (group: { readonly requests: ReadonlyMap<string, Rpc.Any> }, text: string): GateOutcome => {
  const lines = text.split("\n")
  const rest = lines.pop() ?? ""
  if (rest.trim() !== "") return { _tag: "Reject", status: 400, body: defectBody("malformed body: every NDJSON line must end with \\n") }
  const rejected = new Map<string, string>()
  const requests: Array<string> = []
  for (const [i, text] of lines.entries()) {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch (e) {
      return { _tag: "Reject", status: 400, body: defectBody(`malformed body: line ${i + 1}: ${e instanceof Error ? e.message : String(e)}`) }
    }
    if (!isRecord(message) || typeof message["_tag"] !== "string" || !MESSAGE_TAGS.has(message["_tag"])) {
      return { _tag: "Reject", status: 400, body: defectBody(`malformed body: line ${i + 1} is not an RPC message`) }
    }
    if (message["_tag"] === "Ack" || message["_tag"] === "Interrupt") {
      if (!isId(message["requestId"])) {
        return { _tag: "Reject", status: 400, body: defectBody(`malformed body: line ${i + 1}: requestId must be a decimal string`) }
      }
      continue
    }
    if (message["_tag"] !== "Request") continue
    const id = message["id"]
    if (!isId(id) || !isHeaderPairs(message["headers"])) {
      return {
        _tag: "Reject",
        status: 400,
        body: defectBody(`malformed body: line ${i + 1}: a request needs an id (a decimal string) and headers as [name, value] pairs`)
      }
    }
    requests.push(id)
    const tag = message["tag"]
    const rpc = typeof tag === "string" ? (group.requests.get(tag) as Rpc.AnyWithProps | undefined) : undefined
    if (rpc === undefined) {
      rejected.set(id, `unknown RPC ${JSON.stringify(tag)}`)
      continue
    }
    const decoded = decoderOf(rpc)(message["payload"])
    if (Either.isLeft(decoded)) rejected.set(id, `${rpc._tag}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
  }
  if (rejected.size === 0) return { _tag: "Pass" }
  // All or nothing: the requests of a body are not run when one of them is refused.
  const body = requests
    .map((id) => exitLine(id, rejected.get(id) ?? "not run: another request in the same body was refused"))
    .join("")
  return { _tag: "Reject", status: 400, body }
}
