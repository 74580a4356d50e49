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
 */
import * as v8 from "node:v8"

/** In the order they are set (packaging/bundle.mjs keeps the same list for the launcher). */
export const V8_FLAGS = ["--optimize-for-size", "--no-allocation-site-pretenuring"] as const

for (const flag of V8_FLAGS) v8.setFlagsFromString(flag)
