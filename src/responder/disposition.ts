/** @module Content-Disposition (RFC 6266, with RFC 8187 `filename*` for names that are not ASCII). */
import { create } from 'content-disposition'
import { asciiFilename, safeBasename } from '../files/filename'

/**
 * The Content-Disposition value for a file called `name`: always a safe, non-empty ASCII `filename`,
 * plus `filename*=UTF-8''…` when the real name differs from it. Path separators, control and
 * bidi characters are removed first; quotes, backslashes and `%` never reach the ASCII parameter.
 *
 * @example
 * contentDisposition('résumé.pdf', { attachment: true })
 * // attachment; filename="resume.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf
 */
export function contentDisposition(name: string, options: { attachment: boolean }): string {
  const safe = safeBasename(name)
  return create(safe, { type: options.attachment ? 'attachment' : 'inline', fallback: asciiFilename(safe) })
}
