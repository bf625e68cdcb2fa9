import type { IncomingHttpHeaders } from 'node:http'
import { ConfigurationError } from '../../../src/errors'
import type { FileLocation } from '../../../src/files/download-file'
import { applyHandoff } from '../../../src/handoff/handoff'
import { type XAccelRedirectOptions, xAccelRedirect } from '../../../src/handoff/nginx'
import { type RequestLike, type ResponsePlan, respond } from '../../../src/http/respond'
import { LocalStorage } from '../../../src/storage/local-storage'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import { MemoryFile, MODIFIED, NUMS, NUMS_SHA256 } from '../http/fixtures'

const media = new MemoryStorage({ name: 'media' })
const STORAGE_RULE = { storage: media, location: '/protected/media/' }

afterEach(() => storages.clear())

/** The plan for a GET (with `headers`) of nums.txt at `location`. */
function planAt(
  location: FileLocation | undefined,
  headers: IncomingHttpHeaders = {},
  method = 'GET',
): ResponsePlan {
  const file = new MemoryFile(NUMS, { sha256: NUMS_SHA256, modifiedAt: MODIFIED, location })
  return respond({ method, headers }, file)
}

const inMedia = (key: string): FileLocation => ({ kind: 'storage', storage: media, key })

/** The X-Accel-Redirect of `location` under `options`, or undefined when not offloaded. */
function redirectOf(
  location: FileLocation | undefined,
  options: XAccelRedirectOptions = { rules: [STORAGE_RULE] },
): string | undefined {
  return xAccelRedirect(options)(planAt(location))?.headers['X-Accel-Redirect']
}

describe('xAccelRedirect() with a storage rule', () => {
  it('redirects to the location plus the key', () => {
    expect(redirectOf(inMedia('docs/nums.txt'))).toBe('/protected/media/docs/nums.txt')
  })

  it('matches the storage by its registered name, looked up at request time', () => {
    const offload = xAccelRedirect({ rules: [{ storage: 'media', location: '/protected/media/' }] })
    expect(offload(planAt(inMedia('a.txt')))).toBeUndefined()
    storages.register('media', media)
    expect(offload(planAt(inMedia('a.txt')))?.headers['X-Accel-Redirect']).toBe('/protected/media/a.txt')
  })

  it('does not offload a file of another storage', () => {
    expect(redirectOf({ kind: 'storage', storage: new MemoryStorage(), key: 'a.txt' })).toBeUndefined()
  })

  it.each([
    ['a b.txt', '/protected/media/a%20b.txt'],
    ['dir/naïve café.txt', '/protected/media/dir/na%C3%AFve%20caf%C3%A9.txt'],
    ['what?.txt', '/protected/media/what%3F.txt'],
    ['100%.txt', '/protected/media/100%25.txt'],
    ['%2e%2e/x.txt', '/protected/media/%252e%252e/x.txt'],
    ['#1.txt', '/protected/media/%231.txt'],
  ])('escapes the key %j as %s', (key, uri) => {
    expect(redirectOf(inMedia(key))).toBe(uri)
  })

  it.each(['a\r\nX-Evil: 1.txt', 'a\u0000.txt', '../secret.txt', '\ud800.txt'])(
    'does not offload the key %j',
    (key) => {
      expect(redirectOf(inMedia(key))).toBeUndefined()
    },
  )
})

describe('xAccelRedirect() with a root rule', () => {
  const rules = [{ root: '/srv/media', location: '/protected/media/' }]

  it('redirects a path under the root', () => {
    expect(redirectOf({ kind: 'path', path: '/srv/media/docs/a b.pdf' }, { rules })).toBe(
      '/protected/media/docs/a%20b.pdf',
    )
  })

  it('redirects a storage key whose local path is under the root', () => {
    const local = new LocalStorage({ root: '/srv/media/uploads' })
    expect(redirectOf({ kind: 'storage', storage: local, key: 'x.txt' }, { rules })).toBe(
      '/protected/media/uploads/x.txt',
    )
  })

  it('does not offload /srv/media2 for /srv/media', () => {
    expect(redirectOf({ kind: 'path', path: '/srv/media2/a.pdf' }, { rules })).toBeUndefined()
  })

  it('does not offload a path with a line break', () => {
    expect(redirectOf({ kind: 'path', path: '/srv/media/a\nb.pdf' }, { rules })).toBeUndefined()
  })
})

describe('xAccelRedirect() with a url rule', () => {
  const rules = [{ url: 'https://cdn.example.com/files/', location: '/proxied/' }]

  it('redirects to the location plus the rest of the URL, query included', () => {
    expect(redirectOf({ kind: 'url', url: 'https://cdn.example.com/files/a%20b.pdf?sig=1' }, { rules })).toBe(
      '/proxied/a%20b.pdf?sig=1',
    )
  })

  it('does not offload another prefix', () => {
    expect(
      redirectOf({ kind: 'url', url: 'https://cdn.example.com/private/a.pdf' }, { rules }),
    ).toBeUndefined()
  })
})

