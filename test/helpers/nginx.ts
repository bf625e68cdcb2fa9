/**
 * A real nginx for integration tests: the configuration that docs/nginx.md documents, generated
 * for loopback ports and a temporary folder, and a child process started and stopped by the test.
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { findExecutable, type RunningServer, startForeground } from './foreground-server'

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
export const RESTORED_HEADERS = [
  'ETag',
  'Last-Modified',
  'X-Content-Type-Options',
  'Content-Security-Policy',
  'Repr-Digest',
  'Vary',
]

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

/**
 * The start of a test nginx.conf, up to and including the `app` upstream inside `http {`: a
 * foreground nginx with every file in `dir`, and an access log in `logFormat`.
 */
export function nginxPreamble(dir: string, appPort: number, logFormat: string): string {
  // As root, nginx would switch its workers to "nobody", who cannot read the test's private folders.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 128; }
http {
  log_format main '${logFormat}';
  access_log ${dir}/access.log main;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;

  upstream app {
    server 127.0.0.1:${appPort};
  }
`
}

/** A complete nginx.conf: nginx in front of the app on loopback, with the internal locations. */
export function nginxConfig(options: NginxConfigOptions): string {
  const { dir } = options
  return `${nginxPreamble(dir, options.appPort, '$request_uri $status $body_bytes_sent "$upstream_http_x_accel_redirect" $uri')}

  server {
    listen 127.0.0.1:${options.port};

${appLocationBlock('/')}

${options.internal.map((entry) => internalLocationBlock(entry, options.extraHeaders)).join('\n\n')}
  }
}
`
}

/**
 * A location that passes requests to the `app` upstream, as docs/nginx.md writes it, with the
 * directives `first` before proxy_pass, indented by `indent` spaces.
 */
export function appLocationBlock(location: string, first: readonly string[] = [], indent = 4): string {
  const pad = ' '.repeat(indent)
  const lines = [
    `location ${location} {`,
    ...first.map((directive) => `    ${directive}`),
    '    proxy_pass http://app;',
    '    proxy_set_header Host $host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '}',
  ]
  return lines.map((line) => pad + line).join('\n')
}

/**
 * The location of docs/nginx.md ("Behind a cache") that keeps private downloads out of the site's
 * `proxy_cache`, indented by `indent` spaces: the cache test checks that the page shows exactly this.
 */
export function uncachedLocationBlock(location: string, indent = 4): string {
  return appLocationBlock(location, ['proxy_cache off;'], indent)
}

/** The prefix under which the cache test's nginx reaches the app through the cache (the pitfall). */
export const CACHED_PREFIX = '/cached/'
/** The prefix under which it reaches the app with `proxy_force_ranges on` (cache on too). */
export const FORCED_PREFIX = '/forced/'

/**
 * nginx.conf for the cache test: a `proxy_cache` for the whole server, as a site that caches its
 * pages has; the documented uncached location for `location`; and the same app under
 * CACHED_PREFIX (the cache on, nothing else: the pitfall) and FORCED_PREFIX (`proxy_force_ranges`).
 */
export function nginxCacheConfig(options: {
  dir: string
  port: number
  appPort: number
  location: string
}): string {
  const { dir } = options
  return `${nginxPreamble(dir, options.appPort, '$request_uri $status $upstream_status $upstream_cache_status')}
  proxy_cache_path ${dir}/cache keys_zone=site:1m;

  server {
    listen 127.0.0.1:${options.port};
    proxy_cache site;

    location ${CACHED_PREFIX} {
      proxy_pass http://app/;
      proxy_set_header Host $host;
    }

    location ${FORCED_PREFIX} {
      proxy_force_ranges on;
      proxy_pass http://app/;
      proxy_set_header Host $host;
    }

${uncachedLocationBlock(options.location)}
  }
}
`
}

/** A running nginx. */
export interface RunningNginx extends RunningServer {
  /** The access log so far (format `offload`: request URI, status, body bytes, X-Accel-Redirect, URI). */
  accessLog(): Promise<string>
  /**
   * The first access log line that starts with `start` (`<request URI> <status> `): nginx writes
   * it once the last byte is out, so the client may see the answer first. Waits for it, 2 s at most.
   */
  accessLogLine(start: string): Promise<string>
}

/** The nginx binary: `NGINX` when set, else the first nginx on PATH or in the sbin folders. */
export function findNginx(): string | undefined {
  return findExecutable([
    process.env.NGINX,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'nginx')),
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
  ])
}

/**
 * Starts nginx in front of the app on `appPort`, on a free loopback port, in the foreground as a
 * child of this process. Throws (never skips) when nginx is not installed.
 */
export function startNginx(options: Omit<NginxConfigOptions, 'dir' | 'port'>): Promise<RunningNginx> {
  return startNginxWith('the X-Accel-Redirect integration test', 'downloadview-nginx-', (dir, port) =>
    nginxConfig({ ...options, dir, port }),
  )
}

/**
 * Starts nginx with the configuration `render(dir, port)` returns (its folder, and a free loopback
 * port), in the foreground as a child of this process, with its access log readable. Throws
 * (never skips) when nginx is not installed, naming `purpose` (the test that needs it).
 */
export async function startNginxWith(
  purpose: string,
  prefix: string,
  render: (dir: string, port: number) => string,
): Promise<RunningNginx> {
  const binary = findNginx()
  if (!binary) {
    throw new Error(
      `nginx is not installed, and ${purpose} needs a real one: ` +
        'install it (Debian/Ubuntu: apt-get install -y nginx-light, or nginx) or set NGINX=/path/to/nginx',
    )
  }
  const server = await startForeground({
    name: 'nginx',
    prefix,
    // Ready once nginx wrote its pid: it bound the port (another process on it would have stopped
    // nginx first) and the port answers.
    pidFile: 'nginx.pid',
    errorLog: 'error.log',
    write: async (dir, port) => {
      const config = path.join(dir, 'nginx.conf')
      await writeFile(config, render(dir, port))
      return config
    },
    // -e: the error log from the very start, before the configuration is read (nginx >= 1.19.5).
    args: (config) => {
      const dir = path.dirname(config)
      return ['-p', `${dir}/`, '-c', config, '-e', path.join(dir, 'error.log')]
    },
    binary,
  })
  const accessLog = () => readFile(path.join(server.dir, 'access.log'), 'utf8').catch(() => '')
  const accessLogLine = async (start: string) => {
    for (let wait = 0; wait < 40; wait++) {
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, 50))
      const line = (await accessLog()).split('\n').find((each) => each.startsWith(start))
      if (line) return line
    }
    throw new Error(`No line of nginx's access log starts with "${start}"`)
  }
  return { ...server, accessLog, accessLogLine }
}
