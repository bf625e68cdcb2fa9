/**
 * A real nginx for integration tests: the configuration that docs/nginx.md documents, generated
 * for loopback ports and a temporary folder, and a child process started and stopped by the test.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** One `internal` location that serves a directory for X-Accel-Redirect. */
export interface InternalLocation {
  /** The URI prefix the offload rule names (`/protected/media/`). */
  location: string
  /** The directory it serves (the storage's root). */
  alias: string
}

/** What the generated configuration needs. */
export interface NginxConfigOptions {
  /** The folder for the pid file, the logs and the temporary files. */
  dir: string
  /** The loopback port nginx listens on. */
  port: number
  /** The app's loopback port. */
  appPort: number
  internal: InternalLocation[]
  /** Headers the app adds on top of the library's (a view's `headers` option), to restore too. */
  extraHeaders?: string[]
}

/** The response headers nginx drops on X-Accel-Redirect, which the internal location restores. */
export const RESTORED_HEADERS = ['ETag', 'Last-Modified', 'X-Content-Type-Options', 'Content-Security-Policy']

/**
 * The `internal` location block of docs/nginx.md for `location` and `alias`, indented by `indent`
 * spaces: the unit tests check that the documentation shows exactly this.
 */
export function internalLocationBlock(
  { location, alias }: InternalLocation,
  extraHeaders: readonly string[] = [],
  indent = 4,
): string {
  const pad = ' '.repeat(indent)
  const directory = alias.endsWith('/') ? alias : `${alias}/`
  const lines = [
    `location ${location} {`,
    '    internal;',
    `    alias ${directory};`,
    '    disable_symlinks on from=$document_root;',
    '    etag off;',
    '    if_modified_since off;',
    '    max_ranges 16;',
    ...[...RESTORED_HEADERS, ...extraHeaders].map(
      (name) => `    add_header ${name} $upstream_http_${name.toLowerCase().replaceAll('-', '_')};`,
    ),
    '}',
  ]
  return lines.map((line) => pad + line).join('\n')
}

/** A complete nginx.conf: nginx in front of the app on loopback, with the internal locations. */
export function nginxConfig(options: NginxConfigOptions): string {
  const { dir } = options
  // As root, nginx would switch its workers to "nobody", who cannot read the test's private folders.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 128; }
http {
  log_format offload '$request_uri $status $body_bytes_sent "$upstream_http_x_accel_redirect" $uri';
  access_log ${dir}/access.log offload;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;

  upstream app {
    server 127.0.0.1:${options.appPort};
  }

  server {
    listen 127.0.0.1:${options.port};

    location / {
      proxy_pass http://app;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }

${options.internal.map((entry) => internalLocationBlock(entry, options.extraHeaders)).join('\n\n')}
  }
}
`
}

/** A running nginx. */
export interface RunningNginx {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  dir: string
  /** The access log so far (format `offload`: request URI, status, body bytes, X-Accel-Redirect, URI). */
  accessLog(): Promise<string>
  errorLog(): Promise<string>
  /** Stops nginx (and waits for it) and removes its folder. */
  stop(): Promise<void>
}

/** The nginx binary: `NGINX` when set, else the first nginx on PATH or in the sbin folders. */
export function findNginx(): string | undefined {
  const candidates = [
    process.env.NGINX,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'nginx')),
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
  ]
  for (const candidate of candidates) {
    if (!candidate) continue
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/**
 * Starts nginx in front of the app on `appPort`, on a free loopback port, in the foreground as a
 * child of this process. Throws (never skips) when nginx is not installed.
 */
export async function startNginx(options: Omit<NginxConfigOptions, 'dir' | 'port'>): Promise<RunningNginx> {
  const binary = findNginx()
  if (!binary) {
    throw new Error(
      'nginx is not installed, and the X-Accel-Redirect integration test needs a real one: ' +
        'install it (Debian/Ubuntu: apt-get install -y nginx-light, or nginx) or set NGINX=/path/to/nginx',
    )
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'downloadview-nginx-'))
  let lastError: unknown
  // A free port can be taken between the probe and nginx's bind: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const config = path.join(dir, 'nginx.conf')
    await writeFile(config, nginxConfig({ ...options, dir, port }))
    try {
      const child = await launch(binary, dir, config, port)
      return running(child, dir, port)
    } catch (error) {
      lastError = error
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}

async function launch(binary: string, dir: string, config: string, port: number): Promise<ChildProcess> {
  // -e: the error log from the very start, before the configuration is read (nginx >= 1.19.5).
  const child = spawn(binary, ['-p', `${dir}/`, '-c', config, '-e', path.join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('error', reject)
    child.once('exit', async (code, signal) => {
      const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')
      reject(new Error(`nginx exited (${code ?? signal}) while starting:\n${stderr}${log}`))
    })
  })
  exited.catch(() => undefined)
  // Ready: nginx wrote its pid (so it bound the port: another process on it would have stopped
  // nginx first) and the port answers.
  const isReady = async () =>
    (await readFile(path.join(dir, 'nginx.pid'), 'utf8').catch(() => '')).trim() === String(child.pid) &&
    (await canConnect(port))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const ready = await Promise.race([isReady(), exited])
    if (ready) return child
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stopChild(child)
  throw new Error(`nginx did not listen on 127.0.0.1:${port} within 10 s:\n${stderr}`)
}

function running(child: ChildProcess, dir: string, port: number): RunningNginx {
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    accessLog: () => readFile(path.join(dir, 'access.log'), 'utf8').catch(() => ''),
    errorLog: () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => ''),
    async stop() {
      await stopChild(child)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** SIGTERM (nginx's fast shutdown, which stops the workers too), then SIGKILL after 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
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
