/** @module attachFile(): write new content into a file column's storage and point the column at it. */
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { lookup } from 'mime-types'
import type { ObjectLiteral } from 'typeorm'
import { ConfigurationError } from '../errors'
import { asciiFilename, safeBasename, truncateName } from '../files/filename'
import { storages } from '../storage/registry'
import type { StorageStat } from '../storage/storage'
import { crc32 } from '../zip/crc32'
import type { ProbedContent } from './content-probe'
import { getFileColumn } from './file-column'
import { StoredFile } from './stored-file'
import { StoredImage } from './stored-image'
import { markVerified } from './verified'

/** The most bytes of the original name that go into a generated key (the name column keeps it all). */
const KEY_NAME_BYTES = 100

/** Content to attach: bytes, a stream, an async iterable of chunks, or a local file by path. */
export type AttachSource = Buffer | Uint8Array | Readable | AsyncIterable<Uint8Array> | { path: string }

/** Options of {@link attachFile}. */
export interface AttachFileOptions {
  /** The original file name. @default the basename of `source.path`, else 'file' */
  name?: string
  /** The media type. @default looked up from the name */
  contentType?: string
}

/**
 * Writes `source` into the storage of `entity[property]` under a fresh key
 * (`<uploadTo>/<uuid>/<safe name>`), then sets the column with the full metadata (size, SHA-256 and
 * CRC-32 computed while writing, modification time, type, name). Save the entity afterwards; the save
 * hook trusts this metadata and does not read the file again.
 *
 * For an `@ImageColumn()`, sharp reads the image metadata from the same bytes as they are written
 * (width, height, format, alpha), and the content type comes from those bytes, whatever the name or
 * `contentType` say. Content that is not an image sharp can read is deleted from the storage again,
 * and a FileColumnError is thrown.
 *
 * @example
 * await attachFile(doc, 'file', Buffer.from('Hello'), { name: 'hello.txt' })
 * await dataSource.getRepository(Document).save(doc)
 */
export async function attachFile<E extends ObjectLiteral>(
  entity: E,
  property: keyof E & string,
  source: AttachSource,
  options: AttachFileOptions = {},
): Promise<StoredFile> {
  const column = getFileColumn(entity.constructor, property)
  const storage = storages.get(column.storage)
  const isPath =
    typeof source === 'object' &&
    source !== null &&
    'path' in source &&
    typeof source.path === 'string' &&
    !(source instanceof Readable)
  const name = safeBasename(
    options.name ?? (isPath ? path.basename((source as { path: string }).path) : nameOfStream(source)),
    'file',
  )
  if (options.contentType !== undefined && typeof options.contentType !== 'string') {
    throw new ConfigurationError('attachFile: option "contentType" must be a string')
  }
  // The key's last segment: ASCII, and short enough for any file system (255 bytes a name) and for
  // S3 keys, whatever the original name; the name itself is kept whole in its column.
  const segment = truncateName(asciiFilename(name).replace(/[^\w.-]+/g, '_'), KEY_NAME_BYTES)
  const key = `${column.uploadTo}/${randomUUID()}/${segment}`

  const hash = createHash('sha256')
  let crc = 0
  // An image column reads the image metadata from the bytes being written: one pass over the source.
  const probe = column.probe?.start()
  async function* hashing(): AsyncGenerator<Buffer> {
    // A file is opened here, when the storage starts reading: a save that fails before that (a
    // directory it cannot create) must not leave a descriptor open that nothing will ever close.
    const bytes = isPath
      ? createReadStream((source as { path: string }).path)
      : toIterable(source as Exclude<AttachSource, { path: string }>)
    for await (const chunk of bytes) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array)
      hash.update(buffer)
      crc = crc32(buffer, crc)
      if (probe) await probe.write(buffer)
      yield buffer
    }
  }
  let stat: StorageStat
  try {
    stat = await storage.save(key, hashing())
  } catch (error) {
    probe?.abort()
    // The source failed or was destroyed halfway (a client that left mid-upload), or the write did:
    // the key is fresh, so whatever part of it a storage may have kept is ours to take back.
    await storage.delete(key).catch(() => undefined)
    throw error
  }
  let probed: ProbedContent | undefined
  if (probe) {
    try {
      probed = await probe.end()
    } catch (error) {
      // Not an image: take back what was written, so no orphan is left in the storage.
      await storage.delete(key).catch(() => undefined)
      throw column.probe?.refuse(`${entity.constructor.name}.${property}`, name, error) ?? error
    }
  }

  const value = column.image ? Object.assign(new StoredImage(), probed?.fields) : new StoredFile()
  value.path = key
  value.name = name
  value.size = stat.size
  value.modifiedAt = stat.modifiedAt
  value.sha256 = hash.digest('hex')
  value.crc32 = crc
  value.contentType =
    probed?.contentType ?? options.contentType ?? (lookup(name) || 'application/octet-stream')
  markVerified(value)
  ;(entity as ObjectLiteral)[property] = value
  return value
}

function toIterable(source: Exclude<AttachSource, { path: string }>): AsyncIterable<unknown> {
  if (source instanceof Uint8Array) return Readable.from([source])
  return source as AsyncIterable<unknown>
}

/** A file stream (`fs.createReadStream`) carries its path: use its basename as the default name. */
function nameOfStream(source: AttachSource): string {
  const streamPath = source instanceof Readable ? (source as Readable & { path?: unknown }).path : undefined
  return typeof streamPath === 'string' ? path.basename(streamPath) : 'file'
}
