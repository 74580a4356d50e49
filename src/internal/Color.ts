/**
 * Whether a program colours what it writes: only to a terminal, and not when
 * NO_COLOR is set to anything but "" (https://no-color.org). maglevc's
 * `--color`, maglevt's view and the text log lines follow it.
 */
export const colorByDefault = (
  stream: { readonly isTTY?: boolean | undefined } = process.stdout,
  env: NodeJS.ProcessEnv = process.env
): boolean => stream.isTTY === true && (env.NO_COLOR ?? "") === ""
