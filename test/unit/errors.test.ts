/** @module The DownloadError family and statusForError(): the one table from condition to HTTP status. */
import {
  asError,
  BadPathError,
  ConfigurationError,
  DestinationNotAllowedError,
  DownloadError,
  FileColumnError,
  FileNotFoundError,
  InvalidParameterError,
  ServiceUnavailableError,
  SignatureError,
  statusForError,
  UnsafePathError,
  UpstreamError,
} from '../../src/errors'

describe('statusForError()', () => {
  describe('for the conditions the table maps', () => {
    it.each<[string, unknown, number]>([
      ['FileNotFoundError', new FileNotFoundError('No file at "a.txt" in MemoryStorage'), 404],
      ['BadPathError', new BadPathError('A storage key must not hold control characters'), 400],
      ['UnsafePathError', new UnsafePathError('Unsafe storage key "../x" (parent segment)'), 404],
      ['UpstreamError', new UpstreamError('Upstream answered 500'), 502],
      ['UpstreamError that timed out', new UpstreamError('Upstream timed out', true), 504],
      ['ServiceUnavailableError', new ServiceUnavailableError('The DataSource is not initialized'), 503],
      ['InvalidParameterError', new InvalidParameterError('width 100 is not one of 64, 128'), 400],
      ['SignatureError', new SignatureError('Signed URL refused for GET /a: expired'), 403],
      ['DestinationNotAllowedError', new DestinationNotAllowedError('127.0.0.1 is loopback'), 403],
    ])('maps %s to %i', (_label, error, status) => {
      expect(statusForError(error)).toBe(status)
    })

    it('maps an UpstreamError that explicitly did not time out to 502', () => {
      expect(statusForError(new UpstreamError('Upstream answered 500', false))).toBe(502)
    })

    it('maps a subclass as its parent', () => {
      class MissingBlobError extends FileNotFoundError {}
      expect(statusForError(new MissingBlobError('gone'))).toBe(404)
    })
  })

  describe('for anything else', () => {
    it.each<[string, unknown]>([
      ['a plain Error', new Error('boom')],
      ['a TypeError', new TypeError('boom')],
      ['a ConfigurationError', new ConfigurationError('bad options')],
      ['a FileColumnError', new FileColumnError('Cannot save Document.file')],
      ['the DownloadError base class', new DownloadError('something')],
      ['a string', 'No file'],
      ['a number', 404],
      ['null', null],
      ['undefined', undefined],
      ['an object with a status', { status: 404, name: 'FileNotFoundError' }],
    ])('returns undefined for %s', (_label, error) => {
      expect(statusForError(error)).toBeUndefined()
    })
  })
})

describe('the DownloadError family', () => {
  it.each<[string, Error]>([
    ['DownloadError', new DownloadError('m')],
    ['FileNotFoundError', new FileNotFoundError('m')],
    ['BadPathError', new BadPathError('m')],
    ['UnsafePathError', new UnsafePathError('m')],
    ['UpstreamError', new UpstreamError('m')],
    ['ServiceUnavailableError', new ServiceUnavailableError('m')],
    ['FileColumnError', new FileColumnError('m')],
    ['ConfigurationError', new ConfigurationError('m')],
  ])('names %s after its class', (name, error) => {
    expect(error.name).toBe(name)
  })

  it.each([
    FileNotFoundError,
    BadPathError,
    UnsafePathError,
    UpstreamError,
    ServiceUnavailableError,
    FileColumnError,
    ConfigurationError,
  ])('makes %p a DownloadError and an Error', (ErrorClass) => {
    const error = new ErrorClass('m')
    expect([error instanceof DownloadError, error instanceof Error]).toEqual([true, true])
  })

  it('shows the name and message in the stack', () => {
    expect(new FileNotFoundError('No file at "a.txt"').stack).toMatch(
      /^FileNotFoundError: No file at "a.txt"/,
    )
  })

  it('keeps the cause', () => {
    const cause = new Error('ENOENT')
    expect(new FileColumnError('Cannot save', { cause }).cause).toBe(cause)
  })

  describe('UpstreamError', () => {
    it('has not timed out by default', () => {
      expect(new UpstreamError('m').timedOut).toBe(false)
    })

    it('records a timeout', () => {
      expect(new UpstreamError('m', true).timedOut).toBe(true)
    })

    it('keeps the cause', () => {
      const cause = new Error('ECONNRESET')
      expect(new UpstreamError('m', false, { cause }).cause).toBe(cause)
    })

    it('keeps the message', () => {
      expect(new UpstreamError('Upstream answered 500').message).toBe('Upstream answered 500')
    })
  })
})

describe('asError()', () => {
  it('returns an Error as it is', () => {
    const error = new TypeError('boom')
    expect(asError(error)).toBe(error)
  })

  it('wraps anything else in an Error that describes it', () => {
    expect(asError('boom')).toEqual(new Error('boom'))
  })
})
