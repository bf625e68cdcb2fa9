/**
 * @module The bench's child processes and temporary folders, and their cleanup: every child is
 * stopped and every folder removed on a normal end, on failure and on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

const children = new Set<ChildProcess>()
const folders = new Set<string>()
const hooks: (() => Promise<void>)[] = []
let interrupted: string | undefined

/** The repository's root folder. */
export const ROOT = path.resolve(__dirname, '..')

/** Thrown when Ctrl-C (or SIGTERM) stopped the bench: the caller cleans up and exits. */
export class InterruptedError extends Error {}

/** Whether a signal asked the bench to stop. */
export function isInterrupted(): boolean {
  return interrupted !== undefined
}

/** Throws an InterruptedError when a signal asked the bench to stop. */
export function checkInterrupted(): void {
  if (interrupted) throw new InterruptedError(`Stopped by ${interrupted}`)
}

/** Follows `child` until it exits; the cleanup stops it if it is still running. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Removes `dir` at cleanup (and, as a last resort, when the process exits). */
export function trackFolder(dir: string): string {
  folders.add(dir)
  return dir
}

/** Runs `hook` at cleanup, after the children are stopped; hooks run in reverse order of registration. */
export function onCleanup(hook: () => Promise<void>): void {
  hooks.push(hook)
}

/** SIGTERM (nginx's fast shutdown; the Node servers exit through process.exit), then SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Stops every child still running, runs the cleanup hooks, and removes the temporary folders. */
export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((child) => stopProcess(child)))
  while (hooks.length > 0) {
    const hook = hooks.pop() as () => Promise<void>
    await hook().catch((error: unknown) => console.error(`cleanup: ${String(error)}`))
  }
  for (const dir of folders) await rm(dir, { recursive: true, force: true })
  folders.clear()
}

/**
 * Ctrl-C and SIGTERM: mark the run as interrupted and stop the children (the run in progress fails,
 * the caller sees the InterruptedError, cleans up and exits); a second signal exits at once. When
 * the process exits anyway (a library's own exit hook, an uncaught error), the children still
 * running get a SIGTERM and the folders are removed synchronously.
 */
export function installSignalHandlers(onSignal: (signal: string) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130)
      interrupted = signal
      onSignal(signal)
      for (const child of children) stopProcess(child).catch(() => undefined)
    })
  }
  process.on('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGTERM')
      } catch {}
    }
    for (const dir of folders) rmSync(dir, { recursive: true, force: true })
  })
}

/** The first executable among `names` (looked up on PATH and in the sbin folders), or `undefined`. */
export function findExecutable(...names: string[]): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
  ]
  for (const name of names) {
    const candidates = name.includes('/') ? [name] : dirs.map((dir) => path.join(dir, name))
    for (const candidate of candidates) {
      try {
        accessSync(candidate, constants.X_OK)
        return candidate
      } catch {}
    }
  }
  return undefined
}

/** Runs `command` to its end and returns its stdout and stderr together (for `nginx -v`, `wrk -v`). */
export function captureOutput(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    let text = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString()
    })
    child.once('error', (error) => resolve(String(error)))
    child.once('close', () => resolve(text.trim()))
  })
}

/** A TCP port on the loopback interface that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('No free port')),
      )
    })
  })
}

/** Whether something accepts connections on the loopback `port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The last `limit` characters a child wrote, for error messages. */
export class OutputTail {
  private text = ''
  constructor(private readonly limit = 16_384) {}

  /** Appends `chunk`, keeping only the tail. */
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit)
  }

  toString(): string {
    return this.text
  }
}

/** A Node server of the bench (bench/servers/*.ts), run through tsx. */
export interface NodeServer {
  name: string
  /** The pid of the node process itself (what /proc/<pid>/status describes). */
  pid: number
  port: number
  child: ChildProcess
  output: OutputTail
  stop(): Promise<void>
}

/** Options of {@link startNodeServer}. */
export interface NodeServerOptions {
  name: string
  /** The server's file, relative to the repository's root. */
  script: string
  env?: Record<string, string>
  /** Extra node flags placed before the script (`--cpu-prof`). */
  nodeFlags?: string[]
  /** How long the server may take to answer "ready". @default 60 s */
  timeoutMs?: number
}

/**
 * Starts a bench server as `node --import tsx <script>` (no tsx wrapper process, so the pid is the
 * server's), and waits for its `{ ready: port }` message on the IPC channel. The server exits when
 * that channel closes, so it never outlives the bench.
 */
export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const output = new OutputTail()
  const child = track(
    spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', options.script], {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  )
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`${options.name} did not start within ${(options.timeoutMs ?? 60_000) / 1000} s`)),
      options.timeoutMs ?? 60_000,
    )
    child.on('message', (message: unknown) => {
      const ready = (message as { ready?: unknown } | null)?.ready
      if (typeof ready === 'number') {
        clearTimeout(timer)
        resolve(ready)
      }
    })
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${options.name} exited (${code ?? signal}) while starting`))
    })
  }).catch(async (error: unknown) => {
    await stopProcess(child)
    throw new Error(`${(error as Error).message}\n--- ${options.name} output ---\n${output}`)
  })
  return {
    name: options.name,
    pid: child.pid as number,
    port,
    child,
    output,
    stop: () => stopProcess(child),
  }
}
