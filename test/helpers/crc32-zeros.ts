/**
 * The CRC-32 of `length` zero bytes without reading them: appending a zero byte is a linear map of
 * the CRC register over GF(2), so `length` of them is that map's power, by repeated squaring (as
 * zlib's crc32_combine does). For rows that point at sparse files of gigabytes.
 */

const POLYNOMIAL = 0xedb88320

/** A 32×32 matrix over GF(2), as the images of the 32 unit vectors. */
type Matrix = Uint32Array<ArrayBuffer>

function apply(matrix: Matrix, vector: number): number {
  let sum = 0
  for (let bit = 0; vector !== 0; bit++, vector >>>= 1) if (vector & 1) sum ^= matrix[bit] as number
  return sum >>> 0
}

function multiply(a: Matrix, b: Matrix): Matrix {
  const product = new Uint32Array(32)
  for (let bit = 0; bit < 32; bit++) product[bit] = apply(a, b[bit] as number)
  return product
}

/** The map of the register for one zero byte: eight shifts, each folding the polynomial in. */
function zeroByte(): Matrix {
  let oneBit: Matrix = new Uint32Array(32)
  oneBit[0] = POLYNOMIAL
  for (let bit = 1; bit < 32; bit++) oneBit[bit] = (1 << (bit - 1)) >>> 0
  for (let square = 0; square < 3; square++) oneBit = multiply(oneBit, oneBit)
  return oneBit
}

/** The CRC-32 (zlib's) of `length` zero bytes. */
export function crc32OfZeros(length: number): number {
  let register = 0xffffffff
  let power = zeroByte()
  for (let n = length; n > 0; n = Math.floor(n / 2)) {
    if (n % 2 === 1) register = apply(power, register)
    power = multiply(power, power)
  }
  return (register ^ 0xffffffff) >>> 0
}
