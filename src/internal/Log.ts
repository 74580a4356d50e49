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
import { whenIdle } from "./Urgent.js"

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

/** A record's annotations, in key order (the scratch of `entry`: no array or tuple per record). */
const keys: Array<string> = []
const values: Array<unknown> = []
const collect = (v: unknown, k: string) => {
  keys.push(k)
  values.push(v)
}

/**
 * One record as both formats see it: the event made explicit, a message for every event.
 * Made for every line (a sync's 33,000 mutation lines among them): the annotations are read
 * once, in place, and sorted where they were read, with no object or array between.
 */
export const entry = (options: Logger.Logger.Options<unknown>): Entry => {
  keys.length = 0
  values.length = 0
  HashMap.forEach(options.annotations, collect)
  const m = options.message
  const message = Array.isArray(m) && m.length === 1 && typeof m[0] === "string" ? m[0] : messageText(m)
  return entryOfScratch(options.logLevel, options.date, message, options.cause)
}

/** `entry` of a record whose annotations are `names[i]` = `fields[i]` (no name twice). */
const entryOfFields = (
  logLevel: LogLevel.LogLevel,
  date: Date,
  message: string,
  names: ReadonlyArray<string>,
  fields: ReadonlyArray<unknown>
): Entry => {
  keys.length = 0
  values.length = 0
  for (let i = 0; i < names.length; i++) collect(fields[i], names[i]!)
  return entryOfScratch(logLevel, date, message, Cause.empty)
}

const entryOfScratch = (logLevel: LogLevel.LogLevel, date: Date, text: string, cause: Cause.Cause<unknown>): Entry => {
  const n = keys.length
  for (let i = 1; i < n; i++) {
    const k = keys[i]!
    const v = values[i]
    let j = i - 1
    for (; j >= 0 && keys[j]! > k; j--) {
      keys[j + 1] = keys[j]!
      values[j + 1] = values[j]
    }
    keys[j + 1] = k
    values[j + 1] = v
  }
  let message = text
  const at = keys.indexOf("event")
  let event = at >= 0 && typeof values[at] === "string" ? values[at] as string : undefined
  if (event === undefined && KEBAB.test(message)) event = message
  // The event first, the other fields by name: lines of one event read alike.
  const annotations: Record<string, unknown> = event === undefined ? {} : { event }
  for (let i = 0; i < n; i++) if (keys[i] !== "event") annotations[keys[i]!] = jsonValue(values[i])
  if (event !== undefined && (message === event || message === "")) message = MESSAGES[event] ?? event.replace(/-/g, " ")
  const label = logLevel.label
  return {
    timestamp: isoTime(date),
    level: LEVEL_NAMES[label] ?? label.toLowerCase(),
    event,
    message,
    annotations,
    cause: Cause.isEmpty(cause) ? undefined : Cause.pretty(cause, { renderErrorCause: true })
  }
}

/**
 * A logger's way for records whose annotations are plain arrays (`OpLog`'s mutation lines, 33,000
 * in a sync): an Effect logger takes them as a `HashMap`, whose making was most of such a line's
 * cost and garbage (4 KB a line, a young-generation collection every 250 lines), so a logger that
 * has this is handed the arrays instead. `message` is the message's text (an event name alone
 * gets its sentence, as in `entry`).
 */
export const FieldsLogger = Symbol.for("vpp-maglev/Log/FieldsLogger")
export type LogFields = (
  logLevel: LogLevel.LogLevel,
  date: Date,
  message: string,
  names: ReadonlyArray<string>,
  fields: ReadonlyArray<unknown>
) => void

/**
 * Whether a logger would use a record of that level at all (a logger without `FieldsLogger` that
 * says no here is not handed one, so nothing is made for it): the API's log hub with no watcher.
 */
export const Wants = Symbol.for("vpp-maglev/Log/Wants")

/** A logger's `FieldsLogger` and `Wants`, when it has them. */
export const fieldsLoggerOf = (logger: Logger.Logger<unknown, unknown>): LogFields | undefined =>
  (logger as { readonly [FieldsLogger]?: LogFields })[FieldsLogger]
