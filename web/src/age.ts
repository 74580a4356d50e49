/** "now", "42s", "10m30s", "1h12m", "3d4h": the time since a transition, as the original dashboard shows it. */
export const formatAge = (ms: number): string => {
  const s = Math.floor(Math.max(0, ms) / 1000)
  if (s < 1) return "now"
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`
  return `${Math.floor(h / 24)}d${h % 24}h`
}

/** "just now", "42s ago", "10m30s ago". */
export const formatAgo = (ms: number): string => (ms < 1000 ? "just now" : `${formatAge(ms)} ago`)

/** Uptime-style duration: "3d 4h 5m", "4h 5m", "5m 2s". */
export const formatUptime = (ms: number): string => {
  const s = Math.floor(Math.max(0, ms) / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h ${m}m`
  if (h > 0) return `${h}h ${m}m`
  return `${m}m ${s % 60}s`
}
