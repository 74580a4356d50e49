/**
 * maglevc's commands: the tree (Tree.ts) of keywords and live slots, and
 * what each command does with the API client. A command answers with an
 * `Outcome`: text to print (and the API's response, for `--json`), a stream
 * of events to follow (`watch events`), help, or the end of the session.
 *
 * Live slots (frontend, pool, backend, health check names) list what the
 * server has now, through the session's short-lived cache, so that Tab, `?`
 * and validation ask the server at most once a second for the same list.
 */
import { RpcClientError } from "@effect/rpc"
import { Cache, Context, Data, Duration, Effect, Stream } from "effect"
import type { ConfigCheck, FrontendInfo, WatchEvent, WatchLogLevel } from "../api/Api.js"
import { HEARTBEAT_INTERVAL_MS, LOG_LEVELS } from "../api/Api.js"
import { type MaglevClientShape, NoAnswer, NotMaglevd } from "../api/Client.js"
import * as Version from "../Version.js"
import * as Format from "./Format.js"
import { flowText, parseProtocol } from "./FlowText.js"
import { type Bound, intSlot, keyword, type Node, slot } from "./Tree.js"

// --- Errors ---------------------------------------------------------------------------------

/** The server (or the way to it) failed the command: exit status 1. */
export class ServerError extends Data.TaggedError("ServerError")<{ readonly message: string }> {}

/** The command line is wrong: exit status 2. `index`: the word it is about (0-based), when there is one. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string; readonly index?: number }> {}

export type CommandError = ServerError | UsageError

/** The chain of causes of a transport failure, outermost first. */
const causes = (e: unknown): Array<unknown> => {
  const chain: Array<unknown> = []
  for (let c: unknown = e; c !== undefined && c !== null && chain.length < 8; c = (c as { cause?: unknown }).cause) chain.push(c)
  return chain
}

/** What went wrong at the bottom of a transport failure: the system error code (ECONNREFUSED, ...) or the innermost message. */
const rootCause = (chain: ReadonlyArray<unknown>): string | undefined => {
  let message: string | undefined
  for (const c of chain) {
    const { code, message: m } = c as { code?: unknown; message?: unknown }
    if (typeof code === "string") return code
    if (typeof m === "string" && m !== "") message = m
  }
  return message
}

/** A transport failure as one line: what happened, and what the operator can do about it. */
export const unreachable = (url: string, e: unknown): string => {
  const chain = causes(e)
  const tagged = chain.find((c): c is NotMaglevd | NoAnswer => c instanceof NotMaglevd || c instanceof NoAnswer)
  if (tagged !== undefined) return `${tagged.message} (--server, or MAGLEV_SERVER, names maglevd's RPC address)`
  const root = rootCause(chain)
  switch (root) {
    case "ECONNREFUSED":
      return `cannot reach maglevd at ${url}: connection refused; is maglevd running, with its RPC API on that address (--rpc-addr)?`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot reach maglevd at ${url}: no such host`
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach maglevd at ${url}: ${root}; is the address right, and the host up?`
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return `maglevd at ${url} closed the connection (${root})`
    default:
      return `cannot reach maglevd at ${url}: ${root ?? "transport failure"}`
  }
}

/** Any failure of an RPC as the operator reads it. */
export const serverError = (url: string) => (e: unknown): ServerError => {
  if (e instanceof RpcClientError.RpcClientError) return new ServerError({ message: unreachable(url, e.cause) })
  const tagged = e as { _tag?: string; message?: string }
  if (tagged._tag === "Unauthorized") {
    return new ServerError({ message: `${tagged.message} (give the token with --token-file)` })
  }
  return new ServerError({ message: typeof tagged.message === "string" && tagged.message !== "" ? tagged.message : String(e) })
}

// --- The session -----------------------------------------------------------------------------

export interface SessionShape {
  readonly client: MaglevClientShape
  /** The server's URL, for messages. */
  readonly url: string
  readonly color: boolean
  /** The API's responses as JSON instead of text. */
  readonly json: boolean
  /** Lists behind the live slots, cached for a second. */
  readonly lookup: Cache.Cache<LookupKey, ReadonlyArray<string>, ServerError>
  readonly frontend: Cache.Cache<string, FrontendInfo, ServerError>
}

