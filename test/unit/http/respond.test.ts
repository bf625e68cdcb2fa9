import type { IncomingHttpHeaders } from 'node:http'
import { decodeExtended, parse } from 'content-disposition'
import { ConfigurationError } from '../../../src/errors'
import { type RespondOptions, resolveRespondOptions } from '../../../src/http/options'
import {
  ALLOWED_METHODS,
  methodNotAllowed,
  planResponse,
  type ResponsePlan,
  respond,
} from '../../../src/http/respond'
import { readAll } from '../../helpers/streams'
import {
  boundaryOf,
  MemoryFile,
  type MemoryFileInit,
  MODIFIED,
  NUMS,
  NUMS_SHA256,
  parseMultipart,
} from './fixtures'

const STRONG = `"${NUMS_SHA256}"`
const WEAK = 'W/"9-18cc820d888"'
const SAME = 'Tue, 02 Jan 2024 03:04:05 GMT'
const EARLIER = 'Tue, 02 Jan 2024 03:04:04 GMT'
const LATER = 'Tue, 02 Jan 2024 03:04:06 GMT'

/** nums.txt ("123456789") with a checksum and a modification time. */
const nums = (init: MemoryFileInit = {}) =>
  new MemoryFile(NUMS, { name: 'nums.txt', sha256: NUMS_SHA256, modifiedAt: MODIFIED, ...init })

const get = (headers: IncomingHttpHeaders = {}, file = nums(), options: RespondOptions = {}) =>
  respond({ method: 'GET', headers }, file, options)

const head = (headers: IncomingHttpHeaders = {}, file = nums(), options: RespondOptions = {}) =>
  respond({ method: 'HEAD', headers }, file, options)

/** The body of `plan` as a string; fails when the plan has none. */
async function bodyOf(plan: ResponsePlan): Promise<string> {
  if (!plan.body) throw new Error(`the ${plan.status} plan has no body`)
  return (await readAll(await plan.body())).toString('latin1')
}

const disposition = (plan: ResponsePlan) => parse(plan.headers['Content-Disposition'] ?? '')

describe('respond() with GET', () => {
  it('answers 200', () => {
    expect(get().status).toBe(200)
  })

  it('sends the whole file', async () => {
    expect(await bodyOf(get())).toBe('123456789')
  })

  it('sends the Content-Length', () => {
    expect(get().headers['Content-Length']).toBe('9')
  })

  it('does not open the file before the body is asked for', () => {
    const file = nums()
    get({}, file)
    expect(file.openCount).toBe(0)
  })

  it('opens exactly the announced bytes', async () => {
    const file = nums()
    await bodyOf(get({}, file))
    expect(file.opens).toEqual([{ start: 0, end: 8 }])
  })

  it('reads no more than the size in the metadata when the file has grown', async () => {
    expect(await bodyOf(get({}, nums({ size: 5 })))).toBe('12345')
  })

  it('carries the file in the plan', () => {
    const file = nums()
    expect(get({}, file).file).toBe(file)
  })

  it('is the default method', () => {
    expect(respond({ headers: {} }, nums()).headers['Content-Length']).toBe('9')
  })
})

describe('respond() with HEAD', () => {
  it('answers 200', () => {
    expect(head().status).toBe(200)
  })

  it("sends GET's headers", () => {
    expect(head().headers).toEqual(get().headers)
  })

  it("sends GET's Content-Length", () => {
    expect(head().headers['Content-Length']).toBe('9')
  })

  it("sends GET's ETag", () => {
    expect(head().headers.ETag).toBe(STRONG)
  })

  it('has no body', () => {
    expect(head().body).toBeUndefined()
  })

  it('never opens the file', () => {
    const file = nums()
    head({}, file)
    expect(file.openCount).toBe(0)
  })

  describe('with Range', () => {
    it('answers 200', () => {
      expect(head({ range: 'bytes=2-5' }).status).toBe(200)
    })

    it('announces the whole length, without Content-Range', () => {
      expect(head({ range: 'bytes=2-5' }).headers).toEqual(get().headers)
    })
  })
})

describe('respond() with another method', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get'])('answers 405 to %s', (method) => {
    expect(respond({ method, headers: {} }, nums()).status).toBe(405)
  })

  it('sends Allow: GET, HEAD', () => {
    expect(respond({ method: 'POST', headers: {} }, nums()).headers.Allow).toBe('GET, HEAD')
  })

  it('has no body', () => {
    expect(respond({ method: 'POST', headers: {} }, nums()).body).toBeUndefined()
  })

  it('sends Content-Length: 0', () => {
    expect(respond({ method: 'POST', headers: {} }, nums()).headers['Content-Length']).toBe('0')
  })

  it('never opens the file', () => {
    const file = nums()
    respond({ method: 'DELETE', headers: {} }, file)
    expect(file.openCount).toBe(0)
  })

  it('is the plan of methodNotAllowed()', () => {
    expect(respond({ method: 'PUT', headers: {} }, nums())).toEqual(methodNotAllowed())
  })

  it('uses ALLOWED_METHODS', () => {
    expect(ALLOWED_METHODS).toBe('GET, HEAD')
  })
})

