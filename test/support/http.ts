/** A plain HTTP GET without keep-alive (a fresh connection each time, as a scraper's): the body as text. */
import * as http from "node:http"

export const getText = (url: string): Promise<string> =>
  new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
      res.once("error", reject)
    }).once("error", reject)
  })
