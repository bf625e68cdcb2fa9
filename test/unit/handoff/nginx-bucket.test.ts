/** nginxFromBucket(): X-Accel-Redirect to the bucket through nginx, and what nginx forwards unchanged. */
import type { IncomingHttpHeaders } from 'node:http'
import { StorageFile } from '../../../src/files/storage-file'
import { applyHandoff } from '../../../src/handoff/handoff'
import { forwardsUnchanged, nginxFromBucket } from '../../../src/handoff/nginx-bucket'
import type { RespondOptions } from '../../../src/http/options'
import { type ResponsePlan, respond } from '../../../src/http/respond'
import { MODIFIED, NUMS, NUMS_SHA256 } from '../http/fixtures'
import { PresigningStorage, sdkPath } from './fixtures'

const X_ACCEL = nginxFromBucket({ location: '/_bucket/' })
let storage: PresigningStorage

beforeEach(() => {
  storage = new PresigningStorage({ name: 'bucket' })
})

/** The responder's plan for `key` (nums.txt's bytes, as a row describes them), delivered by x-accel. */
async function delivered(
  headers: IncomingHttpHeaders = {},
  options: { method?: string; key?: string; name?: string; respond?: RespondOptions } = {},
): Promise<{ plan: ResponsePlan; planned: ResponsePlan }> {
  const file = new StorageFile(storage, options.key ?? 'docs/nums.txt', {
    name: options.name ?? 'nums.txt',
    size: NUMS.length,
    sha256: NUMS_SHA256,
    modifiedAt: MODIFIED,
  })
  const planned = respond({ method: options.method ?? 'GET', headers }, file, options.respond)
  return { plan: await applyHandoff(planned, [X_ACCEL]), planned }
}