describe('respond() validators', () => {
  describe('with a SHA-256', () => {
    it('sends a strong ETag of it', () => {
      expect(get().headers.ETag).toBe(STRONG)
    })
  })

  describe('without a checksum', () => {
    it('sends a weak ETag from size and modification time', () => {
      expect(get({}, nums({ sha256: undefined })).headers.ETag).toBe(WEAK)
    })
  })

  describe('with an explicit etag', () => {
    it('sends it over the derived one', () => {
      expect(get({}, nums({ etag: '"v2"' })).headers.ETag).toBe('"v2"')
    })

    it('drops it when it holds CR/LF', () => {
      expect(get({}, nums({ etag: '"v2"\r\nSet-Cookie: a=b' })).headers.ETag).toBe(STRONG)
    })
  })

  describe('with nothing that identifies the content', () => {
    it('sends no ETag', () => {
      expect(get({}, nums({ sha256: undefined, modifiedAt: undefined })).headers).not.toHaveProperty('ETag')
    })
  })

  describe('with a modification time', () => {
    it('sends Last-Modified as an IMF-fixdate', () => {
      expect(get().headers['Last-Modified']).toBe(SAME)
    })
  })

  describe('without a modification time', () => {
    it('sends no Last-Modified', () => {
      expect(get({}, nums({ modifiedAt: undefined })).headers).not.toHaveProperty('Last-Modified')
    })
  })

  describe('with an invalid modification time', () => {
    it('sends no Last-Modified', () => {
      expect(get({}, nums({ modifiedAt: new Date(Number.NaN) })).headers).not.toHaveProperty('Last-Modified')
    })
  })
})

describe('respond() with If-Match', () => {
  describe('when the strong tag matches', () => {
    it('answers 200', () => {
      expect(get({ 'if-match': STRONG }).status).toBe(200)
    })
  })

  describe('when one tag of a list matches', () => {
    it('answers 200', () => {
      expect(get({ 'if-match': `"x", ${STRONG}` }).status).toBe(200)
    })
  })

  describe('with *', () => {
    it('answers 200', () => {
      expect(get({ 'if-match': '*' }).status).toBe(200)
    })
  })

  describe('when the tag differs', () => {
    const plan = () => get({ 'if-match': '"other"' })

    it('answers 412', () => {
      expect(plan().status).toBe(412)
    })

    it('has no body', () => {
      expect(plan().body).toBeUndefined()
    })

    it('sends Content-Length: 0', () => {
      expect(plan().headers['Content-Length']).toBe('0')
    })

    it('still sends the ETag', () => {
      expect(plan().headers.ETag).toBe(STRONG)
    })

    it('never opens the file', () => {
      const file = nums()
      get({ 'if-match': '"other"' }, file)
      expect(file.openCount).toBe(0)
    })
  })

  describe('with a weak tag', () => {
    it('answers 412, even when the file has the same weak tag', () => {
      expect(get({ 'if-match': WEAK }, nums({ sha256: undefined })).status).toBe(412)
    })
  })

  describe('with a failing If-Match and a Range', () => {
    it('answers 412', () => {
      expect(get({ 'if-match': '"other"', range: 'bytes=0-1' }).status).toBe(412)
    })
  })
})

describe('respond() with If-Unmodified-Since', () => {
  describe('when modified since', () => {
    it('answers 412', () => {
      expect(get({ 'if-unmodified-since': EARLIER }).status).toBe(412)
    })
  })

  describe('when not modified since', () => {
    it('answers 200', () => {
      expect(get({ 'if-unmodified-since': SAME }).status).toBe(200)
    })
  })

  describe('with If-Match present', () => {
    it('is ignored', () => {
      expect(get({ 'if-match': STRONG, 'if-unmodified-since': EARLIER }).status).toBe(200)
    })
  })

  describe('with an invalid date', () => {
    it('is ignored', () => {
      expect(get({ 'if-unmodified-since': 'not a date' }).status).toBe(200)
    })
  })
})

