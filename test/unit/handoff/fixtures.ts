/** Test storages for the bucket hand-offs: a MemoryStorage that presigns URLs the way the AWS SDK writes them. */

import { MemoryStorage } from '../../../src/storage/memory-storage'
import type { SignedUrlOptions } from '../../../src/storage/storage'

/** The endpoint and bucket of the URLs that {@link PresigningStorage} makes. */
export const BUCKET_URL = 'https://s3.example.com/media'

/** Each segment escaped like the SDK does: encodeURIComponent, plus `!'()*`. */
export function sdkPath(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/')
}

/**
 * A MemoryStorage with `signedUrl()`: `BUCKET_URL/<key>?X-Amz-Expires=…&response-…=…&X-Amz-Signature=…`,
 * recording each call. `nextUrl` replaces the next URL it returns (a storage that misbehaves).
 */
export class PresigningStorage extends MemoryStorage {
  readonly signed: { key: string; options: SignedUrlOptions }[] = []
  nextUrl: unknown

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    this.signed.push({ key, options })
    if (this.nextUrl !== undefined) {
      const url = this.nextUrl
      this.nextUrl = undefined
      return url as string
    }
    const query = new URLSearchParams({ 'X-Amz-Expires': String(options.expiresIn) })
    if (options.contentDisposition) query.set('response-content-disposition', options.contentDisposition)
    if (options.contentType) query.set('response-content-type', options.contentType)
    query.set('X-Amz-Signature', 'f'.repeat(64))
    return `${BUCKET_URL}/${sdkPath(key)}?${query.toString().replaceAll('+', '%20')}`
  }
}
