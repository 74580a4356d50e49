/**
 * The programs' log lines on stdout, one per record, in either format:
 *
 * - `json`: `{"timestamp":…,"level":"info","message":…,"annotations":{"event":…,…}}`
 *   (plus `"cause"` when there is one); none of Effect's internals (spans,
 *   fiber ids), for log shippers.
 * - `text`: `2026-12-04T16:40:53.123Z INFO  backend-transition msg="backend up" backend=web1 from=unknown to=up`,
 *   for a person: time, level, event, then the message and the fields as key=value.
 *
 * `--log-format` picks one; by default text on a terminal, JSON otherwise
 * (a pipe, a file, journald). Colour (the level) only in text on a terminal
 * without NO_COLOR.
 *
 * Every record has an event and a message: a record logged with only its
 * event name as message (`Effect.logInfo("vppsim-restart")`) gets the event's
 * sentence from `MESSAGES` (else the name in words), and a kebab-case message
 * without an `event` annotation is the event.
 */
import { Cause, HashMap, Inspectable, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import { colorByDefault } from "./Color.js"

export type Format = "json" | "text"
export type Level = "debug" | "info" | "warn" | "error"

export const LEVELS: { readonly [L in Level]: LogLevel.LogLevel } = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
}

/** Text on a terminal, JSON otherwise. */
export const defaultFormat = (stream: { readonly isTTY?: boolean | undefined } = process.stdout): Format =>
  stream.isTTY === true ? "text" : "json"

/** The sentence of events whose records are logged with their name as message. */
export const MESSAGES: Readonly<Record<string, string>> = {
  "vpp-lbsync-vip-add": "VIP added to VPP",
  "vpp-lbsync-vip-del": "VIP removed from VPP",
  "vpp-lbsync-as-add": "application server added to a VIP",
  "vpp-lbsync-as-del": "application server removed from a VIP",
  "vpp-lbsync-as-weight": "application server weight set",
  "vpp-api-send": "binary-API message sent",
  "vpp-api-recv": "binary-API message received",
  "vpp-api-recv-unknown": "binary-API message of an unknown id received",
  "vppsim-restart": "simulated VPP restarted",
  "vppsim-drop": "message dropped",
  "vppsim-client-connect": "binary-API client connected",
  "vppsim-client-overflow": "binary-API client closed: too much buffered",
  "vppsim-reply-encode": "reply could not be encoded",
  "vppsim-connection-defect": "binary-API connection failed",
  "stats-client-send-failed": "stats client send failed",
  "stats-accept-failed": "stats socket accept failed"
}

const KEBAB = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$/

/** A JSON value for an annotation: bigints as decimal strings, errors as their message. */
export const jsonValue = (v: unknown): unknown => {
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
      return v
    case "bigint":
      return v.toString()
    case "undefined":
      return null
    default:
      if (v === null) return null
      if (v instanceof Error) return v.message
      try {
        return JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x))) as unknown
      } catch {
        return String(v)
      }
  }
}

/** A record's message as text (Effect passes an array of what was logged). */
export const messageText = (message: unknown): string =>
  Array.isArray(message) ? message.map(partText).join(" ") : partText(message)

const partText = (m: unknown): string =>
  typeof m === "string" ? m : m instanceof Error ? String(m) : Inspectable.toStringUnknown(m, 0)

export interface Entry {
  readonly timestamp: string
  readonly level: string
  readonly event: string | undefined
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly cause: string | undefined
}

const LEVEL_NAMES: Readonly<Record<string, string>> = { WARN: "warn", WARNING: "warn" }

/** `toISOString`, once per millisecond: a burst of records (a sync's mutation lines) shares it. */
let lastMs = NaN
let lastIso = ""
const isoTime = (date: Date): string => {
  const ms = date.getTime()
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = date.toISOString()
  }
  return lastIso
}

