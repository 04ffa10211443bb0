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

/** `--timeout`: past it the benchmark says so and runs `giveUp` (which cleans up and exits non-zero). */
export function giveUpAfter (bench: string, seconds: number, giveUp: () => void): NodeJS.Timeout {
  const timer = setTimeout(() => {
    console.error(`${bench}: gave up after ${seconds} s (--timeout)`)
    giveUp()
  }, seconds * 1000)
  timer.unref()
  return timer
}
