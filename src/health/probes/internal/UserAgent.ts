import { VERSION } from "../../../PackageVersion.js"

/** What our HTTP probes say they are. */
export const USER_AGENT: string = `vpp-maglev/${VERSION}`