describe('nginxFromBucket()', () => {
  describe('for a 200', () => {
    it('answers an empty 200 with X-Accel-Redirect to the location, the object path and the presigned query', async () => {
      const { plan } = await delivered()
      expect(plan.status).toBe(200)
      expect(plan.body).toBeUndefined()
      expect(plan.headers['Content-Length']).toBe('0')
      expect(plan.headers['X-Accel-Redirect']).toBe(
        `/_bucket/media/docs/nums.txt?X-Amz-Expires=60&X-Amz-Signature=${'f'.repeat(64)}`,
      )
    })

    it('signs for the lifetime only: the app’s headers, not the bucket’s, name the download', async () => {
      await delivered()
      expect(storage.signed).toEqual([{ key: 'docs/nums.txt', options: { expiresIn: 60 } }])
    })

    it('keeps the app’s headers for nginx to send', async () => {
      const { plan, planned } = await delivered()
      for (const name of [
        'Content-Type',
        'Content-Disposition',
        'ETag',
        'Last-Modified',
        'Cache-Control',
        'X-Content-Type-Options',
        'Accept-Ranges',
      ])
        expect([name, plan.headers[name]]).toEqual([name, planned.headers[name]])
    })

    it('keeps the sandbox policy of active content', async () => {
      const { plan } = await delivered({}, { name: 'page.html', respond: { attachment: false } })
      expect(plan.headers['Content-Security-Policy']).toBe('sandbox')
      expect(plan.headers['Content-Disposition']).toBe('inline; filename=page.html')
    })

    it('keeps Accept-Ranges: none of a view without ranges, and asks for no range', async () => {
      const { plan } = await delivered({ range: 'bytes=2-5' }, { respond: { acceptRanges: false } })
      expect(plan.headers['Accept-Ranges']).toBe('none')
      expect(plan.headers['X-Bucket-Range']).toBeUndefined()
    })

    it('keeps the view’s extra headers', async () => {
      const { plan } = await delivered({}, { respond: { headers: { 'X-Demo': '1' } } })
      expect(plan.headers['X-Demo']).toBe('1')
    })
  })

  describe('for Range', () => {
    it('asks the bucket for the one range the app decided, as X-Bucket-Range', async () => {
      const { plan } = await delivered({ range: 'bytes=2-5' })
      expect(plan.status).toBe(200)
      expect(plan.headers['X-Bucket-Range']).toBe('bytes=2-5')
      expect(plan.headers['Content-Range']).toBeUndefined()
      expect(plan.headers['Content-Length']).toBe('0')
    })

    it('writes a suffix range out in full', async () => {
      expect((await delivered({ range: 'bytes=-3' })).plan.headers['X-Bucket-Range']).toBe('bytes=6-8')
    })

    it('asks for the whole object when If-Range is stale', async () => {
      const { plan } = await delivered({ range: 'bytes=2-5', 'if-range': '"old"' })
      expect(plan.headers['X-Accel-Redirect']).toBeDefined()
      expect(plan.headers['X-Bucket-Range']).toBeUndefined()
    })

    it('streams several ranges: the bucket serves one per request', async () => {
      const { plan, planned } = await delivered({ range: 'bytes=0-1,4-5' })
      expect(plan).toBe(planned)
      expect(storage.signed).toEqual([])
    })

    it('answers a 416 itself', async () => {
      const { plan } = await delivered({ range: 'bytes=50-' })
      expect(plan.status).toBe(416)
      expect(plan.headers['X-Accel-Redirect']).toBeUndefined()
    })
  })

  describe('for answers the app makes itself', () => {
    it.each([
      ['a matching If-None-Match', { 'if-none-match': `"${NUMS_SHA256}"` }, 304],
      ['a failed If-Match', { 'if-match': '"other"' }, 412],
    ])('answers %s with %i, signing nothing', async (_label, headers, status) => {
      const { plan } = await delivered(headers)
      expect(plan.status).toBe(status)
      expect(storage.signed).toEqual([])
    })

    it('answers HEAD itself', async () => {
      const { plan, planned } = await delivered({}, { method: 'HEAD' })
      expect(plan).toBe(planned)
      expect(plan.headers['Content-Length']).toBe('9')
      expect(storage.signed).toEqual([])
    })

    it('offloads a request whose If-Match holds: nginx does not check it again', async () => {
      const { plan } = await delivered({ 'if-match': `"${NUMS_SHA256}"` })
      expect(plan.headers['X-Accel-Redirect']).toBeDefined()
    })
  })

  describe('for the object path', () => {
    it('offloads a key with spaces and non-ASCII characters, escaped once', async () => {
      const { plan } = await delivered({}, { key: 'docs/naïve café.txt' })
      expect(plan.headers['X-Accel-Redirect']).toMatch(
        /^\/_bucket\/media\/docs\/na%C3%AFve%20caf%C3%A9\.txt\?/,
      )
    })

    it('streams a key whose escaped path nginx would change (a parenthesis), rather than break the signature', async () => {
      const { plan, planned } = await delivered({}, { key: 'docs/report (1).txt' })
      expect(plan).toBe(planned)
      expect(plan.body).toBeDefined()
    })
  })
})

describe('forwardsUnchanged()', () => {
  it.each([
    ['/media/docs/nums.txt'],
    ['/media/a%20b.txt'],
    ['/media/na%C3%AFve.txt'],
    ['/media/100%25.txt'],
    ['/media/what%3F%23.txt'],
    ['/media/a-b_c.d~e.txt'],
    [`/media/${sdkPath('document/file/4b1c7d55-60a4-4c0e-8c8d-25f1e0f4a0b2/r_sum_final_v2.txt')}`],
  ])('is true for %s', (path) => {
    expect(forwardsUnchanged(path)).toBe(true)
  })

  it.each([
    ['/media/a%28b%29.txt', 'nginx sends ( and ) unescaped'],
    ['/media/a%3Ab.txt', 'nginx sends : unescaped'],
    ['/media/a%2Bb.txt', 'nginx sends + unescaped'],
    ['/media/a%2Fb.txt', 'an escaped slash'],
    ['/media/a%2fb.txt', 'lower-case hex'],
    ['/media/%2e%2e/x.txt', 'a dot segment once unescaped'],
    ['/media/./x.txt', 'a dot segment'],
    ['/media/a%00b.txt', 'a NUL byte'],
    ['/media/a%zzb.txt', 'a broken escape'],
    ['/media/a b.txt', 'a raw space'],
    ['/media/a\r\nb.txt', 'CR LF'],
    ['media/a.txt', 'no leading slash'],
  ])('is false for %j (%s)', (path) => {
    expect(forwardsUnchanged(path)).toBe(false)
  })
})
