/**
 * @module ThumbHash: a 20–30 byte sketch of an image (average colour, a few DCT terms of luminance,
 * colour and alpha, the aspect ratio) that a page shows, blurred, while the real image loads.
 *
 * Written here rather than taken from the `thumbhash` package (Evan Wallace's public reference code,
 * MIT): the encoder and decoder are about 150 lines with no dependencies, and a library should not
 * add a runtime dependency for that. The bit layout is the reference's, so hashes made here decode
 * with any ThumbHash decoder, and the reference's hashes decode here. No sharp: the pixels come
 * from the caller (the image probe resizes with sharp before it calls {@link rgbaToThumbHash}).
 */
import { deflateSync } from 'node:zlib'

/** The largest width and height {@link rgbaToThumbHash} takes: more pixels add nothing but time. */
export const THUMBHASH_MAX_SIDE = 100

/**
 * The ThumbHash of an image of `width` × `height` pixels (each at most 100), given as RGBA bytes
 * (4 per pixel, row by row, alpha not premultiplied).
 *
 * @example
 * const { data, info } = await sharp(input).resize(100, 100, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true })
 * const hash = Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64')
 */
export function rgbaToThumbHash(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    width > THUMBHASH_MAX_SIDE ||
    height > THUMBHASH_MAX_SIDE
  )
    throw new RangeError(`A ThumbHash is made from at most 100 × 100 pixels, not ${width} × ${height}`)
  const pixels = width * height
  if (rgba.length < pixels * 4) throw new RangeError(`${rgba.length} bytes are not ${pixels} RGBA pixels`)

  // The average colour, weighted by alpha: what transparent pixels are composited onto.
  let averageR = 0
  let averageG = 0
  let averageB = 0
  let averageA = 0
  for (let i = 0; i < pixels; i++) {
    const alpha = (rgba[i * 4 + 3] as number) / 255
    averageR += (alpha / 255) * (rgba[i * 4] as number)
    averageG += (alpha / 255) * (rgba[i * 4 + 1] as number)
    averageB += (alpha / 255) * (rgba[i * 4 + 2] as number)
    averageA += alpha
  }
  if (averageA > 0) {
    averageR /= averageA
    averageG /= averageA
    averageB /= averageA
  }

  const hasAlpha = averageA < pixels
  // Fewer luminance terms when alpha needs room; as many along each side as its share of the longer.
  const luminanceLimit = hasAlpha ? 5 : 7
  const longer = Math.max(width, height)
  const lx = Math.max(1, Math.round((luminanceLimit * width) / longer))
  const ly = Math.max(1, Math.round((luminanceLimit * height) / longer))

  // RGBA → LPQA (luminance, yellow–blue, red–green, alpha), composited onto the average colour.
  const l = new Float64Array(pixels)
  const p = new Float64Array(pixels)
  const q = new Float64Array(pixels)
  const a = new Float64Array(pixels)
  for (let i = 0; i < pixels; i++) {
    const alpha = (rgba[i * 4 + 3] as number) / 255
    const r = averageR * (1 - alpha) + (alpha / 255) * (rgba[i * 4] as number)
    const g = averageG * (1 - alpha) + (alpha / 255) * (rgba[i * 4 + 1] as number)
    const b = averageB * (1 - alpha) + (alpha / 255) * (rgba[i * 4 + 2] as number)
    l[i] = (r + g + b) / 3
    p[i] = (r + g) / 2 - b
    q[i] = r - g
    a[i] = alpha
  }

  // Each channel as a DCT: the constant term, and the varying ones scaled to 0–1 by the largest.
  const encodeChannel = (channel: Float64Array, nx: number, ny: number) => {
    let dc = 0
    let scale = 0
    const ac: number[] = []
    const fx = new Float64Array(width)
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = 0; cx * ny < nx * (ny - cy); cx++) {
        for (let x = 0; x < width; x++) fx[x] = Math.cos((Math.PI / width) * cx * (x + 0.5))
        let f = 0
        for (let y = 0; y < height; y++) {
          const fy = Math.cos((Math.PI / height) * cy * (y + 0.5))
          for (let x = 0; x < width; x++) f += (channel[x + y * width] as number) * (fx[x] as number) * fy
        }
        f /= pixels
        if (cx > 0 || cy > 0) {
          ac.push(f)
          scale = Math.max(scale, Math.abs(f))
        } else dc = f
      }
    }
    if (scale > 0) for (let i = 0; i < ac.length; i++) ac[i] = 0.5 + (0.5 / scale) * (ac[i] as number)
    return { dc, ac, scale }
  }
  const lum = encodeChannel(l, Math.max(3, lx), Math.max(3, ly))
  const yb = encodeChannel(p, 3, 3)
  const rg = encodeChannel(q, 3, 3)
  const alpha = hasAlpha ? encodeChannel(a, 5, 5) : undefined

  // The header: 24 bits of constants and luminance scale, then 16 of shape and colour scales.
  const landscape = width > height
  const header24 =
    Math.round(63 * lum.dc) |
    (Math.round(31.5 + 31.5 * yb.dc) << 6) |
    (Math.round(31.5 + 31.5 * rg.dc) << 12) |
    (Math.round(31 * lum.scale) << 18) |
    ((hasAlpha ? 1 : 0) << 23)
  const header16 =
    (landscape ? ly : lx) |
    (Math.round(63 * yb.scale) << 3) |
    (Math.round(63 * rg.scale) << 9) |
    ((landscape ? 1 : 0) << 15)
  const terms = alpha ? [lum.ac, yb.ac, rg.ac, alpha.ac] : [lum.ac, yb.ac, rg.ac]
  const count = terms.reduce((sum, list) => sum + list.length, 0)
  const start = alpha ? 6 : 5
  const hash = new Uint8Array(start + Math.ceil(count / 2))
  hash[0] = header24 & 255
  hash[1] = (header24 >> 8) & 255
  hash[2] = header24 >> 16
  hash[3] = header16 & 255
  hash[4] = header16 >> 8
  if (alpha) hash[5] = Math.round(15 * alpha.dc) | (Math.round(15 * alpha.scale) << 4)

  // The varying terms, 4 bits each, two to a byte (low nibble first).
  let index = 0
  for (const list of terms) {
    for (const f of list) {
      const at = start + (index >> 1)
      hash[at] = (hash[at] as number) | (Math.round(15 * f) << ((index & 1) << 2))
      index++
    }
  }
  return hash
}