/** One record as both formats see it: the event made explicit, a message for every event. */
export const entry = (options: Logger.Logger.Options<unknown>): Entry => {
  const fields: Record<string, unknown> = {}
  for (const [k, v] of HashMap.toEntries(options.annotations)) fields[k] = jsonValue(v)
  let message = messageText(options.message)
  let event = typeof fields.event === "string" ? fields.event : undefined
  if (event === undefined && KEBAB.test(message)) event = message
  // The event first, the other fields by name: lines of one event read alike.
  const annotations: Record<string, unknown> = event === undefined ? {} : { event }
  for (const k of Object.keys(fields).sort()) if (k !== "event") annotations[k] = fields[k]
  if (event !== undefined && (message === event || message === "")) message = MESSAGES[event] ?? event.replace(/-/g, " ")
  const label = options.logLevel.label
  return {
    timestamp: isoTime(options.date),
    level: LEVEL_NAMES[label] ?? label.toLowerCase(),
    event,
    message,
    annotations,
    cause: Cause.isEmpty(options.cause) ? undefined : Cause.pretty(options.cause, { renderErrorCause: true })
  }
}

export const jsonLine = (e: Entry): string =>
  JSON.stringify({
    timestamp: e.timestamp,
    level: e.level,
    message: e.message,
    annotations: e.annotations,
    ...(e.cause !== undefined ? { cause: e.cause } : {})
  })

/** `value` for key=value: bare when it has no space, quote, `=` or control character; else a JSON string. */
const textValue = (v: unknown): string => {
  const s = typeof v === "string" ? v : JSON.stringify(v)
  return s !== "" && /^[^\s"=\\\x00-\x1f]+$/.test(s) ? s : JSON.stringify(s)
}

const PAINT: Readonly<Record<string, string>> = { debug: "\x1b[2m", warn: "\x1b[33m", error: "\x1b[31m", fatal: "\x1b[31;1m" }

export const textLine = (e: Entry, color = false): string => {
  const level = e.level.toUpperCase().padEnd(5)
  const paint = color ? PAINT[e.level] : undefined
  const fields = Object.entries(e.annotations)
    .filter(([k]) => k !== "event")
    .map(([k, v]) => `${k}=${textValue(v)}`)
  return [
    e.timestamp,
    paint !== undefined ? `${paint}${level}\x1b[0m` : level,
    e.event ?? "-",
    `msg=${textValue(e.message)}`,
    ...fields,
    ...(e.cause !== undefined ? [`cause=${textValue(e.cause)}`] : [])
  ].join(" ")
}

/**
 * Lines to stdout, written together once per turn of the event loop (or every
 * 512 lines): a burst of records, such as a sync's 33,000 mutation lines, is a
 * few large writes instead of a system call each (stdout to a pipe or a file
 * is written synchronously). What is pending when the process exits is
 * written synchronously then.
 */
let stdoutPending: Array<string> | undefined
const flushStdout = () => {
  const lines = stdoutPending
  stdoutPending = undefined
  if (lines !== undefined && lines.length > 0) process.stdout.write(lines.join("\n") + "\n")
}
let exitHooked = false
export const writeStdoutLine = (line: string): void => {
  if (stdoutPending === undefined) {
    stdoutPending = []
    setImmediate(flushStdout)
    if (!exitHooked) {
      exitHooked = true
      process.once("exit", () => {
        const lines = stdoutPending
        stdoutPending = undefined
        if (lines !== undefined && lines.length > 0) {
          try {
            fs.writeSync(1, lines.join("\n") + "\n")
          } catch {
            // stdout is gone: nothing to tell
          }
        }
      })
    }
  }
  stdoutPending.push(line)
  if (stdoutPending.length >= 512) flushStdout()
}

/** A logger writing lines in `format` to `write` (stdout by default, batched), from `level` up. */
export const make = (options: {
  readonly level: LogLevel.LogLevel
  readonly format: Format
  readonly color?: boolean | undefined
  readonly write?: ((line: string) => void) | undefined
}): Logger.Logger<unknown, void> => {
  const write = options.write ?? writeStdoutLine
  const color = options.color ?? colorByDefault()
  return Logger.make((o) => {
    if (!LogLevel.greaterThanEqual(o.logLevel, options.level)) return
    const e = entry(o)
    write(options.format === "json" ? jsonLine(e) : textLine(e, color))
  })
}

/** The stdout logger in place of Effect's default one. */
export const layer = (options: { readonly level: Level; readonly format: Format }): Layer.Layer<never> =>
  Logger.replace(Logger.defaultLogger, make({ level: LEVELS[options.level], format: options.format }))
