/** @module MemoryStorage passes the Storage contract. */
import { MemoryStorage } from '../../src/storage/memory-storage'
import type { Storage } from '../../src/storage/storage'
import { describeStorageContract } from './storage.contract'

describeStorageContract('MemoryStorage', async () => ({ storage: new MemoryStorage() }))

describe('MemoryStorage', () => {
  describe('name', () => {
    it('is "MemoryStorage" by default', () => {
      expect(new MemoryStorage().name).toBe('MemoryStorage')
    })

    it('is the name given in the options', () => {
      expect(new MemoryStorage({ name: 'thumbnails' }).name).toBe('thumbnails')
    })
  })

  it('has no local path to offer', () => {
    const storage: Storage = new MemoryStorage()
    expect(storage.localPath).toBeUndefined()
  })

  it('keeps the files of each instance apart', async () => {
    const first = new MemoryStorage()
    const second = new MemoryStorage()
    await first.save('a.txt', 'first')
    expect(await second.exists('a.txt')).toBe(false)
  })

  it('keeps a copy, not the caller’s buffer', async () => {
    const storage = new MemoryStorage()
    const bytes = Buffer.from('before')
    await storage.save('a.txt', bytes)
    bytes.write('AFTER!')
    const stream = await storage.open('a.txt')
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks).toString()).toBe('before')
  })
})
