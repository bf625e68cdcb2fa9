/**
 * @module Loading the module that `-d` names, as TypeORM's own CLI does: its default export, or its
 * only exported DataSource, or a promise of one; TypeScript through tsx; CommonJS or ESM.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../errors'

const TYPESCRIPT = /\.[cm]?tsx?$/

/**
 * Loads `file` (relative to `cwd`), finds its DataSource and initializes it (no migrations).
 * Throws a ConfigurationError that names the file when any step fails.
 *
 * @example
 * const dataSource = await loadDataSource('ormconfig.ts', process.cwd())
 */
export async function loadDataSource(file: string, cwd: string): Promise<DataSource> {
  const absolute = path.resolve(cwd, file)
  if (!existsSync(absolute)) throw new ConfigurationError(`No DataSource file at ${file} (${absolute})`)
  if (TYPESCRIPT.test(absolute)) registerTypeScript(file, cwd)
  const exports = await importModule(absolute, file)
  const dataSource = await pickDataSource(exports, file)
  if (!dataSource.isInitialized) {
    try {
      await dataSource.initialize()
    } catch (error) {
      throw new ConfigurationError(`Cannot initialize the DataSource of ${file}: ${messageOf(error)}`, {
        cause: error,
      })
    }
  }
  return dataSource
}

/**
 * The DataSource among a module's exports: the default export (awaited), the module itself, or the
 * one named export that is a DataSource (or a promise of one). Several candidates and no default
 * is an error, as is none at all.
 */
export async function pickDataSource(exports: unknown, file: string): Promise<DataSource> {
  if (isDataSource(exports)) return exports
  if (exports === null || typeof exports !== 'object')
    throw new ConfigurationError(`${file} exports no DataSource`)
  const module = exports as Record<string, unknown>
  if (module.default !== undefined) {
    const value = await module.default
    if (isDataSource(value)) return value
    // `export default` compiled to CommonJS and then imported as ESM: { default: { default: x } }.
    const inner =
      value !== null && typeof value === 'object' ? await (value as { default?: unknown }).default : undefined
    if (isDataSource(inner)) return inner
  }
  const named: [string, DataSource][] = []
  for (const [name, value] of Object.entries(module)) {
    if (name === 'default') continue
    const resolved = isPromise(value) ? await value : value
    if (isDataSource(resolved)) named.push([name, resolved])
  }
  const [first, second] = named
  if (first && !second) return first[1]
  if (second) {
    throw new ConfigurationError(
      `${file} exports several DataSources (${named.map(([name]) => name).join(', ')}): export the one to use as default`,
    )
  }
  throw new ConfigurationError(
    `${file} exports no DataSource: export one as default (export default new DataSource({ … }))`,
  )
}

/** A DataSource by shape, not by class: the file may use another copy of typeorm than the CLI. */
export function isDataSource(value: unknown): value is DataSource {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as Partial<Record<'initialize' | 'destroy' | 'options' | 'isInitialized', unknown>>
  return (
    typeof candidate.initialize === 'function' &&
    typeof candidate.destroy === 'function' &&
    typeof candidate.options === 'object' &&
    typeof candidate.isInitialized === 'boolean'
  )
}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
  )
}

/** Makes `require()` compile TypeScript, through tsx, unless something (tsx running us) already does. */
function registerTypeScript(file: string, cwd: string): void {
  // Under Jest, require is Jest's own and has no extensions table.
  if (require.extensions?.['.ts']) return
  let api: string
  try {
    // The project's own tsx first, then the one beside this package.
    api = require.resolve('tsx/cjs/api', { paths: [cwd, __dirname] })
  } catch {
    throw new ConfigurationError(
      `${file} is TypeScript: install tsx (npm install --save-dev tsx) or give the compiled JavaScript file`,
    )
  }
  ;(require(api) as { register(): unknown }).register()
}

async function importModule(absolute: string, file: string): Promise<unknown> {
  try {
    return require(absolute)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') {
      throw new ConfigurationError(`Cannot load ${file}: ${messageOf(error)}`, { cause: error })
    }
  }
  // An ES module that require() cannot load (top-level await, or an older Node).
  try {
    return await import(pathToFileURL(absolute).href)
  } catch (error) {
    throw new ConfigurationError(`Cannot load ${file}: ${messageOf(error)}`, { cause: error })
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