describe('respond() with If-None-Match', () => {
  describe('when the tag matches', () => {
    const plan = () => get({ 'if-none-match': STRONG })

    it('answers 304', () => {
      expect(plan().status).toBe(304)
    })

    it('has no body', () => {
      expect(plan().body).toBeUndefined()
    })

    it('keeps the ETag', () => {
      expect(plan().headers.ETag).toBe(STRONG)
    })

    it('keeps Last-Modified', () => {
      expect(plan().headers['Last-Modified']).toBe(SAME)
    })

    it('keeps Cache-Control', () => {
      expect(plan().headers['Cache-Control']).toBe('private, no-cache')
    })

    it('sends no Content-Length', () => {
      expect(plan().headers).not.toHaveProperty('Content-Length')
    })

    it('never opens the file', () => {
      const file = nums()
      get({ 'if-none-match': STRONG }, file)
      expect(file.openCount).toBe(0)
    })
  })

  describe('with a weak tag of the same opaque part', () => {
    it('answers 304 (weak comparison)', () => {
      expect(get({ 'if-none-match': `W/${STRONG}` }).status).toBe(304)
    })
  })

  describe('when the file has a weak tag', () => {
    it('answers 304 when it matches', () => {
      expect(get({ 'if-none-match': WEAK }, nums({ sha256: undefined })).status).toBe(304)
    })
  })

  describe('when one tag of a list matches', () => {
    it('answers 304', () => {
      expect(get({ 'if-none-match': `"a", ${STRONG}, "b"` }).status).toBe(304)
    })
  })

  describe('with *', () => {
    it('answers 304', () => {
      expect(get({ 'if-none-match': '*' }).status).toBe(304)
    })
  })

  describe('when no tag matches', () => {
    it('answers 200', () => {
      expect(get({ 'if-none-match': '"a", "b"' }).status).toBe(200)
    })
  })

  describe('with If-Modified-Since', () => {
    it('takes precedence over it', () => {
      expect(get({ 'if-none-match': '"other"', 'if-modified-since': LATER }).status).toBe(200)
    })
  })

  describe('with HEAD', () => {
    it('answers 304', () => {
      expect(head({ 'if-none-match': STRONG }).status).toBe(304)
    })
  })

  describe('with a Range', () => {
    it('answers 304 before looking at the Range', () => {
      expect(get({ 'if-none-match': STRONG, range: 'bytes=0-1' }).status).toBe(304)
    })
  })
})

describe('respond() with If-Modified-Since', () => {
  describe('for the same second as Last-Modified', () => {
    it('answers 304', () => {
      expect(get({ 'if-modified-since': SAME }).status).toBe(304)
    })
  })

  describe('when Last-Modified has milliseconds', () => {
    it('compares whole seconds and answers 304', () => {
      const file = nums({ modifiedAt: new Date(MODIFIED.getTime() + 999) })
      expect(get({ 'if-modified-since': SAME }, file).status).toBe(304)
    })
  })

  describe('for a later date', () => {
    it('answers 304', () => {
      expect(get({ 'if-modified-since': LATER }).status).toBe(304)
    })
  })

  describe('when modified since', () => {
    it('answers 200', () => {
      expect(get({ 'if-modified-since': EARLIER }).status).toBe(200)
    })
  })

  describe('with an invalid date', () => {
    it('is ignored', () => {
      expect(get({ 'if-modified-since': 'garbage' }).status).toBe(200)
    })
  })
})

describe('respond() with a failing precondition and a matching validator', () => {
  it('answers 412 before 304', () => {
    expect(get({ 'if-match': '"other"', 'if-none-match': STRONG }).status).toBe(412)
  })
})

