import { useEffect, useRef, useState } from "preact/hooks"

const tickers = new Set<(now: number) => void>()
let timer: ReturnType<typeof setInterval> | undefined

/** The wall clock, re-rendering the caller every `everyMs` (one shared timer per period for the whole page). */
export const useNow = (everyMs = 1000): number => {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const tick = (t: number) => setNow(t)
    tickers.add(tick)
    if (timer === undefined) timer = setInterval(() => {
      const t = Date.now()
      for (const f of tickers) f(t)
    }, everyMs)
    return () => {
      tickers.delete(tick)
      if (tickers.size === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
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
