import { createHmac } from 'node:crypto'
import { ConfigurationError, SignatureError } from '../../../src/errors'
import { resolveSignatureOptions, type SigningKey } from '../../../src/signing/options'
import {
  SIGNATURE_PARAMS,
  type SignedRequest,
  type SignUrlOptions,
  signUrl,
  verifySignature,
} from '../../../src/signing/signed-url'

const NOW = Date.parse('2024-06-10T12:00:00Z')
const NOW_S = NOW / 1000
const KEY: SigningKey = { id: 'k2024', secret: 'test-secret-2024-0123456789abcdef' }
const OLD_KEY: SigningKey = { id: 'k2023', secret: Buffer.alloc(32, 7) }

let now = NOW
const signing = resolveSignatureOptions({ keys: [KEY, OLD_KEY], clock: () => now }, 'test')

beforeEach(() => {
  now = NOW
})

const sign = (url: string, options: Partial<SignUrlOptions> = {}) =>
  signUrl(url, { key: KEY, expiresIn: 60, now: NOW, ...options })

const verify = (url: string, method = 'GET', options = signing) => verifySignature({ method, url }, options)

/** The message of the SignatureError that `fn` throws; fails on anything else. */
function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof SignatureError) return error.message
    throw error
  }
  throw new Error('expected a SignatureError, nothing was thrown')
}

/** The message of the ConfigurationError that `fn` throws; fails on anything else. */
function configurationError(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof ConfigurationError) return error.message
    throw error
  }
  throw new Error('expected a ConfigurationError, nothing was thrown')
}

/** The raw value of query parameter `name` in `url`. */
function param(url: string, name: string): string {
  const piece = url
    .split('?')[1]
    ?.split('&')
    .find((part) => part.startsWith(`${name}=`))
  if (piece === undefined) throw new Error(`no ${name} in ${url}`)
  return piece.slice(name.length + 1)
}

/** `url` with parameter `name` set to `value`, or removed when `value` is undefined. */
function withParam(url: string, name: string, value: string | undefined): string {
  const [path, query = ''] = url.split('?') as [string, string?]
  const pieces = query.split('&').filter((part) => !part.startsWith(`${name}=`))
  if (value !== undefined) pieces.push(`${name}=${value}`)
  return `${path}?${pieces.join('&')}`
}

