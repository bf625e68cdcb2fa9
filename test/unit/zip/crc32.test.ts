import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { crc32 } from '../../../src/zip/crc32'

/** Python's zlib.crc32 of `bytes`: an independent implementation (zlib's own). */
function zlibCrc32(bytes: Buffer): number {
  const result = spawnSync(
    'python3',
    ['-c', 'import sys, zlib; print(zlib.crc32(sys.stdin.buffer.read()))'],
    {
      input: bytes,
      encoding: 'utf8',
    },
  )
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`)
  return Number(result.stdout.trim())
}

describe('crc32()', () => {
  it('gives the check value of CRC-32/ISO-HDLC for "123456789"', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })

  it('gives 0 for no bytes', () => {
    expect(crc32(Buffer.alloc(0))).toBe(0)
  })

  it('returns an unsigned 32-bit integer, never a negative one', () => {
    // 0xcbf43926 has its top bit set: as a signed 32-bit integer it would be negative.
    expect(crc32(Buffer.from('123456789'))).toBeGreaterThan(0x7fffffff)
    expect(crc32(Buffer.from('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339)
  })

  it.each([1, 7, 15, 16, 17, 31, 4096, 65537, 1_000_003])('agrees with zlib on %i random bytes', (length) => {
    const bytes = randomBytes(length)
    expect(crc32(bytes)).toBe(zlibCrc32(bytes))
  })

  it('continues from a previous CRC, whatever the cut', () => {
    const bytes = randomBytes(100_000)
    const whole = crc32(bytes)
    for (const cut of [0, 1, 9, 16, 4095, 99_999, 100_000]) {
      expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(whole)
    }
  })

  it('reads a view into a larger buffer from its own offset', () => {
    const bytes = randomBytes(1000)
    const copy = Buffer.from(bytes.subarray(3, 900))
    expect(crc32(bytes.subarray(3, 900))).toBe(crc32(copy))
  })
})
