/**
 * The dashboard in a real browser (Debian's chromium through playwright-core)
 * against real processes: maglevd A programming vppsim, maglevd B without VPP
 * (one VIP weighted differently, and a backend whose probes the test holds
 * open), a dead --server URL, and maglevd-frontend.
 * One set of processes and one browser for the whole file (test/frontend/browserLab.ts).
 *
 * `DASHBOARD_SCREENSHOT=docs/dashboard.png npx vitest run test/frontend/browser.test.ts`
 * also saves the main view as that picture (the README's).
 */
import * as fs from "node:fs"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ADMIN_PASSWORD, ADMIN_USER, type DashboardLab, startDashboardLab, until } from "./browserLab.js"

const VIP = "192.0.2.10/32 6 80"
const WAIT = { timeout: 120_000 }

let lab: DashboardLab

beforeAll(async () => {
  lab = await startDashboardLab()
}, 300_000)

afterAll(async () => {
  await lab?.stop()
}, 60_000)

const row = (page: Page, server: string, frontend: string, backend: string) =>
  page.locator(`[data-server-section="${server}"] article[data-frontend="${frontend}"] tr[data-backend="${backend}"]`)

const openPage = async (url: string, admin = false) => {
  const context = await lab.browser.newContext({
    viewport: { width: 1280, height: 900 },
    ...(admin ? { httpCredentials: { username: ADMIN_USER, password: ADMIN_PASSWORD } } : {})
  })
  const page = await context.newPage()
  const stateFetches: Array<string> = []
  /**
   * Where each request for the event stream resumes: its Last-Event-ID header (the browser's reconnect, once
   * an event came), else the `since` the page opened it with (the state document's event id).
   */
  const streamResumes: Array<string> = []
  page.on("request", (r) => {
    if (r.url().includes("/api/state")) stateFetches.push(r.url())
    if (r.url().includes("/api/events")) {
      void r.allHeaders().then((h) => streamResumes.push(h["last-event-id"] ?? new URL(r.url()).searchParams.get("since") ?? ""))
    }
  })
  await page.goto(url)
  await page.locator("[data-live=yes]").waitFor(WAIT)
  return { page, context, stateFetches, streamResumes }
}

/** Every backend of A up (with the startup delays over, the VIP programmed). */
const settled = () =>
  until("A's web VIP programmed in VPP with web1 and web2", () =>
    lab.rpc(lab.a.url, (api) => api.GetVPPLBState()).then((s) => {
      const vip = s.vips.find((v) => v.vip === VIP)
      return vip !== undefined && vip.ases.filter((x) => x.weight > 0).length === 2 ? true : undefined
    }, () => undefined))

