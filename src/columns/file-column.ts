/**
 * @module @FileColumn: records which properties hold files, and maps each to real columns through
 * TypeORM's own embedded-column mechanism. No I/O, no DataSource.
 */
import { Column } from 'typeorm'
import { ConfigurationError } from '../errors'
import type { Handoff } from '../handoff/handoff'
import { rejectUnknownOptions } from '../options'
import { DEFAULT_STORAGE } from '../storage/registry'
import type { ContentProbe } from './content-probe'
import { StoredFile } from './stored-file'
import { type ImageField, StoredImage } from './stored-image'

/** What becomes of a file that its row no longer points at: deleted after commit, or kept. */
export type FileLifecycle = 'delete' | 'keep'

/** Options of {@link FileColumn}. */
export interface FileColumnOptions {
  /**
   * The name of the storage that holds the files (see `storages.register`).
   * @default 'default'
   */
  storage?: string
  /**
   * Whether the column may be empty (the path column allows NULL).
   * @default true
   */
  nullable?: boolean
  /**
   * What happens to the old file when a save points the column at another file or clears it
   * (`null`): `'delete'` removes it from the storage once the transaction commits (unless another
   * row still points at it); `'keep'` leaves it there.
   * @default 'delete'
   */
  onReplace?: FileLifecycle
  /**
   * What happens to the file when its row is removed with `remove()`: `'delete'` removes it from the
   * storage once the transaction commits (unless another row still points at it); `'keep'` leaves
   * it there. `softRemove()` always keeps it, so that `recover()` finds it again.
   * @default 'delete'
   */
  onRemove?: FileLifecycle
  /**
   * The prefix of the database column names: `prefix + 'path'`, `prefix + 'size'`, …
   * @default the property name in snake case plus `_` (`anotherFile` → `another_file_`)
   */
  prefix?: string
  /**
   * The key prefix under which `attachFile()` stores new content.
   * @default the entity and property names in snake case (`document/another_file`)
   */
  uploadTo?: string
  /**
   * Who sends this column's files when an ObjectDownloadView sets no `handoff` of its own: a
   * hand-off (`redirectToBucket()`, `nginxFromBucket({ location })`, `xAccelRedirect({...})`) or
   * a list tried in order (see DownloadViewOptions.handoff).
   * @default undefined (the app's hand-off, if any; else Node streams)
   */
  handoff?: Handoff | readonly Handoff[]
}

/** What the registry knows of one file column. */
export interface FileColumnMetadata {
  /** The entity class that declares the column. */
  target: Function
  propertyName: string
  storage: string
  nullable: boolean
  prefix: string
  uploadTo: string
  /** What becomes of a replaced or cleared file (see FileColumnOptions.onReplace). */
  onReplace: FileLifecycle
  /** What becomes of the file of a removed row (see FileColumnOptions.onRemove). */
  onRemove: FileLifecycle
  /** The column's default hand-offs; `undefined` when it sets none. */
  handoffs?: readonly Handoff[]
  /** Whether it is an `@ImageColumn()`: a StoredImage, with width, height, format, alpha, thumbhash. */
  image: boolean
  /** What reads the column's extra fields from the bytes (sharp, for an image column). */
  probe?: ContentProbe
  /** The database column names, by StoredFile field (and StoredImage field for image columns). */
  columns: Record<keyof StoredFile, string> & Partial<Record<ImageField, string>>
}

// On globalThis, like the storage registry: two loaded copies of the library share one list.
const REGISTRY = Symbol.for('typeorm-downloadview.file-columns')
const holder = globalThis as typeof globalThis & Record<symbol, FileColumnMetadata[] | undefined>
holder[REGISTRY] ??= []
const registry: FileColumnMetadata[] = holder[REGISTRY]
const KNOWN_OPTIONS = new Set(['storage', 'nullable', 'prefix', 'uploadTo', 'handoff'])
const LIFECYCLE_OPTIONS = ['onReplace', 'onRemove'] as const
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

/**
 * Declares a file column: a key in a storage plus size, content type, modification time, SHA-256,
 * CRC-32 and original name, each in a real column. Add `FileColumnSubscriber` to the DataSource so the
 * metadata is filled in when rows are saved.
 *
 * @example
 * @Entity()
 * class Document {
 *   @PrimaryGeneratedColumn() id!: number
 *   @FileColumn({ storage: 'media' }) file!: StoredFile | null
 * }
 */
export function FileColumn(options: FileColumnOptions = {}): PropertyDecorator {
  return declareFileColumn(options)
}

/**
 * The decorator behind `@FileColumn()` and `@ImageColumn()`: checks the options right away, then
 * maps the property to one embedded class of real columns and records it. An image `probe` adds the
 * StoredImage columns (`width`, `height`, `format`, `has_alpha`, `thumbhash`), which it fills from the bytes.
 */
