/**
 * Calling maglevd's RPC API from a plain Node program with the typed client.
 *
 *   npm start                                     # in another terminal
 *   node --import tsx examples/client.ts [http://127.0.0.1:9090] [--token-file F]
 *
 * Lists the backends and frontends, and prints VPP's version (or why VPP is
 * unavailable). Every call is typed: its payload, its answer and its errors
 * (NotFound, Unavailable, InvalidArgument, Conflict, Unauthorized) come from
 * the one RpcGroup in src/api/Api.ts.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as ApiClient from "../src/api/Client.js"

const args = process.argv.slice(2)
const tokenAt = args.indexOf("--token-file")
const token = tokenAt >= 0 ? fs.readFileSync(args[tokenAt + 1]!, "utf8").trim() : undefined
const url = args.find((a, i) => !a.startsWith("--") && i !== tokenAt + 1) ?? ApiClient.DEFAULT_URL

const program = Effect.gen(function*() {
  const client = yield* ApiClient.make({ url, token })
  for (const b of yield* client.ListBackends()) {
    console.log(`backend ${b.name.padEnd(10)} ${b.address.padEnd(16)} ${b.state}`)
  }
  for (const f of yield* client.ListFrontends()) {
    console.log(`frontend ${f.name.padEnd(9)} ${f.address.padEnd(16)} ${f.state} (active pool: ${f.activePool ?? "none"})`)
  }
  const vpp = yield* client.GetVPPInfo().pipe(
    Effect.map((i) => `VPP ${i.version}, pid ${i.pid}`),
    Effect.catchTag("Unavailable", (e) => Effect.succeed(`VPP unavailable: ${e.reason}`))
  )
  console.log(vpp)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(`examples/client.ts: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
