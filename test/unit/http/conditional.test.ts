import type { IncomingHttpHeaders } from 'node:http'
import { evaluatePreconditions, ifRangeAllowsPartial, type Validators } from '../../../src/http/conditional'

const STRONG = '"abc"'
const WEAK = 'W/"abc"'
// Last-Modified: Tue, 02 Jan 2024 03:04:05 GMT, plus 500 ms that HTTP dates cannot carry.
const MODIFIED = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 500))
const SAME = 'Tue, 02 Jan 2024 03:04:05 GMT'
const EARLIER = 'Tue, 02 Jan 2024 03:04:04 GMT'
const LATER = 'Tue, 02 Jan 2024 03:04:06 GMT'

const strong: Validators = { etag: STRONG, lastModified: MODIFIED }
const weak: Validators = { etag: WEAK, lastModified: MODIFIED }

const evaluate = (headers: IncomingHttpHeaders, validators: Validators = strong, method = 'GET') =>
  evaluatePreconditions(method, headers, validators)

describe('evaluatePreconditions()', () => {
  describe('without preconditions', () => {
    it('proceeds', () => {
      expect(evaluate({})).toBe('proceed')
    })
  })

  describe('with If-Match', () => {
    it('proceeds when the strong tag matches', () => {
      expect(evaluate({ 'if-match': STRONG })).toBe('proceed')
    })

    it('fails when the tag differs', () => {
      expect(evaluate({ 'if-match': '"other"' })).toBe('precondition-failed')
    })

    it('fails for a weak request tag, even with the same opaque part', () => {
      expect(evaluate({ 'if-match': WEAK })).toBe('precondition-failed')
    })

    it('fails when the current tag is weak, even if identical', () => {
      expect(evaluate({ 'if-match': WEAK }, weak)).toBe('precondition-failed')
    })

    it('proceeds when one tag of a list matches', () => {
      expect(evaluate({ 'if-match': '"x", "abc", "y"' })).toBe('proceed')
    })

    it('fails when no tag of a list matches', () => {
      expect(evaluate({ 'if-match': '"x", "y"' })).toBe('precondition-failed')
    })

    it('proceeds for * when the representation has a tag', () => {
      expect(evaluate({ 'if-match': '*' })).toBe('proceed')
    })

    it('proceeds for * when the representation has no tag', () => {
      expect(evaluate({ 'if-match': '*' }, { lastModified: MODIFIED })).toBe('proceed')
    })

    it('fails for a tag when the representation has none', () => {
      expect(evaluate({ 'if-match': STRONG }, { lastModified: MODIFIED })).toBe('precondition-failed')
    })

    it('fails for a malformed value', () => {
      expect(evaluate({ 'if-match': 'abc' })).toBe('precondition-failed')
    })
  })

  describe('with If-Unmodified-Since', () => {
    it('proceeds when not modified since (same second)', () => {
      expect(evaluate({ 'if-unmodified-since': SAME })).toBe('proceed')
    })

    it('proceeds for a later date', () => {
      expect(evaluate({ 'if-unmodified-since': LATER })).toBe('proceed')
    })

    it('fails when modified since', () => {
      expect(evaluate({ 'if-unmodified-since': EARLIER })).toBe('precondition-failed')
    })

    it('is ignored when If-Match is present', () => {
      expect(evaluate({ 'if-match': STRONG, 'if-unmodified-since': EARLIER })).toBe('proceed')
    })

    it('is ignored when the date is invalid', () => {
      expect(evaluate({ 'if-unmodified-since': 'yesterday' })).toBe('proceed')
    })

    it('is ignored without Last-Modified', () => {
      expect(evaluate({ 'if-unmodified-since': EARLIER }, { etag: STRONG })).toBe('proceed')
    })
  })

  describe('with If-None-Match', () => {
    it('answers not-modified when the strong tag matches', () => {
      expect(evaluate({ 'if-none-match': STRONG })).toBe('not-modified')
    })

    it('answers not-modified for a weak request tag (weak comparison)', () => {
      expect(evaluate({ 'if-none-match': WEAK })).toBe('not-modified')
    })

    it('answers not-modified when the current tag is weak', () => {
      expect(evaluate({ 'if-none-match': STRONG }, weak)).toBe('not-modified')
    })

    it('proceeds when the tag differs', () => {
      expect(evaluate({ 'if-none-match': '"other"' })).toBe('proceed')
    })

    it('answers not-modified when one tag of a list matches', () => {
      expect(evaluate({ 'if-none-match': '"x", W/"abc"' })).toBe('not-modified')
    })

    it('proceeds when no tag of a list matches', () => {
      expect(evaluate({ 'if-none-match': '"x", "y"' })).toBe('proceed')
    })

    it('answers not-modified for *', () => {
      expect(evaluate({ 'if-none-match': '*' })).toBe('not-modified')
    })

    it('answers not-modified for HEAD too', () => {
      expect(evaluate({ 'if-none-match': STRONG }, strong, 'HEAD')).toBe('not-modified')
    })

    it('fails (412) for a matching tag on another method', () => {
      expect(evaluate({ 'if-none-match': STRONG }, strong, 'PUT')).toBe('precondition-failed')
    })

    it('proceeds for a tag when the representation has none', () => {
      expect(evaluate({ 'if-none-match': STRONG }, { lastModified: MODIFIED })).toBe('proceed')
    })

    it('takes precedence over a matching If-Modified-Since', () => {
      expect(evaluate({ 'if-none-match': '"other"', 'if-modified-since': LATER })).toBe('proceed')
    })
  })

  describe('with If-Modified-Since', () => {
    it('answers not-modified for the same second', () => {
      expect(evaluate({ 'if-modified-since': SAME })).toBe('not-modified')
    })

    it('answers not-modified for a later date', () => {
      expect(evaluate({ 'if-modified-since': LATER })).toBe('not-modified')
    })

    it('proceeds when modified since', () => {
      expect(evaluate({ 'if-modified-since': EARLIER })).toBe('proceed')
    })

    it('is ignored when the date is invalid', () => {
      expect(evaluate({ 'if-modified-since': 'Tue, 32 Jan 2024 03:04:05 GMT' })).toBe('proceed')
    })

    it('is ignored without Last-Modified', () => {
      expect(evaluate({ 'if-modified-since': LATER }, { etag: STRONG })).toBe('proceed')
    })

    it('is ignored for methods other than GET and HEAD', () => {
      expect(evaluate({ 'if-modified-since': LATER }, strong, 'POST')).toBe('proceed')
    })

    it('applies to HEAD', () => {
      expect(evaluate({ 'if-modified-since': LATER }, strong, 'HEAD')).toBe('not-modified')
    })
  })

  describe('with both a failing precondition and a matching cache validator', () => {
    it('answers 412 before 304 (If-Match)', () => {
      expect(evaluate({ 'if-match': '"other"', 'if-none-match': STRONG })).toBe('precondition-failed')
    })

    it('answers 412 before 304 (If-Unmodified-Since)', () => {
      expect(evaluate({ 'if-unmodified-since': EARLIER, 'if-modified-since': LATER })).toBe(
        'precondition-failed',
      )
    })
  })

  describe('with a passing If-Match and a matching If-None-Match', () => {
    it('answers not-modified', () => {
      expect(evaluate({ 'if-match': STRONG, 'if-none-match': STRONG })).toBe('not-modified')
    })
  })
})

