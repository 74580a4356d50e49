/**
 * The WatchEvents attack of issue 15, against a real maglevd and vppsim:
 * 200 clients ask for a debug-level watch and never read. Before the bounds,
 * maglevd's RSS grew by 488 MB, GetVersion took 194 ms and healthy backends
 * were declared down. Now: at most 64 watches are taken, 4 of them at debug level (the rest get
 * `Busy`), each may leave at most 256 KiB unread, debug records are built
 * only while they have a reader. Checked here: RSS growth, that GetVersion
 * and GetVPPLBState (binary-API traffic, so debug records) still answer, and
 * that no healthy backend changed state. The latency figure is the soak
 * benchmark's (`npm run bench -- soak`), not a test's.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type DaemonLab, nonReadingWatchers, startDaemonLab, until } from "./lab.js"

const MiB = 1024 * 1024
/**
 * Rounds of GetVersion + GetVPPLBState before and during the attack. Each round makes some 40
 * binary-API messages, so a debug record for each: unbounded, 200 watchers would hold about
 * 2 MB more per round (the 488 MB of the issue); 100 rounds are some 200 MB, three times the bound.
 */
const ROUNDS = 100

describe("WatchEvents attack against a real maglevd", () => {
  it("200 non-reading debug watchers: RSS grows by at most 64 MB, the API answers, no healthy backend changes state", async () => {
    const lab: DaemonLab = await startDaemonLab()
    try {
      // The same calls first, for as long: V8 sizes its heap to the load in the first rounds, which is not growth.
      const rounds = (onEach: () => void) =>
        lab.withClient((api) =>
          Effect.gen(function*() {
            for (let i = 0; i < ROUNDS; i++) {
              expect((yield* api.GetVersion()).version).not.toBe("")
              expect((yield* api.GetVPPLBState()).vips).toHaveLength(4)
              onEach()
            }
          })
        )
      await rounds(() => {})
      const before = lab.rss()
      let peak = before
      const attack = nonReadingWatchers(lab.host, lab.port, 200)
      try {
        // All but 4 are refused (Busy); those 4 get a debug record for every binary-API message, and lag.
        await until("the refusals", () => (lab.log.some((r) => r.annotations.event === "rpc-watch-refused") ? true : undefined), 60_000)
        await rounds(() => {
          peak = Math.max(peak, lab.rss())
        })
      } finally {
        attack.stop()
      }
      const growth = peak - before
      expect(growth, `RSS ${Math.round(before / MiB)} MB -> peak ${Math.round(peak / MiB)} MB`).toBeLessThanOrEqual(64 * MiB)
      expect(lab.unhealthy()).toEqual([])
      const refused = lab.log.filter((r) => r.annotations.event === "rpc-watch-refused")
      // Rate-limited: a line and then counts, not 196 lines.
      expect(refused.length).toBeLessThan(20)
    } finally {
      await lab.stop()
    }
  }, 240_000)
})