export class Session extends Context.Tag("vpp-maglev/cli/Session")<Session, SessionShape>() {}

type LookupKey = "frontends" | "backends" | "healthchecks"

export const makeSession = (options: {
  readonly client: MaglevClientShape
  readonly url: string
  readonly color: boolean
  readonly json: boolean
}): Effect.Effect<SessionShape> =>
  Effect.gen(function*() {
    const fail = serverError(options.url)
    const { client } = options
    const lookup = yield* Cache.make({
      capacity: 8,
      timeToLive: Duration.seconds(1),
      lookup: (key: LookupKey): Effect.Effect<ReadonlyArray<string>, ServerError> => {
        switch (key) {
          case "frontends":
            return client.ListFrontends().pipe(Effect.map((fs) => fs.map((f) => f.name)), Effect.mapError(fail))
          case "backends":
            return client.ListBackends().pipe(Effect.map((bs) => bs.map((b) => b.name)), Effect.mapError(fail))
          case "healthchecks":
            return client.ListHealthChecks().pipe(Effect.map((hs) => hs.map((h) => h.name)), Effect.mapError(fail))
        }
      }
    })
    const frontend = yield* Cache.make({
      capacity: 64,
      timeToLive: Duration.seconds(1),
      lookup: (name: string) => Effect.mapError(client.GetFrontend({ name }), fail)
    })
    return { ...options, lookup, frontend }
  })

// --- Outcomes --------------------------------------------------------------------------------

export type Outcome =
  /**
   * `text` for people, `json` (the API's response) for scripts. With `failed`,
   * the command failed after all (exit 1): a config check that found errors.
   */
  | { readonly _tag: "Print"; readonly text: string; readonly json: unknown; readonly failed?: string | undefined }
  /** Follow the events (the first is the `Hydrate` that confirms the watch) until `num` were shown, a key is pressed or Ctrl-C. */
  | { readonly _tag: "Watch"; readonly events: Stream.Stream<WatchEvent, ServerError>; readonly num: number | undefined }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Quit" }

export type Action = (bound: Bound) => Effect.Effect<Outcome, CommandError, Session>

export type CommandNode = Node<Action, ServerError, Session>

// --- Helpers -----------------------------------------------------------------------------------

/** How the session prints now. */
export const styleOf = (s: SessionShape): Format.Style => ({ color: s.color, now: Date.now() })

/**
 * Calls the API and prints its answer; `failed` says when an answer is a
 * failure all the same (a config check that found errors).
 */
const print = <A, E>(
  call: (client: MaglevClientShape) => Effect.Effect<A, E>,
  render: (a: A, style: Format.Style) => string,
  failed: (a: A) => string | undefined = () => undefined
): Effect.Effect<Outcome, ServerError, Session> =>
  Effect.gen(function*() {
    const s = yield* Session
    const value = yield* Effect.mapError(call(s.client), serverError(s.url))
    return { _tag: "Print", text: render(value, styleOf(s)), json: value, failed: failed(value) } as const
  })

const value = (bound: Bound, key: string): string => {
  const v = bound.values[key]
  if (v === undefined) throw new Error(`the command tree bound no ${key}`)
  return v
}

const names = (key: LookupKey) => (): Effect.Effect<ReadonlyArray<string>, ServerError, Session> =>
  Effect.flatMap(Session, (s) => s.lookup.get(key))

/** The frontend the line names so far (for its pools and their backends). */
const frontendOf = (bound: Bound) => Effect.flatMap(Session, (s) => s.frontend.get(value(bound, "frontend")))

const frontendSlot = (help: string, rest: Partial<Pick<CommandNode, "run">> & { readonly next?: ReadonlyArray<CommandNode> }) =>
  slot<Action, ServerError, Session>("<frontend>", "frontend", help, { values: names("frontends"), noun: "frontend", ...rest })

const backendSlot = (help: string, rest: Partial<Pick<CommandNode, "run">> & { readonly next?: ReadonlyArray<CommandNode> }) =>
  slot<Action, ServerError, Session>("<backend>", "backend", help, { values: names("backends"), noun: "backend", ...rest })

const healthcheckSlot = (help: string, run: Action) =>
  slot<Action, ServerError, Session>("<healthcheck>", "healthcheck", help, { values: names("healthchecks"), noun: "health check", run })

