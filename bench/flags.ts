// Command-line flags of the benchmarks: `--name value`, integers with a default and a lower bound.
export function intFlag (bench: string, name: string, fallback: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`)
  const raw = i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : String(fallback)
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) usage(bench, `--${name} must be an integer >= ${min}`)
  return value
}

export function usage (bench: string, problem: string): never {
  console.error(`${bench}: ${problem}`)
  process.exit(2)
}