describe('ifRangeAllowsPartial()', () => {
  describe('without If-Range', () => {
    it('allows a partial response', () => {
      expect(ifRangeAllowsPartial({}, strong)).toBe(true)
    })
  })

  describe('with a strong entity tag', () => {
    it('allows a partial response when it matches', () => {
      expect(ifRangeAllowsPartial({ 'if-range': STRONG }, strong)).toBe(true)
    })

    it('asks for the full body when it differs', () => {
      expect(ifRangeAllowsPartial({ 'if-range': '"other"' }, strong)).toBe(false)
    })

    it('asks for the full body when the representation has no tag', () => {
      expect(ifRangeAllowsPartial({ 'if-range': STRONG }, { lastModified: MODIFIED })).toBe(false)
    })

    it('asks for the full body when the current tag is weak', () => {
      expect(ifRangeAllowsPartial({ 'if-range': '"abc"' }, weak)).toBe(false)
    })
  })

  describe('with a weak entity tag', () => {
    it('asks for the full body, even when identical', () => {
      expect(ifRangeAllowsPartial({ 'if-range': WEAK }, weak)).toBe(false)
    })
  })

  describe('with a date', () => {
    it('allows a partial response for exactly Last-Modified', () => {
      expect(ifRangeAllowsPartial({ 'if-range': SAME }, strong)).toBe(true)
    })

    it('asks for the full body for a later date', () => {
      expect(ifRangeAllowsPartial({ 'if-range': LATER }, strong)).toBe(false)
    })

    it('asks for the full body for an earlier date', () => {
      expect(ifRangeAllowsPartial({ 'if-range': EARLIER }, strong)).toBe(false)
    })

    it('asks for the full body without Last-Modified', () => {
      expect(ifRangeAllowsPartial({ 'if-range': SAME }, { etag: STRONG })).toBe(false)
    })
  })

  describe('with a value that is neither', () => {
    it('asks for the full body', () => {
      expect(ifRangeAllowsPartial({ 'if-range': 'abc' }, strong)).toBe(false)
    })
  })

  describe('when repeated', () => {
    it('asks for the full body', () => {
      const headers = { 'if-range': [STRONG, STRONG] } as unknown as IncomingHttpHeaders
      expect(ifRangeAllowsPartial(headers, strong)).toBe(false)
    })
  })
})
