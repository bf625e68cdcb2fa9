/** exactly(): a chunk goes back to a recycling source only once the response has written it. */
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { exactly } from '../../../src/node/send'

const chunks = () => Array.from({ length: 24 }, (_, i) => Buffer.alloc(4096, i))

/** A response whose writes complete `delayMs` later (0: at once), remembering the chunks done. */
function response(delayMs: number) {
  const written = new Set<Buffer>()
  const res = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      const done = () => {
        written.add(chunk)
        callback()
      }
      if (delayMs === 0) done()
      else setTimeout(done, delayMs)
    },
  })
  return { res, written }
}

it('recycles no chunk that the response has not finished writing', async () => {
  // Writes of 4 KiB under a 16 KiB high-water mark return true while still pending: the case in
  // which a chunk is asked for again before the previous one left.
  const { res, written } = response(3)
  const early: number[] = []
  const recycled: Buffer[] = []
  await pipeline(
    Readable.from(chunks()),
    exactly(24 * 4096, res, (chunk) => {
      if (!written.has(chunk)) early.push(chunk[0] as number)
      recycled.push(chunk)
    }),
    res,
  )
  expect(early).toEqual([])
})

it('recycles the chunks that were written before the next one was asked for', async () => {
  const { res } = response(0)
  const recycled: Buffer[] = []
  await pipeline(
    Readable.from(chunks()),
    exactly(24 * 4096, res, (chunk) => recycled.push(chunk)),
    res,
  )
  expect(recycled.length).toBe(24)
})

it('fails on a short source, whatever the recycling', async () => {
  const { res } = response(0)
  await expect(
    pipeline(
      Readable.from(chunks()),
      exactly(25 * 4096, res, () => undefined),
      res,
    ),
  ).rejects.toThrow(/ended after 98304 of 102400 bytes/)
})
