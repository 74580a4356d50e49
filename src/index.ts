/**
 * vpp-maglev as a library. Today: the VPP binary-API layer (generated
 * bindings, schema-derived codecs, socket framing). The services and layers
 * of the daemon are added here as they are built.
 */
export * as binapi from "./vpp/binapi/index.js"
export * as Codec from "./vpp/codec/Codec.js"
export { VppDecodeError, VppEncodeError } from "./vpp/codec/Errors.js"
export * as Frame from "./vpp/codec/Frame.js"
export * as Ip from "./vpp/codec/Ip.js"
export * as Wire from "./vpp/codec/Wire.js"
