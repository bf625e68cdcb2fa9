/**
 * @module Presigned locations: the storage and key a bucket hand-off presigns, and the checks a
 * presigned URL passes before it goes into a header.
 */
import { HandoffError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import type { Storage } from '../storage/storage'

/** A storage that can presign URLs. */
export type SigningStorage = Storage & Required<Pick<Storage, 'signedUrl'>>

/** Whether `storage` can presign URLs (`signedUrl()`), as `redirectToBucket()` and `nginxFromBucket()` need. */
export function canSign(storage: Storage): storage is SigningStorage {
  return typeof storage.signedUrl === 'function'
}

/** The storage and key of `file`, when that storage can presign URLs; else a HandoffError. */
export function signingLocation(file: DownloadFile, owner: string): { storage: SigningStorage; key: string } {
  const location = file.location
  if (location?.kind !== 'storage') {
    throw new HandoffError(
      `${owner} needs files that are in a storage; this view served a ${location?.kind ?? 'generated'} file`,
    )
  }
  if (!canSign(location.storage)) {
    throw new HandoffError(
      `${owner} needs a storage that presigns URLs (signedUrl(), as S3Storage has); ${location.storage.name} has none`,
    )
  }
  return { storage: location.storage, key: location.key }
}

// Visible ASCII only: no space, no control character (CR/LF would split the header).
const HEADER_URL = /^[\x21-\x7e]+$/

/**
 * `value`, a URL a storage presigned, parsed and checked for a header (`Location`,
 * `X-Accel-Redirect`): an http(s) URL of visible ASCII only, as it was given (the URL parser would
 * silently drop a CR or LF); else a HandoffError.
 */
export function checkedUrl(value: unknown, storage: Storage): URL {
  const refuse = (why: string): never => {
    throw new HandoffError(`${storage.name}.signedUrl() returned ${why}`)
  }
  if (typeof value !== 'string') return refuse('no string')
  if (!HEADER_URL.test(value)) return refuse('a URL with spaces or control characters')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return refuse('something that is not a URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('a URL that is not http(s)')
  if (url.username !== '' || url.password !== '') return refuse('a URL with credentials')
  if (!HEADER_URL.test(url.href)) return refuse('a URL with spaces or control characters')
  return url
}
