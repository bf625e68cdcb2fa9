/**
 * The demo page in a real browser: Debian's Chromium, headless, driven by playwright-core. The page
 * lists every Document and Photo; thumbnails come from the variant route (`format=auto`: AVIF for
 * Chromium), with their ThumbHash as a placeholder until they load; a download link saves the file
 * under its name; the upload form stores a file that downloads back. A screenshot is kept in
 * test-artifacts/demo-page.png.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { buildApp } from '../../demo/app'
import { PHOTO_SEEDS } from '../../demo/photos'
import { Document } from '../../entities/Document'
import { Photo } from '../../entities/Photo'
import type { LocalStorage } from '../../src'
import { thumbHashToDataURL } from '../../src/images'
import { type SeededDemo, seededDemo } from '../helpers/seeded-demo'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts')
// As the machine's probe starts it: no sandbox as root, and nothing that calls out to the network.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

let demo: SeededDemo<LocalStorage>
let server: Server
let base: string
let browser: Browser
let page: Page

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's "chromium" package (or set CHROMIUM_PATH)`)
  demo = await seededDemo()
  server = buildApp(demo.dataSource).listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
  page = await (await browser.newContext({ acceptDownloads: true })).newPage()
  await page.goto(`${base}/`, { waitUntil: 'load' })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
  await demo?.close()
})

describe('the demo page in Chromium', () => {
  it('lists every seeded photo with a thumbnail that loaded', async () => {
    const thumbnails = await page.$$eval('img.thumbnail', (images) =>
      images.map((image) => ({
        src: image.getAttribute('src'),
        loaded: image.complete && image.naturalWidth > 0,
        naturalWidth: image.naturalWidth,
      })),
    )
    expect(thumbnails).toHaveLength(PHOTO_SEEDS.length)
    for (const thumbnail of thumbnails) {
      expect(thumbnail).toMatchObject({ loaded: true, naturalWidth: 128 })
      expect(thumbnail.src).toMatch(/\/variant\/\?width=128&format=auto$/)
    }
  })

  describe('while the thumbnails are still loading (their requests held back)', () => {
    /** What the page shows of each thumbnail: its computed background, its box, whether it loaded. */
    const thumbnailState = (target: Page) =>
      target.$$eval('img.thumbnail', (images) =>
        images.map((image) => ({
          // The style the browser computed: it parsed the data URL into a background image.
          background: image.ownerDocument.defaultView.getComputedStyle(image).backgroundImage as string,
          height: image.getBoundingClientRect().height,
          loaded: image.complete && image.naturalWidth > 0,
          styled: image.hasAttribute('style'),
        })),
      )
    let fresh: Page
    let placeholders: Awaited<ReturnType<typeof thumbnailState>>
    let loaded: Awaited<ReturnType<typeof thumbnailState>>
    const answers: { type: string | undefined; vary: string | undefined }[] = []

    beforeAll(async () => {
      fresh = await (await browser.newContext()).newPage()
      let release: () => void = () => undefined
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      let held = 0
      // Each variant request waits until the placeholders have been looked at.
      await fresh.route(/\/variant\/\?/, async (route) => {
        held++
        await released
        await route.continue()
      })
      fresh.on('response', (response) => {
        if (!/\/variant\/\?/.test(response.url())) return
        const headers = response.headers()
        answers.push({ type: headers['content-type'], vary: headers.vary })
      })
      await fresh.goto(`${base}/`, { waitUntil: 'domcontentloaded' })
      for (let waited = 0; held < PHOTO_SEEDS.length && waited < 100; waited++)
        await new Promise((resolve) => setTimeout(resolve, 50))
      placeholders = await thumbnailState(fresh)
      release()
      // A string: the test compiles without the DOM's types.
      await fresh.waitForFunction(
        "[...document.querySelectorAll('img.thumbnail')].every((image) => image.complete && image.naturalWidth > 0)",
      )
      loaded = await thumbnailState(fresh)
    }, 60_000)

    afterAll(async () => {
      await fresh?.context().close()
    })

    it("shows each photo's ThumbHash, decoded to a PNG, as the thumbnail's background", async () => {
      const photos = await demo.dataSource.getRepository(Photo).find({ order: { id: 'ASC' } })
      expect(placeholders).toHaveLength(PHOTO_SEEDS.length)
      placeholders.forEach((placeholder, i) => {
        const thumbhash = photos[i]?.image?.thumbhash as string
        expect(thumbhash).toMatch(/^[A-Za-z0-9+/]{20,}=*$/)
        expect(placeholder).toMatchObject({
          background: `url("${thumbHashToDataURL(thumbhash)}")`,
          loaded: false,
          styled: true,
        })
      })
    })

    it('gives each placeholder the height of the photo at the thumbnail width', () => {
      // 1200×800 → 85, 400×600 (as displayed) → 192, 512×512 → 128, 800×600 → 96.
      expect(placeholders.map((placeholder) => placeholder.height)).toEqual([85, 192, 128, 96])
    })

    it('replaces the placeholder with the thumbnail once it loads', () => {
      for (const thumbnail of loaded) {
        expect(thumbnail).toMatchObject({ loaded: true, styled: false })
        // Back to the checkerboard of the stylesheet, which shows through transparency.
        expect(thumbnail.background).toMatch(/^repeating-conic-gradient/)
      }
    })

    it('gets AVIF thumbnails, which Chromium asks for, each with Vary: Accept', () => {
      expect(answers).toEqual(Array(PHOTO_SEEDS.length).fill({ type: 'image/avif', vary: 'Accept' }))
    })
  })

  it('shows the dimensions of the sideways photo upright', async () => {
    const text = await page.textContent('#photos')
    expect(text).toContain('400×600, jpeg')
  })

  it('downloads hello-world file.txt with its name and bytes when the link is clicked', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#documents tr:nth-child(2) a.download-file'),
    ])
    expect(download.suggestedFilename()).toBe('file.txt')
    const saved = await download.path()
    expect(await readFile(saved)).toEqual(Buffer.from('Hello world!\n'))
  })

  it('downloads the unicode document under its RFC 8187 name', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#documents tr:nth-child(3) a.download-file'),
    ])
    // Chromium takes the filename* name (the accents survive, unlike in the ASCII fallback) and
    // replaces the double quotes, which it never writes into a file name.
    expect(download.suggestedFilename()).toBe('résumé _final_, v2.txt')
  })

  it('uploads a file with the form, lists the new document, and downloads it back', async () => {
    const content = Buffer.from('Uploaded from Chromium: naïve café ✓\n')
    await page.fill('#upload input[name="slug"]', 'from-the-browser')
    await page.fill('#upload input[name="title"]', 'Sent by the upload form')
    await page.setInputFiles('#upload input[name="file"]', {
      name: 'browser notes.txt',
      mimeType: 'text/plain',
      buffer: content,
    })
    // The form posts multipart/form-data; the answer is a 303 back to the index page.
    const [response] = await Promise.all([
      page.waitForResponse((candidate) => candidate.request().method() === 'POST'),
      page.click('#upload button[type="submit"]'),
    ])
    expect(response.status()).toBe(303)
    await page.waitForURL(`${base}/`)
    const row = page.locator('#documents tr', { hasText: 'from-the-browser' })
    expect(await row.textContent()).toContain('Sent by the upload form')
    expect(await row.textContent()).toContain('browser notes.txt')
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('a.download-file').click(),
    ])
    expect(download.suggestedFilename()).toBe('browser notes.txt')
    expect(await readFile(await download.path())).toEqual(content)
    const stored = await demo.dataSource.getRepository(Document).findOneByOrFail({ slug: 'from-the-browser' })
    expect(stored.file).toMatchObject({ size: content.length, contentType: 'text/plain' })
  })

  it('saves a screenshot of the page as a test artifact', async () => {
    await mkdir(ARTIFACTS, { recursive: true })
    const file = path.join(ARTIFACTS, 'demo-page.png')
    const image = await page.screenshot({ path: file, fullPage: true })
    expect(image.subarray(1, 4).toString()).toBe('PNG')
    expect(existsSync(file)).toBe(true)
  })
})
