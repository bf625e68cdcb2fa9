/** @module Conditional requests (RFC 9110 §13): preconditions in the order of §13.2.2, and If-Range. */
import type { IncomingHttpHeaders } from 'node:http'
import { parseEntityTags, strongMatch, weakMatch } from './etag'
import { parseHttpDate, toSeconds } from './http-date'

/** The validators of the selected representation. */
export interface Validators {
  etag?: string
  lastModified?: Date
}

/** What the preconditions decide: go on, answer 304, or answer 412. */
export type PreconditionResult = 'proceed' | 'not-modified' | 'precondition-failed'

/**
 * Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in the order that
 * RFC 9110 §13.2.2 prescribes, for a representation that exists.
 */
export function evaluatePreconditions(
  method: string,
  headers: IncomingHttpHeaders,
  validators: Validators,
): PreconditionResult {
  const { etag, lastModified } = validators
  const ifMatch = headers['if-match']
  const ifNoneMatch = headers['if-none-match']

  // Step 1: If-Match, strong comparison (§13.1.1). "*" matches any current representation.
  if (ifMatch !== undefined) {
    const tags = parseEntityTags(ifMatch)
    const matched =
      tags === '*' || (etag !== undefined && tags?.some((tag) => strongMatch(tag, etag)) === true)
    if (!matched) return 'precondition-failed'
  } else {
    // Step 2: If-Unmodified-Since, only without If-Match, and only with a valid date (§13.1.4).
    const since = parseHttpDate(headers['if-unmodified-since'])
    if (since !== undefined && lastModified && toSeconds(lastModified) > Math.floor(since / 1000)) {
      return 'precondition-failed'
    }
  }

  // Step 3: If-None-Match, weak comparison (§13.1.2).
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch)
    const matched = tags === '*' || (etag !== undefined && tags?.some((tag) => weakMatch(tag, etag)) === true)
    if (matched) return method === 'GET' || method === 'HEAD' ? 'not-modified' : 'precondition-failed'
    return 'proceed'
  }

  // Step 4: If-Modified-Since, only for GET/HEAD and only without If-None-Match (§13.1.3).
  if (method === 'GET' || method === 'HEAD') {
    const since = parseHttpDate(headers['if-modified-since'])
    if (since !== undefined && lastModified && toSeconds(lastModified) <= Math.floor(since / 1000)) {
      return 'not-modified'
    }
  }
  return 'proceed'
}

/**
 * Whether a Range request may be served partially given its If-Range (§13.1.5): no If-Range, a
 * strong entity tag that matches strongly, or an HTTP-date equal to Last-Modified. A weak tag, an
 * unparsable value, or a date without Last-Modified means "send the whole representation".
 */
export function ifRangeAllowsPartial(headers: IncomingHttpHeaders, validators: Validators): boolean {
  const ifRange = headers['if-range']
  if (ifRange === undefined) return true
  // A repeated If-Range is malformed: send the whole representation.
  if (Array.isArray(ifRange)) return false
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) {
    return validators.etag !== undefined && strongMatch(value, validators.etag)
  }
  const date = parseHttpDate(value)
  return (
    date !== undefined &&
    validators.lastModified !== undefined &&
    toSeconds(validators.lastModified) === date / 1000
  )
}