describe('respond() with Range', () => {
  describe('with first-last', () => {
    const plan = () => get({ range: 'bytes=2-5' })

    it('answers 206', () => {
      expect(plan().status).toBe(206)
    })

    it('sends Content-Range', () => {
      expect(plan().headers['Content-Range']).toBe('bytes 2-5/9')
    })

    it('sends the length of the range', () => {
      expect(plan().headers['Content-Length']).toBe('4')
    })

    it('sends the bytes of the range', async () => {
      expect(await bodyOf(plan())).toBe('3456')
    })

    it('opens only the range', async () => {
      const file = nums()
      await bodyOf(get({ range: 'bytes=2-5' }, file))
      expect(file.opens).toEqual([{ start: 2, end: 5 }])
    })

    it('carries the range in the plan', () => {
      expect(plan().ranges).toEqual([{ start: 2, end: 5 }])
    })

    it('keeps the Content-Type of the file', () => {
      expect(plan().headers['Content-Type']).toBe('text/plain; charset=utf-8')
    })
  })

  describe('with first-', () => {
    it('sends the rest of the file', async () => {
      const plan = get({ range: 'bytes=6-' })
      expect([plan.headers['Content-Range'], await bodyOf(plan)]).toEqual(['bytes 6-8/9', '789'])
    })
  })

  describe('with -suffix', () => {
    it('sends the last bytes', async () => {
      const plan = get({ range: 'bytes=-2' })
      expect([plan.headers['Content-Range'], await bodyOf(plan)]).toEqual(['bytes 7-8/9', '89'])
    })
  })

  describe('with a last position beyond the end', () => {
    it('clamps it to the last byte', async () => {
      const plan = get({ range: 'bytes=5-100' })
      expect([plan.headers['Content-Range'], plan.headers['Content-Length'], await bodyOf(plan)]).toEqual([
        'bytes 5-8/9',
        '4',
        '6789',
      ])
    })
  })

  describe('with the unit in upper case', () => {
    it('answers 206', () => {
      expect(get({ range: 'BYTES=2-5' }).status).toBe(206)
    })
  })

  describe('with several ranges', () => {
    const plan = () => get({ range: 'bytes=0-1,4-5,8-' })

    it('answers 206', () => {
      expect(plan().status).toBe(206)
    })

    it('sends multipart/byteranges', () => {
      expect(plan().headers['Content-Type']).toMatch(/^multipart\/byteranges; boundary=\S+$/)
    })

    it('sends no Content-Range on the whole response', () => {
      expect(plan().headers).not.toHaveProperty('Content-Range')
    })

    it('sends the exact Content-Length of the body', async () => {
      const multipart = plan()
      const bytes = Buffer.from(await bodyOf(multipart), 'latin1')
      expect(multipart.headers['Content-Length']).toBe(String(bytes.length))
    })

    it('sends parts that parse back to the ranges', async () => {
      const multipart = plan()
      const parts = parseMultipart(
        Buffer.from(await bodyOf(multipart), 'latin1'),
        boundaryOf(multipart.headers['Content-Type']),
      )
      expect(parts.map((part) => [part.headers['content-range'], part.body.toString()])).toEqual([
        ['bytes 0-1/9', '12'],
        ['bytes 4-5/9', '56'],
        ['bytes 8-8/9', '9'],
      ])
    })

    it("gives each part the file's Content-Type", async () => {
      const multipart = plan()
      const parts = parseMultipart(
        Buffer.from(await bodyOf(multipart), 'latin1'),
        boundaryOf(multipart.headers['Content-Type']),
      )
      expect(parts.map((part) => part.headers['content-type'])).toEqual([
        'text/plain; charset=utf-8',
        'text/plain; charset=utf-8',
        'text/plain; charset=utf-8',
      ])
    })

    it('carries the ranges in the plan, ascending', () => {
      expect(get({ range: 'bytes=8-,0-1' }).ranges).toEqual([
        { start: 0, end: 1 },
        { start: 8, end: 8 },
      ])
    })
  })

  describe('with ranges that merge into one', () => {
    const plan = () => get({ range: 'bytes=0-3,2-5' })

    it('answers a single-range 206', () => {
      expect(plan().headers['Content-Range']).toBe('bytes 0-5/9')
    })

    it('keeps the Content-Type of the file', () => {
      expect(plan().headers['Content-Type']).toBe('text/plain; charset=utf-8')
    })

    it('sends the merged bytes', async () => {
      expect(await bodyOf(plan())).toBe('123456')
    })
  })

  describe('with adjacent ranges', () => {
    it('merges them into one', () => {
      expect(get({ range: 'bytes=0-1,2-3' }).headers['Content-Range']).toBe('bytes 0-3/9')
    })
  })

  describe('with more ranges than maxRanges', () => {
    const plan = () => get({ range: 'bytes=0-0,2-2,4-4' }, nums(), { maxRanges: 2 })

    it('answers 200', () => {
      expect(plan().status).toBe(200)
    })

    it('sends the whole file', async () => {
      expect(await bodyOf(plan())).toBe('123456789')
    })
  })

  describe('with exactly maxRanges ranges', () => {
    it('answers 206', () => {
      expect(get({ range: 'bytes=0-0,2-2' }, nums(), { maxRanges: 2 }).status).toBe(206)
    })
  })

  describe('when unsatisfiable', () => {
    const plan = () => get({ range: 'bytes=9-' })

    it('answers 416', () => {
      expect(plan().status).toBe(416)
    })

    it('sends Content-Range: bytes */size', () => {
      expect(plan().headers['Content-Range']).toBe('bytes */9')
    })

    it('has no body', () => {
      expect(plan().body).toBeUndefined()
    })

    it('sends Content-Length: 0', () => {
      expect(plan().headers['Content-Length']).toBe('0')
    })

    it('never opens the file', () => {
      const file = nums()
      get({ range: 'bytes=20-30' }, file)
      expect(file.openCount).toBe(0)
    })
  })

  describe('when malformed', () => {
    it.each(['bytes=5-2', 'bytes=x-1', 'bytes=1x-2', 'bytes=', 'bytes=-', 'bytes 0-1', '0-1'])(
      'ignores %s and answers 200',
      (range) => {
        expect(get({ range }).status).toBe(200)
      },
    )

    it('sends the whole file', async () => {
      expect(await bodyOf(get({ range: 'bytes=5-2' }))).toBe('123456789')
    })
  })

  describe('with another unit', () => {
    it('ignores it and answers 200', () => {
      expect(get({ range: 'items=0-1' }).status).toBe(200)
    })
  })

  describe('when If-Range holds the current strong ETag', () => {
    it('answers 206', () => {
      expect(get({ range: 'bytes=2-5', 'if-range': STRONG }).status).toBe(206)
    })
  })

  describe('when If-Range is stale', () => {
    const plan = () => get({ range: 'bytes=2-5', 'if-range': '"old"' })

    it('answers 200', () => {
      expect(plan().status).toBe(200)
    })

    it('returns the full body', async () => {
      expect(await bodyOf(plan())).toBe('123456789')
    })
  })

  describe('when If-Range holds a weak ETag', () => {
    it('answers 200 even if it is current', () => {
      expect(get({ range: 'bytes=2-5', 'if-range': WEAK }, nums({ sha256: undefined })).status).toBe(200)
    })
  })

  describe('when If-Range holds Last-Modified exactly', () => {
    it('answers 206', () => {
      expect(get({ range: 'bytes=2-5', 'if-range': SAME }).status).toBe(206)
    })
  })

  describe('when If-Range holds another date', () => {
    it('answers 200', () => {
      expect(get({ range: 'bytes=2-5', 'if-range': LATER }).status).toBe(200)
    })
  })

  describe('when the file is empty', () => {
    const empty = () => new MemoryFile(Buffer.alloc(0), { name: 'empty.txt', modifiedAt: MODIFIED })

    it('answers 200 with Content-Length: 0 without a Range', async () => {
      const plan = get({}, empty())
      expect([plan.status, plan.headers['Content-Length'], await bodyOf(plan)]).toEqual([200, '0', ''])
    })

    it('answers 416 with bytes */0 for bytes=0-', () => {
      const plan = get({ range: 'bytes=0-' }, empty())
      expect([plan.status, plan.headers['Content-Range']]).toEqual([416, 'bytes */0'])
    })

    it('answers 200 with an empty body for a suffix', async () => {
      const plan = get({ range: 'bytes=-5' }, empty())
      expect([plan.status, await bodyOf(plan)]).toEqual([200, ''])
    })

    it('still accepts ranges', () => {
      expect(get({}, empty()).headers['Accept-Ranges']).toBe('bytes')
    })
  })

  describe('when the size is unknown', () => {
    const unknown = () => nums({ size: null })

    it('sends no Content-Length', () => {
      expect(get({}, unknown()).headers).not.toHaveProperty('Content-Length')
    })

    it('sends Accept-Ranges: none', () => {
      expect(get({}, unknown()).headers['Accept-Ranges']).toBe('none')
    })

    it('ignores the Range', () => {
      expect(get({ range: 'bytes=2-5' }, unknown()).status).toBe(200)
    })

    it('streams the whole file', async () => {
      const file = unknown()
      expect([await bodyOf(get({ range: 'bytes=2-5' }, file)), file.opens]).toEqual([
        '123456789',
        [undefined],
      ])
    })

    it('has no body for HEAD', () => {
      expect(head({}, unknown()).body).toBeUndefined()
    })
  })

  describe('when the size is not a valid byte count', () => {
    it.each([-1, 1.5, Number.NaN])('treats %s as unknown', (size) => {
      expect(get({}, nums({ size })).headers).not.toHaveProperty('Content-Length')
    })
  })
})

