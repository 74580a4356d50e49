/**
 * Reading a configuration file defensively: only a regular file, only up to a
 * size limit. The path comes from an operator (or, through the `CheckConfig`
 * RPC, from any API client), so it may name a FIFO (which would block an open
 * for reading until a writer comes), a device such as /dev/zero (endless), a
 * directory or a socket. The file is opened with O_NONBLOCK, so that no open
 * ever waits, and the type and size are taken from the open descriptor
 * (`fstat`), so that what is read is what was checked; the read itself stops
 * one byte past the limit, in case the file grew in between.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { ConfigFileError } from "../Errors.js"

/** The default of `--config-max-bytes`: 4 MiB is about 50,000 backends. */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024

const CHUNK = 256 * 1024

const kindOf = (stat: fs.Stats): string =>
  stat.isDirectory()
    ? "a directory"
    : stat.isFIFO()
      ? "a FIFO"
      : stat.isSocket()
        ? "a socket"
        : stat.isCharacterDevice()
          ? "a character device"
          : stat.isBlockDevice()
            ? "a block device"
            : "not a regular file"

const notRegular = (stat: fs.Stats): string => `is ${kindOf(stat)}, not a regular file`

const tooBig = (size: number | string, maxBytes: number): string =>
  `is ${size} bytes, over the limit of ${maxBytes} bytes (raise it with --config-max-bytes)`

const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

class Refused {
  constructor(readonly reason: string) {}
}

/** Opening a socket fails with ENXIO, which says nothing useful: say what the path is. */
const openFailure = async (path: string, e: unknown): Promise<string> => {
  if ((e as NodeJS.ErrnoException).code === "ENXIO") {
    const stat = await fs.promises.stat(path).catch(() => undefined)
    if (stat !== undefined && !stat.isFile()) return notRegular(stat)
  }
  return reasonOf(e)
}

const readAll = async (handle: fs.promises.FileHandle, maxBytes: number): Promise<string> => {
  const chunks: Array<Buffer> = []
  let total = 0
  for (;;) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total))
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
    if (bytesRead === 0) break
    chunks.push(buffer.subarray(0, bytesRead))
    total += bytesRead
    if (total > maxBytes) throw new Refused(tooBig(`more than ${maxBytes}`, maxBytes))
  }
  return Buffer.concat(chunks, total).toString("utf8")
}

/**
 * The text of a configuration file, or `ConfigFileError` with a one-line
 * reason: missing, unreadable, not a regular file, or over `maxBytes`.
 */
export const readConfigFile = (path: string, maxBytes: number = DEFAULT_MAX_BYTES): Effect.Effect<string, ConfigFileError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY),
      catch: (e) => e
    }).pipe(
      Effect.catchAll((e) =>
        Effect.flatMap(Effect.promise(() => openFailure(path, e)), (reason) => new ConfigFileError({ path, reason }))
      )
    ),
    (handle) =>
      Effect.tryPromise({
        try: async () => {
          const stat = await handle.stat()
          if (!stat.isFile()) throw new Refused(notRegular(stat))
          if (stat.size > maxBytes) throw new Refused(tooBig(stat.size, maxBytes))
          return readAll(handle, maxBytes)
        },
        catch: (e) => new ConfigFileError({ path, reason: e instanceof Refused ? e.reason : reasonOf(e) })
      }),
    (handle) => Effect.promise(() => handle.close())
  )
