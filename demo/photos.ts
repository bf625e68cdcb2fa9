/**
 * @module The demo's photos, drawn by sharp at seed time from small SVG scenes (shapes only, no
 * text, so the bytes do not depend on the machine's fonts). Nothing is downloaded.
 */
import type Sharp from 'sharp'

/** sharp, loaded when a photo is drawn (a seed with every photo in place never loads libvips). */
function sharp(input: Buffer): Sharp.Sharp {
  return (require('sharp') as typeof Sharp)(input)
}

/** One seeded photo: how to draw it, and how to encode it. */
export interface PhotoSeed {
  slug: string
  title: string
  name: string
  draw(): Promise<Buffer>
}

function svg(width: number, height: number, body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`,
  )
}

/** The seed photos, in insertion order. */
export const PHOTO_SEEDS: PhotoSeed[] = [
  {
    slug: 'sunset',
    title: 'A sunset (JPEG, 1200×800)',
    name: 'sunset.jpg',
    draw: () =>
      sharp(
        svg(
          1200,
          800,
          '<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#ff7e5f"/><stop offset="1" stop-color="#2b1055"/></linearGradient></defs>' +
            '<rect width="100%" height="100%" fill="url(#sky)"/><circle cx="600" cy="560" r="180" fill="#ffd166"/>' +
            '<rect y="620" width="100%" height="180" fill="#1b263b"/>',
        ),
      )
        .jpeg({ quality: 85 })
        .toBuffer(),
  },
  {
    slug: 'rotated',
    title: 'Stored sideways with EXIF orientation 6 (shown 400×600)',
    name: 'rotated.jpg',
    // 600×400 pixels whose arrow points left; orientation 6 (turn 90° clockwise to show) makes it
    // a 400×600 picture of an arrow pointing up.
    draw: () =>
      sharp(
        svg(
          600,
          400,
          '<rect width="100%" height="100%" fill="#06d6a0"/><polygon points="480,150 180,150 180,80 60,200 180,320 180,250 480,250" fill="#073b4c"/>',
        ),
      )
        .jpeg({ quality: 85 })
        .withMetadata({ orientation: 6 })
        .toBuffer(),
  },
  {
    slug: 'badge',
    title: 'A badge with transparency (PNG, 512×512)',
    name: 'badge.png',
    draw: () =>
      sharp(
        svg(
          512,
          512,
          '<circle cx="256" cy="256" r="220" fill="#118ab2"/><circle cx="256" cy="256" r="120" fill="#ef476f" fill-opacity="0.8"/>',
        ),
      )
        .png()
        .toBuffer(),
  },
  {
    slug: 'tiles',
    title: 'Tiles (WebP, 800×600)',
    name: 'tiles.webp',
    draw: () => {
      const tiles: string[] = []
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 8; x++)
          tiles.push(
            `<rect x="${x * 100}" y="${y * 100}" width="100" height="100" fill="hsl(${(x * 45 + y * 30) % 360},70%,55%)"/>`,
          )
      return sharp(svg(800, 600, tiles.join('')))
        .webp({ quality: 80 })
        .toBuffer()
    },
  },
]
