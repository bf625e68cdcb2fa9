/**
 * A real lighttpd for integration tests: the configuration that docs/apache-lighttpd.md
 * documents (mod_proxy with "x-sendfile"), generated for loopback ports and a temporary folder,
 * and a child process started in the foreground and stopped by the test.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { SERVER_USER } from './apache'
import { findExecutable, type RunningServer, startForeground } from './foreground-server'

/** What the proxy block needs. */
export interface LighttpdProxyOptions {
  /** The app's loopback port. */
  appPort: number
  /** The directories lighttpd may send files from (`x-sendfile-docroot`), with a trailing slash. */
  docroots: string[]
}

/** What the generated configuration needs. */
export interface LighttpdConfigOptions extends LighttpdProxyOptions {
  /** The folder for the pid file and the (empty) document root. */
  dir: string
  /** The loopback port lighttpd listens on. */
  port: number
}

/**
 * The `proxy.server` lines of docs/apache-lighttpd.md (every request to the app, X-Sendfile on),
 * indented by `indent` spaces: the documentation shows exactly this for port 3000 and /srv/media/.
 */
export function lighttpdProxyBlock({ appPort, docroots }: LighttpdProxyOptions, indent = 0): string {
  const pad = ' '.repeat(indent)
  const lines = [
    'proxy.server = ( "" => ( (',
    '    "host" => "127.0.0.1",',
    `    "port" => ${appPort},`,
    '    "x-sendfile" => "enable",',
    `    "x-sendfile-docroot" => ( ${docroots.map((root) => `"${root}"`).join(', ')} ),`,
    ') ) )',
  ]
  return lines.map((line) => pad + line).join('\n')
}

/**
 * A complete lighttpd.conf: mod_proxy only, loopback, the pid file in `dir`, the error log on
 * stderr (the test collects it; a file in `dir` could not be opened once lighttpd dropped root).
 */
export function lighttpdConfig(options: LighttpdConfigOptions): string {
  const { dir } = options
  const user =
    process.getuid?.() === 0
      ? `server.username = "${SERVER_USER}"\nserver.groupname = "${SERVER_USER}"\n`
      : ''
  return `server.modules = ( "mod_proxy" )
server.bind = "127.0.0.1"
server.port = ${options.port}
server.document-root = "${dir}/www"
server.pid-file = "${dir}/lighttpd.pid"
${user}
${lighttpdProxyBlock(options)}
`
}

/** The lighttpd binary: `LIGHTTPD` when set, else the first lighttpd on PATH or in sbin. */
export function findLighttpd(): string | undefined {
  return findExecutable([
    process.env.LIGHTTPD,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'lighttpd')),
    '/usr/sbin/lighttpd',
    '/usr/local/sbin/lighttpd',
  ])
}

/**
 * Starts lighttpd in front of the app on `appPort`, on a free loopback port, in the foreground as
 * a child of this process. Throws (never skips) when lighttpd is not installed.
 */
export async function startLighttpd(options: LighttpdProxyOptions): Promise<RunningServer> {
  const binary = findLighttpd()
  if (!binary) {
    throw new Error(
      'lighttpd is not installed, and the X-Sendfile integration test needs a real one: ' +
        'install it (Debian/Ubuntu: apt-get install -y lighttpd) or set LIGHTTPD=/path/to/lighttpd',
    )
  }
  return startForeground({
    name: 'lighttpd',
    prefix: 'downloadview-lighttpd-',
    pidFile: 'lighttpd.pid',
    write: async (dir, port) => {
      await mkdir(path.join(dir, 'www'), { recursive: true })
      const config = path.join(dir, 'lighttpd.conf')
      await writeFile(config, lighttpdConfig({ ...options, dir, port }))
      return config
    },
    // -D: do not detach, so lighttpd is our child and its pid is ours.
    args: (config) => ['-D', '-f', config],
    binary,
  })
}
