/**
 * What a process holds, read from /proc (Linux): open descriptors, the descriptors open on one
 * file, resident memory; and a bounded poll to wait for one of them to settle.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'

/** A process id, or `'self'` for the test's own process (the jest worker). */
export type Pid = number | 'self'

/** How many descriptors `pid` has open. */
export function openDescriptors(pid: Pid = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** How many of `pid`'s descriptors are open on `file` (an absolute path). */
export function descriptorsOn(file: string, pid: Pid = 'self'): number {
  let count = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) count++
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return count
}

/**
 * How many descriptors `pid` has open, not counting its TCP connections to `remotePort` (its
 * database pool, which opens and closes connections on its own schedule).
 */
export function openDescriptorsExcept(remotePort: number, pid: Pid = 'self'): number {
  const toPort = new Set<string>()
  for (const table of ['tcp', 'tcp6']) {
    let text = ''
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {
      continue
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const remote = fields[2]?.split(':')[1]
      if (remote !== undefined && Number.parseInt(remote, 16) === remotePort && fields[9])
        toPort.add(fields[9])
    }
  }
  let count = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]
      if (inode === undefined || !toPort.has(inode)) count++
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return count
}

/** The resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status). */
export function residentBytes(pid: Pid = 'self'): number {
  return statusBytes(pid, 'VmRSS')
}

/** The peak resident set size of `pid` in bytes (VmHWM), since it started or since `resetPeakResident()`. */
export function peakResidentBytes(pid: Pid = 'self'): number {
  return statusBytes(pid, 'VmHWM')
}

/**
 * Resets `pid`'s peak resident size to its current one (writes 5 to /proc/<pid>/clear_refs, Linux
 * 4.0+); `false` where that is not allowed, and then only sampling sees the peak.
 */
export function resetPeakResident(pid: Pid = 'self'): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function statusBytes(pid: Pid, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match?.[1]) throw new Error(`No ${field} for process ${pid}`)
  return Number(match[1]) * 1024
}

/**
 * Polls `read` every `intervalMs` until `done` holds for its value or `timeoutMs` passed, and
 * returns the last value read: the caller asserts on it, so a value that never settles fails there.
 */
export async function settle<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 5000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
    value = await read()
  }
  return value
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
