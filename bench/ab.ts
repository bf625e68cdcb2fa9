/**
 * @module One ApacheBench run (Debian package apache2-utils), for HEAD only: wrk 4.1 parses every
 * answer as if it had a body, so a HEAD answer with `Content-Length: 1024` never completes in wrk
 * (0 requests). `ab -i` knows that HEAD answers have no body.
 */
import { spawn } from 'node:child_process'
import { findExecutable, OutputTail, track } from './processes'
import { LoadError, type LoadResult } from './wrk'

/** The ab binary: AB when set, else `ab` on PATH. */
export function findAb(): string | undefined {
  return findExecutable(...(process.env.AB ? [process.env.AB] : []), 'ab')
}

/** One ab run, with keep-alive (`-k`). */
export interface AbOptions {
  binary: string
  url: string
  connections: number
  durationSeconds: number
  method: 'GET' | 'HEAD'
  headers?: Record<string, string>
}

/** The command line of a run. */
export function abArgs(options: AbOptions): string[] {
  // -t first: it implies -n 50000, which the -n after it lifts.
  const args = ['-k', '-q', '-t', String(options.durationSeconds), '-n', '100000000']
  args.push('-c', String(options.connections))
  if (options.method === 'HEAD') args.push('-i')
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`)
  args.push(options.url)
  return args
}

/** Parses ab's report. */
export function parseAbOutput(text: string): LoadResult {
  const number = (pattern: RegExp, fallback?: number): number => {
    const match = pattern.exec(text)
    if (match) return Number(match[1])
    if (fallback !== undefined) return fallback
    throw new LoadError(`ab's report has no ${pattern.source}:\n${text}`)
  }
  const seconds = number(/Time taken for tests:\s+([\d.]+) seconds/)
  const requests = number(/Complete requests:\s+(\d+)/)
  const bytes = number(/Total transferred:\s+(\d+) bytes/)
  const percentile = (p: number) => number(new RegExp(`^\\s*${p}%\\s+(\\d+)`, 'm'), Number.NaN)
  return {
    requests,
    durationSeconds: seconds,
    bytes,
    requestsPerSecond: requests / seconds,
    mibPerSecond: bytes / seconds / (1024 * 1024),
    // ab reports whole milliseconds.
    latencyMs: {
      p50: percentile(50),
      p90: percentile(90),
      p99: percentile(99),
      max: percentile(100),
      mean: number(/Time per request:\s+([\d.]+) \[ms\] \(mean\)/, Number.NaN),
    },
    errors: {
      connect: number(/Connect: (\d+), Receive/, 0),
      read: number(/Receive: (\d+), Length/, 0),
      write: number(/Exceptions: (\d+)/, 0),
      timeout: 0,
      other: number(/Failed requests:\s+(\d+)/, 0),
    },
    non2xx3xx: number(/Non-2xx responses:\s+(\d+)/, 0),
  }
}

/** Runs ab and returns what it measured; a LoadError (with ab's output) when the run had errors. */
export async function runAb(options: AbOptions): Promise<LoadResult> {
  const output = new OutputTail(64_000)
  const child = track(spawn(options.binary, abArgs(options), { stdio: ['ignore', 'pipe', 'pipe'] }))
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'))
  })
  const text = output.toString()
  if (code !== 0) throw new LoadError(`ab exited with ${code}:\n${text}`)
  const result = parseAbOutput(text)
  // ab counts 3xx as "Non-2xx"; HEAD and GET here expect 200.
  const problems: string[] = []
  if (result.non2xx3xx > 0) problems.push(`${result.non2xx3xx} non-2xx responses`)
  const { connect, read, write, other } = result.errors
  if (connect + read + write + (other ?? 0) > 0)
    problems.push(`failed requests: ${other ?? 0} (connect ${connect}, receive ${read}, exceptions ${write})`)
  if (result.requests === 0) problems.push('no request completed')
  if (problems.length > 0)
    throw new LoadError(`ab ${options.method} ${options.url}: ${problems.join('; ')}\n${text}`)
  return result
}
