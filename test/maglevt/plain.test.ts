/**
 * maglevt in plain mode (standard output a pipe) against real servers on
 * loopback "VIPs": the tally follows backends leaving and rejoining the
 * rotation, the counts and error classes follow servers stopping, answering
 * 503, hanging and answering slowly, and keep-alive pins one backend. Every
 * wait is for a line, never for time.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Lab, line, type Run, run, startLab } from "./lab.js"

const TIME = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"

let lab: Lab
const runs: Array<Run> = []

describe("maglevt plain mode (real servers on loopback VIPs)", () => {
  beforeAll(async () => {
    lab = await startLab()
  })
  afterAll(async () => {
    for (const r of runs) r.child.kill("SIGKILL")
    await lab?.stop()
  })

  it("follows the backends, the failures and their classes; Ctrl-C ends it with 130", async () => {
    const r = run(["--config", lab.configFile, "--interval", "40ms", "--timeout", "2s"])
    runs.push(r)

    // Every VIP reports; the UDP frontend is left out, on stderr.
    await line(r, new RegExp(`^${TIME} db report 127\\.0\\.77\\.40:\\d+ tcp n=\\d+ fail=0 ok=100\\.00% p50=\\S+ .* last=connected( errors=spike:\\d+)?$`))
    expect(r.stderr()).toContain("frontend dns not probed: protocol udp: maglevt probes TCP")
    // The three web backends serve: new connections go round the rotation.
    await line(r, /^\S+ web report \S+ http n=\d+ fail=0 ok=100\.00% .* last=200\/web\d serving=(?=\S*web1:)(?=\S*web2:)(?=\S*web3:)\S+( errors=spike:\d+)?$/)
    for (const b of ["web1", "web2", "web3"]) expect(r.lines.some((l) => new RegExp(`^${TIME} web backend ${b} serving$`).test(l))).toBe(true)
    await line(r, /^\S+ api report \S+ http .* last=200\/api1 serving=api1:\d+( errors=spike:\d+)?$/)

    // web2 leaves the rotation: drained after 5 s without answers; back, it serves again.
    lab.rotate("web2", false)
    let at = await line(r, /^\S+ web backend web2 drained$/)
    at = await line(r, /^\S+ web report .* serving=(?=\S*web1:)(?=\S*web3:)(?!\S*web2)\S+ drained=web2:\d+( errors=spike:\d+)?$/, at)
    lab.rotate("web2", true)
    at = await line(r, /^\S+ web backend web2 serving$/, at)

    // web3's server stops but the proxy still sends it connections: resets, one line for the run of them.
    await lab.web.web3.stop()
    at = await line(r, /^\S+ web error network reset: /, at)
    await lab.web.web3.start()
    at = await line(r, /^\S+ web recovered after \d+ failures?$/, at)
    const resets = r.lines.slice(0, at).filter((l) => / web error network reset: /.test(l)).length
    await line(r, /^\S+ web report .* fail=[1-9]\d* .* errors=network:[1-9]\d*(,spike:\d+)?$/, at)

    // api: refused while stopped; 503; hanging (timeouts); a slow answer (a spike).
    await lab.api.stop()
    at = await line(r, /^\S+ api error network refused: connect ECONNREFUSED 127\.0\.77\.20:\d+$/, at)
    at = await line(r, /^\S+ api report .* last=refused serving=api1:\d+ errors=network:\d+(,spike:\d+)?$/, at)
    await lab.api.start()
    at = await line(r, /^\S+ api recovered after \d+ failures?$/, at)
    lab.api.mode = "503"
    at = await line(r, /^\S+ api error http HTTP 503 from api1$/, at)
    at = await line(r, /^\S+ api report .* last=503\/api1 .* errors=http:\d+,network:\d+(,spike:\d+)?$/, at)
    lab.api.mode = "hang"
    at = await line(r, /^\S+ api error timeout no response within the timeout$/, at)
    lab.api.mode = "ok"
    at = await line(r, /^\S+ api recovered after/, at)
    lab.api.delayNext = 800
    at = await line(r, /^\S+ api error spike (\d\.\d\ds|[89]\d\dms) > 3x p50 \S+ from api1$/, at)
    at = await line(r, /^\S+ api report .* last=200\/api1 .* errors=timeout:\d+,http:\d+,network:\d+,spike:[1-9]\d*$/, at)

    // db: a TCP VIP whose server is gone.
    await lab.stopDb()
    at = await line(r, /^\S+ db error network refused: /, at)
    await line(r, /^\S+ db report .* last=refused errors=network:\d+(,spike:\d+)?$/, at)

    // The same error repeated is one line; the report counts them all.
    expect(resets).toBe(1)

    r.child.kill("SIGINT")
    expect(await r.exit).toBe(130)
  }, 300_000)

  it("with --keepalive one connection serves every probe, so one backend takes them all", async () => {
    const r = run(["--config", lab.configFile, "--interval", "20ms", "--keepalive", "--filter", "^web$"])
    runs.push(r)
    const at = await line(r, /^\S+ web report .* n=(\d{2,}) fail=0 .* serving=web\d:\d+( errors=spike:\d+)?$/)
    expect(r.lines.slice(0, at + 1).filter((l) => / report /.test(l)).every((l) => / web /.test(l))).toBe(true)
    // Without it: a new connection per probe, and the rotation shows.
    const fresh = run(["--config", lab.configFile, "--interval", "20ms", "--filter", "^web$"])
    runs.push(fresh)
    await line(fresh, /^\S+ web report .* serving=(?=\S*web1:)(?=\S*web2:)(?=\S*web3:)\S+( errors=spike:\d+)?$/)
    r.child.kill("SIGTERM")
    fresh.child.kill("SIGTERM")
    await Promise.all([r.exit, fresh.exit])
  }, 300_000)

  it("exits 1 when there is nothing to probe or a file is not valid, 0 when its reader goes away, 2 on a bad flag", async () => {
    const broken = path.join(lab.dir, "broken.yaml")
    fs.writeFileSync(broken, fs.readFileSync(lab.configFile, "utf8").replace("healthcheck: http-check}", "healthcheck: nope}"))
    const invalid = run(["--config", lab.configFile, "--config", broken])
    expect(await invalid.exit).toBe(1)
    expect(invalid.stderr()).toContain("maglev.backends.web1.healthcheck")
    expect(invalid.lines).toEqual([])
    const none = run(["--config", lab.configFile, "--filter", "^nothing$"])
    expect(await none.exit).toBe(1)
    expect(none.stderr()).toMatch(/^maglevt: no frontend to probe in \S+maglev\.yaml matching --filter \^nothing\$$/m)
    // A reader that goes away (`maglevt | head -1`): exit 0, quietly.
    const head = run(["--config", lab.configFile, "--interval", "20ms"])
    await line(head, / report /)
    head.child.stdout!.destroy()
    expect(await head.exit).toBe(0)
    expect(head.stderr()).not.toMatch(/EPIPE|Error/)
    const bad = run(["--config", lab.configFile, "--interval", "10x"])
    expect(await bad.exit).toBe(2)
    expect(bad.stderr() + bad.lines.join("\n")).toContain('--interval "10x": unknown unit "x" in duration')
  }, 300_000)
})
