/** redirectToBucket(): the plans it makes of the responder's, and what it signs. */
import type { IncomingHttpHeaders } from 'node:http'
import { StorageFile } from '../../../src/files/storage-file'
import { redirectToBucket } from '../../../src/handoff/bucket-redirect'
import { applyHandoff, type Handoff } from '../../../src/handoff/handoff'
import { contentDisposition } from '../../../src/http/disposition'
import type { RespondOptions } from '../../../src/http/options'
import { type ResponsePlan, respond } from '../../../src/http/respond'
import { MODIFIED, NUMS, NUMS_SHA256 } from '../http/fixtures'
import { BUCKET_URL, PresigningStorage } from './fixtures'

const REDIRECT = redirectToBucket()
let storage: PresigningStorage

beforeEach(async () => {
  storage = new PresigningStorage({ name: 'bucket' })
  await storage.save('docs/nums.txt', NUMS)
})

/** nums.txt in the bucket, as a row describes it: name, size, checksum, date. */
function numsFile(name = 'nums.txt', contentType?: string): StorageFile {
  return new StorageFile(storage, 'docs/nums.txt', {
    name,
    size: NUMS.length,
    sha256: NUMS_SHA256,
    modifiedAt: MODIFIED,
    contentType,
  })
}

/** The responder's plan for a request, handed off by `handoff`. */
async function delivered(
  headers: IncomingHttpHeaders = {},
  options: { method?: string; file?: StorageFile; respond?: RespondOptions; handoff?: Handoff } = {},
): Promise<{ plan: ResponsePlan; planned: ResponsePlan }> {
  const planned = respond(
    { method: options.method ?? 'GET', headers },
    options.file ?? numsFile(),
    options.respond,
  )
  const plan = await applyHandoff(planned, [options.handoff ?? REDIRECT], undefined, {
    headers: options.respond?.headers,
  })
  return { plan, planned }
}

