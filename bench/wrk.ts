/**
 * @module One wrk run (Debian package) and what it measured: requests/s, MiB/s, latency
 * percentiles, and the errors, which fail the run loudly.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { findExecutable, OutputTail, track } from './processes'

/** The wrk script: exact totals as one JSON line. */
export const WRK_SCRIPT = path.join(__dirname, 'wrk', 'bench.lua')

/** The wrk binary: WRK when set, else `wrk` on PATH. */
export function findWrk(): string | undefined {
  return findExecutable(...(process.env.WRK ? [process.env.WRK] : []), 'wrk')
}

/** One wrk run (GET only: for HEAD, see bench/ab.ts). */
export interface WrkOptions {
  binary: string
  url: string
  connections: number
  threads: number
  durationSeconds: number
  headers?: Record<string, string>
  /** Ask for the latency distribution (`--latency`). */
  latency?: boolean
}

/** What one run of a load generator (wrk, or ab for HEAD) measured. */
export interface LoadResult {
  requests: number
  durationSeconds: number
  bytes: number
  requestsPerSecond: number
  /** Bytes read per second (headers included, as wrk's Transfer/sec), in MiB/s. */
  mibPerSecond: number
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number }
  /** Socket errors; `other`: ab's failed requests. */
  errors: { connect: number; read: number; write: number; timeout: number; other?: number }
  /** wrk's "Non-2xx or 3xx responses". */
  non2xx3xx: number
}

/** A run that saw errors: the bench never reports a rate of failures. */
export class LoadError extends Error {}

interface WrkJson {
  duration_us: number
  requests: number
  bytes: number
  errors: { connect: number; read: number; write: number; status: number; timeout: number }
  latency_us: { p50: number; p90: number; p99: number; max: number; mean: number }
}

/** Parses wrk's output (the script's BENCH_JSON line, and the "Non-2xx or 3xx responses" line). */
export function parseWrkOutput(text: string): LoadResult {
  const line = /^BENCH_JSON (\{.*\})$/m.exec(text)
  if (!line) throw new LoadError(`wrk printed no summary:\n${text}`)
  const json = JSON.parse(line[1] as string) as WrkJson
  const non2xx = /Non-2xx or 3xx responses:\s*(\d+)/.exec(text)
  const seconds = json.duration_us / 1e6
  const ms = (us: number) => us / 1000
  return {
    requests: json.requests,
    durationSeconds: seconds,
    bytes: json.bytes,
    requestsPerSecond: json.requests / seconds,
    mibPerSecond: json.bytes / seconds / (1024 * 1024),
    latencyMs: {
      p50: ms(json.latency_us.p50),
      p90: ms(json.latency_us.p90),
      p99: ms(json.latency_us.p99),
      max: ms(json.latency_us.max),
      mean: ms(json.latency_us.mean),
    },
    errors: {
      connect: json.errors.connect,
      read: json.errors.read,
      write: json.errors.write,
      timeout: json.errors.timeout,
    },
    non2xx3xx: Math.max(non2xx ? Number(non2xx[1]) : 0, json.errors.status),
  }
}

/** The reasons a run must not count (non-2xx/3xx answers, socket errors, no request at all). */
export function runProblems(result: LoadResult): string[] {
  const problems: string[] = []
  if (result.non2xx3xx > 0) problems.push(`${result.non2xx3xx} non-2xx or 3xx responses`)
  const { connect, read, write, timeout } = result.errors
  if (connect + read + write + timeout > 0)
    problems.push(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`)
  if (result.requests === 0) problems.push('no request completed')
  return problems
}

/** The command line of a run, for the log and the JSON. */
export function wrkArgs(options: WrkOptions): string[] {
  const args = [
    '-t',
    String(Math.max(1, Math.min(options.threads, options.connections))),
    '-c',
    String(options.connections),
    '-d',
    `${options.durationSeconds}s`,
    '--timeout',
    '10s',
    '-s',
    WRK_SCRIPT,
  ]
  if (options.latency) args.push('--latency')
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`)
  args.push(options.url)
  return args
}

/** Runs wrk and returns what it measured; a LoadError (with wrk's output) when the run had errors. */
export async function runWrk(options: WrkOptions): Promise<LoadResult> {
  const output = new OutputTail(64_000)
  const child = track(
    spawn(options.binary, wrkArgs(options), {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'))
  })
  const text = output.toString()
  if (code !== 0) throw new LoadError(`wrk exited with ${code}:\n${text}`)
  const result = parseWrkOutput(text)
  const problems = runProblems(result)
  if (problems.length > 0) throw new LoadError(`wrk GET ${options.url}: ${problems.join('; ')}\n${text}`)
  return result
}
