/**
 * `vpp-maglev/testing`: the property-based simulation harness. Generate
 * scenarios with `scenarioArb` (fast-check), run them with `runScenario`
 * under a test clock (`it.scoped.prop` from @effect/vitest, or
 * `Effect.provide(TestContext.TestContext)`), and get a `PropertyViolation`
 * with a readable trace when the reconciler misbehaves.
 */
export * from "./Harness.js"
export * from "./Scenario.js"
