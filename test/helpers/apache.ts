/**
 * A real Apache httpd with mod_xsendfile for integration tests: the configuration that
 * docs/apache-lighttpd.md documents, generated for loopback ports and a temporary folder, and a
 * child process started in the foreground and stopped by the test.
 */
import { accessSync, constants } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { findExecutable, type RunningServer, startForeground } from './foreground-server'

export type { RunningServer } from './foreground-server'

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
