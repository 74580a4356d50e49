// Minimal HTTP servers for the health-check benchmarks, in their own process
// so the benchmarks' CPU figures are the checkers' alone.
//
// argv: firstPort ports [backends [net]]. Backend i listens on
// NET.(h >> 8).((h & 255) + 1):(firstPort + i % ports), h = floor(i / ports),
// NET being `net` (default "127.1", a /16 of loopback):
// one listener per backend, on loopback addresses only (a socket bound to
// 127.0.0.1 does not take 127.1.x.y, so each address:port is bound itself).
// Without `backends`, one address: `ports` backends.
//
// Each answers one request per connection with a fixed 200 and closes.
//
// It also counts the requests by checker (the request's User-Agent: one
// holding "haproxy" is HAProxy's, one holding "maglev" maglevd's, anything
// else "other") and the gap between consecutive requests of one checker to
// one backend. IPC: "seen" answers how many backends each checker has sent
// a request to so far (and agoMs: how long ago each reached the last one); "start" clears the counts and starts counting
// ({ ok: true }); "stop" answers { probes, gaps } (gaps: per checker, count
// and percentiles in ms, and how many were over 1.1 s). The process exits
// when its parent goes. http-servers.c does the same in C.
import * as net from "node:net"

const [firstPort, ports, backends = ports] = process.argv.slice(2, 5).map(Number)
const net16 = process.argv[5] ?? "127.1"
if (!/^127\.\d{1,3}$/.test(net16)) throw new Error(`net: expected 127.N, got "${net16}"`)
const response = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

const CHECKERS = ["maglevd", "haproxy", "other"]
const HAPROXY = Buffer.from("haproxy")
const MAGLEV = Buffer.from("maglev")
const checkerOf = (chunk) => (chunk.includes(HAPROXY) ? 1 : chunk.includes(MAGLEV) ? 0 : 2)

let measuring = false
const probes = [0, 0, 0]
/** Last arrival (performance.now() ms) by checker and backend; 0 = none yet. */
const last = CHECKERS.map(() => new Float64Array(backends))
/** Gaps in ms by checker, while measuring (a growable array). */
const gaps = CHECKERS.map(() => ({ values: new Float64Array(1024), length: 0 }))

/** Backends reached so far, by checker, and when the last of them was first reached (performance.now()). */
const seen = [0, 0, 0]
const allAt = [0, 0, 0]

const record = (checker, backend, at) => {
  const previous = last[checker][backend]
  last[checker][backend] = at
  if (previous === 0 && ++seen[checker] === backends) allAt[checker] = at
  if (!measuring) return
  probes[checker]++
  if (previous === 0) return
  const g = gaps[checker]
  if (g.length === g.values.length) {
    const bigger = new Float64Array(g.values.length * 2)
    bigger.set(g.values)
    g.values = bigger
  }
  g.values[g.length++] = at - previous
}

const summary = (g) => {
  const sorted = g.values.slice(0, g.length).sort()
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
  let over = 0
  for (const v of sorted) if (v > 1100) over++
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0, over1100: over }
}

process.on("message", (m) => {
  if (m === "seen") {
    const now = performance.now()
    process.send({
      ...Object.fromEntries(CHECKERS.map((c, i) => [c, seen[i]])),
      agoMs: Object.fromEntries(CHECKERS.map((c, i) => [c, allAt[i] === 0 ? null : now - allAt[i]]))
    })
  } else if (m === "start") {
    probes.fill(0)
    for (const g of gaps) g.length = 0
    measuring = true
    process.send({ ok: true })
  } else if (m === "stop") {
    measuring = false
    process.send({
      probes: Object.fromEntries(CHECKERS.map((c, i) => [c, probes[i]])),
      gaps: Object.fromEntries(CHECKERS.map((c, i) => [c, summary(gaps[i])]))
    })
  }
})
process.on("disconnect", () => process.exit(0))

let listening = 0
for (let i = 0; i < backends; i++) {
  const h = Math.floor(i / ports)
  const host = `${net16}.${h >> 8}.${(h & 255) + 1}`
  const server = net.createServer({ noDelay: true }, (socket) => {
    const at = performance.now()
    socket.on("error", () => {})
    socket.once("data", (chunk) => {
      record(checkerOf(chunk), i, at)
      socket.end(response)
    })
  })
  server.on("error", (e) => {
    console.error(`benchmark server ${host}:${firstPort + (i % ports)}: ${e.message}`)
    process.exit(1)
  })
  server.listen({ port: firstPort + (i % ports), host, backlog: 4096 }, () => {
    if (++listening === backends) process.send?.("ready")
  })
}