export const wantsOf = (logger: Logger.Logger<unknown, unknown>): ((level: LogLevel.LogLevel) => boolean) | undefined =>
  (logger as { readonly [Wants]?: (level: LogLevel.LogLevel) => boolean })[Wants]

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
 * Lines to stdout without holding the event loop, and without losing any.
 *
 * Node's own `process.stdout` over a pipe or a socket (a parent's pipe,
 * journald under systemd) queues what the reader has not taken yet in the
 * stream, and `process.exit` (which `NodeRuntime.runMain` calls on SIGTERM
 * and on a failure) drops that queue: with a reader a burst behind, the
 * last lines, the shutdown's and a fatal error's among them, were lost.
 * This writer owns the queue instead: lines are encoded into it and written
 * with `fs.writeSync` on fd 1, which `process.stdout` (touched once, first)
 * leaves non-blocking for a pipe or a socket, blocking for a file or a
 * terminal (a file's writes are synchronous and cheap). What the reader
 * cannot take now (EAGAIN) stays queued and is tried again on a timer
 * (1 ms, doubling to 32 ms); past `QUEUE_LIMIT` bytes queued, the writer
 * waits for the reader (the event loop held, as a blocking write would) rather
 * than grow without bound. At exit, whatever is queued is written
 * synchronously, waiting for the reader (up to `EXIT_STALL_MS` without any
 * progress: a reader that takes nothing for that long is not coming back).
 *
 * Lines are written together, once the event loop has polled for I/O after
 * the first of them was logged (two `setImmediate` turns) and no urgent
 * exchange is outstanding (`Urgent.whenIdle`: a health reaction's first
 * request to VPP, until its answer is read; 20 ms at most), or at once when
 * `BATCH_CHARS` are pending: a burst of records (a sync's 33,000 mutation
 * lines) is a few large writes, and the lines of a health transition (whose
 * LB sync reaction is written to VPP in the same burst of fibers) are
 * written after VPP's answer is read, not before: a write wakes the reader,
 * which then competes for a core with the processes the reaction waits for
 * (after the poll alone, half of the reactions at load 14 still had a write
 * before their answer was read: VPP had not answered by then).
 */
export interface StdoutWriter {
  /** Queues one line (without its newline). */
  readonly line: (line: string) => void
  /** Encodes what is pending and writes what the fd takes now. */
  readonly flush: () => void
  /** Writes everything queued, waiting for the reader (what the exit does). */
  readonly flushSync: () => void
  /** Bytes encoded and not written yet. */
  readonly queued: () => number
}

/** Pending characters that are written at once, without waiting for the poll. */
export const BATCH_CHARS = 256 * 1024
/** Bytes queued for a reader that does not keep up before the writer waits for it. */
export const QUEUE_LIMIT = 16 * 1024 * 1024
/** At exit, how long a reader may take nothing before the rest is given up. */
export const EXIT_STALL_MS = 10_000

const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms: number) => Atomics.wait(sleeper, 0, 0, ms)

const errnoOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e ? String((e as { readonly code: unknown }).code) : undefined

