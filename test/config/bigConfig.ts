/**
 * A generated configuration of any size, for the scale test of `--check` and
 * for `npm run bench -- cli`: `backends` backends (IPv4, distinct addresses)
 * over a few healthchecks, and one frontend per 100 backends with two pools of
 * 50 (primary, backup). Two warnings are built in, so a check has something to
 * report at any size: the last backend is used by no frontend, and the first
 * frontend's Maglev table is too short for its backends.
 */
export const PER_FRONTEND = 100

export interface BigConfig {
  readonly text: string
  readonly backends: number
  readonly frontends: number
  readonly healthchecks: number
}

const address = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

export const bigConfig = (backends: number): BigConfig => {
  const healthchecks = 4
  const lines = ["maglev:", "  vpp:", "    lb:", "      ipv4-src-address: 192.0.2.1", "  healthchecks:"]
  for (let h = 0; h < healthchecks; h++) {
    lines.push(`    hc${h}: {type: http, port: ${8080 + h}, interval: 2s, timeout: 1s, http: {path: /health, expected-codes: [200, "300-399"]}}`)
  }
  lines.push("  backends:")
  for (let i = 0; i < backends; i++) {
    lines.push(`    b${i}: {address: ${address(i + 1)}, healthcheck: hc${i % healthchecks}}`)
  }
  // The last backend stays out of every frontend (a warning); with one backend, it is still used.
  const used = backends > 1 ? backends - 1 : backends
  const frontends = Math.ceil(used / PER_FRONTEND)
  lines.push("  frontends:")
  for (let f = 0; f < frontends; f++) {
    const first = f * PER_FRONTEND
    const members = Array.from({ length: Math.min(PER_FRONTEND, used - first) }, (_, k) => first + k)
    const half = Math.ceil(members.length / 2)
    lines.push(
      `    fe${f}:`,
      `      address: 192.168.${f >> 8}.${f & 255}`,
      "      protocol: tcp",
      "      port: 80",
      // The first frontend's table is too short for 100 backends (a warning).
      `      new-flows-table-length: ${f === 0 ? 1024 : 16384}`,
      "      pools:",
      "        - name: primary",
      "          backends:"
    )
    for (const m of members.slice(0, half)) lines.push(`            b${m}: {weight: ${(m % 100) + 1}}`)
    if (members.length > half) {
      lines.push("        - name: backup", "          backends:")
      for (const m of members.slice(half)) lines.push(`            b${m}:`)
    }
  }
  return { text: lines.join("\n") + "\n", backends, frontends, healthchecks }
}
