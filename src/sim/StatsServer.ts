/**
 * The simulator's stats socket (vpp-wire.md §4.1): an AF_UNIX SOCK_SEQPACKET
 * listener that, like VPP's `stats_socket_accept_ready`, answers every
 * connection with one message of zero data bytes carrying the segment's memfd
 * as SCM_RIGHTS, then closes it. There is no request.
 *
 * The segment, the listening socket and the two loops (accepting, and the
 * collector's `/sys/heartbeat`) all belong to the scope: closing it stops
 * the loops, closes the socket, unlinks its path and unmaps the segment.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Data, Duration, Effect, Layer, Ref } from "effect"
import { pollDelay } from "../internal/WallClock.js"
import * as Native from "../native/Native.js"
import { DEFAULT_SOCKET_PATH } from "../vpp/stats/Layout.js"
import { StatsSegment, StatsSegmentError, type StatsSegmentOptions } from "./StatsSegment.js"

export class StatsServerError extends Data.TaggedError("StatsServerError")<{
  readonly path: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `stats socket ${this.path}: ${this.reason}`
  }
}

export interface StatsServerOptions extends StatsSegmentOptions {
  /** Default `/run/vpp/stats.sock`; its directory is created if missing. */
  readonly socketPath?: string
  /** How often pending connections are accepted (default 20 ms). */
  readonly acceptInterval?: Duration.DurationInput
  /** The collector's `update-interval`: `/sys/heartbeat` + 1 each time (default 10 s, VPP's). */
  readonly heartbeatInterval?: Duration.DurationInput
}

export interface StatsServerShape {
  readonly socketPath: string
  /** The segment, for the simulator (and tests) to write. */
  readonly segment: StatsSegment
  /** Connections served so far. */
  readonly served: Effect.Effect<number>
}

export class StatsServer extends Context.Tag("vpp-maglev/sim/StatsServer")<StatsServer, StatsServerShape>() {}

const EMPTY = new Uint8Array(0)

export const make = Effect.fn("StatsServer.make")(function* (options: StatsServerOptions = {}) {
  const socketPath = options.socketPath ?? DEFAULT_SOCKET_PATH
  const segment = yield* StatsSegment.scoped(options)
  const listenFd = yield* Effect.acquireRelease(
    Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(socketPath), { recursive: true })
        return Native.seqpacketListen(socketPath)
      },
      catch: (cause) =>
        new StatsServerError({
          path: socketPath,
          reason: `cannot listen: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    }),
    (fd) =>
      Effect.sync(() => {
        Native.close(fd)
        fs.rmSync(socketPath, { force: true })
      })
  )
  const served = yield* Ref.make(0)

  /** Serves every pending connection; a failure with one client is logged and does not stop the others. */
  const acceptPending = Effect.gen(function* () {
    for (;;) {
      const conn = yield* Effect.try(() => Native.seqpacketAccept(listenFd))
      if (conn === null) return
      yield* Effect.try(() => Native.sendWithFds(conn, EMPTY, [segment.fd])).pipe(
        Effect.zipRight(Ref.update(served, (n) => n + 1)),
        Effect.catchAll((error) => Effect.logWarning("stats-client-send-failed", error)),
        Effect.ensuring(Effect.sync(() => Native.close(conn)))
      )
    }
  })

  const acceptEvery = Duration.toMillis(options.acceptInterval ?? Duration.millis(20))
  yield* acceptPending.pipe(
    Effect.catchAllCause((cause) => Effect.logError("stats-accept-failed", cause)),
    Effect.zipRight(pollDelay(acceptEvery)),
    Effect.forever,
    Effect.annotateLogs({ socket: socketPath }),
    Effect.forkScoped
  )
  yield* Effect.sleep(options.heartbeatInterval ?? Duration.seconds(10)).pipe(
    Effect.zipRight(Effect.sync(() => segment.heartbeat())),
    Effect.forever,
    Effect.forkScoped
  )

  const server: StatsServerShape = { socketPath, segment, served: Ref.get(served) }
  return server
})

/** The server as a scoped layer. */
export const layer = (
  options: StatsServerOptions = {}
): Layer.Layer<StatsServer, StatsServerError | StatsSegmentError> => Layer.scoped(StatsServer, make(options))
