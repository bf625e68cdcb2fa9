/**
 * @module CRC-32 (ISO-HDLC: the checksum of ZIP, gzip and PNG), table-driven. Node 20 has no
 * `zlib.crc32` (it came in 22.2), and a ZIP member's CRC must be known before its first byte goes out.
 */

/** The bit-reflected CRC-32 polynomial (0x04C11DB7). */
const POLYNOMIAL = 0xedb88320

/**
 * Sixteen 256-entry tables, one after the other, for "slicing by 16": sixteen bytes per step. Measured
 * on the 2-core VM: about 1 GiB/s, as fast as Node's SHA-256, where the one-table loop made 200 MiB/s
 * and slicing by 8 about 500 MiB/s; one flat array keeps V8's bounds checks cheap.
 */
const TABLE = buildTable()

function buildTable(): Int32Array {
  const table = new Int32Array(256 * 16)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n] as number
    for (let t = 1; t < 16; t++) {
      c = (table[c & 0xff] as number) ^ (c >>> 8)
      table[t * 256 + n] = c
    }
  }
  return table
}

/**
 * The CRC-32 of `bytes`, continuing from `previous` (the CRC of the bytes before them; `0` to
 * start), as an unsigned 32-bit integer: `crc32(b, crc32(a))` is `crc32(a + b)`.
 *
 * @example
 * crc32(Buffer.from('123456789')) // 0xcbf43926
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const t = TABLE
  const b = bytes
  let crc = ~previous | 0
  let i = 0
  const length = b.length
  const bulk = length - (length % 16)
  // Slicing by 16: the CRC folds into the first four bytes, then one lookup per byte, all independent.
  while (i < bulk) {
    crc ^=
      (b[i] as number) |
      ((b[i + 1] as number) << 8) |
      ((b[i + 2] as number) << 16) |
      ((b[i + 3] as number) << 24)
    crc =
      (t[3840 + (crc & 0xff)] as number) ^
      (t[3584 + ((crc >>> 8) & 0xff)] as number) ^
      (t[3328 + ((crc >>> 16) & 0xff)] as number) ^
      (t[3072 + (crc >>> 24)] as number) ^
      (t[2816 + (b[i + 4] as number)] as number) ^
      (t[2560 + (b[i + 5] as number)] as number) ^
      (t[2304 + (b[i + 6] as number)] as number) ^
      (t[2048 + (b[i + 7] as number)] as number) ^
      (t[1792 + (b[i + 8] as number)] as number) ^
      (t[1536 + (b[i + 9] as number)] as number) ^
      (t[1280 + (b[i + 10] as number)] as number) ^
      (t[1024 + (b[i + 11] as number)] as number) ^
      (t[768 + (b[i + 12] as number)] as number) ^
      (t[512 + (b[i + 13] as number)] as number) ^
      (t[256 + (b[i + 14] as number)] as number) ^
      (t[b[i + 15] as number] as number)
    i += 16
  }
  while (i < length) {
    crc = (t[(crc ^ (b[i] as number)) & 0xff] as number) ^ (crc >>> 8)
    i++
  }
  return ~crc >>> 0
}
