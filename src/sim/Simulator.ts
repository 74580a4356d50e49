/**
 * vppsim as one unit: the binary-API server, the lb plugin model behind it
 * (with `cli_inband`'s `show lb vips verbose`, see Cli.ts), and the stats
 * segment with the plugin's per-VIP counters. Usable in-process as a scoped
 * layer (tests, `npm start`) or standalone (`vppsim`, main.ts).
 *
 * Time is the Effect clock, so tests drive lameduck and VIP garbage
 * collection with TestClock: `now` is seconds since this simulated VPP
 * started, and a loop advances the model's collection timer every second.
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import { trace } from "../internal/Trace.js"
import { lb, vlib } from "../vpp/binapi/index.js"
import type { Message } from "../vpp/codec/Wire.js"
import * as ApiServer from "./ApiServer.js"
import * as Cli from "./Cli.js"
import * as Core from "./Core.js"
import * as DataPlane from "./DataPlane.js"
import {
  asDetailsValue,
  type AsV2Details,
  asV2DetailsValue,
  vipDetailsValue
} from "./internal/LbWire.js"
import { LbPlugin, type LbMutation, type LbPluginOptions, type LbRequestName, requestNames } from "./LbPlugin.js"
import * as StatsServer from "./StatsServer.js"
import * as Traffic from "./Traffic.js"

export interface SimulatorOptions {
  readonly apiSocket: string
  /** the stats socket; none when absent */
  readonly statsSocket?: string
  /** worker threads (stats counters get 1 + workers rows); default 0 */
  readonly workers?: number
  readonly pid?: number
  readonly lb?: LbPluginOptions
  readonly doctorTable?: ApiServer.ApiServerOptions["doctorTable"]
  /** what all API connections may buffer together (ApiServer.ts); default 64 MiB */
  readonly maxBufferedBytes?: number
  /** synthetic traffic (Traffic.ts): packets per second over all VIPs, sent every `trafficTick`; none when absent or 0 */
  readonly traffic?: number
  /** default 100 ms */
  readonly trafficTick?: Duration.DurationInput
  /** the traffic model's random source (seeded in tests) */
  readonly trafficRandom?: () => number
  /** proxy real TCP connections to local VIPs through the flow model (DataPlane.ts); default false */
  readonly dataPlane?: boolean
}

export interface SimulatorShape {
  readonly api: ApiServer.ApiServer
  readonly stats: StatsServer.StatsServerShape | undefined
  readonly lb: LbPlugin
  /** seconds since this simulated VPP (re)started */
  readonly now: Effect.Effect<number>
  /** Forget all state and drop every connection, as a VPP restart does (new pid, lb defaults, counters zeroed). */
  readonly restart: Effect.Effect<void>
  /** Every state change of the lb plugin since start (the restart record included). */
  readonly mutations: Effect.Effect<ReadonlyArray<LbMutation>>
  /** Adds packets to a VIP's counter (a simple traffic model for the stats segment). */
  readonly traffic: (vipIndex: number, packets: number, thread?: number) => Effect.Effect<void>
  /** The flow model when `traffic` (a rate) or `dataPlane` was given. */
  readonly flows: Traffic.Traffic | undefined
  /** The userspace data plane when `dataPlane` was given. */
  readonly dataPlane: DataPlane.DataPlaneShape | undefined
}

export class Simulator extends Context.Tag("vpp-maglev/Simulator")<Simulator, SimulatorShape>() {}

const replyOf = (request: LbRequestName): Message => {
  const service = lb.services.find((s) => s.request === request)
  const reply = service?.reply === null || service === undefined ? undefined : lb.messages[service.reply as keyof typeof lb.messages]
  if (reply === undefined) throw new Error(`no reply message for ${request}`)
  return reply
}

/** Each detail's reply made as the API server reads it (a dump's details are not held all at once). */
function* replies<D>(details: Iterable<D>, reply: (d: D) => ApiServer.Reply): Generator<ApiServer.Reply> {
  for (const d of details) yield reply(d)
}

