/** A small, dependency-free timing loop: warm up, then run in batches for a fixed wall-clock budget. */
export interface Row {
  readonly name: string
  readonly opsPerSecond: number
  readonly nsPerOp: number
  readonly note?: string
}

export const measure = (name: string, op: () => void, budgetMs = 1000): Row => {
  for (let i = 0; i < 20_000; i++) op()
  let ops = 0
  let batch = 1000
  const start = performance.now()
  let elapsed = 0
  while (elapsed < budgetMs) {
    for (let i = 0; i < batch; i++) op()
    ops += batch
    elapsed = performance.now() - start
    if (elapsed < budgetMs / 10) batch *= 2
  }
  const seconds = elapsed / 1000
  return { name, opsPerSecond: ops / seconds, nsPerOp: (seconds * 1e9) / ops }
}

export const printRows = (title: string, rows: ReadonlyArray<Row>): void => {
  const width = Math.max(...rows.map((r) => r.name.length))
  console.log(`\n${title}`)
  for (const r of rows) {
    const rate = Math.round(r.opsPerSecond).toLocaleString("en-US").padStart(12)
    const ns = r.nsPerOp.toFixed(0).padStart(6)
    console.log(`  ${r.name.padEnd(width)}  ${rate} msg/s  ${ns} ns/op${r.note !== undefined ? `  (${r.note})` : ""}`)
  }
}
