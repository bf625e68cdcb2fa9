/**
 * @module Image variants: resized, re-encoded copies of an image, generated once with sharp from the
 * source in its storage, kept in the same storage, and found there afterwards.
 */
import os from 'node:os'
import { pipeline, type Readable, Transform } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { Sharp } from 'sharp'
import { FileNotFoundError, UndecodableImageError, VariantGenerationError } from '../errors'
import { type Logger, warn } from '../logger'
import type { Storage, StorageStat } from '../storage/storage'
import {
  FAIL_ON,
  InputTooLargeError,
  inputTooLargeError,
  LIMIT_INPUT_BYTES,
  LIMIT_INPUT_PIXELS,
} from './metadata'
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
  return resized(spec.width).toFormat(spec.format, encoder)
}

/** A sharp pipeline that reads an image (pixel limit, FAIL_ON), orients it and resizes it to `width`. */
function resized(width: number): Sharp {
  return loadSharp()({ limitInputPixels: LIMIT_INPUT_PIXELS, failOn: FAIL_ON })
    .rotate()
    .resize({ width, withoutEnlargement: true })
}

/** The bounds of {@link FailedVariants}. */
export interface FailedVariantsOptions {
  /** The most failures kept; past it, the oldest is forgotten. */
  maxEntries: number
  /** Seconds a failure is kept. */
  ttl: number
}

/**
 * Variants that failed because of their source's bytes, by variant key (so by source checksum and
 * variant spec, in one storage): asked again within `ttl` seconds, the same error answers without
 * reading or decoding the source. At most `maxEntries` are kept, the oldest forgotten first, so
 * a client that asks for many broken images cannot make it grow without bound.
 *
 * @example
 * const failures = new FailedVariants({ maxEntries: 1000, ttl: 600 })
 * await ensureVariant(storage, row.image.path, key, spec, logger, failures)
 */
export class FailedVariants {
  private readonly entries = new Map<string, { error: UndecodableImageError; expires: number }>()

  constructor(
    readonly options: FailedVariantsOptions,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** How many failures are kept (expired ones included, until they are asked for or pushed out). */
  get size(): number {
    return this.entries.size
  }

  /** The failure kept for `key`, if it is younger than `ttl`. */
  get(key: string): UndecodableImageError | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expires >= this.now()) return entry.error
    this.entries.delete(key)
    return undefined
  }

  /** Keeps `error` for `key` from now on, forgetting the oldest failure when there are too many. */
  remember(key: string, error: UndecodableImageError): void {
    // Deleted first, so that a failure kept again moves to the end of the (insertion) order.
    this.entries.delete(key)
    this.entries.set(key, { error, expires: this.now() + this.options.ttl * 1000 })
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.options.maxEntries) break
      this.entries.delete(oldest)
    }
  }
}

// Variants being found or generated right now, per storage, by key: concurrent requests share one.
const inFlight = new WeakMap<Storage, Map<string, Promise<StorageStat>>>()

/**
 * The stat of the variant at `key`, generating it from the image at `sourceKey` first when the
 * storage has none. Concurrent calls for the same storage and key share one lookup and at most one
 * generation; the entry is dropped when it settles, whether it succeeded or failed.
 *
 * Rejects with `FileNotFoundError` when the source is missing; with `UndecodableImageError` when
 * the source's bytes fail (one warning line on `logger`, no stack: the bytes are at fault, not the
 * code), kept in `failures` so that later calls for `key` get it again at once, without a read,
 * a decode or a log line; and with `VariantGenerationError` (logged with its cause on `logger`)
 * when the source fails while it is read or the write fails.
 */
