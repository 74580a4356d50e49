/**
 * A reader of VPP's stats segment (vpp-wire.md §4): connects to the stats
 * socket, receives the segment's fd, maps it read-only and reads entries by
 * name under the reader's consistency protocol (§4.3):
 *
 *   1. wait (bounded) until `in_progress == 0`, remember `epoch`;
 *   2. resolve the name through the cached directory, rebuilt only when the
 *      epoch differs from the one it was built at, and read;
 *   3. keep the result only if `epoch` is unchanged and `in_progress == 0`,
 *      else discard it and start over (a bounded number of times).
 *
 * A read that trips over a bad pointer during a directory change is simply
 * retried; the same fault at a stable epoch is a {@link StatsCorrupt}. Nothing
 * is ever read outside the mapping, and nothing is ever written to it (the
 * mapping is PROT_READ: a write would kill the process).
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option, Ref, Scope } from "effect"
import { pollDelay } from "../../internal/WallClock.js"
import * as Native from "../../native/Native.js"
import {
  StatsBusy,
  StatsConnectError,
  StatsCorrupt,
  StatsEntryNotFound,
  StatsEntryTypeError,
  StatsVersionError,
  type StatsReadError
} from "./Errors.js"
import { DEFAULT_SOCKET_PATH, DirType, Header, STAT_SEGMENT_VERSION, dirTypeName } from "./Layout.js"
import { SegmentView, type Directory, type StepHook } from "./internal/SegmentView.js"

export type { ReadStep, StepHook } from "./internal/SegmentView.js"

/** A counter vector as VPP lays it out: `[thread][index]`, u64 values. */
export type SimpleCounter = ReadonlyArray<ReadonlyArray<bigint>>

/** One directory entry. */
export interface StatsEntry {
  readonly index: number
  readonly name: string
  /** `stat_directory_type_t` number (see `DirType`). */
  readonly type: number
  readonly typeName: string
}

export interface StatsClientDiagnostics {
  /** Times the name → index map was (re)built from the directory. */
  readonly directoryBuilds: number
  /** Reads discarded and retried because the epoch moved or in_progress was set. */
  readonly retries: number
  /** The epoch the cached directory belongs to, if any. */
  readonly cachedEpoch: bigint | undefined
}

export interface StatsClientOptions {
  /** Default `/run/vpp/stats.sock`. */
  readonly socketPath?: string
  /** How long to wait for the segment fd after connecting (default 2 s). */
  readonly connectTimeout?: Duration.DurationInput
  /** How long one read waits for the writer to clear in_progress (default 100 ms, as GoVPP). */
  readonly busyTimeout?: Duration.DurationInput
  /** Attempts per read before giving up with `StatsBusy` "epoch-unstable" (default 10). */
  readonly maxAttempts?: number
  /**
   * Test seam: called synchronously at each step of a read (see `ReadStep`).
   * The simulator's tests change the directory from here, which is how a
   * single process interleaves a writer with a read in progress.
   */
  readonly onReadStep?: StepHook
}

export interface StatsClientShape {
  readonly socketPath: string
  /** Size of the mapping, from fstat. */
  readonly segmentSize: number
  /** The current epoch (no protocol; for observation). */
  readonly epoch: Effect.Effect<bigint>
  /** Every non-empty directory entry, in directory order. */
  readonly entries: Effect.Effect<ReadonlyArray<StatsEntry>, StatsBusy | StatsCorrupt>
  readonly names: Effect.Effect<ReadonlyArray<string>, StatsBusy | StatsCorrupt>
  /** The u64 value of a scalar (SCALAR_INDEX; timestamps are whole seconds) or gauge entry. */
  readonly scalar: (name: string) => Effect.Effect<bigint, StatsReadError>
  /** A simple counter vector, `[thread][index]`. */
  readonly simpleCounter: (name: string) => Effect.Effect<SimpleCounter, StatsReadError>
  /** A simple counter vector summed over threads: one total per index. */
  readonly simpleCounterTotals: (name: string) => Effect.Effect<ReadonlyArray<bigint>, StatsReadError>
  readonly diagnostics: Effect.Effect<StatsClientDiagnostics>
}

export class StatsClient extends Context.Tag("vpp-maglev/StatsClient")<StatsClient, StatsClientShape>() {}

