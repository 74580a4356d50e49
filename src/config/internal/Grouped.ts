/**
 * A count with its thousands grouped by commas ("10,000"), as
 * `toLocaleString("en-US")` writes a whole number, without ICU: these counts
 * in the checker's messages were all maglevd used a locale for, and the
 * first use maps Node's ICU data in, ~6 MiB of RSS (1,000 backends in no
 * frontend, whose warning names the count: the node binary's resident pages
 * 46.7 -> 41.0 MiB).
 */
export const grouped = (count: number): string => {
  const digits = String(Math.abs(Math.trunc(count)))
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1)
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`
  return count < 0 ? `-${out}` : out
}
