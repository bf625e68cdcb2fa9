/** The bucket hand-offs: which files they refuse, and what they refuse to put into a header. */

import { HandoffError } from '../../../src/errors'
import { StorageFile } from '../../../src/files/storage-file'
import { redirectToBucket } from '../../../src/handoff/bucket-redirect'
import { applyHandoff, type Handoff } from '../../../src/handoff/handoff'
import { nginxFromBucket } from '../../../src/handoff/nginx-bucket'
import { checkedUrl } from '../../../src/handoff/presigned'
import { respond } from '../../../src/http/respond'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { MemoryFile, NUMS } from '../http/fixtures'
import { PresigningStorage } from './fixtures'

const REDIRECT = redirectToBucket()
const X_ACCEL = nginxFromBucket({ location: '/_bucket/' })
const GET = { method: 'GET', headers: {} }

const storage = new PresigningStorage({ name: 'bucket' })
const numsIn = (where: MemoryStorage) => new StorageFile(where, 'nums.txt', { size: NUMS.length })

/** The HandoffError that delivering nums.txt of `where` rejects with. */
async function refusal(where: MemoryStorage, handoff: Handoff): Promise<HandoffError> {
  const error = await Promise.resolve(applyHandoff(respond(GET, numsIn(where)), [handoff])).then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(HandoffError)
  return error as HandoffError
}

describe('redirectToBucket() and nginxFromBucket()', () => {
  it('say they presign, which views check at startup', () => {
    expect(REDIRECT.presigns).toBe(true)
    expect(X_ACCEL.presigns).toBe(true)
  })

  describe('when the storage cannot presign URLs', () => {
    it.each([
      ['redirectToBucket()', REDIRECT],
      ['nginxFromBucket()', X_ACCEL],
    ])('%s refuses, naming the storage', async (owner, handoff) => {
      const error = await refusal(new MemoryStorage({ name: 'MemoryStorage(plain)' }), handoff)
      expect(error.message).toBe(
        `${owner} needs a storage that presigns URLs (signedUrl(), as S3Storage has); MemoryStorage(plain) has none`,
      )
    })
  })

  it('refuses a file that is not in a storage (generated content)', async () => {
    const error = await Promise.resolve(applyHandoff(respond(GET, new MemoryFile(NUMS)), [REDIRECT])).catch(
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(HandoffError)
    expect((error as Error).message).toBe(
      'redirectToBucket() needs files that are in a storage; this view served a generated file',
    )
  })

  describe('when the storage returns a URL that cannot go into a header', () => {
    it.each([
      [
        'CR LF',
        'https://s3.example.com/media/a.txt\r\nSet-Cookie: a=b',
        'a URL with spaces or control characters',
      ],
      ['a LF alone', 'https://s3.example.com/media/a.txt\n', 'a URL with spaces or control characters'],
      ['a space', 'https://s3.example.com/media/a b.txt', 'a URL with spaces or control characters'],
      ['a NUL', 'https://s3.example.com/media/a\u0000.txt', 'a URL with spaces or control characters'],
      ['non-ASCII', 'https://s3.example.com/media/é.txt', 'a URL with spaces or control characters'],
      ['javascript:', 'javascript:alert(1)', 'a URL that is not http(s)'],
      ['a relative URL', '/media/a.txt', 'something that is not a URL'],
      ['credentials', 'https://user:pw@s3.example.com/media/a.txt', 'a URL with credentials'],
      ['no string', 42, 'no string'],
    ])('refuses %s, for both', async (_label, url, why) => {
      for (const handoff of [REDIRECT, X_ACCEL]) {
        storage.nextUrl = url
        const error = await refusal(storage, handoff)
        expect(error.message).toBe(`bucket.signedUrl() returned ${why}`)
      }
    })
  })

  it('lets the storage’s own failure through', async () => {
    const failing = new PresigningStorage({ name: 'failing' })
    failing.signedUrl = async () => {
      throw new Error('no credentials')
    }
    await expect(applyHandoff(respond(GET, numsIn(failing)), [REDIRECT])).rejects.toThrow('no credentials')
  })
})

describe('checkedUrl()', () => {
  it('returns the parsed URL of a clean one', () => {
    expect(checkedUrl('https://s3.example.com/media/a.txt?X-Amz-Expires=60', storage).pathname).toBe(
      '/media/a.txt',
    )
  })
})