export function ensureVariant(
  storage: Storage,
  sourceKey: string,
  key: string,
  spec: VariantSpec,
  logger?: Logger,
  failures?: FailedVariants,
): Promise<StorageStat> {
  const failed = failures?.get(key)
  if (failed) return Promise.reject(failed)
  let flights = inFlight.get(storage)
  if (!flights) {
    flights = new Map()
    inFlight.set(storage, flights)
  }
  const running = flights.get(key)
  if (running) return running
  const flight = findOrGenerate(storage, sourceKey, key, spec).catch((error: unknown) => {
    if (error instanceof UndecodableImageError) {
      failures?.remember(key, error)
      if (logger) {
        const kept = failures ? ` (not tried again for ${failures.options.ttl} s)` : ''
        warn(logger, `${error.message}${kept}`)
      }
    } else if (error instanceof VariantGenerationError) logger?.error(error.message, error.cause)
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
 *
 * Rejects with `UndecodableImageError` when the source's bytes are at fault (sharp cannot decode
 * them or make this variant of them, or they pass a limit), and with `VariantGenerationError` when
 * something else is (the source failed while it was read, the save failed).
 */
export async function generateVariant(
  storage: Storage,
  sourceKey: string,
  key: string,
  spec: VariantSpec,
  limitBytes: number = LIMIT_INPUT_BYTES,
): Promise<StorageStat> {
  const source = await storage.open(sourceKey)
  const { output, failure } = throughSharp(source, variantPipeline(spec), limitBytes)
  try {
    return await storage.save(key, output)
  } catch (error) {
    // A save that gave up without reading to the end would leave the source open and sharp working.
    output.destroy()
    const what = `Cannot generate the ${spec.width}px ${spec.format} variant of "${sourceKey}" in ${storage.name}`
    const cause = failure()
    // The bytes are at fault: the same bytes fail the same way, however often they are asked for.
    if (cause) throw new UndecodableImageError(`${what}: ${failureReason(cause)}`, { cause })
    // Whatever else stopped the save (the source's storage, a folder in the way of our own key) is
    // the server's fault: a 500, not the 400 or 404 the same error means for a key a client chose.
    if (error instanceof VariantGenerationError) throw error
    throw new VariantGenerationError(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    })
  }
}

/** What decoding a stored image found ({@link decodeImage}). */
export type DecodeResult = { kind: 'decoded' } | { kind: 'undecodable'; reason: string }

/**
 * Decodes every pixel of the image at `key` as a variant would (the same limits and `failOn`), down
 * to a 64-pixel-wide thumbnail that is thrown away: `undecodable`, with sharp's reason on one line,
 * when ImageVariantView would answer 422 for it. Costs the CPU of making one variant. Rejects with
 * the storage's error when the file cannot be read (FileNotFoundError…).
 *
 * @example
 * const result = await decodeImage(storage, 'photos/sunset.png')
 * if (result.kind === 'undecodable') report(result.reason)
 */
export async function decodeImage(
  storage: Storage,
  key: string,
  limitBytes: number = LIMIT_INPUT_BYTES,
): Promise<DecodeResult> {
  const source = await storage.open(key)
  // Raw output: no encoder to add a line of its own to sharp's message.
  const { output, failure } = throughSharp(source, resized(64).raw(), limitBytes)
  try {
    await finished(output.resume())
    return { kind: 'decoded' }
  } catch (error) {
    output.destroy()
    const cause = failure()
    if (cause) return { kind: 'undecodable', reason: failureReason(cause) }
    throw error
  }
}

/**
 * `source` through the byte limit into `image` (a sharp pipeline), as one stream, and the error
 * that the bytes caused, if any: they passed the byte limit, or sharp failed on them. Errors that
 * pipeline() passes along from another stream (the source failing, the reader giving up) are not
 * the bytes' fault.
 */
function throughSharp(
  source: Readable,
  image: Sharp,
  limitBytes: number,
): { output: Sharp; failure: () => Error | undefined } {
  let failure: Error | undefined
  // sharp emits its own errors on a live stream; pipeline() destroys the others with the error it
  // got, so they emit it once destroyed. The listener stays after pipeline() is done: sharp may
  // still report, and an 'error' without a listener would end the process.
  image.on('error', (error: Error) => {
    if (!image.destroyed || error instanceof InputTooLargeError) failure ??= error
  })
  // pipeline() destroys every stream when one fails, and hands the error to whoever reads `image`.
  pipeline(source, byteLimit(limitBytes), image, () => undefined)
  return { output: image, failure: () => failure }
}

/**
 * sharp's message on one line: libvips repeats a decoder's complaint once per pass over the image
 * and may end with a line of its own, which a log line does not need several times.
 */
function failureReason(error: Error): string {
  const lines = [...new Set(error.message.split('\n').map((line) => line.trim()))].filter(Boolean)
  const reason = lines.join('; ') || error.name
  return reason.length > 300 ? `${reason.slice(0, 300)}…` : reason
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
