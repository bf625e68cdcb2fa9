/** @module The options of receiveUpload(), and their checks. */
import { ConfigurationError } from '../errors'

/** The default of `maxBytes`: 10 MiB. */
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024
/** The default of `maxFieldBytes`: 64 KiB. */
export const DEFAULT_MAX_FIELD_BYTES = 64 * 1024
/**
 * The most text fields a form may have, collected or not: a form with more is refused (413), so
 * that a client cannot keep the parser busy with endless small fields.
 */
export const MAX_TEXT_FIELDS = 100

/** Options of `receiveUpload()`. `F` is the names of the text fields to collect. */
export interface ReceiveUploadOptions<F extends string = string> {
  /**
   * The form field that holds the file. A file in any other field is refused (400).
   * @default 'file'
   */
  field?: string
  /**
   * The most bytes the file may have. A larger file is refused (413) as soon as its bytes pass the
   * limit, and what was written of it is deleted.
   * @default 10485760 (10 MiB)
   */
  maxBytes?: number
  /**
   * The media types the file may be, exact (`'application/pdf'`) or by top-level type
   * (`'image/*'`), matched against the type read from the file's bytes (PDF, PNG, JPEG, GIF, WebP,
   * ZIP, UTF-8 text; anything else is `application/octet-stream`), never against its name or the
   * type the client declared. Any other type is refused (415) before a byte is stored.
   * @default undefined (any type)
   */
  allowedTypes?: readonly string[]
  /**
   * The names of the text fields to collect (`['slug', 'title']`), before or after the file;
   * other text fields are read and dropped. A collected field sent twice is refused (400).
   * @default [] (none)
   */
  fields?: readonly F[]
  /**
   * The most bytes of one collected text field; a longer one is refused (413). At most 100 text
   * fields are read in all.
   * @default 65536 (64 KiB)
   */
  maxFieldBytes?: number
}

/** The options, checked, with their defaults. */
export interface UploadSettings {
  field: string
  maxBytes: number
  allowedTypes: readonly string[] | undefined
  fields: ReadonlySet<string>
  maxFieldBytes: number
}

/** A media type (`type/subtype`) or a top-level pattern (`type/*`), or `*\/*`. */
const TYPE_PATTERN = /^(?:\*\/\*|[a-z0-9][a-z0-9!#$&^_.+-]*\/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]*))$/i

/**
 * Checks `options` and fills in the defaults; a ConfigurationError names the option that is wrong.
 * @param where the function the options are for, for messages: `receiveUpload()`
 */
export function resolveUploadOptions(options: ReceiveUploadOptions, where: string): UploadSettings {
  if (options === null || typeof options !== 'object')
    throw new ConfigurationError(`${where}: options must be an object`)
  const { field = 'file', maxBytes = DEFAULT_MAX_BYTES, allowedTypes, fields = [] } = options
  const { maxFieldBytes = DEFAULT_MAX_FIELD_BYTES } = options
  if (typeof field !== 'string' || field === '')
    throw new ConfigurationError(`${where}: option "field" must be a non-empty string`)
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new ConfigurationError(`${where}: option "maxBytes" must be a positive integer`)
  if (!Number.isSafeInteger(maxFieldBytes) || maxFieldBytes < 1)
    throw new ConfigurationError(`${where}: option "maxFieldBytes" must be a positive integer`)
  if (
    allowedTypes !== undefined &&
    (!Array.isArray(allowedTypes) ||
      allowedTypes.length === 0 ||
      !allowedTypes.every((type) => typeof type === 'string' && TYPE_PATTERN.test(type)))
  )
    throw new ConfigurationError(
      `${where}: option "allowedTypes" must be a non-empty list of media types ('application/pdf') or patterns ('image/*')`,
    )
  if (!Array.isArray(fields) || !fields.every((name) => typeof name === 'string' && name !== ''))
    throw new ConfigurationError(`${where}: option "fields" must be a list of field names`)
  if (fields.includes(field))
    throw new ConfigurationError(`${where}: option "fields" must not name the file's field "${field}"`)
  if (fields.length > MAX_TEXT_FIELDS)
    throw new ConfigurationError(`${where}: option "fields" may name at most ${MAX_TEXT_FIELDS} fields`)
  return {
    field,
    maxBytes,
    allowedTypes: allowedTypes?.map((type) => type.toLowerCase()),
    fields: new Set(fields),
    maxFieldBytes,
  }
}

/**
 * Whether the media type `type` is one of `allowed` (exact, `type/*` or `*\/*`); everything is
 * allowed when `allowed` is undefined.
 */
export function isAllowedType(type: string, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return true
  const lower = type.toLowerCase()
  const topLevel = `${lower.split('/')[0]}/*`
  return allowed.some((pattern) => pattern === lower || pattern === topLevel || pattern === '*/*')
}