describe('respond() option acceptRanges', () => {
  describe('when true (the default)', () => {
    it('sends Accept-Ranges: bytes', () => {
      expect(get().headers['Accept-Ranges']).toBe('bytes')
    })

    it('sends Accept-Ranges: bytes on a 206', () => {
      expect(get({ range: 'bytes=0-1' }).headers['Accept-Ranges']).toBe('bytes')
    })
  })

  describe('when false', () => {
    const plan = () => get({ range: 'bytes=2-5' }, nums(), { acceptRanges: false })

    it('sends Accept-Ranges: none', () => {
      expect(plan().headers['Accept-Ranges']).toBe('none')
    })

    it('ignores the Range', () => {
      expect(plan().status).toBe(200)
    })

    it('sends the whole file', async () => {
      expect(await bodyOf(plan())).toBe('123456789')
    })
  })
})

describe('respond() option maxRanges', () => {
  it('defaults to 16', () => {
    const ranges = Array.from({ length: 16 }, (_, i) => `${i * 2}-${i * 2}`).join(',')
    const file = new MemoryFile(Buffer.alloc(64), { name: 'a.bin' })
    expect(get({ range: `bytes=${ranges}` }, file).status).toBe(206)
  })

  it('sends the whole file beyond 16 by default', () => {
    const ranges = Array.from({ length: 17 }, (_, i) => `${i * 2}-${i * 2}`).join(',')
    const file = new MemoryFile(Buffer.alloc(64), { name: 'a.bin' })
    expect(get({ range: `bytes=${ranges}` }, file).status).toBe(200)
  })
})