describe("dashboard in chromium", () => {
  it("shows every maglevd, frontend and backend; a dead maglevd is shown dead and the others still work", async () => {
    await settled()
    const { page, context } = await openPage(`${lab.frontendUrl}/view/`)
    try {
      for (const server of [lab.ids.a, lab.ids.b]) {
        for (const backend of ["web1", "web2", "web3"]) {
          await row(page, server, "web", backend).waitFor(WAIT)
        }
        await page.locator(`[data-server-section="${server}"] article[data-frontend="web"] h3`).filter({ hasText: "web" }).waitFor(WAIT)
      }
      // One tab per maglevd, and "all".
      const tabs = await page.getByRole("tab").allTextContents()
      expect(tabs.map((t) => t.trim())).toEqual(["all", lab.ids.a, lab.ids.b, lab.ids.dead])
      await page.locator(`[data-dead="${lab.ids.dead}"]`).waitFor(WAIT)
      // A's VPP panel is connected and its buckets come from VPP; B has no VPP.
      await page.locator(`[data-server-section="${lab.ids.a}"] [data-vpp=connected]`).waitFor(WAIT)
      await page.locator(`[data-server-section="${lab.ids.b}"] [data-vpp=disconnected]`).waitFor(WAIT)
      await until("VPP's buckets for web1 on A", async () => {
        const n = await row(page, lab.ids.a, "web", "web1").locator("[data-buckets]").getAttribute("data-buckets")
        return n !== null && Number(n) > 0 ? n : undefined
      })
      // The heart beats while a probe of a backend is in flight (maglevd's probe news).
      await page.locator(`[data-server-section="${lab.ids.a}"] .heart.on`).first().waitFor(WAIT)
      // Landmarks for assistive technology.
      for (const role of ["banner", "main", "navigation", "tablist", "tabpanel", "contentinfo"] as const) {
        expect(await page.getByRole(role).count(), role).toBe(1)
      }
      // The dead maglevd's tab shows it dead; A's tab still shows A. The tabs work from the keyboard.
      await page.getByRole("tab", { name: lab.ids.dead }).click()
      await page.locator(`[data-dead="${lab.ids.dead}"]`).waitFor(WAIT)
      await page.keyboard.press("ArrowRight") // wraps to "all"
      await page.keyboard.press("ArrowRight")
      await page.getByRole("tab", { name: lab.ids.a, selected: true }).waitFor(WAIT)
      await row(page, lab.ids.a, "web", "web1").waitFor(WAIT)
      expect(await page.locator(`[data-server-section="${lab.ids.b}"]`).count()).toBe(0)
      // 1280 px and a phone's width: the page itself never scrolls sideways (wide tables scroll in their box).
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 844 })
        await page.getByRole("tab", { name: "all" }).click()
        await row(page, lab.ids.b, "web", "web2").waitFor(WAIT)
        const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))
        expect(overflow, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(0)
      }
    } finally {
      await context.close()
    }
  }, 300_000)

  it("the fleet view flags the maglevd whose VIP is programmed differently, and clears when it agrees", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/view/`)
    try {
      const vip = page.locator(`.fleet tr[data-vip="${VIP}"]`)
      await page.locator(`.fleet tr[data-vip="${VIP}"][data-agree=no]`).waitFor(WAIT)
      // One of the two is the odd one out (a tie goes to the first server); it is highlighted.
      await vip.locator(`li[data-differs=yes]`).first().waitFor(WAIT)
      expect(await vip.locator(`li[data-server="${lab.ids.b}"]`).getAttribute("data-differs")).toBe("yes")
      expect(await vip.locator(`li[data-server="${lab.ids.a}"]`).getAttribute("data-differs")).toBe("no")
      // B takes A's weight for web2: the same table, the flag goes.
      await lab.rpc(lab.bUrl, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web2", weight: 50 }))
      await page.locator(`.fleet tr[data-vip="${VIP}"][data-agree=yes]`).waitFor(WAIT)
      await lab.rpc(lab.bUrl, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web2", weight: 70 }))
      await page.locator(`.fleet tr[data-vip="${VIP}"][data-agree=no]`).waitFor(WAIT)
    } finally {
      await context.close()
    }
  }, 300_000)

  it("a backend taken down turns down on the page without a reload", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/view/`)
    try {
      const web2 = row(page, lab.ids.a, "web", "web2")
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"] tr[data-backend="web2"][data-state=up]`).waitFor(WAIT)
      await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 17))
      const t0 = Date.now()
      lab.a.setHealthy("127.0.0.2", false)
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"] tr[data-backend="web2"][data-state=down]`).waitFor(WAIT)
      const seconds = (Date.now() - t0) / 1000
      // The same document (no reload): the marker set before is still there.
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(17)
      expect(await web2.locator(".state").textContent()).toBe("down")
      // The changed value flashes.
      expect(await web2.locator(".state").getAttribute("class")).toMatch(/flash-[ab]/)
      // Health check every 2 s, fall 1: a probe, the transition, maglevd-frontend, SSE, the DOM. Generous bound.
      console.log(`web2 shown down ${seconds.toFixed(2)} s after its server started answering 503`)
      expect(seconds).toBeLessThan(60)
      lab.a.setHealthy("127.0.0.2", true)
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"] tr[data-backend="web2"][data-state=up]`).waitFor(WAIT)
    } finally {
      await context.close()
    }
  }, 300_000)

  it("/admin/ without credentials is refused", async () => {
    for (const p of ["/admin/", "/admin/api/state", "/admin/api/events"]) {
      const res = await fetch(`${lab.frontendUrl}${p}`)
      expect(res.status, p).toBe(401)
      expect(res.headers.get("www-authenticate") ?? "", p).toMatch(/^Basic/)
      await res.body?.cancel()
    }
    const wrong = await fetch(`${lab.frontendUrl}/admin/api/state`, { headers: { authorization: `Basic ${btoa(`${ADMIN_USER}:nope`)}` } })
    expect(wrong.status).toBe(401)
    const action = await fetch(`${lab.frontendUrl}/admin/api/action`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server: lab.ids.a, action: "pause", backend: "web1", dryRun: false })
    })
    expect(action.status).toBe(401)
    // In the browser, without credentials, the page does not load: headless chromium, with nobody to ask for a
    // password, fails the navigation on the Basic challenge (or shows the 401).
    const context = await lab.browser.newContext()
    try {
      const page = await context.newPage()
      const outcome = await page.goto(`${lab.frontendUrl}/admin/`).then((r) => String(r?.status()), (e: Error) => e.message)
      expect(outcome).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/)
      expect(await page.getByRole("tab").count()).toBe(0)
    } finally {
      await context.close()
    }
  })

  it("an admin action from the page, confirmed after its dry-run plan, reaches VPP", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/admin/#${encodeURIComponent(lab.ids.a)}`, true)
    try {
      await row(page, lab.ids.a, "web", "web1").waitFor(WAIT)
      // From the keyboard: focus the row's actions button, Enter opens the dialog.
      await page.getByRole("button", { name: "actions for web1 in web/primary" }).focus()
      await page.keyboard.press("Enter")
      const dialog = page.getByRole("dialog")
      await dialog.getByLabel("weight (0-100)").fill("20")
      await dialog.getByRole("button", { name: "set weight" }).click()
      // The plan: VPP operations for the VIP, nothing applied yet.
      await dialog.getByRole("heading", { name: /Plan: set-weight/ }).waitFor(WAIT)
      const plan = await dialog.locator(".ops").textContent()
      expect(plan).toContain("127.0.0.1")
      const before = await lab.rpc(lab.a.url, (api) => api.GetVPPLBState())
      expect(before.vips.find((v) => v.vip === VIP)?.ases.find((x) => x.address === "127.0.0.1")?.weight).toBe(100)
      await dialog.getByRole("button", { name: "Apply set-weight" }).click()
      await dialog.getByRole("status").filter({ hasText: "Applied" }).waitFor(WAIT)
      // VPP (the simulator, read back through maglevd A) has the new weight.
      await until("web1's AS at weight 20 in VPP", () =>
        lab.rpc(lab.a.url, (api) => api.GetVPPLBState()).then((s) =>
          s.vips.find((v) => v.vip === VIP)?.ases.find((x) => x.address === "127.0.0.1")?.weight === 20 ? true : undefined
        ))
      await dialog.getByRole("button", { name: "Close" }).click()
      await row(page, lab.ids.a, "web", "web1").locator("td.num").first().filter({ hasText: "20" }).waitFor(WAIT)
      // The event stream panel shows A's records.
      await page.locator(".events li").first().waitFor(WAIT)
    } finally {
      await context.close()
      await lab.rpc(lab.a.url, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web1", weight: 100 }))
    }
  }, 300_000)

  it("a frontend in panic (min-healthy): 🆘, its panic line, the Panics list, and a dry-run plan that gives a kept backend its weight back", async () => {
    await settled()
    const original = fs.readFileSync(lab.a.configFile, "utf8")
    const from = "    web:\n      description: the web site\n"
    expect(original).toContain(from)
    fs.writeFileSync(lab.a.configFile, original.replace(from, `${from}      min-healthy: 2\n`))
    expect((await lab.rpc(lab.a.url, (api) => api.ReloadConfig())).result._tag).toBe("Valid")
    const { page, context } = await openPage(`${lab.frontendUrl}/admin/#${encodeURIComponent(lab.ids.a)}`, true)
    const card = page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"]`)
    try {
      // web1 paused: the primary pool has 1 up of min-healthy 2, a panic; web2 keeps serving from the last good weights.
      await lab.rpc(lab.a.url, (api) => api.PauseBackend({ name: "web1" }))
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"][data-state="panic"]`).waitFor(WAIT)
      expect(await card.locator(".icon").getAttribute("aria-label")).toContain("panic")
      expect(await card.locator("dd.panic").textContent()).toMatch(/pool primary has 1 up, fewer than 2; keeping the last good weights of pool primary/)
      await page.locator(`.panics li[data-frontend="web"][data-panic="start"]`).waitFor(WAIT)
      // The plan of resuming web1: in the kept set, its weight comes back at once (unknown is kept), not when its probes pass.
      await page.getByRole("button", { name: "actions for web1 in web/primary" }).click()
      const dialog = page.getByRole("dialog")
      await dialog.getByRole("button", { name: "resume" }).click()
      await dialog.getByRole("heading", { name: /Plan: resume/ }).waitFor(WAIT)
      expect(await dialog.locator(".ops").textContent()).toMatch(/as 127\.0\.0\.1 weight 100/)
      await dialog.getByRole("button", { name: "Close" }).click()
      // Resumed for real: web1 comes up, the panic ends.
      await lab.rpc(lab.a.url, (api) => api.ResumeBackend({ name: "web1" }))
      await page.locator(`.panics li[data-frontend="web"][data-panic="end"]`).waitFor(WAIT)
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"][data-state="up"]`).waitFor(WAIT)
    } finally {
      await context.close()
      fs.writeFileSync(lab.a.configFile, original)
      await lab.rpc(lab.a.url, (api) => api.ReloadConfig())
      await lab.rpc(lab.a.url, (api) => api.ResumeBackend({ name: "web1" })).catch(() => undefined)
    }
  }, 300_000)

  it("after an SSE disconnect the page gets the missed events replayed, without refetching the state", async () => {
    const { page, context, stateFetches, streamResumes } = await openPage(`${lab.proxy.url}/view/`)
    try {
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"] tr[data-backend="web3"][data-state=up]`).waitFor(WAIT)
      const fetches = stateFetches.length
      lab.proxy.cut()
      await page.locator("[data-live=no]").waitFor(WAIT)
      // While the page is cut off: web3 paused on A; maglevd-frontend has it (asked directly, not through the proxy).
      await lab.rpc(lab.a.url, (api) => api.PauseBackend({ name: "web3" }))
      await until("maglevd-frontend to have web3 paused", () =>
        fetch(`${lab.frontendUrl}/view/api/state`).then((r) => r.json()).then((doc: any) =>
          doc.servers.find((s: any) => s.id === lab.ids.a)?.backends.find((b: any) => b.name === "web3")?.state === "paused" ? true : undefined
        ))
      lab.proxy.resume()
      await page.locator(`[data-server-section="${lab.ids.a}"] article[data-frontend="web"] tr[data-backend="web3"][data-state=paused]`).waitFor(WAIT)
      await page.locator("[data-live=yes]").waitFor(WAIT)
      expect(stateFetches.length, "the state document was not fetched again (replay, not resync)").toBe(fetches)
      // The browser's own reconnect asked for what came after an event id it had.
      expect(streamResumes.length, "the stream was opened again").toBeGreaterThan(1)
      expect(streamResumes.slice(1).every((id) => /^[0-9]+-[0-9]+$/.test(id)), `resumed from ${JSON.stringify(streamResumes)}`).toBe(true)
    } finally {
      await context.close()
      await lab.rpc(lab.a.url, (api) => api.ResumeBackend({ name: "web3" }))
    }
  }, 300_000)

  it("the heart beats exactly while a probe is in flight: one held open by its server", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/view/#${encodeURIComponent(lab.ids.b)}`)
    try {
      const held = row(page, lab.ids.b, "web", "held")
      await page.locator(`[data-server-section="${lab.ids.b}"] article[data-frontend="web"] tr[data-backend="held"][data-state=up]`).waitFor(WAIT)
      lab.held.hold()
      await until("a probe of held waiting for its answer", () => (lab.held.waiting() > 0 ? true : undefined))
      await held.locator(".heart.on").waitFor(WAIT)
      // Past the probe's due time and then some (a probe that answers at once shows 300 ms), it still beats:
      // the probe is still held.
      const due = Number(await held.locator(".heart").getAttribute("data-due"))
      expect(due).toBeGreaterThan(0)
      await page.waitForFunction((t) => Date.now() > t, due + 1500, WAIT)
      expect(await held.locator(".heart").getAttribute("class")).toBe("heart on")
      expect(lab.held.waiting()).toBeGreaterThan(0)
      // Answered: the heart stops.
      lab.held.release()
      await held.locator(".heart:not(.on)").waitFor(WAIT)
    } finally {
      lab.held.release()
      await context.close()
    }
  }, 300_000)

  it("the VPP panel's API activity moves when maglevd talks to VPP", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/view/#${encodeURIComponent(lab.ids.a)}`)
    try {
      const panel = `[data-server-section="${lab.ids.a}"] .vpp`
      await page.locator(`${panel} [data-api-sent]`).waitFor(WAIT)
      const count = async (name: string) => {
        const tr = page.locator(`${panel} tr[data-message="${name}"]`)
        return (await tr.count()) === 0 ? 0 : Number(await tr.getAttribute("data-count"))
      }
      const sent = async () => Number(await page.locator(`${panel} [data-api-sent]`).getAttribute("data-api-sent"))
      const [setWeights, sentBefore] = [await count("lb_as_set_weight"), await sent()]
      // A weight set: maglevd sends VPP lb_as_set_weight.
      await lab.rpc(lab.a.url, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web1", weight: 90 }))
      await until("lb_as_set_weight counted on the page", async () => ((await count("lb_as_set_weight_reply")) > setWeights ? true : undefined))
      expect(await count("lb_as_set_weight")).toBeGreaterThan(setWeights)
      expect(await sent()).toBeGreaterThan(sentBefore)
      await page.locator(`${panel} [data-api-rate]`).waitFor(WAIT)
    } finally {
      await context.close()
      await lab.rpc(lab.a.url, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "primary", backend: "web1", weight: 100 }))
    }
  }, 300_000)

  it("a weight override without a transition reaches the page at once, as a frontend event (not the 5 s refresh)", async () => {
    const { page, context } = await openPage(`${lab.frontendUrl}/view/#${encodeURIComponent(lab.ids.b)}`)
    // What maglevd-frontend sends, read beside the page (from the state's event id: nothing falls in between).
    const { eventId } = (await (await fetch(`${lab.frontendUrl}/view/api/state`)).json()) as { eventId: string }
    const sse = await fetch(`${lab.frontendUrl}/view/api/events?since=${eventId}`)
    const reader = sse.body!.getReader()
    let text = ""
    const frontendEventWith = (weight: number) =>
      // Complete frames only (the last piece may still be arriving).
      text.split("\n\n").slice(0, -1).some((frame) => {
        if (!frame.includes("event: frontend\n")) return false
        const data = JSON.parse(frame.slice(frame.indexOf("data: ") + 6)) as { server: string; info: { pools: Array<{ name: string; backends: Array<{ backend: string; weight: number }> }> } }
        return data.server === lab.ids.b && data.info.pools.some((p) => p.name === "fallback" && p.backends.some((b) => b.backend === "web3" && b.weight === weight))
      })
    const reading = (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }))
        if (r.done) return
        text += new TextDecoder().decode(r.value)
      }
    })()
    try {
      const web3 = row(page, lab.ids.b, "web", "web3")
      await web3.waitFor(WAIT)
      // web3 in the standby pool: its weight changes neither the frontend's state nor its active pool.
      await lab.rpc(lab.bUrl, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "fallback", backend: "web3", weight: 7 }))
      await web3.locator("td.num").first().filter({ hasText: /^7/ }).waitFor(WAIT)
      await until("a frontend event with web3's new weight", () => (frontendEventWith(7) ? true : undefined))
    } finally {
      await reader.cancel().catch(() => {})
      await reading
      await context.close()
      await lab.rpc(lab.bUrl, (api) => api.SetFrontendPoolBackendWeight({ frontend: "web", pool: "fallback", backend: "web3", weight: 100 }))
    }
  }, 300_000)

  it("saves the main view when asked (DASHBOARD_SCREENSHOT)", async () => {
    const file = process.env["DASHBOARD_SCREENSHOT"]
    if (file === undefined || file === "") return
    const { page, context } = await openPage(`${lab.frontendUrl}/view/`)
    try {
      await row(page, lab.ids.a, "web", "web1").waitFor(WAIT)
      await page.screenshot({ path: file, fullPage: true })
    } finally {
      await context.close()
    }
  }, 300_000)
})
