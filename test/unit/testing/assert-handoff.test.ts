/** @module assertHandoff(): a response that hands its bytes to nginx, Apache, lighttpd or a bucket. */
import { AssertionError } from 'node:assert'
import { assertHandoff } from '../../../src/testing'

const xAccel = {
  status: 200,
  headers: {
    'x-accel-redirect': '/protected/media/reports/q3.pdf',
    'content-disposition': `attachment; filename="Q3 report.pdf"; filename*=UTF-8''Q3%20report.pdf`,
    'x-accel-buffering': 'no',
    'content-length': '0',
  },
  body: Buffer.alloc(0),
}

describe('assertHandoff()', () => {
  it('passes a response that hands its file to nginx as expected', () => {
    expect(() =>
      assertHandoff(xAccel, {
        kind: 'x-accel',
        location: '/protected/media/reports/q3.pdf',
        basename: 'Q3 report.pdf',
        headers: { 'X-Accel-Buffering': 'no' },
      }),
    ).not.toThrow()
    expect(() => assertHandoff(xAccel, { kind: 'x-accel', location: /^\/protected\/media\// })).not.toThrow()
  })

  it('lists every difference', () => {
    const error = (() => {
      try {
        assertHandoff(
          { ...xAccel, status: 206, body: Buffer.from('bytes') },
          {
            kind: 'x-accel',
            location: '/protected/other.pdf',
            basename: 'other.pdf',
            headers: { 'X-Accel-Buffering': 'yes' },
          },
        )
      } catch (caught) {
        return caught
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(AssertionError)
    const message = (error as Error).message
    expect(message).toContain('status is 206, expected 200')
    expect(message).toContain(
      'X-Accel-Redirect is "/protected/media/reports/q3.pdf", expected /protected/other.pdf',
    )
    expect(message).toContain('the app sent 5 bytes of body itself')
    expect(message).toContain('file name is "Q3 report.pdf", expected "other.pdf"')
    expect(message).toContain('X-Accel-Buffering is "no", expected "yes"')
  })

  it('fails a response that streams the file itself', () => {
    const streamed = { status: 200, headers: { 'content-length': '9' }, body: Buffer.from('123456789') }
    expect(() => assertHandoff(streamed, { kind: 'x-accel' })).toThrow('there is no X-Accel-Redirect header')
  })

  it('checks X-Sendfile, lighttpd and redirects by their own header and status', () => {
    expect(() =>
      assertHandoff(
        { status: 200, headers: { 'x-sendfile': '/srv/media/a.txt' } },
        { kind: 'x-sendfile', location: '/srv/media/a.txt' },
      ),
    ).not.toThrow()
    expect(() =>
      assertHandoff(
        { status: 200, headers: { 'x-lighttpd-send-file': '/srv/a' } },
        { kind: 'x-lighttpd-send-file' },
      ),
    ).not.toThrow()
    expect(() =>
      assertHandoff(
        { status: 302, headers: { location: 'https://bucket/a?X-Amz-Signature=x' } },
        { kind: 'redirect', location: /X-Amz-Signature/ },
      ),
    ).not.toThrow()
    expect(() =>
      assertHandoff({ status: 200, headers: { location: 'https://x' } }, { kind: 'redirect' }),
    ).toThrow('status is 200, expected 302')
  })
})
