// Percentiles and the Markdown tables the benchmarks print.

/** The p-th percentile (nearest rank) of the values, leaving out NaN (a sample or round without the value); NaN for none. */
export function pct (values: ArrayLike<number>, p: number): number {
  const sorted = Array.from(values).filter((v) => !Number.isNaN(v)).sort((x, y) => x - y)
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export const median = (values: ArrayLike<number>): number => pct(values, 50)

/** One row: a label, then cells already formatted. */
export type Row = [label: string, ...cells: string[]]

export function printTable (head: Row, rows: Row[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: Row): string => '| ' + r.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + widths.map((w, i) => i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':').join('|') + '|')
  for (const r of rows) console.log(line(r))
}

export const fixed = (value: number, digits: number): string => Number.isFinite(value) ? value.toFixed(digits) : '—'
/** chat / baseline, or — when either is missing. */
export const ratio = (chat: number, base: number): string => Number.isFinite(chat) && Number.isFinite(base) && base !== 0 ? (chat / base).toFixed(2) : '—'
