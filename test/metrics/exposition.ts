/**
 * A strict parser of the Prometheus text exposition format 0.0.4, written for
 * the tests (the npm parsers of this format are unmaintained). It throws on
 * anything the format does not allow, and on what Prometheus would refuse at
 * ingestion:
 *
 * - lines end in `\n`, the text too; blank lines are ignored as the
 *   format says, other `#` lines than HELP/TYPE are comments;
 * - blanks and tabs, any number, between a line's tokens (before a line's
 *   first, between a name and its `{`, around a label's name, `=` and value
 *   and the commas, between the labels or the name and the value, between
 *   the value and a timestamp), as the format allows and both Prometheus'
 *   scrape parser (`model/textparse/promlex.l`: every run of blanks and tabs
 *   a whitespace token, which the parser skips) and `promtool check metrics`
 *   (prometheus/common's `expfmt`) accept; but none after a line's last
 *   token: the format says trailing whitespace is ignored, and Prometheus'
 *   scrape parser ignores it, but `promtool check metrics` refuses it
 *   ("expected integer as timestamp"), so it is refused here too;
 * - names and label names by the format's grammar; label values quoted, with
 *   only `\\`, `\"` and `\n` as escapes; no label twice in a set; HELP
 *   escapes only `\\` and `\n`;
 * - values are Go floats (`NaN`, `+Inf`, `-Inf` included), an optional
 *   integer timestamp after them;
 * - at most one HELP and one TYPE per name, both before the family's first
 *   sample, and a family's samples together (no other family in between);
 * - no series twice; counters not negative;
 * - histograms: only `_bucket` (with `le`), `_sum`, `_count`; per label set
 *   the `le` bounds strictly rising, counts cumulative, a `+Inf` bucket equal
 *   to `_count`; summaries: `quantile` series, `_sum`, `_count`.
 */

export type Type = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface ParsedSample {
  /** The sample's own name (`x_bucket`, `x_sum` for a histogram `x`). */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface ParsedFamily {
  readonly name: string
  readonly help: string | undefined
  readonly type: Type
  readonly samples: ReadonlyArray<ParsedSample>
}

export class ExpositionError extends Error {
  constructor(readonly line: number, reason: string) {
    super(`line ${line}: ${reason}`)
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES: ReadonlySet<string> = new Set(["counter", "gauge", "histogram", "summary", "untyped"])
const FLOAT = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|Inf|NaN)$/

const parseFloatGo = (text: string, line: number): number => {
  if (!FLOAT.test(text) || text === "+NaN" || text === "-NaN") throw new ExpositionError(line, `not a float: ${JSON.stringify(text)}`)
  if (text === "NaN") return NaN
  if (text === "+Inf" || text === "Inf") return Infinity
  if (text === "-Inf") return -Infinity
  return Number(text)
}

/** Reads `{a="x",b="y"}` at `text[i] === "{"`; returns the labels and the index after `}`. */
const parseLabels = (text: string, start: number, line: number): { labels: Record<string, string>; end: number } => {
  const labels: Record<string, string> = {}
  let i = start + 1
  const fail = (why: string): never => {
    throw new ExpositionError(line, why)
  }
  const blanks = () => {
    while (text[i] === " " || text[i] === "\t") i++
  }
  for (;;) {
    blanks()
    if (text[i] === "}") break
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i))
    if (m === null) fail(`bad label name at column ${i + 1}`)
    const name = m![0]
    if (Object.hasOwn(labels, name)) fail(`label ${name} twice`)
    i += name.length
    blanks()
    if (text[i] !== "=") fail(`expected =" after label ${name}`)
    i++
    blanks()
    if (text[i] !== "\"") fail(`expected =" after label ${name}`)
    i++
    let value = ""
    for (;;) {
      const c = text[i]
      if (c === undefined) fail(`unterminated value of label ${name}`)
      if (c === "\"") break
      if (c === "\\") {
        const e = text[i + 1]
        if (e === "\\") value += "\\"
        else if (e === "\"") value += "\""
        else if (e === "n") value += "\n"
        else fail(`bad escape \\${e ?? ""} in label ${name}`)
        i += 2
        continue
      }
      value += c
      i++
    }
    i++ // the closing quote
    labels[name] = value
    blanks()
    if (text[i] === ",") i++
    else if (text[i] !== "}") fail(`expected , or } after label ${name}`)
  }
  return { labels, end: i + 1 }
}