/** Per-index totals over threads; rows of different lengths are summed where present. */
export const sumOverThreads = (counter: SimpleCounter): Array<bigint> => {
  const totals: Array<bigint> = []
  for (const row of counter) {
    row.forEach((value, i) => {
      totals[i] = (totals[i] ?? 0n) + value
    })
  }
  return totals
}

const RECEIVE_POLL_MS = 5
const BUSY_POLL_MS = 1

const nativeCode = (cause: unknown): { code?: string } =>
  Native.isNativeError(cause) ? { code: cause.code } : {}

const connectError = (path: string, reason: string, cause: unknown): StatsConnectError =>
  new StatsConnectError({
    path,
    reason: `${reason}: ${cause instanceof Error ? cause.message : String(cause)}`,
    ...nativeCode(cause),
    cause
  })

/**
 * Connects, waits for the message carrying the fd and registers the fd in
 * `outer`. The socket itself lives in an inner scope, closed once the fd is
 * here or the timeout fires.
 */
const receiveSegmentFd = (path: string, timeout: Duration.DurationInput, outer: Scope.Scope) =>
  Effect.gen(function* () {
    const socket = yield* Effect.acquireRelease(
      Effect.try({ try: () => Native.seqpacketConnect(path), catch: (e) => connectError(path, "cannot connect", e) }),
      (fd) => Effect.sync(() => Native.close(fd))
    )
    // Receiving and taking ownership of the fd happen without an interruption point between them.
    const tryReceive = Effect.uninterruptible(
      Effect.gen(function* () {
        const message = yield* Effect.try({
          try: () => Native.recvWithFds(socket, { maxBytes: 256, maxFds: 4 }),
          catch: (e) => connectError(path, "cannot receive", e)
        })
        if (message === null) return Option.none<number>()
        const [fd, ...extra] = message.fds
        for (const other of extra) Native.close(other)
        if (fd === undefined) {
          return yield* new StatsConnectError({
            path,
            reason: Native.isEndOfStream(message)
              ? "the server closed the connection without sending the segment fd"
              : `a ${message.data.length}-byte message came without an fd`
          })
        }
        yield* Scope.addFinalizer(outer, Effect.sync(() => Native.close(fd)))
        return Option.some(fd)
      })
    )
    const poll: Effect.Effect<number, StatsConnectError> = Effect.flatMap(tryReceive, (received) =>
      Option.match(received, {
        onSome: Effect.succeed,
        onNone: () => Effect.zipRight(pollDelay(RECEIVE_POLL_MS), Effect.suspend(() => poll))
      })
    )
    return yield* poll
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new StatsConnectError({ path, reason: `no segment fd within ${Duration.format(Duration.decode(timeout))}` })
    })
  )

interface ClientState {
  readonly directory: Directory | undefined
  readonly directoryBuilds: number
  readonly retries: number
}

type ReadFault = StatsReadError

const isReadFault = (u: unknown): u is ReadFault =>
  u instanceof StatsCorrupt || u instanceof StatsEntryNotFound || u instanceof StatsEntryTypeError

const simpleTypes = [DirType.COUNTER_VECTOR_SIMPLE]
const scalarTypes = [DirType.SCALAR_INDEX, DirType.GAUGE]

