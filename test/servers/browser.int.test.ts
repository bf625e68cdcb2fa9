/**
 * The demo page in a real browser: Debian's Chromium, headless, driven by playwright-core. The page
 * lists every Document and Photo; thumbnails come from the variant route; a download link saves the
 * file under its name; the upload form stores a file that downloads back. A screenshot is kept in
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
import type { LocalStorage } from '../../src'
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
      expect(thumbnail.src).toMatch(/\/variant\/\?width=128&format=webp$/)
    }
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
