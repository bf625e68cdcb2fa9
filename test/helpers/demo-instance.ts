/**
 * The demo server (`demo/main.ts`, what `npm start` runs) as a child process on a free loopback
 * port, configured by environment variables only: several of them make a scale-out deployment.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { stopChild } from './foreground-server'

const REPOSITORY = path.resolve(__dirname, '..', '..')
const MAIN = path.join(REPOSITORY, 'demo', 'main.ts')

/** One running demo server. */
export interface DemoInstance {
  /** `http://127.0.0.1:<port>` */
  url: string
  pid: number
  /** Everything it wrote so far, stdout and stderr. */
  output(): string
  /** Whether it is still running. */
  alive(): boolean
  /** SIGTERM (the demo closes its server and DataSource), SIGKILL after 10 s; waits for the exit. */
  stop(): Promise<void>
}

/**
 * Starts `demo/main.ts` with `env` over this process's environment (PORT=0: the port it prints is
 * the one it got). Resolves once it prints that it listens: its migrations and seed have run.
 * Rejects with its output when it exits first, or does not listen within `timeout` ms.
 */
export async function startDemoInstance(
  env: Record<string, string>,
  timeout = 60_000,
): Promise<DemoInstance> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPOSITORY,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`The demo did not listen within ${timeout} ms:\n${output}`))
    }, timeout)
    const onData = () => {
      const match = /demo listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(output)
      if (!match?.[1]) return
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      resolve(match[1])
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`The demo exited (${code ?? signal}) while starting:\n${output}`))
    })
  })
  if (child.pid === undefined) throw new Error('The demo has no pid')
  return {
    url,
    pid: child.pid,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopChild(child),
  }
}