export const make = (options: SimulatorOptions): Effect.Effect<SimulatorShape, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    let startMs = clock.unsafeCurrentTimeMillis()
    const now = () => (clock.unsafeCurrentTimeMillis() - startMs) / 1000
    const model = new LbPlugin(options.lb ?? {})

    const stats = options.statsSocket === undefined
      ? undefined
      : yield* StatsServer.make({ socketPath: options.statsSocket, workers: options.workers ?? 0 })
    if (stats !== undefined) {
      const unsubscribe = model.subscribe((m) => {
        if (m.op === "vip-add") stats.segment.lbVipAdded(m.details.vip)
      })
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
    }

    const handlers: Record<string, ApiServer.Handler> = {}
    for (const name of requestNames) {
      const reply = replyOf(name)
      handlers[name] = (req, ctx): Iterable<ApiServer.Reply> => {
        switch (name) {
          case "lb_vip_dump":
            return model.vipDump(req, now()).map((d) => ({ message: reply, fields: vipDetailsValue(d, ctx.context) }))
          case "lb_as_dump":
            return replies(model.dumpAses(req, now(), false), (d) => ({ message: reply, fields: asDetailsValue(d, ctx.context) }))
          case "lb_as_v2_dump":
            return replies(model.dumpAses(req, now(), true), (d) => ({ message: reply, fields: asV2DetailsValue(d as AsV2Details, ctx.context) }))
          default:
            return [{ message: reply, fields: model.handle(name, req, now()) as Record<string, unknown> }]
        }
      }
    }

    // cli_inband: the lb plugin's `show lb vips [verbose]`; the counters it prints come from the stats segment.
    const counters = (vipIndex: number): ReadonlyArray<bigint> =>
      stats?.segment.lbVipCounterValues(vipIndex) ?? [0n, 0n, 0n, 0n]
    // The synthetic traffic needs the stats segment for its counters; the data plane counts there when there is one.
    const synthetic = options.traffic !== undefined && options.traffic > 0 && stats !== undefined
    const traffic = synthetic || options.dataPlane === true
      ? new Traffic.Traffic(
        model,
        (vip, counter, thread, n) => stats?.segment.addLbTraffic(vip, n, { counter, thread }),
        { workers: options.workers ?? 0, ...(options.trafficRandom !== undefined ? { random: options.trafficRandom } : {}) }
      )
      : undefined
    if (traffic !== undefined) {
      model.setAsRefcount((a) => traffic.flows(a))
      yield* Effect.addFinalizer(() => Effect.sync(() => traffic.close()))
    }
    const commands = Cli.lbCommands(model, counters, now, traffic === undefined ? undefined : (a) => traffic.flows(a))
    handlers[vlib.CliInband.name] = (req: vlib.CliInband): ReadonlyArray<ApiServer.Reply> => {
      // A long listing keeps VPP's API (and this simulator) from answering anything else meanwhile.
      trace("cli", req.cmd.length)
      return [{ message: vlib.CliInbandReply, fields: { ...Cli.run(req.cmd, commands) } }]
    }

    // vlib: show_threads, the node graph, the f64 probes (Core.ts); the pid is read when asked (a restart changes it).
    let apiServer: ApiServer.ApiServer | undefined
    Object.assign(handlers, Core.vlibHandlers({ workers: options.workers ?? 0, pid: Effect.suspend(() => apiServer!.pid) }))

    const api = yield* ApiServer.make({
      path: options.apiSocket,
      handlers,
      ...(options.pid !== undefined ? { pid: options.pid } : {}),
      ...(options.doctorTable !== undefined ? { doctorTable: options.doctorTable } : {}),
      ...(options.maxBufferedBytes !== undefined ? { maxBufferedBytes: options.maxBufferedBytes } : {})
    })
    apiServer = api

    const dataPlane = options.dataPlane === true ? yield* DataPlane.make(model, traffic!, now) : undefined

    if (synthetic) {
      const tick = Duration.decode(options.trafficTick ?? "100 millis")
      const perTick = options.traffic! * Duration.toSeconds(tick)
      let owed = 0
      yield* Effect.sleep(tick).pipe(
        Effect.zipRight(Effect.sync(() => {
          owed += perTick
          const packets = Math.floor(owed)
          owed -= packets
          traffic!.send(packets, now())
        })),
        Effect.forever,
        Effect.forkScoped
      )
    }

    // VPP's lb-gc-process wakes on its own; requests also advance the model lazily.
    yield* Effect.sleep("1 second").pipe(
      Effect.zipRight(Effect.sync(() => model.advance(now()))),
      Effect.forever,
      Effect.forkScoped
    )

    return {
      api,
      stats,
      lb: model,
      now: Effect.sync(now),
      restart: Effect.gen(function*() {
        const pid = (yield* api.pid) + 1
        yield* api.restart(pid)
        model.restart()
        traffic?.reset()
        startMs = clock.unsafeCurrentTimeMillis()
        if (stats !== undefined) {
          for (const entry of model.vipIndices()) stats.segment.lbVipAdded(entry.index)
          stats.segment.setScalar("/sys/boottime", BigInt(Math.floor(clock.unsafeCurrentTimeMillis() / 1000)))
        }
        yield* Effect.logInfo("vppsim-restart").pipe(Effect.annotateLogs({ event: "vppsim-restart", pid }))
      }),
      mutations: Effect.sync(() => model.mutations()),
      traffic: (vipIndex, packets, thread = 0) =>
        Effect.sync(() => stats?.segment.addLbTraffic(vipIndex, packets, { thread })),
      flows: traffic,
      dataPlane
    } satisfies SimulatorShape
  })

export const layer = (options: SimulatorOptions): Layer.Layer<Simulator, Error> => Layer.scoped(Simulator, make(options))
