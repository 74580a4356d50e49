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
 * generation kept near its live size. A round allocates nothing that lives
 * until the next (probes/internal/TimerHeap.ts, Deadline.ts' ScheduledStart),
 * but a backend's state and last result still live a round, and at 10,000
 * backends the main thread's old generation, and with it RSS, is about its
 * live size only with this flag. Side by side (docs/health.md "Scale"), at
 * 1,000 backends: 120-127 MiB RSS with both flags, 155 without this one, for
 * 5 % more CPU; at 10,000: 300-310 MiB against 375-415 (still growing), for
 * 10-20 % more CPU.
 */
import * as v8 from "node:v8"

/** In the order they are set (packaging/bundle.mjs keeps the same list for the launcher). */
export const V8_FLAGS = ["--optimize-for-size", "--no-allocation-site-pretenuring"] as const

for (const flag of V8_FLAGS) v8.setFlagsFromString(flag)
