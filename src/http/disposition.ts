/** @module Content-Disposition (RFC 6266, with RFC 8187 `filename*` for names that are not ASCII). */
import { create } from 'content-disposition'
import { asciiFilename, safeBasename, truncateName } from '../files/filename'

/**
 * The most bytes of a name in Content-Disposition, before encoding: what file systems allow for a
 * name (255). A longer name makes a header that proxies refuse (nginx: 4 or 8 KiB for all of the
 * headers, else 502 "upstream sent too big header"), and no client could save it as it is.
 */
export const MAX_NAME_BYTES = 255

/**
 * The Content-Disposition value for a file called `name`: always a safe, non-empty ASCII `filename`,
 * plus `filename*=UTF-8''…` when the real name differs from it. Path separators, control and
 * bidi characters are removed first; quotes, backslashes and `%` never reach the ASCII parameter.
 * Each name is cut to {@link MAX_NAME_BYTES} bytes of UTF-8, its extension kept.
 *
 * @example
 * contentDisposition('résumé.pdf', { attachment: true })
 * // attachment; filename="resume.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf
 */
export function contentDisposition(name: string, options: { attachment: boolean }): string {
  const safe = truncateName(safeBasename(name), MAX_NAME_BYTES)
  // The ASCII rendering can be longer than the name: NFKD spells some characters out (U+FDFA
  // becomes 18 letters, each then a `_`).
  const fallback = truncateName(asciiFilename(safe), MAX_NAME_BYTES)
  return create(safe, { type: options.attachment ? 'attachment' : 'inline', fallback })
}
