import * as util from "node:util"

let messages: Map<number, [string, string]> | undefined

/** "operation not permitted" for EPERM: libuv's text for an errno (negative, as Node gives it). */
export const describeSystemError = (code: string, errno: number): string => {
  messages ??= util.getSystemErrorMap()
  const entry = messages.get(errno < 0 ? errno : -errno)
  return entry !== undefined ? entry[1] : code
}
