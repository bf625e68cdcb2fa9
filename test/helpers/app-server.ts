/**
 * An app on a real listening loopback server inside the test process, for tests that watch
 * sockets and descriptors (supertest's server per request would hide them); a logger that records
 * what views report; deterministic file contents.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../../src/logger'

/** A server listening on a free loopback port. */
export interface AppServer {
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  server: http.Server
  /** TCP connections accepted so far. */
  readonly connections: number
  /** Closes every connection and stops listening. */
  close(): Promise<void>
}

/**
 * Listens with `handler` (an Express app, or any request listener) on a free loopback port. Idle
 * connections stay open for a minute (Node closes them after 5 s): a response that stops short of
 * its Content-Length then hangs until the client's bound, instead of passing for a cut connection.
 */
export async function listen(handler: http.RequestListener): Promise<AppServer> {
  const server = http.createServer(handler)
  server.keepAliveTimeout = 60_000
  let connections = 0
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    get connections() {
      return connections
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A Logger that keeps every call, to count what a view reported. */
export class RecordingLogger implements Logger {
  readonly errors: { message: string; error: unknown }[] = []
  readonly warnings: string[] = []

  error(message: string, error?: unknown): void {
    this.errors.push({ message, error })
  }

  warn(message: string): void {
    this.warnings.push(message)
  }

  clear(): void {
    this.errors.length = 0
    this.warnings.length = 0
  }
}

/**
 * `size` bytes that differ from file to file (by `seed`) and from offset to offset (xorshift32), so
 * a byte served from the wrong place or the wrong file shows. About 5 ms per MiB.
 */
export function patternBytes(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) | 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x
  }
  return Buffer.from(words.buffer, 0, size)
}

/** The SHA-256 of `bytes`, in hex. */
export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
