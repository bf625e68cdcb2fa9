/**
 * A real Apache httpd with mod_xsendfile for integration tests: the configuration that
 * docs/apache-lighttpd.md documents, generated for loopback ports and a temporary folder, and a
 * child process started in the foreground and stopped by the test. Also the process plumbing that
 * test/helpers/lighttpd.ts shares (free port, readiness, stop).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** Debian's module folder (libapache2-mod-xsendfile installs mod_xsendfile.so there). */
export const APACHE_MODULES = '/usr/lib/apache2/modules'

/**
 * The user the server's workers run as when the test runs as root (Apache refuses to serve as
 * root). Every folder on the way to the media files must be readable by it.
 */
export const SERVER_USER = 'www-data'

/** What the site block needs. */
export interface ApacheSiteOptions {
  /** The app's loopback port. */
  appPort: number
  /** The directories mod_xsendfile may send files from (`XSendFilePath`, one line each). */
  sendfilePaths: string[]
}

/** What the generated configuration needs. */
export interface ApacheConfigOptions extends ApacheSiteOptions {
  /** The folder for the pid file, the error log and the runtime files. */
  dir: string
  /** The loopback port Apache listens on. */
  port: number
}

/**
 * The site lines of docs/apache-lighttpd.md (Apache in front of the app, mod_xsendfile on),
 * indented by `indent` spaces: the documentation shows exactly this for port 3000 and /srv/media.
 */
export function apacheSiteBlock({ appPort, sendfilePaths }: ApacheSiteOptions, indent = 4): string {
  const pad = ' '.repeat(indent)
  const lines = [
    `ProxyPass / http://127.0.0.1:${appPort}/`,
    `ProxyPassReverse / http://127.0.0.1:${appPort}/`,
    'ProxyPreserveHost On',
    'XSendFile On',
    ...sendfilePaths.map((directory) => `XSendFilePath ${directory}`),
  ]
  return lines.map((line) => pad + line).join('\n')
}

/** A complete apache2.conf: the modules it needs, loopback, foreground-friendly paths, the site. */
export function apacheConfig(options: ApacheConfigOptions): string {
  const { dir } = options
  const user = process.getuid?.() === 0 ? `User ${SERVER_USER}\nGroup ${SERVER_USER}\n` : ''
  const modules = [
    ['mpm_event_module', 'mod_mpm_event.so'],
    ['authz_core_module', 'mod_authz_core.so'],
    ['proxy_module', 'mod_proxy.so'],
    ['proxy_http_module', 'mod_proxy_http.so'],
    ['xsendfile_module', 'mod_xsendfile.so'],
  ]
  return `ServerRoot ${dir}
ServerName 127.0.0.1
Listen 127.0.0.1:${options.port}
PidFile ${dir}/apache.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel info
${user}${modules.map(([name, file]) => `LoadModule ${name} ${APACHE_MODULES}/${file}`).join('\n')}

<VirtualHost 127.0.0.1:${options.port}>
${apacheSiteBlock(options)}
</VirtualHost>
`
}

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

/** The apache2 binary: `APACHE2` when set, else Debian's. */
export function findApache(): string | undefined {
  return findExecutable([process.env.APACHE2, '/usr/sbin/apache2', '/usr/sbin/httpd'])
}

/**
 * Starts Apache in front of the app on `appPort`, on a free loopback port, in the foreground as a
 * child of this process. Throws (never skips) when apache2 or mod_xsendfile is not installed.
 */
export async function startApache(options: ApacheSiteOptions): Promise<RunningServer> {
  const binary = findApache()
  if (!binary) {
    throw new Error(
      'Apache is not installed, and the X-Sendfile integration test needs a real one: ' +
        'install it (Debian/Ubuntu: apt-get install -y apache2 libapache2-mod-xsendfile) or set APACHE2=/path/to/apache2',
    )
  }
  try {
    accessSync(path.join(APACHE_MODULES, 'mod_xsendfile.so'), constants.R_OK)
  } catch {
    throw new Error(
      `mod_xsendfile is not installed (no ${APACHE_MODULES}/mod_xsendfile.so): ` +
        'install it (Debian/Ubuntu: apt-get install -y libapache2-mod-xsendfile)',
    )
  }
  return startForeground({
    name: 'apache2',
    prefix: 'downloadview-apache-',
    pidFile: 'apache.pid',
    errorLog: 'error.log',
    write: (dir, port) => {
      const config = path.join(dir, 'apache2.conf')
      return writeFile(config, apacheConfig({ ...options, dir, port })).then(() => config)
    },
    // -D FOREGROUND: the parent stays in the foreground, so it is our child and its pid is ours.
    args: (config) => ['-f', config, '-D', 'FOREGROUND'],
    binary,
  })
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
 * SIGTERM (Apache and lighttpd stop at once and take their workers with them), then SIGKILL
 * after 10 s.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
