/**
 * @module ImageVariantView: serve a resized, re-encoded variant of an image column
 * (`?width=256&format=webp`, or `format=auto` for the best format the browser takes), generated
 * with sharp on the first request and kept in the storage.
 */
import type { ObjectLiteral } from 'typeorm'
import { hasFile, type StoredFile } from '../columns/stored-file'
import type { StoredImage } from '../columns/stored-image'
import { ConfigurationError, FileNotFoundError, InvalidParameterError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { basename, StorageFile, type StoredFileInfo } from '../files/storage-file'
import type { ResponsePlan } from '../http/respond'
import { rejectUnknownOptions } from '../options'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'
import type { DownloadRequest } from '../views/download-view'
import { ObjectDownloadView, type ObjectDownloadViewOptions } from '../views/object-view'
import { negotiateFormat } from './negotiate'
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
   * The formats a request may ask for, and among which `format=auto` chooses (from the request's
   * `Accept`: AVIF, then WebP, then the source's JPEG or PNG; see `negotiateFormat()`).
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

/** The `format` query value that lets the view choose from the request's `Accept` header. */
export const AUTO_FORMAT = 'auto'

/**
 * A variant as the query names it: a {@link VariantSpec}, whose format may be `'auto'` (chosen per
 * request from `Accept`, once the source row is known).
 */
export type RequestedVariant = Omit<VariantSpec, 'format'> & { format: VariantFormat | typeof AUTO_FORMAT }

/**
 * A stored variant as the responder sees it: a StorageFile whose ETag names its format, so that the
 * AVIF and the WebP answer of one `format=auto` URL never share a validator (size and time alone
 * could coincide), and whose format was chosen from `Accept` (`negotiated`) or named by the URL.
 */
class VariantFile extends StorageFile {
  readonly etag?: string

  constructor(
    storage: Storage,
    key: string,
    info: StoredFileInfo & { size: number; modifiedAt: Date },
    readonly format: VariantFormat,
    readonly negotiated: boolean,
  ) {
    super(storage, key, info)
    // Weak, as the size-and-time tag it extends: a variant made again may differ in its bytes.
    if (!Number.isNaN(info.modifiedAt.getTime()))
      this.etag = `W/"${info.size.toString(16)}-${info.modifiedAt.getTime().toString(16)}-${format}"`
  }
}

/**
 * Serves a variant of an `@ImageColumn()`: the row is looked up as ObjectDownloadView does, the query
 * names the variant (`?width=256&format=webp`, both required, each from the view's lists), and the
 * variant is generated with sharp on the first request (EXIF orientation applied, never enlarged),
 * stored in the column's storage under `<variantPrefix>/<source sha256>/<width>.<format>`, and
 * served by the responder like any stored file (ETag, 304, Range, HEAD). Later requests find it
 * with one `stat`; concurrent first requests generate it once.
 *
 * `format=auto` chooses among the view's `formats` from the request's `Accept` header
 * ({@link ImageVariantView.negotiateFormat}): AVIF for browsers that list it, then WebP, then the
 * source's JPEG or PNG (what curl, which accepts anything, gets). Every answer to it, 304 and hand-offs
 * included, carries `Vary: Accept`; a URL that names its format does not vary. A variant's ETag
 * names its format, so revalidating with the AVIF's ETag gets a 304 only while Accept still
 * yields AVIF.
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
 * // <img src="/photos/sunset/variant?width=256&format=auto">: AVIF in Chrome, Firefox and Safari 16+
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
   * The variant the request asks for, from its query (`?width=256&format=webp`, or `format=auto`):
   * each parameter exactly once and from the view's lists, else an InvalidParameterError (400)
   * naming the allowed values. Other parameters (a signature's, say) are ignored.
   */
  getVariantSpec(request: DownloadRequest): RequestedVariant {
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
    const allowedFormats = [...this.formats, AUTO_FORMAT].join(', ')
    const format = single(query, 'format', allowedFormats)
    if (format !== AUTO_FORMAT && !(this.formats as readonly string[]).includes(format))
      throw invalid('format', allowedFormats, `got ${quote(format)}`)
    const spec: RequestedVariant = { width: Number(width), format: format as RequestedVariant['format'] }
    if (this.quality !== undefined) spec.quality = this.quality
    return spec
  }

  /**
   * The format of a `format=auto` variant for this request: `negotiateFormat()` of its `Accept`
   * header, among the view's `formats`, with the source's stored format and alpha for the fallback.
   * Override to decide otherwise (a client hint, a cookie); the answer keeps `Vary: Accept`, so add
   * what else it depends on to the view's `headers` (`Vary`) as well.
   */
  negotiateFormat(request: DownloadRequest, source: StoredImage): VariantFormat {
    return negotiateFormat(request.req.headers.accept, this.formats, {
      format: source.format ?? null,
      hasAlpha: source.hasAlpha ?? null,
    })
  }

  /**
   * The variant of the row's image: the query is checked first, then the row is looked up, then the
   * variant is found in the storage or generated.
   */
  override async getFile(request: DownloadRequest, object?: E): Promise<DownloadFile> {
    const requested = this.getVariantSpec(request)
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
    const negotiated = requested.format === AUTO_FORMAT
    const format = negotiated ? this.negotiateFormat(request, value as StoredImage) : requested.format
    const spec: VariantSpec = { ...requested, format: format as VariantFormat }
    const storage = storages.get(this.fileColumn.storage)
    const key = variantKey(this.variantPrefix, value.sha256, spec)
    const stat = await ensureVariant(storage, value.path, key, spec, this.logger, this.failedVariants)
    const info = {
      name: this.getVariantName(row, value, spec),
      size: stat.size,
      modifiedAt: stat.modifiedAt,
      contentType: variantContentType(spec.format),
    }
    return new VariantFile(storage, key, info, spec.format, negotiated)
  }

  /**
   * The plan of ObjectDownloadView (the responder's, then a hand-off's), with `Vary: Accept` on
   * every answer about a `format=auto` variant: 200, 206, 304, 412, 416, and the redirect or the
   * empty X-Accel-Redirect answer of a hand-off. A cache that kept one browser's AVIF must not
   * hand it to another that asked for the same URL with another Accept.
   */
  protected override plan(
    request: DownloadRequest,
    file: DownloadFile,
  ): ResponsePlan | Promise<ResponsePlan> {
    const planned = super.plan(request, file)
    if (!(file instanceof VariantFile && file.negotiated)) return planned
    return planned instanceof Promise ? planned.then(varyOnAccept) : varyOnAccept(planned)
  }

  /** The name the client sees: the source's basename without extension, `-<width>.<ext>` (`sunset-256.webp`). */
  getVariantName(object: E, value: StoredFile & { path: string }, spec: VariantSpec): string {
    const source = this.getBasename(object, value) || basename(value.path)
    const stem = source.replace(/(?<=.)\.[^.]*$/, '') || 'image'
    return `${stem}-${spec.width}.${variantExtension(spec.format)}`
  }
}

/**
 * `plan` with `Accept` in its `Vary` header: added to a `Vary` the view's `headers` set, unless it
 * names Accept already or is `*` (which varies on everything). The plan is changed in place, not
 * copied: what the hand-off and the download events know of it stays true.
 */
function varyOnAccept(plan: ResponsePlan): ResponsePlan {
  const name = Object.keys(plan.headers).find((header) => header.toLowerCase() === 'vary')
  const current = name === undefined ? '' : (plan.headers[name] ?? '').trim()
  const fields = current.split(',').map((field) => field.trim().toLowerCase())
  if (fields.includes('accept') || fields.includes('*')) return plan
  if (name !== undefined) delete plan.headers[name]
  plan.headers.Vary = current ? `${current}, Accept` : 'Accept'
  return plan
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
