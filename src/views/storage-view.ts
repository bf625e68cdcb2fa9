/** @module StorageDownloadView: serve a key of a Storage, from a route parameter or fixed. */
import { ConfigurationError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { StorageFile } from '../files/storage-file'
import { rejectUnknownViewOptions } from '../http/options'
import { storages } from '../storage/registry'
import type { Storage } from '../storage/storage'
import {
  checkRequestedPath,
  type Dotfiles,
  type DownloadRequest,
  DownloadView,
  type DownloadViewOptions,
  requiredRouteParam,
  routePathOptions,
  VIEW_OPTIONS,
} from './download-view'

/** Options of {@link StorageDownloadView}. */
export interface StorageDownloadViewOptions extends DownloadViewOptions {
  /** The storage, or the name it is registered under in `storages` (looked up on each request). */
  storage: Storage | string
  /**
   * A fixed key to serve. When absent, the key comes from the route parameter `param`.
   * @default undefined
   */
  path?: string
  /**
   * The route parameter that holds the key: `:path`, or Express 5's `*path` (its segments are
   * joined with `/`).
   * @default 'path'
   */
  param?: string
  /**
   * Paths with a segment that starts with a dot (`.env`, `.git/config`): `'deny'` answers them 404,
   * as send does by default; `'allow'` serves them.
   * @default 'deny'
   */
  dotfiles?: Dotfiles
  /**
   * The name the client sees.
   * @default the key's last segment
   */
  basename?: string
}

const OWN_OPTIONS = [...VIEW_OPTIONS, 'storage', 'path', 'param', 'basename', 'dotfiles']

/**
 * Serves the file at a key of a storage: the key is confined to the storage like every key (no
 * `..`, no absolute key, no backslash, no symlink out of the root: 404; a NUL byte: 400). One
 * `stat` gives the size and modification time, so Last-Modified and a weak ETag.
 *
 * @example
 * const media = new StorageDownloadView({ storage: 'default' })
 * app.all('/media/*path', toHandler(media))
 */
export class StorageDownloadView extends DownloadView {
  readonly storage: Storage | string
  readonly path: string | undefined
  readonly param: string
  readonly basename: string | undefined
  readonly dotfiles: Dotfiles

  constructor(options: StorageDownloadViewOptions) {
    super(options)
    const owner = 'StorageDownloadView'
    rejectUnknownViewOptions(options, OWN_OPTIONS, owner)
    const storage = options.storage
    const isStorage =
      typeof storage === 'object' &&
      storage !== null &&
      typeof storage.stat === 'function' &&
      typeof storage.open === 'function'
    if (!isStorage && (typeof storage !== 'string' || storage === ''))
      throw new ConfigurationError(
        `${owner}: option "storage" must be a Storage or a registered storage name`,
      )
    this.storage = storage
    // A storage given as an object, or a name already registered, is checked for the hand-off now.
    this.checkHandoff(typeof storage === 'string' ? storages.tryGet(storage) : storage)
    if (options.path !== undefined && (typeof options.path !== 'string' || options.path === ''))
      throw new ConfigurationError(`${owner}: option "path" must be a non-empty string`)
    this.path = options.path
    ;({
      param: this.param,
      basename: this.basename,
      dotfiles: this.dotfiles,
    } = routePathOptions(options, owner))
  }

  /** The key to serve: the `path` option, else the route parameter. Override to compute it. */
  getPath(request: DownloadRequest): string | Promise<string> {
    if (this.path !== undefined) return this.path
    return requiredRouteParam(request.params, this.param)
  }

  /** The name the client sees; `undefined` for the key's last segment. */
  getBasename(_request: DownloadRequest, _path: string): string | undefined {
    return this.basename
  }

  /** The storage to read: the `storage` option, resolved through the registry when it is a name. */
  getStorage(_request: DownloadRequest): Storage {
    return typeof this.storage === 'string' ? storages.get(this.storage) : this.storage
  }

  async getFile(request: DownloadRequest): Promise<DownloadFile> {
    const key = await this.getPath(request)
    checkRequestedPath(key, this.dotfiles)
    return StorageFile.describe(this.getStorage(request), key, { name: this.getBasename(request, key) })
  }
}
