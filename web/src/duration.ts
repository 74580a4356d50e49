/** Go-style durations as maglevd writes them (`1m30s`, `500ms`, `2s`) to milliseconds; undefined when unreadable. */
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

export const parseDuration = (text: string): number | undefined => {
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/gy
  let total = 0
  let matched = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2]!]!
    matched = re.lastIndex
  }
  return matched === text.length && matched > 0 ? total : text === "0" ? 0 : undefined
}
