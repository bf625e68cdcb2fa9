import { once } from 'node:events'
import { FileNotFoundError } from '../../../src/errors'
import { multipartBody } from '../../../src/http/multipart'
import { readAll } from '../../helpers/streams'
import { boundaryOf, MemoryFile, NUMS, parseMultipart } from './fixtures'

const TYPE = 'text/plain; charset=utf-8'
const RANGES = [
  { start: 0, end: 1 },
  { start: 4, end: 5 },
  { start: 8, end: 8 },
]

describe('multipartBody()', () => {
  describe('its content type', () => {
    it('is multipart/byteranges with a boundary', () => {
      const body = multipartBody(new MemoryFile(NUMS), RANGES, 9, TYPE)
      expect(body.contentType).toMatch(/^multipart\/byteranges; boundary=[0-9a-f]{24}$/)
    })

    it('has a new boundary for every body', () => {
      const file = new MemoryFile(NUMS)
      expect(multipartBody(file, RANGES, 9, TYPE).contentType).not.toBe(
        multipartBody(file, RANGES, 9, TYPE).contentType,
      )
    })
  })

  describe('its length', () => {
    it('is the exact number of bytes of the body', async () => {
      const body = multipartBody(new MemoryFile(NUMS), RANGES, 9, TYPE)
      expect((await readAll(await body.open())).length).toBe(body.length)
    })

    it('is exact for a content type with non-ASCII bytes', async () => {
      const type = 'text/plain; title="caf\u00e9"'
      const body = multipartBody(new MemoryFile(NUMS), RANGES, 9, type)
      expect((await readAll(await body.open())).length).toBe(body.length)
    })

    it('is known before the body is opened', () => {
      const file = new MemoryFile(NUMS)
      multipartBody(file, RANGES, 9, TYPE)
      expect(file.openCount).toBe(0)
    })
  })

  describe('its parts', () => {
    const parse = async () => {
      const body = multipartBody(new MemoryFile(NUMS), RANGES, 9, TYPE)
      return parseMultipart(await readAll(await body.open()), boundaryOf(body.contentType))
    }

    it('are one per range', async () => {
      expect(await parse()).toHaveLength(3)
    })

    it('hold the bytes of each range, in order', async () => {
      expect((await parse()).map((part) => part.body.toString())).toEqual(['12', '56', '9'])
    })

    it('have a Content-Range each', async () => {
      expect((await parse()).map((part) => part.headers['content-range'])).toEqual([
        'bytes 0-1/9',
        'bytes 4-5/9',
        'bytes 8-8/9',
      ])
    })

    it("have the representation's Content-Type each", async () => {
      expect((await parse()).map((part) => part.headers['content-type'])).toEqual([TYPE, TYPE, TYPE])
    })
  })

  describe('when opened', () => {
    it('opens the first range before resolving', async () => {
      const file = new MemoryFile(NUMS)
      await multipartBody(file, RANGES, 9, TYPE).open()
      expect(file.opens).toEqual([{ start: 0, end: 1 }])
    })

    it('opens each range once while streaming', async () => {
      const file = new MemoryFile(NUMS)
      await readAll(await multipartBody(file, RANGES, 9, TYPE).open())
      expect(file.opens).toEqual(RANGES)
    })
  })

  describe('when the file is gone', () => {
    it('rejects with the storage error', async () => {
      const file = new MemoryFile(NUMS, { openError: new FileNotFoundError('gone') })
      await expect(multipartBody(file, RANGES, 9, TYPE).open()).rejects.toBeInstanceOf(FileNotFoundError)
    })
  })

  describe('when the body is destroyed before it is read', () => {
    it('destroys the stream of the first range', async () => {
      const file = new MemoryFile(NUMS)
      const body = await multipartBody(file, RANGES, 9, TYPE).open()
      body.destroy()
      await once(body, 'close')
      expect(file.streams[0]?.destroyed).toBe(true)
    })
  })

  describe('when the body is destroyed halfway', () => {
    const MIB = 1024 * 1024
    const halfway = async () => {
      const file = new MemoryFile(Buffer.alloc(MIB, 1), { chunkSize: 1024 })
      const ranges = [
        { start: 0, end: 15 },
        { start: 100, end: MIB - 1 },
      ]
      const body = await multipartBody(file, ranges, MIB, TYPE).open()
      let read = 0
      for await (const chunk of body) {
        read += (chunk as Buffer).length
        if (read > 4096) break
      }
      return file.streams[1]
    }

    it('stops reading the range being read', async () => {
      expect((await halfway())?.readableEnded).toBe(false)
    })

    it('destroys the stream of the range being read', async () => {
      expect((await halfway())?.destroyed).toBe(true)
    })
  })
})
