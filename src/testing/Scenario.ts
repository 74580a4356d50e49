/**
 * The inputs of a simulation: a small universe of backends and VIPs, random
 * configurations over it, and random sequences of what can happen to a running
 * daemon (probe results, operator actions, reloads, VPP restarts and stalls,
 * drift made by another VPP client, the passing of time).
 *
 * Everything here is plain data with a short text form (`describeStep`,
 * `describeSpec`), so that a shrunk counterexample reads as a script:
 *
 *   probe b2 fail · wait 3s · vpp stall 4s · reload {f1: 192.0.2.11 tcp/80 [b1:100 b2:50] | [b3:100]}
 *
 * The arbitraries are fast-check's (re-exported by effect as `FastCheck`).
 */
import { FastCheck as fc } from "effect"

// --- The universe ------------------------------------------------------------

/** Backends a scenario can use: six IPv4, two IPv6. */
export const BACKENDS: ReadonlyArray<{ readonly name: string; readonly address: string; readonly family: 4 | 6 }> = [
  { name: "b1", address: "10.0.0.1", family: 4 },
  { name: "b2", address: "10.0.0.2", family: 4 },
  { name: "b3", address: "10.0.0.3", family: 4 },
  { name: "b4", address: "10.0.0.4", family: 4 },
  { name: "b5", address: "10.0.0.10", family: 4 },
  { name: "b6", address: "10.0.1.1", family: 4 },
  { name: "b7", address: "2001:db8::7", family: 6 },
  { name: "b8", address: "2001:db8::10", family: 6 }
]

/** Frontend names; frontend `fN` serves 192.0.2.1N (or 2001:db8:f::1N when its VIP is IPv6). */
export const FRONTENDS: ReadonlyArray<string> = ["f1", "f2", "f3", "f4"]

export type Protocol = "tcp" | "udp" | "any"

export interface PoolSpec {
  readonly name: string
  readonly members: ReadonlyArray<{ readonly backend: string; readonly weight: number }>
  /** The pool's `slow-start` (Go duration), overriding the health check's; none when absent. */
  readonly slowStart?: string | undefined
}

export interface FrontendSpec {
  readonly name: string
  readonly vipFamily: 4 | 6
  readonly protocol: Protocol
  readonly srcIpSticky: boolean
  readonly flushOnDown: boolean
  readonly tableLength: number
  readonly pools: ReadonlyArray<PoolSpec>
  /** `min-healthy` as the file writes it (`2`, `50%`); the guard is off when absent. */
  readonly minHealthy?: string | undefined
}

export interface ConfigSpec {
  readonly rise: number
  readonly fall: number
  /** Backends defined in the file (those the frontends use, and maybe more); the rest of the universe is absent. */
  readonly backends: ReadonlyArray<{ readonly name: string; readonly enabled: boolean }>
  readonly frontends: ReadonlyArray<FrontendSpec>
  /** The health check's `slow-start` (Go duration); none when absent. */
  readonly slowStart?: string | undefined
}

/** The timing every generated configuration uses (Go durations as in the file). */
export const TIMING = {
  interval: "1s",
  syncInterval: "10s",
  startupMinDelay: "3s",
  startupMaxDelay: "6s"
} as const

export const vipAddress = (f: FrontendSpec): string => {
  const n = 10 + Number(f.name.slice(1))
  return f.vipFamily === 4 ? `192.0.2.${n}/32` : `2001:db8:f::${n}/128`
}

const portOf = (p: Protocol): number => (p === "any" ? 0 : p === "tcp" ? 80 : 53)

