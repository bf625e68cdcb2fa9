/**
 * Real web servers for integration tests (nginx, Apache, lighttpd): started in the foreground as
 * children of the test process, on a free loopback port, in a temporary folder, and stopped with it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../demo/embedded-postgres'

// The one freePort() (the demo's): test/package imports it from here.
export { freePort }

/** A web server started by a test. */
export interface RunningServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  dir: string
  errorLog(): Promise<string>
  /** Stops the server (and waits for it) and removes its folder. */
  stop(): Promise<void>
}

/** The first executable of `candidates`, or `undefined`. */
export function findExecutable(candidates: readonly (string | undefined)[]): string | undefined {
  for (const candidate of candidates) {
    if (!candidate) continue
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** How to start one kind of server in the foreground. */
export interface ForegroundServer {
  name: string
  binary: string
  /** The temporary folder's name prefix. */
  prefix: string
  /** The pid file and the error log, relative to the folder (no error log: stderr only). */
  pidFile: string
  errorLog?: string
  /** Writes the configuration for `port` into `dir`, and returns its path. */
  write(dir: string, port: number): Promise<string>
  args(config: string): string[]
}

/**
 * Starts `server` on a free loopback port in a new temporary folder, retrying on another port when
 * the bind fails; ready once the pid file holds the child's pid and the port answers.
 */
export async function startForeground(server: ForegroundServer): Promise<RunningServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), server.prefix))
  let lastError: unknown
  // A free port can be taken between the probe and the server's bind: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const config = await server.write(dir, port)
    const output = { text: '' }
    try {
      const child = await launch(server, dir, config, port, output)
      const errorLog = async () =>
        (server.errorLog ? await readFile(path.join(dir, server.errorLog), 'utf8').catch(() => '') : '') +
        output.text
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        dir,
        errorLog,
        async stop() {
          await stopChild(child)
          await rm(dir, { recursive: true, force: true })
        },
      }
    } catch (error) {
      lastError = error
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}

async function launch(
  server: ForegroundServer,
  dir: string,
  config: string,
  port: number,
  output: { text: string },
): Promise<ChildProcess> {
  const child = spawn(server.binary, server.args(config), { stdio: ['ignore', 'pipe', 'pipe'] })
  const collect = (chunk: Buffer) => {
    output.text += chunk.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const log = () =>
    server.errorLog ? readFile(path.join(dir, server.errorLog), 'utf8').catch(() => '') : Promise.resolve('')
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('error', reject)
    child.once('exit', async (code, signal) => {
      reject(
        new Error(`${server.name} exited (${code ?? signal}) while starting:\n${output.text}${await log()}`),
      )
    })
  })
  exited.catch(() => undefined)
  const isReady = async () =>
    (await readFile(path.join(dir, server.pidFile), 'utf8').catch(() => '')).trim() === String(child.pid) &&
    (await canConnect(port))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const ready = await Promise.race([isReady(), exited])
    if (ready) return child
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stopChild(child)
  throw new Error(
    `${server.name} did not listen on 127.0.0.1:${port} within 10 s:\n${output.text}${await log()}`,
  )
}

/**
 * SIGTERM (nginx's fast shutdown; Apache and lighttpd stop at once; all take their workers with
 * them), then SIGKILL after 10 s.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

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
