/**
 * @module Image variants: resized, re-encoded copies of an image, generated once with sharp from the
 * source in its storage, kept in the same storage, and found there afterwards.
 */
import os from 'node:os'
import { pipeline, Transform } from 'node:stream'
import type { Sharp } from 'sharp'
import { DownloadError, FileNotFoundError } from '../errors'
import type { Logger } from '../responder/send'
import type { Storage, StorageStat } from '../storage/storage'
import { inputTooLargeError, LIMIT_INPUT_BYTES, LIMIT_INPUT_PIXELS } from './metadata'
import { loadSharp } from './sharp'

/** The formats a variant can be encoded in. */
export const VARIANT_FORMATS = ['webp', 'avif', 'jpeg', 'png'] as const

/** One of {@link VARIANT_FORMATS}. */
export type VariantFormat = (typeof VARIANT_FORMATS)[number]

/** What a variant is: a width and a format, and the encoder quality when one is set. */
export interface VariantSpec {
  /** The largest width; a narrower source keeps its own width (never enlarged). */
  width: number
  format: VariantFormat
  /** Encoder quality 1–100 for WebP, AVIF and JPEG; PNG is lossless and ignores it. */
  quality?: number
}

const EXTENSIONS: Record<VariantFormat, string> = { webp: 'webp', avif: 'avif', jpeg: 'jpg', png: 'png' }
const CONTENT_TYPES: Record<VariantFormat, string> = {
  webp: 'image/webp',
  avif: 'image/avif',
  jpeg: 'image/jpeg',
  png: 'image/png',
}

/** A variant could not be generated: sharp could not decode the source, or the write failed. */
export class VariantGenerationError extends DownloadError {
  override name = 'VariantGenerationError'
}

/** Whether `format` is a quality-driven (lossy) encoding: PNG is not. */
function usesQuality(format: VariantFormat): boolean {
  return format !== 'png'
}

/** The file name extension of a variant format: `jpg` for JPEG. */
export function variantExtension(format: VariantFormat): string {
  return EXTENSIONS[format]
}

/** The media type of a variant format. */
export function variantContentType(format: VariantFormat): string {
  return CONTENT_TYPES[format]
}

/**
 * The storage key of a variant: `<prefix>/<source sha256>/<width>.<format>`, with `-q<quality>`
 * after the width when a quality applies. Derived from the source's content, so a replaced source
 * gets new variants and rows that share an image share its variants.
 *
 * @example
 * variantKey('variants', sha, { width: 256, format: 'webp', quality: 80 }) // variants/<sha>/256-q80.webp
 */
export function variantKey(prefix: string, sha256: string, spec: VariantSpec): string {
  const quality = spec.quality !== undefined && usesQuality(spec.format) ? `-q${spec.quality}` : ''
  return `${prefix}/${sha256.toLowerCase()}/${spec.width}${quality}.${spec.format}`
}

/**
 * The sharp pipeline of a variant, as a Duplex stream: EXIF orientation applied (`rotate()`), resized
 * to `width` without enlarging, encoded in `format`. Metadata (EXIF, GPS) is not copied.
 */
export function variantPipeline(spec: VariantSpec): Sharp {
  const encoder = spec.quality !== undefined && usesQuality(spec.format) ? { quality: spec.quality } : {}
  return loadSharp()({ limitInputPixels: LIMIT_INPUT_PIXELS })
    .rotate()
    .resize({ width: spec.width, withoutEnlargement: true })
    .toFormat(spec.format, encoder)
}

// Variants being found or generated right now, per storage, by key: concurrent requests share one.
const inFlight = new WeakMap<Storage, Map<string, Promise<StorageStat>>>()

/**
 * The stat of the variant at `key`, generating it from the image at `sourceKey` first when the
 * storage has none. Concurrent calls for the same storage and key share one lookup and at most one
 * generation; the entry is dropped when it settles, whether it succeeded or failed.
 *
 * Rejects with `FileNotFoundError` when the source is missing, and with `VariantGenerationError`
 * (logged once, on `logger`) when sharp cannot decode the source or the write fails.
 */
export function ensureVariant(
  storage: Storage,
  sourceKey: string,
  key: string,
  spec: VariantSpec,
  logger?: Logger,
): Promise<StorageStat> {
  let flights = inFlight.get(storage)
  if (!flights) {
    flights = new Map()
    inFlight.set(storage, flights)
  }
  const running = flights.get(key)
  if (running) return running
  const flight = findOrGenerate(storage, sourceKey, key, spec).catch((error: unknown) => {
    if (error instanceof VariantGenerationError) logger?.error(error.message, error.cause)
    throw error
  })
  flights.set(key, flight)
  const forget = () => {
    if (flights.get(key) === flight) flights.delete(key)
  }
  flight.then(forget, forget)
  return flight
}

async function findOrGenerate(
  storage: Storage,
  sourceKey: string,
  key: string,
  spec: VariantSpec,
): Promise<StorageStat> {
  try {
    return await storage.stat(key)
  } catch (error) {
    if (!(error instanceof FileNotFoundError)) throw error
  }
  return generating.run(() => generateVariant(storage, sourceKey, key, spec))
}

/**
 * At most `limit` tasks at a time, the others waiting their turn in order: a client that asks for
 * every width and format of a large image at once makes sharp work on a few, not on all of them.
 */
export function concurrencyLimit(limit: number): { run<T>(task: () => Promise<T>): Promise<T> } {
  let active = 0
  const waiting: (() => void)[] = []
  return {
    async run(task) {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
      else active++
      try {
        return await task()
      } finally {
        const next = waiting.shift()
        if (next) next()
        else active--
      }
    },
  }
}

// sharp already spreads one image over the cores (libvips threads): one generation per core.
const generating = concurrencyLimit(Math.max(1, os.availableParallelism()))

/**
 * Generates one variant: storage.open → sharp → storage.save, streamed. sharp holds the encoded
 * source while it decodes (as it does for any stream input), never the output; a source longer than
 * `limitBytes` fails the generation as soon as it passes the bound. The storage's save is atomic, so
 * a failed generation leaves nothing at `key`.
 */
export async function generateVariant(
  storage: Storage,
  sourceKey: string,
  key: string,
  spec: VariantSpec,
  limitBytes: number = LIMIT_INPUT_BYTES,
): Promise<StorageStat> {
  const source = await storage.open(sourceKey)
  // pipeline() destroys every stream when one fails, and hands the error to the save.
  const output = pipeline(source, byteLimit(limitBytes), variantPipeline(spec), () => undefined)
  try {
    return await storage.save(key, output)
  } catch (error) {
    // A save that gave up without reading to the end would leave the source open and sharp working.
    output.destroy()
    // Whatever stopped the save (sharp, a folder in the way of our own key) is the server's fault:
    // a 500, not the 400 or 404 the same error means for a key a client chose.
    if (error instanceof VariantGenerationError) throw error
    throw new VariantGenerationError(
      `Cannot generate the ${spec.width}px ${spec.format} variant of "${sourceKey}" in ${storage.name}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
  }
}

/** Passes bytes through until more than `limit` have passed, then fails with inputTooLargeError(). */
function byteLimit(limit: number): Transform {
  let passed = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      passed += chunk.length
      callback(passed > limit ? inputTooLargeError(limit) : null, chunk)
    },
  })
}