describe('respond() Content-Disposition', () => {
  describe('by default', () => {
    it('is attachment', () => {
      expect(disposition(get()).type).toBe('attachment')
    })

    it('names the file', () => {
      expect(disposition(get()).parameters.filename).toBe('nums.txt')
    })
  })

  describe('with attachment: false', () => {
    const plan = () => get({}, nums(), { attachment: false })

    it('is inline', () => {
      expect(disposition(plan()).type).toBe('inline')
    })

    it('still names the file', () => {
      expect(disposition(plan()).parameters.filename).toBe('nums.txt')
    })
  })

  describe('with attachment: true', () => {
    it('is attachment', () => {
      expect(disposition(get({}, nums(), { attachment: true })).type).toBe('attachment')
    })
  })

  describe('with a name that is not ASCII', () => {
    const name = 'résumé "final", v2.txt'
    const header = () => get({}, nums({ name })).headers['Content-Disposition'] ?? ''

    it('sends an ASCII filename', () => {
      expect(parse(header(), { extended: false }).parameters.filename).toBe('resume _final_, v2.txt')
    })

    it('sends a filename* that decodes back to the name', () => {
      expect(decodeExtended(parse(header(), { extended: false }).parameters['filename*'] ?? '')).toBe(name)
    })
  })

  describe('with a path for a name', () => {
    it('sends the basename only', () => {
      expect(disposition(get({}, nums({ name: '../../etc/passwd' }))).parameters.filename).toBe('passwd')
    })
  })

  describe('with a name of dots only', () => {
    it('sends a non-empty fallback', () => {
      expect(disposition(get({}, nums({ name: '..' }))).parameters.filename).toBe('download')
    })
  })

  describe('on a 206', () => {
    it('is sent too', () => {
      expect(disposition(get({ range: 'bytes=0-1' })).parameters.filename).toBe('nums.txt')
    })
  })
})

describe('respond() Content-Type', () => {
  it('comes from the metadata', () => {
    expect(get({}, nums({ contentType: 'image/png' })).headers['Content-Type']).toBe('image/png')
  })

  it('comes from the name without metadata', () => {
    expect(get({}, nums({ name: 'photo.png' })).headers['Content-Type']).toBe('image/png')
  })

  it('has charset=utf-8 for a text type', () => {
    expect(get().headers['Content-Type']).toBe('text/plain; charset=utf-8')
  })

  it('is application/octet-stream for an unknown name', () => {
    expect(get({}, nums({ name: 'data' })).headers['Content-Type']).toBe('application/octet-stream')
  })

  it('falls back to the name for an unsafe explicit type', () => {
    expect(
      get({}, nums({ name: 'photo.png', contentType: 'text/html\r\nX: y' })).headers['Content-Type'],
    ).toBe('image/png')
  })

  describe('X-Content-Type-Options', () => {
    it('is nosniff on a 200', () => {
      expect(get().headers['X-Content-Type-Options']).toBe('nosniff')
    })

    it('is nosniff on a 206', () => {
      expect(get({ range: 'bytes=0-1,3-4' }).headers['X-Content-Type-Options']).toBe('nosniff')
    })

    it('is nosniff on HEAD', () => {
      expect(head().headers['X-Content-Type-Options']).toBe('nosniff')
    })
  })
})

