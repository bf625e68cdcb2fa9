/**
 * @module The bench's files: 1 KiB, 1 MiB and 100 MiB of deterministic bytes, attached through
 * attachFile() to Document rows of the bench database (full metadata in the row), in the bench
 * media root. Idempotent: rows whose file is intact are kept.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { DataSource } from 'typeorm'
import { Document } from '../entities/Document'
import { attachFile, hasFile, storages } from '../src'

/** One bench file. */
export interface BenchFileSpec {
  id: '1k' | '1m' | '100m'
  slug: string
  name: string
  size: number
}

/** The bench files, by id. */
export const FILE_SPECS: readonly BenchFileSpec[] = [
  { id: '1k', slug: 'bench-1k', name: 'bench-1k.bin', size: 1024 },
  { id: '1m', slug: 'bench-1m', name: 'bench-1m.bin', size: 1024 * 1024 },
  { id: '100m', slug: 'bench-100m', name: 'bench-100m.bin', size: 100 * 1024 * 1024 },
]

/** A bench file as seeded: its row's slug, its key in the media root, and its SHA-256. */
export interface BenchFile extends BenchFileSpec {
  /** The storage key (also the path below the media root, and the URL path for send and nginx). */
  key: string
  sha256: string
}

const CHUNK = 1024 * 1024

/**
 * The content of a bench file of `size` bytes, in chunks of 1 MiB: an xorshift32 stream seeded by
 * the size, so every machine gets the same bytes (and nothing compresses them away).
 */
export function* benchContent(size: number): Generator<Buffer> {
  let state = (0x9e3779b9 ^ size) >>> 0 || 1
  for (let offset = 0; offset < size; offset += CHUNK) {
    const length = Math.min(CHUNK, size - offset)
    const words = new Uint32Array(Math.ceil(length / 4))
    for (let i = 0; i < words.length; i++) {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      state >>>= 0
      words[i] = state
    }
    yield Buffer.from(words.buffer, 0, length)
  }
}

/** The hex SHA-256 of bytes `[start, start + length)` of the bench file of `size` bytes. */
export function benchSha256(size: number, start = 0, length = size - start): string {
  const hash = createHash('sha256')
  let offset = 0
  for (const chunk of benchContent(size)) {
    const from = Math.max(start - offset, 0)
    const to = Math.min(start + length - offset, chunk.length)
    if (from < to) hash.update(chunk.subarray(from, to))
    offset += chunk.length
    if (offset >= start + length) break
  }
  return hash.digest('hex')
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Whether the bytes at `key` below `mediaRoot` are the expected ones. */
async function isIntact(mediaRoot: string, key: string, size: number, sha256: string): Promise<boolean> {
  const file = path.join(mediaRoot, key)
  const info = await stat(file).catch(() => undefined)
  return info?.isFile() === true && info.size === size && (await fileSha256(file)) === sha256
}

/**
 * Makes sure each bench row exists with its file attached and intact (the media storage must be
 * registered as `default` at `mediaRoot`), and returns the files.
 */
export async function seedBenchFiles(dataSource: DataSource, mediaRoot: string): Promise<BenchFile[]> {
  const repository = dataSource.getRepository(Document)
  const storage = storages.get()
  const files: BenchFile[] = []
  for (const spec of FILE_SPECS) {
    const sha256 = benchSha256(spec.size)
    const existing = await repository.findOneBy({ slug: spec.slug })
    const current = existing?.file
    if (
      hasFile(current) &&
      current.size === spec.size &&
      current.sha256 === sha256 &&
      current.modifiedAt &&
      (await isIntact(mediaRoot, current.path, spec.size, sha256))
    ) {
      files.push({ ...spec, key: current.path, sha256 })
      continue
    }
    console.log(`seeding ${spec.slug} (${spec.size} bytes) …`)
    const document =
      existing ?? repository.create({ slug: spec.slug, title: `Bench: ${spec.name}`, anotherFile: null })
    const stale = hasFile(current) ? current.path : undefined
    const stored = await attachFile(document, 'file', Readable.from(benchContent(spec.size)), {
      name: spec.name,
      contentType: 'application/octet-stream',
    })
    await repository.save(document)
    if (stale && stale !== stored.path) await storage.delete(stale).catch(() => undefined)
    if (stored.sha256 !== sha256 || !hasFile(stored))
      throw new Error(`Seeding ${spec.slug}: the stored SHA-256 is ${stored.sha256}, expected ${sha256}`)
    files.push({ ...spec, key: stored.path, sha256 })
  }
  return files
}