describe('redirectToBucket()', () => {
  describe('for a 200', () => {
    it('answers 302 with the presigned URL as Location, and no body', async () => {
      const { plan } = await delivered()
      expect(plan.status).toBe(302)
      expect(plan.headers.Location).toMatch(new RegExp(`^${BUCKET_URL}/docs/nums\\.txt\\?X-Amz-Expires=300&`))
      expect(plan.headers['Content-Length']).toBe('0')
      expect(plan.body).toBeUndefined()
    })

    it('signs the URL for the lifetime, with the Content-Disposition and Content-Type of the plan', async () => {
      const { planned } = await delivered()
      expect(storage.signed).toEqual([
        {
          key: 'docs/nums.txt',
          options: {
            expiresIn: 300,
            contentDisposition: planned.headers['Content-Disposition'],
            contentType: planned.headers['Content-Type'],
          },
        },
      ])
      expect(planned.headers['Content-Disposition']).toBe('attachment; filename=nums.txt')
      expect(planned.headers['Content-Type']).toBe('text/plain; charset=utf-8')
    })

    it('lets the redirect be cached privately for less time than the URL lives', async () => {
      const handoff = redirectToBucket({ expiresIn: 120 })
      const { plan } = await delivered({}, { handoff })
      expect(plan.headers['Cache-Control']).toBe('private, max-age=24')
      const maxAge = Number(/max-age=(\d+)/.exec(plan.headers['Cache-Control'] ?? '')?.[1])
      expect(maxAge).toBeLessThan(120)
    })

    it('sends no validator with the redirect, so a cached redirect is never revalidated to an expired URL', async () => {
      const { plan } = await delivered()
      expect(Object.keys(plan.headers).sort()).toEqual(['Cache-Control', 'Content-Length', 'Location'])
    })

    it('answers with the status the option names', async () => {
      const handoff = redirectToBucket({ status: 307 })
      expect((await delivered({}, { handoff })).plan.status).toBe(307)
    })

    it('keeps the view’s extra headers, under its own', async () => {
      const { plan } = await delivered(
        {},
        { respond: { headers: { 'X-Robots-Tag': 'noindex', location: '/x' } } },
      )
      expect(plan.headers['X-Robots-Tag']).toBe('noindex')
      expect(plan.headers.location).toBeUndefined()
      expect(plan.headers.Location).toMatch(/^https:/)
    })
  })

  describe('for the name and type', () => {
    it('signs the RFC 8187 form of a name that is not ASCII', async () => {
      await delivered({}, { file: numsFile('résumé "final".txt') })
      expect(storage.signed[0]?.options.contentDisposition).toBe(
        contentDisposition('résumé "final".txt', { attachment: true }),
      )
      expect(storage.signed[0]?.options.contentDisposition).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9")
    })

    it('signs inline for an inline view', async () => {
      await delivered({}, { respond: { attachment: false } })
      expect(storage.signed[0]?.options.contentDisposition).toBe('inline; filename=nums.txt')
    })

    it('signs active content as an attachment even for an inline view: the bucket sends no sandbox', async () => {
      await delivered({}, { file: numsFile('page.html'), respond: { attachment: false } })
      expect(storage.signed[0]?.options).toMatchObject({
        contentDisposition: 'attachment; filename=page.html',
        contentType: 'text/html; charset=utf-8',
      })
    })

    it('signs the stored content type', async () => {
      await delivered({}, { file: numsFile('nums.bin', 'application/pdf') })
      expect(storage.signed[0]?.options.contentType).toBe('application/pdf')
    })
  })

  describe('for HEAD', () => {
    it('redirects as GET does', async () => {
      const { plan } = await delivered({}, { method: 'HEAD' })
      expect(plan.status).toBe(302)
      expect(plan.headers.Location).toMatch(/^https:/)
    })
  })

  describe('for Range', () => {
    it('redirects a 206: the client sends its Range to the bucket', async () => {
      const { plan, planned } = await delivered({ range: 'bytes=2-5' })
      expect(planned.status).toBe(206)
      expect(plan.status).toBe(302)
      expect(plan.headers['Content-Range']).toBeUndefined()
    })

    it('signs the file’s type, not multipart/byteranges, for several ranges', async () => {
      const { planned } = await delivered({ range: 'bytes=0-1,4-5' })
      expect(planned.headers['Content-Type']).toMatch(/^multipart\/byteranges/)
      expect(storage.signed[0]?.options.contentType).toBe('text/plain; charset=utf-8')
    })

    it('answers a 416 itself', async () => {
      const { plan } = await delivered({ range: 'bytes=50-60' })
      expect(plan.status).toBe(416)
      expect(plan.headers['Content-Range']).toBe('bytes */9')
      expect(storage.signed).toEqual([])
    })
  })

  describe('for conditional requests the row can answer', () => {
    it('answers 304 itself, before any redirect', async () => {
      const { plan } = await delivered({ 'if-none-match': `"${NUMS_SHA256}"` })
      expect(plan.status).toBe(304)
      expect(plan.headers.ETag).toBe(`"${NUMS_SHA256}"`)
      expect(plan.headers.Location).toBeUndefined()
      expect(storage.signed).toEqual([])
    })

    it('answers 304 to If-Modified-Since itself', async () => {
      const { plan } = await delivered({ 'if-modified-since': MODIFIED.toUTCString() })
      expect(plan.status).toBe(304)
      expect(storage.signed).toEqual([])
    })

    it('answers 412 itself', async () => {
      const { plan } = await delivered({ 'if-match': '"other"' })
      expect(plan.status).toBe(412)
      expect(storage.signed).toEqual([])
    })

    it('answers 412 to a failed If-Unmodified-Since itself', async () => {
      const { plan } = await delivered({
        'if-unmodified-since': new Date(MODIFIED.getTime() - 60_000).toUTCString(),
      })
      expect(plan.status).toBe(412)
      expect(storage.signed).toEqual([])
    })

    it('redirects when the validator does not match', async () => {
      const { plan } = await delivered({ 'if-none-match': '"other"' })
      expect(plan.status).toBe(302)
    })
  })

  it('leaves a 405 alone', async () => {
    const { plan } = await delivered({}, { method: 'POST' })
    expect(plan.status).toBe(405)
    expect(storage.signed).toEqual([])
  })
})