/** An image decoded from a ThumbHash: about 32 pixels on its longer side, RGBA. */
export interface ThumbHashImage {
  width: number
  height: number
  rgba: Uint8Array
}

/**
 * The small, blurred image a ThumbHash describes: 32 pixels on its longer side, in the aspect
 * ratio the hash carries (approximately). Throws a RangeError for bytes too short to be a ThumbHash.
 *
 * @example
 * const { width, height, rgba } = thumbHashToRGBA(Buffer.from(photo.image.thumbhash, 'base64'))
 */
export function thumbHashToRGBA(hash: Uint8Array): ThumbHashImage {
  if (hash.length < 5) throw new RangeError(`${hash.length} bytes are too few for a ThumbHash`)
  const byte = (i: number) => hash[i] ?? 0
  const header24 = byte(0) | (byte(1) << 8) | (byte(2) << 16)
  const header16 = byte(3) | (byte(4) << 8)
  const lDc = (header24 & 63) / 63
  const pDc = ((header24 >> 6) & 63) / 31.5 - 1
  const qDc = ((header24 >> 12) & 63) / 31.5 - 1
  const lScale = ((header24 >> 18) & 31) / 31
  const hasAlpha = header24 >> 23 !== 0
  const pScale = ((header16 >> 3) & 63) / 63
  const qScale = ((header16 >> 9) & 63) / 63
  const landscape = header16 >> 15 !== 0
  const lx = Math.max(3, landscape ? (hasAlpha ? 5 : 7) : header16 & 7)
  const ly = Math.max(3, landscape ? header16 & 7 : hasAlpha ? 5 : 7)
  const aDc = hasAlpha ? (byte(5) & 15) / 15 : 1
  const aScale = (byte(5) >> 4) / 15

  // The varying terms; colour ones boosted by 1.25, as the reference does, for what quantization lost.
  const start = hasAlpha ? 6 : 5
  let index = 0
  const decodeChannel = (nx: number, ny: number, scale: number) => {
    const ac: number[] = []
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy > 0 ? 0 : 1; cx * ny < nx * (ny - cy); cx++) {
        const nibble = (byte(start + (index >> 1)) >> ((index & 1) << 2)) & 15
        ac.push((nibble / 7.5 - 1) * scale)
        index++
      }
    }
    return ac
  }
  const lAc = decodeChannel(lx, ly, lScale)
  const pAc = decodeChannel(3, 3, pScale * 1.25)
  const qAc = decodeChannel(3, 3, qScale * 1.25)
  const aAc = hasAlpha ? decodeChannel(5, 5, aScale) : []

  const ratio = thumbHashAspectRatio(hash)
  const width = Math.round(ratio > 1 ? 32 : 32 * ratio)
  const height = Math.round(ratio > 1 ? 32 / ratio : 32)
  const rgba = new Uint8Array(width * height * 4)
  const fx = new Float64Array(Math.max(lx, hasAlpha ? 5 : 3))
  const fy = new Float64Array(Math.max(ly, hasAlpha ? 5 : 3))
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 4) {
      let l = lDc
      let p = pDc
      let q = qDc
      let a = aDc
      for (let cx = 0; cx < fx.length; cx++) fx[cx] = Math.cos((Math.PI / width) * (x + 0.5) * cx)
      for (let cy = 0; cy < fy.length; cy++) fy[cy] = Math.cos((Math.PI / height) * (y + 0.5) * cy)
      for (let cy = 0, j = 0; cy < ly; cy++) {
        const fy2 = (fy[cy] as number) * 2
        for (let cx = cy > 0 ? 0 : 1; cx * ly < lx * (ly - cy); cx++, j++)
          l += (lAc[j] as number) * (fx[cx] as number) * fy2
      }
      for (let cy = 0, j = 0; cy < 3; cy++) {
        const fy2 = (fy[cy] as number) * 2
        for (let cx = cy > 0 ? 0 : 1; cx < 3 - cy; cx++, j++) {
          const f = (fx[cx] as number) * fy2
          p += (pAc[j] as number) * f
          q += (qAc[j] as number) * f
        }
      }
      if (hasAlpha) {
        for (let cy = 0, j = 0; cy < 5; cy++) {
          const fy2 = (fy[cy] as number) * 2
          for (let cx = cy > 0 ? 0 : 1; cx < 5 - cy; cx++, j++)
            a += (aAc[j] as number) * (fx[cx] as number) * fy2
        }
      }
      // LPQ → RGB; Uint8Array truncates, as the reference's does.
      const b = l - (2 / 3) * p
      const r = (3 * l - b + q) / 2
      const g = r - q
      rgba[i] = Math.max(0, 255 * Math.min(1, r))
      rgba[i + 1] = Math.max(0, 255 * Math.min(1, g))
      rgba[i + 2] = Math.max(0, 255 * Math.min(1, b))
      rgba[i + 3] = Math.max(0, 255 * Math.min(1, a))
    }
  }
  return { width, height, rgba }
}