/** A writer of lines to `fd` (see above); `options` for tests. */
export const makeStdoutWriter = (fd: number, options?: { readonly queueLimit?: number | undefined }): StdoutWriter => {
  const limit = options?.queueLimit ?? QUEUE_LIMIT
  let pending: Array<string> = []
  let pendingChars = 0
  let scheduled = false
  const queue: Array<Buffer> = []
  /** Bytes of queue[0] written already. */
  let offset = 0
  let queuedBytes = 0
  let retry: ReturnType<typeof setTimeout> | undefined
  let retryMs = 1
  /** The reader is gone (EPIPE, a closed fd): nothing more is written. */
  let broken = false

  const drop = () => {
    broken = true
    queue.length = 0
    queuedBytes = 0
    offset = 0
  }

  /** Writes from the queue until it is empty or the fd would block; false when it would. */
  const writeSome = (): boolean => {
    while (queue.length > 0) {
      const head = queue[0]!
      let n: number
      try {
        n = fs.writeSync(fd, head, offset, head.length - offset)
      } catch (e) {
        if (errnoOf(e) === "EAGAIN") return false
        drop()
        return true
      }
      offset += n
      queuedBytes -= n
      if (offset === head.length) {
        queue.shift()
        offset = 0
      }
    }
    return true
  }

  const drainLater = () => {
    if (retry !== undefined || broken || queue.length === 0) return
    retry = setTimeout(() => {
      retry = undefined
      if (writeSome()) retryMs = 1
      else {
        retryMs = Math.min(32, retryMs * 2)
        drainLater()
      }
    }, retryMs)
    retry.unref()
  }

  /** Writes until no more than `left` bytes are queued, waiting for the reader (1 ms sleeps). */
  const writeWaiting = (left: number) => {
    let stalledSince = Date.now()
    while (queuedBytes > left && !broken) {
      const before = queuedBytes
      if (writeSome()) break
      if (queuedBytes !== before) stalledSince = Date.now()
      else if (Date.now() - stalledSince > EXIT_STALL_MS) return drop()
      sleepSync(1)
    }
  }

  const flushSync = () => {
    encode()
    writeWaiting(0)
  }

  const encode = () => {
    if (pending.length === 0) return
    const text = pending.join("\n") + "\n"
    pending = []
    pendingChars = 0
    if (broken) return
    const bytes = Buffer.from(text, "utf8")
    queue.push(bytes)
    queuedBytes += bytes.length
  }

  const flush = () => {
    encode()
    if (queue.length === 0 || broken) return
    // Behind a retry already: the order stays the queue's.
    if (retry === undefined && writeSome()) return
    // A reader that does not keep up: past the limit, waited for down to half of it.
    if (queuedBytes > limit) writeWaiting(limit / 2)
    drainLater()
  }

  const write = () => {
    scheduled = false
    flush()
  }
  const afterPoll = () => setImmediate(() => whenIdle(write))

  return {
    line: (line) => {
      pending.push(line)
      pendingChars += line.length + 1
      if (pendingChars >= BATCH_CHARS) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(afterPoll)
      }
    },
    flush,
    flushSync,
    queued: () => queuedBytes + pendingChars
  }
}

let stdout: StdoutWriter | undefined
const stdoutWriter = (): StdoutWriter => {
  if (stdout === undefined) {
    // Node opens fd 1 as it would write it: a pipe or a socket non-blocking, a terminal blocking.
    void process.stdout
    const writer = makeStdoutWriter(1)
    stdout = writer
    let exiting = false
    process.once("exit", () => {
      exiting = true
      writer.flushSync()
    })
    // A line logged while the process exits (another exit handler) is written at once.
    stdout = { ...writer, line: (l) => (writer.line(l), exiting ? writer.flushSync() : undefined) }
  }
  return stdout
}

/** Writes one log line to stdout (see `makeStdoutWriter`). */
export const writeStdoutLine = (line: string): void => stdoutWriter().line(line)

/** Bytes of log lines not yet written to stdout (pending or queued for the reader). */
export const stdoutQueued = (): number => stdout?.queued() ?? 0

/** A logger writing lines in `format` to `write` (stdout by default, batched), from `level` up. */
export const make = (options: {
  readonly level: LogLevel.LogLevel
  readonly format: Format
  readonly color?: boolean | undefined
  readonly write?: ((line: string) => void) | undefined
}): Logger.Logger<unknown, void> => {
  const write = options.write ?? writeStdoutLine
  const color = options.color ?? colorByDefault()
  const line = (e: Entry) => write(options.format === "json" ? jsonLine(e) : textLine(e, color))
  const logger = Logger.make<unknown, void>((o) => {
    if (!LogLevel.greaterThanEqual(o.logLevel, options.level)) return
    line(entry(o))
  })
  const fields: LogFields = (logLevel, date, message, names, values) => {
    if (!LogLevel.greaterThanEqual(logLevel, options.level)) return
    line(entryOfFields(logLevel, date, message, names, values))
  }
  return Object.assign(logger, { [FieldsLogger]: fields })
}

/** The stdout logger in place of Effect's default one. */
export const layer = (options: { readonly level: Level; readonly format: Format }): Layer.Layer<never> =>
  Logger.replace(Logger.defaultLogger, make({ level: LEVELS[options.level], format: options.format }))
