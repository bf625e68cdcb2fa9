/** @module Content-Type: from metadata or the name, charset for text types, and active content. */
import { charset, lookup } from 'mime-types'

// type "/" subtype *( OWS ";" OWS parameter ), tokens only (RFC 9110 §8.3.1): nothing that could split a header.
// OWS is spaces and tabs only (`\s` would let CR/LF through). A quoted value holds qdtext only
// (HTAB, SP, visible ASCII but " and \, obs-text): no NUL, DEL or character above U+00FF, which
// Node would refuse in a header after the response was planned.
const MEDIA_TYPE =
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+([\t ]*;[\t ]*[!#$%&'*+.^_`|~0-9A-Za-z-]+=("[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+))*$/

const OCTET_STREAM = 'application/octet-stream'

/** Whether `value` is a media type that is safe to send as a Content-Type (for option checks). */
export function isMediaType(value: string): boolean {
  return MEDIA_TYPE.test(value.trim())
}

/**
 * The Content-Type to send: `explicit` when it is a valid media type, else the type of `name`,
 * else `application/octet-stream`. Text types get `charset=utf-8` when they name no charset.
 */
export function resolveContentType(explicit: string | undefined, name: string): string {
  const type =
    explicit !== undefined && MEDIA_TYPE.test(explicit.trim())
      ? explicit.trim()
      : lookup(name) || OCTET_STREAM
  if (/;\s*charset=/i.test(type)) return type
  const encoding = charset(type)
  return encoding ? `${type}; charset=${encoding.toLowerCase()}` : type
}

const ACTIVE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'application/xslt+xml',
  'text/javascript',
  'application/javascript',
  'application/x-javascript',
  'text/ecmascript',
  'application/ecmascript',
  'text/vtt',
])

/**
 * Whether a browser would run or render-with-scripts content of this type served inline: HTML,
 * SVG, XML (any `+xml`), JavaScript. Such content from users is an XSS vector on the app's origin.
 */
export function isActiveContent(contentType: string): boolean {
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return ACTIVE.has(essence) || essence.endsWith('+xml')
}