/** The width / height ratio a ThumbHash carries, rounded to its few luminance terms. */
export function thumbHashAspectRatio(hash: Uint8Array): number {
  const header = hash[3] ?? 0
  const hasAlpha = ((hash[2] ?? 0) & 0x80) !== 0
  const landscape = ((hash[4] ?? 0) & 0x80) !== 0
  const lx = landscape ? (hasAlpha ? 5 : 7) : header & 7
  const ly = landscape ? header & 7 : hasAlpha ? 5 : 7
  return lx / ly
}

/**
 * A `data:image/png;base64,…` URL of the image a ThumbHash describes (base64, as an image column
 * stores it, or bytes): a CSS background or `<img src>` placeholder that needs no script. About
 * 32 pixels on its longer side; let the browser scale it (`background-size: cover`), which blurs it
 * further. Throws a RangeError for a value that is not a ThumbHash.
 *
 * @example
 * const placeholder = photo.image?.thumbhash ? thumbHashToDataURL(photo.image.thumbhash) : undefined
 * html`<img src="${variantUrl}" style="background: center / cover url(${placeholder})">`
 */
export function thumbHashToDataURL(hash: string | Uint8Array): string {
  const bytes = typeof hash === 'string' ? decodeBase64(hash) : hash
  const { width, height, rgba } = thumbHashToRGBA(bytes)
  return `data:image/png;base64,${encodePng(width, height, rgba).toString('base64')}`
}

function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new RangeError('A ThumbHash is base64 text')
  return Buffer.from(text, 'base64')
}

/** An RGBA PNG (8 bits a channel, no filter), compressed with node:zlib. */
function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const stride = width * 4
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) {
    // Each row: filter type 0 (none), then its pixels.
    raw[y * (stride + 1)] = 0
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bits per channel
  header[9] = 6 // truecolour with alpha
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

let crcTable: Uint32Array | undefined

/** CRC-32 as PNG computes it (node:zlib has crc32 only from Node 22; the library supports 20). */
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 255] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}
