/** @module HTTP dates (RFC 9110 §5.6.7): parsing the three formats, and second precision. */

// Each captures the day of the month, then hour, minute and second.
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} (\d{2}):(\d{2}):(\d{2}) GMT$/
const RFC850 =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} (\d{2}):(\d{2}):(\d{2}) GMT$/
const ASCTIME =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) \d{4}$/

/**
 * Milliseconds since the epoch of an HTTP-date in any of the three formats a recipient must accept,
 * or `undefined` for anything else (an invalid date makes the precondition be ignored, §13.1.3).
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  const asctime = ASCTIME.exec(text)
  const fields = IMF_FIXDATE.exec(text) ?? RFC850.exec(text) ?? asctime
  if (!fields) return undefined
  const time = Date.parse(asctime ? `${text} GMT` : text)
  if (Number.isNaN(time)) return undefined
  // Date.parse rolls impossible dates over (31 Feb → 3 Mar, 24:00 → the next day) or misreads them
  // (second 61): such a value is not a valid HTTP-date, so it must be ignored, not reinterpreted.
  const date = new Date(time)
  const [, day, hour, minute, second] = fields.map(Number)
  return date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
    ? time
    : undefined
}

/** `date` truncated to whole seconds, the precision of Last-Modified. */
export function toSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}
