/**
 * @module ImageVariantView: serve a resized, re-encoded variant of an image column
 * (`?width=256&format=webp`), generated with sharp on the first request and kept in the storage.
 */
import type { ObjectLiteral } from 'typeorm'
import { hasFile, type StoredFile } from '../columns/stored-file'
import { ConfigurationError, FileNotFoundError, InvalidParameterError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { basename, StorageFile } from '../files/storage-file'
import { rejectUnknownOptions } from '../options'
import { storages } from '../storage/registry'
import type { DownloadRequest } from '../views/download-view'
import { ObjectDownloadView, type ObjectDownloadViewOptions } from '../views/object-view'
import {
  ensureVariant,
  FailedVariants,
  type FailedVariantsOptions,
  VARIANT_FORMATS,
  type VariantFormat,
  type VariantSpec,
  variantContentType,
  variantExtension,
  variantKey,
} from './variants'

/** Options of {@link ImageVariantView}: those of ObjectDownloadView, plus what variants may be asked for. */
export interface ImageVariantViewOptions<E extends ObjectLiteral> extends ObjectDownloadViewOptions<E> {
  /**
   * The widths a request may ask for, each an integer from 1 to 10000. A short list keeps the
   * number of variants (and the work a client can cause) small.
   * @default [64, 128, 256, 512, 1024, 2048]
   */
  widths?: number[]
  /**
   * The formats a request may ask for.
   * @default ['webp', 'avif', 'jpeg', 'png']
   */
  formats?: VariantFormat[]
  /**
   * Encoder quality from 1 to 100 for WebP, AVIF and JPEG (PNG stays lossless).
   * @default undefined (sharp's default for each format)
   */
  quality?: number
  /**
   * The key prefix under which variants are stored, in the image column's storage.
   * @default 'variants'
   */
  variantPrefix?: string
  /**
   * A variant that fails because of its source's bytes (cut short, corrupt, over a limit) is a 422,
   * logged as one warning; it is then remembered by source checksum and variant, and requests for it
   * get the 422 at once, without reading or decoding the source again, nor another log line. A
   * replaced image has another checksum, so its variants are tried at once. `false` remembers
   * nothing: each request decodes the source again.
   * @default { maxEntries: 1000, ttl: 600 }
   */
  rememberFailures?: RememberFailuresOptions | false
}

/** The bounds of {@link ImageVariantViewOptions.rememberFailures}. */
export interface RememberFailuresOptions {
  /**
   * The most failed variants remembered, from 1 to 1000000; past it, the oldest is forgotten.
   * @default 1000
   */
  maxEntries?: number
  /**
   * Seconds a failed variant is remembered, above 0 and at most 86400 (a day).
   * @default 600
   */
  ttl?: number
}

/** The default {@link ImageVariantViewOptions.widths}. */
export const DEFAULT_VARIANT_WIDTHS: readonly number[] = [64, 128, 256, 512, 1024, 2048]
const MAX_WIDTH = 10000
const SHA256 = /^[0-9a-f]{64}$/i
const REMEMBER_FAILURES: FailedVariantsOptions = { maxEntries: 1000, ttl: 600 }

/**
 * Serves a variant of an `@ImageColumn()`: the row is looked up as ObjectDownloadView does, the query
 * names the variant (`?width=256&format=webp`, both required, each from the view's lists), and the
 * variant is generated with sharp on the first request (EXIF orientation applied, never enlarged),
 * stored in the column's storage under `<variantPrefix>/<source sha256>/<width>.<format>`, and
 * served by the responder like any stored file (ETag, 304, Range, HEAD). Later requests find it
 * with one `stat`; concurrent first requests generate it once.
 *
 * - a width or format outside the lists, missing, repeated or malformed: 400, before any query;
 * - no row, an empty column, a source row without a checksum, a source missing in the storage: 404;
 * - a source that sharp cannot decode (cut short, corrupt, over a limit): 422, logged as one
 *   warning on the view's logger, and remembered (`rememberFailures`) so that it is not decoded
 *   again for every request;
 * - a source that fails while it is read, a variant that cannot be written: logged, then a 500.
 *
 * @example
 * const variants = new ImageVariantView({ dataSource, entity: Photo, lookup: 'slug', file: 'image', attachment: false })
 * app.get('/photos/:slug/variant', toHandler(variants)) // GET /photos/sunset/variant?width=256&format=webp
 */
export class ImageVariantView<E extends ObjectLiteral> extends ObjectDownloadView<E> {
  readonly widths: readonly number[]
  readonly formats: readonly VariantFormat[]
  readonly quality: number | undefined
  readonly variantPrefix: string
  /** The `rememberFailures` option with its defaults, or `false`. */
  readonly rememberFailures: FailedVariantsOptions | false
  /** Variants whose source's bytes failed, by variant key. */
  private readonly failedVariants: FailedVariants | undefined

  constructor(options: ImageVariantViewOptions<E>) {
    const { widths, formats, quality, variantPrefix, rememberFailures, ...rest } = options
    super(rest)
    const owner = 'ImageVariantView'
    if (!this.fileColumn.image) {
      throw new ConfigurationError(
        `${owner}: option "file" names "${this.fileColumn.propertyName}", which is not an @ImageColumn() of ${this.entity.name}`,
      )
    }
    const widthList = widths ?? DEFAULT_VARIANT_WIDTHS
    if (
      !Array.isArray(widthList) ||
      widthList.length === 0 ||
      !widthList.every((width) => Number.isInteger(width) && width >= 1 && width <= MAX_WIDTH)
    ) {
      throw new ConfigurationError(
        `${owner}: option "widths" must be a non-empty array of integers from 1 to ${MAX_WIDTH}`,
      )
    }
    this.widths = [...new Set(widthList)].sort((a, b) => a - b)
    const formatList = formats ?? VARIANT_FORMATS
    if (
      !Array.isArray(formatList) ||
      formatList.length === 0 ||
      !formatList.every((format) => (VARIANT_FORMATS as readonly string[]).includes(format))
    ) {
      throw new ConfigurationError(
        `${owner}: option "formats" must be a non-empty array of ${VARIANT_FORMATS.map((f) => `'${f}'`).join(', ')}`,
      )
    }
    this.formats = [...new Set(formatList)]
    if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100))
      throw new ConfigurationError(`${owner}: option "quality" must be an integer from 1 to 100`)
    this.quality = quality
    const prefix = variantPrefix ?? 'variants'
    if (typeof prefix !== 'string' || !/^[\w-]+(\/[\w-]+)*$/.test(prefix)) {
      throw new ConfigurationError(
        `${owner}: option "variantPrefix" must be a relative key prefix such as "variants"`,
      )
    }
    this.variantPrefix = prefix
    this.rememberFailures = rememberFailuresOption(rememberFailures, owner)
    this.failedVariants = this.rememberFailures ? new FailedVariants(this.rememberFailures) : undefined
  }

  /**
   * The variant the request asks for, from its query (`?width=256&format=webp`): each parameter
   * exactly once and from the view's lists, else an InvalidParameterError (400) naming the allowed
   * values. Other parameters (a signature's, say) are ignored.
   */
  getVariantSpec(request: DownloadRequest): VariantSpec {
    let query: URLSearchParams
    try {
      query = new URL(request.req.url ?? '/', 'http://x').searchParams
    } catch (error) {
      throw new InvalidParameterError('The request URL cannot be parsed', { cause: error })
    }
    const allowedWidths = this.widths.join(', ')
    const width = single(query, 'width', allowedWidths)
    // Digits only, no leading zero: `0256`, `256.0` or `+256` would name the same variant twice.
    if (!/^[1-9]\d{0,4}$/.test(width) || !this.widths.includes(Number(width)))
      throw invalid('width', allowedWidths, `got ${quote(width)}`)
    const allowedFormats = this.formats.join(', ')
    const format = single(query, 'format', allowedFormats)
    if (!(this.formats as readonly string[]).includes(format))
      throw invalid('format', allowedFormats, `got ${quote(format)}`)
    const spec: VariantSpec = { width: Number(width), format: format as VariantFormat }
    if (this.quality !== undefined) spec.quality = this.quality
    return spec
  }

  /**
   * The variant of the row's image: the query is checked first, then the row is looked up, then the
   * variant is found in the storage or generated.
   */
  override async getFile(request: DownloadRequest, object?: E): Promise<DownloadFile> {
    const spec = this.getVariantSpec(request)
    const row = object ?? (await this.getObject(request))
    const where = `${this.entity.name}.${this.fileColumn.propertyName}`
    const value = row[this.fileColumn.propertyName] as StoredFile | null | undefined
    if (!hasFile(value)) throw new FileNotFoundError(`${where} is empty`)
    // Variants are keyed by the source's content; a row saved without the hook has no checksum.
    if (!value.sha256 || !SHA256.test(value.sha256)) {
      throw new FileNotFoundError(
        `${where} has no checksum for "${value.path}": save it through FileColumnSubscriber or attachFile() to serve variants`,
      )
    }
    const storage = storages.get(this.fileColumn.storage)
    const key = variantKey(this.variantPrefix, value.sha256, spec)
    const stat = await ensureVariant(storage, value.path, key, spec, this.logger, this.failedVariants)
    return new StorageFile(storage, key, {
      name: this.getVariantName(row, value, spec),
      size: stat.size,
      modifiedAt: stat.modifiedAt,
      contentType: variantContentType(spec.format),
    })
  }

  /** The name the client sees: the source's basename without extension, `-<width>.<ext>` (`sunset-256.webp`). */
  getVariantName(object: E, value: StoredFile & { path: string }, spec: VariantSpec): string {
    const source = this.getBasename(object, value) || basename(value.path)
    const stem = source.replace(/(?<=.)\.[^.]*$/, '') || 'image'
    return `${stem}-${spec.width}.${variantExtension(spec.format)}`
  }
}

