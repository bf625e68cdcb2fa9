/** @module HTTP dates (RFC 9110 §5.6.7): parsing the three formats, and second precision. */

const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/
const RFC850 =
  /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/
const ASCTIME =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/

/**
 * Milliseconds since the epoch of an HTTP-date in any of the three formats a recipient must accept,
 * or `undefined` for anything else (an invalid date makes the precondition be ignored, §13.1.3).
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (!IMF_FIXDATE.test(text) && !RFC850.test(text) && !ASCTIME.test(text)) return undefined
  const time = Date.parse(ASCTIME.test(text) ? `${text} GMT` : text)
  return Number.isNaN(time) ? undefined : time
}

/** `date` truncated to whole seconds, the precision of Last-Modified. */
export function toSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}
