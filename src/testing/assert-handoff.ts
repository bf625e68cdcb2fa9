/**
 * @module assertHandoff(): check, in tests, that a response hands its bytes to someone else (the
 * counterpart of django-downloadview's `assert_x_accel_redirect`): nginx (`X-Accel-Redirect`),
 * Apache or lighttpd (`X-Sendfile`, `X-Lighttpd-Send-File`), or a redirect to a presigned URL.
 */
import { AssertionError } from 'node:assert'
import { decodeExtended, parse } from 'content-disposition'
import type { ResponseLike } from './assert-download'

/** Who sends the bytes, by the header that says where. */
const HEADERS = {
  'x-accel': 'X-Accel-Redirect',
  'x-sendfile': 'X-Sendfile',
  'x-lighttpd-send-file': 'X-Lighttpd-Send-File',
  redirect: 'Location',
} as const

/** What to expect; only the fields given are checked, besides the kind of hand-off. */
export interface ExpectedHandoff {
  /** Which hand-off: nginx's X-Accel-Redirect, X-Sendfile, lighttpd's header, or a redirect. */
  kind: keyof typeof HEADERS
  /** The exact value of that header (the internal URI, the file's path, or the URL), or a pattern. */
  location?: string | RegExp
  /** @default 200, or 302 for a redirect */
  status?: number
  /** The file name the client will see, as Content-Disposition carries it (not checked for a redirect). */
  basename?: string
  /** Other headers that must be there with these values (names in any case), e.g. `X-Accel-Buffering`. */
  headers?: Record<string, string>
}

/**
 * Throws an AssertionError listing every difference between `response` and a hand-off of `expected`:
 * the status, the header that hands over the file and its value, an empty body (the proxy sends
 * the bytes, not the app), and the headers the app decided.
 *
 * @example
 * const res = await request(app).get('/documents/report/download')
 * assertHandoff(res, { kind: 'x-accel', location: '/protected/media/reports/q3.pdf', basename: 'Q3 report.pdf' })
 */
export function assertHandoff(response: ResponseLike, expected: ExpectedHandoff): void {
  const problems: string[] = []
  const header = (name: string): string | undefined => {
    const value = response.headers[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
  const name = HEADERS[expected.kind]
  if (!name) throw new TypeError(`assertHandoff(): kind must be one of ${Object.keys(HEADERS).join(', ')}`)
  const status = expected.status ?? (expected.kind === 'redirect' ? 302 : 200)
  if (response.status !== status) problems.push(`status is ${response.status}, expected ${status}`)

  const value = header(name)
  if (value === undefined) problems.push(`there is no ${name} header`)
  else if (expected.location !== undefined) {
    const matches =
      typeof expected.location === 'string' ? value === expected.location : expected.location.test(value)
    if (!matches) problems.push(`${name} is ${JSON.stringify(value)}, expected ${String(expected.location)}`)
  }
  // The app hands over the file: it sends none of its bytes itself.
  const body = Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.text ?? '')
  if (body.length > 0) problems.push(`the app sent ${body.length} bytes of body itself`)

  if (expected.basename !== undefined && expected.kind !== 'redirect') {
    const disposition = header('Content-Disposition')
    const parsed = disposition === undefined ? undefined : parse(disposition).parameters
    const extended = parsed?.['filename*']
    const seen = (extended === undefined ? undefined : decodeExtended(extended)) ?? parsed?.filename
    if (seen !== expected.basename)
      problems.push(`file name is ${JSON.stringify(seen)}, expected ${JSON.stringify(expected.basename)}`)
  }
  for (const [headerName, wanted] of Object.entries(expected.headers ?? {})) {
    const actual = header(headerName)
    if (actual !== wanted)
      problems.push(`${headerName} is ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`)
  }
  if (problems.length > 0) {
    throw new AssertionError({ message: `Not the expected ${name} hand-off:\n- ${problems.join('\n- ')}` })
  }
}
