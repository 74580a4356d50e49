/**
 * Remembers a pure function of text. The controller and the simulator parse the
 * same few thousand addresses and prefixes over and over (one request or one
 * comparison per AS, 32 ASes per VIP); the bound only stops churning text from
 * growing the cache without end. A full cache starts again empty, which costs
 * one re-parse per entry and no bookkeeping on a hit.
 *
 * `f` must not return undefined. A call that throws caches nothing, so bad text
 * throws every time.
 */
export const textMemo = <A>(limit: number, f: (text: string) => A): (text: string) => A => {
  const cache = new Map<string, A>()
  return (text) => {
    const hit = cache.get(text)
    if (hit !== undefined) return hit
    const value = f(text)
    if (cache.size >= limit) cache.clear()
    cache.set(text, value)
    return value
  }
}