describe('xAccelRedirect() with several rules', () => {
  const other = new MemoryStorage()
  const rules = [
    { storage: other, location: '/protected/other/' },
    { storage: media, location: '/protected/media/' },
    { storage: media, location: '/protected/never/' },
  ]

  it('takes the first rule that matches', () => {
    expect(redirectOf(inMedia('a.txt'), { rules })).toBe('/protected/media/a.txt')
    expect(redirectOf({ kind: 'storage', storage: other, key: 'a.txt' }, { rules })).toBe(
      '/protected/other/a.txt',
    )
  })

  it('offloads nothing when no rule matches', () => {
    expect(redirectOf({ kind: 'path', path: '/srv/a.txt' }, { rules })).toBeUndefined()
  })
})

describe('xAccelRedirect() plans', () => {
  const offload = xAccelRedirect({ rules: [STORAGE_RULE] })

  it('answers 200 with Content-Length 0 and no body', () => {
    const plan = offload(planAt(inMedia('nums.txt')))
    expect(plan?.status).toBe(200)
    expect(plan?.body).toBeUndefined()
    expect(plan?.headers['Content-Length']).toBe('0')
    expect(plan?.headers['Accept-Ranges']).toBeUndefined()
  })

  it('answers a 206 plan with 200: nginx makes the 206 from the client’s Range', () => {
    const planned = planAt(inMedia('nums.txt'), { range: 'bytes=2-5' })
    expect(planned.status).toBe(206)
    const plan = offload(planned)
    expect(plan?.status).toBe(200)
    expect(plan?.headers['Content-Range']).toBeUndefined()
    expect(plan?.headers['X-Accel-Redirect']).toBe('/protected/media/nums.txt')
  })

  it('keeps the validators, the disposition and the file', () => {
    const planned = planAt(inMedia('nums.txt'))
    const plan = offload(planned)
    expect(plan?.headers.ETag).toBe(`"${NUMS_SHA256}"`)
    expect(plan?.headers['Last-Modified']).toBe(MODIFIED.toUTCString())
    expect(plan?.headers['Content-Disposition']).toBe(planned.headers['Content-Disposition'])
    expect(plan?.file).toBe(planned.file)
  })

  it('does not offload a generated file (no location)', () => {
    expect(offload(planAt(undefined))).toBeUndefined()
  })

  it('does not offload a plan without a body', () => {
    expect(offload(planAt(inMedia('nums.txt'), {}, 'HEAD'))).toBeUndefined()
  })
})

describe('xAccelRedirect() through applyHandoff()', () => {
  const offloads = [xAccelRedirect({ rules: [STORAGE_RULE] })]

  it('leaves HEAD to the app', () => {
    const plan = planAt(inMedia('nums.txt'), {}, 'HEAD')
    expect(applyHandoff(plan, offloads)).toBe(plan)
  })

  it('leaves 304 to the app', () => {
    const plan = planAt(inMedia('nums.txt'), { 'if-none-match': `"${NUMS_SHA256}"` })
    expect(plan.status).toBe(304)
    expect(applyHandoff(plan, offloads)).toBe(plan)
  })

  it('leaves 416 to the app', () => {
    const plan = planAt(inMedia('nums.txt'), { range: 'bytes=100-' })
    expect(plan.status).toBe(416)
    expect(applyHandoff(plan, offloads)).toBe(plan)
  })

  it('offloads a 200', () => {
    expect(applyHandoff(planAt(inMedia('nums.txt')), offloads).headers['X-Accel-Redirect']).toBe(
      '/protected/media/nums.txt',
    )
  })
})

describe('xAccelRedirect() and the request’s preconditions', () => {
  const offload = xAccelRedirect({ rules: [STORAGE_RULE] })
  const withRequest = (headers: IncomingHttpHeaders) => {
    const request: RequestLike = { method: 'GET', headers }
    return offload(planAt(inMedia('nums.txt'), headers), request)
  }

  it('offloads a request without If-Match or If-Unmodified-Since', () => {
    expect(withRequest({ 'if-none-match': '"other"' })).toBeDefined()
  })

  it('leaves If-Match to Node: nginx would check it again and refuse it', () => {
    expect(withRequest({ 'if-match': `"${NUMS_SHA256}"` })).toBeUndefined()
  })

  it('offloads If-Match: *', () => {
    expect(withRequest({ 'if-match': ' * ' })).toBeDefined()
  })

  it('leaves If-Unmodified-Since to Node: nginx compares it with the file’s mtime', () => {
    expect(withRequest({ 'if-unmodified-since': MODIFIED.toUTCString() })).toBeUndefined()
  })
})

describe('xAccelRedirect() option "buffering"', () => {
  const header = (buffering: XAccelRedirectOptions['buffering']) =>
    xAccelRedirect({ rules: [STORAGE_RULE], buffering })(planAt(inMedia('a.txt')))?.headers[
      'X-Accel-Buffering'
    ]

  it.each([
    [true, 'yes'],
    ['yes', 'yes'],
    [false, 'no'],
    ['no', 'no'],
  ] as const)('sends %j as %s', (value, sent) => {
    expect(header(value)).toBe(sent)
  })

  it('sends nothing when absent', () => {
    expect(header(undefined)).toBeUndefined()
  })
})