// --- Actions ---------------------------------------------------------------------------------------

const showVersion: Action = () =>
  Effect.gen(function*() {
    const s = yield* Session
    const [client, server] = yield* Effect.all([Version.build, Effect.mapError(s.client.GetVersion(), serverError(s.url))], { concurrency: 2 })
    return { _tag: "Print", text: Format.versionText(client, server, s.url, styleOf(s)), json: { client, server } } as const
  })

const showFrontends: Action = () => print((c) => c.ListFrontends(), Format.frontendsText)
/** A frontend, with the buckets VPP has for its VIP beside the prediction (the JSON is GetFrontend's answer). */
const showFrontend: Action = (b) =>
  Effect.gen(function*() {
    const s = yield* Session
    const f = yield* Effect.mapError(s.client.GetFrontend({ name: value(b, "frontend") }), serverError(s.url))
    const vpp = yield* s.client.GetVPPLBState().pipe(
      Effect.map((state): Format.VipInVpp => {
        const vip = state.vips.find((v) => v.vip === f.vip)
        return vip === undefined
          ? { _tag: "Missing", reason: "VPP has no such VIP yet" }
          : { _tag: "Found", buckets: new Map(vip.ases.filter((a) => a.active).map((a) => [a.address, a.numBuckets ?? 0])) }
      }),
      Effect.catchAll((e) => Effect.succeed<Format.VipInVpp>({ _tag: "Missing", reason: serverError(s.url)(e).message }))
    )
    return { _tag: "Print", text: Format.frontendText(f, styleOf(s), vpp), json: f } as const
  })
const showBackends: Action = () => print((c) => c.ListBackends(), Format.backendsText)
const showBackend: Action = (b) => print((c) => c.GetBackend({ name: value(b, "backend") }), Format.backendText)
const showHealthChecks: Action = () => print((c) => c.ListHealthChecks(), Format.healthchecksText)
const showHealthCheck: Action = (b) => print((c) => c.GetHealthCheck({ name: value(b, "healthcheck") }), Format.healthcheckText)
const showVppInfo: Action = () => print((c) => c.GetVPPInfo(), Format.vppInfoText)
const showLbState: Action = () => print((c) => c.GetVPPLBState(), Format.lbStateText)
const showLbCounters: Action = () => print((c) => c.GetVPPLBCounters(), Format.lbCountersText)

const syncLb: Action = (b) =>
  print(
    (c) => c.SyncVPPLBState({ frontend: b.values["frontend"], dryRun: b.flags.has("dry-run") }),
    Format.syncReportText
  )

const BACKEND_ACTIONS = {
  pause: "PauseBackend",
  resume: "ResumeBackend",
  enable: "EnableBackend",
  disable: "DisableBackend"
} as const

const backendAction = (action: keyof typeof BACKEND_ACTIONS): Action => (b) =>
  print((c) => c[BACKEND_ACTIONS[action]]({ name: value(b, "backend") }), (info, st) => Format.backendActionText(action, info, st))

const setWeight: Action = (b) => {
  const frontend = value(b, "frontend")
  const pool = value(b, "pool")
  const backend = value(b, "backend")
  return print(
    (c) =>
      c.SetFrontendPoolBackendWeight({
        frontend,
        pool,
        backend,
        weight: Number(value(b, "weight")),
        flush: b.flags.has("flush") ? true : undefined
      }),
    (f, st) => Format.weightText(f, pool, backend, st)
  ).pipe(Effect.tap(() => Effect.flatMap(Session, (s) => s.frontend.invalidate(frontend))))
}

/** A check or reload that finds errors prints them and fails (exit 1). */
const checked = (call: (client: MaglevClientShape) => Effect.Effect<ConfigCheck, unknown>): Effect.Effect<Outcome, CommandError, Session> =>
  print(call, Format.configCheckText, (c) => (c.result._tag === "Valid" ? undefined : "the configuration has errors"))

const configCheck: Action = () => checked((c) => c.CheckConfig({}))
const configReload: Action = () => checked((c) => c.ReloadConfig())