describe('signUrl()', () => {
  it('appends the expiry, the key id and the signature', () => {
    const url = sign('/signed/report/')
    expect(url).toMatch(
      new RegExp(`^/signed/report/\\?dv_expires=${NOW_S + 60}&dv_kid=k2024&dv_signature=[A-Za-z0-9_-]{43}$`),
    )
  })

  it('uses the documented parameter names', () => {
    expect(SIGNATURE_PARAMS).toEqual({ expires: 'dv_expires', keyId: 'dv_kid', signature: 'dv_signature' })
  })

  it('signs method, path, query, expiry and key id with HMAC-SHA256', () => {
    const url = sign('/signed/report/?x=1')
    const expected = createHmac('sha256', KEY.secret)
      .update(`DV1-HMAC-SHA256\nGET\n/signed/report/\nx=1\n${NOW_S + 60}\nk2024`)
      .digest('base64url')
    expect(param(url, 'dv_signature')).toBe(expected)
  })

  it('keeps the existing query first, in its order', () => {
    expect(sign('/signed/report/?x=1&b=2')).toMatch(/^\/signed\/report\/\?x=1&b=2&dv_expires=/)
  })

  it('returns the path in canonical percent-encoding', () => {
    expect(sign('/files/naïve café.txt')).toMatch(/^\/files\/na%C3%AFve%20caf%C3%A9\.txt\?dv_expires=/)
  })

  it('keeps a fragment at the end, unsigned', () => {
    const url = sign('/signed/report/?x=1#page=2')
    expect(url).toMatch(/&dv_signature=[A-Za-z0-9_-]{43}#page=2$/)
    expect(verify(url.slice(0, url.indexOf('#'))).keyId).toBe('k2024')
  })

  it('accepts expiresAt, rounded down to the second', () => {
    const url = sign('/a', { expiresIn: undefined, expiresAt: new Date(NOW + 90_500) })
    expect(param(url, 'dv_expires')).toBe(String(NOW_S + 90))
  })

  it('accepts now as milliseconds or as a Date', () => {
    expect(sign('/a', { now: new Date(NOW) })).toBe(sign('/a', { now: NOW }))
  })

  it('rounds a now between seconds down', () => {
    expect(param(sign('/a', { now: NOW + 999 }), 'dv_expires')).toBe(String(NOW_S + 60))
  })

  it('defaults now to the current time', () => {
    const before = Math.floor(Date.now() / 1000)
    const expires = Number(param(signUrl('/a', { key: KEY, expiresIn: 60 }), 'dv_expires'))
    expect(expires).toBeGreaterThanOrEqual(before + 60)
    expect(expires).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 60)
  })

  it.each([
    ['an absolute URL', 'https://example.com/a'],
    ['a relative path', 'a/b'],
    ['a protocol-relative URL', '//evil.example/a'],
  ])('refuses %s', (_, url) => {
    expect(configurationError(() => sign(url))).toBe(
      'signUrl(): the URL must be a path that starts with one "/", like "/files/a.pdf"',
    )
  })

  it.each(['/a/../b', '/a/./b', '/a/%2e%2E/b'])('refuses the dot segments of %s', (url) => {
    expect(configurationError(() => sign(url))).toBe('signUrl(): the URL must not have "." or ".." segments')
  })

  it('refuses a URL that already has a signature parameter', () => {
    expect(configurationError(() => sign('/a?dv_kid=x'))).toBe(
      'signUrl(): the URL already has a "dv_kid" parameter',
    )
    expect(configurationError(() => sign('/a?dv%5Fsignature=x'))).toMatch(/"dv_signature"/)
  })

  it('refuses a key id that is not a short token', () => {
    expect(configurationError(() => sign('/a', { key: { id: 'a b', secret: KEY.secret } }))).toBe(
      'signUrl(): option "key" has an invalid key id "a b": use 1 to 32 letters, digits, "-", "_", "." or "~"',
    )
    expect(configurationError(() => sign('/a', { key: { id: 'x'.repeat(33), secret: KEY.secret } }))).toMatch(
      /option "key" has an invalid key id/,
    )
  })

  it('refuses a secret shorter than 32 bytes', () => {
    expect(configurationError(() => sign('/a', { key: { id: 'k', secret: 'short' } }))).toBe(
      'signUrl(): option "key" has a secret of 5 bytes for key "k": use at least 32 random bytes',
    )
  })

  it('refuses a missing key', () => {
    expect(configurationError(() => signUrl('/a', { expiresIn: 60 } as unknown as SignUrlOptions))).toMatch(
      /^signUrl\(\): option "key" has an invalid key id/,
    )
  })

  it.each([0, -1, 1.5, Number.NaN, '60'])('refuses expiresIn %p', (expiresIn) => {
    expect(configurationError(() => sign('/a', { expiresIn: expiresIn as number }))).toBe(
      'signUrl(): option "expiresIn" must be a positive integer (seconds)',
    )
  })

  it('refuses an expiry too far away for 11 digits', () => {
    expect(configurationError(() => sign('/a', { expiresIn: 1e12 }))).toBe(
      'signUrl(): option "expiresIn" is too far away',
    )
  })

  it('refuses expiresAt in the past, or now', () => {
    expect(configurationError(() => sign('/a', { expiresIn: undefined, expiresAt: new Date(NOW) }))).toBe(
      'signUrl(): option "expiresAt" must be in the future',
    )
  })

  it('refuses an invalid expiresAt', () => {
    expect(
      configurationError(() => sign('/a', { expiresIn: undefined, expiresAt: new Date(Number.NaN) })),
    ).toBe('signUrl(): option "expiresAt" must be a valid Date')
  })

  it('refuses both expiresIn and expiresAt', () => {
    expect(configurationError(() => sign('/a', { expiresAt: new Date(NOW + 60_000) }))).toBe(
      'signUrl(): give option "expiresIn" or option "expiresAt", not both',
    )
  })

  it('refuses neither expiresIn nor expiresAt', () => {
    expect(configurationError(() => sign('/a', { expiresIn: undefined }))).toBe(
      'signUrl(): option "expiresIn" (seconds) or option "expiresAt" is required',
    )
  })

  it('refuses a method that is not a token', () => {
    expect(configurationError(() => sign('/a', { method: 'GET /' }))).toBe(
      'signUrl(): option "method" must be an HTTP method, like "GET"',
    )
  })

  it('refuses an invalid now', () => {
    expect(configurationError(() => sign('/a', { now: Number.NaN }))).toBe(
      'signUrl(): option "now" must be a valid Date or milliseconds',
    )
  })
})

