/**
 * maglevd's V8 heap settings, applied when this module is evaluated: main.ts
 * imports it first, before the rest of the program has allocated much. V8
 * reads both flags as it goes (sizing the heap, deciding where to allocate),
 * so setting them at run time takes effect; packaging/bundle.mjs sets the same
 * (V8_FLAGS) before the bundle is compiled, for its code cache.
 *
 * `--no-allocation-site-pretenuring`: V8 allocates objects straight in the
 * old generation at sites whose objects survived scavenges. During start-up
 * every probe is slow (thousands start at once), so the probe's own objects
 * (its session, HTTP exchange, socket, closures: a few KB that live a
 * millisecond once running) were judged long-lived and, for the rest of the
 * process, every probe's garbage went to the old generation, growing it by
 * MB/s until a major collection. Without pretenuring they die young.
 *
 * `--optimize-for-size`: a small young generation (1 MB) and an old
 * generation kept near its live size. Set at run time, as here, it does not
 * resize what the main isolate already has (its new space was sized at
 * start, up to 32 MB; under the flag it stays near 8) but configures every
 * isolate made afterwards: the probe threads get a 1 MB new space. A round allocates nothing that lives until
 * the next (probes/internal/TimerHeap.ts, Deadline.ts' ScheduledStart, the
 * health cells changed in place: health/Rounds.ts' Cell), so at 10,000
 * backends the main thread's old generation, and with it RSS, is about its
 * live size. Side by side (docs/health.md "Scale"), at 1,000 backends:
 * 120-127 MiB RSS with both flags, 155 without this one, for 5 % more CPU;
 * at 10,000: 300-310 MiB against 375-415 (still growing), for 10-20 % more
 * CPU (both measured before the cells were changed in place).
 *
 * Weighed again at 10,000 backends (5 December 2026), once a steady round
 * promoted ~16 B on the main thread instead of 50-120: maglevd alone, 30 s
 * of steady probing at ~9,600 probes/s, main-thread GC pauses traced. With
 * both flags: 0-8 pauses over 20 ms in 30 s, the longest 15-50 ms (a
 * scavenge; one mark-compact, 8-34 ms), RSS 224-246 MiB. Without this flag
 * (the probe threads' young generation capped instead,
 * `--max-semi-space-size=1`): the same pauses (0-1 over 20 ms, the longest
 * 15-38 ms) and RSS (222-244 MiB). With neither (before the cells, the
 * machine saturated): rarer scavenges, but of 36-141 ms, and RSS 335-376
 * MiB. Nothing to gain from a change, so the flags stay.
 *
 * Weighed for the start-up peak (5 December 2026, issue 13's 150 MB at
 * 1,000 backends), not set: `--max-semi-space-size=1` given to node at
 * launch (set here it changes nothing for the main isolate, whose young
 * generation is sized as it is created; `--semi-space-growth-factor=1` set
 * here did not hold it either, and newer V8s floor that factor at 2). It
 * keeps the main thread's new space at 2 MB instead of 16: at 1,000
 * backends, bundled as shipped, the peak went 121-124 -> 107-110 MiB. But
 * the reconciler keeps tens of MB alive through a sync, which a small young
 * generation copies and promotes: `npm run bench -- reconcile`, four
 * alternating pairs (load 5-20), maglevd's CPU per no-change full sync
 * 60, 100, 130, 100 -> 150, 190, 180, 160 ms and its CPU for the first
 * programming 1.5-2.4 -> 1.7-4.3 s (2 MB semi-spaces: 170 and 180 ms per
 * sync against 90 and 160 without; 4 MB: 100 and 160, too few runs to
 * tell, for a peak 6-9 MiB lower). Again once a sync's socket reads made
 * no garbage (559da69), four pairs at load 3-10: per no-change sync 60-70
 * -> 70-100 ms, the first programming's CPU the same (1.2-1.7 s), its wall
 * time 1.3-2.6 (one 6.4) -> 1.7-2.3 s. The peak is under the target
 * without it (docs/health.md "Scale"), so the reconciler keeps its young
 * generation.
 *
 * Set at 10,000 backends (issue 13's 286 MiB with Prometheus scraping, 5
 * December 2026): `--max-semi-space-size=4` on maglevd's launcher's `#!`
 * line (packaging/bundle.mjs, LAUNCH_FLAGS; not here, where it would size
 * only the isolates made afterwards). There the main thread's new space
 * had grown to 27-28 MiB at the peaks; with the cap it stays at most 8, and
 * its old space did not fill in. health-vs-haproxy 10,000 backends, 150 s,
 * a scrape every 15 s, the tree / 4 MB / 8 MB in turn: RSS end (peak) 279
 * (292) / 261 (275) / 273 (281) MiB; 1,000 and 10,000, 30 s, in turn: 101
 * (116) / 107 (110) and 267 (277) / 247 (264), CPU per probe 2.2 / 2.0x and
 * 2.0 / 2.0x; over 600 s with the scrapes, one run each: 264 (274)
 * against the tree's 266 (293), CPU per probe 1.8x both, no false down.
 * The reconciler (4 MB semi-spaces, not 2 as above; `npm run bench --
 * reconcile`, RECONCILE_MAGLEVD_FLAGS, in turn): maglevd's CPU over the run
 * 49.2 s without, 49.6 and 46.2 with; per no-change sync 100 ms against 110
 * and 110: within the noise (docs/health.md "Scale"). Runs that start node
 * themselves (`node dist/daemon/main.js`, `npm start`) go without it.
 *
 * `--optimize-for-size` weighed again for the reconciler (issue 14, 5
 * December 2026; docs/lbsync.md, fifteenth round): dropped, with the
 * isolates made after the start capped by `--max-semi-space-size=1` set
 * here instead (set at run time it leaves the main isolate's new space at
 * its 8 MiB and gives a worker 2; `--optimize-for-size` so set takes both
 * to 1). maglevd's CPU over a reconcile run fell to 0.74-0.76× the tree's,
 * but at 10,000 backends its RSS end (peak) went 257 (264) -> 339 (369) MiB
 * without VPP, and 293 (358) -> 425 (649) with a vppsim and a full sync
 * every 30 s. So the flag stays, and LbSync lifts it while it works
 * (src/lb/HeapMode.ts: each drain of its requests, held 10 s after one
 * that wrote lb mutations): maglevd's CPU over a reconcile run 0.72-0.95×
 * the tree's, and the tree's RSS with VPP, since a no-change sync ends its
 * lift with it (held after those too, RSS swung 50-70 MiB higher).
 */
import * as v8 from "node:v8"
import { heapMode } from "../lb/HeapMode.js"

/** In the order they are set (packaging/bundle.mjs keeps the same list for the launcher). */
export const V8_FLAGS = ["--optimize-for-size", "--no-allocation-site-pretenuring"] as const

for (const flag of V8_FLAGS) v8.setFlagsFromString(flag)
// The reconciler lifts --optimize-for-size while it works (src/lb/HeapMode.ts, docs/lbsync.md).
if (V8_FLAGS.includes("--optimize-for-size")) heapMode.optimizingForSize()