describe('xAccelRedirect() option "limitRate"', () => {
  const header = (limitRate: XAccelRedirectOptions['limitRate']) =>
    xAccelRedirect({ rules: [STORAGE_RULE], limitRate })(planAt(inMedia('a.txt')))?.headers[
      'X-Accel-Limit-Rate'
    ]

  it.each([
    [1048576, '1048576'],
    [0, '0'],
    ['off', '0'],
  ] as const)('sends %j as %s', (value, sent) => {
    expect(header(value)).toBe(sent)
  })

  it('sends nothing when absent', () => {
    expect(header(undefined)).toBeUndefined()
  })
})

describe('xAccelRedirect() option "expires"', () => {
  const header = (expires: XAccelRedirectOptions['expires']) =>
    xAccelRedirect({ rules: [STORAGE_RULE], expires })(planAt(inMedia('a.txt')))?.headers['X-Accel-Expires']

  it.each([
    [3600, '3600'],
    [0, '0'],
    ['off', 'off'],
  ] as const)('sends %j as %s', (value, sent) => {
    expect(header(value)).toBe(sent)
  })

  it('sends nothing when absent', () => {
    expect(header(undefined)).toBeUndefined()
  })
})

describe('xAccelRedirect() option "charset"', () => {
  const header = (charset: string | undefined) =>
    xAccelRedirect({ rules: [STORAGE_RULE], charset })(planAt(inMedia('a.txt')))?.headers['X-Accel-Charset']

  it('sends the charset', () => {
    expect(header('utf-8')).toBe('utf-8')
  })

  it('sends nothing when absent', () => {
    expect(header(undefined)).toBeUndefined()
  })
})

describe('xAccelRedirect() option checks', () => {
  const build = (options: unknown) => () => xAccelRedirect(options as XAccelRedirectOptions)

  it.each([
    [{ buffering: 'maybe' }, "option \"buffering\" must be true, false, 'yes' or 'no'"],
    [{ buffering: 1 }, 'option "buffering"'],
    [{ limitRate: -1 }, 'option "limitRate" must be a number of bytes per second or \'off\''],
    [{ limitRate: 1.5 }, 'option "limitRate"'],
    [{ limitRate: '100' }, 'option "limitRate"'],
    [{ limitRate: Number.POSITIVE_INFINITY }, 'option "limitRate"'],
    [{ expires: -5 }, 'option "expires" must be a number of seconds or \'off\''],
    [{ expires: 'never' }, 'option "expires"'],
    [{ charset: 'utf 8' }, 'option "charset" must be a charset name'],
    [{ charset: 'utf-8\r\nX: 1' }, 'option "charset"'],
    [{ charset: '' }, 'option "charset"'],
    [{ charset: 8 }, 'option "charset"'],
    [{ limitrate: 5 }, 'unknown option "limitrate"'],
  ])('refuses %j', (extra, message) => {
    const make = build({ rules: [STORAGE_RULE], ...extra })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow(`xAccelRedirect(): ${message}`)
  })

  it.each([
    [undefined, 'options must be an object with "rules"'],
    [{}, 'option "rules" must be a non-empty array of rules'],
    [{ rules: [] }, 'option "rules" must be a non-empty array'],
    [{ rules: STORAGE_RULE }, 'option "rules" must be a non-empty array'],
    [{ rules: [null] }, 'option "rules"[0] must be an object'],
    [
      { rules: [{ storage: media }] },
      'option "rules"[0].location must be a URI path that starts and ends with "/"',
    ],
    [{ rules: [{ location: '/p/' }] }, 'option "rules"[0] must have exactly one of "storage", "root", "url"'],
    [
      { rules: [STORAGE_RULE, { root: 'rel', location: '/p/' }] },
      'option "rules"[1].root must be an absolute',
    ],
    [{ rules: [{ ...STORAGE_RULE, to: '/x' }] }, 'option "rules"[0] has an unknown key "to"'],
  ])('refuses the rules of %j', (options, message) => {
    expect(build(options)).toThrow(ConfigurationError)
    expect(build(options)).toThrow(`xAccelRedirect(): ${message}`)
  })

  it.each([
    'protected/',
    '/protected',
    '/',
    '/pro tected/',
    '/protected?x/',
    '/protected#x/',
    '/a/../b/',
    '/a/./b/',
    '/a/%2e%2E/b/',
    '/a/.%2e/b/',
    '/a/%2E/b/',
    '/a//b/',
    '/a%zz/',
    '/a\n/',
    '@named',
  ])('refuses the location %j', (location) => {
    expect(build({ rules: [{ storage: media, location }] })).toThrow('.location must be a URI path')
  })

  it.each(['/protected/', '/protected/media/', '/_files/a-b.c~d/', '/p%20q/'])(
    'accepts the location %j',
    (location) => {
      expect(build({ rules: [{ storage: media, location }] })).not.toThrow()
    },
  )
})