const unescapeHelp = (text: string, line: number): string =>
  text.replace(/\\([\s\S]?)/g, (_, e: string) => {
    if (e === "\\") return "\\"
    if (e === "n") return "\n"
    throw new ExpositionError(line, `bad escape \\${e} in HELP`)
  })

/** The family a sample belongs to, given the TYPEs declared so far. */
const familyOf = (sample: string, types: ReadonlyMap<string, Type>): string => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sample.endsWith(suffix)) continue
    const base = sample.slice(0, -suffix.length)
    const t = types.get(base)
    if (t === "histogram" || (t === "summary" && suffix !== "_bucket")) return base
  }
  return sample
}

const seriesKey = (name: string, labels: Readonly<Record<string, string>>) =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`

export const parse = (text: string): ReadonlyMap<string, ParsedFamily> => {
  if (text !== "" && !text.endsWith("\n")) throw new ExpositionError(text.split("\n").length, "the text does not end in a newline")
  const helps = new Map<string, string>()
  const types = new Map<string, Type>()
  const samples = new Map<string, Array<ParsedSample>>()
  const done = new Set<string>() // families whose samples are over
  const seen = new Set<string>()
  let current: string | undefined
  const lines = text === "" ? [] : text.slice(0, -1).split("\n")

  lines.forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === "") return
    // Blanks before a line's first token are allowed (not after its last: see the header).
    const lead = /^[ \t]*/.exec(raw)![0].length
    if (raw[lead] === "#") {
      const m = /^[ \t]*#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+([^\n]*))?$/.exec(raw)
      if (m === null) return // a comment
      const [, keyword, name, rest] = m as unknown as [string, "HELP" | "TYPE", string, string | undefined]
      if (!METRIC_NAME.test(name)) throw new ExpositionError(line, `bad metric name ${JSON.stringify(name)}`)
      if (samples.has(name)) throw new ExpositionError(line, `${keyword} for ${name} after its samples`)
      if (keyword === "HELP") {
        if (helps.has(name)) throw new ExpositionError(line, `second HELP for ${name}`)
        helps.set(name, unescapeHelp(rest ?? "", line))
      } else {
        if (types.has(name)) throw new ExpositionError(line, `second TYPE for ${name}`)
        if (rest === undefined || !TYPES.has(rest)) throw new ExpositionError(line, `bad type ${JSON.stringify(rest)} for ${name}`)
        types.set(name, rest as Type)
      }
      return
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw.slice(lead))
    if (nm === null) throw new ExpositionError(line, "a sample must start with a metric name")
    const name = nm[0]
    let i = lead + name.length
    while (raw[i] === " " || raw[i] === "\t") i++
    let labels: Record<string, string> = {}
    if (raw[i] === "{") {
      const l = parseLabels(raw, i, line)
      labels = l.labels
      i = l.end
    }
    // The value after any blanks (none needed after `}`, nor after a name, which ends where a name's characters
    // do), then an optional timestamp after at least one; nothing after the last.
    if (/[ \t]$/.test(raw)) throw new ExpositionError(line, "blanks after the line's last token (promtool refuses them)")
    const fields = raw.slice(i).replace(/^[ \t]+/, "").split(/[ \t]+/)
    if (fields[0] === "" || fields.length > 2) throw new ExpositionError(line, "expected a value (and an optional timestamp) after the series")
    const [valueText, timestamp] = fields as [string, string | undefined]
    const value = parseFloatGo(valueText, line)
    if (timestamp !== undefined && !/^-?[0-9]+$/.test(timestamp)) throw new ExpositionError(line, `bad timestamp ${timestamp}`)
    for (const l of Object.keys(labels)) if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new ExpositionError(line, `bad label name ${l}`)

    const family = familyOf(name, types)
    if (family !== current) {
      if (done.has(family)) throw new ExpositionError(line, `samples of ${family} are not together`)
      if (current !== undefined) done.add(current)
      current = family
    }
    const key = seriesKey(name, labels)
    if (seen.has(key)) throw new ExpositionError(line, `series ${key} twice`)
    seen.add(key)
    const type = types.get(family) ?? "untyped"
    if (type === "counter" && !(value >= 0)) throw new ExpositionError(line, `counter ${name} is ${value}`)
    if (type === "histogram") {
      if (name === `${family}_bucket`) {
        if (labels["le"] === undefined) throw new ExpositionError(line, `${name} without le`)
      } else if (name !== `${family}_sum` && name !== `${family}_count`) {
        throw new ExpositionError(line, `histogram ${family} has a sample ${name}`)
      } else if (labels["le"] !== undefined) throw new ExpositionError(line, `${name} with le`)
    }
    if (type === "summary" && name === family && labels["quantile"] === undefined) throw new ExpositionError(line, `${name} without quantile`)
    let list = samples.get(family)
    if (list === undefined) samples.set(family, (list = []))
    list.push({ name, labels, value })
  })

  const out = new Map<string, ParsedFamily>()
  for (const name of new Set([...helps.keys(), ...types.keys(), ...samples.keys()])) {
    const family: ParsedFamily = { name, help: helps.get(name), type: types.get(name) ?? "untyped", samples: samples.get(name) ?? [] }
    if (family.type === "histogram") checkHistogram(family)
    out.set(name, family)
  }
  return out
}

const withoutLe = (labels: Readonly<Record<string, string>>) => {
  const { le: _, ...rest } = labels
  return seriesKey("", rest)
}

const checkHistogram = (family: ParsedFamily): void => {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>()
  const of = (key: string) => {
    let s = series.get(key)
    if (s === undefined) series.set(key, (s = { buckets: [] }))
    return s
  }
  for (const s of family.samples) {
    const entry = of(withoutLe(s.labels))
    if (s.name.endsWith("_bucket")) entry.buckets.push([parseFloatGo(s.labels["le"]!, 0), s.value])
    else if (s.name.endsWith("_count")) entry.count = s.value
    else entry.sum = s.value
  }
  for (const [key, s] of series) {
    const where = `${family.name}${key}`
    if (s.count === undefined || s.sum === undefined) throw new ExpositionError(0, `${where}: _sum and _count are required`)
    const last = s.buckets.at(-1)
    if (last === undefined || last[0] !== Infinity) throw new ExpositionError(0, `${where}: the last bucket must be le="+Inf"`)
    if (last[1] !== s.count) throw new ExpositionError(0, `${where}: +Inf bucket ${last[1]} but _count ${s.count}`)
    for (let i = 1; i < s.buckets.length; i++) {
      const [le0, c0] = s.buckets[i - 1]!
      const [le1, c1] = s.buckets[i]!
      if (!(le1 > le0)) throw new ExpositionError(0, `${where}: le ${le1} after ${le0}`)
      if (c1 < c0) throw new ExpositionError(0, `${where}: bucket counts are not cumulative`)
    }
  }
}

/**
 * `text` with each line's blanks before its last token (a sample's value) made
 * one blank: the scrape worker writes its store series' values right-aligned
 * in fields with room to grow (Exposition's `fieldOf`), the in-process render
 * after one blank; the same samples either way.
 */
export const oneBlank = (text: string): string => text.replace(/[ \t]+(\S+)\n/g, " $1\n")

/** The value of the one sample of `family` whose labels include `labels`; undefined when none. */
export const valueOf = (
  families: ReadonlyMap<string, ParsedFamily>,
  family: string,
  labels: Readonly<Record<string, string>> = {},
  sample = family
): number | undefined => {
  const matches = (families.get(family)?.samples ?? []).filter((s) =>
    s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${sample} match ${JSON.stringify(labels)}`)
  return matches[0]?.value
}
