/** @module VirtualDownloadView: its options, and the VirtualFile it makes for each request. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { ConfigurationError } from '../../../src/errors'
import type { DownloadFile } from '../../../src/files/download-file'
import { VirtualFile } from '../../../src/files/virtual-file'
import type { ResponsePlan } from '../../../src/http/respond'
import type { DownloadRequest } from '../../../src/views/download-view'
import { VirtualDownloadView, type VirtualDownloadViewOptions } from '../../../src/views/virtual-view'
import { readAll } from '../../helpers/streams'

const MODIFIED = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))

/** A GET request to a view. */
function requestWith(
  headers: IncomingHttpHeaders = {},
  params: DownloadRequest['params'] = {},
): DownloadRequest {
  return { req: { method: 'GET', headers } as IncomingMessage, params }
}

/** The response plan the view makes for `request` (plan() is protected: the view calls it itself). */
async function planFor(view: VirtualDownloadView, request = requestWith()): Promise<ResponsePlan> {
  const file = await view.getFile(request)
  return (view as unknown as { plan(r: DownloadRequest, f: DownloadFile): ResponsePlan }).plan(request, file)
}

/** Every byte of `file`, as a string. */
async function contentOf(file: DownloadFile): Promise<string> {
  return (await readAll(await file.open())).toString()
}

const build = (options: Partial<VirtualDownloadViewOptions> = {}) =>
  new VirtualDownloadView({ name: 'hello-world.txt', content: 'Hello world!\n', ...options })

