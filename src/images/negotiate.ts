/**
 * @module Choosing a variant's format from the request's `Accept` header (RFC 9110 §12.5.1), for
 * `format=auto`: AVIF, then WebP, then a format every browser shows (the source's JPEG or PNG).
 */
import type { VariantFormat } from './variants'

/** One member of an Accept header: a media range and its weight. */
export interface MediaRange {
  /** `image`, or `*`; lower case. */
  type: string
  /** `avif`, or `*`; lower case. */
  subtype: string
  /** The weight, 0 to 1; 0 refuses the range. */
  q: number
}

// token (RFC 9110 §5.6.2)
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
// qvalue (RFC 9110 §12.4.2): 0 to 1, at most three decimals.
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/**
 * The media ranges of an Accept header, in order. A member that is not a media range, or whose
 * weight is not a qvalue, is skipped (the others still count); `undefined` for a missing or empty
 * header, which accepts anything.
 *
 * @example
 * parseAccept('image/avif,image/*;q=0.8') // [{ type: 'image', subtype: 'avif', q: 1 }, { type: 'image', subtype: '*', q: 0.8 }]
 */
export function parseAccept(header: string | string[] | undefined): MediaRange[] | undefined {
  const value = Array.isArray(header) ? header.join(',') : header
  if (value === undefined || value.trim() === '') return undefined
  const ranges: MediaRange[] = []
  for (const member of value.split(',')) {
    const [range = '', ...parameters] = member.split(';').map((part) => part.trim().toLowerCase())
    if (range === '') continue
    const [type = '', subtype = '', extra] = range.split('/')
    if (extra !== undefined || !TOKEN.test(type) || !TOKEN.test(subtype)) continue
    // `*/avif` names nothing.
    if (type === '*' && subtype !== '*') continue
    let q = 1
    let valid = true
    for (const parameter of parameters) {
      const [name = '', weight = ''] = parameter.split('=').map((part) => part.trim())
      if (name !== 'q') continue
      if (!QVALUE.test(weight)) valid = false
      else q = Number(weight)
    }
    if (valid) ranges.push({ type, subtype, q })
  }
  return ranges
}

/**
 * The weight `ranges` give `image/<subtype>`: that of the most specific range that matches it
 * (`image/png`, then `image/*`, then the any-type range), 0 when none does. With `wildcards:
 * false` only a range that names the type counts.
 */
export function imageQuality(ranges: readonly MediaRange[], subtype: string, wildcards: boolean): number {
  let best: { specificity: number; q: number } | undefined
  for (const range of ranges) {
    const specificity =
      range.type === 'image' && range.subtype === subtype
        ? 2
        : wildcards && range.type === 'image' && range.subtype === '*'
          ? 1
          : wildcards && range.type === '*'
            ? 0
            : -1
    // The most specific range wins; among equals (a range given twice), the first.
    if (specificity >= 0 && (!best || specificity > best.specificity)) best = { specificity, q: range.q }
  }
  return best?.q ?? 0
}

/** What the negotiation knows of the source image (its row's fields). */
export interface NegotiationSource {
  /** The stored format (`jpeg`, `png`, `gif`, `heif`…); `null` when the row has none. */
  format: string | null
  /** Whether it has an alpha channel; `null` when the row does not say. */
  hasAlpha: boolean | null
}

/**
 * The format of a `format=auto` variant, among `allowed`, for a request's `Accept` header:
 *
 * - AVIF and WebP count only when the header names them (`image/avif`, `image/webp`): every
 *   browser sends `image/*` or the any-type range, also those that cannot show them, and those
 *   that can say so.
 * - JPEG and PNG are what every client shows: the header's wildcards count for them, and a request
 *   without Accept takes them.
 * - The highest weight wins; `q=0` refuses a format. Among equal weights: AVIF (the smallest),
 *   then WebP, then the source's own format when it is JPEG or PNG, then PNG for an image with
 *   alpha (or unknown alpha) and JPEG for one without, then the other of the two.
 * - A header that accepts none of `allowed` is disregarded (RFC 9110 §12.5.1 allows it; a picture
 *   serves an `<img>` better than a 406): the first allowed of JPEG/PNG in the order above, else
 *   WebP, else AVIF.
 *
 * @example
 * negotiateFormat(req.headers.accept, VARIANT_FORMATS, { format: 'jpeg', hasAlpha: false })
 * // Chrome, Firefox, Safari 16+: 'avif'; Safari 14–15: 'webp'; curl: 'jpeg'
 */
export function negotiateFormat(
  accept: string | string[] | undefined,
  allowed: readonly VariantFormat[],
  source: NegotiationSource,
): VariantFormat {
  const ranges = parseAccept(accept)
  const universal = universalOrder(source)
  const preference: VariantFormat[] = ['avif', 'webp', ...universal]
  const weight = (format: VariantFormat): number => {
    const explicitOnly = format === 'avif' || format === 'webp'
    if (!ranges) return explicitOnly ? 0 : 1
    return imageQuality(ranges, format, !explicitOnly)
  }
  let chosen: { format: VariantFormat; q: number } | undefined
  for (const format of preference) {
    if (!allowed.includes(format)) continue
    const q = weight(format)
    // Strictly greater: an equal weight keeps the earlier, preferred format.
    if (q > 0 && (!chosen || q > chosen.q)) chosen = { format, q }
  }
  if (chosen) return chosen.format
  const fallback = [...universal, 'webp', 'avif'] as const
  return fallback.find((format) => allowed.includes(format)) ?? (allowed[0] as VariantFormat)
}

/** JPEG and PNG in the order a fallback takes them: the source's own, else by alpha. */
function universalOrder(source: NegotiationSource): ['jpeg', 'png'] | ['png', 'jpeg'] {
  if (source.format === 'jpeg') return ['jpeg', 'png']
  if (source.format === 'png') return ['png', 'jpeg']
  // Unknown alpha: PNG keeps whatever transparency there is.
  return source.hasAlpha === false ? ['jpeg', 'png'] : ['png', 'jpeg']
}
