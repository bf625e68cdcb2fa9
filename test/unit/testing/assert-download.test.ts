/** @module assertDownload() and binaryParser(): the download assertions shipped to users. */
import { AssertionError } from 'node:assert'
import { PassThrough } from 'node:stream'
import { contentDisposition } from '../../../src/http/disposition'
import { assertDownload, binaryParser, type ResponseLike } from '../../../src/testing/assert-download'

const CONTENT = Buffer.from('Hello world!\n')

/** A 200 download of CONTENT as an attachment named `hello.txt`, as supertest would give it. */
function download(
  overrides: Partial<ResponseLike> = {},
  headers: ResponseLike['headers'] = {},
): ResponseLike {
  return {
    status: 200,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(CONTENT.length),
      'content-disposition': contentDisposition('hello.txt', { attachment: true }),
      ...headers,
    },
    body: CONTENT,
    ...overrides,
  }
}

/** The AssertionError `check` throws; fails the test when it does not throw one. */
function failureOf(check: () => void): AssertionError {
  try {
    check()
  } catch (error) {
    if (error instanceof AssertionError) return error
    throw error
  }
  throw new Error('Expected an AssertionError, but nothing was thrown')
}

/** The problems an AssertionError lists, one per line. */
const problemsOf = (error: AssertionError) =>
  error.message
    .split('\n')
    .slice(1)
    .map((line) => line.replace(/^- /, ''))

