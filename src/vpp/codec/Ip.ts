/**
 * Text forms of the addresses VPP puts on the wire. Parsing is strict (an
 * operator's typo must not become a different address); formatting follows
 * RFC 5952 for IPv6 (lowercase, no leading zeros, the longest run of two or more
 * zero groups shortened to `::`, the first such run on a tie), which is what
 * Python's `ipaddress` and therefore VPP's own tooling print.
 *
 * These functions sit on the codec's hot path, so they avoid regular
 * expressions and intermediate arrays where they can.
 */

const HEX = "0123456789abcdef"

/** Parses dotted-quad IPv4 into `out[at..at+4]`; false when `s` is not one. */
export const parseIp4Into = (s: string, out: Uint8Array, at: number): boolean => {
  const n = s.length
  if (n < 7 || n > 15) return false
  let part = 0
  let digits = 0
  let value = 0
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || part > 3) return false
      out[at + part] = value
      part++
      digits = 0
      value = 0
    } else if (c >= 48 && c <= 57) {
      // A leading zero is refused: "010" is octal to some parsers and decimal to others.
      if (digits === 1 && value === 0) return false
      value = value * 10 + (c - 48)
      digits++
      if (value > 255) return false
    } else {
      return false
    }
  }
  return part === 4
}

const hexValue = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

const groupScratch = new Uint16Array(8)
const quadScratch = new Uint8Array(4)

/**
 * Parses an IPv6 address (with `::` shortening and an optional trailing
 * dotted-quad) into `out[at..at+16]`; false when `s` is not one. Zone ids
 * (`%eth0`) are refused: VPP addresses carry none.
 */
export const parseIp6Into = (s: string, out: Uint8Array, at: number): boolean => {
  const n = s.length
  if (n < 2 || n > 45) return false
  const groups = groupScratch
  let count = 0
  let gap = -1
  let i = 0
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false
    gap = 0
    i = 2
    if (i === n) {
      out.fill(0, at, at + 16)
      return true
    }
  }
  while (i < n) {
    // A trailing dotted quad takes the last 32 bits.
    let j = i
    let value = 0
    let digits = 0
    while (j < n) {
      const h = hexValue(s.charCodeAt(j))
      if (h < 0) break
      value = value * 16 + h
      digits++
      j++
    }
    if (j < n && s.charCodeAt(j) === 46) {
      const quad = quadScratch
      if (!parseIp4Into(s.slice(i), quad, 0)) return false
      if (count > 6) return false
      groups[count++] = (quad[0]! << 8) | quad[1]!
      groups[count++] = (quad[2]! << 8) | quad[3]!
      i = n
      break
    }
    if (digits === 0 || digits > 4 || count === 8) return false
    groups[count++] = value
    if (j === n) {
      i = n
      break
    }
    if (s.charCodeAt(j) !== 58) return false
    if (j + 1 < n && s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false
      gap = count
      i = j + 2
    } else {
      if (j + 1 === n) return false
      i = j + 1
    }
  }
  if (gap < 0) {
    if (count !== 8) return false
  } else if (count > 7) {
    return false
  }
  const fill = 8 - count
  let g = 0
  for (let k = 0; k < 8; k++) {
    let value = 0
    if (gap >= 0 && k >= gap && k < gap + fill) {
      value = 0
    } else {
      value = groups[g++]!
    }
    out[at + 2 * k] = value >> 8
    out[at + 2 * k + 1] = value & 0xff
  }
  return true
}

export const formatIp4 = (b: Uint8Array, at: number): string =>
  `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`

const hexGroup = (v: number): string => {
  if (v < 0x10) return HEX[v]!
  if (v < 0x100) return HEX[v >> 4]! + HEX[v & 15]!
  if (v < 0x1000) return HEX[v >> 8]! + HEX[(v >> 4) & 15]! + HEX[v & 15]!
  return HEX[v >> 12]! + HEX[(v >> 8) & 15]! + HEX[(v >> 4) & 15]! + HEX[v & 15]!
}

export const formatIp6 = (b: Uint8Array, at: number): string => {
  // Find the longest run (>= 2) of zero groups; the first wins a tie.
  let bestStart = -1
  let bestLen = 1
  let runStart = -1
  for (let k = 0; k <= 8; k++) {
    const zero = k < 8 && b[at + 2 * k] === 0 && b[at + 2 * k + 1] === 0
    if (zero) {
      if (runStart < 0) runStart = k
    } else if (runStart >= 0) {
      const len = k - runStart
      if (len > bestLen) {
        bestLen = len
        bestStart = runStart
      }
      runStart = -1
    }
  }
  let out = ""
  let colon = false
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += "::"
      k += bestLen - 1
      colon = false
      continue
    }
    if (colon) out += ":"
    out += hexGroup((b[at + 2 * k]! << 8) | b[at + 2 * k + 1]!)
    colon = true
  }
  return out
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/

export const parseMacInto = (s: string, out: Uint8Array, at: number): boolean => {
  if (!MAC_RE.test(s)) return false
  for (let k = 0; k < 6; k++) {
    out[at + k] = (hexValue(s.charCodeAt(3 * k)) << 4) | hexValue(s.charCodeAt(3 * k + 1))
  }
  return true
}

export const formatMac = (b: Uint8Array, at: number): string => {
  let out = ""
  for (let k = 0; k < 6; k++) {
    const v = b[at + k]!
    if (k > 0) out += ":"
    out += HEX[v >> 4]! + HEX[v & 15]!
  }
  return out
}

/** Splits `"addr/len"`; undefined when there is no `/` or the length is not a decimal number. */
export const splitPrefix = (s: string): { readonly address: string; readonly length: number } | undefined => {
  const slash = s.indexOf("/")
  if (slash <= 0 || slash === s.length - 1 || s.length - slash > 4) return undefined
  let length = 0
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return undefined
    if (i > slash + 1 && length === 0) return undefined
    length = length * 10 + (c - 48)
  }
  return { address: s.slice(0, slash), length }
}

const scratch = new Uint8Array(16)

export const isIp4 = (s: string): boolean => parseIp4Into(s, scratch, 0)
export const isIp6 = (s: string): boolean => parseIp6Into(s, scratch, 0)
export const isIp = (s: string): boolean => isIp4(s) || isIp6(s)
export const isMac = (s: string): boolean => MAC_RE.test(s)

export const isIp4Prefix = (s: string): boolean => {
  const p = splitPrefix(s)
  return p !== undefined && p.length <= 32 && isIp4(p.address)
}
export const isIp6Prefix = (s: string): boolean => {
  const p = splitPrefix(s)
  return p !== undefined && p.length <= 128 && isIp6(p.address)
}
export const isPrefix = (s: string): boolean => isIp4Prefix(s) || isIp6Prefix(s)
