/** deliver(): which plans it touches, and what it refuses to put into a header. */
import { deliver } from '../../../src/delivery/deliver'
import { type Delivery, resolveDelivery } from '../../../src/delivery/options'
import { checkedUrl } from '../../../src/delivery/presigned'
import { DeliveryError } from '../../../src/errors'
import { StorageFile } from '../../../src/files/storage-file'
import { respond } from '../../../src/responder/respond'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { MemoryFile, NUMS } from '../responder/fixtures'
import { PresigningStorage } from './fixtures'

const REDIRECT = resolveDelivery('redirect', 'test') as Delivery
const X_ACCEL = resolveDelivery({ mode: 'x-accel', location: '/_bucket/' }, 'test') as Delivery
const GET = { method: 'GET', headers: {} }

const storage = new PresigningStorage({ name: 'bucket' })
const numsIn = (where: MemoryStorage) => new StorageFile(where, 'nums.txt', { size: NUMS.length })

/** The DeliveryError that delivering nums.txt of `where` rejects with. */
async function refusal(where: MemoryStorage, delivery: Delivery): Promise<DeliveryError> {
  const error = await deliver(respond(GET, numsIn(where)), delivery).then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(DeliveryError)
  return error as DeliveryError
}

describe('deliver()', () => {
  it("returns the plan itself for 'stream'", async () => {
    const plan = respond(GET, numsIn(storage))
    expect(await deliver(plan, { mode: 'stream' })).toBe(plan)
  })

  describe('when the storage cannot presign URLs', () => {
    it.each([
      ['redirect', REDIRECT],
      ['x-accel', X_ACCEL],
    ])('refuses %s, naming the storage', async (mode, delivery) => {
      const error = await refusal(new MemoryStorage({ name: 'MemoryStorage(plain)' }), delivery)
      expect(error.message).toBe(
        `Delivery '${mode}' needs a storage that presigns URLs (signedUrl(), as S3Storage has); MemoryStorage(plain) has none`,
      )
    })
  })

  it('refuses a file that is not in a storage (generated content)', async () => {
    const error = await deliver(respond(GET, new MemoryFile(NUMS)), REDIRECT).catch(
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(DeliveryError)
    expect((error as Error).message).toBe(
      "Delivery 'redirect' needs files that are in a storage; this view served a generated file",
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
    ])('refuses %s, for redirect and for x-accel', async (_label, url, why) => {
      for (const delivery of [REDIRECT, X_ACCEL]) {
        storage.nextUrl = url
        const error = await refusal(storage, delivery)
        expect(error.message).toBe(`bucket.signedUrl() returned ${why}`)
      }
    })
  })

  it('lets the storage’s own failure through', async () => {
    const failing = new PresigningStorage({ name: 'failing' })
    failing.signedUrl = async () => {
      throw new Error('no credentials')
    }
    await expect(deliver(respond(GET, numsIn(failing)), REDIRECT)).rejects.toThrow('no credentials')
  })
})

describe('checkedUrl()', () => {
  it('returns the parsed URL of a clean one', () => {
    expect(checkedUrl('https://s3.example.com/media/a.txt?X-Amz-Expires=60', storage).pathname).toBe(
      '/media/a.txt',
    )
  })
})
