/** Short numbers for a narrow column. */

/** Milliseconds: `0.42ms`, `12.3ms`, `250ms`, `1.50s`. */
export const formatMs = (ms: number): string => {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`
  if (ms >= 100) return `${Math.round(ms)}ms`
  if (ms >= 10) return `${ms.toFixed(1)}ms`
  return `${ms.toFixed(2)}ms`
}

/** A share as a percentage with two decimals, `-` of nothing. */
export const formatPercent = (part: number, whole: number): string => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(2)}%`)
