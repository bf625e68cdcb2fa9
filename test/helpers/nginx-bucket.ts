/**
 * A real nginx in front of the app for nginxFromBucket(): the configuration that
 * docs/scale-out.md documents, with an `internal` location that proxies to an S3-compatible
 * endpoint (s3rver on loopback in the tests), started and stopped by the test.
 */
import { appLocationBlock, nginxPreamble, type RunningNginx, startNginxWith } from './nginx'

/** What the bucket location needs. */
export interface BucketLocation {
  /** nginxFromBucket()'s `location` (`/_bucket/`). */
  location: string
  /** The `upstream` block that names the bucket's endpoint (`bucket`). */
  upstream: string
  /** The endpoint's host, as the presigned URL names it: the Host header the signature covers. */
  host: string
  /** `http` or `https` (AWS). @default 'http' */
  scheme?: 'http' | 'https'
  /** Headers the view adds (its `headers` option), to restore too (`X-Demo`). */
  extraHeaders?: readonly string[]
}

/** The app's headers nginx drops on X-Accel-Redirect, which the bucket location restores. */
export const BUCKET_RESTORED_HEADERS = [
  'ETag',
  'Last-Modified',
  'X-Content-Type-Options',
  'Content-Security-Policy',
  'Repr-Digest',
] as const

/** The bucket's response headers the location hides: the app's versions go to the client instead. */
export const BUCKET_HIDDEN_HEADERS = [
  'Content-Type',
  'Content-Disposition',
  'Cache-Control',
  'Accept-Ranges',
  'ETag',
  'Last-Modified',
  'Set-Cookie',
  'x-amz-request-id',
  'x-amz-id-2',
  'x-amz-version-id',
  'x-amz-server-side-encryption',
] as const

/** `ETag` → `$dv_etag`: the variable that keeps the app's header through the internal redirect. */
function variableOf(header: string): string {
  return `$dv_${header.toLowerCase().replaceAll('-', '_')}`
}

/** `ETag` → `$upstream_http_etag`. */
function upstreamOf(header: string): string {
  return `$upstream_http_${header.toLowerCase().replaceAll('-', '_')}`
}

/**
 * The `internal` location of docs/scale-out.md and its two error locations, indented by `indent`
 * spaces: the unit test checks that the documentation shows exactly this.
 */
export function bucketLocationBlock(options: BucketLocation, indent = 4): string {
  const pad = ' '.repeat(indent)
  const restored = [...BUCKET_RESTORED_HEADERS, ...(options.extraHeaders ?? [])]
  const lines = [
    `location ${options.location} {`,
    '    internal;',
    ...restored.map((name) => `    set ${variableOf(name)} ${upstreamOf(name)};`),
    `    set $dv_bucket_range ${upstreamOf('X-Bucket-Range')};`,
    `    proxy_pass ${options.scheme ?? 'http'}://${options.upstream}/;`,
    '    proxy_http_version 1.1;',
    '    proxy_pass_request_headers off;',
    '    proxy_pass_request_body off;',
    `    proxy_set_header Host ${options.host};`,
    '    proxy_set_header Connection "";',
    '    proxy_set_header Range $dv_bucket_range;',
    ...BUCKET_HIDDEN_HEADERS.map((name) => `    proxy_hide_header ${name};`),
    '    proxy_intercept_errors on;',
    '    error_page 404 = @bucket_missing;',
    '    error_page 403 500 502 503 504 = @bucket_failed;',
    ...restored.map((name) => `    add_header ${name} ${variableOf(name)};`),
    '}',
    '',
    'location @bucket_missing {',
    '    return 404;',
    '}',
    '',
    'location @bucket_failed {',
    '    return 502;',
    '}',
  ]
  return lines.map((line) => (line === '' ? '' : pad + line)).join('\n')
}

/** The `upstream` block that names the bucket's endpoint, with idle connections kept for reuse. */
export function bucketUpstreamBlock(name: string, server: string, indent = 2): string {
  const pad = ' '.repeat(indent)
  return [`upstream ${name} {`, `    server ${server};`, '    keepalive 16;', '}']
    .map((line) => pad + line)
    .join('\n')
}

/** What {@link startBucketNginx} needs. */
export interface BucketNginxOptions {
  /** The app's loopback port. */
  appPort: number
  /** The loopback port nginx proxies the bucket location to. */
  bucketPort: number
  /**
   * The Host header nginx sends there: the host of the endpoint the storage presigns URLs for.
   * @default `127.0.0.1:<bucketPort>`
   */
  bucketHost?: string
  /** nginxFromBucket()'s `location`. @default '/_bucket/' */
  location?: string
  extraHeaders?: string[]
}

/** A complete nginx.conf: nginx in front of the app, proxying the bucket location to the endpoint. */
export function bucketNginxConfig(options: BucketNginxOptions & { dir: string; port: number }): string {
  const { dir } = options
  const server = `127.0.0.1:${options.bucketPort}`
  return `${nginxPreamble(dir, options.appPort, '$request_uri $status $body_bytes_sent "$upstream_http_x_accel_redirect" $uri $upstream_addr $upstream_status')}

${bucketUpstreamBlock('bucket', server)}

  server {
    listen 127.0.0.1:${options.port};

${appLocationBlock('/')}

${bucketLocationBlock({
  location: options.location ?? '/_bucket/',
  upstream: 'bucket',
  host: options.bucketHost ?? server,
  extraHeaders: options.extraHeaders,
})}
  }
}
`
}

/**
 * Starts nginx in front of the app, with the bucket location, on a free loopback port. Throws
 * (never skips) when nginx is not installed. Its access log records, per request, the client's
 * URI, the status, the app's X-Accel-Redirect, the internal URI, and each upstream's address and
 * status: the bucket's port shows that nginx fetched the bytes from the bucket.
 */
export function startBucketNginx(options: BucketNginxOptions): Promise<RunningNginx> {
  return startNginxWith('the nginxFromBucket() test', 'downloadview-nginx-bucket-', (dir, port) =>
    bucketNginxConfig({ ...options, dir, port }),
  )
}