const watchEvents: Action = (b) =>
  Effect.gen(function*() {
    const s = yield* Session
    const named = (flag: string) => b.flags.has(flag)
    const any = named("log") || named("backend") || named("frontend")
    const logLevel = named("log") ? ((b.values["level"] ?? "info") as WatchLogLevel) : undefined
    const events = s.client.WatchEvents({
      logLevel,
      backend: any ? named("backend") : true,
      frontend: any ? named("frontend") : true
    }).pipe(
      Stream.mapError(serverError(s.url)),
      // The daemon sends a heartbeat every 15 s: three missed, and it is gone (or the path to it is).
      Stream.timeoutFail(
        () => new ServerError({ message: `maglevd at ${s.url} went silent: no heartbeat for ${(3 * HEARTBEAT_INTERVAL_MS) / 1000}s` }),
        Duration.millis(3 * HEARTBEAT_INTERVAL_MS)
      ),
      Stream.filter((e) => e._tag !== "Heartbeat")
    )
    const num = b.values["num"]
    return { _tag: "Watch", events, num: num === undefined ? undefined : Number(num) } as const
  })

const help: Action = () => Effect.succeed({ _tag: "Help" })
const quit: Action = () => Effect.succeed({ _tag: "Quit" })

// --- The tree ----------------------------------------------------------------------------------------

type K = ReturnType<typeof keyword<Action, ServerError, Session>>
const kw = (word: string, helpText: string, rest: Parameters<typeof keyword<Action, ServerError, Session>>[2] = {}): K =>
  keyword<Action, ServerError, Session>(word, helpText, rest)

// `show backend` lists them all as `show backends` does, and either takes a name.
/** `show frontend NAME flow SRC-IP [SRC-PORT [PROTO]]`: which backend a new flow would get (GetFrontendFlow). */
const showFlow: Action = (b) =>
  print(
    (c) =>
      c.GetFrontendFlow({
        name: value(b, "frontend"),
        src: value(b, "src"),
        srcPort: b.values["srcPort"] === undefined ? undefined : Number(b.values["srcPort"]),
        protocol: b.values["proto"] === undefined ? undefined : parseProtocol(b.values["proto"])
      }),
    flowText
  )
const flow = kw("flow", "which backend a new flow from a client would be sent to (Maglev bucket)", {
  next: [
    slot<Action, ServerError, Session>("<src-ip>", "src", "the client's address", {
      check: (w) => (/^[0-9a-fA-F:.]+$/.test(w) && (w.includes(".") || w.includes(":")) ? undefined : "expected an IPv4 or IPv6 address"),
      run: showFlow,
      next: [
        intSlot<Action, ServerError, Session>("<src-port>", "srcPort", "the client's source port", 0, 65535, {
          run: showFlow,
          next: [
            slot<Action, ServerError, Session>("<proto>", "proto", "tcp, udp or a protocol number (default: the frontend's)", {
              check: (w) => (parseProtocol(w) === undefined ? "expected tcp, udp or a protocol number 0..255" : undefined),
              run: showFlow
            })
          ]
        })
      ]
    })
  ]
})
const oneFrontend = frontendSlot("a frontend", { run: showFrontend })
const oneFrontendOrFlow = frontendSlot("a frontend", { run: showFrontend, next: [flow] })
const oneBackend = backendSlot("a backend", { run: showBackend })
const oneHealthCheck = healthcheckSlot("a health check", showHealthCheck)

const show = kw("show", "show the daemon's state", {
  next: [
    kw("version", "the versions of maglevc and maglevd", { run: showVersion }),
    kw("frontends", "every frontend, or one", { run: showFrontends, next: [oneFrontend] }),
    kw("frontend", "one frontend: pools, backends, weights, buckets; or where a flow goes", { run: showFrontends, next: [oneFrontendOrFlow] }),
    kw("backends", "every backend, or one", { run: showBackends, next: [oneBackend] }),
    kw("backend", "one backend: state, pools, transition history", { run: showBackends, next: [oneBackend] }),
    kw("healthchecks", "every health check, or one", { run: showHealthChecks, next: [oneHealthCheck] }),
    kw("healthcheck", "one health check", { run: showHealthChecks, next: [oneHealthCheck] }),
    kw("vpp", "VPP, as maglevd sees it", {
      next: [
        kw("info", "VPP's version, pid, boot and connection times", { run: showVppInfo }),
        kw("lb", "VPP's lb plugin", {
          next: [
            kw("state", "the VIPs and application servers in VPP now", { run: showLbState }),
            kw("counters", "the per-VIP packet counters", { run: showLbCounters })
          ]
        })
      ]
    })
  ]
})