describe('respond() with active content', () => {
  describe.each([
    ['HTML', 'page.html'],
    ['SVG', 'image.svg'],
    ['XML', 'data.xml'],
    ['JavaScript', 'script.js'],
  ])('for %s', (_label, name) => {
    it('sends Content-Security-Policy: sandbox inline', () => {
      const plan = get({}, nums({ name }), { attachment: false })
      expect(plan.headers['Content-Security-Policy']).toBe('sandbox')
    })

    it('sends Content-Security-Policy: sandbox as an attachment', () => {
      const plan = get({}, nums({ name }), { attachment: true })
      expect(plan.headers['Content-Security-Policy']).toBe('sandbox')
    })
  })

  describe('for an explicit active type', () => {
    it('sends Content-Security-Policy: sandbox', () => {
      const plan = get({}, nums({ contentType: 'image/svg+xml' }))
      expect(plan.headers['Content-Security-Policy']).toBe('sandbox')
    })
  })

  describe('for text/plain', () => {
    it('sends no Content-Security-Policy', () => {
      expect(get().headers).not.toHaveProperty('Content-Security-Policy')
    })
  })

  describe("with activeContent: 'sandbox' (the default)", () => {
    it('serves HTML inline when asked to', () => {
      const plan = get({}, nums({ name: 'page.html' }), { attachment: false, activeContent: 'sandbox' })
      expect(disposition(plan).type).toBe('inline')
    })
  })

  describe("with activeContent: 'attachment'", () => {
    const options: RespondOptions = { attachment: false, activeContent: 'attachment' }

    it('forces HTML to be an attachment', () => {
      expect(disposition(get({}, nums({ name: 'page.html' }), options)).type).toBe('attachment')
    })

    it('forces SVG to be an attachment', () => {
      expect(disposition(get({}, nums({ name: 'image.svg' }), options)).type).toBe('attachment')
    })

    it('keeps the sandbox policy', () => {
      expect(get({}, nums({ name: 'page.html' }), options).headers['Content-Security-Policy']).toBe('sandbox')
    })

    it('leaves text/plain inline', () => {
      expect(disposition(get({}, nums(), options)).type).toBe('inline')
    })
  })
})

describe('respond() option cacheControl', () => {
  it("defaults to 'private, no-cache': no shared cache, and the browser revalidates each reuse", () => {
    expect(get().headers['Cache-Control']).toBe('private, no-cache')
  })

  it('sends the default on a 304 too, which is what revalidation gets', () => {
    expect(get({ 'if-none-match': STRONG }).status).toBe(304)
    expect(get({ 'if-none-match': STRONG }).headers['Cache-Control']).toBe('private, no-cache')
  })

  it('sends a custom value', () => {
    expect(get({}, nums(), { cacheControl: 'public, max-age=60' }).headers['Cache-Control']).toBe(
      'public, max-age=60',
    )
  })

  it('sends none when false', () => {
    expect(get({}, nums(), { cacheControl: false }).headers).not.toHaveProperty('Cache-Control')
  })

  it('sends none on a 304 when false', () => {
    const plan = get({ 'if-none-match': STRONG }, nums(), { cacheControl: false })
    expect(plan.headers).not.toHaveProperty('Cache-Control')
  })

  it('sends the custom value on a 304', () => {
    const plan = get({ 'if-none-match': STRONG }, nums(), { cacheControl: 'no-cache' })
    expect(plan.headers['Cache-Control']).toBe('no-cache')
  })
})

describe('respond() option headers', () => {
  const options: RespondOptions = { headers: { 'X-Frame-Options': 'DENY' } }

  it('adds them to a 200', () => {
    expect(get({}, nums(), options).headers['X-Frame-Options']).toBe('DENY')
  })

  it('adds them to a 206', () => {
    expect(get({ range: 'bytes=0-1' }, nums(), options).headers['X-Frame-Options']).toBe('DENY')
  })

  it('adds them to a 304', () => {
    expect(get({ 'if-none-match': STRONG }, nums(), options).headers['X-Frame-Options']).toBe('DENY')
  })

  it('adds nothing by default', () => {
    expect(get().headers).not.toHaveProperty('X-Frame-Options')
  })

  it('cannot replace a header the responder sets', () => {
    expect(get({}, nums(), { headers: { 'Content-Type': 'text/html' } }).headers['Content-Type']).toBe(
      'text/plain; charset=utf-8',
    )
  })

  it('cannot replace a header the responder sets, whatever the case of its name', () => {
    const plan = get({}, nums(), { headers: { 'content-type': 'text/html' } })
    expect(Object.keys(plan.headers).filter((name) => name.toLowerCase() === 'content-type')).toEqual([
      'Content-Type',
    ])
  })

  it.each(['content-length', 'Content-Range', 'Transfer-Encoding', 'connection'])(
    'refuses the framing header %s with a ConfigurationError',
    (name) => {
      expect(() => get({ range: 'bytes=0-1' }, nums(), { headers: { [name]: '99' } })).toThrow(
        new RegExp(`option "headers" may not set "${name}"`),
      )
    },
  )

  it('keeps a header the responder does not set for this file', () => {
    const plan = get({}, nums(), { headers: { 'content-security-policy': "default-src 'none'" } })
    expect(plan.headers['content-security-policy']).toBe("default-src 'none'")
  })

  it('gives way to the sandbox policy of active content', () => {
    const plan = get({}, nums({ name: 'page.html' }), {
      headers: { 'content-security-policy': "default-src 'none'" },
    })
    expect(Object.entries(plan.headers).filter(([name]) => /^content-security-policy$/i.test(name))).toEqual([
      ['Content-Security-Policy', 'sandbox'],
    ])
  })

  it('are not added to a 405', () => {
    expect(respond({ method: 'POST', headers: {} }, nums(), options).headers).not.toHaveProperty(
      'X-Frame-Options',
    )
  })
})

