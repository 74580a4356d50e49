/**
 * maglevd's V8 heap settings, applied when this module is evaluated: main.ts
 * imports it first, before the rest of the program has allocated much.
 *
 * `--optimize-for-size`: every probe round makes a few small objects that live
 * about one interval (the wait for the next round, the backend's new state).
 * With V8's default young generation most of them survive a scavenge and are
 * promoted, so the old generation grows by megabytes a second until a major
 * collection: 250 MB of RSS for 1,000 backends that need 40. Favouring a small
 * heap brings that to about 160 MB for the same CPU (measured side by side,
 * docs/health.md "Scale"). V8 reads the flag as it sizes the heap, so setting
 * it at run time takes effect.
 */
import * as v8 from "node:v8"

v8.setFlagsFromString("--optimize-for-size")
