/**
 * Compiled patterns by source. The config validated them, so compiling cannot
 * fail here; a probe's pattern is compiled once, not once per probe. No flags:
 * `test` on a non-global RegExp keeps no state between calls.
 */
const cache = new Map<string, RegExp>()

export const compiled = (source: string): RegExp => {
  let re = cache.get(source)
  if (re === undefined) {
    if (cache.size >= 1024) cache.clear()
    re = new RegExp(source)
    cache.set(source, re)
  }
  return re
}

/** How many bytes of a response are read at most, and matched against. */
export const READ_CAP = 64 * 1024
