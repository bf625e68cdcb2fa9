/** @module The demo's seed rows: idempotent, so `npm start` can run it every time. */
import type { DataSource } from 'typeorm'
import { Document } from '../entities/Document'
import { Photo } from '../entities/Photo'
import { attachFile, hasFile, StoredFile, storages } from '../src'
import { StoredImage } from '../src/images'
import { PHOTO_SEEDS } from './photos'

interface SeedFile {
  name: string
  content: Buffer
  /** Store through attachFile() (generated key) rather than at a fixed key. */
  attach?: boolean
  /** Remove the file from storage once the row is saved (the `missing` row). */
  removed?: boolean
}

interface SeedDocument {
  slug: string
  title: string
  file?: SeedFile
  anotherFile?: SeedFile
  basename?: string
}

/** 1,048,576 bytes where byte i is i mod 251. */
export function random1m(): Buffer {
  const bytes = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251
  return bytes
}

/** The seed rows, in insertion order (`hello-world` first, so it gets id 1). */
export const SEEDS: SeedDocument[] = [
  {
    slug: 'hello-world',
    title: 'Hello world',
    file: { name: 'file.txt', content: Buffer.from('Hello world!\n') },
    anotherFile: { name: 'another_file.txt', content: Buffer.from('Goodbye world!\n') },
    basename: 'hello-world.txt',
  },
  {
    slug: 'unicode',
    title: 'A name that is not ASCII',
    file: { name: 'résumé "final", v2.txt', content: Buffer.from('Unicode name\n'), attach: true },
  },
  { slug: 'random-1m', title: 'One MiB of bytes', file: { name: 'random-1m.bin', content: random1m() } },
  { slug: 'empty', title: 'An empty file', file: { name: 'empty.txt', content: Buffer.alloc(0) } },
  {
    slug: 'page',
    title: 'HTML with a script',
    file: { name: 'page.html', content: Buffer.from('<script>alert(1)</script>\n') },
  },
  {
    slug: 'missing',
    title: 'A file removed after the row was saved',
    file: { name: 'missing.txt', content: Buffer.from('gone\n'), removed: true },
  },
  { slug: 'no-file', title: 'No file at all' },
]

/** Files stored at fixed keys of the media storage, outside any row (StorageDownloadView's demo). */
export const MEDIA_FILES: Record<string, string> = { 'hello-world.txt': 'Hello world!\n' }

/**
 * Inserts the seed rows that are missing, restores seed files that vanished from storage, and puts
 * the media files in place.
 */
export async function seed(dataSource: DataSource): Promise<void> {
  await seedDocuments(dataSource)
  await seedPhotos(dataSource)
}

/** The Document rows and the media files. */
async function seedDocuments(dataSource: DataSource): Promise<void> {
  const repository = dataSource.getRepository(Document)
  const storage = storages.get()
  for (const [key, content] of Object.entries(MEDIA_FILES)) {
    if (!(await storage.exists(key))) await storage.save(key, content)
  }
  for (const spec of SEEDS) {
    const existing = await repository.findOneBy({ slug: spec.slug })
    const document =
      existing ?? repository.create({ slug: spec.slug, title: spec.title, basename: spec.basename ?? null })
    let changed = !existing
    for (const property of ['file', 'anotherFile'] as const) {
      const file = spec[property]
      if (!file) {
        if (!existing) document[property] = null
        continue
      }
      const current = document[property]
      if (existing && hasFile(current) && (file.removed || (await storage.exists(current.path)))) {
        if (file.removed || current.crc32 != null) continue
        // Saved before the crc32 column existed: the same path with its metadata cleared, so the
        // save hook reads the file again and fills its CRC-32 (the zip routes need it).
        document[property] = Object.assign(new StoredFile(), { path: current.path, name: current.name })
        changed = true
        continue
      }
      if (file.attach) {
        await attachFile(document, property, file.content, { name: file.name })
      } else {
        const key = `documents/${spec.slug}/${file.name}`
        await storage.save(key, file.content)
        // Only the path: the save hook fills in size, type, mtime and checksum.
        document[property] = Object.assign(new StoredFile(), { path: key })
      }
      changed = true
    }
    if (!changed) continue
    await repository.save(document)
    for (const property of ['file', 'anotherFile'] as const) {
      const stored = document[property]
      if (spec[property]?.removed && hasFile(stored)) await storage.delete(stored.path)
    }
  }
}

/**
 * Inserts the seed photos that are missing, drawing each with sharp; restores vanished images; gives
 * photos saved before the thumbhash or crc32 columns existed their ThumbHash and CRC-32.
 */
export async function seedPhotos(dataSource: DataSource): Promise<void> {
  const repository = dataSource.getRepository(Photo)
  const storage = storages.get()
  for (const spec of PHOTO_SEEDS) {
    const existing = await repository.findOneBy({ slug: spec.slug })
    if (existing && hasFile(existing.image) && (await storage.exists(existing.image.path))) {
      if (existing.image.thumbhash != null && existing.image.crc32 != null) continue
      // The same path with its metadata cleared: the save hook reads the file again, thumbhash
      // and CRC-32 included.
      existing.image = Object.assign(new StoredImage(), {
        path: existing.image.path,
        name: existing.image.name,
      })
      await repository.save(existing)
      continue
    }
    const photo = existing ?? repository.create({ slug: spec.slug, title: spec.title })
    const key = `photos/${spec.slug}/${spec.name}`
    await storage.save(key, await spec.draw())
    // Only the path: the save hook reads size, checksum, dimensions and format from the bytes.
    photo.image = Object.assign(new StoredImage(), { path: key })
    await repository.save(photo)
  }
}