describe('respond() options', () => {
  describe('when invalid', () => {
    it('throws a ConfigurationError naming the option', () => {
      expect(() => get({}, nums(), { maxRanges: 0 })).toThrow(/^respond\(\): option "maxRanges"/)
    })

    it('throws a ConfigurationError', () => {
      expect(() => get({}, nums(), { cacheControl: 'a\r\nb' })).toThrow(ConfigurationError)
    })
  })

  describe('when resolved once and planned with planResponse()', () => {
    it('gives the same plan as the raw options', () => {
      const raw: RespondOptions = { attachment: false, cacheControl: 'no-store', maxRanges: 1 }
      const prepared = resolveRespondOptions(raw, 'TestView')
      expect(
        planResponse({ method: 'GET', headers: { range: 'bytes=0-1' } }, nums(), prepared).headers,
      ).toEqual(get({ range: 'bytes=0-1' }, nums(), raw).headers)
    })

    it('throws for invalid options, naming the owner', () => {
      expect(() => resolveRespondOptions({ maxRanges: -1 }, 'TestView')).toThrow(
        /^TestView: option "maxRanges"/,
      )
    })
  })
})

describe('respond() Repr-Digest', () => {
  const DIGEST = `sha-256=:${Buffer.from(NUMS_SHA256, 'hex').toString('base64')}:`

  describe('for a file with a SHA-256', () => {
    it('sends the digest on a 200', () => {
      expect(get().headers['Repr-Digest']).toBe(DIGEST)
    })

    it("sends the whole file's digest on a 206, not the range's", () => {
      const plan = get({ range: 'bytes=2-5' })
      expect(plan.status).toBe(206)
      expect(plan.headers['Repr-Digest']).toBe(DIGEST)
    })

    it('sends it on a multipart 206', () => {
      const plan = get({ range: 'bytes=0-0,4-5' })
      expect(plan.headers['Content-Type']).toMatch(/^multipart\/byteranges/)
      expect(plan.headers['Repr-Digest']).toBe(DIGEST)
    })

    it('sends it on HEAD', () => {
      expect(head().headers['Repr-Digest']).toBe(DIGEST)
    })

    it('sends it for a file of unknown size', () => {
      expect(get({}, nums({ size: null })).headers['Repr-Digest']).toBe(DIGEST)
    })

    it('does not send it on a 304, a 412 or a 416', () => {
      expect(get({ 'if-none-match': STRONG }).headers['Repr-Digest']).toBeUndefined()
      expect(get({ 'if-match': '"other"' }).headers['Repr-Digest']).toBeUndefined()
      const unsatisfiable = get({ range: 'bytes=100-200' })
      expect(unsatisfiable.status).toBe(416)
      expect(unsatisfiable.headers['Repr-Digest']).toBeUndefined()
    })

    it('wins over a Repr-Digest of the headers option', () => {
      const plan = get({}, nums(), { headers: { 'repr-digest': 'sha-256=:AAAA:' } })
      expect(plan.headers['Repr-Digest']).toBe(DIGEST)
      expect(plan.headers['repr-digest']).toBeUndefined()
    })
  })

  describe('with Want-Repr-Digest', () => {
    it('sends sha-256 when the client ranks it', () => {
      expect(get({ 'want-repr-digest': 'sha-256=3, sha-512=0' }).headers['Repr-Digest']).toBe(DIGEST)
    })

    it('sends nothing when the client finds sha-256 not acceptable', () => {
      expect(get({ 'want-repr-digest': 'sha-256=0, sha-512=3' }).headers['Repr-Digest']).toBeUndefined()
    })
  })

  describe('for a file without a SHA-256', () => {
    it('sends none: nothing is hashed', () => {
      const file = nums({ sha256: undefined })
      const plan = get({}, file)
      expect(plan.headers['Repr-Digest']).toBeUndefined()
      expect(file.opens).toEqual([])
    })
  })
})
