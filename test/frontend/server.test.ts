/**
 * maglevd-frontend end to end, all real processes (serverLab.ts): two
 * maglevds, each with its own vppsim and backends, one frontend following both. One set
 * of processes for the whole file; the test that kills a maglevd runs last.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ADMIN, ADMIN_USER, basic, type FrontendLab, getJson, postJson, sse, startFrontendLab, TOKEN, until } from "./serverLab.js"

let lab: FrontendLab

beforeAll(async () => {
  lab = await startFrontendLab()
}, 300_000)

afterAll(async () => {
  await lab?.stop()
}, 60_000)

/** The state document once `ok` accepts it. */
const stateWhen = (what: string, ok: (doc: any) => boolean, admin = false) =>
  until(what, async () => {
    const { body } = await getJson(`${lab.url}${admin ? "admin" : "view"}/api/state`, admin ? ADMIN : {})
    return ok(body) ? body : undefined
  })

const serverOf = (doc: any, id: string) => doc.servers.find((s: any) => s.id === id)
const bothUp = (doc: any) =>
  doc.servers.length === 2 &&
  doc.servers.every((s: any) => s.connection === "up" && s.vpp.connected && s.vpp.lb?.vips.length === 1 && s.frontends.every((f: any) => f.state === "up"))

describe("maglevd-frontend", () => {
  it("serves the state of every maglevd: frontends, backends, health checks, version, VPP and its lb state", async () => {
    const doc = await stateWhen("both maglevds up with VPP programmed", bothUp)
    expect(doc.admin).toBe(false)
    expect(doc.eventId).toMatch(/^[0-9]+-[0-9]+$/)
    expect(doc.servers.map((s: any) => s.id)).toEqual([lab.lb1.id, lab.lb2.id])
    const lb1 = serverOf(doc, lab.lb1.id)
    expect(lb1.url).toBe(lab.lb1.url)
    expect(lb1.frontends.map((f: any) => f.name)).toEqual(["web"])
    expect(lb1.backends.map((b: any) => b.name).sort()).toEqual(["web1", "web2", "web3"])
    expect(lb1.healthchecks.map((h: any) => h.name).sort()).toEqual(["http-check", "tcp-check"])
    expect(lb1.version.version).toEqual(expect.any(String))
    expect(lb1.vpp.info.version).toEqual(expect.any(String))
    // VPP's buckets per AS, as the lb plugin reports them.
    const web = lb1.vpp.lb.vips.find((v: any) => v.frontend === "web")
    expect(web.ases.find((a: any) => a.address === "127.0.0.1").numBuckets).toBeGreaterThan(0)
    // maglevd's binary-API counts (its watch's vppApi): it programmed VPP, so it sent lb_add_del_vip_v2.
    // (Counts come in batches: the first may predate the programming, so wait for the one that has it.)
    const counted = await stateWhen(
      "lb1's binary-API counts with its VIP add",
      (d) => (serverOf(d, lab.lb1.id).api?.messages?.["lb_add_del_vip_v2"] ?? 0) >= 1
    )
    expect(serverOf(counted, lab.lb1.id).api).toMatchObject({ sent: expect.any(Number), received: expect.any(Number) })
    expect(serverOf(counted, lab.lb1.id).api.messages["lb_add_del_vip_v2"]).toBeGreaterThanOrEqual(1)
    expect((await fetch(`${lab.url}healthz`)).status).toBe(200)
  })

  it("serves the browser app under /view/ (and redirects / and /view there)", async () => {
    for (const path of ["", "view"]) {
      const r = await fetch(`${lab.url}${path}`, { redirect: "manual" })
      expect([r.status, r.headers.get("location")]).toEqual([path === "" ? 302 : 301, "/view/"])
    }
    const index = await fetch(`${lab.url}view/`)
    expect(index.status).toBe(200)
    expect(index.headers.get("content-type")).toMatch(/^text\/html/)
    const html = await index.text()
    // Every file the page names is served beside it.
    for (const [, ref] of html.matchAll(/(?:src|href)="\.\/([^"]+)"/g)) {
      const r = await fetch(`${lab.url}view/${ref}`)
      expect([ref, r.status]).toEqual([ref, 200])
      await r.body?.cancel()
    }
    // A path without a file is the app (its own routing), never a file outside the assets.
    expect(await (await fetch(`${lab.url}view/some/tab`)).text()).toBe(html)
    expect(await (await fetch(`${lab.url}view/..%2f..%2fpackage.json`)).text()).toBe(html)
  })

  it("fleet view: both agree on the VIP; programmed differently on one, it is flagged; set back, it agrees again", async () => {
    const WEB = "192.0.2.10/32 6 80"
    const webOf = (d: any) => d.fleet.find((v: any) => v.vip === WEB)
    const agreed = await stateWhen("the fleet view over both", (d) => bothUp(d) && webOf(d)?.members.length === 2)
    expect(webOf(agreed)).toMatchObject({ agree: true, differing: [], missing: [] })
    const setWeb2 = (weight: number) =>
      lab.lb2.withClient((api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web2", weight }))
    await setWeb2(60)
    // web2 has weight 50 on lb1 and 60 on lb2: a tie, the first server is the reference. Once VPP follows,
    // what it holds gives the same fingerprint as what maglevd wants.
    const differ = await stateWhen("lb2's VIP flagged, its VPP following", (d) => {
      const m = webOf(d)?.members.find((x: any) => x.server === lab.lb2.id)
      return webOf(d)?.agree === false && m?.vppFingerprint === m?.fingerprint
    })
    expect(webOf(differ)).toMatchObject({ agree: false, differing: [lab.lb2.id], missing: [] })
    expect(webOf(differ).members.map((m: any) => [m.server, m.ases.find((a: any) => a.address === "127.0.0.2").weight])).toEqual([[lab.lb1.id, 50], [lab.lb2.id, 60]])
    await setWeb2(50)
    await stateWhen("the VIP agreeing again", (d) => webOf(d)?.agree === true)
  })

  it("/admin/ is refused without credentials or with wrong ones, accepted with the admin password or the token", async () => {
    for (const path of ["admin/api/state", "admin/api/events", "admin/"]) {
      const r = await fetch(`${lab.url}${path}`)
      expect(r.status).toBe(401)
      expect(r.headers.get("www-authenticate")).toMatch(/^Basic realm="maglevd-frontend"/)
      await r.body?.cancel()
    }
    expect((await getJson(`${lab.url}admin/api/state`, { authorization: basic(ADMIN_USER, "nope") })).status).toBe(401)
    expect((await getJson(`${lab.url}admin/api/state`, { authorization: "Bearer nope" })).status).toBe(401)
    const refused = await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "pause", backend: "web1", dryRun: false })
    expect(refused.status).toBe(401)
    const withPassword = await getJson(`${lab.url}admin/api/state`, ADMIN)
    expect(withPassword.status).toBe(200)
    expect(withPassword.body.admin).toBe(true)
    expect((await getJson(`${lab.url}admin/api/state`, { authorization: `Bearer ${TOKEN}` })).status).toBe(200)
    // A cross-site page cannot post an action with the browser's cached credentials: a form's body is not JSON,
    // and a script from another origin says so in Origin.
    const form = await fetch(`${lab.url}admin/api/action`, {
      method: "POST",
      headers: { ...ADMIN, "content-type": "text/plain" },
      body: JSON.stringify({ server: lab.lb1.id, action: "pause", backend: "web1", dryRun: false })
    })
    expect(form.status).toBe(415)
    const crossSite = await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "pause", backend: "web1", dryRun: false }, {
      ...ADMIN,
      origin: "http://evil.example"
    })
    expect(crossSite.status).toBe(403)
    // Nothing was paused by the refused requests.
    const b = await lab.lb1.withClient((api) => api.GetBackend({ name: "web1" }))
    expect(b.state).not.toBe("paused")
  })

  it("an admin action shows its dry-run plan, then reaches VPP", async () => {
    await stateWhen("both up", bothUp)
    const request = { server: lab.lb1.id, action: "set-weight", backend: "web2", frontend: "web", pool: "primary", weight: 0, flush: true }
    const dry = await postJson(`${lab.url}admin/api/action`, { ...request, dryRun: true }, ADMIN)
    expect(dry.status).toBe(200)
    // The weight, then the eviction the flush asks for, as maglevd's LB sync sends them.
    expect(dry.body).toMatchObject({
      applied: false,
      ops: [
        { op: "AsWeight", vip: "192.0.2.10/32 6 80", address: "127.0.0.2", weight: 0, flush: false },
        { op: "AsWeight", vip: "192.0.2.10/32 6 80", address: "127.0.0.2", weight: 0, flush: true }
      ]
    })
    const split = dry.body.vips[0].ases.find((a: any) => a.address === "127.0.0.2")
    expect(split).toMatchObject({ weightBefore: 50, weightAfter: 0, bucketsAfter: 0 })
    expect(split.bucketsBefore).toBeGreaterThan(0)
    // A dry run changes nothing.
    const vipWeight = async () =>
      (await lab.lb1.withClient((api) => api.GetVPPLBState())).vips.find((v) => v.frontend === "web")!.ases.find((a) => a.address === "127.0.0.2")!.weight
    expect(await vipWeight()).toBe(50)

    const applied = await postJson(`${lab.url}admin/api/action`, { ...request, dryRun: false }, ADMIN)
    expect(applied.status).toBe(200)
    expect(applied.body.applied).toBe(true)
    expect(applied.body.frontendAfter.pools[0].backends.find((b: any) => b.backend === "web2").weight).toBe(0)
    // VPP (read through maglevd's fresh dump of the simulator) follows.
    await until("VPP's weight of 127.0.0.2 at 0", async () => ((await vipWeight()) === 0 ? true : undefined))
    // The dashboard shows it too (the frontend refreshed after the action).
    await stateWhen("lb1's web2 at 0 on the page", (d) =>
      serverOf(d, lab.lb1.id)?.frontends.find((f: any) => f.name === "web")?.pools[0].backends.find((b: any) => b.backend === "web2")?.weight === 0)

    // Refusals: a backend maglevd does not know, a request that does not decode.
    expect((await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "pause", backend: "nope", dryRun: true }, ADMIN)).status).toBe(400)
    expect((await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "explode", backend: "web1", dryRun: true }, ADMIN)).status).toBe(400)
  })

  it("SSE: no buffering, keep-alive comments; Last-Event-ID replays what a short disconnect missed, an unknown or too old one gets resync", async () => {
    const before = await stateWhen("both up", bothUp, true)
    const first = await sse(`${lab.url}admin/api/events?since=${before.eventId}`, ADMIN)
    expect(first.status).toBe(200)
    expect(first.headers.get("content-type")).toMatch(/^text\/event-stream/)
    expect(first.headers.get("x-accel-buffering")).toBe("no")
    expect(first.headers.get("cache-control")).toBe("no-cache")
    // The first bytes come at once (a comment), before any event.
    await first.next("the opening comment", (f) => f.comment !== undefined)
    first.close()

    // While no browser is connected: pause web1 on lb1 (a transition), through the admin API.
    const paused = await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "pause", backend: "web1", dryRun: false }, ADMIN)
    expect(paused.status).toBe(200)
    await stateWhen("web1 paused on the page", (d) => serverOf(d, lab.lb1.id)?.backends.find((b: any) => b.name === "web1")?.state === "paused")

    // Reconnect as EventSource does: the header wins over the URL's since.
    const again = await sse(`${lab.url}view/api/events?since=1-1`, { "last-event-id": before.eventId })
    const replayed = await again.next("the replayed transition", (f) => f.event === "backend" && f.data.backend.name === "web1" && f.data.transition.to === "paused")
    expect(replayed.data.server).toBe(lab.lb1.id)
    // The view stream has no log records.
    expect(again.frames.some((f) => f.event === "log")).toBe(false)
    again.close()

    // The admin stream has them (maglevd's own record of the pause), and every event from the one after the state's.
    const admin = await sse(`${lab.url}admin/api/events`, { ...ADMIN, "last-event-id": before.eventId })
    await admin.next("maglevd's log record of the pause", (f) => f.event === "log" && f.data.server === lab.lb1.id)
    await admin.next("the replayed transition", (f) => f.event === "backend" && f.data.backend.name === "web1")
    const ids = admin.frames.filter((f) => f.id !== undefined).map((f) => Number(f.id!.split("-")[1]))
    expect(ids[0]).toBe(Number(before.eventId.split("-")[1]) + 1)
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i))
    admin.close()

    // Another epoch (a restarted server's id), or an id too old for the ring: resync, and the stream ends.
    const stale = await sse(`${lab.url}view/api/events`, { "last-event-id": "1-1" })
    const resync = await stale.next("resync", (f) => f.event === "resync")
    expect(resync.data.reason).toBe("other-epoch")
    expect(resync.id).toBeUndefined()
    await until("the stream's end", () => (stale.ended() ? true : undefined))

    await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "resume", backend: "web1", dryRun: false }, ADMIN)
  })

  it("a dead maglevd shows as down; the other one still works", async () => {
    await stateWhen("both up", bothUp)
    const events = await sse(`${lab.url}view/api/events`)
    // Its maglevd, vppsim and backends, all gone.
    await lab.lb2.lab.stop()
    const down = await events.next("lb2's server event: down", (f) => f.event === "server" && f.data.id === lab.lb2.id && f.data.connection === "down")
    expect(down.data.error).toEqual(expect.any(String))
    // Its last lists stay, for the page to grey out.
    expect(down.data.frontends.map((f: any) => f.name)).toEqual(["web"])
    const doc = await stateWhen("lb2 down, lb1 up", (d) => serverOf(d, lab.lb2.id)?.connection === "down" && serverOf(d, lab.lb1.id)?.connection === "up")
    // The fleet view only compares connected maglevds.
    expect(doc.fleet.every((v: any) => v.members.every((m: any) => m.server === lab.lb1.id))).toBe(true)
    // lb1 goes on: a transition there still reaches the browser.
    const paused = await postJson(`${lab.url}admin/api/action`, { server: lab.lb1.id, action: "pause", backend: "web3", dryRun: false }, ADMIN)
    expect(paused.status).toBe(200)
    await events.next("lb1's transition", (f) => f.event === "backend" && f.data.server === lab.lb1.id && f.data.backend.name === "web3")
    // An action on the dead one is refused as such.
    const refused = await postJson(`${lab.url}admin/api/action`, { server: lab.lb2.id, action: "pause", backend: "web1", dryRun: false }, ADMIN)
    expect(refused.status).toBe(502)
    expect(refused.body.error).toContain("down")
    events.close()
  })
}, 300_000)
