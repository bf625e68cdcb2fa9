/**
 * @module The options of a row lookup that a view takes (ObjectDownloadView's `dataSource`,
 * `entity`, `lookup`, `basename`, `select`, `prepare`, `withDeleted`, `where`, `query`), checked when
 * the view is built: against the entity's decorators, since the DataSource may not be initialized
 * yet. Each bad one is a ConfigurationError that names it.
 */
import { type DataSource, getMetadataArgsStorage } from 'typeorm'
import { ConfigurationError } from '../errors'

/** How the row is found: the URL parameter that carries the value, and the property it matches. */
export interface ObjectLookup {
  /** The route parameter (`:slug`). */
  param: string
  /**
   * The entity property to match: a unique column (`slug`), or one inside an embedded entity
   * (`meta.code`).
   * @default the same as `param`
   */
  column?: string
}

/** The lookup options as a view receives them, before they are checked. */
export interface LookupOptionsInput {
  dataSource?: unknown
  entity?: unknown
  lookup?: unknown
  basename?: unknown
  select?: unknown
  prepare?: unknown
  withDeleted?: unknown
  where?: unknown
  query?: unknown
}

/** The lookup options, checked, with their defaults. */
export interface LookupOptions {
  dataSource: DataSource
  entity: Function
  lookup: Required<ObjectLookup>
  basename: string | undefined
  select: readonly string[]
  prepare: boolean
  withDeleted: boolean
}

/**
 * Checks the lookup options of `owner` (throwing a ConfigurationError that names the bad option) and
 * applies the defaults: `lookup` `'id'`, `select` `[]`, `prepare` true, `withDeleted` false.
 */
export function resolveLookupOptions(options: LookupOptionsInput, owner: string): LookupOptions {
  const { dataSource, entity } = options
  if (!dataSource || typeof (dataSource as DataSource).query !== 'function')
    throw new ConfigurationError(`${owner}: option "dataSource" must be a TypeORM DataSource`)
  if (typeof entity !== 'function')
    throw new ConfigurationError(`${owner}: option "entity" must be an entity class`)
  const named = (option: string, property: string) =>
    new ConfigurationError(
      `${owner}: option "${option}" names "${property}", which is not a column of ${entity.name}`,
    )

  const given = options.lookup ?? 'id'
  let lookup: Required<ObjectLookup>
  if (typeof given === 'string') lookup = { param: given, column: given }
  else if (isLookup(given)) lookup = { param: given.param, column: given.column ?? given.param }
  else throw new ConfigurationError(`${owner}: option "lookup" must be 'id', 'slug' or { param, column }`)
  if (!declaresProperty(entity, lookup.column)) throw named('lookup', lookup.column)

  const { basename } = options
  if (basename !== undefined && (typeof basename !== 'string' || !declaresProperty(entity, basename)))
    throw named('basename', String(basename))

  const select = options.select ?? []
  if (!Array.isArray(select))
    throw new ConfigurationError(`${owner}: option "select" must be an array of property names`)
  for (const property of select) {
    if (
      typeof property !== 'string' ||
      !declaresProperty(entity, property, { embedded: true, relation: true })
    )
      throw named('select', String(property))
  }

  for (const option of ['prepare', 'withDeleted'] as const) {
    if (options[option] !== undefined && typeof options[option] !== 'boolean')
      throw new ConfigurationError(`${owner}: option "${option}" must be true or false`)
  }
  for (const option of ['where', 'query'] as const) {
    if (options[option] !== undefined && typeof options[option] !== 'function')
      throw new ConfigurationError(`${owner}: option "${option}" must be a function of the request`)
  }
  return {
    dataSource: dataSource as DataSource,
    entity,
    lookup,
    basename,
    select,
    prepare: (options.prepare as boolean | undefined) ?? true,
    withDeleted: (options.withDeleted as boolean | undefined) ?? false,
  }
}

function isLookup(value: unknown): value is ObjectLookup {
  const { param, column } = (value ?? {}) as { param?: unknown; column?: unknown }
  return typeof param === 'string' && param !== '' && (column === undefined || typeof column === 'string')
}

/**
 * Whether `entity` (or a class it extends) declares the property at `path`: a column, or one inside
 * embedded entities (`meta.code`); with `embedded`, a whole embedded entity (`meta`); with
 * `relation`, a many-to-one or owning one-to-one relation (its join columns).
 */
export function declaresProperty(
  entity: Function,
  path: string,
  kinds: { embedded?: boolean; relation?: boolean } = {},
): boolean {
  const args = getMetadataArgsStorage()
  const segments = path.split('.')
  const last = segments.pop() as string
  let owner: Function = entity
  for (const segment of segments) {
    const embedded = args.embeddeds.find(
      (each) => inherits(owner, each.target) && each.propertyName === segment,
    )
    const type = embedded?.type()
    if (typeof type !== 'function') return false
    owner = type
  }
  const declared = (list: readonly { target: Function | string; propertyName: string }[]) =>
    list.some((each) => inherits(owner, each.target) && each.propertyName === last)
  if (declared(args.columns)) return true
  if (kinds.embedded && declared(args.embeddeds)) return true
  if (!kinds.relation) return false
  return args.relations.some(
    (relation) =>
      inherits(owner, relation.target) &&
      relation.propertyName === last &&
      (relation.relationType === 'many-to-one' ||
        (relation.relationType === 'one-to-one' && declared(args.joinColumns))),
  )
}

function inherits(entity: Function, target: Function | string): boolean {
  return typeof target === 'function' && (target === entity || entity.prototype instanceof target)
}
