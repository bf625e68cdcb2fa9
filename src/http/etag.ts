/** @module Entity tags (RFC 9110 §8.8.3): derivation, parsing, strong and weak comparison. */
import type { DownloadFile } from '../files/download-file'

// entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text
const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/

/**
 * The entity tag of `file`: its explicit `etag` when valid, a strong tag from its SHA-256, else a
 * weak tag from size and modification time (a file rewritten within one second with the same size
 * would keep it: that is what "weak" admits). `undefined` when nothing identifies the content.
 */
export function entityTag(
  file: Pick<DownloadFile, 'etag' | 'sha256' | 'size' | 'modifiedAt'>,
): string | undefined {
  if (file.etag !== undefined && isEntityTag(file.etag)) return file.etag
  if (file.sha256 && /^[0-9a-f]{64}$/i.test(file.sha256)) return `"${file.sha256.toLowerCase()}"`
  if (file.size !== undefined && file.modifiedAt && !Number.isNaN(file.modifiedAt.getTime())) {
    return `W/"${file.size.toString(16)}-${file.modifiedAt.getTime().toString(16)}"`
  }
  return undefined
}

/** Whether `value` is a syntactically valid entity tag (and so safe to put in a header). */
export function isEntityTag(value: string): boolean {
  return ENTITY_TAG.test(value)
}

/**
 * The entity tags of an If-Match / If-None-Match value, `'*'` for the wildcard, or `undefined` when
 * the value is malformed. Commas inside quoted tags do not split.
 */
export function parseEntityTags(header: string): string[] | '*' | undefined {
  const value = header.trim()
  if (value === '*') return '*'
  const tags: string[] = []
  const pattern = /\s*((?:W\/)?"[^"]*")\s*(?:,|$)|\s*,/gy
  let index = 0
  while (index < value.length) {
    pattern.lastIndex = index
    const match = pattern.exec(value)
    if (!match) return undefined
    if (match[1] !== undefined) tags.push(match[1])
    index = pattern.lastIndex
  }
  return tags
}

/** Strong comparison: both tags strong and identical. */
export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b
}

/** Weak comparison: the opaque parts are identical, whatever the W/ prefixes. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b)
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}
