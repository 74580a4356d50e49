/**
 * The exit status of a command-line program run by `NodeRuntime.runMain`,
 * whose default teardown knows only 0 and 1: the program succeeds with an
 * `ExitStatus`, and `teardown` turns it (or a failure) into the status.
 */
import { ValidationError } from "@effect/cli"
import { Cause, Exit, Option } from "effect"

export class ExitStatus {
  constructor(readonly code: number) {}
}

/** A `runMain` teardown: the program's ExitStatus, else what `onFailure` says of the cause (0 for any other success). */
export const teardown = (onFailure: (cause: Cause.Cause<unknown>) => number) =>
(exit: Exit.Exit<unknown, unknown>, onExit: (code: number) => void): void => {
  if (Exit.isSuccess(exit)) onExit(exit.value instanceof ExitStatus ? exit.value.code : 0)
  else onExit(onFailure(exit.cause))
}

/**
 * The teardown of a command-line program on @effect/cli: its ExitStatus;
 * 130 when interrupted (Ctrl-C, as shells report SIGINT); 2 for a command
 * line @effect/cli refused (a usage error); 1 for anything else.
 */
export const commandLineTeardown = teardown((cause) =>
  Cause.isInterruptedOnly(cause) ? 130 : Option.exists(Cause.failureOption(cause), ValidationError.isValidationError) ? 2 : 1
)