describe('verifySignature()', () => {
  describe('with a URL signed for GET', () => {
    it('accepts it, and says which key signed it and when it expires', () => {
      expect(verify(sign('/signed/report/?x=1'))).toEqual({
        keyId: 'k2024',
        expiresAt: new Date('2024-06-10T12:01:00Z'),
      })
    })

    it('accepts HEAD', () => {
      expect(verify(sign('/signed/report/'), 'HEAD').keyId).toBe('k2024')
    })

    it('reads a missing method as GET', () => {
      expect(verifySignature({ url: sign('/signed/report/') }, signing).keyId).toBe('k2024')
    })

    it('refuses POST', () => {
      expect(refusal(() => verify(sign('/signed/report/'), 'POST'))).toMatch(
        /^Signed URL refused for POST \/signed\/report\/: invalid signature/,
      )
    })
  })

  describe('with a URL signed for POST', () => {
    it('accepts POST and refuses GET', () => {
      const url = sign('/upload', { method: 'post' })
      expect(verify(url, 'POST').keyId).toBe('k2024')
      expect(refusal(() => verify(url, 'GET'))).toMatch(/invalid signature/)
    })
  })

  describe('when the URL was tampered with', () => {
    const url = sign('/signed/report/?x=1&y=2')
    const signature = param(url, 'dv_signature')

    it.each([
      ['the path changed', url.replace('/signed/report/', '/signed/other/')],
      ['the path extended', url.replace('/signed/report/', '/signed/report/more')],
      ['a parameter changed', url.replace('x=1', 'x=2')],
      ['a parameter added', `${url}&z=3`],
      ['a parameter repeated', `${url}&x=1`],
      ['a parameter removed', url.replace('x=1&', '')],
      ['a parameter renamed', url.replace('x=1', 'X=1')],
      ['the expiry moved', withParam(url, 'dv_expires', String(NOW_S + 3600))],
      ['the key id swapped for another known key', withParam(url, 'dv_kid', 'k2023')],
      [
        'the signature altered',
        withParam(url, 'dv_signature', `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`),
      ],
      [
        'the spare bits of the last character changed',
        withParam(url, 'dv_signature', `${signature.slice(0, 42)}${signature[42] === 'A' ? 'B' : 'A'}`),
      ],
    ])('refuses it when %s', (_, tampered) => {
      expect(refusal(() => verify(tampered))).toMatch(
        /: invalid signature \(the URL was changed, or signed with another secret\)$/,
      )
    })

    it.each([
      ['truncated', signature.slice(0, 42)],
      ['empty', ''],
      ['in base64 with "/"', `${signature.slice(0, 42)}/`],
      ['in base64 with padding', `${signature}=`],
      ['with a space', `${signature.slice(0, 42)}+`],
    ])('refuses a signature %s as malformed', (_, value) => {
      expect(refusal(() => verify(withParam(url, 'dv_signature', value)))).toMatch(/: malformed signature$/)
    })

    it('never writes the signature in the reason', () => {
      const altered = `${signature.slice(0, 20)}${signature[20] === 'A' ? 'B' : 'A'}${signature.slice(21)}`
      const message = refusal(() => verify(withParam(url.replace('x=1', 'x=2'), 'dv_signature', altered)))
      expect(message).not.toContain(signature)
      expect(message).not.toContain(altered)
    })
  })

  describe('when parameters are missing or repeated', () => {
    const url = sign('/signed/report/')

    it('refuses a URL with no signature parameter at all', () => {
      expect(refusal(() => verify('/signed/report/?x=1'))).toBe(
        'Signed URL refused for GET /signed/report/: missing signature',
      )
    })

    it.each(['dv_expires', 'dv_kid', 'dv_signature'])('refuses a URL without %s', (name) => {
      expect(refusal(() => verify(withParam(url, name, undefined)))).toBe(
        `Signed URL refused for GET /signed/report/: missing parameter "${name}"`,
      )
    })

    it.each(['dv_expires', 'dv_kid', 'dv_signature'])('refuses a URL with %s twice', (name) => {
      expect(refusal(() => verify(`${url}&${name}=${param(url, name)}`))).toBe(
        `Signed URL refused for GET /signed/report/: duplicated parameter "${name}"`,
      )
    })

    it('counts an encoded parameter name as the same parameter', () => {
      expect(refusal(() => verify(`${url}&dv%5Fsignature=x`))).toMatch(/duplicated parameter "dv_signature"$/)
    })
  })

  describe('when the expiry is malformed', () => {
    const url = sign('/a')

    it.each([
      ['not a number', 'soon'],
      ['with a leading zero', `0${NOW_S + 60}`],
      ['negative', `-${NOW_S + 60}`],
      ['with a fraction', `${NOW_S + 60}.5`],
      ['empty', ''],
      ['too long', '1'.repeat(12)],
    ])('refuses an expiry %s', (_, value) => {
      expect(refusal(() => verify(withParam(url, 'dv_expires', value)))).toBe(
        'Signed URL refused for GET /a: malformed expiry',
      )
    })
  })

  describe('when the key id is unknown', () => {
    it('refuses it and names the key id', () => {
      const url = sign('/a', { key: { id: 'stranger', secret: KEY.secret } })
      expect(refusal(() => verify(url))).toBe('Signed URL refused for GET /a: unknown key id "stranger"')
    })

    it('refuses a malformed key id without writing it in the reason', () => {
      const message = refusal(() => verify(withParam(sign('/a'), 'dv_kid', 'evil%0D%0Aline')))
      expect(message).toBe('Signed URL refused for GET /a: malformed key id')
    })
  })

  describe('when the URL has expired', () => {
    const url = sign('/a')

    it('accepts it a millisecond before its expiry', () => {
      now = NOW + 59_999
      expect(verify(url).keyId).toBe('k2024')
    })

    it('refuses it exactly at its expiry (the expiry second is excluded)', () => {
      now = NOW + 60_000
      expect(refusal(() => verify(url))).toBe(
        'Signed URL refused for GET /a: expired at 2024-06-10T12:01:00.000Z',
      )
    })

    it('refuses it after its expiry', () => {
      now = NOW + 3_600_000
      expect(refusal(() => verify(url))).toMatch(/: expired at 2024-06-10T12:01:00.000Z$/)
    })
  })

  describe('key rotation', () => {
    const oldUrl = sign('/a', { key: OLD_KEY })

    it('accepts a URL signed with the old key while it is in the list', () => {
      expect(verify(oldUrl).keyId).toBe('k2023')
    })

    it('refuses it once the old key is removed', () => {
      const rotated = resolveSignatureOptions({ keys: [KEY], clock: () => now }, 'test')
      expect(refusal(() => verify(oldUrl, 'GET', rotated))).toMatch(/: unknown key id "k2023"$/)
    })

    it('signs new URLs with the new key', () => {
      const rotated = resolveSignatureOptions({ keys: [KEY], clock: () => now }, 'test')
      expect(verify(sign('/a'), 'GET', rotated).keyId).toBe('k2024')
    })

    it('refuses a URL whose key id names another key than the one that signed it', () => {
      expect(refusal(() => verify(withParam(oldUrl, 'dv_kid', 'k2024')))).toMatch(/: invalid signature/)
    })
  })

  describe('equivalent URLs', () => {
    it('accepts the parameters in any order', () => {
      const url = sign('/a?x=1&y=2&z=0')
      const query = url.split('?')[1]!.split('&').reverse().join('&')
      expect(verify(`/a?${query}`).keyId).toBe('k2024')
    })

    it('accepts other parameters between the values of a repeated one', () => {
      const url = sign('/a?x=1&y=2&x=0')
      expect(verify(url.replace('x=1&y=2&x=0', 'y=2&x=1&x=0')).keyId).toBe('k2024')
    })

    it('refuses the values of a repeated parameter in another order', () => {
      // URLSearchParams.get() and many handlers read the first value: x=0 was never signed as such.
      const url = sign('/a?x=1&x=0')
      expect(refusal(() => verify(url.replace('x=1&x=0', 'x=0&x=1')))).toMatch(/invalid signature/)
    })

    it('accepts the path encoded in any equivalent way', () => {
      const url = sign('/files/café.txt')
      const query = url.split('?')[1]
      for (const path of [
        '/files/caf%C3%A9.txt',
        '/files/caf%c3%a9.txt',
        '/files/café.txt',
        '/%66iles/caf%C3%A9.txt',
      ]) {
        expect(verify(`${path}?${query}`).keyId).toBe('k2024')
      }
    })

    it('accepts query values encoded in any equivalent way', () => {
      const url = sign('/a?q=a b&r=é')
      const signed = url.slice(url.indexOf('&dv_expires'))
      for (const query of ['q=a+b&r=%C3%A9', 'q=a%20b&r=%c3%a9', 'r=é&q=a b']) {
        expect(verify(`/a?${query}${signed}`).keyId).toBe('k2024')
      }
    })

    it('refuses a plus where a space was signed as "%2B"', () => {
      const url = sign('/a?q=a%2Bb')
      expect(refusal(() => verify(url.replace('q=a%2Bb', 'q=a+b')))).toMatch(/invalid signature/)
    })

    it('refuses an encoded slash where a separator was signed', () => {
      const url = sign('/a/b')
      expect(refusal(() => verify(url.replace('/a/b', '/a%2Fb')))).toMatch(/invalid signature/)
    })

    it('refuses dot segments that resolve to the signed path', () => {
      const url = sign('/a/b')
      expect(refusal(() => verify(url.replace('/a/b', '/a/x/../b')))).toMatch(/invalid signature/)
    })

    it('accepts an absolute-form request target', () => {
      expect(verify(`http://files.example.com${sign('/a?x=1')}`).keyId).toBe('k2024')
    })
  })

  describe('the request URL', () => {
    const url = sign('/files/report')

    it('prefers originalUrl to url', () => {
      const request: SignedRequest = { method: 'GET', url: '/report', originalUrl: url }
      expect(verifySignature(request, signing).keyId).toBe('k2024')
    })

    it('checks originalUrl even when url is the signed one', () => {
      const request: SignedRequest = { method: 'GET', url, originalUrl: url.replace('/files/', '/other/') }
      expect(refusal(() => verifySignature(request, signing))).toMatch(
        /^Signed URL refused for GET \/other\/report:/,
      )
    })

    it('reads a request with no URL as "/"', () => {
      expect(refusal(() => verifySignature({ method: 'GET' }, signing))).toBe(
        'Signed URL refused for GET /: missing signature',
      )
    })

    it('writes the path percent-encoded in the reason, so a log line stays one line', () => {
      expect(refusal(() => verify('/a%0D%0Ab'))).toBe(
        'Signed URL refused for GET /a%0D%0Ab: missing signature',
      )
    })
  })

  describe('option maxAge', () => {
    const capped = resolveSignatureOptions({ keys: [KEY], clock: () => now, maxAge: 3600 }, 'test')

    it('accepts an expiry within the cap', () => {
      expect(verify(sign('/a', { expiresIn: 3600 }), 'GET', capped).keyId).toBe('k2024')
    })

    it('refuses an expiry further away than the cap', () => {
      expect(refusal(() => verify(sign('/a', { expiresIn: 3601 }), 'GET', capped))).toBe(
        'Signed URL refused for GET /a: expires at 2024-06-10T13:00:01.000Z, further away than maxAge (3600 s)',
      )
    })

    it('sets no cap when absent', () => {
      expect(verify(sign('/a', { expiresIn: 10 * 365 * 24 * 3600 })).keyId).toBe('k2024')
    })
  })

  describe('option clock', () => {
    it('reads the time from the clock given', () => {
      now = NOW + 61_000
      expect(refusal(() => verify(sign('/a')))).toMatch(/expired at/)
    })

    it('defaults to the current time', () => {
      const live = resolveSignatureOptions({ keys: [KEY] }, 'test')
      expect(verify(signUrl('/a', { key: KEY, expiresIn: 60 }), 'GET', live).keyId).toBe('k2024')
      expect(refusal(() => verify(sign('/a'), 'GET', live))).toMatch(/expired at 2024-06-10T12:01:00.000Z$/)
    })

    it('fails loudly, not as a refusal, when the clock gives no number', () => {
      const broken = resolveSignatureOptions({ keys: [KEY], clock: () => Number.NaN }, 'test')
      expect(() => verify(sign('/a'), 'GET', broken)).toThrow(
        'The clock of the signature check returned NaN, not milliseconds',
      )
    })
  })

  describe('with options not resolved yet', () => {
    it('resolves them', () => {
      expect(verify(sign('/a'), 'GET', { keys: [KEY], clock: () => now } as never).keyId).toBe('k2024')
    })

    it('names verifySignature() in a ConfigurationError', () => {
      expect(configurationError(() => verifySignature({ url: '/a' }, { keys: [] }))).toMatch(
        /^verifySignature\(\): option "keys" must be/,
      )
    })
  })
})