const dryRun = kw("dry-run", "only print the operations a sync would send", { run: syncLb, flag: "dry-run" })

const sync = kw("sync", "make VPP match the desired state now", {
  next: [
    kw("vpp", "VPP", {
      next: [
        kw("lb", "VPP's lb plugin", {
          next: [
            kw("state", "make VPP match the desired state now, for every frontend", {
              run: syncLb,
              next: [frontendSlot("only this frontend's VIP", { run: syncLb, next: [dryRun] }), dryRun]
            })
          ]
        })
      ]
    })
  ]
})

const poolSlot = slot<Action, ServerError, Session>("<pool>", "pool", "a pool of the frontend", {
  noun: "pool",
  values: (b) => Effect.map(frontendOf(b), (f) => f.pools.map((p) => p.name))
})

const memberSlot = slot<Action, ServerError, Session>("<backend>", "backend", "a backend of the pool", {
  noun: "backend in the pool",
  values: (b) =>
    Effect.map(frontendOf(b), (f) => f.pools.find((p) => p.name === b.values["pool"])?.backends.map((m) => m.backend) ?? [])
})

const set = kw("set", "change a backend or a weight at runtime", {
  next: [
    kw("backend", "pause, resume, enable or disable a backend", {
      next: [
        backendSlot("a backend", {
          next: [
            kw("pause", "stop probing; the state is kept out of the decision", { run: backendAction("pause") }),
            kw("resume", "probe again, starting from unknown", { run: backendAction("resume") }),
            kw("enable", "take a disabled backend back", { run: backendAction("enable") }),
            kw("disable", "take the backend out of service: weight 0, no probes", { run: backendAction("disable") })
          ]
        })
      ]
    }),
    kw("frontend", "change a pool member's weight", {
      next: [
        frontendSlot("a frontend", {
          next: [
            kw("pool", "one of its pools", {
              next: [{
                ...poolSlot,
                next: [
                  kw("backend", "one of the pool's backends", {
                    next: [{
                      ...memberSlot,
                      next: [
                        kw("weight", "the new weight, until the next reload", {
                          next: [
                            intSlot<Action, ServerError, Session>("<0-100>", "weight", "set the pool member's weight until the next reload", 0, 100, {
                              run: setWeight,
                              next: [kw("flush", "with weight 0: also flush the backend's sessions in VPP", { run: setWeight, flag: "flush" })]
                            })
                          ]
                        })
                      ]
                    }]
                  })
                ]
              }]
            })
          ]
        })
      ]
    })
  ]
})

const config = kw("config", "the configuration file", {
  next: [
    kw("check", "check the daemon's configuration file as it is on disk now", { run: configCheck }),
    kw("reload", "reload the configuration file (as SIGHUP does)", { run: configReload })
  ]
})

const watch = kw("watch", "follow what happens", {
  next: [
    kw("events", "backend and frontend changes (and log records) as they happen; any key stops", {
      run: watchEvents,
      options: [
        kw("num", "stop after this many events", {
          next: [intSlot<Action, ServerError, Session>("<n>", "num", "how many events", 1, 1_000_000, { end: true })]
        }),
        kw("log", "also log records (info and above unless a level is given)", {
          flag: "log",
          end: true,
          next: [
            kw("level", "the lowest level of log records", {
              next: LOG_LEVELS.map((level) => kw(level, `${level} and above`, { set: ["level", level], end: true }))
            })
          ]
        }),
        kw("backend", "backend transitions", { flag: "backend", end: true }),
        kw("frontend", "frontend state and active-pool changes", { flag: "frontend", end: true })
      ]
    })
  ]
})

/** The whole tree, in the order help lists it. */
export const tree: ReadonlyArray<CommandNode> = [
  show,
  sync,
  set,
  config,
  watch,
  kw("help", "list the commands", { run: help }),
  kw("quit", "leave the shell", { run: quit }),
  kw("exit", "leave the shell", { run: quit })
]