/** The configuration file for a spec (it must validate: the harness fails loudly otherwise). */
export const configYaml = (spec: ConfigSpec): string => {
  const lines = [
    "maglev:",
    "  healthchecker:",
    "    transition-history: 5",
    "  vpp:",
    "    lb:",
    "      ipv4-src-address: 192.0.2.1",
    "      ipv6-src-address: 2001:db8::1",
    `      sync-interval: ${TIMING.syncInterval}`,
    `      startup-min-delay: ${TIMING.startupMinDelay}`,
    `      startup-max-delay: ${TIMING.startupMaxDelay}`,
    "  healthchecks:",
    "    hc:",
    "      type: tcp",
    "      port: 80",
    `      interval: ${TIMING.interval}`,
    `      fast-interval: ${TIMING.interval}`,
    `      down-interval: ${TIMING.interval}`,
    "      timeout: 500ms",
    `      rise: ${spec.rise}`,
    `      fall: ${spec.fall}`,
    ...(spec.slowStart === undefined ? [] : [`      slow-start: ${spec.slowStart}`]),
    "  backends:"
  ]
  for (const b of spec.backends) {
    const u = BACKENDS.find((x) => x.name === b.name)
    if (u === undefined) throw new Error(`unknown backend ${b.name}`)
    lines.push(`    ${b.name}:`, `      address: ${u.address}`, "      healthcheck: hc", `      enabled: ${b.enabled}`)
  }
  if (spec.frontends.length === 0) lines.push("  frontends: {}")
  else lines.push("  frontends:")
  for (const f of spec.frontends) {
    lines.push(
      `    ${f.name}:`,
      `      address: ${vipAddress(f)}`,
      `      protocol: ${f.protocol}`,
      `      port: ${portOf(f.protocol)}`,
      `      src-ip-sticky: ${f.srcIpSticky}`,
      `      flush-on-down: ${f.flushOnDown}`,
      `      new-flows-table-length: ${f.tableLength}`,
      ...(f.minHealthy === undefined ? [] : [`      min-healthy: ${f.minHealthy.endsWith("%") ? JSON.stringify(f.minHealthy) : f.minHealthy}`]),
      "      pools:"
    )
    for (const p of f.pools) {
      lines.push(`        - name: ${p.name}`, ...(p.slowStart === undefined ? [] : [`          slow-start: ${p.slowStart}`]), "          backends:")
      for (const m of p.members) lines.push(`            ${m.backend}: { weight: ${m.weight} }`)
    }
  }
  if (spec.backends.length === 0) lines.splice(lines.indexOf("  backends:"), 1, "  backends: {}")
  return lines.join("\n") + "\n"
}

const describePool = (p: PoolSpec): string =>
  `[${p.members.map((m) => `${m.backend}:${m.weight}`).join(" ")}${p.slowStart === undefined ? "" : ` slow-start ${p.slowStart}`}]`

export const describeFrontend = (f: FrontendSpec): string =>
  `${f.name}: ${vipAddress(f)} ${f.protocol}${f.protocol === "any" ? "" : `/${portOf(f.protocol)}`}` +
  `${f.srcIpSticky ? " sticky" : ""}${f.flushOnDown ? "" : " no-flush"} len ${f.tableLength}` +
  `${f.minHealthy === undefined ? "" : ` min-healthy ${f.minHealthy}`} ` +
  f.pools.map(describePool).join(" | ")

export const describeSpec = (spec: ConfigSpec): string => {
  const off = spec.backends.filter((b) => !b.enabled).map((b) => b.name)
  return `{rise ${spec.rise} fall ${spec.fall}${spec.slowStart === undefined ? "" : ` slow-start ${spec.slowStart}`}; backends ${spec.backends.map((b) => b.name).join(",") || "none"}` +
    `${off.length > 0 ? ` (disabled ${off.join(",")})` : ""}; ${spec.frontends.map(describeFrontend).join("; ") || "no frontends"}}`
}

// --- Steps -------------------------------------------------------------------

export type OperatorAction = "pause" | "resume" | "enable" | "disable"

/** What another VPP client does behind the daemon's back; `pick` selects among what exists then. */
export type DriftKind = "as-weight" | "as-del" | "as-add" | "vip-del" | "vip-add"

/** One of the things a `Race` step does at once. */
export type RaceAction =
  /** The operator's SyncVPPLBState: every VIP or one frontend's, maybe a dry run. */
  | { readonly kind: "sync"; readonly frontend: string | undefined; readonly dryRun: boolean }
  /** A weight override of the `pick`th member of the frontend's pools (a flush with weight 0 when `flush`). */
  | { readonly kind: "override"; readonly frontend: string; readonly pick: number; readonly weight: number; readonly flush: boolean }
  /** From now on, probes of this backend pass (or fail): transitions while the rest runs. */
  | { readonly kind: "probe"; readonly backend: string; readonly pass: boolean }
  /** A full sync asked for (as after a reload). */
  | { readonly kind: "full" }

export const describeRaceAction = (a: RaceAction): string => {
  switch (a.kind) {
    case "sync":
      return `sync${a.frontend === undefined ? "" : ` ${a.frontend}`}${a.dryRun ? " dry" : ""}`
    case "override":
      return `weight ${a.frontend}#${a.pick} ${a.weight}${a.flush ? " flush" : ""}`
    case "probe":
      return `probe ${a.backend} ${a.pass ? "pass" : "fail"}`
    case "full":
      return "full sync"
  }
}