describe('VirtualDownloadView option "content"', () => {
  it('serves a string as UTF-8 bytes with their size', async () => {
    const file = await build({ content: 'café' }).getFile(requestWith())
    expect(file).toBeInstanceOf(VirtualFile)
    expect(file.size).toBe(5)
    expect(await contentOf(file)).toBe('café')
  })

  it('serves bytes with ranges', async () => {
    const file = await build({ content: new Uint8Array([49, 50, 51, 52]) }).getFile(requestWith())
    expect(file.size).toBe(4)
    expect(file.acceptRanges).toBe(true)
    expect((await readAll(await file.open({ start: 1, end: 2 }))).toString()).toBe('23')
  })

  it('calls a function on each request, with the request', async () => {
    const seen: DownloadRequest[] = []
    const view = build({
      content: (request) => {
        seen.push(request)
        return `call ${seen.length}`
      },
    })
    const first = requestWith({}, { id: '1' })
    expect(await contentOf(await view.getFile(first))).toBe('call 1')
    expect(await contentOf(await view.getFile(requestWith()))).toBe('call 2')
    expect(seen[0]).toBe(first)
  })

  it('awaits an async function', async () => {
    const view = build({ content: async () => Buffer.from('later') })
    expect(await contentOf(await view.getFile(requestWith()))).toBe('later')
  })

  it('serves the async generator a function returns, once per request, without ranges', async () => {
    const view = build({
      content: async function* () {
        yield 'a,b\n'
        yield '1,2\n'
      },
    })
    const file = await view.getFile(requestWith())
    expect(file.acceptRanges).toBe(false)
    expect(file.size).toBeUndefined()
    expect(await contentOf(file)).toBe('a,b\n1,2\n')
    expect(await contentOf(await view.getFile(requestWith()))).toBe('a,b\n1,2\n')
  })

  it('serves the Readable a function returns', async () => {
    const view = build({ content: () => Readable.from([Buffer.from('streamed')]) })
    expect(await contentOf(await view.getFile(requestWith()))).toBe('streamed')
  })

  it('refuses a Readable given directly, since it can be read only once', () => {
    const make = () => build({ content: Readable.from(['x']) as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "content" is a stream')
  })

  it('refuses an async iterable given directly, since it can be read only once', () => {
    async function* rows() {
      yield 'x'
    }
    const make = () => build({ content: rows() as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "content" is a stream')
  })

  it.each([
    ['no content', undefined],
    ['null', null],
    ['a number', 42],
    ['an array', ['a', 'b']],
  ])('throws a ConfigurationError naming "content" for %s', (_label, content) => {
    const make = () => build({ content: content as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "content"')
  })
})

describe('VirtualDownloadView option "name"', () => {
  it('names the file for the client', async () => {
    expect((await build({ name: 'rows.csv' }).getFile(requestWith())).name).toBe('rows.csv')
  })

  it.each([
    ['no name', undefined],
    ['an empty name', ''],
    ['a number', 1],
  ])('throws a ConfigurationError naming "name" for %s', (_label, name) => {
    const make = () => build({ name: name as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "name"')
  })
})

describe('VirtualDownloadView option "contentType"', () => {
  it('sends the media type it is given', async () => {
    const plan = await planFor(build({ contentType: 'text/csv' }))
    expect(plan.headers['Content-Type']).toBe('text/csv; charset=utf-8')
  })

  it('derives the media type from the name when absent', async () => {
    const file = await build({ name: 'rows.json', content: '[]' }).getFile(requestWith())
    expect(file.contentType).toBeUndefined()
    expect((await planFor(build({ name: 'rows.json', content: '[]' }))).headers['Content-Type']).toBe(
      'application/json; charset=utf-8',
    )
  })

  it('throws a ConfigurationError naming "contentType" for a value that is no media type', () => {
    const make = () => build({ contentType: 'text/csv\r\nSet-Cookie: a=1' })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "contentType"')
  })

  it.each([
    ['an empty string', ''],
    ['a number', 12],
  ])('throws a ConfigurationError naming "contentType" for %s', (_label, contentType) => {
    const make = () => build({ contentType: contentType as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "contentType"')
  })
})

describe('VirtualDownloadView option "size"', () => {
  const generated = async function* () {
    yield 'abc'
  }

  it('gives generated content a size, so a Content-Length', async () => {
    const view = build({ content: generated, size: 3 })
    expect((await view.getFile(requestWith())).size).toBe(3)
    expect((await planFor(view)).headers['Content-Length']).toBe('3')
  })

  it('leaves generated content without a size when absent', async () => {
    const plan = await planFor(build({ content: generated }))
    expect(plan.headers['Content-Length']).toBeUndefined()
  })

  it('throws a ConfigurationError naming "size" for in-memory content', () => {
    const make = () => build({ content: 'abc', size: 3 })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "size" is for generated content')
  })

  it.each([
    ['a negative size', -1],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['a string', '3'],
  ])('throws a ConfigurationError naming "size" for %s', (_label, size) => {
    const make = () => build({ content: generated, size: size as unknown as number })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "size"')
  })
})

describe('VirtualDownloadView validators', () => {
  it('sends no ETag and no Last-Modified unless given', async () => {
    const plan = await planFor(build())
    expect(plan.headers.ETag).toBeUndefined()
    expect(plan.headers['Last-Modified']).toBeUndefined()
  })

  it('sends Last-Modified and a weak ETag for "modifiedAt"', async () => {
    const plan = await planFor(build({ modifiedAt: MODIFIED }))
    expect(plan.headers['Last-Modified']).toBe('Tue, 02 Jan 2024 03:04:05 GMT')
    expect(plan.headers.ETag).toMatch(/^W\/"d-/)
  })

  it.each([
    ['a strong tag', '"v1"'],
    ['a weak tag', 'W/"v1"'],
  ])('sends the "etag" it is given: %s', async (_label, etag) => {
    expect((await planFor(build({ etag }))).headers.ETag).toBe(etag)
  })

  it('answers 304 to a matching If-None-Match', async () => {
    const plan = await planFor(build({ etag: '"v1"' }), requestWith({ 'if-none-match': '"v1"' }))
    expect(plan.status).toBe(304)
  })

  it.each([
    ['an invalid Date', new Date('nope')],
    ['a string', '2024-01-02'],
    ['a number', 1700000000000],
  ])('throws a ConfigurationError naming "modifiedAt" for %s', (_label, modifiedAt) => {
    const make = () => build({ modifiedAt: modifiedAt as unknown as Date })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "modifiedAt"')
  })

  it.each([
    ['an unquoted tag', 'v1'],
    ['a tag with a line break', '"v1"\r\nX: y'],
    ['an empty string', ''],
    ['a number', 1],
  ])('throws a ConfigurationError naming "etag" for %s', (_label, etag) => {
    const make = () => build({ etag: etag as unknown as string })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "etag"')
  })
})

describe('VirtualDownloadView other options', () => {
  it('throws a ConfigurationError naming an unknown option', () => {
    const make = () => build({ filename: 'x.txt' } as Partial<VirtualDownloadViewOptions>)
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('unknown option "filename"')
  })

  it('throws a ConfigurationError naming a bad respond option', () => {
    const make = () => build({ maxRanges: 0 })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow('option "maxRanges"')
  })

  it('serves an attachment by default', async () => {
    expect((await planFor(build())).headers['Content-Disposition']).toMatch(/^attachment;/)
  })

  it('serves inline with attachment: false', async () => {
    expect((await planFor(build({ attachment: false }))).headers['Content-Disposition']).toMatch(/^inline;/)
  })

  it('sends the cacheControl it is given', async () => {
    expect((await planFor(build({ cacheControl: 'no-store' }))).headers['Cache-Control']).toBe('no-store')
  })

  it('hands its plan to its offload, with a file that has no location', async () => {
    const seen: unknown[] = []
    const plan = await planFor(
      build({
        handoff: (offered) => {
          seen.push(offered.file?.location)
          return undefined
        },
      }),
    )
    expect(seen).toEqual([undefined])
    expect(plan.body).toBeDefined()
  })
})
