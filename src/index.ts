/**
 * vpp-maglev as a library: the VPP binary-API layer (generated bindings,
 * schema-derived codecs, framing), the binary-API client and the stats-segment
 * reader, and the Maglev model. The daemon's services and layers are added
 * here as they are built. The simulator is a separate entry point
 * (`src/sim/Simulator.ts`), so that nothing here depends on it.
 */
export * as binapi from "./vpp/binapi/index.js"
export * as Codec from "./vpp/codec/Codec.js"
export { VppDecodeError, VppEncodeError } from "./vpp/codec/Errors.js"
export * as Frame from "./vpp/codec/Frame.js"
export * as Ip from "./vpp/codec/Ip.js"
export * as Wire from "./vpp/codec/Wire.js"
export * as Maglev from "./lb/Maglev.js"
export * as StatsClient from "./vpp/stats/StatsClient.js"
export * as VppApi from "./vpp/transport/VppApi.js"
export * from "./vpp/transport/Errors.js"
export * as Config from "./config/index.js"
export * as RunningConfig from "./config/RunningConfig.js"
export * as HealthChecker from "./health/HealthChecker.js"
export * as HealthState from "./health/HealthState.js"
export * as Prober from "./health/Prober.js"
export * as ProbeResult from "./health/ProbeResult.js"
export * as VppSupervisor from "./vpp/Supervisor.js"
export * as LbDesired from "./lb/Desired.js"
export * as LbDiff from "./lb/Diff.js"
export * as LbPanic from "./lb/Panic.js"
export * as LbSync from "./lb/LbSync.js"
export * as Daemon from "./daemon/Daemon.js"
export * as Api from "./api/Api.js"
export * as ApiServer from "./api/Server.js"
export * as ApiClient from "./api/Client.js"
export * as ApiControl from "./api/Control.js"
export * as LogHub from "./api/LogHub.js"
export * as Metrics from "./metrics/Metrics.js"
export * as MetricsServer from "./metrics/Server.js"
