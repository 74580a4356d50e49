/**
 * Urgent exchanges with a peer, and the work that can wait for them.
 *
 * A health transition's reaction is one: the LB sync writes its first request
 * to VPP and the reaction is done when VPP's answer is read. On two busy
 * cores, whatever else this process does meanwhile (judging the backend's
 * 1,000 frontends, writing log lines, which wakes their reader) delays that
 * read, and only the read ends the reaction. Such work asks `whenIdle` to
 * run it once no urgent exchange is outstanding; `hold` marks one begun and
 * returns what ends it.
 *
 * Bounded both ways: a hold not ended within `HOLD_MAX_MS` ends by itself
 * (a peer that never answers does not hold the rest forever), and waiting
 * work runs after `WAIT_MAX_MS` at most whatever is outstanding.
 */

/** A hold ends by itself after this long (an answer that never comes). */
export const HOLD_MAX_MS = 1_000
/** Work waits no longer than this for the outstanding exchanges. */
export const WAIT_MAX_MS = 20

let outstanding = 0
let waiting: Array<() => void> = []
let timer: ReturnType<typeof setTimeout> | undefined

const runWaiting = () => {
  if (timer !== undefined) {
    clearTimeout(timer)
    timer = undefined
  }
  const ready = waiting
  waiting = []
  for (const f of ready) f()
}

/** Marks an urgent exchange begun; the function returned ends it (once: calling it again does nothing). */
export const hold = (): (() => void) => {
  outstanding++
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    clearTimeout(expiry)
    if (--outstanding === 0) runWaiting()
  }
  const expiry = setTimeout(end, HOLD_MAX_MS)
  expiry.unref()
  return end
}

/** Runs `f` now when no urgent exchange is outstanding; else once none is, or after `WAIT_MAX_MS`. */
export const whenIdle = (f: () => void): void => {
  if (outstanding === 0) return f()
  waiting.push(f)
  if (timer === undefined) {
    timer = setTimeout(runWaiting, WAIT_MAX_MS)
    timer.unref()
  }
}

/** Urgent exchanges outstanding now. */
export const pending = (): number => outstanding
