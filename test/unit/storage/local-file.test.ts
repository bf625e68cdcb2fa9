/** openLocalFile(): the read budget that file streams share holds with many slow consumers. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { DEFAULT_READ_CHUNK, MIN_CHUNK, openLocalFile, READ_BUDGET } from '../../../src/storage/local-file'

let dir: string
let file: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'downloadview-local-file-'))
  file = path.join(dir, 'big.bin')
  await writeFile(file, Buffer.alloc(2 * DEFAULT_READ_CHUNK, 1))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The first chunk of `stream`, taken as a consumer does; nothing more is asked of the stream. */
async function firstChunk(stream: Readable): Promise<Buffer> {
  const { value } = await stream[Symbol.asyncIterator]().next()
  return value as Buffer
}

describe('openLocalFile() streams that share the read budget', () => {
  it('hold at most the budget plus one small chunk each when no consumer takes more', async () => {
    // Slow clients arrive one after another, and each stalls after its first chunk: the chunks
    // they hold must not add up beyond the budget, however few streams were open when they read.
    const count = 100
    const streams: Readable[] = []
    let held = 0
    try {
      for (let i = 0; i < count; i++) {
        const stream = await openLocalFile(file, undefined, DEFAULT_READ_CHUNK)
        streams.push(stream)
        held += (await firstChunk(stream)).length
      }
      expect(held).toBeLessThanOrEqual(READ_BUDGET + count * MIN_CHUNK)
    } finally {
      for (const stream of streams) stream.destroy()
    }
  })

  it('gives a stream the full chunk again once the others are destroyed', async () => {
    const stream = await openLocalFile(file, undefined, DEFAULT_READ_CHUNK)
    try {
      expect((await firstChunk(stream)).length).toBe(DEFAULT_READ_CHUNK)
    } finally {
      stream.destroy()
    }
  })

  it('reads large chunks for a consumer that keeps taking them', async () => {
    const stream = await openLocalFile(file, undefined, DEFAULT_READ_CHUNK)
    const sizes: number[] = []
    for await (const chunk of stream) sizes.push((chunk as Buffer).length)
    expect(sizes).toEqual([DEFAULT_READ_CHUNK, DEFAULT_READ_CHUNK])
  })
})
