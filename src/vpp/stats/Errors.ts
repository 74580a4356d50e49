import { Data } from "effect"

/**
 * The stats socket gave us no segment: nothing listens at `path` (`code`
 * ENOENT, ECONNREFUSED ...), no fd came within the timeout, the peer closed
 * without one, or the fd could not be sized or mapped.
 */
export class StatsConnectError extends Data.TaggedError("StatsConnectError")<{
  readonly path: string
  readonly reason: string
  readonly code?: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `stats segment at ${this.path}: ${this.reason}`
  }
}

/** The segment's header says a version other than the one we read (2). */
export class StatsVersionError extends Data.TaggedError("StatsVersionError")<{
  readonly version: bigint
  readonly expected: number
}> {
  override get message(): string {
    return `stats segment version ${this.version} is not supported (expected ${this.expected})`
  }
}

/** No directory entry of that name (at a consistent epoch). */
export class StatsEntryNotFound extends Data.TaggedError("StatsEntryNotFound")<{
  readonly name: string
}> {
  override get message(): string {
    return `no stats entry named ${JSON.stringify(this.name)}`
  }
}

/** The entry exists but holds another kind of data than was asked for. */
export class StatsEntryTypeError extends Data.TaggedError("StatsEntryTypeError")<{
  readonly name: string
  readonly expected: string
  readonly actual: string
}> {
  override get message(): string {
    return `stats entry ${JSON.stringify(this.name)} is ${this.actual}, not ${this.expected}`
  }
}

/**
 * The writer kept the segment busy: `in_progress` stayed set longer than the
 * wait allows, or the epoch changed under every one of our attempts.
 */
export class StatsBusy extends Data.TaggedError("StatsBusy")<{
  readonly reason: "in-progress" | "epoch-unstable"
  readonly attempts: number
}> {
  override get message(): string {
    return this.reason === "in-progress"
      ? "stats segment writer held in_progress too long"
      : `stats segment epoch changed during each of ${this.attempts} attempts`
  }
}

/**
 * The segment is inconsistent at a stable epoch: a pointer or length reaches
 * outside the mapping, a name is not terminated. `offset` is where, in the
 * mapping, the bad value was read.
 */
export class StatsCorrupt extends Data.TaggedError("StatsCorrupt")<{
  readonly reason: string
  readonly offset: number
}> {
  override get message(): string {
    return `stats segment corrupt at byte ${this.offset}: ${this.reason}`
  }
}

/** What a read of the segment can fail with. */
export type StatsReadError = StatsEntryNotFound | StatsEntryTypeError | StatsBusy | StatsCorrupt
