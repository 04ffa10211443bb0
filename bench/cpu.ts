// CPU time of another process, read from /proc.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

const TICKS = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

/** CPU time (ms) of a process, all its threads: /proc/PID/task/TID/schedstat (ns), or /proc/PID/stat (ticks); NaN without /proc. */
export function cpuMs (pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread may end between the listing and the read.
      try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
    }
    if (ns > 0) return ns / 1e6
  } catch {}
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is the state (field 3)
    return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS // utime, stime: fields 14 and 15
  } catch {
    return NaN
  }
}
