// Minimal HTTP servers for the health-check benchmark, in their own process so
// the benchmark's CPU figures are the prober's alone. argv: firstPort count.
// Each answers one request per connection with a fixed 200 and closes.
import * as net from "node:net"

const [firstPort, count] = process.argv.slice(2).map(Number)
const response = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
let listening = 0
for (let port = firstPort; port < firstPort + count; port++) {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {})
    socket.once("data", () => socket.end(response))
  })
  server.listen({ port, host: "0.0.0.0", backlog: 4096 }, () => {
    if (++listening === count) process.send?.("ready")
  })
}