describe('assertDownload()', () => {
  describe('when the response matches', () => {
    it('passes with every field checked', () => {
      expect(() =>
        assertDownload(download(), {
          status: 200,
          content: CONTENT,
          size: CONTENT.length,
          contentType: 'text/plain',
          basename: 'hello.txt',
          attachment: true,
        }),
      ).not.toThrow()
    })

    it('passes with nothing but the default status to check', () => {
      expect(() => assertDownload(download(), {})).not.toThrow()
    })

    it('passes with the content given as a string', () => {
      expect(() => assertDownload(download(), { content: 'Hello world!\n' })).not.toThrow()
    })

    it('compares a body given only as text', () => {
      const response = download({ body: {}, text: 'Hello world!\n' })
      expect(() => assertDownload(response, { content: CONTENT })).not.toThrow()
    })

    it('reads the header names in lower case, as supertest gives them', () => {
      expect(() => assertDownload(download(), { size: CONTENT.length })).not.toThrow()
    })
  })

  describe('status', () => {
    it('expects 200 by default', () => {
      expect(problemsOf(failureOf(() => assertDownload(download({ status: 404 }), {})))).toEqual([
        'status is 404, expected 200',
      ])
    })

    it('checks the status given', () => {
      expect(() => assertDownload(download({ status: 206 }), { status: 206 })).not.toThrow()
    })

    it('reports a status other than the one given', () => {
      expect(problemsOf(failureOf(() => assertDownload(download(), { status: 304 })))).toEqual([
        'status is 200, expected 304',
      ])
    })
  })

  describe('content', () => {
    it('reports a different body, given a Buffer', () => {
      const problems = problemsOf(
        failureOf(() => assertDownload(download(), { content: Buffer.from('Bye') })),
      )
      expect(problems).toEqual(['body is 13 bytes "Hello world!\\n", expected 3 bytes "Bye"'])
    })

    it('reports a different body, given a string', () => {
      const problems = problemsOf(failureOf(() => assertDownload(download(), { content: 'Hello world!' })))
      expect(problems).toEqual(['body is 13 bytes "Hello world!\\n", expected 12 bytes "Hello world!"'])
    })

    it('compares bytes, not text', () => {
      const response = download({ body: Buffer.from([0xff, 0xfe]) })
      expect(() => assertDownload(response, { content: Buffer.from([0xff, 0xfd]) })).toThrow(AssertionError)
    })

    it('reports a response that has no body to compare', () => {
      const problems = problemsOf(
        failureOf(() => assertDownload(download({ body: undefined }), { content: 'x' })),
      )
      expect(problems).toEqual([
        'the response has no body to compare (use .buffer(true).parse(binaryParser))',
      ])
    })

    it('shortens a long body in the message', () => {
      const long = Buffer.alloc(100, 'a')
      const [problem] = problemsOf(
        failureOf(() => assertDownload(download({ body: long }), { content: 'b' })),
      )
      expect(problem).toBe(`body is 100 bytes ${JSON.stringify('a'.repeat(60))}…, expected 1 bytes "b"`)
    })
  })

  describe('size', () => {
    it('reports a different Content-Length', () => {
      expect(problemsOf(failureOf(() => assertDownload(download(), { size: 12 })))).toEqual([
        'Content-Length is 13, expected 12',
      ])
    })

    it('reports a missing Content-Length', () => {
      const response = download({}, { 'content-length': undefined })
      expect(problemsOf(failureOf(() => assertDownload(response, { size: 13 })))).toEqual([
        'Content-Length is undefined, expected 13',
      ])
    })
  })

  describe('contentType', () => {
    it('ignores the parameters of the Content-Type', () => {
      expect(() => assertDownload(download(), { contentType: 'text/plain' })).not.toThrow()
    })

    it('compares media types case-insensitively', () => {
      expect(() => assertDownload(download(), { contentType: 'Text/Plain' })).not.toThrow()
    })

    it('reports a different media type', () => {
      expect(problemsOf(failureOf(() => assertDownload(download(), { contentType: 'text/html' })))).toEqual([
        'Content-Type is text/plain, expected text/html',
      ])
    })

    it('does not match the parameters as part of the media type', () => {
      const check = () => assertDownload(download(), { contentType: 'text/plain; charset=utf-8' })
      expect(check).toThrow(AssertionError)
    })
  })

  describe('basename', () => {
    it('reads a non-ASCII name from filename*', () => {
      const response = download(
        {},
        { 'content-disposition': contentDisposition('naïve café.txt', { attachment: true }) },
      )
      expect(() => assertDownload(response, { basename: 'naïve café.txt' })).not.toThrow()
    })

    it('does not accept the ASCII fallback when filename* gives the real name', () => {
      const response = download(
        {},
        { 'content-disposition': contentDisposition('naïve café.txt', { attachment: true }) },
      )
      expect(problemsOf(failureOf(() => assertDownload(response, { basename: 'naive cafe.txt' })))).toEqual([
        'file name is "naïve café.txt", expected "naive cafe.txt"',
      ])
    })

    it('reads an ASCII name from the plain filename', () => {
      const response = download(
        {},
        { 'content-disposition': contentDisposition('report 2024.pdf', { attachment: true }) },
      )
      expect(() => assertDownload(response, { basename: 'report 2024.pdf' })).not.toThrow()
    })

    it('reports a different name', () => {
      expect(problemsOf(failureOf(() => assertDownload(download(), { basename: 'other.txt' })))).toEqual([
        'file name is "hello.txt", expected "other.txt"',
      ])
    })
  })

  describe('attachment', () => {
    it('passes for an attachment when true', () => {
      expect(() => assertDownload(download(), { attachment: true })).not.toThrow()
    })

    it('passes for inline when false', () => {
      const response = download(
        {},
        { 'content-disposition': contentDisposition('hello.txt', { attachment: false }) },
      )
      expect(() => assertDownload(response, { attachment: false })).not.toThrow()
    })

    it('reports inline when an attachment was expected', () => {
      const response = download(
        {},
        { 'content-disposition': contentDisposition('hello.txt', { attachment: false }) },
      )
      expect(problemsOf(failureOf(() => assertDownload(response, { attachment: true })))).toEqual([
        'disposition is inline, expected attachment',
      ])
    })

    it('reports an attachment when inline was expected', () => {
      expect(problemsOf(failureOf(() => assertDownload(download(), { attachment: false })))).toEqual([
        'disposition is attachment, expected inline',
      ])
    })
  })

  describe('when there is no Content-Disposition', () => {
    const response = download({}, { 'content-disposition': undefined })

    it('reports it when a basename is expected', () => {
      expect(problemsOf(failureOf(() => assertDownload(response, { basename: 'hello.txt' })))).toEqual([
        'there is no Content-Disposition header',
      ])
    })

    it('reports it when a disposition is expected', () => {
      expect(problemsOf(failureOf(() => assertDownload(response, { attachment: false })))).toEqual([
        'there is no Content-Disposition header',
      ])
    })

    it('does not mind when neither is expected', () => {
      expect(() => assertDownload(response, { contentType: 'text/plain' })).not.toThrow()
    })
  })

  describe('when several fields differ', () => {
    let error: AssertionError

    beforeEach(() => {
      const response: ResponseLike = {
        status: 404,
        headers: {
          'content-type': 'text/html; charset=utf-8',
          'content-length': '9',
          'content-disposition': contentDisposition('error.html', { attachment: false }),
        },
        body: Buffer.from('Not Found'),
      }
      error = failureOf(() =>
        assertDownload(response, {
          content: CONTENT,
          size: CONTENT.length,
          contentType: 'text/plain',
          basename: 'hello.txt',
          attachment: true,
        }),
      )
    })

    it('lists every difference, in a stable order', () => {
      expect(problemsOf(error)).toEqual([
        'status is 404, expected 200',
        'body is 9 bytes "Not Found", expected 13 bytes "Hello world!\\n"',
        'Content-Length is 9, expected 13',
        'Content-Type is text/html, expected text/plain',
        'file name is "error.html", expected "hello.txt"',
        'disposition is inline, expected attachment',
      ])
    })

    it('opens the message with a summary line', () => {
      expect(error.message.split('\n')[0]).toBe('Not the expected download:')
    })
  })

  describe('with a header given as several values', () => {
    it('joins them before comparing', () => {
      const response = download({}, { 'content-length': ['13', '13'] })
      expect(problemsOf(failureOf(() => assertDownload(response, { size: 13 })))).toEqual([
        'Content-Length is 13, 13, expected 13',
      ])
    })
  })
})

describe('binaryParser()', () => {
  it('collects the stream into one Buffer', async () => {
    const stream = new PassThrough()
    const result = new Promise<[Error | null, Buffer]>((resolve) => {
      binaryParser(stream, (error, body) => resolve([error, body]))
    })
    stream.write(Buffer.from([0x00, 0xff]))
    stream.write(Buffer.from('naïve'))
    stream.end(Buffer.from([0x0d, 0x0a]))
    expect(await result).toEqual([
      null,
      Buffer.concat([Buffer.from([0x00, 0xff]), Buffer.from('naïve'), Buffer.from([0x0d, 0x0a])]),
    ])
  })

  it('gives an empty Buffer for an empty body', async () => {
    const stream = new PassThrough()
    const result = new Promise<[Error | null, Buffer]>((resolve) => {
      binaryParser(stream, (error, body) => resolve([error, body]))
    })
    stream.end()
    expect(await result).toEqual([null, Buffer.alloc(0)])
  })

  it('reports an error of the stream', async () => {
    const stream = new PassThrough()
    const failure = new Error('socket hang up')
    const result = new Promise<Error | null>((resolve) => {
      binaryParser(stream, (error) => resolve(error))
    })
    stream.write('partial')
    stream.destroy(failure)
    expect(await result).toBe(failure)
  })
})