export type Step =
  /** Operator syncs, overrides, flushes, probe flips and a full sync at once, while time passes. */
  | { readonly _tag: "Race"; readonly actions: ReadonlyArray<RaceAction> }
  /** From now on, probes of this backend pass (or fail). */
  | { readonly _tag: "Probe"; readonly backend: string; readonly pass: boolean }
  | { readonly _tag: "Operator"; readonly backend: string; readonly action: OperatorAction }
  /** The file is replaced by this one and the daemon reloads. */
  | { readonly _tag: "Reload"; readonly spec: ConfigSpec }
  /** VPP restarts: every connection dropped, all lb state gone, a new pid. */
  | { readonly _tag: "VppRestart" }
  /** VPP stops answering for this long, then catches up. */
  | { readonly _tag: "VppStall"; readonly seconds: number }
  | { readonly _tag: "Drift"; readonly kind: DriftKind; readonly pick: number; readonly weight: number }
  | { readonly _tag: "Wait"; readonly seconds: number }

export const describeStep = (s: Step): string => {
  switch (s._tag) {
    case "Race":
      return `race {${s.actions.map(describeRaceAction).join(", ")}}`
    case "Probe":
      return `probe ${s.backend} ${s.pass ? "pass" : "fail"}`
    case "Operator":
      return `${s.action} ${s.backend}`
    case "Reload":
      return `reload ${describeSpec(s.spec)}`
    case "VppRestart":
      return "vpp restart"
    case "VppStall":
      return `vpp stall ${s.seconds}s`
    case "Drift":
      return `drift ${s.kind} #${s.pick}${s.kind === "as-weight" || s.kind === "as-add" ? ` weight ${s.weight}` : ""}`
    case "Wait":
      return `wait ${s.seconds}s`
  }
}

export interface Scenario {
  readonly initial: ConfigSpec
  readonly steps: ReadonlyArray<Step>
}

export const describeScenario = (s: Scenario): string =>
  [`start ${describeSpec(s.initial)}`, ...s.steps.map(describeStep)].join("\n  · ")

// --- Arbitraries ---------------------------------------------------------------

/** Attaches the short text form fast-check prints for counterexamples. */
const printable = <A extends object>(describe: (a: A) => string) => (a: A): A =>
  Object.defineProperty({ ...a }, fc.toStringMethod, { value: () => describe(a), enumerable: false })

const backendName = fc.constantFrom(...BACKENDS.map((b) => b.name))
const weight = fc.constantFrom(0, 50, 100)

const frontendArb = (name: string): fc.Arbitrary<FrontendSpec> =>
  fc.record({
    backendFamily: fc.constantFrom<4 | 6>(4, 4, 6),
    vipFamily: fc.constantFrom<4 | 6>(4, 4, 6),
    protocol: fc.constantFrom<Protocol>("tcp", "tcp", "udp", "any"),
    srcIpSticky: fc.boolean(),
    flushOnDown: fc.boolean(),
    tableLength: fc.constantFrom(256, 1024),
    pools: fc.array(fc.array(fc.nat(5), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 2 }),
    weights: fc.array(weight, { minLength: 6, maxLength: 6 })
  }).map(({ backendFamily, pools, weights, ...rest }) => {
    const family = BACKENDS.filter((b) => b.family === backendFamily).map((b) => b.name)
    const used = new Set<string>()
    let w = 0
    const specPools: Array<PoolSpec> = []
    for (const [i, picks] of pools.entries()) {
      const members: Array<{ backend: string; weight: number }> = []
      for (const p of picks) {
        const backend = family[p % family.length]!
        // A backend is in one pool of a frontend at most (validation rule).
        if (used.has(backend)) continue
        used.add(backend)
        members.push({ backend, weight: weights[w++ % weights.length]! })
      }
      if (members.length > 0) specPools.push({ name: i === 0 ? "primary" : "backup", members })
    }
    return { name, ...rest, pools: specPools }
  })

export const configSpecArb: fc.Arbitrary<ConfigSpec> = fc.record({
  rise: fc.integer({ min: 1, max: 2 }),
  fall: fc.integer({ min: 1, max: 2 }),
  frontends: fc.subarray([...FRONTENDS], { minLength: 1 }).chain((names) => fc.tuple(...names.map(frontendArb))),
  extra: fc.subarray(BACKENDS.map((b) => b.name), { maxLength: 2 }),
  disabled: fc.subarray(BACKENDS.map((b) => b.name), { maxLength: 1 })
}).map(({ disabled, extra, fall, frontends, rise }) => {
  const names = new Set<string>()
  for (const f of frontends) for (const p of f.pools) for (const m of p.members) names.add(m.backend)
  for (const e of extra) names.add(e)
  const backends = BACKENDS.filter((b) => names.has(b.name)).map((b) => ({ name: b.name, enabled: !disabled.includes(b.name) }))
  return { rise, fall, backends, frontends }
}).map(printable(describeSpec))

/**
 * A spec with the guards beyond the Go original, sometimes: `min-healthy` on
 * frontends (a count no larger than its largest pool's backends with weight,
 * or a percentage), `slow-start` on the health check and on pools (short
 * enough that a ramp can be over, or caught mid-way, within the harness's
 * convergence window).
 */
