/**
 * Configuration files as an attacker or a careless operator gives them: paths
 * that are not regular files, files over the size limit, and YAML whose cost
 * grows faster than its text (nesting, alias expansion). Each is refused with
 * a one-line reason, without hanging; and the check on a worker thread gives
 * the same result as the check in the caller's thread.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { checkConfigFile, checkConfigText, DEFAULT_MAX_BYTES } from "../../src/config/Check.js"
import { ConfigFileError } from "../../src/config/Errors.js"
import { formatCheckResult } from "../../src/config/Issue.js"
import { MAX_DEPTH } from "../../src/config/Raw.js"
import { checkOffThread } from "../../src/config/internal/OffThread.js"
import { MAX_EXPANDED } from "../../src/config/internal/Walk.js"
import { bigConfig } from "./bigConfig.js"
import { configYaml } from "./support.js"
import { tempDir as scopedTempDir } from "../sim/tempDir.js"

/** A temporary directory, removed with the test's scope. */
const tempDir = scopedTempDir("maglev-hostile-")

const refusal = (file: string, maxBytes?: number) =>
  Effect.flip(checkConfigFile(file, { maxBytes })).pipe(
    Effect.tap((e) => Effect.sync(() => expect(e).toBeInstanceOf(ConfigFileError)))
  )

describe("files that are not regular files are refused unread", () => {
  it.scoped("a FIFO, even with no writer (the open does not wait for one)", () =>
    Effect.gen(function*() {
      const fifo = path.join(yield* tempDir, "maglev.yaml")
      execFileSync("mkfifo", [fifo])
      const e = yield* refusal(fifo)
      expect(e.message).toBe(`cannot read ${fifo}: is a FIFO, not a regular file`)
    }))

  it.effect("/dev/zero", () =>
    Effect.map(refusal("/dev/zero"), (e) => expect(e.reason).toBe("is a character device, not a regular file")))

  it.scoped("a directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      expect((yield* refusal(dir)).reason).toBe("is a directory, not a regular file")
    }))

  it.scoped("a Unix socket", () =>
    Effect.gen(function*() {
      const socket = path.join(yield* tempDir, "maglev.sock")
      const server = net.createServer()
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(socket, () => resume(Effect.void))),
        () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      expect((yield* refusal(socket)).reason).toBe("is a socket, not a regular file")
    }))

  it.effect("a missing file says why, with the path", () =>
    Effect.map(refusal("/nonexistent/maglev.yaml"), (e) => expect(e.reason).toMatch(/^ENOENT: .*\/nonexistent\/maglev\.yaml/)))
})

describe("the size limit", () => {
  it.scoped("a file over the limit is refused with its size and the limit; a higher limit lets it through", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir, "maglev.yaml")
      const text = configYaml()
      fs.writeFileSync(file, text)
      const size = Buffer.byteLength(text)
      const e = yield* refusal(file, size - 1)
      expect(e.reason).toBe(`is ${size} bytes, over the limit of ${size - 1} bytes (raise it with --config-max-bytes)`)
      expect((yield* checkConfigFile(file, { maxBytes: size }))._tag).toBe("Valid")
    }))

  it.scoped("the default limit is 4 MiB", () =>
    Effect.gen(function*() {
      expect(DEFAULT_MAX_BYTES).toBe(4 * 1024 * 1024)
      const file = path.join(yield* tempDir, "maglev.yaml")
      fs.writeFileSync(file, configYaml() + "#".repeat(DEFAULT_MAX_BYTES))
      expect((yield* refusal(file)).reason).toMatch(/over the limit of 4194304 bytes/)
      expect((yield* checkConfigFile(file, { maxBytes: 2 * DEFAULT_MAX_BYTES }))._tag).toBe("Valid")
    }))
})

describe("YAML whose cost grows faster than its text", () => {
  it("nesting deeper than the limit is refused where it gets too deep, flow or block", () => {
    for (const text of [
      "maglev: " + "[".repeat(1_000_000) + "]".repeat(1_000_000),
      "maglev:\n" + Array.from({ length: 2 * MAX_DEPTH }, (_, i) => " ".repeat(i + 1) + "- ").join("\n") + "x\n"
    ]) {
      const result = checkConfigText(text)
      expect(result._tag).toBe("ParseError")
      if (result._tag !== "ParseError") continue
      expect(result.errors).toHaveLength(1)
      expect(result.errors[0]).toMatchObject({ path: "", rule: `the YAML is nested more than ${MAX_DEPTH} levels deep`, line: expect.any(Number) })
    }
  })

  it("billion laughs: aliases of a big anchor stop at the bound, with one error", () => {
    // 1,000 checks × one alias each of a 10,000-item list: 10^7 values to read if nothing stopped it.
    const big = Array(10_000).fill("200").join(", ")
    const lines = ["maglev:", "  healthchecks:", `    hc0: {type: http, port: 80, http: {expected-codes: &big [${big}]}}`]
    for (let i = 1; i < 1000; i++) lines.push(`    hc${i}: {type: http, port: 80, http: {expected-codes: *big}}`)
    const result = checkConfigText(lines.join("\n") + "\n")
    expect(result._tag).toBe("ParseError")
    if (result._tag !== "ParseError") return
    expect(result.errors.map((e) => e.rule)).toEqual([`aliases expand to more than ${MAX_EXPANDED.toLocaleString("en-US")} values beyond what the file says`])
  })

  it("the classic billion laughs, nested aliases of aliases, is refused at the first one the schema does not take", () => {
    const lines = ["maglev:", "  healthchecks:", "    hc:", "      type: http", "      port: 80", "      http:", "        headers:"]
    const anchors = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for (let i = 1; i < 10; i++) anchors.push(`x-l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]`)
    const text = [...lines, ...anchors.map((a) => "          " + a)].join("\n") + "\n"
    const result = checkConfigText(text)
    expect(result._tag).toBe("ParseError")
    expect(formatCheckResult(result).split("\n").length).toBeLessThan(20)
  })
})

describe("the check on a worker thread", () => {
  it.effect("gives what the caller's thread gives: issues, and a configuration with real Durations", () =>
    Effect.gen(function*() {
      const { text } = bigConfig(300)
      const here = checkConfigText(text, { file: "/etc/maglev.yaml" })
      const there = yield* checkOffThread(text, "/etc/maglev.yaml")
      expect(there._tag).toBe("Valid")
      if (there._tag !== "Valid" || here._tag !== "Valid") return
      expect(there.warnings).toEqual(here.warnings)
      expect([...there.config.backends.keys()]).toEqual([...here.config.backends.keys()])
      expect(there.config.frontends).toEqual(here.config.frontends)
      const hc = there.config.healthchecks.get("hc0")!
      expect(Duration.isDuration(hc.interval) && Duration.equals(hc.interval, Duration.seconds(2))).toBe(true)
      expect(Duration.isDuration(there.config.vpp.lb.syncInterval)).toBe(true)
      const broken = yield* checkOffThread("maglev:\n  backends: {b: {address: nope}}\n", undefined)
      expect(broken).toEqual(checkConfigText("maglev:\n  backends: {b: {address: nope}}\n"))
    }), 60_000)
})
