import { useEffect, useRef, useState } from "preact/hooks"

/** One shared timer per period for the whole page, with the callers that re-render on it. */
const clocks = new Map<number, { readonly tickers: Set<(now: number) => void>; readonly timer: ReturnType<typeof setInterval> }>()

/** The wall clock, re-rendering the caller every `everyMs`. */
export const useNow = (everyMs = 1000): number => {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    let clock = clocks.get(everyMs)
    if (clock === undefined) {
      const tickers = new Set<(now: number) => void>()
      clock = {
        tickers,
        timer: setInterval(() => {
          const t = Date.now()
          for (const f of tickers) f(t)
        }, everyMs)
      }
      clocks.set(everyMs, clock)
    }
    const tick = (t: number) => setNow(t)
    clock.tickers.add(tick)
    return () => {
      clock.tickers.delete(tick)
      if (clock.tickers.size === 0) {
        clearInterval(clock.timer)
        clocks.delete(everyMs)
      }
    }
  }, [everyMs])
  return now
}

/**
 * "flash" for a moment after `value` changes (not on the first render): the
 * class restarts a CSS animation, so every change flashes, even in quick succession.
 */
export const useFlash = (value: unknown): string => {
  const first = useRef(true)
  const [n, setN] = useState(0)
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    setN((k) => k + 1)
  }, [value])
  return n === 0 ? "" : n % 2 === 0 ? "flash-a" : "flash-b"
}