export function declareFileColumn(options: FileColumnOptions, probe?: ContentProbe): PropertyDecorator {
  const image = probe !== undefined
  const decorator = image ? '@ImageColumn' : '@FileColumn'
  rejectUnknownOptions(options, [...KNOWN_OPTIONS, ...LIFECYCLE_OPTIONS], decorator)
  const storage = options.storage ?? DEFAULT_STORAGE
  if (typeof storage !== 'string' || storage === '')
    throw new ConfigurationError(`${decorator}: option "storage" must be a non-empty string`)
  const nullable = options.nullable ?? true
  if (typeof nullable !== 'boolean')
    throw new ConfigurationError(`${decorator}: option "nullable" must be a boolean`)
  if (
    options.prefix !== undefined &&
    (typeof options.prefix !== 'string' || !IDENTIFIER.test(options.prefix))
  ) {
    throw new ConfigurationError(
      `${decorator}: option "prefix" must be lower-case letters, digits and underscores`,
    )
  }
  const [onReplace, onRemove] = LIFECYCLE_OPTIONS.map((option) => {
    const value = options[option] ?? 'delete'
    if (value !== 'delete' && value !== 'keep')
      throw new ConfigurationError(`${decorator}: option "${option}" must be 'delete' or 'keep'`)
    return value
  }) as [FileLifecycle, FileLifecycle]
  if (
    options.uploadTo !== undefined &&
    (typeof options.uploadTo !== 'string' || !/^[\w-]+(\/[\w-]+)*$/.test(options.uploadTo))
  ) {
    throw new ConfigurationError(
      `${decorator}: option "uploadTo" must be a relative key prefix such as "documents/files"`,
    )
  }
  // Checked here without loading the hand-off module: a column only records what the view runs.
  const handoffs =
    options.handoff === undefined
      ? undefined
      : Array.isArray(options.handoff)
        ? options.handoff
        : [options.handoff]
  if (handoffs && (handoffs.length === 0 || !handoffs.every((handoff) => typeof handoff === 'function')))
    throw new ConfigurationError(
      `${decorator}: option "handoff" must be a hand-off (redirectToBucket(), xAccelRedirect()...) or a list of them`,
    )

  return (target: object, propertyKey: string | symbol) => {
    if (typeof propertyKey !== 'string')
      throw new ConfigurationError(`${decorator}: the property name must be a string`)
    const entity = target.constructor
    const prefix = options.prefix ?? `${snakeCase(propertyKey)}_`
    const columns: FileColumnMetadata['columns'] = {
      path: `${prefix}path`,
      name: `${prefix}name`,
      size: `${prefix}size`,
      contentType: `${prefix}content_type`,
      modifiedAt: `${prefix}modified_at`,
      sha256: `${prefix}sha256`,
      crc32: `${prefix}crc32`,
    }
    if (image) {
      columns.width = `${prefix}width`
      columns.height = `${prefix}height`
      columns.format = `${prefix}format`
      columns.hasAlpha = `${prefix}has_alpha`
      columns.thumbhash = `${prefix}thumbhash`
    }

    // One embedded class per property, so each can carry its own column names.
    const Columns = image ? class extends StoredImage {} : class extends StoredFile {}
    Object.defineProperty(Columns, 'name', {
      value: `${entity.name}${propertyKey[0]?.toUpperCase()}${propertyKey.slice(1)}${image ? 'Image' : 'File'}`,
    })
    Column({ type: 'text', name: columns.path, nullable })(Columns.prototype, 'path')
    Column({ type: 'text', name: columns.name, nullable: true })(Columns.prototype, 'name')
    Column({ type: 'bigint', name: columns.size, nullable: true, transformer: bigintToNumber })(
      Columns.prototype,
      'size',
    )
    Column({ type: 'text', name: columns.contentType, nullable: true })(Columns.prototype, 'contentType')
    Column({ type: 'timestamptz', name: columns.modifiedAt, nullable: true })(Columns.prototype, 'modifiedAt')
    Column({ type: 'char', length: 64, name: columns.sha256, nullable: true })(Columns.prototype, 'sha256')
    // Unsigned 32 bits do not fit Postgres' integer: a bigint, read back as a number.
    Column({ type: 'bigint', name: columns.crc32, nullable: true, transformer: bigintToNumber })(
      Columns.prototype,
      'crc32',
    )
    if (image) {
      Column({ type: 'int', name: columns.width, nullable: true })(Columns.prototype, 'width')
      Column({ type: 'int', name: columns.height, nullable: true })(Columns.prototype, 'height')
      Column({ type: 'text', name: columns.format, nullable: true })(Columns.prototype, 'format')
      Column({ type: 'boolean', name: columns.hasAlpha, nullable: true })(Columns.prototype, 'hasAlpha')
      Column({ type: 'text', name: columns.thumbhash, nullable: true })(Columns.prototype, 'thumbhash')
    }
    Column(() => Columns, { prefix: false })(target, propertyKey)

    registry.push({
      target: entity,
      propertyName: propertyKey,
      storage,
      nullable,
      prefix,
      uploadTo: options.uploadTo ?? `${snakeCase(entity.name)}/${snakeCase(propertyKey)}`,
      onReplace,
      onRemove,
      image,
      ...(probe && { probe }),
      columns,
      ...(handoffs && { handoffs: Object.freeze([...handoffs]) as readonly Handoff[] }),
    })
  }
}

/** The file columns of an entity class, its parents' included. */
export function getFileColumns(entity: Function): FileColumnMetadata[] {
  const byProperty = new Map<string, FileColumnMetadata>()
  for (const column of registry) {
    if (column.target !== entity && !(entity.prototype instanceof column.target)) continue
    // A subclass that declares the same property again overrides its parent's column.
    const seen = byProperty.get(column.propertyName)
    if (!seen || column.target.prototype instanceof seen.target) byProperty.set(column.propertyName, column)
  }
  return [...byProperty.values()]
}

/** The file column `propertyName` of `entity`, or a ConfigurationError that names what is missing. */
export function getFileColumn(entity: Function, propertyName: string): FileColumnMetadata {
  const column = getFileColumns(entity).find((candidate) => candidate.propertyName === propertyName)
  if (!column) throw new ConfigurationError(`${entity.name}.${propertyName} is not a @FileColumn()`)
  return column
}

// Postgres bigint arrives as a string; sizes stay far below 2^53.
const bigintToNumber = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? null : Number(value)),
}

function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()
}