/** The `rememberFailures` option, checked, with its defaults. */
function rememberFailuresOption(value: unknown, owner: string): FailedVariantsOptions | false {
  if (value === undefined) return { ...REMEMBER_FAILURES }
  if (value === false) return false
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      `${owner}: option "rememberFailures" must be false or an object with maxEntries and ttl`,
    )
  }
  rejectUnknownOptions(value, ['maxEntries', 'ttl'], owner, 'rememberFailures.')
  const { maxEntries = REMEMBER_FAILURES.maxEntries, ttl = REMEMBER_FAILURES.ttl } =
    value as RememberFailuresOptions
  if (!(Number.isInteger(maxEntries) && maxEntries >= 1 && maxEntries <= 1_000_000)) {
    throw new ConfigurationError(
      `${owner}: option "rememberFailures.maxEntries" must be an integer from 1 to 1000000`,
    )
  }
  // NaN fails both comparisons, Infinity the second.
  if (!(typeof ttl === 'number' && ttl > 0 && ttl <= 86_400)) {
    throw new ConfigurationError(
      `${owner}: option "rememberFailures.ttl" must be a number of seconds above 0, at most 86400`,
    )
  }
  return { maxEntries, ttl }
}

/** The one value of query parameter `name`; missing or repeated is an InvalidParameterError. */
function single(query: URLSearchParams, name: string, allowed: string): string {
  const values = query.getAll(name)
  if (values.length === 0) throw invalid(name, allowed, 'missing')
  if (values.length > 1) throw invalid(name, allowed, `given ${values.length} times`)
  return values[0] as string
}

function invalid(name: string, allowed: string, problem: string): InvalidParameterError {
  return new InvalidParameterError(`Query parameter "${name}" must be one of ${allowed} (${problem})`)
}

/** A client's value, quoted and cut short for the log. */
function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}
