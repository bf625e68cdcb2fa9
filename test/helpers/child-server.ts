/**
 * Starts child-server-main.ts as a child process (`node --import tsx`), so a test can measure the
 * server from /proc/<pid> and prove it survived, apart from the jest worker that drives it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { stopChild } from './foreground-server'

const REPOSITORY = path.resolve(__dirname, '..', '..')
const MAIN = path.join(__dirname, 'child-server-main.ts')

/** The `application_name` of the child's database sessions, to find them in pg_stat_activity. */
export const CHILD_APPLICATION_NAME = 'downloadview-child-server'

/** The download server in its own process. */
export interface ChildServer {
  pid: number
  port: number
  /** Everything it wrote to stderr so far. */
  stderr(): string
  /** Whether it is still running. */
  alive(): boolean
  /** SIGTERM, then SIGKILL after 10 s; waits for the exit. */
  stop(): Promise<void>
}

/** Options of the child's DataSource and storage (see child-server-main.ts). */
export interface ChildServerEnv {
  DATABASE_URL: string
  MEDIA_ROOT: string
  DB_POOL_SIZE?: string
  DB_CONNECT_TIMEOUT_MS?: string
  DB_QUERY_TIMEOUT_MS?: string
}

/** Starts the server and resolves once it listens; rejects with its output if it fails within 30 s. */
export async function startChildServer(env: ChildServerEnv): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPOSITORY,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`The child server did not listen within 30 s:\n${stdout}${stderr}`))
    }, 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /^listening (\d+)$/m.exec(stdout)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`The child server exited (${code ?? signal}) while starting:\n${stdout}${stderr}`))
    })
  })
  if (child.pid === undefined) throw new Error('The child server has no pid')
  return {
    pid: child.pid,
    port,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopChild(child),
  }
}
