/** Loopback helpers shared by the benches. */
import * as net from "node:net"

/** A TCP port on 127.0.0.1 free a moment ago (bound to 0, read, closed). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