export const withGuards = (spec: ConfigSpec): fc.Arbitrary<ConfigSpec> =>
  fc.record({
    slowStart: fc.constantFrom<string | undefined>(undefined, undefined, "2s", "5s", "20s"),
    frontends: fc.tuple(...spec.frontends.map((f) =>
      fc.record({
        minHealthy: fc.constantFrom<string | undefined>(undefined, "1", "2", "50%", "100%"),
        poolSlowStart: fc.constantFrom<string | undefined>(undefined, undefined, undefined, "3s")
      }).map(({ minHealthy, poolSlowStart }): FrontendSpec => {
        const largest = Math.max(0, ...f.pools.map((p) => p.members.filter((m) => m.weight > 0).length))
        // A count above every pool's size is refused (the frontend could never leave panic): then a percentage.
        const min = minHealthy !== undefined && !minHealthy.endsWith("%") && Number(minHealthy) > largest ? "50%" : minHealthy
        return {
          ...f,
          ...(min === undefined ? {} : { minHealthy: min }),
          pools: f.pools.map((p, i) => (i === 0 && poolSlowStart !== undefined ? { ...p, slowStart: poolSlowStart } : p))
        }
      })
    ))
  }).map(({ frontends, slowStart }) => ({ ...spec, frontends, ...(slowStart === undefined ? {} : { slowStart }) }))

/** `configSpecArb` with the guards (`withGuards`). */
export const guardedSpecArb: fc.Arbitrary<ConfigSpec> = configSpecArb.chain(withGuards).map(printable(describeSpec))

const raceActionArb: fc.Arbitrary<RaceAction> = fc.oneof(
  fc.record({ kind: fc.constant("sync" as const), frontend: fc.option(fc.constantFrom(...FRONTENDS), { nil: undefined }), dryRun: fc.boolean() }),
  fc.record({
    kind: fc.constant("override" as const),
    frontend: fc.constantFrom(...FRONTENDS),
    pick: fc.nat(5),
    weight: fc.constantFrom(0, 10, 50, 100),
    flush: fc.boolean()
  }),
  fc.record({ kind: fc.constant("probe" as const), backend: backendName, pass: fc.boolean() }),
  fc.constant({ kind: "full" as const })
)

export const raceArb: fc.Arbitrary<Extract<Step, { _tag: "Race" }>> = fc.record({
  _tag: fc.constant("Race" as const),
  actions: fc.array(raceActionArb, { minLength: 2, maxLength: 6 })
})

/** The steps, reloads drawn from `specs`. */
const stepsOf = (specs: fc.Arbitrary<ConfigSpec>): fc.Arbitrary<Step> => fc.oneof(
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("Probe" as const), backend: backendName, pass: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Operator" as const),
      backend: backendName,
      action: fc.constantFrom<OperatorAction>("pause", "resume", "enable", "disable")
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Reload" as const), spec: specs }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "VppRestart" as const }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("VppStall" as const), seconds: fc.integer({ min: 1, max: 8 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Drift" as const),
      kind: fc.constantFrom<DriftKind>("as-weight", "as-del", "as-add", "vip-del", "vip-add"),
      pick: fc.nat(20),
      weight: fc.integer({ min: 0, max: 100 })
    })
  },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Wait" as const), seconds: fc.integer({ min: 1, max: 15 }) }) }
).map(printable(describeStep))

export const stepArb: fc.Arbitrary<Step> = stepsOf(configSpecArb)

/** Race steps beside `steps` (kept apart so that the scenarios a seed gives without them stay the same). */
const withRaces = (steps: fc.Arbitrary<Step>): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 8, arbitrary: steps },
    { weight: 1, arbitrary: raceArb.map(printable(describeStep)) }
  )

/** `stepArb`, and race steps. */
export const stepWithRacesArb: fc.Arbitrary<Step> = withRaces(stepArb)

/**
 * Scenarios. `races`: with race steps; `guards`: configurations (the initial
 * one and reloads) with `min-healthy` and `slow-start` (`withGuards`). Without
 * either, a seed gives the scenarios it always gave.
 */
export const scenarioArb = (
  options: { readonly maxSteps?: number; readonly races?: boolean; readonly guards?: boolean } = {}
): fc.Arbitrary<Scenario> => {
  const specs = options.guards === true ? guardedSpecArb : configSpecArb
  const steps = options.guards === true ? stepsOf(guardedSpecArb) : stepArb
  return fc.record({
    initial: specs,
    steps: fc.array(options.races === true ? withRaces(steps) : steps, { maxLength: options.maxSteps ?? 12 })
  })
}
