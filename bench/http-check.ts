/** @module One request to a bench server, read to the end: status, headers, body length and SHA-256. */
import { createHash } from 'node:crypto'
import http, { type IncomingHttpHeaders } from 'node:http'

/** What came back. */
export interface CheckedResponse {
  status: number
  headers: IncomingHttpHeaders
  /** Bytes of body received. */
  bodyLength: number
  /** Hex SHA-256 of the body. */
  sha256: string
}

/** Sends one request to 127.0.0.1:`port` (no keep-alive) and reads the whole answer; 30 s at most. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<CheckedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const hash = createHash('sha256')
        let bodyLength = 0
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          bodyLength += chunk.length
        })
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            bodyLength,
            sha256: hash.digest('hex'),
          }),
        )
        res.once('error', reject)
      },
    )
    req.setTimeout(30_000, () => req.destroy(new Error(`No complete answer to ${path} within 30 s`)))
    req.once('error', reject)
    req.end()
  })
}

/** What a correct answer looks like. */
export interface Expectation {
  status: number
  /** The Content-Length header. */
  contentLength?: number
  /** The body's length and SHA-256 (a GET); HEAD and 304 expect an empty body. */
  body?: { length: number; sha256: string } | 'empty'
  /** Exact header values (lower-case names). */
  headers?: Record<string, string>
}

/** The differences between `response` and `expected`, as readable lines (none: correct). */
export function mismatches(response: CheckedResponse, expected: Expectation): string[] {
  const problems: string[] = []
  if (response.status !== expected.status)
    problems.push(`status ${response.status}, expected ${expected.status}`)
  if (expected.contentLength !== undefined) {
    const length = response.headers['content-length']
    if (length !== String(expected.contentLength))
      problems.push(`Content-Length ${length ?? '(none)'}, expected ${expected.contentLength}`)
  }
  if (expected.body === 'empty' && response.bodyLength !== 0)
    problems.push(`a body of ${response.bodyLength} bytes, expected none`)
  if (expected.body && expected.body !== 'empty') {
    if (response.bodyLength !== expected.body.length)
      problems.push(`a body of ${response.bodyLength} bytes, expected ${expected.body.length}`)
    else if (response.sha256 !== expected.body.sha256)
      problems.push(`body SHA-256 ${response.sha256}, expected ${expected.body.sha256}`)
  }
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    if (response.headers[name] !== value)
      problems.push(`${name}: ${String(response.headers[name] ?? '(none)')}, expected ${value}`)
  }
  return problems
}