export const make = Effect.fn("StatsClient.make")(function* (options: StatsClientOptions = {}) {
  const socketPath = options.socketPath ?? DEFAULT_SOCKET_PATH
  const busyMillis = Duration.toMillis(options.busyTimeout ?? Duration.millis(100))
  const maxAttempts = Math.max(1, options.maxAttempts ?? 10)

  const scope = yield* Effect.scope
  const fd = yield* receiveSegmentFd(socketPath, options.connectTimeout ?? Duration.seconds(2), scope)
  const size = yield* Effect.try({
    try: () => Native.fstatSize(fd),
    catch: (e) => connectError(socketPath, "cannot fstat the segment fd", e)
  })
  if (size < Header.size) {
    return yield* new StatsConnectError({ path: socketPath, reason: `segment of ${size} bytes is smaller than its header` })
  }
  const buffer = yield* Effect.acquireRelease(
    Effect.try({
      try: () => Native.mmap(fd, size, { writable: false }),
      catch: (e) => connectError(socketPath, "cannot map the segment", e)
    }),
    (mapped) => Effect.sync(() => Native.munmap(mapped))
  )
  const view = new SegmentView(buffer, options.onReadStep)
  const version = view.version()
  if (version !== BigInt(STAT_SEGMENT_VERSION)) {
    return yield* new StatsVersionError({ version, expected: STAT_SEGMENT_VERSION })
  }

  const state = yield* Ref.make<ClientState>({ directory: undefined, directoryBuilds: 0, retries: 0 })

  /** The epoch once in_progress reads 0, waiting at most busyTimeout. */
  const quiescentEpoch = Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    for (;;) {
      const epoch = view.epoch()
      if (view.inProgress() === 0n) return epoch
      if ((yield* Clock.currentTimeMillis) - start >= busyMillis) {
        return yield* new StatsBusy({ reason: "in-progress", attempts: 1 })
      }
      yield* pollDelay(BUSY_POLL_MS)
    }
  })

  /** Runs `body` under the reader's protocol (module comment). */
  const consistent = <A>(body: (directory: Directory) => A): Effect.Effect<A, StatsReadError> =>
    Effect.gen(function* () {
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        const epoch = yield* quiescentEpoch
        const cached = (yield* Ref.get(state)).directory
        const { result, built } = yield* Effect.sync(() => {
          let built: Directory | undefined
          try {
            view.at("quiescent", attempt)
            let directory = cached
            if (directory === undefined || directory.epoch !== epoch) {
              directory = built = view.readDirectory(epoch)
            }
            const value = body(directory)
            view.at("verify", attempt)
            return { result: Either.right<A>(value), built }
          } catch (e) {
            // A RangeError would mean a check is missing above; still a corrupt segment, not a crash.
            const fault: ReadFault | undefined = isReadFault(e)
              ? e
              : e instanceof RangeError
                ? new StatsCorrupt({ reason: e.message, offset: -1 })
                : undefined
            if (fault === undefined) throw e
            return { result: Either.left<ReadFault>(fault), built }
          }
        })
        const stable = view.epoch() === epoch && view.inProgress() === 0n
        yield* Ref.update(state, (s) => ({
          directory: stable && built !== undefined ? built : s.directory,
          directoryBuilds: s.directoryBuilds + (built === undefined ? 0 : 1),
          retries: s.retries + (stable ? 0 : 1)
        }))
        if (stable) return yield* result
        yield* Effect.yieldNow()
      }
      return yield* new StatsBusy({ reason: "epoch-unstable", attempts: maxAttempts })
    })

  const entries = consistent((directory) =>
    directory.entries.map((e): StatsEntry => ({ ...e, typeName: dirTypeName(e.type) }))
  ).pipe(
    // Listing resolves no name, so it cannot fail with an entry error.
    Effect.catchIf(
      (e): e is StatsEntryNotFound | StatsEntryTypeError => e._tag === "StatsEntryNotFound" || e._tag === "StatsEntryTypeError",
      (e) => Effect.die(e)
    ),
    Effect.withSpan("StatsClient.entries")
  )

  const simpleCounter = Effect.fn("StatsClient.simpleCounter")(function* (name: string) {
    return yield* consistent(
      (directory): SimpleCounter =>
        view.simpleCounter(view.resolve(directory, name, simpleTypes, dirTypeName(DirType.COUNTER_VECTOR_SIMPLE)))
    )
  })

  const client: StatsClientShape = {
    socketPath,
    segmentSize: size,
    epoch: Effect.sync(() => view.epoch()),
    entries,
    names: Effect.map(entries, (list) => list.map((e) => e.name)),
    scalar: Effect.fn("StatsClient.scalar")(function* (name: string) {
      return yield* consistent((directory) => view.value(view.resolve(directory, name, scalarTypes, "a scalar or gauge")))
    }),
    simpleCounter,
    simpleCounterTotals: (name) => Effect.map(simpleCounter(name), sumOverThreads),
    diagnostics: Effect.map(Ref.get(state), (s) => ({
      directoryBuilds: s.directoryBuilds,
      retries: s.retries,
      cachedEpoch: s.directory?.epoch
    }))
  }
  return client
})

/** The client as a scoped layer: the mapping lives as long as the layer. */
export const layer = (options: StatsClientOptions = {}): Layer.Layer<StatsClient, StatsConnectError | StatsVersionError> =>
  Layer.scoped(StatsClient, make(options))
