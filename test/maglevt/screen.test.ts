/**
 * maglevt's full-screen view in a real pseudo-terminal (tmux), against the
 * loopback lab: the VIPs, the tally of the three web backends (one drained
 * when it leaves the rotation), an error in
 * the panel when a server stops, the colours, the frame following a resize,
 * and `q` leaving the alternate screen with exit status 0.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { until } from "../cli/lab.js"
import { repoRoot } from "../support/paths.js"
import { type Lab, MAGLEVT, startLab } from "./lab.js"

/** tmux's server socket, in the lab's temporary directory (with -L, tmux left it in /tmp/tmux-UID after kill-server). */
const socket = () => path.join(lab.dir, "tmux.sock")
const tmux = (...args: Array<string>) => execFileSync("tmux", ["-S", socket(), ...args], { encoding: "utf8" })
const screen = (session: string) => tmux("capture-pane", "-p", "-t", session).replace(/\n+$/, "")
const colours = (session: string) => tmux("capture-pane", "-p", "-e", "-t", session)
const waitScreen = (session: string, what: string, pred: (text: string) => boolean) =>
  until(() => `${what}; the screen:\n${screen(session)}`, () => (pred(screen(session)) ? true : undefined))

let lab: Lab

describe("maglevt full-screen view (tmux)", () => {
  beforeAll(async () => {
    try {
      execFileSync("tmux", ["-V"])
    } catch {
      throw new Error("these tests need tmux (apt-get install tmux); .ci/run installs it")
    }
    lab = await startLab()
  })
  afterAll(async () => {
    if (lab === undefined) return
    try {
      execFileSync("tmux", ["-S", socket(), "kill-server"], { stdio: "ignore" })
    } catch {
      // no server left: it exits with its last session
    }
    // Removes the directory, tmux's socket with it.
    await lab.stop()
  })

  it("shows the VIPs, the tally and the errors; follows a resize; q quits with 0", async () => {
    const s = "view"
    const script = path.join(lab.dir, "run.sh")
    const command = [process.execPath, ...MAGLEVT, "--config", lab.configFile, "--interval", "50ms"].map((a) => `'${a}'`).join(" ")
    fs.writeFileSync(script, `${command}\necho "exit=$?"\nsleep 60\n`)
    tmux("new-session", "-d", "-s", s, "-x", "120", "-y", "40", "-c", repoRoot, `env -u NO_COLOR sh '${script}'`)

    await waitScreen(s, "the title, the header and the three VIPs", (t) =>
      /^maglevt \S+ on \S+ · 3 VIPs every 50ms ±10% · timeout 1s · keep-alive off +q quits$/m.test(t) &&
      /^VIP +ENDPOINT +KIND +N +FAIL +OK% +P50 +P95 +P99 +MAX +LAST$/m.test(t) &&
      /^web +127\.0\.77\.10:\d+ +http +\d+ +0 +100\.00% .* 200 web\d$/m.test(t) &&
      /^api +127\.0\.77\.20:\d+ +http .* 200 api1$/m.test(t) &&
      /^db +127\.0\.77\.40:\d+ +tcp .* connected$/m.test(t))
    await waitScreen(s, "the three web backends serving", (t) => /^ {2}serving: (?=.*web1 \d+)(?=.*web2 \d+)(?=.*web3 \d+).*$/m.test(t))
    expect(screen(s)).toMatch(/^ {2}serving: api1 \d+$/m)
    expect(screen(s)).toMatch(/^─{120}$/m)
    // Colour on a terminal: blue labels.
    expect(colours(s)).toMatch(/\x1b\[34mVIP/)

    // web2 leaves the rotation: drained once it has not answered for 5 s.
    lab.rotate("web2", false)
    await waitScreen(s, "web2 drained", (t) => /^ {2}serving: web[13] \d+, web[13] \d+ {3}drained: web2 \d+$/m.test(t))
    lab.rotate("web2", true)

    // api stops: refused, in its row and in the error panel.
    await lab.api.stop()
    await waitScreen(s, "api refused", (t) =>
      /^api +127\.0\.77\.20:\d+ +http +\d+ +[1-9]\d* .* refused$/m.test(t) &&
      /^ERRORS {2}timeout \d+ {2}http \d+ {2}network [1-9]\d* {2}spike \d+$/m.test(t) &&
      /^\d\d:\d\d:\d\d\.\d{3} {2}api +network +refused: connect ECONNREFUSED 127\.0\.77\.20:\d+ ×\d+ since \S+$/m.test(t))
    await lab.api.start()
    await waitScreen(s, "api answering again", (t) => /^api +127\.0\.77\.20:\d+ .* 200 api1$/m.test(t))

    // A smaller terminal: the frame is redrawn to fit.
    tmux("resize-window", "-t", s, "-x", "80", "-y", "20")
    await waitScreen(s, "the rule 80 wide", (t) => /^─{80}$/m.test(t))
    expect(screen(s).split("\n").length).toBeLessThanOrEqual(20)

    tmux("send-keys", "-t", s, "q")
    await waitScreen(s, "exit 0, the normal screen back", (t) => /^exit=0$/m.test(t) && !/q quits/.test(t))
    tmux("kill-session", "-t", s)
  }, 300_000)

  it("Ctrl-C leaves too, with 0, and the frontends left out are named once the screen is back", async () => {
    const s = "ctrl-c"
    const script = path.join(lab.dir, "ctrl-c.sh")
    const command = [process.execPath, ...MAGLEVT, "--config", lab.configFile, "--filter", "^(db|dns)$"].map((a) => `'${a}'`).join(" ")
    fs.writeFileSync(script, `${command}\necho "exit=$?"\nsleep 60\n`)
    tmux("new-session", "-d", "-s", s, "-x", "100", "-y", "20", "-c", repoRoot, `env NO_COLOR=1 sh '${script}'`)
    await waitScreen(s, "the db VIP alone", (t) => /· 1 VIP every 100ms/.test(t) && /^db +127\.0\.77\.40:\d+ +tcp .* connected$/m.test(t))
    expect(colours(s)).not.toMatch(/\x1b\[3\dm/)
    tmux("send-keys", "-t", s, "C-c")
    // The line names the configuration's path, so it may wrap (however deep the temporary directory is).
    await waitScreen(s, "exit 0", (t) => /^exit=0$/m.test(t) && /frontend dns not probed: protocol udp: maglevt/.test(t.replace(/\n/g, "")))
    tmux("kill-session", "-t", s)
  }, 300_000)
})
