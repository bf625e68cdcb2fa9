/**
 * @module Representation digests (RFC 9530): `Repr-Digest` from the SHA-256 a file already carries,
 * as `Want-Repr-Digest` allows. Never hashes anything: a digest the row does not hold is not sent.
 */

/** The one algorithm we send: the one a file column records. */
const ALGORITHM = 'sha-256'
const HEX_SHA256 = /^[0-9a-f]{64}$/i

/**
 * The `Repr-Digest` value for a file whose hex SHA-256 is `sha256`: `sha-256=:<base64>:`, a
 * Structured Field dictionary with one byte sequence (RFC 9530 §3, RFC 8941 §3.3.5). It is the
 * digest of the selected representation, the whole file, also on a 206. `undefined` when the
 * SHA-256 is unknown or malformed, or when `want` (the request's `Want-Repr-Digest`) gives
 * sha-256 the preference 0, "not acceptable" (§4): we have no other algorithm to offer.
 *
 * @example
 * reprDigest('e3b0c442…b855', 'sha-512=3, sha-256=1') // 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'
 */
export function reprDigest(
  sha256: string | undefined,
  want: string | string[] | undefined,
): string | undefined {
  if (!sha256 || !HEX_SHA256.test(sha256)) return undefined
  if (want !== undefined && parseWantDigest(want)?.get(ALGORITHM) === 0) return undefined
  return `${ALGORITHM}=:${Buffer.from(sha256, 'hex').toString('base64')}:`
}

// RFC 8941 §3.2: key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
const KEY = /^[a-z*][a-z0-9_\-.*]*$/
// An Integer (§3.3.1) of at most 15 digits; Want- preferences are 0 to 10 (RFC 9530 §4).
const INTEGER = /^-?[0-9]{1,15}$/
// Parameters after a member (`;a=1`): read past, their values are not ours to judge.
const PARAMETER = /^[a-z*][a-z0-9_\-.*]*(=[^;]*)?$/

/**
 * The preferences of a `Want-Repr-Digest` (or `Want-Content-Digest`) value, by algorithm: a
 * dictionary of integers from 0 ("not acceptable") to 10. `undefined` when the field does not
 * parse, which makes the whole field ignored (RFC 8941 §4.2); a member whose value is not such an
 * integer is left out. A key given twice keeps its last value (§3.2). Several field lines, as
 * Node hands them joined by commas or as an array, are one dictionary.
 */
export function parseWantDigest(field: string | string[]): Map<string, number> | undefined {
  const value = Array.isArray(field) ? field.join(',') : field
  const preferences = new Map<string, number>()
  if (value.trim() === '') return preferences
  // No member of a dictionary of integers holds a comma or a quote: a plain split is the parse.
  if (value.includes('"')) return undefined
  for (const raw of value.split(',')) {
    const member = raw.trim()
    if (member === '') return undefined
    const [item = '', ...parameters] = member.split(';').map((part) => part.trim())
    if (!parameters.every((parameter) => PARAMETER.test(parameter))) return undefined
    const equals = item.indexOf('=')
    const key = equals < 0 ? item : item.slice(0, equals)
    if (!KEY.test(key)) return undefined
    // A bare key is the Boolean true: no preference.
    if (equals < 0) {
      preferences.delete(key)
      continue
    }
    const text = item.slice(equals + 1)
    const number = INTEGER.test(text) ? Number(text) : Number.NaN
    if (Number.isInteger(number) && number >= 0 && number <= 10) preferences.set(key, number)
    else preferences.delete(key)
  }
  return preferences
}
